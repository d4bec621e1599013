// A kiosk's error page goes back to the kiosk's start page by itself, so no tablet is left on a dead end.
// The page says so once in plain text; no live countdown is announced.
(function () {
  "use strict";
  var link = document.getElementById("error-next");
  var seconds = link && parseInt(link.getAttribute("data-return-seconds"), 10);
  if (!seconds || seconds < 1) { return; }
  window.setTimeout(function () { window.location.replace(link.href); }, seconds * 1000);
}());
