// Alarm strip: a sound (Web Audio, no files) and a flash for each new critical alarm on wall
// screens (/wall or ?mode=wall), mutable per screen (kept in localStorage). A wall's link decides
// (?sound=1, a display's {"sound": true}: sound on at every load; ?sound=0: a silent wall).
// Browsers start audio only after a user gesture: an unattended wall's kiosk browser runs with
// --autoplay-policy=no-user-gesture-required; without it the wall says "Sound muted — click to enable".
(function () {
  "use strict";
  // the page language's words for the script's texts (assets/vocabulary.js; extracted by make messages)
  function _(text, values) { return window.cityopsFormat ? window.cityopsFormat.gettext(text, values) : text; }

  var MUTE_KEY = "cityops.alarms.muted";
  var SEEN_KEY = "cityops.alarms.lastCritical";
  var audio = null;
  var played = 0;  // tones played on this page (for tests)

  function isWall() {
    return location.pathname.replace(/\/$/, "") === "/wall" || /(^|[?&])mode=wall(&|$)/.test(location.search);
  }
  function store(key, value) {
    try { if (value === undefined) { return window.localStorage.getItem(key); } window.localStorage.setItem(key, value); }
    catch (e) { return null; }  // private mode or storage disabled: behave as unmuted, announce once per page
    return null;
  }
  function muted() { return store(MUTE_KEY) === "1"; }
  function wallSound() {  // the wall's link: "on", "off" or "" (not set)
    var wall = document.querySelector(".wall[data-sound]");
    return wall ? wall.getAttribute("data-sound") : "";
  }
  function audioContext() {
    try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
    return audio;
  }
  // The browser lets this page play sound (an autoplay policy, or a click here since it loaded).
  function audible() { return !!audio && audio.state === "running"; }

  function tone(start, freq, length) {
    var osc = audio.createOscillator();
    var gain = audio.createGain();
    osc.type = "square";
    osc.frequency.setValueAtTime(freq, start);
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(start + length + 0.05);
  }
  function sound(pulses) {
    try {
      if (!audioContext()) { return; }
      if (audio.state === "suspended") { audio.resume(); }
      if (!audible()) { return; }
      played += pulses;
      var t = audio.currentTime + 0.05;
      for (var i = 0; i < pulses; i++) {  // a two-tone alarm: hard to miss, not a tune
        tone(t + i * 0.5, 988, 0.22);
        tone(t + i * 0.5 + 0.24, 740, 0.22);
      }
    } catch (e) { /* no audio on this screen */ }
  }
  function flash() {
    var body = document.body;
    body.classList.remove("alarm-flash");
    void body.offsetWidth;  // restart the animation
    body.classList.add("alarm-flash");
    setTimeout(function () { body.classList.remove("alarm-flash"); }, 8000);
  }

  function showMute() {
    var wall = isWall();
    document.body.classList.toggle("alarm-wall", wall);
    document.body.classList.toggle("alarm-silent", wall && wallSound() === "off");
    var off = muted();
    var blocked = wall && !off && !audible();
    document.querySelectorAll("[data-alarm-mute]").forEach(function (button) {
      var label = off ? _("Sound muted") : blocked ? _("Sound muted — click to enable") : _("Sound on");
      if (button.textContent !== label) { button.textContent = label; }
      button.classList.toggle("is-muted", off);
      button.classList.toggle("is-blocked", blocked);
    });
  }

  var seenThisPage = 0;
  function check() {
    showMute();
    var strip = document.querySelector(".alarm-strip[data-critical]");
    if (!strip) { return; }
    var id = parseInt(strip.getAttribute("data-critical") || "0", 10) || 0;
    var seen = parseInt(store(SEEN_KEY) || "0", 10) || seenThisPage;
    if (id > seen) {
      store(SEEN_KEY, String(id));
      seenThisPage = id;
      if (isWall()) {
        flash();
        if (!muted() && wallSound() !== "off") { sound(3); }
      }
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-alarm-mute]");
    if (!button) { return; }
    event.preventDefault();
    var unlocking = !muted() && !audible();  // "click to enable": the click is the gesture the browser waits for
    if (!unlocking) { store(MUTE_KEY, muted() ? "0" : "1"); }
    if (!muted() && audioContext()) {
      audio.resume().then(function () { sound(1); showMute(); });  // a short test tone
    }
    showMute();
  });

  // A wall whose link asks for sound starts unmuted and asks the browser for audio at once: an
  // autoplay policy lets it run; otherwise the wall shows that it is muted until someone clicks.
  var asked = false;
  function askForSound() {
    if (asked || !isWall() || !document.querySelector(".wall[data-sound]") || wallSound() === "off") { return; }
    asked = true;
    if (wallSound() === "on") { store(MUTE_KEY, "0"); }
    if (!muted() && audioContext() && audio.state === "suspended") { audio.resume().then(showMute, showMute); }
  }
  var watched = null;  // the strip is re-rendered every 2 s: its button shows this screen's state at once
  function watchStrip() {
    var strip = document.getElementById("shell-alarm-strip");
    if (strip && strip !== watched) {
      watched = strip;
      new MutationObserver(showMute).observe(strip, { childList: true, subtree: true });
    }
  }
  setInterval(function () { watchStrip(); askForSound(); check(); }, 500);
  window.cityops = window.cityops || {};
  window.cityops.alarmSound = function () { return { played: played, audible: audible(), muted: muted() }; };
})();
