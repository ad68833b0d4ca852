//! The Xtream Codes API, as IPTV apps (TiviMate, IPTV Smarters, OTT Navigator, XCIPTV, Kodi)
//! use it: `player_api.php`, `get.php`, `xmltv.php`, `panel_api.php` and the stream URLs with a
//! username and password in them. A thin mapping: the lineup, the guide (with catch-up flags
//! from the real archive), the archive's catch-up answers, the live answers and the VOD files
//! are the ones every other URL serves; this module only names them the XC way and checks the
//! account (`crate::xc`).
//!
//! Field types follow what apps parse (strings where panels send strings: `category_id`,
//! `added`, `exp_date`; numbers for `stream_id`, `num`, `auth`), and every time string is in
//! the one zone `xc_timezone` names, because apps copy EPG strings into timeshift URLs.

// the helpers return the refusal itself as the early answer of a handler (an axum Response)
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::{epg, AppState};
use crate::store::Channel;
use crate::vod::catalog::{self, Title};
use crate::xc::accounts::Account;
use crate::xc::{wire, Denied, Kind, Presence};

type Params = HashMap<String, String>;

/// The most programmes one EPG answer lists.
const MAX_EPG_LISTINGS: usize = 5_000;

fn status_json(status: StatusCode, v: Value) -> Response {
    let mut r = (status, Json(v)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn text(status: StatusCode, msg: String) -> Response {
    let mut r = (status, msg).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn denied(d: Denied) -> Response {
    match d {
        Denied::BadCredentials => status_json(
            StatusCode::UNAUTHORIZED,
            json!({"user_info": {"auth": 0, "status": "Wrong", "message": "wrong username or password"}}),
        ),
        Denied::RateLimited { retry_after_s } => {
            let mut r = status_json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"user_info": {"auth": 0, "message": format!("too many wrong passwords; try again in {retry_after_s} s")}}),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            r
        }
        Denied::Disabled => status_json(
            StatusCode::FORBIDDEN,
            json!({"user_info": {"auth": 0, "status": "Disabled", "message": "this account is disabled"}}),
        ),
        Denied::Expired => status_json(
            StatusCode::FORBIDDEN,
            json!({"user_info": {"auth": 0, "status": "Expired", "message": "this account has expired"}}),
        ),
    }
}

fn off() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "viewer accounts are off on this server (setting viewer_accounts)\n".into(),
    )
}

/// Query parameters, and for a POST the form body's too (apps send either).
fn params(method: &Method, query: Params, body: &[u8]) -> Params {
    let mut p = query;
    if method == Method::POST && !body.is_empty() {
        if let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
            for (k, v) in form {
                p.entry(k).or_insert(v);
            }
        }
    }
    p
}

/// The account named in a request, checked (viewer accounts on, address allowed, password,
/// enabled, not expired), or the answer refusing it.
async fn login(
    st: &AppState,
    peer: SocketAddr,
    username: &str,
    password: &str,
) -> Result<Arc<Account>, Response> {
    if !st.viewers.settings.enabled {
        return Err(off());
    }
    if !st.viewer.address_allowed(peer.ip()) {
        return Err(text(
            StatusCode::FORBIDDEN,
            "this network may not watch\n".into(),
        ));
    }
    st.viewers
        .authenticate(
            username,
            password,
            peer.ip(),
            st.clock.now_mono_ms(),
            st.clock.now_utc().0,
        )
        .await
        .map_err(denied)
}

async fn login_params(
    st: &AppState,
    peer: SocketAddr,
    p: &Params,
) -> Result<Arc<Account>, Response> {
    let u = p.get("username").map(String::as_str).unwrap_or("");
    let pw = p.get("password").map(String::as_str).unwrap_or("");
    login(st, peer, u, pw).await
}

/// Starts (or keeps) the device's session of the account, or refuses a device over its
/// `max_connections`.
fn enter(
    st: &AppState,
    account: &Account,
    peer: SocketAddr,
    headers: &HeaderMap,
    kind: Kind,
) -> Result<Presence, Response> {
    let ua = headers
        .get(header::USER_AGENT)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let device = (peer.ip(), crate::hub::live::ua_hash(ua));
    st.viewers
        .enter(account, device, kind, st.clock.now_mono_ms())
        .map_err(|over| {
            tracing::info!(account = %account.username, ip = %peer.ip(), "viewer account over its max_connections ({})", over.max);
            text(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "max_connections ({}) reached: this account is watching on {} devices already\n",
                    over.max, over.max
                ),
            )
        })
}

