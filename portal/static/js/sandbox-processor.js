/* The sandbox processor's script for a portal page (what Stripe.js is to Stripe).
 *
 * Mounts the processor's hosted card fields (an iframe of the URL in data-card-fields) into each element
 * [data-card-fields]. When the frame reports the payment method it created ({type: "sandbox:payment_method", id}),
 * it fills the enclosing form's hidden input payment_method_id and submits the form. Messages from any other
 * window or origin are ignored. */
(function () {
  "use strict";
  document.querySelectorAll("[data-card-fields]").forEach(function (mount) {
    var form = mount.closest("form");
    var frame = document.createElement("iframe");
    frame.src = mount.dataset.cardFields;
    frame.title = "Card details";
    frame.setAttribute("height", "560");
    frame.setAttribute("width", "100%");
    mount.appendChild(frame);
    var origin = new URL(frame.src, window.location.href).origin;
    window.addEventListener("message", function (event) {
      var data = event.data || {};
      if (event.source !== frame.contentWindow || event.origin !== origin) { return; }
      if (data.type !== "sandbox:payment_method" || typeof data.id !== "string") { return; }
      form.querySelector('input[name="payment_method_id"]').value = data.id;
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    });
  });
})();
