// /api/docs: Swagger UI (swagger-ui-dist from npm) renders the OpenAPI document named by #swagger-ui's
// data-spec-url. Started from this file because the portal's CSP forbids inline scripts.
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null, // no badge fetched from a third-party validator (CSP: img-src 'self')
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