/// An HLS playlist is a request of a session; anything else a stream URL names is a stream.
fn kind_of(ext: &str) -> Kind {
    if matches!(ext, "m3u8" | "m3u") {
        Kind::Request
    } else {
        Kind::Stream
    }
}

/// The account's channel with stream id `sid`, and the device's place in the account's
/// sessions (or the answer refusing either).
async fn channel_watched(
    st: &AppState,
    account: &Account,
    sid: i64,
    peer: SocketAddr,
    headers: &HeaderMap,
    kind: Kind,
) -> Result<(XcChannel, Presence), Response> {
    let c = channels(st, account)
        .await?
        .into_iter()
        .find(|c| c.stream_id == sid)
        .ok_or_else(|| not_found("channel"))?;
    Ok((c, enter(st, account, peer, headers, kind)?))
}

/// A response whose body keeps `presence` until it is sent or dropped (a stream counts as a
/// connection while open).
fn holding(resp: Response, presence: Presence) -> Response {
    let (parts, body) = resp.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _ = &presence;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Base URL, host and port as the app reached us.
fn base(st: &AppState, headers: &HeaderMap) -> (String, String, String) {
    let base = epg::base_url(st, headers);
    let authority = base
        .split_once("://")
        .map(|(_, r)| r.split('/').next().unwrap_or(""))
        .unwrap_or("")
        .to_string();
    let default_port = if base.starts_with("https://") {
        "443"
    } else {
        "80"
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p))
            if !h.is_empty() && !h.ends_with(']')
                || authority.starts_with('[') && h.ends_with(']') =>
        {
            (h.to_string(), p.to_string())
        }
        _ => (authority.clone(), default_port.to_string()),
    };
    (base, host, port)
}

/// A username or password as a URL path segment (`@` kept: apps write names as they are).
fn seg(s: &str) -> String {
    ::epg::m3u::percent_encode_segment(s).replace("%40", "@")
}

// ---------------------------------------------------------------------------------------------
// What an account sees

/// A channel as apps know it.
struct XcChannel {
    ch: Channel,
    stream_id: i64,
    added_s: i64,
}

/// The account's channels (active, in its packages), in lineup order.
async fn channels(st: &AppState, account: &Account) -> Result<Vec<XcChannel>, Response> {
    let (list, ids) = st
        .store
        .read(|c| {
            Ok((
                crate::store::list_channels(c)?,
                crate::store::stream_ids(c)?,
            ))
        })
        .await
        .map_err(internal)?;
    Ok(list
        .into_iter()
        .filter(|c| c.active && account.may_watch_group(&c.group))
        .filter_map(|ch| {
            let (stream_id, created) = *ids.get(&ch.id)?;
            Some(XcChannel {
                ch,
                stream_id,
                added_s: created / 1000,
            })
        })
        .collect())
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("xc: {e}");
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; see the server log\n".into(),
    )
}

fn group_name(g: &str) -> &str {
    if g.is_empty() {
        "Other"
    } else {
        g
    }
}

fn live_category_id(group: &str) -> i64 {
    wire::name_id("group", group)
}

fn live_categories(chs: &[XcChannel]) -> Vec<Value> {
    let mut seen: Vec<&str> = Vec::new();
    for c in chs {
        if !seen.contains(&c.ch.group.as_str()) {
            seen.push(&c.ch.group);
        }
    }
    seen.iter()
        .map(|g| {
            json!({"category_id": live_category_id(g).to_string(), "category_name": group_name(g), "parent_id": 0})
        })
        .collect()
}

fn archive_days(ch: &Channel) -> u32 {
    if ch.record {
        ch.retention_hours.div_ceil(24).max(1)
    } else {
        0
    }
}

fn logo(base: &str, l: &str) -> String {
    if l.starts_with('/') {
        format!("{base}{l}")
    } else {
        l.to_string()
    }
}

fn live_stream(base: &str, n: usize, c: &XcChannel) -> Value {
    let cat = live_category_id(&c.ch.group);
    json!({
        "num": n,
        "name": c.ch.name,
        "stream_type": "live",
        "stream_id": c.stream_id,
        "stream_icon": logo(base, &c.ch.logo),
        "thumbnail": "",
        "epg_channel_id": c.ch.id,
        "added": c.added_s.to_string(),
        "is_adult": "0",
        "category_id": cat.to_string(),
        "category_ids": [cat],
        "custom_sid": "",
        "tv_archive": u8::from(c.ch.record),
        "direct_source": "",
        "tv_archive_duration": archive_days(&c.ch),
    })
}

