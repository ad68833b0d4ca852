//! The web pages and their scripts, embedded at build time (see build.rs) and served under
//! `/assets/…`; `/admin` is the console's page. With `ATOLL_WEB_DIR` set (development), files are
//! read from that folder on every request instead, so a page can be edited without a rebuild.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The media type of a file, from its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "application/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// A path that cannot leave the web folder: relative, no `..`, no empty or hidden parts.
fn safe(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 200
        && path
            .split('/')
            .all(|p| !p.is_empty() && !p.starts_with('.') && !p.contains('\\'))
}

/// The bytes of `path` (relative to web/), from disk in development or from the binary.
pub fn load(path: &str) -> Option<std::borrow::Cow<'static, [u8]>> {
    if !safe(path) {
        return None;
    }
    if let Some(dir) = std::env::var_os("ATOLL_WEB_DIR") {
        if path != "hls.min.js" {
            return std::fs::read(std::path::Path::new(&dir).join(path))
                .ok()
                .map(Into::into);
        }
    }
    ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, b)| std::borrow::Cow::Borrowed(*b))
}

/// A response with one asset, or 404.
pub fn respond(path: &str) -> Response {
    match load(path) {
        Some(body) => {
            let cache = if path.ends_with(".html") || path.ends_with("sw.js") {
                "no-cache"
            } else {
                "public, max-age=300"
            };
            (
                [
                    (header::CONTENT_TYPE, content_type(path)),
                    (header::CACHE_CONTROL, cache),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                body.into_owned(),
            )
                .into_response()
        }
        None => super::ApiError::new(StatusCode::NOT_FOUND, "not_found", None, "no such file")
            .into_response(),
    }
}

/// `GET /assets/{*path}`.
pub async fn asset(Path(path): Path<String>) -> Response {
    respond(&path)
}

/// `GET /admin`: the console.
pub async fn admin_page() -> Response {
    let mut r = respond("admin/index.html");
    r.headers_mut().insert(
        header::HeaderName::from_static("x-frame-options"),
        header::HeaderValue::from_static("DENY"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape() {
        for bad in [
            "",
            "../etc/passwd",
            "player/../../x",
            "/etc/passwd",
            ".env",
            "a//b",
            "a\\..\\b",
        ] {
            assert!(load(bad).is_none(), "{bad}");
        }
        assert!(load("hls.min.js").is_some());
        assert_eq!(content_type("a/b.css"), "text/css; charset=utf-8");
    }
}
