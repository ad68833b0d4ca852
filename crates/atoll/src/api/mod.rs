//! The HTTP server: live HLS/TS serving, the REST API, metrics. The only module that speaks JSON.

mod account;
mod archive;
mod assets;
mod channels;
mod cluster;
mod epg;
mod live;
mod logs;
mod manage;
mod metrics;
mod openapi;
mod player;
mod recording;
pub(crate) mod routes;
mod viewers;
mod vod;
mod xc;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

use std::net::IpAddr;

use serde_json::Value;

use crate::auth::{Authenticator, Principal, Refusal};
use crate::hub::Hub;
use crate::store::Role;
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
    /// Who may fetch viewer URLs (subnets, viewer tokens).
    pub viewer: Arc<crate::viewer::Rules>,
    /// Segments one catch-up playlist may list (setting `catchup_max_playlist_segments`).
    pub catchup_max_playlist_segments: usize,
    /// The cluster key other nodes must send (None: no cluster API).
    pub cluster_key: Option<Arc<str>>,
    /// This node's name in the cluster.
    pub node_name: String,
    /// "origin" or "edge".
    pub role: &'static str,
    /// The cluster's nodes as their reports and the operator describe them (origins).
    pub nodes: Arc<crate::cluster::nodes::Nodes>,
    /// Send viewers to edges (`[cluster] redirect = "on"`).
    pub redirect: bool,
    /// A backup origin following its primary (channel changes refused until promoted).
    pub following: Arc<std::sync::atomic::AtomicBool>,
    /// An edge fetches the catch-up ranges it lacks from its origin when a viewer asks.
    pub fills: Arc<crate::cluster::backfill::OnRequest>,
    /// The VOD library (None on an edge until VOD mirroring exists).
    pub vod: Option<Arc<crate::vod::Library>>,
    /// Viewer accounts (the Xtream Codes API's logins).
    pub viewers: Arc<crate::xc::Viewers>,
}

pub fn router(state: AppState) -> Router {
    routes::router(&state)
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", None, "no such page")
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cluster::redirect_viewers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            viewer_gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cross_site_guard,
        ))
        .with_state(state)
}

/// What a viewer URL is about: Some(Some(channel)) for `/live/{channel}/…`, Some(None) for the
/// lineup-wide ones (playlist, guide, player data), None for everything else (pages, admin API).
fn viewer_scope(path: &str) -> Option<Option<&str>> {
    if let Some(rest) = path.strip_prefix("/live/") {
        // `/live/{user}/{password}/{stream}[/{file}]`: the XC form, its account is the credential
        if rest.split('/').count() >= 3 {
            return None;
        }
        return Some(Some(rest.split('/').next().unwrap_or("")));
    }
    if path.starts_with("/vod/") {
        return Some(None);
    }
    let lineup = matches!(
        path,
        "/playlist.m3u" | "/epg.xml" | "/epg.xml.gz" | "/api/epg"
    ) || path.starts_with("/api/epg/") && !path.starts_with("/api/epg/sources")
        || path.starts_with("/api/player/");
    lineup.then_some(None)
}

/// Applies the viewer access rules to viewer URLs. Signed-in staff (console cookie, Basic, API
/// token) pass too, so the console's preview works. When a token came in the query, playlists
/// in the answer get it on every URL (relative segment URLs would otherwise lose it).
async fn viewer_gate(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path().to_string();
    let Some(scope) = viewer_scope(&path) else {
        return next.run(req).await;
    };
    if st.viewer.open() {
        return next.run(req).await;
    }
    let token = req
        .uri()
        .query()
        .and_then(crate::viewer::token_of)
        .map(str::to_string);
    let (mut parts, body) = req.into_parts();
    let ip = client_ip(&parts);
    let verdict = st
        .viewer
        .check(ip, token.as_deref(), scope, st.clock.now_utc().secs());
    if let Err(denied) = verdict {
        let staff = (parts.headers.contains_key(header::AUTHORIZATION)
            || cookie(&parts.headers, SESSION_COOKIE).is_some())
            && Authed::from_request_parts(&mut parts, &st).await.is_ok();
        if !staff {
            tracing::debug!(%ip, %path, "viewer refused: {denied:?}");
            let status = match denied {
                crate::viewer::Denied::NoToken => StatusCode::UNAUTHORIZED,
                _ => StatusCode::FORBIDDEN,
            };
            return ApiError::new(status, "viewer_denied", Some("token"), denied.message())
                .into_response();
        }
    }
    let resp = next
        .run(axum::extract::Request::from_parts(parts, body))
        .await;
    let Some(token) = token else { return resp };
    let mut resp = resp;
    // a redirect (timeshift_rel → timeshift_abs) keeps the token
    if let Some(loc) = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        if !loc.contains("token=") {
            let sep = if loc.contains('?') { '&' } else { '?' };
            if let Ok(v) = HeaderValue::from_str(&format!("{loc}{sep}token={token}")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
        }
    }
    rewrite_playlist(resp, |text| {
        crate::viewer::add_token_to_playlist(text, &token)
    })
    .await
}

