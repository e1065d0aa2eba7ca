// Dispatch console (pages/dispatch.py): live timers and keyboard shortcuts, in the browser.
(function () {
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : pad(m) + ":" + pad(s);
  }
  function tick() {
    var now = Date.now();
    var timers = document.querySelectorAll(".dispatch-page .dispatch-timer[data-since]");
    for (var i = 0; i < timers.length; i++) {
      var since = Date.parse(timers[i].getAttribute("data-since"));
      if (!isNaN(since)) { timers[i].textContent = clock((now - since) / 1000); }
    }
  }
  setInterval(tick, 1000);

  function click(id) {
    var el = document.getElementById(id);
    if (el && !el.disabled) { el.click(); return true; }
    return false;
  }
  function moveInQueue(step) {
    var rows = Array.prototype.slice.call(document.querySelectorAll(".dispatch-page tr.queue-row"));
    if (!rows.length) { return; }
    var at = rows.findIndex(function (row) { return row.classList.contains("selected"); });
    var next = rows[Math.min(rows.length - 1, Math.max(0, at < 0 ? 0 : at + step))];
    next.click();
    next.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    if (!document.querySelector(".dispatch-page")) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" ||
                            target.tagName === "SELECT" || target.isContentEditable);
    if (event.key === "Escape") { click("dispatch-form-close"); return; }
    if (typing) { return; }
    var key = event.key.toLowerCase();
    if (key === "j") { moveInQueue(1); }
    else if (key === "k") { moveInQueue(-1); }
    else if (key === "d") { click("dispatch-top-button"); }
    else if (key === "c") {
      var button = document.getElementById("dispatch-cancel-button");
      if (button && !button.disabled && window.confirm("Cancel the selected incident?")) { button.click(); }
    } else if (key === "n") {
      click("dispatch-new-button");
      setTimeout(function () { var d = document.getElementById("dispatch-form-description"); if (d) { d.focus(); } }, 50);
    } else { return; }
    event.preventDefault();
  });
})();

// A console button click as an intent {action, target, at} for the page's server callback.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  dispatch: {
    intent: function () {
      var triggered = window.dash_clientside.callback_context.triggered;
      if (!triggered || !triggered.length || !triggered[0].value) { return window.dash_clientside.no_update; }
      var id = triggered[0].prop_id.slice(0, triggered[0].prop_id.lastIndexOf("."));
      if (id.charAt(0) === "{") {
        var parsed = JSON.parse(id);
        return { action: parsed.type, target: parsed.index, at: Date.now() };
      }
      return { action: id, target: null, at: Date.now() };
    }
  }
});
