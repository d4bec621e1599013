/* Read-aloud (#9): the speaker button reads the step's heading and each answer, in order, in the
   page's language, with the device's own speech synthesis (no network, no third party). The button
   stays hidden unless the device has a voice for that language. Loaded on every citizen page (kiosk
   and phone); the pages work without it. Written for old tablet browsers: no arrow functions. */
(function () {
  "use strict";
  var button = document.querySelector("[data-speak]");
  var synth = window.speechSynthesis;
  if (!button || !synth || typeof synth.getVoices !== "function" || !window.SpeechSynthesisUtterance) { return; }
  var lang = (button.getAttribute("data-lang") || document.documentElement.lang || "").toLowerCase();
  // What is read, in page order: the heading, the chosen face's word, every answer on the screen.
  var READ = "main h1, main .chosen-word, main .face-label, main .choice-button > span, main .reason";

  function voiceFor() {
    var voices = synth.getVoices() || [];
    for (var i = 0; i < voices.length; i += 1) {
      var code = String(voices[i].lang || "").toLowerCase().replace("_", "-");
      if (code === lang || code.indexOf(lang + "-") === 0) { return voices[i]; }
    }
    return null;
  }
  function update() { button.hidden = voiceFor() === null; }
  function texts() {
    var found = [];
    Array.prototype.forEach.call(document.querySelectorAll(READ), function (element) {
      var text = (element.textContent || "").replace(/\s+/g, " ").replace(/^ | $/g, "");
      if (text) { found.push(text); }
    });
    return found;
  }

  button.addEventListener("click", function () {
    var voice = voiceFor();
    if (!voice) { update(); return; }
    synth.cancel();
    texts().forEach(function (text) {
      var utterance = new window.SpeechSynthesisUtterance(text);
      utterance.lang = voice.lang;
      try { utterance.voice = voice; } catch (ignored) { /* the language alone picks a voice */ }
      synth.speak(utterance);
    });
  });
  // Voices often arrive after the page (Chrome loads them asynchronously).
  if (typeof synth.addEventListener === "function") { synth.addEventListener("voiceschanged", update); }
  update();
  // Nothing keeps talking to the next person once the page is left.
  window.addEventListener("pagehide", function () { synth.cancel(); });
}());
