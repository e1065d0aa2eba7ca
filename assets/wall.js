// Wall screens (/wall or ?mode=wall) get the dark, large-type shell; set on every navigation.
(function () {
  "use strict";
  function apply() {
    var wall = location.pathname.replace(/\/$/, "") === "/wall" || /(^|[?&])mode=wall(&|$)/.test(location.search);
    document.body.classList.toggle("wall-mode", wall);
  }
  var push = history.pushState;
  history.pushState = function () { push.apply(this, arguments); apply(); };
  window.addEventListener("popstate", apply);
  document.addEventListener("DOMContentLoaded", apply);
  apply();
})();
