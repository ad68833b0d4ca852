//! Every route the server has, in one table: method, path, who may call it, the handler and its
//! OpenAPI description. The router ([`router`]) and `/api/openapi.json` are both built from it,
//! and the access rule is enforced here in front of the handler, so no route can be served
//! without being documented or without its check (`tests/admin_api.rs` and `tests/invariants.rs`
//! then request every row of the running server).

use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use super::{
    account, assets, channels, cluster, epg, live, logs, manage, metrics, openapi, player,
    recording, viewers, vod, xc,
};
use super::{Admin as AdminCaller, AppState, Authed};

/// Who may call a route. `Staff` and `Admin` are enforced by the router in front of the handler
/// ([`router`]); `Viewer` routes are the ones `viewer_gate` applies the viewer rules to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Who {
    /// Anyone: the web pages and their files (not in the OpenAPI document).
    Page,
    /// Anyone (health, metrics, sign-in).
    Open,
    /// Viewers: open unless viewer tokens or subnets are configured.
    Viewer,
    /// Admins and operators (session cookie + CSRF, API token, or Basic).
    Staff,
    /// Admins only.
    Admin,
    /// Other nodes of the cluster: the cluster key in `x-atoll-cluster-key`.
    Cluster,
}

/// One route: a method on a path, who may call it, its handler and its documentation.
pub struct Route {
    /// Lower case, as in OpenAPI: get, post, put, delete.
    pub method: &'static str,
    /// An axum path (`{id}` captures, `{*rest}` a tail).
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub who: Who,
    /// Request body schema (a component name), if any.
    pub body: Option<&'static str>,
    /// Success status and response schema (a component name, or "" for none).
    pub ok: (u16, &'static str),
    /// Query parameters: (name, type, description).
    pub query: &'static [(&'static str, &'static str, &'static str)],
    /// The handler, for the given method.
    pub serve: fn(MethodFilter) -> MethodRouter<AppState>,
}

#[allow(clippy::too_many_arguments)]
const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    who: Who,
    body: Option<&'static str>,
    ok: (u16, &'static str),
    serve: fn(MethodFilter) -> MethodRouter<AppState>,
) -> Route {
    Route {
        method,
        path,
        tag,
        summary,
        who,
        body,
        ok,
        query: &[],
        serve,
    }
}

/// A web page or file: open to anyone, not in the OpenAPI document.
const fn page(path: &'static str, serve: fn(MethodFilter) -> MethodRouter<AppState>) -> Route {
    op("get", path, "pages", "", Page, None, (200, ""), serve)
}

const PAGE: &[(&str, &str, &str)] = &[
    ("limit", "integer", "rows, 1 to 1000 (default 100)"),
    (
        "before",
        "integer",
        "only rows with a smaller id (next page)",
    ),
];
const RANGE: &[(&str, &str, &str)] = &[
    ("from", "integer", "unix seconds"),
    ("to", "integer", "unix seconds"),
];

const XC_LOGIN: &[(&str, &str, &str)] = &[
    ("username", "string", "viewer account"),
    ("password", "string", "its password"),
];
const XC_LOGIN_ACTION: &[(&str, &str, &str)] = &[
    ("username", "string", "viewer account"),
    ("password", "string", "its password"),
    ("action", "string", "what to list (none: the login object)"),
    ("category_id", "string", "only this category"),
    ("stream_id", "integer", "a channel (EPG actions)"),
    ("vod_id", "integer", "a film (get_vod_info)"),
    ("series_id", "integer", "a series (get_series_info)"),
    ("limit", "integer", "programmes (get_short_epg, default 4)"),
];
const XC_GET_PHP: &[(&str, &str, &str)] = &[
    ("username", "string", "viewer account"),
    ("password", "string", "its password"),
    ("type", "string", "m3u_plus"),
    ("output", "string", "ts (default) or m3u8"),
];

use Who::*;