/// A successful playlist answer with its text passed through `f` (anything else as it is).
async fn rewrite_playlist(resp: Response, f: impl FnOnce(&str) -> String) -> Response {
    let is_playlist = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("mpegurl"));
    if !is_playlist || !resp.status().is_success() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 20).await else {
        return ApiError::internal("reading a playlist to rewrite").into_response();
    };
    let text = f(&String::from_utf8_lossy(&bytes));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(text))
}

/// Refuses state changes a cross-site page could make from an admin's browser, whatever the
/// credentials (cached Basic, cookie, token): a foreign `Origin` (or `Sec-Fetch-Site:
/// cross-site`) gets 403, a body that is not `application/json` gets 415 (the channel import
/// also takes M3U as `audio/x-mpegurl`); HTML forms can send neither.
async fn cross_site_guard(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let safe = matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    // the XC API's POSTs carry their own username and password (never a cookie or Basic) and
    // change nothing: apps and web players on other origins send them as forms
    let xc = matches!(
        req.uri().path(),
        "/player_api.php" | "/get.php" | "/panel_api.php" | "/xmltv.php"
    );
    if safe || xc {
        return next.run(req).await;
    }
    let h = req.headers();
    let text = |name: header::HeaderName| h.get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST).unwrap_or("");
    if let Some(origin) = text(header::ORIGIN) {
        if !same_origin(origin, host, st.public_url.as_deref()) {
            tracing::warn!(%origin, %host, path = %req.uri().path(), "cross-origin state change refused");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                None,
                format!("Origin {origin} is not this server ({host}); state changes must come from the server's own pages"),
            )
            .into_response();
        }
    } else if h
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            None,
            "cross-site state changes are refused",
        )
        .into_response();
    }
    let has_body = h.contains_key(header::TRANSFER_ENCODING)
        || text(header::CONTENT_LENGTH).is_some_and(|l| l.trim() != "0");
    let ctype = text(header::CONTENT_TYPE);
    if has_body || ctype.is_some() {
        let media = ctype
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let path = req.uri().path();
        let m3u_ok = path == "/api/channels/import" && media.ends_with("mpegurl")
            || path == "/api/viewers/import" && media == "text/csv";
        // tus uploads and posters: types an HTML form cannot send either
        let upload_ok = path.starts_with("/api/vod/uploads/")
            && media == "application/offset+octet-stream"
            || path.starts_with("/api/vod/") && path.ends_with("/poster") && media == "image/jpeg"
            || path.starts_with("/api/vod/")
                && path.ends_with("/subtitles")
                && (media == "application/x-subrip" || media == "text/vtt");
        if media != "application/json" && !m3u_ok && !upload_ok {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
                format!(
                    "send the body with Content-Type: application/json (got {})",
                    if media.is_empty() { "none" } else { &media }
                ),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Whether an `Origin` header names this server: its host[:port] is the request's Host, or the
/// origin of `public_url`.
fn same_origin(origin: &str, host: &str, public_url: Option<&str>) -> bool {
    let authority = |u: &str| {
        u.split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or("").to_ascii_lowercase())
    };
    let Some(o) = authority(origin) else {
        return false; // "null" (sandboxed pages, file://) and garbage
    };
    if !host.is_empty() && o == host.to_ascii_lowercase() {
        return true;
    }
    public_url.and_then(authority).is_some_and(|p| p == o)
}

/// `POST /api/viewer-tokens` `{"channel": id|null, "ttl_s": 86400}`: a signed viewer token and
/// the URLs that carry it.
async fn viewer_token(
    axum::extract::State(st): axum::extract::State<AppState>,
    who: Authed,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_object(&body)?;
    if let Some(k) = body.keys().find(|k| *k != "channel" && *k != "ttl_s") {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            None,
            format!("unknown field '{k}' (known: channel, ttl_s)"),
        ));
    }
    let channel = match body.get("channel") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let id = v
                .as_str()
                .ok_or_else(|| ApiError::invalid("channel", "must be a channel id or null"))?
                .to_string();
            let lookup = id.clone();
            st.store
                .call(move |c| crate::store::get_channel(c, &lookup))
                .await
                .map_err(|_| ApiError::invalid("channel", "no such channel"))?;
            Some(id)
        }
    };
    let ttl = match body.get("ttl_s") {
        None => 86_400,
        Some(v) => v
            .as_i64()
            .filter(|t| (60..=366 * 86_400).contains(t))
            .ok_or_else(|| ApiError::invalid("ttl_s", "must be 60 to 31622400 seconds"))?,
    };
    let Some(key) = &st.viewer.token_key else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "viewer_tokens_off",
            None,
            "viewer tokens are off: set viewer_access = \"token\" in the settings",
        ));
    };
    let expires = st.clock.now_utc().secs() + ttl;
    let token = crate::viewer::sign(key, expires, channel.as_deref());
    who.audit(
        &st,
        "viewer_token.create",
        channel.as_deref().unwrap_or("*"),
        json!({"ttl_s": ttl}),
    )
    .await;
    let mut urls = json!({
        "player": format!("/?token={token}"),
        "playlist": format!("/playlist.m3u?token={token}"),
        "epg": format!("/epg.xml?token={token}"),
    });
    if let Some(c) = &channel {
        urls = json!({
            "hls": format!("/live/{c}/index.m3u8?token={token}"),
            "mpegts": format!("/live/{c}/mpegts?token={token}"),
        });
    }
    Ok(Json(json!({
        "token": token,
        "channel": channel,
        "expires_utc": expires,
        "urls": urls,
    })))
}