/// The library as the account may see it, and its categories (id, name).
async fn library(
    st: &AppState,
    account: &Account,
) -> Result<(Vec<Title>, Vec<(i64, String)>), Response> {
    if st.vod.is_none() {
        return Ok((Vec::new(), Vec::new()));
    }
    let (titles, cats) = st.store.read(catalog::export).await.map_err(internal)?;
    let titles: Vec<Title> = titles
        .into_iter()
        .filter(|t| account.may_watch_category(t.category.as_deref().unwrap_or("")))
        .collect();
    let cats = cats
        .iter()
        .filter_map(|c| Some((c["id"].as_i64()?, c["name"].as_str()?.to_string())))
        .collect();
    Ok((titles, cats))
}

fn vod_category_id(t: &Title) -> i64 {
    t.category_id.unwrap_or(0)
}

/// Categories of `titles` (films or episodes), in the library's order; uncategorised as "Other".
fn vod_categories(titles: &[&Title], cats: &[(i64, String)]) -> Vec<Value> {
    let used: std::collections::HashSet<i64> = titles.iter().map(|t| vod_category_id(t)).collect();
    let mut out: Vec<Value> = cats
        .iter()
        .filter(|(id, _)| used.contains(id))
        .map(|(id, name)| json!({"category_id": id.to_string(), "category_name": name, "parent_id": 0}))
        .collect();
    if used.contains(&0) {
        out.push(json!({"category_id": "0", "category_name": "Other", "parent_id": 0}));
    }
    out
}

fn poster(base: &str, t: &Title) -> String {
    if t.poster {
        format!("{base}/vod/{}/poster.jpg", t.id)
    } else {
        String::new()
    }
}

fn film(base: &str, n: usize, t: &Title) -> Value {
    let cat = vod_category_id(t);
    json!({
        "num": n,
        "name": t.title,
        "title": t.title,
        "year": t.year.map(|y| y.to_string()),
        "stream_type": "movie",
        "stream_id": t.id,
        "stream_icon": poster(base, t),
        "rating": 0,
        "rating_5based": 0,
        "genre": t.genre,
        "added": (t.added_utc_ms / 1000).to_string(),
        "episode_run_time": t.duration_ms / 60_000,
        "category_id": cat.to_string(),
        "category_ids": [cat],
        "container_extension": "mp4",
        "custom_sid": "",
        "direct_source": "",
        "release_date": "",
        "cast": "",
        "director": "",
        "plot": t.description,
        "youtube_trailer": "",
    })
}

fn film_info(base: &str, t: &Title) -> Value {
    let cat = vod_category_id(t);
    let secs = t.duration_ms / 1000;
    let year = t.year.map(|y| y.to_string());
    json!({
        "info": {
            "kinopoisk_url": "",
            "tmdb_id": 0,
            "name": t.title,
            "o_name": if t.title_en.is_empty() { &t.title } else { &t.title_en },
            "cover_big": poster(base, t),
            "movie_image": poster(base, t),
            "release_date": year.clone().unwrap_or_default(),
            "releasedate": year.clone().unwrap_or_default(),
            "episode_run_time": secs / 60,
            "youtube_trailer": "",
            "director": "",
            "actors": "",
            "cast": "",
            "description": t.description,
            "plot": t.description,
            "age": "",
            "mpaa_rating": "",
            "rating_count_kinopoisk": 0,
            "country": "",
            "genre": t.genre,
            "backdrop_path": [],
            "duration_secs": secs,
            "duration": wire::hms(secs),
            "bitrate": if secs > 0 { t.size_bytes * 8 / 1000 / secs } else { 0 },
            "rating": 0,
            "subtitles": t.media.get("subtitles").and_then(Value::as_array).map(|s| s.iter().filter_map(|x| x.get("language").cloned()).collect::<Vec<_>>()).unwrap_or_default(),
            "video": t.media.get("video").cloned().unwrap_or(json!({})),
            "audio": t.media.get("audio").and_then(Value::as_array).and_then(|a| a.first().cloned()).unwrap_or(json!({})),
        },
        "movie_data": {
            "stream_id": t.id,
            "name": t.title,
            "title": t.title,
            "year": year,
            "added": (t.added_utc_ms / 1000).to_string(),
            "category_id": cat.to_string(),
            "category_ids": [cat],
            "container_extension": "mp4",
            "custom_sid": "",
            "direct_source": "",
        }
    })
}