/// Every route the server has.
pub const ROUTES: &[Route] = &[
    page("/", |m| on(m, player::page)),
    page("/index.html", |m| on(m, player::page)),
    page("/manifest.webmanifest", |m| on(m, player::manifest)),
    page("/sw.js", |m| on(m, player::service_worker)),
    page("/admin", |m| on(m, assets::admin_page)),
    page("/admin/", |m| on(m, assets::admin_page)),
    page("/assets/{*path}", |m| on(m, assets::asset)),
    op("get", "/healthz", "system", "Liveness: `ok` while the server runs", Open, None, (200, ""), |m| on(m, || async { "ok\n" })),
    op("get", "/metrics", "system", "Prometheus metrics", Open, None, (200, ""), |m| on(m, metrics::metrics)),
    op("get", "/api/openapi.json", "system", "This document", Open, None, (200, ""), |m| on(m, openapi::serve)),
    op("get", "/api/session", "accounts", "Who the session cookie belongs to, and its CSRF token", Open, None, (200, "Session"), |m| on(m, account::current)),
    op("post", "/api/session", "accounts", "Sign in: sets the HttpOnly `atoll_session` cookie", Open, Some("SignIn"), (200, "Session"), |m| on(m, account::sign_in)),
    op("delete", "/api/session", "accounts", "Sign out", Staff, None, (204, ""), |m| on(m, account::sign_out)),
    op("get", "/api/users", "accounts", "List accounts", Admin, None, (200, "UserList"), |m| on(m, account::list_users)),
    op("post", "/api/users", "accounts", "Add an account", Admin, Some("UserInput"), (201, "User"), |m| on(m, account::create_user)),
    op("put", "/api/users/{name}", "accounts", "Change an account (admins: anything; others: their own password, with current_password)", Staff, Some("UserChange"), (200, "User"), |m| on(m, account::update_user)),
    op("get", "/api/tokens", "accounts", "List API tokens (admins: all; others: their own)", Staff, None, (200, "TokenList"), |m| on(m, account::list_tokens)),
    op("post", "/api/tokens", "accounts", "Make an API token (shown once)", Staff, Some("TokenInput"), (201, "NewToken"), |m| on(m, account::create_token)),
    op("delete", "/api/tokens/{id}", "accounts", "Revoke an API token", Staff, None, (204, ""), |m| on(m, account::delete_token)),
    Route { query: PAGE, ..op("get", "/api/audit", "accounts", "The audit log, newest first", Admin, None, (200, "AuditList"), |m| on(m, account::audit_log)) },
    op("get", "/api/channels", "channels", "The lineup with live status", Staff, None, (200, "ChannelList"), |m| on(m, channels::list)),
    op("post", "/api/channels", "channels", "Add a channel (id and name required)", Staff, Some("ChannelInput"), (201, "Channel"), |m| on(m, channels::create)),
    op("get", "/api/channels/{id}", "channels", "One channel with live status", Staff, None, (200, "Channel"), |m| on(m, channels::get_one)),
    op("put", "/api/channels/{id}", "channels", "Change the fields sent", Staff, Some("ChannelInput"), (200, "Channel"), |m| on(m, channels::update)),
    Route { query: &[("archive", "string", "keep (default: recordings stay until retention) or remove (deleted now)")],
        ..op("delete", "/api/channels/{id}", "channels", "Delete a channel", Staff, None, (204, ""), |m| on(m, channels::delete)) },
    Route { query: PAGE, ..op("get", "/api/channels/{id}/events", "channels", "The channel's status history, newest first", Staff, None, (200, "EventList"), |m| on(m, channels::events)) },
    op("get", "/api/channels/export", "channels", "The lineup as JSON for import", Staff, None, (200, "Lineup"), |m| on(m, manage::export)),
    op("post", "/api/channels/import", "channels", "Create or update channels from JSON or an M3U playlist", Staff, Some("Lineup"), (200, "ImportResult"), |m| on(m, manage::import)),
    op("post", "/api/probe", "channels", "Try a source for a few seconds and say what it carries", Staff, Some("ProbeInput"), (200, "ProbeResult"), |m| on(m, manage::probe)),
    op("get", "/api/channels/{id}/recording", "recording", "Recording state", Staff, None, (200, "Recording"), |m| on(m, recording::recording)),
    op("post", "/api/channels/{id}/recording/{action}", "recording", "Start or stop recording (action: start or stop)", Staff, None, (200, "Recording"), |m| on(m, recording::set_recording)),
    Route { query: RANGE, ..op("get", "/api/channels/{id}/archive", "recording", "Recorded intervals and gaps", Staff, None, (200, "Coverage"), |m| on(m, recording::intervals)) },
    op("get", "/api/archive/usage", "recording", "Archive disk use per channel", Staff, None, (200, "Usage"), |m| on(m, recording::usage)),
    op("get", "/api/archive/kept", "recording", "Recordings kept on disk from deleted channels (size, span, when retention removes them)", Admin, None, (200, "Object"), |m| on(m, recording::kept)),
    op("delete", "/api/archive/kept/{id}", "recording", "Remove a deleted channel's kept recordings now (audited)", Admin, None, (200, "Object"), |m| on(m, recording::remove_kept)),
    op("get", "/api/system", "system", "CPU, memory, disks, uptime, clock, per-channel bitrates and viewers", Staff, None, (200, "System"), |m| on(m, manage::system)),
    Route { query: &[("limit", "integer", "entries, 1 to 500 (default 500)")],
        ..op("get", "/api/log", "system", "The last warnings and errors (a ring of 500 in memory), newest first, each with its channel and reason; and the log filter in force", Staff, None, (200, "LogList"), |m| on(m, logs::recent)) },
    op("put", "/api/log/level", "system", "Change the log filter until the next restart (info, debug, atoll=debug,info; ATOLL_LOG sets it at start)", Admin, Some("LogLevel"), (200, "LogLevel"), |m| on(m, logs::set_level)),
    op("post", "/api/viewer-tokens", "viewers", "Make a signed, expiring viewer token (needs viewer_access = \"token\")", Staff, Some("ViewerTokenInput"), (200, "ViewerToken"), |m| on(m, super::viewer_token)),
    op("get", "/api/epg/sources", "epg", "List XMLTV sources with sync status", Staff, None, (200, "EpgSourceList"), |m| on(m, epg::list_sources)),
    op("post", "/api/epg/sources", "epg", "Add an XMLTV source", Staff, Some("EpgSourceInput"), (201, "EpgSource"), |m| on(m, epg::create_source)),
    op("get", "/api/epg/sources/{id}", "epg", "One XMLTV source", Staff, None, (200, "EpgSource"), |m| on(m, epg::get_source)),
    op("put", "/api/epg/sources/{id}", "epg", "Change an XMLTV source", Staff, Some("EpgSourceInput"), (200, "EpgSource"), |m| on(m, epg::update_source)),
    op("delete", "/api/epg/sources/{id}", "epg", "Remove an XMLTV source", Staff, None, (204, ""), |m| on(m, epg::delete_source)),
    op("post", "/api/epg/sources/{id}/sync", "epg", "Sync now", Staff, None, (202, "EpgSource"), |m| on(m, epg::sync_source)),
    Route { query: &[("channel", "string", "channel id (required)"), ("from", "integer", "unix seconds"), ("to", "integer", "unix seconds")],
        ..op("get", "/api/epg", "epg", "A channel's programmes, with catch-up availability", Viewer, None, (200, "Object"), |m| on(m, epg::guide_for_channel)) },
    op("get", "/api/epg/now", "epg", "Now and next on every channel", Viewer, None, (200, "Object"), |m| on(m, epg::now_next)),
    Route { query: &[("q", "string", "text in the title")], ..op("get", "/api/epg/search", "epg", "Search programmes", Viewer, None, (200, "Object"), |m| on(m, epg::search)) },
    op("get", "/api/player/channels", "viewers", "The viewer page's lineup: active channels, live state, catch-up window, now/next (no sources or keys)", Viewer, None, (200, "Object"), |m| on(m, player::channels)),
    Route { query: RANGE, ..op("get", "/api/player/guide", "viewers", "Every channel's programmes over a range of at most 2 days, with catch-up flags", Viewer, None, (200, "Object"), |m| on(m, player::guide_range)) },
    op("get", "/playlist.m3u", "viewers", "M3U for IPTV apps (catch-up attributes, guide URL)", Viewer, None, (200, ""), |m| on(m, epg::playlist)),
    op("get", "/epg.xml", "viewers", "XMLTV guide of the lineup", Viewer, None, (200, ""), |m| on(m, epg::epg_xml)),
    op("get", "/epg.xml.gz", "viewers", "The same, gzipped", Viewer, None, (200, ""), |m| on(m, epg::epg_xml_gz)),
    Route { query: &[("utc", "integer", "start of a catch-up (shift/flussonic modes)"), ("lutc", "integer", "the app's now"), ("token", "string", "viewer token")],
        ..op("get", "/live/{id}/{file}", "viewers", "Live and catch-up: index.m3u8, {seq}.ts, mpegts, index-{from}-{duration}.m3u8, timeshift_abs-{from}.m3u8, timeshift_rel-{s}.m3u8, archive-{from}-{duration}.ts …", Viewer, None, (200, ""), |m| on(m, live::live_file)) },
    Route { query: &[("q", "string", "text in a title, the series or the description"), ("category", "string", "category name"), ("series", "string", "series name"), ("limit", "integer", "at most this many (1..1000, default 200)"), ("offset", "integer", "skip this many")],
        ..op("get", "/api/vod", "vod", "The VOD library: films and episodes, newest first", Staff, None, (200, "VodList"), |m| on(m, vod::list)) },
    op("get", "/api/vod/categories", "vod", "Categories with their number of titles", Staff, None, (200, "Object"), |m| on(m, vod::categories)),
    op("get", "/api/vod/imports", "vod", "Imports (uploads, watch folder, CLI), newest first, with progress and outcome", Staff, None, (200, "Object"), |m| on(m, vod::imports)),
    op("get", "/api/vod/imports/{id}", "vod", "One import", Staff, None, (200, "Object"), |m| on(m, vod::import_one)),
    op("options", "/api/vod/uploads", "vod", "tus 1.0 discovery: version, extensions, Tus-Max-Size", Open, None, (204, ""), |m| on(m, vod::tus_options)),
    op("post", "/api/vod/uploads", "vod", "Start a resumable upload (tus 1.0 creation: Upload-Length, Upload-Metadata filename/title/category); the Location header is the upload's URL", Staff, None, (201, ""), |m| on(m, vod::tus_create)),
    op("head", "/api/vod/uploads/{id}", "vod", "tus 1.0: Upload-Offset and Upload-Length of an upload", Staff, None, (200, ""), |m| on(m, vod::tus_head)),
    op("get", "/api/vod/uploads/{id}", "vod", "An upload as JSON: offset, length, and its import once complete", Staff, None, (200, "Object"), |m| on(m, vod::upload_status)),
    op("patch", "/api/vod/uploads/{id}", "vod", "tus 1.0: append bytes at Upload-Offset (application/offset+octet-stream); when complete the file is imported", Staff, None, (204, ""), |m| on(m, vod::tus_patch)),
    op("delete", "/api/vod/uploads/{id}", "vod", "tus 1.0 termination: abandon an upload", Staff, None, (204, ""), |m| on(m, vod::tus_delete)),
    op("get", "/api/vod/{id}", "vod", "One title", Staff, None, (200, "VodTitle"), |m| on(m, vod::get_one)),
    op("put", "/api/vod/{id}", "vod", "Change the fields sent (title, title_en, description, category, year, genre, series, season, episode)", Staff, Some("VodTitle"), (200, "VodTitle"), |m| on(m, vod::update)),
    op("delete", "/api/vod/{id}", "vod", "Delete a title and its files", Staff, None, (204, ""), |m| on(m, vod::delete)),
    Route { query: &[("language", "string", "the subtitles' language code (en, zh, fra …)")],
        ..op("post", "/api/vod/{id}/subtitles", "vod", "Add a subtitle track (SRT as application/x-subrip or WebVTT as text/vtt; kept as WebVTT)", Staff, None, (200, "VodTitle"), |m| on(m, vod::add_subtitle)) },
    op("delete", "/api/vod/{id}/subtitles/{n}", "vod", "Remove subtitle track n (its place in the title's subtitles)", Staff, None, (200, "VodTitle"), |m| on(m, vod::delete_subtitle)),
    op("put", "/api/vod/{id}/poster", "vod", "Replace the poster (image/jpeg body, at most 8 MiB)", Staff, None, (200, "VodTitle"), |m| on(m, vod::put_poster)),
    Route { query: &[("q", "string", "text in a title"), ("category", "string", "category name"), ("series", "string", "series name")],
        ..op("get", "/api/player/vod", "viewers", "The player's library: categories and titles (posters, tracks, URLs)", Viewer, None, (200, "Object"), |m| on(m, vod::player_list)) },
    Route { query: &[("token", "string", "viewer token")],
        ..op("get", "/vod/{id}/{*file}", "viewers", "A title: index.m3u8 (HLS master: video, an audio rendition per language, subtitles), its renditions and segments, file.mp4 (byte ranges), poster.jpg", Viewer, None, (200, ""), |m| on(m, vod::viewer_file)) },
    op("get", "/api/viewers", "viewer accounts", "Viewer accounts (IPTV app logins) with their active connections", Staff, None, (200, "ViewerList"), |m| on(m, viewers::list)),
    op("post", "/api/viewers", "viewer accounts", "Add a viewer account (username and password required)", Staff, Some("ViewerInput"), (201, "Viewer"), |m| on(m, viewers::create)),
    op("get", "/api/viewers/export", "viewer accounts", "Every viewer account as CSV (username,password,enabled,expires,max_connections,groups,vod_categories,note; the password column empty)", Staff, None, (200, ""), |m| on(m, viewers::export)),
    op("post", "/api/viewers/import", "viewer accounts", "Create and update viewer accounts from CSV (text/csv, the export's columns; groups and categories |-separated); all or nothing; new accounts without a password get one, returned once", Staff, None, (200, "ViewerImport"), |m| on(m, viewers::import)),
    op("get", "/api/viewers/{username}", "viewer accounts", "One viewer account", Staff, None, (200, "Viewer"), |m| on(m, viewers::get_one)),
    op("put", "/api/viewers/{username}", "viewer accounts", "Change the fields sent (password, enabled, expires, max_connections, packages, note)", Staff, Some("ViewerInput"), (200, "Viewer"), |m| on(m, viewers::update)),
    op("delete", "/api/viewers/{username}", "viewer accounts", "Delete a viewer account (its apps are logged out)", Staff, None, (204, ""), |m| on(m, viewers::delete)),
    Route { query: XC_LOGIN_ACTION, ..op("get", "/player_api.php", "xtream codes", "Xtream Codes API: the login object (user_info, server_info), or an action's answer: get_live_categories, get_live_streams, get_vod_categories, get_vod_streams, get_vod_info, get_series_categories, get_series, get_series_info, get_short_epg, get_simple_data_table (needs viewer_accounts = true)", Open, None, (200, "Object"), |m| on(m, xc::player_api)) },
    Route { query: XC_LOGIN_ACTION, ..op("post", "/player_api.php", "xtream codes", "The same, with a form body", Open, None, (200, "Object"), |m| on(m, xc::player_api)) },
    Route { query: XC_GET_PHP, ..op("get", "/get.php", "xtream codes", "The account's channels as M3U (type=m3u_plus, output=ts|m3u8), with catch-up attributes", Open, None, (200, ""), |m| on(m, xc::get_php)) },
    Route { query: XC_GET_PHP, ..op("post", "/get.php", "xtream codes", "The same, with a form body", Open, None, (200, ""), |m| on(m, xc::get_php)) },
    Route { query: XC_LOGIN, ..op("get", "/xmltv.php", "xtream codes", "The account's guide as XMLTV", Open, None, (200, ""), |m| on(m, xc::xmltv_php)) },
    Route { query: XC_LOGIN, ..op("get", "/panel_api.php", "xtream codes", "The login object with the categories and available channels (older apps)", Open, None, (200, "Object"), |m| on(m, xc::panel_api)) },
    Route { query: XC_LOGIN, ..op("post", "/panel_api.php", "xtream codes", "The same, with a form body", Open, None, (200, "Object"), |m| on(m, xc::panel_api)) },
    op("get", "/live/{user}/{password}/{stream}", "xtream codes", "A channel: {stream_id}.ts (endless MPEG-TS) or {stream_id}.m3u8 (302 to its HLS playlist)", Open, None, (200, ""), |m| on(m, xc::live_stream_url)),
    op("get", "/live/{user}/{password}/{stream}/{file}", "xtream codes", "The HLS playlists and segments behind a .m3u8 stream or timeshift URL", Open, None, (200, ""), |m| on(m, xc::live_hls_file)),
    op("get", "/movie/{user}/{password}/{stream}", "xtream codes", "A film's MP4 file ({id}.{ext}, byte ranges)", Open, None, (200, ""), |m| on(m, xc::movie_url)),
    op("get", "/series/{user}/{password}/{stream}", "xtream codes", "An episode's MP4 file ({id}.{ext}, byte ranges)", Open, None, (200, ""), |m| on(m, xc::series_url)),
    op("get", "/timeshift/{user}/{password}/{minutes}/{start}/{stream}", "xtream codes", "Catch-up: {minutes} from {start} (YYYY-MM-DD:HH-MM[-SS], YYYY-MM-DD_HH-MM or unix seconds, in xc_timezone) of {stream_id}.ts (one MPEG-TS) or .m3u8 (302 to the range playlist)", Open, None, (200, ""), |m| on(m, xc::timeshift_url)),
    Route { query: &[("username", "string", ""), ("password", "string", ""), ("stream", "integer", "stream_id"), ("start", "string", "as in /timeshift/"), ("duration", "integer", "minutes")],
        ..op("get", "/streaming/timeshift.php", "xtream codes", "Catch-up, the query form", Open, None, (200, ""), |m| on(m, xc::timeshift_php)) },
    op("get", "/{user}/{password}/{stream}", "xtream codes", "A channel as endless MPEG-TS: the short form Kodi's and set-top boxes' playlists use", Open, None, (200, ""), |m| on(m, xc::live_stream_url)),
    op("get", "/api/cluster/vod", "cluster", "Node to node: the VOD catalogue (every title with its SHA-256, categories, a revision) an edge mirrors", Cluster, None, (200, "Object"), |m| on(m, vod::cluster_catalogue)),
    op("get", "/api/cluster/vod/{id}/{file}", "cluster", "Node to node: a title's file for an edge's mirror (media.mp4 with byte ranges, poster.jpg, sub-{n}.vtt)", Cluster, None, (200, ""), |m| on(m, vod::cluster_file)),
    op("get", "/api/cluster/ping", "cluster", "Node to node: this node is up", Cluster, None, (200, "Object"), |m| on(m, cluster::ping)),
    op("post", "/api/cluster/report", "cluster", "Node to node: a node's figures, every 2 s (viewers, egress, CPU, disk, channels, clock)", Cluster, Some("Report"), (200, "Object"), |m| on(m, cluster::report)),
    op("get", "/api/cluster/nodes", "cluster", "Every node known: role, health, last report, load, clock offset, capacity", Staff, None, (200, "Object"), |m| on(m, cluster::nodes)),
    op("get", "/api/cluster/events", "cluster", "What happened to the nodes, newest first: joined, unhealthy, healthy again, an edge's origin switch", Staff, None, (200, "Object"), |m| on(m, cluster::events)),
    op("put", "/api/cluster/nodes/{name}", "cluster", "A node's capacity (max_viewers, max_mbps) and the client subnets it serves first", Staff, Some("NodeCapacity"), (200, "Object"), |m| on(m, cluster::set_node)),
    Route { query: &[("from_ms", "integer", "start, ms since the epoch"), ("to_ms", "integer", "end, ms since the epoch")],
        ..op("get", "/api/cluster/archive/{id}", "cluster", "Node to node: archived segments starting in a range (edges back-fill from it)", Cluster, None, (200, "Object"), |m| on(m, cluster::archive_list)) },
    op("get", "/api/cluster/archive/{id}/{file}", "cluster", "Node to node: one archived segment's bytes ({start_utc_ms}.ts)", Cluster, None, (200, ""), |m| on(m, cluster::archive_segment)),
    op("get", "/api/cluster/config", "cluster", "Node to node: every channel as configured, sources and keys included (a backup origin follows it)", Cluster, None, (200, "Object"), |m| on(m, cluster::config)),
    op("get", "/api/cluster/guide", "cluster", "Node to node: the whole guide as gzipped XMLTV (channel ids as XMLTV ids)", Cluster, None, (200, ""), |m| on(m, epg::epg_xml_gz)),
    op("get", "/api/cluster/lineup", "cluster", "Node to node: the active channels an edge serves, with a revision", Cluster, None, (200, "ClusterLineup"), |m| on(m, cluster::lineup)),
    Route { query: &[("after", "integer", "only segments after this sequence number"), ("wait_ms", "integer", "wait this long for one (at most 10000)")],
        ..op("get", "/api/cluster/live/{id}", "cluster", "Node to node: a channel's live segments (long-poll)", Cluster, None, (200, "LiveSegments"), |m| on(m, cluster::live_segments)) },
    op("get", "/api/cluster/live/{id}/{file}", "cluster", "Node to node: one live segment's bytes ({seq}.ts)", Cluster, None, (200, ""), |m| on(m, cluster::live_segment)),
];