/// A JSON error with a stable shape: `{"error": code, "field": name|null, "message": text}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    field: Option<&'static str>,
    message: String,
    /// Send `WWW-Authenticate: Basic` with a 401 (not to the console's own requests).
    challenge: bool,
    /// `Retry-After` seconds with a 429.
    retry_after_s: Option<u64>,
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
            challenge: false,
            retry_after_s: None,
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
        if let Some(s) = self.retry_after_s {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED && self.challenge {
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

/// An authenticated admin or operator: a console session cookie (plus the CSRF header on state
/// changes), an API token (`Bearer atk_…`) or HTTP Basic.
#[derive(Clone)]
pub struct Authed {
    pub who: Principal,
    pub ip: IpAddr,
}

/// An authenticated admin (403 for operators).
pub struct Admin(pub Authed);

/// The client's address (unspecified when the connection has none, e.g. in unit tests).
pub fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub const SESSION_COOKIE: &str = "atoll_session";

/// 401; browsers' own fetches (the console) get no Basic challenge, so no password dialog pops up.
fn unauthorized(parts: &Parts, message: &str) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", None, message);
    e.challenge = wants_challenge(parts);
    e
}

/// Whether a 401 should carry `WWW-Authenticate: Basic`: not for a page's own fetches (Chromium
/// would hold the fetch open behind a password dialog) nor with a console cookie.
/// Nor for a page navigation (`Accept: text/html`, `Sec-Fetch-Mode: navigate`, or any path
/// outside `/api/`): a browser that cached Basic credentials from a dialog would send them on
/// every later request, cross-site ones included.
fn wants_challenge(parts: &Parts) -> bool {
    let from_script = parts
        .headers
        .get("sec-fetch-mode")
        .is_some_and(|m| m.as_bytes() != b"navigate");
    let navigation = parts
        .headers
        .get("sec-fetch-mode")
        .is_some_and(|m| m.as_bytes() == b"navigate")
        || parts
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .any(|v| v.to_str().is_ok_and(|a| a.contains("text/html")))
        || !parts.uri.path().starts_with("/api/");
    !from_script && !navigation && cookie(&parts.headers, SESSION_COOKIE).is_none()
}

pub fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::BadCredentials => {
            let mut e = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                None,
                "wrong name or password, or the account is disabled",
            );
            e.challenge = true;
            e
        }
        Refusal::RateLimited { retry_after_s } => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                None,
                format!("too many failed sign-ins; try again in {retry_after_s} s"),
            );
            e.retry_after_s = Some(retry_after_s);
            e
        }
    }
}

