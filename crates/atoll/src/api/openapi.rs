//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the REST API and the viewer URLs,
//! built from the route table (`api/routes.rs`) the router is built from too.

use axum::Json;
use serde_json::{json, Map, Value};

use super::routes::{Who::*, ROUTES};

fn schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    let n = |t: &str| json!({"type": [t, "null"]});
    let arr =
        |r: &str| json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{r}")}});
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let cluster_lineup = obj(
        json!({"revision": s("string"), "channels": {"type": "array", "items": obj(json!({"id": s("string"), "name": s("string"), "number": n("integer"), "group": s("string"), "logo": s("string"), "record": s("boolean"), "retention_hours": s("integer"), "epg_id": s("string"), "audio_language": s("string")}), &["id", "name"])}}),
        &["revision", "channels"],
    );
    let report = obj(
        json!({"node": s("string"), "role": s("string"), "public_url": n("string"), "viewers": s("integer"), "egress_mbps": s("number"), "cpu_percent": s("number"), "disk_free_bytes": s("integer"), "channels_pulled": s("integer"), "channels_recorded": s("integer"), "archive_lag_s": n("number"), "sent_utc_ms": s("integer")}),
        &["node", "role", "sent_utc_ms"],
    );
    let node_capacity = obj(
        json!({"max_viewers": n("integer"), "max_mbps": n("number"), "subnets": {"type": "array", "items": s("string")}}),
        &[],
    );
    let segment = obj(
        json!({"seq": s("integer"), "start_90k": s("integer"), "duration_90k": s("integer"), "start_utc_ms": s("integer"), "discontinuity": s("boolean"), "clock_step": s("boolean"), "bytes": s("integer")}),
        &["seq", "duration_90k", "start_utc_ms", "bytes"],
    );
    let live_segments = obj(
        json!({"segments": {"type": "array", "items": segment}}),
        &["segments"],
    );
    let channel_fields = json!({
        "id": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"},
        "name": s("string"), "number": n("integer"), "group": s("string"), "logo": s("string"),
        "sources": {"type": "array", "items": {"type": "string"}, "description": "failover order: udp://, rtmp://, http(s)://….m3u8, http(s)://… (TS), testsrc://; none = RTMP publish"},
        "publish_key": n("string"), "active": s("boolean"), "record": s("boolean"),
        "retention_hours": s("integer"), "epg_id": s("string"),
        "audio_language": {"type": "string", "description": "preferred audio language, the default audio rendition of the HLS master playlist: ISO 639-2 (a common ISO 639-1 code is accepted and stored as its 639-2 form); '' = the first track that is not audio description"},
    });
    let mut channel = channel_fields.as_object().cloned().unwrap_or_default();
    for (k, v) in [
        (
            "state",
            json!({"type": "string", "enum": ["live", "connecting", "offline", "slate"]}),
        ),
        ("active_source", n("string")),
        ("input_bitrate_bps", s("integer")),
        ("video", json!({"type": ["object", "null"]})),
        ("audio", json!({"type": ["object", "null"]})),
        ("viewers", s("integer")),
        ("last_error", n("string")),
        (
            "last_error_at",
            json!({"type": ["string", "null"], "format": "date-time"}),
        ),
        (
            "awaiting_encoder",
            json!({"type": "boolean", "description": "takes RTMP publish and no encoder is attached"}),
        ),
        (
            "publish",
            json!({"type": ["object", "null"], "description": "RTMP publish channels: {port, app, stream_key}; the encoder's server URL is rtmp://HOST:port/app"}),
        ),
        ("urls", s("object")),
    ] {
        channel.insert(k.into(), v);
    }
    json!({
        "Error": obj(json!({"error": s("string"), "field": n("string"), "message": s("string")}), &["error", "field", "message"]),
        "Object": s("object"),
        "LogLevel": obj(json!({"filter": s("string")}), &["filter"]),
        "LogList": obj(json!({"filter": s("string"), "capacity": s("integer"), "dropped": s("integer"), "entries": s("array")}), &["filter", "entries"]),
        "SignIn": obj(json!({"user": s("string"), "password": s("string")}), &["user", "password"]),
        "Session": obj(json!({"user": s("string"), "role": {"enum": ["admin", "operator"]}, "csrf": s("string"), "expires_utc": s("integer")}), &["user", "role", "csrf"]),
        "User": obj(json!({"name": s("string"), "role": {"enum": ["admin", "operator"]}, "disabled": s("boolean"), "created_utc": s("integer"), "last_login_utc": n("integer")}), &["name", "role", "disabled"]),
        "UserList": arr("User"),
        "UserInput": obj(json!({"name": {"type": "string", "pattern": "^[a-z0-9_.-]{1,64}$"}, "password": {"type": "string", "minLength": 8}, "role": {"enum": ["admin", "operator"]}}), &["name", "password", "role"]),
        "UserChange": obj(json!({"password": s("string"), "current_password": s("string"), "role": {"enum": ["admin", "operator"]}, "disabled": s("boolean")}), &[]),
        "Token": obj(json!({"id": s("integer"), "name": s("string"), "user": s("string"), "created_utc": s("integer"), "last_used_utc": n("integer")}), &["id", "name"]),
        "TokenList": arr("Token"),
        "TokenInput": obj(json!({"name": s("string")}), &["name"]),
        "NewToken": obj(json!({"id": s("integer"), "name": s("string"), "user": s("string"), "token": {"type": "string", "description": "atk_…, shown only here"}}), &["id", "token"]),
        "AuditEntry": obj(json!({"id": s("integer"), "at_utc": s("integer"), "user": s("string"), "ip": s("string"), "action": s("string"), "target": s("string"), "detail": {}}), &["id", "at_utc", "user", "action"]),
        "AuditList": arr("AuditEntry"),
        "Event": obj(json!({"id": s("integer"), "at_utc": s("integer"), "kind": s("string"), "message": s("string")}), &["id", "at_utc", "kind"]),
        "EventList": arr("Event"),
        "ChannelInput": {"type": "object", "properties": channel_fields},
        "Channel": {"type": "object", "properties": channel},
        "ChannelList": arr("Channel"),
        "VodTitle": obj(json!({
            "id": s("integer"), "title": s("string"), "title_en": s("string"), "description": s("string"),
            "category": n("string"), "category_id": n("integer"), "year": n("integer"), "genre": s("string"),
            "duration_s": s("number"),
            "video": obj(json!({"codec": {"enum": ["h264", "hevc"]}, "width": s("integer"), "height": s("integer")}), &["codec"]),
            "audio": {"type": "array", "items": obj(json!({"codec": {"enum": ["aac", "ac3", "eac3", "mp3"]}, "language": n("string"), "channels": s("integer"), "sample_rate": s("integer")}), &["codec"])},
            "subtitles": {"type": "array", "items": obj(json!({"language": n("string")}), &[])},
            "series": n("string"), "season": n("integer"), "episode": n("integer"),
            "added": {"type": "integer", "description": "unix seconds"},
            "container_extension": s("string"), "poster": n("string"), "hls": s("string"), "file": s("string"),
        }), &["id", "title"]),
        "VodList": obj(json!({"titles": arr("VodTitle"), "total": s("integer")}), &["titles", "total"]),
        "Viewer": obj(json!({
            "username": {"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"}, "enabled": s("boolean"),
            "expires": {"type": ["string", "null"], "format": "date", "description": "last day it may watch (YYYY-MM-DD, xc_timezone); null = never"},
            "max_connections": {"type": "integer", "minimum": 1, "maximum": 100},
            "packages": {"type": "object", "properties": {"groups": {"type": "array", "items": s("string")}, "vod_categories": {"type": "array", "items": s("string")}}, "description": "channel groups and VOD categories it may watch; empty lists = everything"},
            "note": s("string"), "created": s("string"), "last_seen": n("string"), "active_connections": s("integer"),
        }), &["username", "enabled", "max_connections", "packages"]),
        "ViewerInput": obj(json!({
            "username": {"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"}, "password": {"type": "string", "minLength": 1, "maxLength": 128},
            "enabled": s("boolean"), "expires": {"type": ["string", "null"], "format": "date"},
            "max_connections": {"type": "integer", "minimum": 1, "maximum": 100},
            "packages": {"type": "object", "properties": {"groups": {"type": "array", "items": s("string")}, "vod_categories": {"type": "array", "items": s("string")}}},
            "note": s("string"),
        }), &[]),
        "ViewerList": obj(json!({"viewers": arr("Viewer")}), &["viewers"]),
        "ViewerImport": obj(json!({"created": s("integer"), "updated": s("integer"), "generated": {"type": "array", "items": {"type": "object", "properties": {"username": s("string"), "password": s("string")}}}, "errors": s("array")}), &["created", "updated", "generated"]),
        "Lineup": obj(json!({"version": s("integer"), "channels": arr("ChannelInput")}), &["channels"]),
        "ImportResult": obj(json!({"created": s("integer"), "updated": s("integer"), "errors": {"type": "array", "items": arr("Error")["items"].clone()}}), &["created", "updated", "errors"]),
        "ProbeInput": obj(json!({"url": s("string")}), &["url"]),
        "ProbeResult": obj(json!({"url": s("string"), "video": {"type": ["object", "null"]}, "audio": {"type": ["object", "null"]}, "bitrate_bps": n("integer")}), &["url"]),
        "Recording": obj(json!({"channel": s("string"), "record": s("boolean"), "state": {"enum": ["recording", "stopped", "error", "waiting for source"]}, "bytes": s("integer"), "segments": s("integer"), "hours_kept": s("number"), "gaps": s("array")}), &["channel", "state"]),
        "Coverage": obj(json!({"channel": s("string"), "from": s("integer"), "to": s("integer"), "intervals": s("array"), "gaps": s("array")}), &["intervals", "gaps"]),
        "Usage": s("object"),
        "System": obj(json!({"version": s("string"), "uptime_s": s("integer"), "now_utc": s("integer"), "cpu": s("object"), "memory": s("object"), "disks": s("array"), "channels": s("array"), "viewers_total": s("integer"), "clock": s("object")}), &["version", "now_utc"]),
        "ViewerTokenInput": obj(json!({"channel": n("string"), "ttl_s": {"type": "integer", "minimum": 60, "maximum": 31_622_400}}), &[]),
        "ViewerToken": obj(json!({"token": s("string"), "channel": n("string"), "expires_utc": s("integer"), "urls": s("object")}), &["token", "expires_utc"]),
        "EpgSourceInput": obj(json!({"name": s("string"), "url": s("string"), "refresh_minutes": s("integer"), "enabled": s("boolean")}), &[]),
        "EpgSource": obj(json!({"id": s("integer"), "name": s("string"), "url": s("string"), "enabled": s("boolean"), "last_success": n("string"), "last_error": n("string"), "next_attempt": n("string")}), &["id", "name", "url"]),
        "EpgSourceList": arr("EpgSource"),
        "ClusterLineup": cluster_lineup,
        "Report": report,
        "NodeCapacity": node_capacity,
        "LiveSegments": live_segments,
    })
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in ROUTES.iter().filter(|r| r.who != Page) {
        let mut params: Vec<Value> = o
            .path
            .split('/')
            .filter_map(|p| p.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(o.query.iter().map(|(name, t, d)| {
            json!({"name": name, "in": "query", "required": false, "description": d, "schema": {"type": t}})
        }));
        let mut responses = Map::new();
        let ok = if o.ok.1.is_empty() {
            json!({"description": "OK"})
        } else {
            json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", o.ok.1)}}}})
        };
        responses.insert(o.ok.0.to_string(), ok);
        let err = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        match o.who {
            Staff | Admin => {
                responses.insert("401".into(), err("not signed in"));
                responses.insert(
                    "403".into(),
                    err(if o.who == Admin {
                        "not an admin, or a missing CSRF header"
                    } else {
                        "missing CSRF header (cookie sign-in)"
                    }),
                );
            }
            Viewer => {
                responses.insert("401".into(), err("a viewer token is required"));
                responses.insert(
                    "403".into(),
                    err("address not allowed, or a bad or expired token"),
                );
            }
            Cluster => {
                responses.insert("401".into(), err("missing or wrong cluster key"));
                responses.insert("403".into(), err("this node has no cluster key"));
            }
            Open | Page => {}
        }
        if o.body.is_some() {
            responses.insert("400".into(), err("the body is not JSON"));
            responses.insert("413".into(), err("the body is too large"));
            responses.insert("422".into(), err("a field is invalid: `field` names it"));
        }
        if o.path.contains('{') {
            responses.insert("404".into(), err("no such item"));
        }
        let mut operation = json!({
            "tags": [o.tag],
            "summary": o.summary,
            "operationId": format!("{}{}", o.method, o.path.replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": params,
            "responses": responses,
        });
        match o.who {
            Staff | Admin => {
                operation["security"] =
                    json!([{"session": [], "csrf": []}, {"bearer": []}, {"basic": []}])
            }
            Viewer => operation["security"] = json!([{}, {"viewerToken": []}]),
            Cluster => operation["security"] = json!([{"clusterKey": []}]),
            Open | Page => operation["security"] = json!([]),
        }
        if let Some(b) = o.body {
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}});
        }
        paths
            .entry(o.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert(o.method.into(), operation));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Atoll",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "IPTV for closed networks: the management API (channels, recording, EPG, accounts) and the viewer URLs. Errors are JSON `{error, field, message}`; every change is written to the audit log.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "atoll_session", "description": "console sign-in (POST /api/session)"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token", "description": "required with the session cookie on POST/PUT/DELETE"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "API token atk_… (POST /api/tokens)"},
                "basic": {"type": "http", "scheme": "basic"},
                "viewerToken": {"type": "apiKey", "in": "query", "name": "token", "description": "when viewer_access = \"token\""},
                "clusterKey": {"type": "apiKey", "in": "header", "name": "x-atoll-cluster-key", "description": "the cluster key (node-to-node calls)"},
            },
        },
    })
}

/// `GET /api/openapi.json`.
pub async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_reference_resolves() {
        let doc = super::document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        for r in text.split("#/components/schemas/").skip(1) {
            let name: String = r
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
    }
}
