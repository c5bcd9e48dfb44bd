//! The drawing page and the API's description, embedded in the binary (nothing is fetched
//! from a network): plain HTML, CSS and JavaScript, no framework, no build step.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

/// The page at `/`.
pub const INDEX: &str = include_str!("../../assets/serve/index.html");
/// Its script: drawing with pointer events, undo, debounced prediction, the bars.
pub const APP_JS: &str = include_str!("../../assets/serve/app.js");
/// Its style: one column on a phone, two on a wider screen.
pub const STYLE_CSS: &str = include_str!("../../assets/serve/style.css");
/// The OpenAPI 3 description of the API, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("../../assets/serve/openapi.json");

/// An HTML page.
pub fn html(text: &'static str) -> Response {
    let mut response = Html(text).into_response();
    // The page runs no script but its own and loads nothing from elsewhere.
    let policy = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'";
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(policy));
    response
}

/// An embedded asset of the given type.
pub fn asset(content_type: &'static str, text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_is_json_and_describes_every_route() {
        let v: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json parses");
        assert_eq!(v["openapi"].as_str().map(|s| &s[..2]), Some("3."));
        for route in ["/api/predict", "/api/predict/batch", "/api/model", "/healthz", "/metrics"] {
            assert!(v["paths"][route].is_object(), "{route} is not described");
        }
    }

    #[test]
    fn the_page_links_its_assets() {
        assert!(INDEX.contains("app.js") && INDEX.contains("style.css"));
        assert!(
            !INDEX.contains("http://") && !INDEX.contains("https://"),
            "the page must fetch nothing from elsewhere"
        );
    }
}
