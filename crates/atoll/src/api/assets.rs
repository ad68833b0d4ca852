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

/// A strong validator of a file's bytes (FNV-1a, 64 bits).
fn etag(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{h:016x}-{}\"", bytes.len())
}

/// The ETag of an embedded file (all of them hashed once, on first use).
fn embedded_tag(path: &str) -> String {
    static TAGS: std::sync::OnceLock<std::collections::HashMap<&'static str, String>> =
        std::sync::OnceLock::new();
    TAGS.get_or_init(|| ASSETS.iter().map(|(p, b)| (*p, etag(b))).collect())
        .get(path)
        .cloned()
        .unwrap_or_default()
}

/// A response with one asset, or 404. Browsers revalidate every time (`no-cache` + ETag, so an
/// unchanged file is a bodiless 304): after an upgrade no page mixes old and new scripts.
pub fn respond(path: &str) -> Response {
    respond_if(path, None)
}

/// As [`respond`], answering 304 when `if_none_match` names the current version.
pub fn respond_if(path: &str, if_none_match: Option<&str>) -> Response {
    match load(path) {
        Some(body) => {
            let tag = match &body {
                // embedded files never change while we run: their tags are computed once
                std::borrow::Cow::Borrowed(_) => embedded_tag(path),
                std::borrow::Cow::Owned(b) => etag(b),
            };
            let headers = [
                (header::CONTENT_TYPE, content_type(path).to_string()),
                (header::CACHE_CONTROL, "no-cache".to_string()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                (header::ETAG, tag.clone()),
            ];
            if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == tag)) {
                return (StatusCode::NOT_MODIFIED, headers).into_response();
            }
            (headers, body.into_owned()).into_response()
        }
        None => super::ApiError::new(StatusCode::NOT_FOUND, "not_found", None, "no such file")
            .into_response(),
    }
}

/// `GET /assets/{*path}`.
pub async fn asset(Path(path): Path<String>, headers: axum::http::HeaderMap) -> Response {
    respond_if(
        &path,
        headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok()),
    )
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
        let r = respond("hls.min.js");
        let tag = r.headers()[header::ETAG].to_str().unwrap().to_string();
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(
            respond_if("hls.min.js", Some(&tag)).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            respond_if("hls.min.js", Some("\"x\"")).status(),
            StatusCode::OK
        );
    }
}
