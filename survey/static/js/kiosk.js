/* Kiosk enhancements. The pages work without this file; with it:
   - a second tap while a form is being sent does nothing (the server also stores one rating per key);
   - the confirmation after a tap closes the rating and returns to the start after a few seconds;
   - idle follow-up screens warn "Do you need more time?" and let the person extend (WCAG 2.2.1),
     then close the rating (each answer was stored when tapped); a start screen left in another
     language returns to the kiosk's own;
   - the thank-you screen counts down to the start screen, and the countdown can be stopped
     (a stopped screen left alone returns to the start after the same warning);
   - a "database unavailable" page (503) sends the same answers again after its Retry-After delay;
   - a tap is never lost: queued on the tablet when the network or the server is down (see below).
   Written for old tablet browsers too: no arrow functions, and <dialog> is optional. */
(function () {
  "use strict";
  var body = document.body;
  var resetUrl = body.getAttribute("data-reset-url");
  var defaultLocale = body.getAttribute("data-default-locale");
  var seconds = function (name, fallback) {
    var value = parseInt(body.getAttribute("data-" + name + "-seconds"), 10);
    return isNaN(value) ? fallback : value;
  };
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };
  var byId = function (id) { return document.getElementById(id); };
  // Replace, not push: "Back" must not bring the previous person's screens to the next one.
  var goToStart = function () { if (resetUrl) { window.location.replace(resetUrl); } };

  // One submission per form: ignore repeated taps until the next page arrives. If the request is
  // lost (network), taps work again after a while; the server keeps one rating per key anyway.
  each(document.querySelectorAll("form[data-once]"), function (form) {
    var retry = null;
    form.addEventListener("submit", function (event) {
      if (form.hasAttribute("data-sending")) {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-sending", "");
      window.clearTimeout(retry);
      retry = window.setTimeout(function () { form.removeAttribute("data-sending"); }, 15000);
    });
  });
  // A page shown again from the back/forward cache must accept taps again; but a screen after
  // someone's tap (their face, their questions) is never shown again to the next person.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && document.querySelector("[data-confirm], [data-thanks], form[data-idle-reset]")) {
      goToStart();
      return;
    }
    if (event.persisted) {
      each(document.querySelectorAll("form[data-sending]"), function (form) { form.removeAttribute("data-sending"); });
    }
  });

  // A countdown shown in `targets` that calls `done` at zero; returns a function that stops it.
  // It reads the clock, so a busy or sleeping tablet does not stretch it.
  function countdown(total, targets, done) {
    var started = Date.now();
    var shown = null;
    var timer = null;
    var tick = function () {
      var left = Math.max(0, total - Math.floor((Date.now() - started) / 1000));
      if (left !== shown) {
        shown = left;
        each(targets, function (el) { el.textContent = String(left); });
      }
      if (left <= 0) {
        window.clearInterval(timer);
        done();
      }
    };
    timer = window.setInterval(tick, 200);
    tick();
    return function () { window.clearInterval(timer); };
  }

  // <dialog> where the browser has it; otherwise the same element shown with the "open" attribute.
  function openDialog(dialog) {
    if (dialog.hasAttribute("open")) { return; }
    if (typeof dialog.showModal === "function") {
      try { dialog.showModal(); return; } catch (ignored) { /* fall through to the attribute */ }
    }
    dialog.classList.add("is-fallback");
    dialog.setAttribute("open", "");
  }
  function closeDialog(dialog) {
    if (!dialog.hasAttribute("open")) { return; }
    if (typeof dialog.close === "function") { dialog.close(); } else { dialog.removeAttribute("open"); }
  }

  // After `idle` seconds without a touch, ask "Do you need more time?" for `warning` seconds; the
  // button (or Escape) gives more time, and silence calls `expire`.
  function watchIdle(dialog, expire) {
    var extend = byId("timeout-extend");
    var idleTimer = null;
    var stopWarning = null;
    var restart = function () {
      if (stopWarning) { return; } // while warning, only an answer to the question counts
      window.clearTimeout(idleTimer);
      idleTimer = window.setTimeout(warn, seconds("idle", 60) * 1000);
    };
    var warn = function () {
      openDialog(dialog);
      if (extend) { extend.focus(); }
      stopWarning = countdown(seconds("warning", 30), dialog.querySelectorAll(".timeout-count"), function () {
        stopWarning = null;
        closeDialog(dialog);
        expire();
      });
    };
    var moreTime = function () {
      if (stopWarning) { stopWarning(); stopWarning = null; }
      closeDialog(dialog);
      restart();
    };
    if (extend) { extend.addEventListener("click", moreTime); }
    // Escape closes a modal dialog; the person is there, so that also means "more time".
    dialog.addEventListener("close", function () { if (stopWarning) { moreTime(); } });
    ["pointerdown", "touchstart", "mousedown", "keydown", "input", "change", "scroll", "wheel"].forEach(function (type) {
      document.addEventListener(type, restart, { capture: true, passive: true });
    });
    restart();
  }

  var dialog = byId("timeout-dialog");
  var followUp = document.querySelector("form[data-idle-reset]");
  // "Finish" closes the rating on the server, so nobody can add to it after this person leaves.
  var finishNow = function () {
    var finish = byId("finish");
    var form = finish && finish.form;
    if (!form || document.querySelector(".error[role=alert]")) { goToStart(); return; }
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit(finish);
    } else { // submit() sends neither the button's name nor the submit event: add both by hand
      var marker = document.createElement("input");
      marker.type = "hidden";
      marker.name = finish.name;
      marker.value = finish.value;
      form.appendChild(marker);
      form.setAttribute("data-sending", "");
      form.submit();
    }
    if (!form.hasAttribute("data-sending")) { goToStart(); } // the browser refused to send
  };
  if (dialog && followUp) {
    // Mid-way through the follow-up: warn, then close the rating (every answer is stored when tapped).
    watchIdle(dialog, finishNow);
  } else if (dialog && resetUrl && defaultLocale && document.querySelector(".rate-form")
             && /[?&]lang=/.test(window.location.search) && document.documentElement.lang !== defaultLocale) {
    // Someone switched the language and walked away: the next person gets the kiosk's own language.
    watchIdle(dialog, goToStart);
  }

  // The server could not reach its database (503): send the same answers again after the delay it
  // asked for. The idempotency key among them stores the rating once, however often it is sent.
  var resend = document.querySelector("form[data-retry-after]");
  if (resend) {
    var resendNote = resend.querySelector(".retry-countdown");
    if (resendNote) { resendNote.hidden = false; }
    var delay = parseInt(resend.getAttribute("data-retry-after"), 10);
    countdown(isNaN(delay) ? 5 : delay, resend.querySelectorAll(".retry-count"), function () {
      resend.setAttribute("data-sending", "");
      resend.submit();
    });
  }

  // After the tap: the chosen face for a few seconds, then the rating is closed and the kiosk is free.
  var confirmation = document.querySelector("[data-confirm]");
  var confirmNote = confirmation && confirmation.querySelector(".confirm-countdown");
  if (confirmation && confirmNote && resetUrl) {
    confirmNote.hidden = false;
    var confirmCount = confirmation.querySelectorAll(".confirm-count");
    var stopConfirm = countdown(seconds("confirm", 8), confirmCount, finishNow);
    // Somebody touching the screen is still there: start the few seconds again.
    ["pointerdown", "keydown"].forEach(function (type) {
      document.addEventListener(type, function () {
        stopConfirm();
        stopConfirm = countdown(seconds("confirm", 8), confirmCount, finishNow);
      }, { capture: true, passive: true });
    });
  }

  // No tap is lost. Online, a tap is sent with fetch (without this script the form simply posts);
  // when the network is down, or the server does not answer (error, 5xx, a few seconds of silence),
  // the tap is queued on the tablet with its idempotency key and tap time, and the start screen is
  // ready again at once. A tap whose answer was lost keeps its key in the queue, so the server
  // stores it once. The queue is sent when the server answers again (backoff, Retry-After), and the
  // page reports its queued count to the server (kiosk health for managers). Taps and the queue go to
  // POST /api/v1/ratings with the kiosk's own credential (survey/api/kiosk.py, survey/rating/sync.py).
  var queueForm = document.querySelector("form[data-sync-url]");
  if (queueForm && window.localStorage && window.fetch && window.URLSearchParams && window.JSON) {
    var syncUrl = queueForm.getAttribute("data-sync-url"); // names the queue (kept across versions)
    var apiUrl = queueForm.getAttribute("data-api-url");
    var kioskToken = queueForm.getAttribute("data-kiosk-token");
    var overallKey = queueForm.getAttribute("data-overall-key");
    var healthUrl = queueForm.getAttribute("data-health-url");
    var queueName = "survey-queue:" + syncUrl;
    var readQueue = function () {
      try { return JSON.parse(window.localStorage.getItem(queueName) || "[]"); } catch (ignored) { return []; }
    };
    var writeQueue = function (queue) {
      try { window.localStorage.setItem(queueName, JSON.stringify(queue)); } catch (ignored) { /* full: kept in memory */ }
    };
    var newKey = function () {
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    };
    var keyField = queueForm.querySelector("input[name=idempotency_key]");
    // This page may be the service worker's saved copy, shown many times: each showing gets its own key.
    keyField.value = newKey();
    var token = queueForm.querySelector("input[name=csrf_token]");
    var post = function (url, fields, timeout) {
      var body = new URLSearchParams();
      body.append("csrf_token", token ? token.value : "");
      fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
      return new Promise(function (resolve, reject) {
        window.setTimeout(function () { reject(new Error("timeout")); }, timeout);
        window.fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + "lang=" + document.documentElement.lang,
                     { method: "POST", body: body, headers: { "Accept": "application/json" }, credentials: "same-origin" })
          .then(resolve, reject);
      });
    };
    var postJson = function (body, timeout) {
      return new Promise(function (resolve, reject) {
        window.setTimeout(function () { reject(new Error("timeout")); }, timeout);
        window.fetch(apiUrl + "?lang=" + document.documentElement.lang, {
          method: "POST", body: JSON.stringify(body), credentials: "omit",
          headers: { "Accept": "application/json", "Content-Type": "application/json",
                     "Authorization": "Kiosk " + kioskToken }
        }).then(resolve, reject);
      });
    };
    var queuedNote = queueForm.querySelector("[data-queued-note]");
    var hideNote = null;
    var queueTap = function (key, value, tappedAt) {
      var queue = readQueue();
      var entry = key + "." + value + "." + tappedAt;
      if (queue.indexOf(entry) < 0) { queue.push(entry); }
      writeQueue(queue);
      if (queuedNote) {
        queuedNote.hidden = false;
        window.clearTimeout(hideNote);
        hideNote = window.setTimeout(function () { queuedNote.hidden = true; }, 4000);
      }
      later(2);
    };
    var showError = function (message) {
      var old = document.querySelector(".error[role=alert]");
      if (old) { old.parentNode.removeChild(old); }
      var error = document.createElement("p");
      error.className = "error";
      error.setAttribute("role", "alert");
      error.textContent = message;
      queueForm.parentNode.insertBefore(error, queueForm);
      // The next person must not find it: it goes after a few seconds.
      window.setTimeout(function () { if (error.parentNode) { error.parentNode.removeChild(error); } }, 8000);
    };
    var tapping = false;
    queueForm.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[type=submit]") : null;
      if (!button) { return; }
      event.preventDefault();
      if (tapping) { return; }
      var key = keyField.value;
      var tappedAt = Date.now();
      keyField.value = newKey(); // the next person's tap is a new rating
      if (navigator.onLine === false) { queueTap(key, button.value, tappedAt); return; }
      tapping = true;
      var answers = {};
      answers[overallKey] = parseInt(button.value, 10);
      var tap = { idempotency_key: key, answers: answers, locale: document.documentElement.lang };
      postJson(tap, 5000).then(function (response) {
        if (response.status >= 500) { throw new Error("server"); }
        return response.json().then(function (answer) {
          if (response.ok && answer.next) { window.location.assign(answer.next); return; }
          tapping = false;
          showError(answer.message || "");
        });
      }).catch(function () {
        tapping = false;
        queueTap(key, button.value, tappedAt); // same key: a tap that did arrive is stored once
      });
    }, true);

    var sending = false;
    var failures = 0;
    var retryTimer = null;
    var later = function (delay) {
      window.clearTimeout(retryTimer);
      retryTimer = window.setTimeout(flush, delay * 1000);
    };
    var heartbeat = function () {
      if (!healthUrl || navigator.onLine === false) { return; }
      post(healthUrl, [["queued", String(readQueue().length)], ["sent_at", String(Date.now())]], 10000)
        .then(function (response) { if (response.ok && readQueue().length && !sending) { flush(); } })
        .catch(function () { /* the next heartbeat or flush tries again */ });
    };
    var flush = function () {
      var queue = readQueue();
      if (!queue.length || sending || navigator.onLine === false) { return; }
      sending = true;
      // Each queued tap is "key.value.tapped_at" (milliseconds, the tablet's clock).
      var taps = queue.slice(0, 500).map(function (tap) { // at most MAX_BATCH (500) a batch; the rest next
        var parts = tap.split(".");
        return { idempotency_key: parts[0], value: parseInt(parts[1], 10), tapped_at: parseInt(parts[2], 10) };
      });
      var wait = null;
      postJson({ sent_at: Date.now(), locale: document.documentElement.lang, taps: taps }, 15000)
        .then(function (response) {
          wait = parseInt(response.headers.get("Retry-After"), 10);
          return response.ok ? response.json() : null;
        })
        .then(function (answer) {
          if (!answer || !answer.stored) { throw new Error("not stored"); }
          var done = {};
          answer.stored.forEach(function (key) { done[key] = true; });
          writeQueue(readQueue().filter(function (tap) { return !done[tap.split(".")[0]]; }));
          failures = 0;
          sending = false;
          if (readQueue().length) { later(1); } else { heartbeat(); }
        })
        .catch(function () {
          // The server is away: try again later, sooner at first, as the server asks when it says.
          failures += 1;
          sending = false;
          later(Math.max(isNaN(wait) ? 0 : wait, Math.min(15, Math.pow(2, failures))));
        });
    };
    window.addEventListener("online", flush);
    var beat = parseInt(queueForm.getAttribute("data-heartbeat-seconds"), 10);
    window.setInterval(heartbeat, (isNaN(beat) ? 60 : beat) * 1000);
    window.setInterval(flush, 15000);
    if (readQueue().length) { flush(); } // a heartbeat follows a flush, or comes with the interval
  }

  // The service worker keeps this kiosk's start page and its files, so a reload while the server
  // is down still shows the faces. It lives under /kiosk/ and is only used by kiosk pages.
  var workerUrl = body.getAttribute("data-service-worker");
  if (workerUrl && navigator.serviceWorker && window.Promise) {
    navigator.serviceWorker.register(workerUrl, { scope: workerUrl.replace(/[^/]*$/, "") }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      var files = [];
      each(document.querySelectorAll("script[src], link[rel=stylesheet][href], link[rel=icon][href]"), function (el) {
        files.push(el.src || el.href);
      });
      if (registration.active) {
        registration.active.postMessage({ start: queueForm ? window.location.href : null, files: files });
      }
    }).catch(function () { /* no worker: the page still works online and queues taps */ });
  }

  // Thank-you: count down to the start screen; "Keep this screen" stops the countdown.
  var thanks = document.querySelector("[data-thanks]");
  var note = thanks && thanks.querySelector(".thanks-countdown");
  var keep = byId("keep-screen");
  if (thanks && resetUrl && note && keep) {
    note.hidden = false;
    keep.hidden = false;
    var stop = countdown(seconds("thanks", 20), thanks.querySelectorAll(".thanks-count"), goToStart);
    var kept = false;
    keep.addEventListener("click", function () {
      if (kept) { return; }
      kept = true;
      stop();
      note.hidden = true;
      keep.hidden = true;
      var startAgain = byId("start-again");
      if (startAgain) { startAgain.focus(); }
      // A kept screen that is then left alone still returns to the start, after the usual warning.
      if (dialog) { watchIdle(dialog, goToStart); }
    });
  }

  // Large text and high contrast: remembered on the tablet (localStorage, and the cookie the server
  // reads, so the next page is drawn in the right mode from its first paint); switched in place, so a
  // comment being typed is kept. Without this script the buttons are plain links that do the same.
  var root = document.documentElement;
  var displayName = "survey-display";
  var storedDisplay = null;
  try {
    storedDisplay = window.localStorage && window.localStorage.getItem(displayName);
  } catch (ignored) { storedDisplay = null; }
  var displayLinks = document.querySelectorAll("[data-display]");
  var showDisplay = function () {
    each(displayLinks, function (link) {
      var mode = link.getAttribute("data-display");
      var on = (" " + root.className + " ").indexOf(" " + mode + " ") >= 0;
      link.setAttribute("aria-pressed", on ? "true" : "false");
    });
  };
  var keepDisplay = function () {
    var modes = [];
    each(displayLinks, function (link) {
      if (link.getAttribute("aria-pressed") === "true") { modes.push(link.getAttribute("data-display")); }
    });
    try { window.localStorage.setItem(displayName, modes.join(".")); } catch (ignored) { /* private mode */ }
    document.cookie = "display=" + modes.join(".") + "; path=/; max-age=31536000; samesite=lax";
  };
  var setMode = function (mode, on) {
    var classes = (" " + root.className + " ").replace(" " + mode + " ", " ");
    root.className = (on ? classes + " " + mode : classes).replace(/^\s+|\s+$/g, "").replace(/\s+/g, " ");
  };
  if (storedDisplay !== null) {
    each(displayLinks, function (link) {
      var mode = link.getAttribute("data-display");
      setMode(mode, ("." + storedDisplay + ".").indexOf("." + mode + ".") >= 0);
    });
  }
  showDisplay();
  each(displayLinks, function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      setMode(link.getAttribute("data-display"), link.getAttribute("aria-pressed") !== "true");
      showDisplay();
      keepDisplay();
    });
    link.addEventListener("keydown", function (event) {  // a button answers Space as well as Enter
      if (event.key === " " || event.keyCode === 32) { event.preventDefault(); link.click(); }
    });
  });
}());
