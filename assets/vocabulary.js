// The product's words and formats in the browser: the same as services/vocabulary.py, from the data the
// shell puts in the page (window.cityopsVocabulary), in the page's language (<html lang>). A browser test
// compares these with the Python ones. _() translates the scripts' own messages (extracted by make messages).
(function () {
  "use strict";

  function all() { return window.cityopsVocabulary || {}; }
  function vocabulary() {
    var languages = all().languages || {};
    return languages[document.documentElement.lang] || languages.en || {};
  }
  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  // A message of the scripts in the page's language, with {name} placeholders filled from values.
  function gettext(message, values) { return fill((vocabulary().messages || {})[message] || message, values); }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && values[name] !== undefined ? values[name] : whole;
    });
  }

  // A span of time in at most two units, the second left out when zero: "45 s", "4 min 05 s", "15 min",
  // "1 h 12 min", "3 d 04 h" (Chinese "4分05秒").
  function duration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) { return "—"; }
    var units = vocabulary().durationUnits || {d: "{n} d", h: "{n} h", min: "{n} min", s: "{n} s"};
    var join = vocabulary().durationJoin || "{first} {second}";
    var part = function (n, unit) { return fill(units[unit], {n: n}); };
    var whole = Math.floor(Math.max(0, seconds));
    var days = Math.floor(whole / 86400), hours = Math.floor((whole % 86400) / 3600);
    var minutes = Math.floor((whole % 3600) / 60), secs = whole % 60;
    var pairs = [[days, "d", hours, "h"], [hours, "h", minutes, "min"], [minutes, "min", secs, "s"]];
    for (var i = 0; i < pairs.length; i++) {
      var p = pairs[i];
      if (p[0]) {
        return p[2] ? fill(join, {first: part(p[0], p[1]), second: part(pad(p[2]), p[3])}) : part(p[0], p[1]);
      }
    }
    return part(secs, "s");
  }

  function timezone() {
    var clock = document.getElementById("shell-clock");
    return (clock && clock.getAttribute("data-timezone")) || undefined;
  }

  // The language's date-and-time pattern (CLDR letters y M d H m s, as Babel formats it on the server) in
  // the site time zone: "2026-12-01 23:38" (English), "2026年12月1日 23:38" (Chinese); ":05" when withSeconds.
  function siteTime(epochMillis, withSeconds) {
    if (epochMillis === null || epochMillis === undefined || isNaN(epochMillis)) {
      return vocabulary().never || "never";
    }
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone(), hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric"
    }).formatToParts(new Date(epochMillis)).forEach(function (part) { parts[part.type] = part.value; });
    var fields = {y: parts.year, M: parts.month, d: parts.day, H: parts.hour, m: parts.minute, s: parts.second};
    var pattern = (vocabulary().timePattern || "yyyy-MM-dd HH:mm") + (withSeconds ? ":ss" : "");
    return pattern.replace(/y+|M+|d+|H+|m+|s+/g, function (letters) {
      var value = String(Number(fields[letters.charAt(0)]));
      while (value.length < letters.length && letters.charAt(0) !== "y") { value = "0" + value; }
      return value;
    });
  }

  // A code in words: "breathingProblems" -> "Breathing problems", "out_of_service" -> "Out of service".
  function words(code) {
    if (!code) { return ""; }
    code = String(code);
    var known = (vocabulary().words || {})[code];
    if (known) { return known; }
    var spaced = code.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_-]/g, " ").trim();
    spaced = spaced.charAt(0).toUpperCase() + spaced.slice(1).toLowerCase();
    return (vocabulary().phrases || {})[spaced] || spaced;
  }

  function incidentKind(category, subCategory) {
    if (subCategory && subCategory !== "other") { return words(subCategory); }
    if (!subCategory) { return words(category); }
    return fill((vocabulary().phrases || {})["{kind} (other)"] || "{kind} (other)", {kind: words(category)});
  }

  function labelOf(table, code) { return (vocabulary()[table] || {})[code] || words(code); }

  window.cityopsFormat = {
    duration: duration, siteTime: siteTime, words: words, incidentKind: incidentKind, gettext: gettext,
    incidentStatus: function (code) { return labelOf("incidentStatus", code); },
    unitStatus: function (code) { return labelOf("unitStatus", code); },
    priorityColour: function (priority) {
      return (all().priorityColours || {})[String(priority)] || all().noDataColour;
    },
    unitStatusColour: function (status) {
      return (all().unitStatusColours || {})[status] || all().noDataColour;
    }
  };
})();
