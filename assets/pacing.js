// Live pages that keep up on a slow server. A dcc.Interval fires every N ms whatever happens; when
// its callback takes longer than N (a loaded server), each new tick supersedes the request still in
// flight and the renderer drops that answer, so the page never updates at all (plotly/dash#941).
// Here every interval whose id ends in "-tick" pauses while a request it triggered is in flight and
// starts again when the answer is in: the next tick comes N ms after it. An interval whose
// `disabled` a server callback controls must not end in "-tick".
(function () {
  "use strict";
  if (!window.fetch) { return; }
  var original = window.fetch;
  var inFlight = {};

  function ticks(init) {
    try {
      var body = JSON.parse((init && init.body) || "{}");
      return (body.inputs || []).filter(function (input) {
        return input && input.property === "n_intervals" && typeof input.id === "string" && /-tick$/.test(input.id);
      }).map(function (input) { return input.id; });
    } catch (error) {
      return [];
    }
  }

  function pause(id, paused) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, { disabled: paused });
    }
  }

  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : (input && input.url) || "";
    if (url.indexOf("/_dash-update-component") === -1) { return original.apply(this, arguments); }
    var ids = ticks(init);
    ids.forEach(function (id) {
      inFlight[id] = (inFlight[id] || 0) + 1;
      if (inFlight[id] === 1) { pause(id, true); }
    });
    function done() {
      ids.forEach(function (id) {
        inFlight[id] -= 1;
        if (inFlight[id] === 0) { pause(id, false); }
      });
    }
    var promise = original.apply(this, arguments);
    promise.then(done, done);
    return promise;
  };
})();
