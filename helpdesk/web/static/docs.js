// Starts Swagger UI on /docs from files served by the helpdesk itself (no CDN), and
// authorises the page as soon as a login made from it succeeds: the bearer token for every
// call, and the CSRF token in case the browser's session cookie is what authenticates.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    tryItOutEnabled: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    responseInterceptor: function (response) {
      if (response.url.endsWith("/api/auth/login") && response.ok && response.body) {
        window.ui.preauthorizeApiKey("session", response.body.token);
        window.ui.preauthorizeApiKey("csrf", response.body.csrf_token);
      }
      return response;
    },
  });
});
