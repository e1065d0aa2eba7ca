// The public kiosk in the browser (pages/kiosk.py): its clock in the site time zone and the screen's
// language, the stale notice, and the rotation between panels (asked for by the link, or by itself when
// the panels do not all fit on the screen).
// Never old numbers as current: when no data has arrived for STALE_MS, or the server does not answer
// (assets/connection.js marks body.server-lost), the live part is hidden and the notice says since
// when; it comes back by itself with the next data.
(function () {
  "use strict";
  var STALE_MS = 20000;
  var PANELS = ["air", "traffic", "water"];
  var AUTO_ROTATE_S = 15;
  var state = { receivedAt: 0, builtAt: null, stale: false, panel: 0, rotatedAt: Date.now() };
  window.cityopsKiosk = state;

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    kiosk: {
      nextLanguage: function (_n, language, options) {
        var languages = (options && options.languages) || [];
        if (languages.length < 2) { return window.dash_clientside.no_update; }
        return languages[(languages.indexOf(language) + 1) % languages.length];
      }
    }
  });

  function clock(screen) {
    var el = document.getElementById("kiosk-clock");
    if (!el) { return; }
    var language = screen.getAttribute("data-lang") === "zh" ? "zh-CN" : "en-GB";
    var options = { timeZone: el.getAttribute("data-timezone") || undefined, weekday: "long", day: "numeric",
                    month: "long", hour: "2-digit", minute: "2-digit", hour12: false };
    var text;
    try {
      text = new Intl.DateTimeFormat(language, options).format(new Date());
    } catch (error) {
      text = new Date().toLocaleString();
    }
    if (el.textContent !== text) { el.textContent = text; }
  }

  // Does the whole screen (every panel at once) overflow it? Then it rotates by itself: nothing stays unseen.
  function overflowing(root) {
    var box = root.getBoundingClientRect();
    return Array.prototype.some.call(root.querySelectorAll(".kiosk-panel"), function (panel) {
      var r = panel.getBoundingClientRect();
      return r.right > box.right + 1 || r.bottom > box.bottom + 1;
    });
  }

  function rotate(root, fresh) {
    var seconds = parseInt(root.getAttribute("data-rotate") || "0", 10);
    if (!seconds && (fresh || state.autoRotate === undefined)) {  // measured in this task: nothing is painted
      document.body.removeAttribute("data-kiosk-panel");
      state.autoRotate = overflowing(root);
    }
    seconds = seconds || (state.autoRotate ? AUTO_ROTATE_S : 0);
    if (!seconds) {
      document.body.removeAttribute("data-kiosk-panel");
      return;
    }
    if (Date.now() - state.rotatedAt >= seconds * 1000) {
      state.panel = (state.panel + 1) % PANELS.length;
      state.rotatedAt = Date.now();
    }
    document.body.setAttribute("data-kiosk-panel", PANELS[state.panel]);
  }

  var observed = null;

  function tick() {
    var root = document.getElementById("kiosk");
    if (!root) {
      document.body.classList.remove("kiosk-mode", "kiosk-stale");
      return;
    }
    document.body.classList.add("kiosk-mode");
    if (observed !== root) {  // new data is noted (and the clock set) before the browser paints it
      observed = root;
      new MutationObserver(tick).observe(root, { childList: true, subtree: true });
    }
    var screen = root.querySelector(".kiosk-screen");
    if (!screen) { return; }
    var builtAt = screen.getAttribute("data-built-at");
    var fresh = builtAt !== state.builtAt;
    if (fresh) {  // new data has been rendered
      state.builtAt = builtAt;
      state.receivedAt = Date.now();
    }
    var lost = document.body.classList.contains("server-lost");
    state.stale = lost || Date.now() - state.receivedAt > STALE_MS;
    document.body.classList.toggle("kiosk-stale", state.stale);
    var lang = screen.getAttribute("lang");
    if (lang && document.documentElement.lang !== lang) { document.documentElement.lang = lang; }  // read aloud right
    clock(screen);
    rotate(root, fresh);
  }

  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
})();
