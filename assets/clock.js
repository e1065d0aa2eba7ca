// The shell's site clock: ticks in the browser, in the city's time zone (no server round trip).
(function () {
  function tick() {
    var el = document.getElementById("shell-clock");
    if (el) {
      var zone = el.getAttribute("data-timezone") || undefined;
      el.textContent = new Date().toLocaleString("en-GB", { timeZone: zone, hour12: false,
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    }
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
})();