/// Series: name → its episodes (in season, episode order).
fn series_of(titles: &[Title]) -> Vec<(&str, Vec<&Title>)> {
    let mut out: Vec<(&str, Vec<&Title>)> = Vec::new();
    for t in titles.iter().filter(|t| !t.series.is_empty()) {
        match out.iter_mut().find(|(n, _)| *n == t.series) {
            Some((_, eps)) => eps.push(t),
            None => out.push((&t.series, vec![t])),
        }
    }
    for (_, eps) in out.iter_mut() {
        eps.sort_by_key(|t| (t.season.unwrap_or(1), t.episode.unwrap_or(0), t.id));
    }
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}

fn series_id(name: &str) -> i64 {
    wire::name_id("series", name)
}

fn series_item(base: &str, n: usize, name: &str, eps: &[&Title]) -> Value {
    let first = eps[0];
    let cat = vod_category_id(first);
    let last = eps
        .iter()
        .map(|t| t.updated_utc_ms.max(t.added_utc_ms))
        .max()
        .unwrap_or(0);
    let cover = eps
        .iter()
        .find(|t| t.poster)
        .map(|t| poster(base, t))
        .unwrap_or_default();
    let year = eps.iter().filter_map(|t| t.year).min();
    json!({
        "num": n,
        "name": name,
        "title": name,
        "year": year.map(|y| y.to_string()),
        "series_id": series_id(name),
        "stream_type": "series",
        "cover": cover,
        "plot": first.description,
        "cast": "",
        "director": "",
        "genre": first.genre,
        "releaseDate": year.map(|y| y.to_string()).unwrap_or_default(),
        "release_date": year.map(|y| y.to_string()).unwrap_or_default(),
        "last_modified": (last / 1000).to_string(),
        "rating": "0",
        "rating_5based": 0,
        "backdrop_path": [],
        "youtube_trailer": "",
        "episode_run_time": (first.duration_ms / 60_000).to_string(),
        "category_id": cat.to_string(),
        "category_ids": [cat],
    })
}

fn series_info(base: &str, name: &str, eps: &[&Title]) -> Value {
    let mut info = series_item(base, 0, name, eps);
    if let Value::Object(m) = &mut info {
        m.remove("num");
        m.remove("stream_type");
    }
    let mut seasons: Vec<i64> = eps.iter().map(|t| t.season.unwrap_or(1)).collect();
    seasons.dedup();
    let mut episodes = serde_json::Map::new();
    let season_list: Vec<Value> = seasons
        .iter()
        .map(|s| {
            let in_season: Vec<&&Title> =
                eps.iter().filter(|t| t.season.unwrap_or(1) == *s).collect();
            let cover = in_season
                .iter()
                .find(|t| t.poster)
                .map(|t| poster(base, t))
                .unwrap_or_default();
            episodes.insert(
                s.to_string(),
                Value::Array(
                    in_season
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            let secs = t.duration_ms / 1000;
                            json!({
                                "id": t.id.to_string(),
                                "episode_num": t.episode.unwrap_or(i as i64 + 1),
                                "title": t.title,
                                "container_extension": "mp4",
                                "info": {
                                    "release_date": "",
                                    "plot": t.description,
                                    "rating": 0,
                                    "movie_image": poster(base, t),
                                    "cover_big": poster(base, t),
                                    "duration_secs": secs,
                                    "duration": wire::hms(secs),
                                    "tmdb_id": 0,
                                    "bitrate": 0,
                                    "season": s,
                                },
                                "custom_sid": "",
                                "added": (t.added_utc_ms / 1000).to_string(),
                                "season": s,
                                "direct_source": "",
                                "subtitles": [],
                            })
                        })
                        .collect(),
                ),
            );
            json!({
                "id": s,
                "name": format!("Season {s}"),
                "episode_count": in_season.len(),
                "overview": "",
                "air_date": "",
                "cover": cover,
                "cover_big": cover,
                "season_number": s,
                "vote_average": 0,
            })
        })
        .collect();
    if let Value::Object(m) = &mut info {
        m.insert("series_id".into(), json!(series_id(name)));
    }
    json!({"seasons": season_list, "info": info, "episodes": episodes})
}

// ---------------------------------------------------------------------------------------------
// player_api.php

