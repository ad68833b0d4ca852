//! Viewer access rules against a running server: signed, expiring viewer tokens (all channels or
//! one), allowed subnets (on the zero-copy fast path too), every catch-up dialect with a token in
//! the query, and the safety of the HTTP surface (path traversal, oversized bodies, header and
//! SQL injection).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn j(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

fn text(a: &Atoll, path: &str) -> (u16, String) {
    let (s, b) = a.get(path);
    (s, String::from_utf8_lossy(&b).to_string())
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn viewer_tokens_guard_live_catchup_and_exports() {
    let a = Atoll::start_with(
        "viewer-token",
        &[("segment_seconds", "2"), ("viewer_access", "\"token\"")],
    );
    // staff (Basic) still see everything, so this also waits for archived segments
    let (_, _, b) = raw(
        a.http,
        "GET",
        "/live/demo/index.m3u8",
        &[("Authorization", &basic("admin", PASSWORD))],
        b"",
    );
    let _ = b;
    a.wait_for("archive", Duration::from_secs(60), || {
        let (_, r) = a.api("GET", "/api/channels/demo/recording", None);
        r["segments"].as_u64().unwrap_or(0) >= 6
    });

    // no token: refused, on the fast path's URLs too
    for p in [
        "/live/demo/index.m3u8",
        "/live/demo/mpegts",
        "/playlist.m3u",
        "/epg.xml",
        "/api/epg/now",
    ] {
        let (s, _, b) = raw(a.http, "GET", p, &[], b"");
        assert_eq!(s, 401, "{p}");
        assert_eq!(j(&b)["error"], "viewer_denied", "{p}");
    }
    let (s, _) = text(&a, "/live/demo/index.m3u8?token=123.forged");
    assert_eq!(s, 403);

    // an all-channel token
    let (s, t) = a.api("POST", "/api/viewer-tokens", Some(r#"{"ttl_s": 3600}"#));
    assert_eq!(s, 200, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    assert!((t["expires_utc"].as_i64().unwrap() - now_s() - 3600).abs() < 5);
    let (s, pl) = text(&a, &format!("/live/demo/index.m3u8?token={token}"));
    assert_eq!(s, 200, "{pl}");
    let seg = pl
        .lines()
        .find(|l| l.ends_with(&format!("?token={token}")))
        .expect(&pl)
        .to_string();
    assert!(
        !pl.lines().any(|l| l.ends_with(".ts")),
        "every segment URL carries the token:\n{pl}"
    );
    assert_eq!(a.get(&format!("/live/demo/{seg}")).0, 200);
    assert_eq!(
        a.get(&format!("/live/demo/{}", seg.split('?').next().unwrap()))
            .0,
        401
    );
    // a real player reads the tokened URL
    let streams = ffprobe_streams(&a.url(&format!("/live/demo/index.m3u8?token={token}")));
    assert!(streams.iter().any(|s| s.starts_with("h264")), "{streams:?}");

    // the exports carry it for the apps
    let (s, m3u) = text(&a, &format!("/playlist.m3u?token={token}"));
    assert_eq!(s, 200);
    assert!(
        m3u.contains(&format!("/live/demo/index.m3u8?token={token}")),
        "{m3u}"
    );
    assert!(m3u.contains(&format!("epg.xml.gz?token={token}")), "{m3u}");
    let src = m3u
        .split("catchup-source=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("catchup-source")
        .to_string();
    assert!(src.ends_with(&format!("?token={token}")), "{src}");
    assert_eq!(a.get(&format!("/epg.xml?token={token}")).0, 200);

    // every catch-up dialect with the token in the query
    let (_, r) = a.api("GET", "/api/channels/demo/archive", None);
    let from = r["intervals"][0]["from"].as_f64().unwrap().ceil() as i64 + 1;
    let tpl = src
        .replace(&a.url(""), "")
        .replace("{utc}", &from.to_string())
        .replace("{duration}", "6");
    for p in [
        tpl,
        format!("/live/demo/index-{from}-6.m3u8?token={token}"),
        format!("/live/demo/archive-{from}-6.m3u8?token={token}"),
        format!("/live/demo/timeshift_abs-{from}.m3u8?token={token}"),
        format!("/live/demo/timeshift_rel-8.m3u8?token={token}"),
        format!(
            "/live/demo/index.m3u8?utc={from}&lutc={}&token={token}",
            now_s()
        ),
        // apps that append "?utc=" to a URL that already has "?token="
        format!("/live/demo/index.m3u8?token={token}?utc={from}"),
    ] {
        let (mut s, head, b) = raw(a.http, "GET", &p, &[], b"");
        let mut pl = String::from_utf8_lossy(&b).to_string();
        if s == 302 {
            // timeshift_rel sends players on to timeshift_abs: the token goes along
            let loc = head_value(&head, "location").unwrap();
            assert!(loc.contains(&format!("token={token}")), "{loc}");
            let path = match loc.strip_prefix(&a.url("")) {
                Some(p) => p.to_string(),
                None if loc.starts_with('/') => loc.clone(),
                None => format!("/live/demo/{loc}"), // relative to the playlist
            };
            (s, pl) = text(&a, &path);
        }
        assert_eq!(s, 200, "{p}: {pl}");
        let seg = pl
            .lines()
            .find(|l| !l.starts_with('#') && !l.is_empty())
            .expect(&pl);
        assert!(seg.contains(&format!("token={token}")), "{p}: {seg}");
        let (s, b) = a.get(&format!("/live/demo/{seg}"));
        assert_eq!(s, 200, "{p} -> {seg}");
        assert_eq!(b[0], 0x47, "MPEG-TS");
        let (s, _) = text(&a, &p.replace(&token, "1.x"));
        assert_eq!(s, 403, "{p} with a forged token");
    }
    let (s, b) = a.get(&format!("/live/demo/archive-{from}-4.ts?token={token}"));
    assert_eq!((s, b.first().copied()), (200, Some(0x47)));

    // a token for one channel opens that channel only
    let (s, one) = a.api(
        "POST",
        "/api/viewer-tokens",
        Some(r#"{"channel":"demo","ttl_s":600}"#),
    );
    assert_eq!(s, 200, "{one}");
    let one = one["token"].as_str().unwrap().to_string();
    assert!(one.ends_with(".demo"));
    assert_eq!(a.get(&format!("/live/demo/index.m3u8?token={one}")).0, 200);
    assert_eq!(a.get(&format!("/playlist.m3u?token={one}")).0, 403);
    assert_eq!(
        a.api(
            "POST",
            "/api/channels",
            Some(r#"{"id":"other","name":"Other","sources":["testsrc://"]}"#)
        )
        .0,
        201
    );
    assert_eq!(a.get(&format!("/live/other/index.m3u8?token={one}")).0, 403);
    // minting is validated, and needs an account
    for (body, field) in [
        (json!({"channel":"nope"}), "channel"),
        (json!({"ttl_s": 5}), "ttl_s"),
        (json!({"ttl_s": "long"}), "ttl_s"),
    ] {
        let (s, v) = a.api("POST", "/api/viewer-tokens", Some(&body.to_string()));
        assert_eq!((s, v["field"].as_str()), (422, Some(field)), "{body}");
    }
    assert_eq!(
        http(a.http, "POST", "/api/viewer-tokens", None, Some("{}")).0,
        401
    );
    // the pages themselves stay open (they carry no data)
    assert_eq!(a.get("/").0, 200);
}

#[test]
fn tokens_are_refused_when_viewer_access_is_open() {
    let a = Atoll::start("viewer-open");
    let (s, v) = a.api("POST", "/api/viewer-tokens", Some("{}"));
    assert_eq!((s, v["error"].as_str()), (409, Some("viewer_tokens_off")));
    a.wait_playlist("demo", 1, Duration::from_secs(40));
    assert_eq!(a.get("/live/demo/index.m3u8").0, 200);
}

#[test]
fn allowed_subnets_apply_on_every_path() {
    let a = Atoll::start_with("viewer-subnet", &[("viewer_subnets", "[\"10.0.0.0/8\"]")]);
    // the server is reached from 127.0.0.1, which is outside the list
    a.wait_for("demo live", Duration::from_secs(40), || {
        a.channel("demo")["state"] == "live"
    });
    // the first segment is out (the admin API is not behind the viewer subnets)
    a.wait_for(
        "a recorded segment of demo",
        Duration::from_secs(40),
        || {
            a.api("GET", "/api/channels/demo/recording", None).1["segments"]
                .as_i64()
                .unwrap_or(0)
                >= 1
        },
    );
    for p in [
        "/live/demo/index.m3u8",
        "/live/demo/1.ts",
        "/live/demo/mpegts",
        "/playlist.m3u",
    ] {
        let (s, _, b) = raw(a.http, "GET", p, &[], b"");
        assert_eq!(s, 403, "{p}: {}", String::from_utf8_lossy(&b));
        assert_eq!(j(&b)["error"], "viewer_denied");
    }
    drop(a);
    let b = Atoll::start_with(
        "viewer-subnet-ok",
        &[("viewer_subnets", "[\"127.0.0.0/8\"]")],
    );
    b.wait_playlist("demo", 1, Duration::from_secs(40));
    assert_eq!(b.get("/live/demo/index.m3u8").0, 200);
    assert_eq!(b.get("/playlist.m3u").0, 200);
}

#[test]
fn bad_settings_are_refused_at_start() {
    let dir = temp_dir("viewer-bad-config");
    for (k, v, want) in [
        ("viewer_access", "\"maybe\"", "viewer_access"),
        ("viewer_subnets", "[\"10.0.0.0/40\"]", "viewer_subnets"),
    ] {
        let cfg = dir.join("bad.toml");
        std::fs::write(&cfg, format!("{k} = {v}\n")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_atoll"))
            .arg("--config")
            .arg(&cfg)
            .arg("--data")
            .arg(dir.join("data"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(want));
    }
}

#[test]
fn http_surface_fails_safely() {
    let a = Atoll::start("hostile");
    let auth = basic("admin", PASSWORD);
    // path traversal: nothing outside the server's own files, whatever the spelling
    for p in [
        "/assets/../Cargo.toml",
        "/assets/..%2f..%2fCargo.toml",
        "/assets/%2e%2e/%2e%2e/etc/passwd",
        "/assets/player/../../../../etc/passwd",
        "/live/..%2f..%2fetc/passwd",
        "/live/demo/..%2f..%2f..%2fetc%2fpasswd",
        "/live/demo/index-..%2f..%2fetc-6.m3u8",
        "/admin/../../etc/passwd",
    ] {
        let (s, _, b) = raw(a.http, "GET", p, &[], b"");
        let body = String::from_utf8_lossy(&b);
        assert!(matches!(s, 400 | 404), "{p}: {s}");
        assert!(
            !body.contains("root:") && !body.contains("[package]"),
            "{p}: {body}"
        );
    }
    // oversized bodies are refused before they are read whole, and change nothing
    let big = vec![b'x'; 3 << 20];
    let (s, _, _) = raw(
        a.http,
        "POST",
        "/api/channels",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &big,
    );
    assert_eq!(s, 413);
    let (s, _, _) = raw(
        a.http,
        "POST",
        "/api/session",
        &[("Content-Type", "application/json")],
        &big,
    );
    assert_eq!(s, 413);
    // header injection: CR/LF in a path or a stored value never becomes a header
    let (_, head, _) = raw(
        a.http,
        "GET",
        "/live/x%0d%0aSet-Cookie:%20pwned=1/index.m3u8",
        &[],
        b"",
    );
    assert!(!head.to_ascii_lowercase().contains("pwned"), "{head}");
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(&json!({"id":"inj","name":"A\r\nSet-Cookie: pwned=1","logo":"/x\r\nLocation: http://evil"}).to_string()),
    );
    assert_eq!(s, 201, "{v}");
    for p in ["/playlist.m3u", "/epg.xml", "/", "/api/channels/inj"] {
        let (_, head, _) = raw(a.http, "GET", p, &[("Authorization", &auth)], b"");
        let h = head.to_ascii_lowercase();
        assert!(!h.contains("pwned") && !h.contains("evil"), "{p}: {head}");
    }
    let (_, m3u) = text(&a, "/playlist.m3u");
    assert!(
        !m3u.lines()
            .any(|l| l.starts_with("Set-Cookie") || l.starts_with("Location")),
        "a name cannot add lines to the playlist:\n{m3u}"
    );
    // SQL injection: values are bound, never spliced
    for id in ["x' OR '1'='1", "x'; DROP TABLE channel;--", "demo' --"] {
        let enc: String = id.bytes().map(|b| format!("%{b:02X}")).collect();
        let (s, _) = a.api("GET", &format!("/api/channels/{enc}"), None);
        assert_eq!(s, 404, "{id}");
        let (s, v) = a.api(
            "POST",
            "/api/channels",
            Some(&json!({"id": id, "name": "x"}).to_string()),
        );
        assert_eq!((s, v["field"].as_str()), (422, Some("id")), "{id}");
    }
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(&json!({"id":"sqlname","name":"Robert'); DROP TABLE channel;--"}).to_string()),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        a.channel("sqlname")["name"],
        "Robert'); DROP TABLE channel;--"
    );
    let (s, v) = a.api("GET", "/api/epg/search?q=%27%20OR%201%3D1%20--", None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["results"].as_array().map(|a| a.len()), Some(0), "{v}");
    let (s, _, _) = raw(
        a.http,
        "POST",
        "/api/session",
        &[("Content-Type", "application/json")],
        json!({"user":"admin' --","password":"x"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(s, 401);
    let (_, all) = a.api("GET", "/api/channels", None);
    assert_eq!(
        all.as_array().unwrap().len(),
        3,
        "demo, inj and sqlname: nothing dropped"
    );
    // malformed JSON and wrong types name the problem
    let (s, v) = a.api("POST", "/api/channels", Some("{\"id\":"));
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_request")));
    let (s, v) = a.api("PUT", "/api/channels/demo", Some(r#"{"number":"seven"}"#));
    assert_eq!((s, v["field"].as_str()), (422, Some("number")));
}
