/* Kiosk enhancements. The pages work without this file; with it:
   - a second tap while a form is being sent does nothing (the server also stores one rating per key);
   - idle follow-up screens warn "Do you need more time?" and let the person extend (WCAG 2.2.1);
   - the thank-you screen counts down to the start screen, and the countdown can be stopped. */
(function () {
  "use strict";
  var body = document.body;
  var seconds = function (name, fallback) {
    var value = parseInt(body.getAttribute("data-" + name + "-seconds"), 10);
    return isNaN(value) ? fallback : value;
  };
  var resetUrl = body.getAttribute("data-reset-url");

  // One submission per form: ignore repeated taps until the next page arrives.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.hasAttribute("data-sending")) {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-sending", "");
    });
  });

  // A countdown shown in `target` that calls `done` at zero; returns a function that stops it.
  function countdown(total, target, done) {
    var left = total;
    var show = function () { target.forEach(function (el) { el.textContent = String(left); }); };
    show();
    var timer = window.setInterval(function () {
      left -= 1;
      show();
      if (left <= 0) {
        window.clearInterval(timer);
        done();
      }
    }, 1000);
    return function () { window.clearInterval(timer); };
  }

  // Follow-up questions: warn after inactivity, then save what was answered and start over.
  var idleForm = document.querySelector("form[data-idle-reset]");
  var dialog = document.getElementById("timeout-dialog");
  if (idleForm && dialog) {
    var idleTimer = null;
    var stopWarning = null;
    var expire = function () {
      if (dialog.open) { dialog.close(); }
      var finish = document.getElementById("finish");
      if (finish && idleForm.requestSubmit) { idleForm.requestSubmit(finish); }
      else if (resetUrl) { window.location.assign(resetUrl); }
    };
    var warn = function () {
      if (typeof dialog.showModal === "function") { dialog.showModal(); } else { dialog.setAttribute("open", ""); }
      document.getElementById("timeout-extend").focus();
      stopWarning = countdown(seconds("warning", 30), dialog.querySelectorAll(".timeout-count"), expire);
    };
    var restart = function () {
      if (dialog.open) { return; }
      window.clearTimeout(idleTimer);
      idleTimer = window.setTimeout(warn, seconds("idle", 60) * 1000);
    };
    document.getElementById("timeout-extend").addEventListener("click", function () {
      if (stopWarning) { stopWarning(); }
      dialog.close();
      restart();
    });
    dialog.addEventListener("cancel", function (event) { event.preventDefault(); });
    ["pointerdown", "keydown", "input", "scroll"].forEach(function (type) {
      document.addEventListener(type, restart, { passive: true });
    });
    restart();
  }

  // Thank-you: count down to the start screen; "Keep this screen" stops the countdown.
  var thanks = document.querySelector("[data-thanks]");
  if (thanks && resetUrl) {
    var note = thanks.querySelector(".thanks-countdown");
    var keep = document.getElementById("keep-screen");
    note.hidden = false;
    keep.hidden = false;
    var stop = countdown(seconds("thanks", 20), thanks.querySelectorAll(".thanks-count"), function () {
      window.location.assign(resetUrl);
    });
    keep.addEventListener("click", function () {
      stop();
      note.hidden = true;
      keep.hidden = true;
      document.getElementById("start-again").focus();
    });
  }
}());