fn login_object(st: &AppState, account: &Account, headers: &HeaderMap, password: &str) -> Value {
    let (_, host, port) = base(st, headers);
    let zone = st.viewers.settings.zone;
    let now_s = st.clock.now_utc().secs();
    let exp = account
        .expires
        .as_deref()
        .and_then(|d| zone.end_of_day(d))
        .unwrap_or(4_102_444_800);
    json!({
        "user_info": {
            "username": account.username,
            "password": password,
            "message": "",
            "auth": 1,
            "status": "Active",
            "exp_date": exp.to_string(),
            "is_trial": "0",
            "active_cons": st.viewers.active(&account.username, st.clock.now_mono_ms()).to_string(),
            "created_at": (account.created_utc_ms / 1000).to_string(),
            "max_connections": account.max_connections.to_string(),
            "allowed_output_formats": ["m3u8", "ts"],
        },
        "server_info": {
            "xui": false,
            "version": env!("CARGO_PKG_VERSION"),
            "revision": null,
            "url": host,
            "port": port,
            "https_port": "",
            "server_protocol": "http",
            "rtmp_port": st.viewers.settings.rtmp_port,
            "timezone": zone.name(),
            "timestamp_now": now_s,
            "time_now": zone.datetime(now_s),
        }
    })
}

fn id_param(p: &Params, name: &str) -> Option<i64> {
    p.get(name)?.trim().parse().ok()
}

/// `GET|POST /player_api.php?username=&password=[&action=…]`.
pub async fn player_api(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    Query(query): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&method, query, &body);
    let account = match login_params(&st, peer, &p).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let password = p.get("password").cloned().unwrap_or_default();
    let (b, _, _) = base(&st, &headers);
    let action = p.get("action").map(String::as_str).unwrap_or("");
    let out = match action {
        "get_live_categories" => match channels(&st, &account).await {
            Ok(chs) => json!(live_categories(&chs)),
            Err(r) => return r,
        },
        "get_live_streams" => match channels(&st, &account).await {
            Ok(chs) => {
                let want = p.get("category_id").filter(|c| !c.is_empty() && *c != "*");
                Value::Array(
                    chs.iter()
                        .enumerate()
                        .filter(|(_, c)| {
                            want.is_none_or(|w| *w == live_category_id(&c.ch.group).to_string())
                        })
                        .map(|(i, c)| live_stream(&b, i + 1, c))
                        .collect(),
                )
            }
            Err(r) => return r,
        },
        "get_vod_categories"
        | "get_vod_streams"
        | "get_vod_info"
        | "get_series_categories"
        | "get_series"
        | "get_series_info" => {
            let (titles, cats) = match library(&st, &account).await {
                Ok(x) => x,
                Err(r) => return r,
            };
            let films: Vec<&Title> = titles.iter().filter(|t| t.series.is_empty()).collect();
            let want = p
                .get("category_id")
                .filter(|c| !c.is_empty() && *c != "*")
                .cloned();
            match action {
                "get_vod_categories" => json!(vod_categories(&films, &cats)),
                "get_vod_streams" => Value::Array(
                    films
                        .iter()
                        .filter(|t| {
                            want.as_ref()
                                .is_none_or(|w| *w == vod_category_id(t).to_string())
                        })
                        .enumerate()
                        .map(|(i, t)| film(&b, i + 1, t))
                        .collect(),
                ),
                "get_vod_info" => {
                    match id_param(&p, "vod_id").and_then(|id| films.iter().find(|t| t.id == id)) {
                        Some(t) => film_info(&b, t),
                        // what panels answer for an unknown film (apps show "not found")
                        None => json!({"info": [], "movie_data": []}),
                    }
                }
                "get_series_categories" => {
                    let firsts: Vec<&Title> =
                        series_of(&titles).iter().map(|(_, e)| e[0]).collect();
                    json!(vod_categories(&firsts, &cats))
                }
                "get_series" => Value::Array(
                    series_of(&titles)
                        .iter()
                        .filter(|(_, e)| {
                            want.as_ref()
                                .is_none_or(|w| *w == vod_category_id(e[0]).to_string())
                        })
                        .enumerate()
                        .map(|(i, (n, e))| series_item(&b, i + 1, n, e))
                        .collect(),
                ),
                _ => {
                    let id = id_param(&p, "series_id");
                    match series_of(&titles)
                        .iter()
                        .find(|(n, _)| Some(series_id(n)) == id)
                    {
                        Some((n, e)) => series_info(&b, n, e),
                        None => json!({"seasons": [], "info": {"name": null}, "episodes": {}}),
                    }
                }
            }
        }
        "get_short_epg" | "get_simple_data_table" => {
            let full = action == "get_simple_data_table";
            let limit = if full {
                MAX_EPG_LISTINGS
            } else {
                p.get("limit")
                    .and_then(|l| l.parse::<usize>().ok())
                    .unwrap_or(4)
                    .clamp(1, MAX_EPG_LISTINGS)
            };
            match epg_listings(&st, &account, id_param(&p, "stream_id"), full, limit).await {
                Ok(v) => v,
                Err(r) => return r,
            }
        }
        // the login object: no action, get_profile / get_server_info (asked by some apps),
        // and actions this server does not know
        _ => login_object(&st, &account, &headers, &password),
    };
    status_json(StatusCode::OK, out)
}

