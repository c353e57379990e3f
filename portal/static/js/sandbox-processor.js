/* The sandbox processor's script for a portal page (what Stripe.js is to Stripe).
 *
 * Mounts the processor's hosted card fields (an iframe of the URL in data-card-fields) into each element
 * [data-card-fields]. Submitting the enclosing form while the fields are shown and no card was taken yet asks the
 * frame for the card ({type: "sandbox:submit"}); when the frame reports the payment method it created
 * ({type: "sandbox:payment_method", id}), the script fills the form's hidden input payment_method_id and submits
 * the form again. Messages from any other window or origin are ignored. The card number stays in the frame. */
(function () {
  "use strict";
  document.querySelectorAll("[data-card-fields]").forEach(function (mount) {
    var form = mount.closest("form");
    var target = form.querySelector('input[name="payment_method_id"]');
    var frame = document.createElement("iframe");
    var submitter = null;
    frame.src = mount.dataset.cardFields;
    frame.title = "Card details";
    frame.setAttribute("height", "470");
    frame.setAttribute("width", "100%");
    mount.appendChild(frame);
    var origin = new URL(frame.src, window.location.href).origin;

    form.addEventListener("submit", function (event) {
      var shown = mount.getClientRects().length > 0; // hidden while a saved card or another payment is chosen
      if (!shown || target.value) { return; }
      event.preventDefault();
      event.stopImmediatePropagation();
      submitter = event.submitter || null;
      frame.contentWindow.postMessage({type: "sandbox:submit"}, origin);
    }, true);

    window.addEventListener("message", function (event) {
      var data = event.data || {};
      if (event.source !== frame.contentWindow || event.origin !== origin) { return; }
      if (data.type !== "sandbox:payment_method" || typeof data.id !== "string") { return; }
      target.value = data.id;
      if (form.requestSubmit) { form.requestSubmit(submitter); } else { form.submit(); }
    });
  });
})();