impl<S> FromRequestParts<S> for Authed
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // the route table's access check already authenticated this request
        if let Some(a) = parts.extensions.get::<Authed>() {
            return Ok(a.clone());
        }
        let st = AppState::from_ref(state);
        let ip = client_ip(parts);
        let now_utc = st.clock.now_utc().0;
        if let Some(h) = parts.headers.get(header::AUTHORIZATION) {
            let h = h
                .to_str()
                .map_err(|_| unauthorized(parts, "unreadable Authorization header"))?;
            let who = if let Some(t) = h.strip_prefix("Bearer ") {
                st.auth
                    .bearer(t.trim(), now_utc)
                    .await
                    .ok_or_else(|| unauthorized(parts, "unknown or revoked API token"))?
            } else {
                let challenge = wants_challenge(parts);
                let mut e = match st.auth.basic(h, ip, st.clock.now_mono_ms(), now_utc).await {
                    Ok(p) => p,
                    Err(r) => {
                        if let Some(name) = crate::auth::basic_user(h) {
                            audit_refusal(&st, &r, &name, ip).await;
                        }
                        let mut e = refused(r);
                        e.challenge &= challenge;
                        return Err(e);
                    }
                };
                e.via = crate::auth::Via::Basic;
                e
            };
            return Ok(Authed { who, ip });
        }
        let Some(c) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(unauthorized(
                parts,
                "sign in (console), or send HTTP Basic or an API token",
            ));
        };
        let (who, csrf, _) = st
            .auth
            .session(c, now_utc)
            .await
            .ok_or_else(|| unauthorized(parts, "session expired; sign in again"))?;
        let safe = matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS");
        if !safe {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !crate::auth::same(sent, &csrf) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    None,
                    "missing or wrong X-CSRF-Token header",
                ));
            }
        }
        Ok(Authed { who, ip })
    }
}

impl<S> FromRequestParts<S> for Admin
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let a = Authed::from_request_parts(parts, state).await?;
        if a.who.role != Role::Admin {
            return Err(forbidden());
        }
        Ok(Admin(a))
    }
}

pub fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
        "this needs an admin account",
    )
}

/// Writes what the audit log keeps of a failed password check of `name` from `ip` (a failed
/// sign-in, and the lockout it caused); a refusal while locked writes nothing.
pub async fn audit_refusal(st: &AppState, r: &Refusal, name: &str, ip: IpAddr) {
    if !matches!(r, Refusal::BadCredentials) {
        return;
    }
    let notes = st.auth.failure_notes(name, ip, st.clock.now_mono_ms());
    if notes.is_empty() {
        return;
    }
    let (at, name, ip) = (
        st.clock.now_utc().0,
        name.chars().take(64).collect::<String>(),
        ip.to_string(),
    );
    let rows: Vec<(&'static str, String)> = notes
        .into_iter()
        .map(|n| {
            let mut d = serde_json::Map::new();
            if let Some(s) = n.retry_after_s {
                d.insert("retry_after_s".into(), s.into());
            }
            if n.not_recorded_before > 0 {
                d.insert("not_recorded_before".into(), n.not_recorded_before.into());
            }
            let detail = if d.is_empty() {
                String::new()
            } else {
                Value::Object(d).to_string()
            };
            (n.action, detail)
        })
        .collect();
    let r = st
        .store
        .call(move |c| {
            for (action, detail) in &rows {
                crate::journal::audit(c, at, &name, &ip, action, &name, detail)?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = r {
        tracing::error!("audit log: {e}");
    }
}

impl Authed {
    /// Writes an audit entry for a change this caller made (a failure to write is logged, and
    /// does not undo the change).
    pub async fn audit(&self, st: &AppState, action: &str, target: &str, detail: Value) {
        let (user, ip, action, target) = (
            self.who.name.clone(),
            self.ip.to_string(),
            action.to_string(),
            target.to_string(),
        );
        let at = st.clock.now_utc().0;
        let detail = if detail.is_null() {
            String::new()
        } else {
            detail.to_string()
        };
        if let Err(e) = st
            .store
            .call(move |c| crate::journal::audit(c, at, &user, &ip, &action, &target, &detail))
            .await
        {
            tracing::error!("audit log: {e}");
        }
    }

    /// Notes an event in a channel's log (created, updated, deleted, recording on/off by whom).
    pub fn channel_event(&self, st: &AppState, channel: &str, kind: &'static str) {
        if let Some(ev) = &st.hub.settings.events {
            ev.emit(
                channel,
                st.clock.now_utc().0,
                kind,
                format!("by {}", self.who.name),
            );
        }
    }
}
