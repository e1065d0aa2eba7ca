// What a map shows: its views (components/live_map.py `fitted`) fitted to its box. The whole city
// on load and whenever the box changes size (a window resized, a wall of another size, a phone
// turned); with data-rotate, each district in turn for that many seconds, then the whole city again,
// named on the map. A desk map the person has panned or zoomed stays where they put it.
(function () {
  "use strict";

  var PADDING = 16;  // px between the city's edge and the map's
  var fitted = [];   // {map, views, index, rotate} of each fitted map on the page

  function viewName(state) {
    var holder = state.holder.querySelector(".map-view-name");
    if (!holder || !state.rotate) { return; }
    var view = state.views[state.index];
    holder.textContent = view.name + (state.views.length > 1 ? "  ·  " + (state.index + 1) + "/" + state.views.length : "");
    holder.setAttribute("data-view", String(state.index));
    holder.hidden = false;
  }

  function outline(state) {  // the district shown, drawn around (none for the whole city)
    if (state.outline) { state.map.removeLayer(state.outline); state.outline = null; }
    var view = state.views[state.index];
    if (view.outline) {
      state.outline = L.geoJSON(view.outline, { interactive: false, style: {
        color: "#39c6ff", weight: 4, opacity: 0.95, fill: true, fillOpacity: 0.06, dashArray: null } }).addTo(state.map);
    }
  }

  function fit(state, animate) {
    var map = state.map;
    map.invalidateSize({ pan: false });
    var size = map.getSize();
    if (!size.x || !size.y) { return; }  // not laid out yet (a hidden tab): the next resize fits it
    var bounds = L.latLngBounds(state.views[state.index].bounds);
    var options = { padding: [PADDING, PADDING], animate: !!animate };
    outline(state);
    if (animate) { map.flyToBounds(bounds, Object.assign({ duration: 1.2 }, options)); } else { map.fitBounds(bounds, options); }
    viewName(state);
  }

  function follow(map) {
    var holder = map.getContainer().closest("[data-views]");
    if (!holder) { return; }
    var state = { map: map, holder: holder, views: JSON.parse(holder.getAttribute("data-views")), index: 0,
                  rotate: parseInt(holder.getAttribute("data-rotate") || "0", 10) || 0, moved: false };
    if (!state.views.length) { return; }
    fitted.push(state);
    // the person moved the map (drag, wheel, the zoom buttons, keys): a desk map stays where they put it
    map.on("dragstart", function () { state.moved = true; });
    ["wheel", "dblclick", "keydown", "touchstart"].forEach(function (type) {
      map.getContainer().addEventListener(type, function () { state.moved = true; }, { passive: true });
    });
    map.getContainer().addEventListener("click", function (event) {
      if (event.target.closest(".leaflet-control-zoom")) { state.moved = true; }
    });
    var timer = null;
    new ResizeObserver(function () {  // also its first layout: the box's size is known only then
      if (state.moved && !state.rotate) { return; }
      clearTimeout(timer);
      timer = setTimeout(function () { fit(state, false); }, 50);
    }).observe(map.getContainer());
    if (state.rotate) {
      setInterval(function () {
        state.index = (state.index + 1) % state.views.length;
        fit(state, true);
      }, state.rotate * 1000);
    }
  }

  if (window.L && window.L.Map) {
    window.L.Map.addInitHook(function () {
      var map = this;
      setTimeout(function () { follow(map); }, 0);  // after the component set its first view
    });
  }

  // For tests and benchmarks: where each fitted map's current view and the whole city are, in its box.
  function mapViews() {
    return fitted.map(function (state) {
      var map = state.map;
      var city = L.latLngBounds(state.views[0].bounds);
      var nw = map.latLngToContainerPoint(city.getNorthWest());
      var se = map.latLngToContainerPoint(city.getSouthEast());
      var center = map.getCenter();
      var size = map.getSize();
      return { id: map.getContainer().id, index: state.index, name: state.views[state.index].name,
               center: [center.lat, center.lng], zoom: map.getZoom(), size: [size.x, size.y],
               city: [nw.x, nw.y, se.x, se.y], moved: state.moved };
    });
  }

  window.cityops = window.cityops || {};
  window.cityops.mapViews = mapViews;
})();
