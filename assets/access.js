// What a screen does when the server refuses its callbacks (web/gate.py answers JSON, never a page):
// 401 (session ended): a display link reloads its own URL (its token re-establishes the cookie),
// a person goes to the sign-in page and comes back; 403 display_revoked: the screen says it was
// switched off and stops asking for data. The page's own callbacks then see "no update" (204), so
// the renderer neither logs an error nor shows one.
(function () {
  "use strict";
  if (!window.fetch) { return; }
  var original = window.fetch.bind(window);
  var leaving = false;

  function switchedOff(error) {
    if (document.getElementById("display-off")) { return; }
    var overlay = document.createElement("div");
    overlay.id = "display-off";
    overlay.className = "display-off";
    overlay.setAttribute("role", "alert");
    var message = document.createElement("p");
    message.textContent = error.message;
    var name = document.createElement("p");
    name.className = "display-name";
    name.textContent = error.display || "";
    overlay.appendChild(message);
    overlay.appendChild(name);
    document.body.appendChild(overlay);
    // stop every timer of the page: no more data requests
    var highest = window.setInterval(function () {}, 100000);
    for (var id = 1; id <= highest; id += 1) { window.clearInterval(id); }
  }

  function handle(response) {
    return response.clone().json().then(function (body) {
      var error = (body && body.error) || {};
      if (response.status === 403 && error.code === "display_revoked") {
        switchedOff(error);
      } else if (response.status === 401 && !leaving) {
        leaving = true;
        var here = window.location.pathname + window.location.search;
        if (/[?&]display=/.test(window.location.search)) {
          window.location.reload();
        } else {
          window.location.assign("/login?next=" + encodeURIComponent(here));
        }
      } else {
        return response;
      }
      return new Response(null, { status: 204 });
    }).catch(function () { return response; });
  }

  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : (input && input.url) || "";
    var promise = original(input, init);
    if (url.indexOf("/_dash-update-component") === -1) { return promise; }
    return promise.then(function (response) {
      return (response.status === 401 || response.status === 403) ? handle(response) : response;
    });
  };
})();
