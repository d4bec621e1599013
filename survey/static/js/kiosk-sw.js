/* The kiosk's service worker (served as /kiosk/service-worker.js, registered by kiosk.js): keeps each
   kiosk's start page and the files it loads, and shows them when the server cannot be reached, so a
   tablet reloaded (or returning to its start screen) while the server is down still shows the faces;
   kiosk.js then queues the taps. Everything else goes to the network untouched. */
"use strict";
var CACHE = "survey-kiosk-1";
// A kiosk's start page is /kiosk/<token>; every page below it falls back to that start page.
var KIOSK_PAGE = /^(\/kiosk\/[A-Za-z0-9_-]+)(\/|$)/;
var NETWORK_SECONDS = 4;

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function startKey(url) { return new URL(url).origin + KIOSK_PAGE.exec(new URL(url).pathname)[1]; }

function remember(key, response) {
  if (!response || !response.ok || response.type !== "basic") { return; }
  var copy = response.clone();
  caches.open(CACHE).then(function (cache) { return cache.put(key, copy); });
}

// The network, but not for longer than a few seconds: a hanging server counts as away.
function network(request) {
  return new Promise(function (resolve, reject) {
    setTimeout(function () { reject(new Error("timeout")); }, NETWORK_SECONDS * 1000);
    fetch(request).then(resolve, reject);
  });
}

// kiosk.js sends the start page's address and its files once the worker runs.
self.addEventListener("message", function (event) {
  var data = event.data || {};
  var origin = self.location.origin;
  var files = (data.files || []).filter(function (url) { return url.indexOf(origin + "/") === 0; });
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    var work = files.map(function (url) {
      return fetch(url, { credentials: "same-origin" }).then(function (r) { if (r.ok) { return cache.put(url, r); } });
    });
    var start = data.start && data.start.indexOf(origin + "/kiosk/") === 0 && KIOSK_PAGE.test(new URL(data.start).pathname);
    if (start) {
      work.push(fetch(data.start, { credentials: "same-origin" }).then(function (r) {
        if (r.ok) { return cache.put(startKey(data.start), r); }
      }));
    }
    return Promise.all(work);
  }).catch(function () { /* the server went away meanwhile: kept next time */ }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  var match = KIOSK_PAGE.exec(url.pathname);
  if (request.mode === "navigate" && match && url.pathname !== "/kiosk/service-worker.js") {
    var isStart = request.method === "GET" && !match[2];
    // Only the start page gives up after a few seconds; a slow answer to a follow-up is waited for.
    event.respondWith((isStart ? network(request) : fetch(request)).then(function (response) {
      if (isStart) { remember(startKey(request.url), response); }
      return response;
    }).catch(function () {
      return caches.match(startKey(request.url)).then(function (hit) { return hit || Response.error(); });
    }));
  } else if (request.method === "GET" && url.pathname.indexOf("/static/") === 0) {
    event.respondWith(fetch(request).then(function (response) {
      remember(request, response);
      return response;
    }).catch(function () {
      return caches.match(request).then(function (hit) {
        return hit || caches.match(request, { ignoreSearch: true }).then(function (any) { return any || Response.error(); });
      });
    }));
  }
});
