//! Swagger UI at `/docs`, its files compiled into the binary (swagger-ui-dist 5.36.0 from
//! npm, Apache-2.0: `swagger-ui/LICENSE`, `NOTICE`), reading `/openapi.json`.

use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const BUNDLE: &[u8] = include_bytes!("../swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../swagger-ui/swagger-ui.css");
const INDEX: &str = r##"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>API documentation</title>
    <link rel="stylesheet" type="text/css" href="/docs/swagger-ui.css">
    <style>html { box-sizing: border-box; overflow-y: scroll; } body { margin: 0; background: #fafafa; }</style>
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script>
      window.onload = () => {
        window.ui = SwaggerUIBundle({
          url: "/openapi.json",
          dom_id: "#swagger-ui",
          deepLinking: true,
          presets: [SwaggerUIBundle.presets.apis],
          layout: "BaseLayout",
        });
      };
    </script>
  </body>
</html>
"##;

fn asset(content_type: &'static str, body: &'static [u8]) -> impl IntoResponse {
    (
        [
            (http::header::CONTENT_TYPE, content_type),
            (http::header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
}

/// `/docs`, `/docs/swagger-ui-bundle.js`, `/docs/swagger-ui.css`.
pub fn routes() -> Router {
    Router::new()
        .route(
            "/docs",
            get(|| async {
                (
                    [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    INDEX,
                )
            }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { asset("text/javascript; charset=utf-8", BUNDLE) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
}
