//! The HTTP server: live HLS/TS serving, the REST API, metrics. The only module that speaks JSON.

mod archive;
mod assets;
mod channels;
mod epg;
mod live;
mod metrics;
mod player;
mod recording;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::auth::{Authenticator, Principal};
use crate::hub::Hub;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub archive: Arc<::archive::Archive>,
    pub archive_dir: std::path::PathBuf,
    pub clock: Arc<dyn media::Clock>,
    /// Wakes the EPG sync loop (a source was added or asked to sync now).
    pub epg_wake: Arc<tokio::sync::Notify>,
    /// Base of absolute URLs in exports (`http://tv.example:8080`); None = from the request's Host.
    pub public_url: Option<String>,
    /// Serialises changes to channels (store write + live apply) so they land in one order.
    pub config_writes: Arc<tokio::sync::Mutex<()>>,
    /// Catch-up playlists rendered in the last second.
    pub playlists: Arc<archive::PlaylistCache>,
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub started: Instant,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/admin", get(assets::admin_page))
        .route("/admin/", get(assets::admin_page))
        .route("/assets/{*path}", get(assets::asset))
        .route("/metrics", get(metrics::metrics))
        .route("/api/channels", get(channels::list).post(channels::create))
        .route(
            "/api/channels/{id}",
            get(channels::get_one)
                .put(channels::update)
                .delete(channels::delete),
        )
        .route("/api/channels/{id}/recording", get(recording::recording))
        .route(
            "/api/channels/{id}/recording/{action}",
            axum::routing::post(recording::set_recording),
        )
        .route("/api/channels/{id}/archive", get(recording::intervals))
        .route("/api/archive/usage", get(recording::usage))
        .route("/api/epg", get(epg::guide_for_channel))
        .route("/api/epg/now", get(epg::now_next))
        .route("/api/epg/search", get(epg::search))
        .route(
            "/api/epg/sources",
            get(epg::list_sources).post(epg::create_source),
        )
        .route(
            "/api/epg/sources/{id}",
            get(epg::get_source)
                .put(epg::update_source)
                .delete(epg::delete_source),
        )
        .route(
            "/api/epg/sources/{id}/sync",
            axum::routing::post(epg::sync_source),
        )
        .route("/playlist.m3u", get(epg::playlist))
        .route("/epg.xml", get(epg::epg_xml))
        .route("/epg.xml.gz", get(epg::epg_xml_gz))
        .route("/live/{id}/{file}", get(live::live_file))
        .merge(player::routes())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", None, "no such page")
        })
        .with_state(state)
}

/// A JSON error with a stable shape: `{"error": code, "field": name|null, "message": text}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    field: Option<&'static str>,
    message: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        field: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            field,
            message: message.into(),
        }
    }
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some(field),
            message,
        )
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            None,
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error": self.code, "field": self.field, "message": self.message})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"atoll\", charset=\"UTF-8\""),
            );
        }
        r
    }
}

/// A request body that must be a JSON object: 400 naming what is wrong otherwise.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            None,
            "body must be a JSON object",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            None,
            format!("body is not valid JSON: {e}"),
        )),
    }
}

/// An authenticated admin or operator (HTTP Basic for now).
pub struct Authed(#[allow(dead_code)] pub Principal);

impl<S> FromRequestParts<S> for Authed
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                None,
                "sign in with HTTP Basic auth",
            )
        };
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthorized)?;
        state
            .auth
            .basic(header)
            .await
            .map(Authed)
            .ok_or_else(unauthorized)
    }
}
