/* The sandbox processor's hosted card fields (inside the iframe that sandbox-processor.js mounts).
 *
 * On "Use this card" it POSTs the card as JSON to the processor's /v1/payment_methods (authenticated by the
 * publishable key, sent in the body as Stripe.js sends its `key`), shows a refusal beside its field, and on
 * success posts {type: "sandbox:payment_method", id} to the parent window, addressed to the portal's origin
 * only. The card number never leaves this frame except to the processor. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-sandbox-fields]");
  if (!form) { return; }
  var fields = ["name", "number", "exp_month", "exp_year", "cvc"];
  var status = form.querySelector("[data-status]");

  function showErrors(errors) {
    fields.forEach(function (name) {
      var input = document.getElementById(name);
      var message = (errors && errors[name]) || "";
      form.querySelector('[data-error-for="' + name + '"]').textContent = message;
      if (message) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
    });
  }

  // The portal's page asks for the card when its own form is submitted (sandbox-processor.js).
  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || event.origin !== form.dataset.parentOrigin) { return; }
    if ((event.data || {}).type !== "sandbox:submit") { return; }
    if (form.requestSubmit) { form.requestSubmit(); } else { form.dispatchEvent(new Event("submit")); }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var card = {key: form.dataset.publishableKey};
    fields.forEach(function (name) { card[name] = document.getElementById(name).value; });
    var button = form.querySelector("button");
    button.disabled = true;
    status.textContent = "Checking the card…";
    fetch(form.dataset.endpoint, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(card),
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (answer) { return {ok: response.ok, answer: answer}; });
    }).then(function (result) {
      if (!result.ok) {
        showErrors(result.answer.errors || {number: result.answer.error});
        status.textContent = "The card was refused: see the messages beside the fields.";
        return;
      }
      showErrors({});
      status.textContent = "Card accepted: " + result.answer.brand + " ending " + result.answer.last4 + ".";
      window.parent.postMessage({type: "sandbox:payment_method", id: result.answer.id}, form.dataset.parentOrigin);
    }).catch(function () {
      status.textContent = "The processor could not be reached. Try again.";
    }).finally(function () {
      button.disabled = false;
    });
  });
})();
