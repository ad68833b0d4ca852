//! The management API's accounts and safety rails against a running server: console sign-in with
//! a session cookie and CSRF, roles, API tokens, the audit log, channel event logs, failed sign-in
//! rate limiting and the `atoll user` command line.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn j(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

/// Calls the API as `user` with HTTP Basic.
fn as_user(
    a: &Atoll,
    user: &str,
    pw: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let auth = basic(user, pw);
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let (s, _, b) = raw(
        a.http,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    (s, j(&b))
}

fn sign_in(a: &Atoll, user: &str, pw: &str) -> (u16, String, Value) {
    let body = json!({"user": user, "password": pw}).to_string();
    let (s, head, b) = raw(
        a.http,
        "POST",
        "/api/session",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    (s, head, j(&b))
}

#[test]
fn console_session_cookie_csrf_and_sign_out() {
    let a = Atoll::start("session");
    let (s, head, v) = sign_in(&a, "admin", "wrong password");
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"], "unauthorized");
    assert!(
        head_value(&head, "www-authenticate").is_none(),
        "the sign-in form must not make the browser pop up a password dialog"
    );

    let (s, head, v) = sign_in(&a, "admin", PASSWORD);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["user"], "admin");
    assert_eq!(v["role"], "admin");
    let csrf = v["csrf"].as_str().unwrap().to_string();
    assert!(csrf.len() >= 24);
    let set = head_value(&head, "set-cookie").expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set.contains(attr), "cookie lacks {attr}: {set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("atoll_session="));

    // the cookie reads
    let (s, _, b) = raw(a.http, "GET", "/api/session", &[("Cookie", &cookie)], b"");
    assert_eq!(s, 200);
    assert_eq!(j(&b)["csrf"], csrf.as_str());
    let (s, _, _) = raw(a.http, "GET", "/api/channels", &[("Cookie", &cookie)], b"");
    assert_eq!(s, 200);

    // a change without the CSRF header is refused and changes nothing
    let body = br#"{"id":"c1","name":"One"}"#;
    let (s, _, b) = raw(
        a.http,
        "POST",
        "/api/channels",
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        body,
    );
    assert_eq!(s, 403, "{}", String::from_utf8_lossy(&b));
    assert_eq!(j(&b)["error"], "csrf");
    let (s, _, b) = raw(
        a.http,
        "POST",
        "/api/channels",
        &[
            ("Cookie", &cookie),
            ("X-CSRF-Token", "forged"),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    assert_eq!((s, j(&b)["error"].clone()), (403, json!("csrf")));
    assert_eq!(a.api("GET", "/api/channels/c1", None).0, 404);
    // with it, it works
    let (s, _, b) = raw(
        a.http,
        "POST",
        "/api/channels",
        &[
            ("Cookie", &cookie),
            ("X-CSRF-Token", &csrf),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));

    // a script's 401 carries the Basic challenge; the console's own fetches do not
    let (s, head, _) = raw(a.http, "GET", "/api/channels", &[], b"");
    assert_eq!(s, 401);
    assert!(head_value(&head, "www-authenticate").is_some());
    let (s, head, _) = raw(
        a.http,
        "GET",
        "/api/channels",
        &[("Sec-Fetch-Mode", "cors")],
        b"",
    );
    assert_eq!(s, 401);
    assert!(head_value(&head, "www-authenticate").is_none());

    // sign out: the cookie is dead on the server, and the browser is told to drop it
    let (s, head, _) = raw(
        a.http,
        "DELETE",
        "/api/session",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        b"",
    );
    assert_eq!(s, 204);
    assert!(head_value(&head, "set-cookie")
        .unwrap()
        .contains("Max-Age=0"));
    let (s, _, _) = raw(a.http, "GET", "/api/session", &[("Cookie", &cookie)], b"");
    assert_eq!(s, 401);
    let (s, _, _) = raw(a.http, "GET", "/api/channels", &[("Cookie", &cookie)], b"");
    assert_eq!(s, 401);
    // a made-up cookie is nobody
    let (s, _, _) = raw(
        a.http,
        "GET",
        "/api/session",
        &[("Cookie", "atoll_session=abc")],
        b"",
    );
    assert_eq!(s, 401);
}

#[test]
fn failed_sign_ins_are_rate_limited_per_account_and_address() {
    let a = Atoll::start("ratelimit");
    let (s, _) = a.api(
        "POST",
        "/api/users",
        Some(r#"{"name":"op","password":"operator-pw","role":"operator"}"#),
    );
    assert_eq!(s, 201);
    for _ in 0..5 {
        assert_eq!(sign_in(&a, "admin", "nope-nope").0, 401);
    }
    // the account is locked for a while, even with the right password
    let (s, head, v) = sign_in(&a, "admin", PASSWORD);
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"], "rate_limited");
    let retry: u64 = head_value(&head, "retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    // Basic for that account too
    let (s, _) = as_user(&a, "admin", PASSWORD, "GET", "/api/channels", None);
    assert_eq!(s, 429);
    // another account from the same address is still fine (5 failures < the address's 10)
    assert_eq!(sign_in(&a, "op", "operator-pw").0, 200);
    // the address: 10 failures across names lock it for every account
    for i in 0..10 {
        assert_eq!(sign_in(&a, &format!("ghost{i}"), "x").0, 401);
    }
    assert_eq!(sign_in(&a, "op", "operator-pw").0, 429);
    assert!(a.log_text().contains("failed sign-in"));
}

#[test]
fn roles_accounts_and_api_tokens() {
    let a = Atoll::start("accounts");
    // validation names the field
    for (body, field, status) in [
        (
            json!({"name":"Bad Name","password":"long-enough","role":"operator"}),
            "name",
            422,
        ),
        (
            json!({"name":"op","password":"short","role":"operator"}),
            "password",
            422,
        ),
        (
            json!({"name":"op","password":"long-enough","role":"king"}),
            "role",
            422,
        ),
        (json!({"name":"op","password":"long-enough"}), "role", 422),
        (
            json!({"name":"admin","password":"long-enough","role":"admin"}),
            "name",
            409,
        ),
    ] {
        let (s, v) = a.api("POST", "/api/users", Some(&body.to_string()));
        assert_eq!(
            (s, v["field"].as_str()),
            (status, Some(field)),
            "{body} -> {v}"
        );
    }
    let (s, v) = a.api(
        "POST",
        "/api/users",
        Some(r#"{"name":"op","password":"operator-pw","role":"operator"}"#),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["role"], "operator");
    assert!(v.get("password_hash").is_none() && v.get("password").is_none());

    // an operator runs channels and recording, not accounts or the audit log
    let op = |m: &str, p: &str, b: Option<Value>| as_user(&a, "op", "operator-pw", m, p, b);
    assert_eq!(op("GET", "/api/channels", None).0, 200);
    assert_eq!(
        op(
            "POST",
            "/api/channels",
            Some(json!({"id":"opch","name":"Op"}))
        )
        .0,
        201
    );
    assert_eq!(op("POST", "/api/channels/opch/recording/stop", None).0, 200);
    for (m, p) in [("GET", "/api/users"), ("GET", "/api/audit")] {
        let (s, v) = op(m, p, None);
        assert_eq!(
            (s, v["error"].as_str()),
            (403, Some("forbidden")),
            "{m} {p}"
        );
    }
    let (s, _) = op(
        "POST",
        "/api/users",
        Some(json!({"name":"x","password":"xxxxxxxxx","role":"admin"})),
    );
    assert_eq!(s, 403);
    let (s, _) = op("PUT", "/api/users/op", Some(json!({"role":"admin"})));
    assert_eq!(s, 403, "no promoting oneself");
    // own password: needs the current one
    let (s, v) = op(
        "PUT",
        "/api/users/op",
        Some(json!({"password":"new-operator-pw"})),
    );
    assert_eq!(
        (s, v["field"].as_str()),
        (422, Some("current_password")),
        "{v}"
    );
    let (s, v) = op(
        "PUT",
        "/api/users/op",
        Some(json!({"password":"new-operator-pw","current_password":"wrong-one"})),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("current_password")));
    let (s, _) = op(
        "PUT",
        "/api/users/op",
        Some(json!({"password":"new-operator-pw","current_password":"operator-pw"})),
    );
    assert_eq!(s, 200);
    assert_eq!(
        op("GET", "/api/channels", None).0,
        401,
        "old password is dead"
    );
    let op2 = |m: &str, p: &str, b: Option<Value>| as_user(&a, "op", "new-operator-pw", m, p, b);
    assert_eq!(op2("GET", "/api/channels", None).0, 200);

    // API tokens: shown once, stored hashed, work as Bearer, revocable
    let (s, t) = op2("POST", "/api/tokens", Some(json!({"name":"backup script"})));
    assert_eq!(s, 201, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("atk_"));
    let bearer = format!("Bearer {token}");
    let (s, _, b) = raw(
        a.http,
        "GET",
        "/api/channels",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(s, 200);
    assert!(j(&b).as_array().unwrap().iter().any(|c| c["id"] == "opch"));
    let (s, _, _) = raw(
        a.http,
        "GET",
        "/api/users",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(s, 403, "a token has its account's role");
    let (s, _, _) = raw(
        a.http,
        "GET",
        "/api/channels",
        &[("Authorization", "Bearer atk_forged")],
        b"",
    );
    assert_eq!(s, 401);
    let (s, list) = op2("GET", "/api/tokens", None);
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(&token[4..]),
        "the token is never listed"
    );
    assert!(list[0]["last_used_utc"].is_number());
    let (_, admin_tok) = a.api("POST", "/api/tokens", Some(r#"{"name":"admin's"}"#));
    assert_eq!(
        op2("GET", "/api/tokens", None).1.as_array().unwrap().len(),
        1,
        "own only"
    );
    assert_eq!(
        a.api("GET", "/api/tokens", None)
            .1
            .as_array()
            .unwrap()
            .len(),
        2,
        "admin: all"
    );
    let (s, _) = op2("DELETE", &format!("/api/tokens/{}", admin_tok["id"]), None);
    assert_eq!(s, 404, "an operator cannot revoke someone else's token");
    assert_eq!(
        a.api("POST", "/api/tokens", Some(r#"{"name":""}"#)).1["field"],
        "name"
    );
    let (s, _) = op2("DELETE", &format!("/api/tokens/{}", t["id"]), None);
    assert_eq!(s, 204);
    let (s, _, _) = raw(
        a.http,
        "GET",
        "/api/channels",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(s, 401, "revoked");

    // admins disable accounts; the last admin is protected
    let (s, v) = a.api("PUT", "/api/users/op", Some(r#"{"disabled":true}"#));
    assert_eq!((s, v["disabled"].clone()), (200, json!(true)));
    assert_eq!(op2("GET", "/api/channels", None).0, 401);
    let (s, v) = a.api("PUT", "/api/users/admin", Some(r#"{"disabled":true}"#));
    assert_eq!((s, v["field"].as_str()), (409, Some("disabled")), "{v}");
    let (s, v) = a.api("PUT", "/api/users/admin", Some(r#"{"role":"operator"}"#));
    assert_eq!((s, v["field"].as_str()), (409, Some("role")));
    assert_eq!(
        a.api("PUT", "/api/users/nobody", Some(r#"{"disabled":true}"#))
            .0,
        404
    );
    let (_, users) = a.api("GET", "/api/users", None);
    let admin = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "admin")
        .unwrap();
    assert!(admin["last_login_utc"].is_number(), "{users}");
}

#[test]
fn audit_log_and_channel_event_log() {
    let a = Atoll::start("audit");
    let (s, _) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"news","name":"News","sources":["testsrc://"],"publish_key":"s3cret-key"}"#),
    );
    assert_eq!(s, 201);
    assert_eq!(
        a.api("PUT", "/api/channels/news", Some(r#"{"name":"News 24"}"#))
            .0,
        200
    );
    let kinds = || -> Vec<String> {
        let (_, ev) = a.api("GET", "/api/channels/news/events", None);
        ev.as_array()
            .map(|l| {
                l.iter()
                    .map(|e| e["kind"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    // the channel's own history: created, on air, recording, switched off by the operator
    a.wait_for(
        "channel on air and recording",
        Duration::from_secs(40),
        || {
            let k = kinds();
            ["created", "updated", "source_restored", "recording_started"]
                .iter()
                .all(|w| k.iter().any(|x| x == w))
        },
    );
    assert_eq!(
        a.api("POST", "/api/channels/news/recording/stop", None).0,
        200
    );
    a.wait_for("recording stop events", Duration::from_secs(10), || {
        let k = kinds();
        k.iter().any(|x| x == "recording_switched_off")
            && k.iter().any(|x| x == "recording_stopped")
    });
    let (_, ev) = a.api("GET", "/api/channels/news/events?limit=2", None);
    assert_eq!(ev.as_array().unwrap().len(), 2);
    assert!(ev[0]["id"].as_i64() > ev[1]["id"].as_i64(), "newest first");
    assert!(ev[0]["at_utc"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(
        a.api("GET", "/api/channels/news/events?limit=0", None).1["field"],
        "limit"
    );

    // every change is in the audit log with who did it; secrets are not
    let (s, log) = a.api("GET", "/api/audit", None);
    assert_eq!(s, 200);
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in ["channel.create", "channel.update", "recording.stop"] {
        assert!(actions.contains(&want), "{want} missing: {actions:?}");
    }
    let create = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "channel.create")
        .unwrap();
    assert_eq!(create["user"], "admin");
    assert_eq!(create["target"], "news");
    assert_eq!(create["ip"], "127.0.0.1");
    assert!(
        !log.to_string().contains("s3cret-key"),
        "publish keys stay out of the log"
    );

    // delete with the archive removed now (and a bad choice refused first)
    assert_eq!(
        a.api("POST", "/api/channels/news/recording/start", None).0,
        200
    );
    a.wait_for("archived segments", Duration::from_secs(40), || {
        let (_, u) = a.api("GET", "/api/archive/usage", None);
        u["channels"]
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c["channel"] == "news"))
    });
    let (s, v) = a.api("DELETE", "/api/channels/news?archive=burn", None);
    assert_eq!((s, v["field"].as_str()), (422, Some("archive")));
    assert_eq!(
        a.channel("news")["id"],
        "news",
        "a refused delete deletes nothing"
    );
    assert_eq!(
        a.api("DELETE", "/api/channels/news?archive=remove", None).0,
        204
    );
    let (_, u) = a.api("GET", "/api/archive/usage", None);
    assert!(
        !u["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["channel"] == "news"),
        "archive removed: {u}"
    );
    let (_, log) = a.api("GET", "/api/audit?limit=1", None);
    assert_eq!(log[0]["action"], "channel.delete");
    assert_eq!(log[0]["detail"]["archive"], "remove");
    // the history stays readable after the delete
    let (_, ev) = a.api("GET", "/api/channels/news/events", None);
    assert!(ev
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "deleted"));
}

#[test]
fn user_command_line() {
    let a = Atoll::start("cli");
    let data = a.dir.join("data");
    let run = |args: &[&str], pw: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_atoll"));
        c.arg("user").args(args).arg("--data").arg(&data);
        match pw {
            Some(p) => c.env("ATOLL_USER_PASSWORD", p),
            None => c.env_remove("ATOLL_USER_PASSWORD"),
        };
        c.stdin(std::process::Stdio::null()).output().unwrap()
    };
    let out = run(
        &["add", "night-shift", "--role", "operator"],
        Some("night-shift-pw"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let night = |pw: &str| as_user(&a, "night-shift", pw, "GET", "/api/channels", None).0;
    // the running server sees the new account at once
    let (s, _) = as_user(
        &a,
        "night-shift",
        "night-shift-pw",
        "GET",
        "/api/channels",
        None,
    );
    assert_eq!(s, 200);
    let (s, _) = as_user(
        &a,
        "night-shift",
        "night-shift-pw",
        "GET",
        "/api/users",
        None,
    );
    assert_eq!(s, 403, "an operator");
    // a short password and a duplicate are refused with a message
    let out = run(&["add", "x", "--role", "operator"], Some("short"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));
    let out = run(&["add", "night-shift"], Some("whatever-pw"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    // passwd and disable take effect in the running server without a restart
    let out = run(&["passwd", "night-shift"], Some("second-password"));
    assert!(out.status.success());
    assert_eq!(night("night-shift-pw"), 401);
    assert_eq!(night("second-password"), 200);
    let out = run(&["disable", "night-shift"], None);
    assert!(out.status.success());
    assert_eq!(night("second-password"), 401);
    let out = run(&["disable", "admin"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("last enabled admin"));
    let out = run(&["list"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("night-shift") && text.contains("disabled"),
        "{text}"
    );
    assert!(!run(&["passwd", "ghost"], Some("whatever-pw"))
        .status
        .success());
    // the command line's changes are audited
    let (_, log) = a.api("GET", "/api/audit", None);
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["user"] == "cli" && e["target"] == "night-shift"));
}

#[test]
fn probe_import_export_and_system() {
    let a = Atoll::start("manage");
    // probe: the built-in pattern says what it carries; a dead source says why, naming the field
    let (s, v) = a.api(
        "POST",
        "/api/probe",
        Some(r#"{"url":"testsrc://?size=320x240"}"#),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["video"]["codec"], "h264");
    assert_eq!(v["video"]["width"], 320);
    assert_eq!(v["video"]["height"], 240);
    assert_eq!(v["audio"]["codec"], "aac");
    assert!(v["bitrate_bps"].as_u64().unwrap() > 1000, "{v}");
    let dead = format!(r#"{{"url":"udp://127.0.0.1:{}"}}"#, free_udp_port());
    let (s, v) = a.api("POST", "/api/probe", Some(&dead));
    assert_eq!(
        (s, v["error"].as_str(), v["field"].as_str()),
        (422, Some("probe_failed"), Some("url")),
        "{v}"
    );
    let (s, v) = a.api("POST", "/api/probe", Some(r#"{"url":"ftp://x/y"}"#));
    assert_eq!((s, v["field"].as_str()), (422, Some("url")), "{v}");

    // an M3U of 100 channels sets up the lineup in one go
    let mut m3u = String::from("#EXTM3U\n");
    for i in 1..=100 {
        m3u.push_str(&format!(
            "#EXTINF:-1 tvg-id=\"ch{i}.example\" tvg-chno=\"{}\" group-title=\"Group {}\",Channel {i}\nudp://@239.10.0.{}:5000\n",
            100 + i,
            i % 5,
            i
        ));
    }
    // plus one bad entry, which is reported and skipped
    m3u.push_str("#EXTINF:-1,Broken\nftp://nowhere/x\n");
    let auth = basic("admin", PASSWORD);
    let (s, _, b) = raw(
        a.http,
        "POST",
        "/api/channels/import",
        &[
            ("Authorization", &auth),
            ("Content-Type", "audio/x-mpegurl"),
        ],
        m3u.as_bytes(),
    );
    let v = j(&b);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["created"], 100, "{v}");
    assert_eq!(v["errors"].as_array().unwrap().len(), 1);
    assert_eq!(v["errors"][0]["field"], "sources");
    assert_eq!(v["errors"][0]["index"], 100);
    let ch = a.channel("ch42-example");
    assert_eq!(ch["name"], "Channel 42");
    assert_eq!(ch["number"], 142);
    assert_eq!(ch["group"], "Group 2");
    assert_eq!(ch["epg_id"], "ch42.example");
    assert_eq!(ch["sources"][0], "udp://@239.10.0.42:5000");

    // export, change, re-import: updates in place; a duplicate number is reported by field
    let (s, exp) = a.api("GET", "/api/channels/export", None);
    assert_eq!(s, 200);
    assert_eq!(exp["version"], 1);
    assert_eq!(exp["channels"].as_array().unwrap().len(), 101, "100 + demo");
    let mut chans = exp["channels"].as_array().unwrap().clone();
    for c in chans.iter_mut() {
        assert_eq!(c["audio_language"], "", "exported: {c}");
        if c["id"] == "ch1-example" {
            c["name"] = json!("Renamed");
            c["audio_language"] = json!("ko");
        }
        if c["id"] == "ch2-example" {
            c["number"] = json!(103); // ch3's number
        }
    }
    let (s, v) = a.api(
        "POST",
        "/api/channels/import",
        Some(&json!({"channels": chans}).to_string()),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["created"].as_u64(), v["updated"].as_u64()),
        (Some(0), Some(100)),
        "{v}"
    );
    assert_eq!(v["errors"][0]["id"], "ch2-example");
    assert_eq!(v["errors"][0]["field"], "number");
    assert_eq!(a.channel("ch1-example")["name"], "Renamed");
    assert_eq!(a.channel("ch1-example")["audio_language"], "kor");
    assert_eq!(
        a.channel("ch2-example")["number"],
        102,
        "the bad entry changed nothing"
    );
    let (s, v) = a.api("POST", "/api/channels/import", Some("{not json"));
    assert_eq!(s, 400, "{v}");

    // the system page's figures
    let (s, v) = a.api("GET", "/api/system", None);
    assert_eq!(s, 200, "{v}");
    assert!(v["cpu"]["cores"].as_u64().unwrap() >= 1);
    assert!(v["memory"]["process_rss_bytes"].as_u64().unwrap() > 1 << 20);
    assert!(v["memory"]["total_bytes"].as_u64() >= v["memory"]["available_bytes"].as_u64());
    assert!(v["disks"][0]["total_bytes"].as_u64().unwrap() > 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((v["now_utc"].as_i64().unwrap() - now).abs() < 5);
    assert_eq!(v["channels"].as_array().unwrap().len(), 101);
    assert!(v["uptime_s"].is_u64() && v["version"].is_string());
    // and all of it needs an account
    for p in ["/api/system", "/api/channels/export"] {
        assert_eq!(a.get(p).0, 401, "{p}");
    }
    assert_eq!(
        http(
            a.http,
            "POST",
            "/api/probe",
            None,
            Some(r#"{"url":"testsrc://"}"#)
        )
        .0,
        401
    );
}

#[test]
fn openapi_document_matches_the_routes() {
    let a = Atoll::start("openapi");
    let (s, doc) = {
        let (s, b) = a.get("/api/openapi.json");
        (s, j(&b))
    };
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    // The router and the document are built from one table (src/api/routes.rs); what is left to
    // check is that every documented operation reaches a handler of the running server: a
    // request without an account gets the route's own answer (401 from the access check in
    // front of staff routes), never the fallback's "no such page" or a 405.
    let mut checked = 0;
    for (p, ops) in paths {
        for (m, op) in ops.as_object().unwrap() {
            let path = p
                .replace("{id}", "no-such-id")
                .replace("{name}", "no-such-account")
                .replace("{action}", "stop")
                .replace("{file}", "index.m3u8");
            let (status, _, body) = raw(
                a.http,
                &m.to_uppercase(),
                &path,
                &[("Content-Type", "application/json")],
                b"{}",
            );
            let fallback = status == 404
                && serde_json::from_slice::<Value>(&body)
                    .is_ok_and(|v| v["message"] == "no such page");
            assert!(
                status != 405 && !fallback,
                "{m} {p} is documented but not served ({status})"
            );
            let needs_account = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x.get("bearer").is_some()));
            if needs_account {
                assert_eq!(status, 401, "{m} {p} without an account");
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} operations");
    // every operation says what errors look like when it needs an account
    let op = &paths["/api/channels"]["post"];
    assert_eq!(
        op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Error"
    );
    assert!(op["security"].as_array().unwrap().len() >= 3);
}

/// Every operation the OpenAPI document marks as needing an account refuses a request without
/// one (and changes nothing); every admin-only one refuses an operator.
#[test]
fn every_protected_endpoint_needs_an_account() {
    let a = Atoll::start("authz");
    let (s, _) = a.api(
        "POST",
        "/api/users",
        Some(r#"{"name":"op","password":"operator-pw","role":"operator"}"#),
    );
    assert_eq!(s, 201);
    let (_, b) = a.get("/api/openapi.json");
    let doc = j(&b);
    let mut protected = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let staff = op["security"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s.get("basic").is_some());
            if !staff {
                continue;
            }
            protected += 1;
            let p = path
                .replace(
                    "{id}",
                    if path.contains("tokens") || path.contains("sources") {
                        "1"
                    } else {
                        "demo"
                    },
                )
                .replace("{name}", "admin")
                .replace("{action}", "stop")
                .replace("{n}", "0");
            let m = method.to_uppercase();
            let (s, head, body) = raw(
                a.http,
                &m,
                &p,
                &[("Content-Type", "application/json")],
                b"{}",
            );
            assert_eq!(
                s,
                401,
                "{m} {p} without an account: {}",
                String::from_utf8_lossy(&body)
            );
            if m != "HEAD" {
                assert_eq!(j(&body)["error"], "unauthorized", "{m} {p}");
            }
            assert!(head_value(&head, "www-authenticate").is_some(), "{m} {p}");
            let admin_only = op["responses"]["403"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("not an admin"));
            if admin_only {
                let (s, v) = as_user(&a, "op", "operator-pw", &m, &p, Some(json!({})));
                assert_eq!(
                    (s, v["error"].as_str()),
                    (403, Some("forbidden")),
                    "{m} {p} as operator"
                );
            }
        }
    }
    assert!(protected >= 25, "only {protected} protected operations");
    // nothing changed: the demo channel still records, the admin still signs in
    assert_eq!(a.channel("demo")["record"], true);
    assert_eq!(
        a.api("GET", "/api/users", None).1.as_array().unwrap().len(),
        2
    );
}

/// Unix seconds of an RFC 3339 UTC time (`2026-12-02T16:25:27Z`, fractions ignored).
fn rfc3339_s(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    let days = media::time::days_from_civil(n(0..4), n(5..7) as u32, n(8..10) as u32);
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

/// A channel without sources takes RTMP push: the API says what its encoder needs (the port of
/// the RTMP listener, the application and the stream key with the publish key), that it waits for
/// an encoder (not "connecting"), and an error keeps its time after the channel recovered. The
/// encoder is ffmpeg publishing to exactly that URL.
#[test]
fn push_channel_tells_the_encoder_settings_and_error_times() {
    require("ffmpeg");
    let a = Atoll::start("push-info");
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"push","name":"Push","sources":[],"publish_key":"k3y","record":false}"#),
    );
    assert_eq!(s, 201, "{v}");
    let ch = a.channel("push");
    assert_eq!(ch["publish"]["port"], a.rtmp.to_string(), "{ch}");
    assert_eq!(ch["publish"]["app"], "live");
    assert_eq!(ch["publish"]["stream_key"], "push?key=k3y");
    assert_eq!(ch["awaiting_encoder"], true, "{ch}");
    assert_ne!(ch["state"], "live");
    // a channel with sources has no publish settings and never waits for an encoder
    assert!(a.channel("demo")["publish"].is_null());
    assert_eq!(a.channel("demo")["awaiting_encoder"], false);

    let url = format!(
        "rtmp://127.0.0.1:{}/{}/{}",
        ch["publish"]["port"].as_str().unwrap(),
        ch["publish"]["app"].as_str().unwrap(),
        ch["publish"]["stream_key"].as_str().unwrap()
    );
    let push = rtmp_push_loop(&fixture_clip(), &url);
    a.wait_for("the pushed channel live", Duration::from_secs(40), || {
        let c = a.channel("push");
        c["state"] == "live" && c["awaiting_encoder"] == false
    });
    assert!(a.channel("push")["last_error"].is_null());
    drop(push);
    let before = now_s();
    a.wait_for("the encoder's loss noted", Duration::from_secs(20), || {
        let c = a.channel("push");
        c["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("publisher disconnected"))
            && c["awaiting_encoder"] == true
    });
    let c = a.channel("push");
    let at = rfc3339_s(c["last_error_at"].as_str().expect("last_error_at"));
    assert!(
        (before - 5..=now_s() + 1).contains(&at),
        "error time {at} vs now {}",
        now_s()
    );
    // back on air: the error stays, with the time it happened (the console shows it as history)
    let _push = rtmp_push_loop(&fixture_clip(), &url);
    a.wait_for("live again", Duration::from_secs(40), || {
        a.channel("push")["state"] == "live"
    });
    std::thread::sleep(Duration::from_secs(2));
    let c = a.channel("push");
    assert_eq!(
        rfc3339_s(c["last_error_at"].as_str().unwrap()),
        at,
        "the error's time does not move while the channel is healthy: {c}"
    );
}

/// A channel deleted with `archive=keep` leaves its recordings: admins list them (size, span, when
/// retention removes them) and remove them, audited; operators may not; a channel that exists or
/// an id with nothing kept is refused.
#[test]
fn kept_archives_of_deleted_channels_list_and_remove() {
    let a = Atoll::start("kept-archives");
    let (s, _) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"gone","name":"Gone","sources":["testsrc://"],"record":true}"#),
    );
    assert_eq!(s, 201);
    a.wait_for("archived segments", Duration::from_secs(40), || {
        let (_, u) = a.api("GET", "/api/archive/usage", None);
        u["channels"]
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c["channel"] == "gone"))
    });
    let (_, u) = a.api("GET", "/api/archive/usage", None);
    assert_eq!(u["deleted_channel_retention_hours"], 72);
    let (s, v) = a.api("GET", "/api/archive/kept", None);
    assert_eq!(s, 200);
    assert_eq!(
        v["archives"],
        json!([]),
        "a live channel's archive is not kept: {v}"
    );
    let (s, v) = a.api("DELETE", "/api/archive/kept/gone", None);
    assert_eq!((s, v["field"].as_str()), (409, Some("id")), "{v}");

    assert_eq!(
        a.api("DELETE", "/api/channels/gone?archive=keep", None).0,
        204
    );
    let (_, v) = a.api("GET", "/api/archive/kept", None);
    let list = v["archives"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    let k = &list[0];
    assert_eq!(k["channel"], "gone");
    let bytes = k["bytes"].as_u64().unwrap();
    assert!(bytes > 0 && k["segments"].as_i64().unwrap() > 0, "{k}");
    let (from, to) = (
        rfc3339_s(k["from"].as_str().unwrap()),
        rfc3339_s(k["to"].as_str().unwrap()),
    );
    assert!(from < to && to <= now_s() + 1, "{k}");
    assert_eq!(
        rfc3339_s(k["removed_by_retention_at"].as_str().unwrap()),
        to + 72 * 3600
    );

    // operators may neither list nor remove
    assert_eq!(
        a.api(
            "POST",
            "/api/users",
            Some(r#"{"name":"op","password":"operator-pw","role":"operator"}"#)
        )
        .0,
        201
    );
    assert_eq!(
        as_user(&a, "op", "operator-pw", "GET", "/api/archive/kept", None).0,
        403
    );
    assert_eq!(
        as_user(
            &a,
            "op",
            "operator-pw",
            "DELETE",
            "/api/archive/kept/gone",
            None
        )
        .0,
        403
    );
    // what "keep" promises: a channel added again with the same id has its recordings back
    let (s, _) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"back","name":"Back","sources":["testsrc://"],"record":true}"#),
    );
    assert_eq!(s, 201);
    a.wait_for("back's segments", Duration::from_secs(40), || {
        let (_, u) = a.api("GET", "/api/archive/usage", None);
        u["channels"]
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c["channel"] == "back"))
    });
    assert_eq!(
        a.api("DELETE", "/api/channels/back?archive=keep", None).0,
        204
    );
    let (s, _) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"back","name":"Back again","sources":[],"record":false}"#),
    );
    assert_eq!(s, 201);
    let (_, cov) = a.api("GET", "/api/channels/back/archive", None);
    assert!(
        !cov["intervals"].as_array().unwrap().is_empty(),
        "the kept recordings are the channel's again: {cov}"
    );
    assert!(
        !a.api("GET", "/api/archive/kept", None)
            .1
            .to_string()
            .contains("\"back\""),
        "and no longer listed as kept"
    );

    let (s, v) = a.api("DELETE", "/api/archive/kept/never-was", None);
    assert_eq!((s, v["field"].as_str()), (404, Some("id")), "{v}");

    let (s, v) = a.api("DELETE", "/api/archive/kept/gone", None);
    assert_eq!(s, 200, "{v}");
    // the channel's last segment may land after the list was read
    let freed = v["bytes_freed"].as_u64().unwrap();
    assert!(freed >= bytes, "freed {freed} of {bytes} listed");
    assert_eq!(
        a.api("GET", "/api/archive/kept", None).1["archives"],
        json!([])
    );
    let (_, u) = a.api("GET", "/api/archive/usage", None);
    assert!(!u.to_string().contains("\"gone\""), "{u}");
    let (_, log) = a.api("GET", "/api/audit?limit=1", None);
    assert_eq!(log[0]["action"], "archive.remove", "{log}");
    assert_eq!(log[0]["target"], "gone");
    assert_eq!(log[0]["detail"]["bytes_freed"].as_u64(), Some(freed));
}

/// The audit log records failed sign-ins (console and HTTP Basic) and the lockout they cause, and
/// names what was deleted: a revoked token's and a deleted EPG source's name, not a bare number.
#[test]
fn audit_log_records_failed_sign_ins_lockouts_and_names() {
    let a = Atoll::start("audit-fails");
    for (name, role) in [("boss", "admin"), ("op", "operator")] {
        let body = json!({"name": name, "password": format!("{name}-password"), "role": role});
        assert_eq!(a.api("POST", "/api/users", Some(&body.to_string())).0, 201);
    }
    let boss = |method: &str, path: &str, body: Option<Value>| {
        as_user(&a, "boss", "boss-password", method, path, body)
    };
    // 5 wrong passwords lock the account
    for _ in 0..5 {
        assert_eq!(sign_in(&a, "op", "wrong-wrong").0, 401);
    }
    assert_eq!(sign_in(&a, "op", "op-password").0, 429);
    // a wrong Basic password is a failed sign-in too
    assert_eq!(
        as_user(&a, "ghost", "nope", "GET", "/api/channels", None).0,
        401
    );
    let (s, log) = boss("GET", "/api/audit?limit=50", None);
    assert_eq!(s, 200, "{log}");
    let log = log.as_array().unwrap().clone();
    let of = |action: &str, target: &str| -> Vec<Value> {
        log.iter()
            .filter(|e| e["action"] == action && e["target"] == target)
            .cloned()
            .collect()
    };
    let failed = of("session.sign_in_failed", "op");
    assert_eq!(failed.len(), 5, "{log:?}");
    assert_eq!(failed[0]["user"], "op");
    assert_eq!(failed[0]["ip"], "127.0.0.1");
    let locked = of("session.locked", "op");
    assert_eq!(locked.len(), 1, "one lockout entry: {log:?}");
    let retry = locked[0]["detail"]["retry_after_s"].as_u64().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(of("session.sign_in_failed", "ghost").len(), 1, "{log:?}");
    assert!(
        of("session.locked", "ghost").is_empty(),
        "one failure locks nothing"
    );

    // deleted things keep their names in the log
    let (s, tok) = boss(
        "POST",
        "/api/tokens",
        Some(json!({"name": "backup script"})),
    );
    assert_eq!(s, 201, "{tok}");
    let id = tok["id"].as_i64().unwrap();
    assert_eq!(boss("DELETE", &format!("/api/tokens/{id}"), None).0, 204);
    let (s, src) = boss(
        "POST",
        "/api/epg/sources",
        Some(
            json!({"name": "Satellite guide", "url": "http://127.0.0.1:9/guide.xml", "enabled": false}),
        ),
    );
    assert_eq!(s, 201, "{src}");
    let sid = src["id"].as_i64().unwrap();
    assert_eq!(
        boss("DELETE", &format!("/api/epg/sources/{sid}"), None).0,
        204
    );
    let (_, log) = boss("GET", "/api/audit?limit=3", None);
    assert_eq!(log[0]["action"], "epg_source.delete");
    assert_eq!(log[0]["target"], sid.to_string());
    assert_eq!(log[0]["detail"]["name"], "Satellite guide");
    assert_eq!(log[1]["action"], "epg_source.create");
    assert_eq!(log[2]["action"], "token.revoke");
    assert_eq!(log[2]["detail"]["name"], "backup script");
    assert_eq!(log[2]["detail"]["user"], "boss");
}

/// A channel number already in use is refused naming the channel that has it (create, update and
/// import alike).
#[test]
fn a_taken_channel_number_names_its_channel() {
    let a = Atoll::start("taken-number");
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"news","name":"News 24","number":7,"sources":[],"active":false}"#),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"sport","name":"Sport","number":7,"sources":[],"active":false}"#),
    );
    assert_eq!((s, v["field"].as_str()), (409, Some("number")), "{v}");
    assert_eq!(
        v["message"], "number 7 is already used by channel News 24 (news)",
        "{v}"
    );
    let (s, v) = a.api("PUT", "/api/channels/demo", Some(r#"{"number":7}"#));
    assert_eq!(s, 409, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("News 24 (news)"),
        "{v}"
    );
    let (s, v) = a.api(
        "POST",
        "/api/channels/import",
        Some(r#"{"channels":[{"id":"sport","name":"Sport","number":7,"sources":[]}]}"#),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["errors"][0]["field"], "number", "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("News 24 (news)"),
        "{v}"
    );
}