async fn epg_listings(
    st: &AppState,
    account: &Account,
    stream_id: Option<i64>,
    full: bool,
    limit: usize,
) -> Result<Value, Response> {
    let chs = channels(st, account).await?;
    let Some(c) = chs.iter().find(|c| Some(c.stream_id) == stream_id) else {
        return Ok(json!({"epg_listings": []}));
    };
    let now_ms = st.clock.now_utc().0;
    let from = if full {
        now_ms - c.ch.retention_hours.max(24) as i64 * 3_600_000
    } else {
        now_ms
    };
    let to = now_ms + 14 * 86_400_000;
    let id = c.ch.id.clone();
    let rows = st
        .store
        .read(move |conn| crate::guide::programmes(conn, &id, from, to))
        .await
        .map_err(internal)?;
    let rows: Vec<_> = rows.into_iter().take(limit).collect();
    let progs = epg::programmes_json(st, &c.ch.id, rows)
        .await
        .map_err(|e| e.into_response())?;
    let zone = st.viewers.settings.zone;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let now_s = now_ms / 1000;
    let listings: Vec<Value> = progs
        .iter()
        .map(|p| {
            let (start, stop) = (
                p["start"].as_i64().unwrap_or(0),
                p["stop"].as_i64().unwrap_or(0),
            );
            let mut v = json!({
                "id": format!("{}{}", c.stream_id, start),
                "epg_id": c.stream_id.to_string(),
                "title": b64(p["title"].as_str().unwrap_or("")),
                "lang": "",
                "start": zone.datetime(start),
                "end": zone.datetime(stop),
                "description": b64(p["description"].as_str().unwrap_or("")),
                "channel_id": c.ch.id,
                "start_timestamp": start.to_string(),
                "stop_timestamp": stop.to_string(),
            });
            if full {
                v["now_playing"] = json!(u8::from(start <= now_s && now_s < stop));
                v["has_archive"] = json!(u8::from(p["catchup"].as_bool().unwrap_or(false)));
            } else {
                v["stop"] = json!(zone.datetime(stop));
            }
            v
        })
        .collect();
    Ok(json!({"epg_listings": listings}))
}

/// `GET|POST /panel_api.php`: the login object with the categories and channels (older apps).
pub async fn panel_api(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    Query(query): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&method, query, &body);
    let account = match login_params(&st, peer, &p).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let password = p.get("password").cloned().unwrap_or_default();
    let (b, _, _) = base(&st, &headers);
    let chs = match channels(&st, &account).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (titles, cats) = match library(&st, &account).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let films: Vec<&Title> = titles.iter().filter(|t| t.series.is_empty()).collect();
    let firsts: Vec<&Title> = series_of(&titles).iter().map(|(_, e)| e[0]).collect();
    let mut out = login_object(&st, &account, &headers, &password);
    out["categories"] = json!({
        "live": live_categories(&chs),
        "movie": vod_categories(&films, &cats),
        "series": vod_categories(&firsts, &cats),
    });
    let available: serde_json::Map<String, Value> = chs
        .iter()
        .enumerate()
        .map(|(i, c)| (c.stream_id.to_string(), live_stream(&b, i + 1, c)))
        .collect();
    out["available_channels"] = Value::Object(available);
    status_json(StatusCode::OK, out)
}

// ---------------------------------------------------------------------------------------------
// get.php and xmltv.php

