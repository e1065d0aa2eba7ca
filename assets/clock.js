// The shell's site clock: ticks in the browser, in the city's time zone (no server round trip), in the
// one date format of every screen (assets/vocabulary.js): 2026-12-01 23:38:05.
(function () {
  function tick() {
    var el = document.getElementById("shell-clock");
    if (el && window.cityopsFormat) { el.textContent = window.cityopsFormat.siteTime(Date.now(), true); }
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
})();
