/* Partner Portal: what htmx does not do by itself. Served from our origin (the CSP allows no inline script).
 *
 * Dialogs that htmx swaps in (<dialog class="modal">: a confirmation, the license assignment) open with
 * showModal(): the page behind is inert, Tab and Shift+Tab stay inside, Escape closes (the browser's "cancel"), and
 * focus returns to the button or link that opened it. A dialog whose content htmx replaces (the assignment's steps
 * post back into it) keeps its opener. A closed dialog marked data-remove-on-close leaves the page.
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js"); // what only a page without JavaScript shows hides (.no-js)

  var opener = null; // the element outside any dialog whose htmx request opened (or will open) a dialog

  function focusable(dialog) {
    return Array.prototype.filter.call(
      dialog.querySelectorAll("a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])"),
      function (el) { return !el.disabled && el.type !== "hidden" && el.getClientRects().length > 0; });
  }

  function restoreFocus(target) {
    if (document.querySelector("dialog[open]")) { return; } // another modal is still open: focus stays there
    if (target && target.isConnected && typeof target.focus === "function") {
      target.focus();
    } else {
      var main = document.getElementById("main");
      if (main) { main.focus(); }
    }
  }

  function openModal(dialog) {
    if (dialog.portalModal) { return; }
    dialog.portalModal = true;
    dialog.portalOpener = opener || document.activeElement;
    if (dialog.open) { dialog.close(); } // a dialog marked open in the markup is reopened as a modal
    dialog.showModal();
    dialog.addEventListener("close", function () {
      if (!dialog.isConnected) { return; } // replaced by the next step's dialog, which keeps the opener
      var back = dialog.portalOpener;
      if (dialog.hasAttribute("data-remove-on-close")) {
        dialog.remove();
      } else if (dialog.parentElement && dialog.parentElement.id === "assign-dialog") {
        dialog.parentElement.replaceChildren();
      }
      opener = null;
      restoreFocus(back);
    });
  }

  function openModals(root) {
    if (!root || !root.querySelectorAll) { return; }
    if (root.matches && root.matches("dialog.modal")) { openModal(root); }
    Array.prototype.forEach.call(root.querySelectorAll("dialog.modal"), openModal);
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && !elt.closest("dialog")) { opener = elt; }
  });

  // htmx:load fires for each piece of new content, and once for the body when the page loads.
  document.addEventListener("htmx:load", function (event) { openModals(event.target); });
  document.addEventListener("DOMContentLoaded", function () { openModals(document.body); });

  // Focus stays inside an open modal: Tab from the last control goes to the first, Shift+Tab the other way.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") { return; }
    var dialogs = document.querySelectorAll("dialog[open]");
    var dialog = dialogs[dialogs.length - 1];
    if (!dialog) { return; }
    var items = focusable(dialog);
    if (items.length === 0) { event.preventDefault(); return; }
    var first = items[0], last = items[items.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });
}());