/// `GET|POST /get.php?username=&password=&type=m3u_plus&output=ts|m3u8`: the account's
/// channels as M3U, with Kodi's `xc` catch-up and a template every catch-up app reads.
pub async fn get_php(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    Query(query): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&method, query, &body);
    let account = match login_params(&st, peer, &p).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let password = p.get("password").cloned().unwrap_or_default();
    let chs = match channels(&st, &account).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (b, _, _) = base(&st, &headers);
    let (u, pw) = (seg(&account.username), seg(&password));
    let hls = matches!(p.get("output").map(String::as_str), Some("m3u8" | "hls"));
    let ext = if hls { ".m3u8" } else { ".ts" };
    let entries: Vec<::epg::M3uEntry> = chs
        .iter()
        .map(|c| ::epg::M3uEntry {
            tvg_id: c.ch.id.clone(),
            tvg_name: c.ch.name.clone(),
            tvg_logo: logo(&b, &c.ch.logo),
            tvg_chno: c.ch.number,
            group_title: c.ch.group.clone(),
            name: c.ch.name.clone(),
            // Kodi's xc catch-up reads the stream id from these two forms only
            url: if hls {
                format!("{b}/live/{u}/{pw}/{}.m3u8", c.stream_id)
            } else {
                format!("{b}/{u}/{pw}/{}", c.stream_id)
            },
            catchup: c.ch.record.then(|| ::epg::Catchup {
                mode: "xc".into(),
                days: archive_days(&c.ch),
                source: format!(
                    "{b}/timeshift/{u}/{pw}/{{duration:60}}/{{Y}}-{{m}}-{{d}}:{{H}}-{{M}}/{}{ext}",
                    c.stream_id
                ),
            }),
        })
        .collect();
    let text = ::epg::write_m3u(
        &::epg::M3uHeader {
            url_tvg: format!("{b}/xmltv.php?username={u}&password={pw}"),
        },
        &entries,
    );
    let mut r = (
        [
            (header::CONTENT_TYPE, "audio/x-mpegurl; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"playlist.m3u\"",
            ),
        ],
        text,
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /xmltv.php?username=&password=`: the account's channels' guide (XMLTV).
pub async fn xmltv_php(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(p): Query<Params>,
) -> Response {
    let account = match login_params(&st, peer, &p).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let acct = account.clone();
    match epg::xmltv_bytes_for(&st, move |c| acct.may_watch_group(&c.group)).await {
        Ok(xml) => (
            [
                (header::CONTENT_TYPE, "application/xml; charset=utf-8"),
                (header::CACHE_CONTROL, "private, max-age=300"),
            ],
            xml,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Streams

/// A stream id with its extension: `123.ts` → (123, "ts"); `123` → (123, "").
fn split_stream(s: &str) -> Option<(i64, &str)> {
    let (id, ext) = s.split_once('.').unwrap_or((s, ""));
    let n = id
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0 && id.len() <= 12)?;
    Some((n, ext))
}

fn not_found(what: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!("no such {what} for this account\n"),
    )
}

/// `/live/U/P/{id}.ts|.m3u8`, and `/U/P/{id}` (Kodi's and STBs' short form: MPEG-TS).
pub async fn live_stream_url(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((user, password, stream)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    live_or_shift(&st, peer, &user, &password, &stream, &headers).await
}

async fn live_or_shift(
    st: &AppState,
    peer: SocketAddr,
    user: &str,
    password: &str,
    stream: &str,
    headers: &HeaderMap,
) -> Response {
    let account = match login(st, peer, user, password).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some((sid, ext)) = split_stream(stream) else {
        return not_found("stream");
    };
    let (c, presence) = match channel_watched(st, &account, sid, peer, headers, kind_of(ext)).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    match ext {
        "m3u8" | "m3u" => {
            drop(presence);
            redirect(&format!(
                "/live/{}/{}/{sid}/index.m3u8",
                seg(user),
                seg(password)
            ))
        }
        "" | "ts" | "mpegts" => {
            let r = super::live::serve(st, c.ch.id, "mpegts", peer, &HashMap::new(), headers).await;
            holding(r, presence)
        }
        _ => not_found("stream format (use .ts or .m3u8)"),
    }
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `/live/U/P/{id}/{file}`: the HLS playlists and segments behind a `.m3u8` stream URL (live,
/// and the catch-up range playlists a timeshift URL leads to), each request keeping the
/// device's session.
pub async fn live_hls_file(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((user, password, sid, file)): Path<(String, String, String, String)>,
    Query(query): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let account = match login(&st, peer, &user, &password).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some((sid, "")) = split_stream(&sid) else {
        return not_found("stream");
    };
    let (c, presence) =
        match channel_watched(&st, &account, sid, peer, &headers, Kind::Request).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let r = super::live::serve(&st, c.ch.id, &file, peer, &query, &headers).await;
    holding(r, presence)
}

/// `/timeshift/U/P/{minutes}/{start}/{id}.ts|.m3u8`: a catch-up range, as apps build it from
/// the EPG strings (the start in `xc_timezone`).
pub async fn timeshift_url(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((user, password, minutes, start, stream)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    timeshift(
        &st, peer, &user, &password, &minutes, &start, &stream, &headers,
    )
    .await
}

/// `/streaming/timeshift.php?username&password&stream&start&duration`: the same.
pub async fn timeshift_php(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let g = |k: &str| p.get(k).cloned().unwrap_or_default();
    let stream = g("stream");
    let stream = if stream.contains('.') {
        stream
    } else {
        format!("{stream}.ts")
    };
    timeshift(
        &st,
        peer,
        &g("username"),
        &g("password"),
        &g("duration"),
        &g("start"),
        &stream,
        &headers,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn timeshift(
    st: &AppState,
    peer: SocketAddr,
    user: &str,
    password: &str,
    minutes: &str,
    start: &str,
    stream: &str,
    headers: &HeaderMap,
) -> Response {
    let account = match login(st, peer, user, password).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let minutes = match minutes.parse::<i64>() {
        Ok(m) if (1..=7 * 24 * 60).contains(&m) => m,
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("duration '{minutes}' must be minutes, 1..10080\n"),
            )
        }
    };
    let from_s = match st.viewers.settings.zone.parse_start(start) {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let Some((sid, ext)) = split_stream(stream) else {
        return not_found("stream");
    };
    let (c, presence) = match channel_watched(st, &account, sid, peer, headers, kind_of(ext)).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let duration_s = minutes * 60;
    match ext {
        "m3u8" | "m3u" => {
            drop(presence);
            redirect(&format!(
                "/live/{}/{}/{sid}/index-{from_s}-{duration_s}.m3u8",
                seg(user),
                seg(password)
            ))
        }
        "" | "ts" => {
            let r = super::archive::serve(
                st,
                c.ch.id,
                super::archive::CatchupRequest::TsDownload { from_s, duration_s },
                None,
            )
            .await;
            holding(r, presence)
        }
        _ => not_found("stream format (use .ts or .m3u8)"),
    }
}

/// `/movie/U/P/{id}.{ext}` and `/series/U/P/{id}.{ext}`: the title's MP4 file (byte ranges),
/// whatever extension the app puts on it.
pub async fn movie_url(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((user, password, stream)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    title_file(&st, peer, &user, &password, &stream, &headers, false).await
}

pub async fn series_url(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((user, password, stream)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    title_file(&st, peer, &user, &password, &stream, &headers, true).await
}

async fn title_file(
    st: &AppState,
    peer: SocketAddr,
    user: &str,
    password: &str,
    stream: &str,
    headers: &HeaderMap,
    episode: bool,
) -> Response {
    let account = match login(st, peer, user, password).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some((id, _)) = split_stream(stream) else {
        return not_found("title");
    };
    if st.vod.is_none() {
        return not_found("title");
    }
    let t = match st.store.read(move |c| catalog::get(c, id)).await {
        Ok(t) => t,
        Err(crate::store::StoreError::NotFound) => return not_found("title"),
        Err(e) => return internal(e),
    };
    if t.series.is_empty() == episode
        || !account.may_watch_category(t.category.as_deref().unwrap_or(""))
    {
        return not_found("title");
    }
    let presence = match enter(st, &account, peer, headers, Kind::Request) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match super::vod::viewer_file(
        State(st.clone()),
        Path((id.to_string(), "file.mp4".to_string())),
        headers.clone(),
    )
    .await
    {
        Ok(r) => holding(r, presence),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert_eq!(split_stream("12.ts"), Some((12, "ts")));
        assert_eq!(split_stream("12"), Some((12, "")));
        assert_eq!(split_stream("12.m3u8"), Some((12, "m3u8")));
        assert_eq!(split_stream("0.ts"), None);
        assert_eq!(split_stream("x.ts"), None);
        assert_eq!(split_stream("-3"), None);
        assert_eq!(split_stream("1234567890123"), None);
    }

    #[test]
    fn form_bodies_and_queries_merge() {
        let q: Params = [("username".to_string(), "a".to_string())].into();
        let p = params(&Method::POST, q, b"password=b%2Fc&action=get_series");
        assert_eq!(p["username"], "a");
        assert_eq!(p["password"], "b/c");
        assert_eq!(p["action"], "get_series");
        let p = params(&Method::GET, Params::new(), b"password=x");
        assert!(p.is_empty());
    }
}