/// The method filter of a lower-case method name.
fn filter(method: &str) -> MethodFilter {
    match method {
        "get" => MethodFilter::GET,
        "post" => MethodFilter::POST,
        "put" => MethodFilter::PUT,
        "delete" => MethodFilter::DELETE,
        "head" => MethodFilter::HEAD,
        "patch" => MethodFilter::PATCH,
        "options" => MethodFilter::OPTIONS,
        other => panic!("route table: unknown method {other}"),
    }
}

/// The routes of [`ROUTES`], each behind its access check.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for r in ROUTES {
        let mut serve = (r.serve)(filter(r.method));
        if r.method != "get" && origin_only(r.path) {
            // runs after the access check below (route layers wrap what is there)
            serve = serve.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                refuse_on_edge,
            ));
        }
        let serve = match r.who {
            Who::Staff => serve.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                require_staff,
            )),
            Who::Admin => serve.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                require_admin,
            )),
            Who::Cluster => serve.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                cluster::require_cluster_key,
            )),
            Who::Page | Who::Open | Who::Viewer => serve,
        };
        match by_path.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, both)) => *both = std::mem::take(both).merge(serve),
            None => by_path.push((r.path, serve)),
        }
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, serve)| {
            router.route(path, serve)
        })
}

/// Changes that belong to the origin: an edge's lineup, guide and library are the origin's.
fn origin_only(path: &str) -> bool {
    path.starts_with("/api/channels")
        || path.starts_with("/api/epg/sources")
        || path.starts_with("/api/vod")
}

