// Dispatch console (pages/dispatch.py): live timers and keyboard shortcuts, in the browser.
(function () {
  // the page language's words for the script's texts (assets/vocabulary.js; extracted by make messages)
  function _(text, values) { return window.cityopsFormat ? window.cityopsFormat.gettext(text, values) : text; }

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
  // The location suggestions: Down from the field goes into the list, Up/Down move in it, Enter picks
  // (the options are buttons); Enter in the field picks the first suggestion.
  function placeKeys(event) {
    var options = Array.prototype.slice.call(document.querySelectorAll("#dispatch-form-places .place-option"));
    var inField = event.target && event.target.id === "dispatch-form-address";
    var at = options.indexOf(event.target);
    if (!options.length || (!inField && at < 0)) { return false; }
    if (event.key === "ArrowDown") { options[inField ? 0 : Math.min(options.length - 1, at + 1)].focus(); }
    else if (event.key === "ArrowUp" && !inField) {
      if (at === 0) { event.target.blur(); document.getElementById("dispatch-form-address").focus(); }
      else { options[at - 1].focus(); }
    } else if (event.key === "Enter" && inField) { options[0].click(); }
    else { return false; }
    event.preventDefault();
    return true;
  }
  document.addEventListener("keydown", function (event) {
    if (!document.querySelector(".dispatch-page")) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape") { click("dispatch-form-close"); click("dispatch-resolve-close"); return; }
    if (placeKeys(event)) { return; }
    if (isTextField(event.target) || isTextField(document.activeElement) || formOpen()) { return; }
    var key = event.key.toLowerCase();
    if (key === "j") { moveInQueue(1); }
    else if (key === "k") { moveInQueue(-1); }
    else if (key === "d") { click("dispatch-top-button"); }
    else if (key === "c") {
      var button = document.getElementById("dispatch-cancel-button");
      if (button && !button.disabled && window.confirm(_("Cancel incident #{id}?", {id: shownIncident()}))) { button.click(); }
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
      // the click among what triggered: a click landing with a re-render of the buttons may come second,
      // after a re-rendered button that was never clicked (n_clicks 0)
      var triggered = (window.dash_clientside.callback_context.triggered || []).filter(function (t) {
        return t && t.value; });
      if (!triggered.length) { return window.dash_clientside.no_update; }
      var id = triggered[0].prop_id.slice(0, triggered[0].prop_id.lastIndexOf("."));
      var incident = window.dispatchShownIncident();
      if (id.charAt(0) === "{") {
        var parsed = JSON.parse(id);
        return { action: parsed.type, target: parsed.index, incident: incident, at: Date.now() };
      }
      return { action: id, target: null, incident: incident, at: Date.now() };
    },
    // The location field asks the city's places (GET /api/v1/places) as the dispatcher types. Editing the
    // name of a place picked from the list clears its point: the point must match the words.
    searchPlaces: function (text, picked) {
      var noUpdate = window.dash_clientside.no_update;
      var stale = picked && picked.from === "list" && text !== picked.name;
      var clear = stale ? [null, null] : [noUpdate, noUpdate];
      if (!text || text.trim().length < 2 || (picked && text === picked.name)) { return [[]].concat(clear); }
      var asked = text;
      return fetch("/api/v1/places?q=" + encodeURIComponent(text), { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.json() : { places: [] }; })
        .then(function (body) {
          var field = document.getElementById("dispatch-form-address");
          if (field && field.value !== asked) { return [noUpdate].concat(clear); }  // a later keystroke asks anew
          return [body.places || []].concat(clear);
        })
        .catch(function () { return [[]].concat(clear); });
    },
    pickPlace: function (clicks, found) {
      var nothing = [0, 0, 0, 0, 0].map(function () { return window.dash_clientside.no_update; });
      var triggered = window.dash_clientside.callback_context.triggered;
      if (!triggered || !triggered.length || !triggered[0].value || !found) { return nothing; }
      var id = JSON.parse(triggered[0].prop_id.slice(0, triggered[0].prop_id.lastIndexOf(".")));
      var place = found[id.index];
      if (!place) { return nothing; }
      var lonlat = place.location.coordinates;
      var field = document.getElementById("dispatch-form-address");
      if (field) { field.focus(); }
      return [place.name, lonlat[1], lonlat[0], { name: place.name, from: "list" }, []];
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
