// Alarm strip: a sound (Web Audio, no files) and a flash for each new critical alarm on wall
// screens (/wall or ?mode=wall), mutable per screen (kept in localStorage).
// Browsers start audio only after a user gesture: click the strip's sound button once on a wall
// screen, or start the kiosk browser with --autoplay-policy=no-user-gesture-required.
(function () {
  "use strict";
  var MUTE_KEY = "cityops.alarms.muted";
  var SEEN_KEY = "cityops.alarms.lastCritical";
  var audio = null;

  function isWall() {
    return location.pathname.replace(/\/$/, "") === "/wall" || /(^|[?&])mode=wall(&|$)/.test(location.search);
  }
  function store(key, value) {
    try { if (value === undefined) { return window.localStorage.getItem(key); } window.localStorage.setItem(key, value); }
    catch (e) { return null; }  // private mode or storage disabled: behave as unmuted, announce once per page
    return null;
  }
  function muted() { return store(MUTE_KEY) === "1"; }

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
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") { audio.resume(); }
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
    var off = muted();
    document.querySelectorAll("[data-alarm-mute]").forEach(function (button) {
      var label = off ? "Sound muted" : "Sound on";
      if (button.textContent !== label) { button.textContent = label; }
      button.classList.toggle("is-muted", off);
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
        if (!muted()) { sound(3); }
      }
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-alarm-mute]");
    if (!button) { return; }
    event.preventDefault();
    store(MUTE_KEY, muted() ? "0" : "1");
    if (!muted()) { sound(1); }  // the click is the gesture that unlocks audio; a short test tone
    showMute();
  });
  setInterval(check, 500);
})();