/// 409 on an edge, and on a backup origin still following its primary, for [`origin_only`]
/// changes.
async fn refuse_on_edge(
    State(st): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if st.role == "edge" {
        return super::ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "edge",
            None,
            "this node is an edge: its channels, guide and library come from the origin; change them there",
        )
        .into_response();
    }
    if st.following.load(std::sync::atomic::Ordering::Relaxed) {
        return super::ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "following",
            None,
            "this backup origin follows its primary's configuration: change it there, or make this node the writer with `atoll cluster promote`",
        )
        .into_response();
    }
    next.run(req).await
}

/// In front of a `Staff` route: signed in (cookie with CSRF on changes, API token or Basic), or
/// 401/403 before the handler runs. The caller is kept for the handler's own `Authed`.
async fn require_staff(
    State(st): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    match Authed::from_request_parts(&mut parts, &st).await {
        Ok(a) => {
            parts.extensions.insert(a);
            next.run(axum::extract::Request::from_parts(parts, body))
                .await
        }
        Err(e) => e.into_response(),
    }
}

/// In front of an `Admin` route: as [`require_staff`], and an admin (403 for operators).
async fn require_admin(
    State(st): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    match AdminCaller::from_request_parts(&mut parts, &st).await {
        Ok(AdminCaller(a)) => {
            parts.extensions.insert(a);
            next.run(axum::extract::Request::from_parts(parts, body))
                .await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
            filter(r.method);
        }
    }

    /// The viewer rules (`viewer_gate`, by path) cover exactly the routes marked `Viewer`.
    #[test]
    fn viewer_routes_are_the_gated_ones() {
        for r in ROUTES {
            let sample = r
                .path
                .replace("{id}", "demo")
                .replace("{file}", "index.m3u8")
                .replace("{*path}", "x.js");
            assert_eq!(
                super::super::viewer_scope(&sample).is_some(),
                r.who == Who::Viewer,
                "{} {}: marked {:?}",
                r.method,
                r.path,
                r.who
            );
        }
    }
}
