// The navigation on a phone: the menu button opens and closes it; choosing a page closes it.
(function () {
  "use strict";
  function setOpen(header, open) {
    header.classList.toggle("nav-open", open);
    var button = header.querySelector(".shell-menu-button");
    if (button) { button.setAttribute("aria-expanded", open ? "true" : "false"); }
  }
  document.addEventListener("click", function (event) {
    var header = event.target.closest && event.target.closest(".shell-header");
    if (!header) { return; }
    if (event.target.closest(".shell-menu-button")) {
      setOpen(header, !header.classList.contains("nav-open"));
    } else if (event.target.closest(".shell-nav-link")) {
      setOpen(header, false);
    }
  });
})();
