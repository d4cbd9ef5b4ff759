// Swagger UI on this server's own OpenAPI document (relative URL: works behind a path prefix).
window.ui = SwaggerUIBundle({ url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true });
