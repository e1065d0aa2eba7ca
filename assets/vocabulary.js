// The product's words and formats in the browser: the same as services/vocabulary.py, from the data the
// shell puts in the page (window.cityopsVocabulary). A browser test compares these with the Python ones.
(function () {
  "use strict";

  function vocabulary() { return window.cityopsVocabulary || {}; }
  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  // A span of time in at most two units, the second left out when zero: "45 s", "4 min 05 s", "15 min",
  // "1 h 12 min", "3 d 04 h".
  function duration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) { return "—"; }
    var whole = Math.floor(Math.max(0, seconds));
    var days = Math.floor(whole / 86400), hours = Math.floor((whole % 86400) / 3600);
    var minutes = Math.floor((whole % 3600) / 60), secs = whole % 60;
    var pairs = [[days, "d", hours, "h"], [hours, "h", minutes, "min"], [minutes, "min", secs, "s"]];
    for (var i = 0; i < pairs.length; i++) {
      var p = pairs[i];
      if (p[0]) { return p[0] + " " + p[1] + (p[2] ? " " + pad(p[2]) + " " + p[3] : ""); }
    }
    return secs + " s";
  }

  function timezone() {
    var clock = document.getElementById("shell-clock");
    return (clock && clock.getAttribute("data-timezone")) || undefined;
  }

  // "2026-12-01 23:38" (with ":05" when withSeconds) in the site time zone.
  function siteTime(epochMillis, withSeconds) {
    if (epochMillis === null || epochMillis === undefined || isNaN(epochMillis)) { return "never"; }
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone(), hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit"
    }).formatToParts(new Date(epochMillis)).forEach(function (part) { parts[part.type] = part.value; });
    var text = parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
    return withSeconds ? text + ":" + parts.second : text;
  }

  // A code in words: "breathingProblems" -> "Breathing problems", "out_of_service" -> "Out of service".
  function words(code) {
    if (!code) { return ""; }
    code = String(code);
    var known = (vocabulary().words || {})[code];
    if (known) { return known; }
    var spaced = code.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_-]/g, " ").trim();
    return spaced.charAt(0).toUpperCase() + spaced.slice(1).toLowerCase();
  }

  function incidentKind(category, subCategory) {
    if (subCategory && subCategory !== "other") { return words(subCategory); }
    return subCategory ? words(category) + " (other)" : words(category);
  }

  function labelOf(table, code) { return (vocabulary()[table] || {})[code] || words(code); }

  window.cityopsFormat = {
    duration: duration, siteTime: siteTime, words: words, incidentKind: incidentKind,
    incidentStatus: function (code) { return labelOf("incidentStatus", code); },
    unitStatus: function (code) { return labelOf("unitStatus", code); },
    priorityColour: function (priority) {
      return (vocabulary().priorityColours || {})[String(priority)] || vocabulary().noDataColour;
    },
    unitStatusColour: function (status) {
      return (vocabulary().unitStatusColours || {})[status] || vocabulary().noDataColour;
    }
  };
})();
