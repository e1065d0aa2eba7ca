// Dash 4's own markup made accessible, on every page, until the library mends it (axe-core finds these;
// tests/e2e/test_accessibility.py runs it on every page with controls):
// - dcc.Dropdown hands focus on through an <input class="dash-dropdown-focus-target" tabindex="0"
//   aria-hidden="true"> to its button, which has tabindex="-1" (axe: aria-hidden-focus, serious). Here the
//   proxy leaves the tab order and the button takes its place: Tab lands on the button, which a screen reader
//   names from its <label for>, and Enter, Space or Down opens the list as before.
// - dcc.RadioItems and dcc.Checklist give each option <label role="option"> around its native <input>, in a
//   role="listbox" (nested-interactive, aria-allowed-role, aria-input-field-name): the native radio buttons
//   and check boxes say what they are, so those two roles go.
// - DataTable's row check boxes and its page buttons have no name: "Select row", "First page", ...
(function () {
  "use strict";
  function _(text) { return window.cityopsFormat ? window.cityopsFormat.gettext(text) : text; }
  function N_(text) { return text; }  // marked for the catalogue, translated when used
  var PAGE_BUTTONS = [["first-page", N_("First page")], ["previous-page", N_("Previous page")],
                      ["next-page", N_("Next page")], ["last-page", N_("Last page")]];

  function mend(root) {
    if (!root.querySelectorAll) { return; }
    root.querySelectorAll(".dash-dropdown-focus-target").forEach(function (proxy) {
      if (proxy.tabIndex !== -1) { proxy.tabIndex = -1; }
      var button = proxy.nextElementSibling;
      if (button && button.tagName === "BUTTON" && !button.disabled && button.tabIndex !== 0) { button.tabIndex = 0; }
    });
    root.querySelectorAll(".dash-radioitems[role], .dash-checklist[role]").forEach(function (list) {
      list.removeAttribute("role");
    });
    root.querySelectorAll(".dash-radioitems label[role], .dash-checklist label[role]").forEach(function (option) {
      option.removeAttribute("role");
      option.removeAttribute("aria-selected");
    });
    root.querySelectorAll("input[type=checkbox][name^='row-select']:not([aria-label])").forEach(function (box) {
      box.setAttribute("aria-label", _("Select row"));
    });
    PAGE_BUTTONS.forEach(function (pair) {
      root.querySelectorAll(".previous-next-container button." + pair[0] + ":not([aria-label])").forEach(
        function (button) { button.setAttribute("aria-label", _(pair[1])); });
    });
  }

  var pending = false;
  function soon(mutations) {  // once per frame, however many changes a render makes; a map's own moves are not
    if (pending || mutations.every(function (m) {  // Dash's (its markers and tiles change many times a second)
      return m.target.closest && m.target.closest(".leaflet-container"); })) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; mend(document); });
  }

  function start() {
    mend(document);
    // the button's blur gives the proxy tabindex 0 again, and renders add new controls: mend after each
    new MutationObserver(soon).observe(document.body, {
      childList: true, subtree: true, attributes: true, attributeFilter: ["tabindex", "role"]});
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
