// Never silently stale: every screen checks that the server answers every 3 s (/health/live: no
// database query, so a degraded pipeline is not a lost connection) and says so when it cannot
// reach it; the banner goes away by itself when the server answers again.
(function () {
  "use strict";
  // the page language's words for the script's texts (assets/vocabulary.js; extracted by make messages)
  function _(text, values) { return window.cityopsFormat ? window.cityopsFormat.gettext(text, values) : text; }

  var failures = 0;
  var lostAt = null;

  function banner() {
    var el = document.getElementById("connection-banner");
    if (!el) {
      el = document.createElement("div");
      el.id = "connection-banner";
      el.setAttribute("role", "alert");
      el.hidden = true;
      document.body.appendChild(el);
    }
    return el;
  }

  function siteTime(date) {
    var clock = document.getElementById("shell-clock");
    var zone = (clock && clock.getAttribute("data-timezone")) || undefined;
    return date.toLocaleTimeString("en-GB", { timeZone: zone, hour12: false });
  }

  function check() {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, 2500);
    fetch("/api/v1/health/live", { cache: "no-store", signal: controller.signal })
      .then(function (response) {
        clearTimeout(timer);
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        failures = 0;
        lostAt = null;
        banner().hidden = true;
        document.body.classList.remove("server-lost");
      })
      .catch(function () {
        clearTimeout(timer);
        failures += 1;
        if (failures >= 2) {
          lostAt = lostAt || new Date();
          var el = banner();
          el.textContent = _("No connection to the CityOps server since {time}. The screen shows the last " +
            "data it received and reconnects by itself.", {time: siteTime(lostAt)});
          el.hidden = false;
          document.body.classList.add("server-lost");
        }
      });
  }

  setInterval(check, 3000);
})();
