// Dispatch console (pages/dispatch.py): live timers and keyboard shortcuts, in the browser.
(function () {
  // each timer says what it counts ("on scene 3 min 05 s"), in the one duration format (assets/vocabulary.js)
  function tick() {
    var now = Date.now();
    var timers = document.querySelectorAll(".dispatch-page .dispatch-timer[data-since]");
    for (var i = 0; i < timers.length; i++) {
      var since = Date.parse(timers[i].getAttribute("data-since"));
      var counts = timers[i].getAttribute("data-counts");
      if (!isNaN(since)) {
        var text = window.cityopsFormat.duration((now - since) / 1000);
        timers[i].textContent = counts ? counts + " " + text : text;
      }
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
  // Shortcuts act only when nothing is being typed and no form is open: the new-incident form opens
  // here, synchronously, with its first field focused, so the keys that follow N are text, never commands.
  function formOpen() {
    var forms = document.querySelectorAll(".dispatch-page .dispatch-form");
    for (var i = 0; i < forms.length; i++) { if (!forms[i].classList.contains("hidden")) { return true; } }
    return false;
  }
  function isTextField(el) {
    return !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
                    el.isContentEditable);
  }
  function openForm(formId, fieldId) {
    var form = document.getElementById(formId), field = document.getElementById(fieldId);
    if (!form) { return; }
    form.classList.remove("hidden");
    if (field) { field.focus(); }
  }
  document.addEventListener("keydown", function (event) {
    if (!document.querySelector(".dispatch-page")) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape") { click("dispatch-form-close"); click("dispatch-resolve-close"); return; }
    if (isTextField(event.target) || isTextField(document.activeElement) || formOpen()) { return; }
    var key = event.key.toLowerCase();
    if (key === "j") { moveInQueue(1); }
    else if (key === "k") { moveInQueue(-1); }
    else if (key === "d") { click("dispatch-top-button"); }
    else if (key === "c") {
      var button = document.getElementById("dispatch-cancel-button");
      if (button && !button.disabled && window.confirm("Cancel incident #" + shownIncident() + "?")) { button.click(); }
    } else if (key === "n") {
      var opener = document.getElementById("dispatch-new-button");
      if (!opener || opener.disabled) { return; }
      openForm("dispatch-form", "dispatch-form-description");
      opener.click();  // the page's clientside callback records the open form (no server round trip)
    } else { return; }
    event.preventDefault();
  });
  window.dispatchShownIncident = shownIncident;
  function shownIncident() {
    var head = document.querySelector("#dispatch-detail [data-shown-incident]");
    return head ? parseInt(head.getAttribute("data-shown-incident"), 10) : null;
  }
  window.dispatchOpenForm = openForm;
})();

// A console button click as an intent {action, target, incident, at} for the page's server callback:
// ``incident`` is the one the detail panel shows at the moment of the click, so D acts on what was seen.
// The forms open and close here (their visibility), without a server round trip.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  dispatch: {
    intent: function () {
      var triggered = window.dash_clientside.callback_context.triggered;
      if (!triggered || !triggered.length || !triggered[0].value) { return window.dash_clientside.no_update; }
      var id = triggered[0].prop_id.slice(0, triggered[0].prop_id.lastIndexOf("."));
      var incident = window.dispatchShownIncident();
      if (id.charAt(0) === "{") {
        var parsed = JSON.parse(id);
        return { action: parsed.type, target: parsed.index, incident: incident, at: Date.now() };
      }
      return { action: id, target: null, incident: incident, at: Date.now() };
    },
    toggleForm: function (formId, fieldId, base) {
      return function () {
        var triggered = window.dash_clientside.callback_context.triggered;
        var opening = triggered && triggered.length && triggered[0].prop_id.indexOf("close") < 0;
        if (opening) { window.dispatchOpenForm(formId, fieldId); }
        return opening ? base : base + " hidden";
      };
    }
  }
});
window.dash_clientside.dispatch.newForm = window.dash_clientside.dispatch.toggleForm(
  "dispatch-form", "dispatch-form-description", "dispatch-form");
window.dash_clientside.dispatch.resolveForm = window.dash_clientside.dispatch.toggleForm(
  "dispatch-resolve-form", "dispatch-resolve-outcome", "dispatch-form resolve-form");
