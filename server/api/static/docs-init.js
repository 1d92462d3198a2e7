// Starts Swagger UI on /api/v1/docs; kept out of the page so the CSP needs no 'unsafe-inline'.
window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  window.ui = SwaggerUIBundle({ url: container.dataset.specUrl, dom_id: "#swagger-ui-container" });
});
