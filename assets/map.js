// The live map in the browser: styles and hovers of the live layers (called by dash-leaflet),
// the merge of the server's snapshot deltas into the layers' data, and per-layer freshness.
(function () {
  "use strict";

  var TRAFFIC = ["#2e9e4f", "#f2c418", "#f08a1c", "#d7261e"];
  var FLOOD = ["#2b7bba", "#f08a1c", "#d7261e"];
  var RAIN = ["#9ecae1", "#4292c6", "#2171b5", "#08306b"];
  var AQI = {
    us: [null, "#00e400", "#ffff00", "#ff7e00", "#ff0000", "#8f3f97", "#7e0023"],
    cn: [null, "#00e400", "#ffff00", "#ff7e00", "#ff0000", "#99004c", "#7e0023"]
  };
  // incident and unit colours, words, times and durations: the one vocabulary (assets/vocabulary.js)
  function format() { return window.cityopsFormat; }  // loaded after this file
  // the page language's words for the script's texts (assets/vocabulary.js; extracted by make messages)
  function _(text, values) { return window.cityopsFormat ? window.cityopsFormat.gettext(text, values) : text; }

  var UNIT_LETTER = { ambulance: "A", fire: "F", police: "P", flood: "W", road: "R" };
  var NO_DATA = "#9aa5b1";

  var live = { epoch: null, version: null, layers: {}, meta: {}, receivedAt: 0 };
  var hovered = {};  // the live feature whose tip is open: its id, its Leaflet layer, the tip
  window.cityopsLive = live;

  function siteTime(epochSeconds) {
    return format().siteTime(epochSeconds === null || epochSeconds === undefined ? null : epochSeconds * 1000);
  }

  function ageText(epochSeconds) {
    if (epochSeconds === null || epochSeconds === undefined) { return _("no data"); }
    return _("{duration} ago", {duration: format().duration(Date.now() / 1000 - epochSeconds)});
  }

  function isStale(p, layer) {
    var meta = live.meta[layer];
    if (!meta || meta.stale_after === null || p.t === null || p.t === undefined) { return false; }
    return Date.now() / 1000 - p.t > meta.stale_after;
  }

  function esc(text) {
    return String(text === null || text === undefined ? "" : text)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function fmt(value, digits) {
    if (value === null || value === undefined) { return "—"; }
    return Number(value).toFixed(digits === undefined ? 1 : digits).replace(/\.0+$/, "");
  }

  // the change since the previous reading, of the value shown (an air station's: the screen's index)
  function trend(p, key) {
    var value = p[key];
    var prev = (p._prev || {})[key];
    if (prev === undefined || prev === null || value === null || value === undefined) { return ""; }
    var delta = value - prev;
    if (Math.abs(delta) < 1e-9) { return " <span class='trend flat'>→</span>"; }
    return " <span class='trend " + (delta > 0 ? "up'>↑ +" : "down'>↓ ") + fmt(delta, 2) + "</span>";
  }

  // Both standards put their category edges at 50/100/150/200/300.
  function aqiLevel(index) {
    if (index === null || index === undefined) { return 0; }
    return index <= 50 ? 1 : index <= 100 ? 2 : index <= 150 ? 3 : index <= 200 ? 4 : index <= 300 ? 5 : 6;
  }
  var POLLUTANT = { pm25: "PM2.5", pm10: "PM10", no2: "NO₂", o3: "O₃", so2: "SO₂", co: "CO" };

  function standardOf(context) {
    return (context && context.hideout && context.hideout.standard) || "us";
  }

  function badge(latlng, cls, colour, text, size) {
    return L.marker(latlng, {
      icon: L.divIcon({
        className: "map-badge " + cls,
        html: "<div style='background:" + colour + "'>" + esc(text) + "</div>",
        iconSize: [size, size], iconAnchor: [size / 2, size / 2]
      }),
      riseOnHover: true
    });
  }

  // What a feature is: the dispatch layers are known by their layer, telemetry ones by their kind.
  function kindOf(p, context) {
    var layer = context && context.hideout && context.hideout.layer;
    if (layer === "units") { return "unit"; }
    if (layer === "incidents") { return "incident"; }
    return p.kind;
  }

  function describe(p, context) {
    var std = standardOf(context);
    var kind = kindOf(p, context);
    var head = "<b>" + esc(p.label) + "</b>";
    var line = "";
    if (kind === "traffic") {
      line = fmt(p.value) + " km/h" + (p.share !== null && p.share !== undefined ?
        " · " + _("{share} of free flow", {share: Math.round(p.share * 100) + " %"}) : "");
    } else if (kind === "air") {
      var aqi = p["aqi_" + std];
      var dominant = p["dom_" + std];
      line = ((context && context.hideout && context.hideout.name) || _("AQI")) + " " + (aqi === null || aqi === undefined ? "—" : aqi) +
        (dominant ? " · " + _("dominant {pollutant}", {pollutant: esc(POLLUTANT[dominant] || dominant)}) : "") +
        (p.pm25 !== null && p.pm25 !== undefined ? " · PM2.5 " + fmt(p.pm25) + " µg/m³" : "");
    } else if (kind === "water") {
      line = fmt(p.value, 2) + " m" + (p.alert !== null && p.alert !== undefined ? " · " + _("alert {level} m", {level: fmt(p.alert, 2)}) : "") +
        (p.danger !== null && p.danger !== undefined ? " · " + _("danger {level} m", {level: fmt(p.danger, 2)}) : "");
    } else if (kind === "rain") {
      line = _("{value} mm/h rain", {value: fmt(p.value)});
    } else if (kind === "road_risk") {
      line = _("at risk of flooding (station {station})", {station: esc(p.station)});
    } else if (kind === "incident") {
      line = "P" + esc(p.priority) + " · " + esc(format().incidentKind(p.category, p.subCategory)) + " · " +
        esc(format().incidentStatus(p.status));
    } else if (kind === "unit") {
      line = esc(format().unitStatus(p.status)) + (p.speed ? " · " + fmt(p.speed, 0) + " km/h" : "") +
        (p.incident_id ? " · " + _("incident #{id}", {id: esc(p.incident_id)}) : "");
    } else if (p.value !== undefined) {
      line = fmt(p.value) + " " + esc(p.unit || "");
    }
    var when = p.t === null || p.t === undefined ? "" :
      "<div class='tip-age" + (isStale(p, context && context.hideout && context.hideout.layer) ? " stale" : "") + "'>" +
      siteTime(p.t) + " · " + ageText(p.t) + "</div>";
    return head + "<div>" + line + trend(p, kind === "air" ? "aqi_" + std : "value") + "</div>" + when;
  }

  var map = {
    style: function (feature, context) {
      var p = feature.properties || {};
      var layer = context && context.hideout && context.hideout.layer;
      if (p.kind === "traffic") {
        var stale = isStale(p, layer);
        return {
          color: p.level === null || p.level === undefined ? NO_DATA : TRAFFIC[p.level],
          weight: (p.width || 3) + 2, opacity: stale ? 0.45 : 0.95, dashArray: stale ? "4 6" : null, lineCap: "round"
        };
      }
      if (p.kind === "road_risk") {
        return { color: "#7b3fa0", weight: 9, opacity: p.level === 2 ? 0.7 : 0.45, dashArray: "2 8", lineCap: "round" };
      }
      if (p.kind === "route") { return { color: "#1d5fa8", weight: 5, opacity: 0.8, dashArray: "8 6" }; }
      return { color: "#4a5560", weight: 2 };
    },

    pointToLayer: function (feature, latlng, context) {
      var p = feature.properties || {};
      var layer = context && context.hideout && context.hideout.layer;
      var staleClass = isStale(p, layer) ? " stale" : "";
      var kind = kindOf(p, context);
      if (kind === "air") {
        var std = standardOf(context);
        var level = aqiLevel(p["aqi_" + std]);
        var colour = level ? AQI[std][level] : NO_DATA;
        var aqi = p["aqi_" + std];
        return badge(latlng, "aqi lvl-" + (level || 0) + staleClass, colour, aqi === null || aqi === undefined ? "–" : aqi, 32);
      }
      if (kind === "water") {
        var wc = p.level === null || p.level === undefined ? NO_DATA : FLOOD[p.level];
        return L.marker(latlng, {
          icon: L.divIcon({
            className: "map-badge water lvl-" + (p.level || 0) + staleClass,
            html: "<div style='background:" + wc + "'>" + fmt(p.value, 2) + " m</div>",
            iconSize: [58, 24], iconAnchor: [29, 12]
          }),
          riseOnHover: true
        });
      }
      if (kind === "rain") {
        var r = 7 + Math.min(18, (p.value || 0) * 0.5);
        return L.circleMarker(latlng, {
          radius: r, color: "#08306b", weight: 1, fillOpacity: 0.55,
          fillColor: p.level === null || p.level === undefined ? NO_DATA : RAIN[p.level]
        });
      }
      if (kind === "incident") {
        var marker = badge(latlng, "incident p" + p.priority + (p.escalated ? " escalated" : ""),
          format().priorityColour(p.priority), "P" + (p.priority || "?"), 30);
        // the most urgent on top, and among equals the newest
        var created = Date.parse(p.created_at || "") || 0;
        marker.setZIndexOffset((5 - (p.priority || 4)) * 100000 + Math.floor(created / 60000) % 100000);
        return marker;
      }
      if (kind === "unit") {
        var uc = format().unitStatusColour(p.status);
        return L.marker(latlng, {
          icon: L.divIcon({
            className: "map-unit" + staleClass,
            html: "<div class='unit-arrow' style='transform:rotate(" + (p.bearing || 0) + "deg);border-bottom-color:" + uc + "'></div>" +
              "<div class='unit-dot' style='background:" + uc + "'>" + (UNIT_LETTER[p.kind] || esc((p.label || "?")[0])) + "</div>",
            iconSize: [26, 26], iconAnchor: [13, 13]
          }),
          zIndexOffset: 500
        });
      }
      return L.circleMarker(latlng, { radius: 6, color: "#333", weight: 1, fillColor: NO_DATA, fillOpacity: 0.8 });
    },

    clusterToLayer: function (feature, latlng, index, context) {
      var count = feature.properties.point_count;
      var std = standardOf(context);
      var worst = 0;
      if (count <= 2000) {
        index.getLeaves(feature.properties.cluster_id, Infinity).forEach(function (leaf) {
          var level = aqiLevel(leaf.properties["aqi_" + std]);
          if (level > worst) { worst = level; }
        });
      }
      var colour = worst ? AQI[std][worst] : "#7d8a96";
      var size = count < 10 ? 34 : count < 100 ? 40 : count < 1000 ? 48 : 56;
      return badge(latlng, "cluster lvl-" + worst, colour, feature.properties.point_count_abbreviated, size);
    },

    onEachFeature: function (feature, layer, context) {
      if (feature.properties && feature.properties.cluster) { return; }
      layer.bindTooltip(function () { return describe(feature.properties || {}, context); },
        { sticky: true, direction: "top", className: "map-tip", opacity: 0.96 });
    }
  };

  function rebuildLayer(name, data) {
    var features = new Map();
    (data.features || []).forEach(function (f) { features.set(String(f.id), f); });
    live.layers[name] = { fields: data.fields || [], features: features };
  }

  function applyRows(name, data) {
    var state = live.layers[name];
    if (!state) { return false; }
    var changed = false;
    (data.full || []).forEach(function (f) { state.features.set(String(f.id), f); changed = true; });
    (data.rows || []).forEach(function (row) {
      var old = state.features.get(String(row[0]));
      if (!old) { return; }
      var props = Object.assign({}, old.properties);
      state.fields.forEach(function (key, i) { props[key] = row[i + 1]; });
      ["value", "aqi_us", "aqi_cn"].forEach(function (key) {
        if (props[key] !== old.properties[key]) { props._prev = Object.assign({}, props._prev, { [key]: old.properties[key] }); }
      });
      var geometry = row[row.length - 1] || old.geometry;
      state.features.set(String(row[0]), { type: "Feature", id: old.id, geometry: geometry, properties: props });
      changed = true;
    });
    (data.del || []).forEach(function (fid) { changed = state.features.delete(String(fid)) || changed; });
    return changed;
  }

  function applyPayload(payload, client) {
    var noUpdate = window.dash_clientside.no_update;
    var outputs = window.dash_clientside.callback_context.outputs_list[0];
    if (!payload) { return [outputs.map(function () { return noUpdate; }), noUpdate]; }
    var changed = {};
    var full = payload.full || payload.epoch !== live.epoch;
    Object.keys(payload.layers || {}).forEach(function (name) {
      var data = payload.layers[name];
      live.meta[name] = { newest: data.newest, stale_after: data.stale_after, title: data.title };
      if (full) {
        if (data.features) { rebuildLayer(name, data); changed[name] = true; }
      } else if (applyRows(name, data)) {
        changed[name] = true;
      }
    });
    live.epoch = payload.epoch;
    live.version = payload.version;
    live.receivedAt = Date.now();
    refreshFreshness();
    var data = outputs.map(function (output) {
      var state = live.layers[output.id.name];
      if (!changed[output.id.name] || !state) { return noUpdate; }
      return { type: "FeatureCollection", features: Array.from(state.features.values()) };
    });
    return [data, { epoch: payload.epoch, version: payload.version }];
  }

  function refreshFreshness() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".map-freshness[data-layer]").forEach(function (el) {
      var name = el.getAttribute("data-layer");
      var meta = live.meta[name];
      var legend = document.getElementById("map-legend-" + name);
      var text, state;
      if (!meta || meta.newest === null || meta.newest === undefined) {
        text = _("no data yet"); state = "nodata";
      } else if (meta.stale_after !== null && now - meta.newest > meta.stale_after) {
        text = _("STALE · newest {time} ({age})", {time: siteTime(meta.newest), age: ageText(meta.newest)});
        state = "stale";
      } else {
        text = _("newest {time} · {age}", {time: siteTime(meta.newest), age: ageText(meta.newest)}); state = "fresh";
      }
      if (live.receivedAt && Date.now() - live.receivedAt > 5000) {
        text = _("NOT UPDATING · {status}", {status: text}); state = "stale";
      }
      el.textContent = text;
      el.setAttribute("data-state", state);
      if (legend) { legend.setAttribute("data-state", state); }
    });
  }

  setInterval(refreshFreshness, 1000);

  // The Leaflet maps of the page, so a test or a benchmark can read what is drawn on the canvas.
  var leafletMaps = [];
  // The layer control lists the layers in the order of their legends (the registry's order): the
  // layers are created asynchronously, so the order they are added in differs from load to load.
  function layerRank(name) {
    var titles = Array.prototype.map.call(document.querySelectorAll(".map-legend-title"),
      function (el) { return el.textContent; });
    var rank = titles.indexOf(name);
    return rank < 0 ? titles.length : rank;
  }

  if (window.L && window.L.Control && window.L.Control.Layers) {
    window.L.Control.Layers.mergeOptions({
      sortFunction: function (a, b, nameA, nameB) {
        return layerRank(nameA) - layerRank(nameB) || (nameA < nameB ? -1 : nameB < nameA ? 1 : 0);
      }
    });
  }

  if (window.L && window.L.Map) {
    window.L.Map.addInitHook(function () {
      leafletMaps.push(this);
      this.on("layeradd", keepHoverTip);
      this.on("tooltipopen", function (e) {
        var layer = e.tooltip._source;
        if (layer && layer.feature) {
          hovered = { id: String((layer.feature.properties || {}).id), layer: layer, tooltip: e.tooltip };
        }
      });
      this.on("tooltipclose", function (e) {
        // closed by the pointer leaving (the layer is still on the map), not by a redraw removing it
        if (e.tooltip._source === hovered.layer && this.hasLayer(hovered.layer)) { hovered = {}; }
      });
      this.on("mouseout", function () {
        if (hovered.layer && hovered.layer.closeTooltip) { hovered.layer.closeTooltip(); }
        hovered = {};
      });
    });
  }

  // A live update redraws a layer's features as new Leaflet layers, which drops the tip under a
  // pointer that has not moved; the tip of the feature under the pointer reopens with the new values.
  function keepHoverTip(e) {
    var layer = e.layer;
    if (!hovered.id || layer === hovered.layer || !layer.feature || !layer.getTooltip ||
        String((layer.feature.properties || {}).id) !== hovered.id) { return; }
    var latlng = hovered.tooltip.getLatLng();  // where the pointer last moved the sticky tip
    hovered.layer = layer;
    setTimeout(function () {
      if (layer._map && hovered.layer === layer && layer.getTooltip()) { layer.openTooltip(latlng); }
    }, 0);
  }

  // The colour a live feature is drawn in right now (null when it is not on the map).
  function drawnColour(featureId) {
    var colour = null;
    leafletMaps.forEach(function (m) {
      m.eachLayer(function (layer) {
        if (layer.feature && layer.feature.properties && String(layer.feature.properties.id) === String(featureId) &&
            layer.options && layer.options.color) { colour = layer.options.color; }
      });
    });
    return colour;
  }

  // The page position of a live feature's middle, for a test that hovers it.
  function screenPoint(featureId) {
    var point = null;
    leafletMaps.forEach(function (m) {
      m.eachLayer(function (layer) {
        if (!point && layer.feature && String((layer.feature.properties || {}).id) === String(featureId)) {
          // a line's midpoint along its length (on the line, where a hover hits it), or a marker's position
          var latlng = layer.getLatLng ? layer.getLatLng() : layer.getCenter();
          var p = m.latLngToContainerPoint(latlng);
          var box = m.getContainer().getBoundingClientRect();
          point = [box.left + p.x, box.top + p.y];
        }
      });
    });
    return point;
  }

  window.cityops = window.cityops || {};
  window.cityops.map = map;
  window.cityops.drawnColour = drawnColour;
  window.cityops.screenPoint = screenPoint;
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    cityops_map: { applyPayload: applyPayload }
  });
})();
