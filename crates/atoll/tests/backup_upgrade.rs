//! Backups, restores and upgrades, against the running binary: `atoll backup` while the server
//! runs and writes, `atoll restore` into a new data directory, a server started on it; a database
//! made by an older schema (the committed fixture) is migrated on start; one from a newer
//! schema is refused with a clear message.
//!
//! The fixture `tests/fixtures/atoll-schema7.db` was made by this file's ignored test
//! `write_schema_fixture` (`cargo test -p atoll --test backup_upgrade -- --ignored`) with the
//! release whose schema is 7: the same content as `populate` below, then `atoll backup`. When a
//! release adds a migration, commit a new fixture made the same way beside the old ones.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(60);

/// The accounts' passwords (the fixture was made with these too).
const OPERATOR_PW: &str = "operator-pw-1";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The schema version this build writes: one per migration file.
fn schema_version() -> i64 {
    std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sql"))
        })
        .count() as i64
}

fn atoll_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Channels, an operator account, an API token, a guide source with programmes, a film and a
/// viewer account. Returns the API token.
fn populate(a: &Atoll) -> String {
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"news","name":"新闻 News","number":7,"group":"News","sources":["udp://239.1.1.1:5000","testsrc://"],"epg_id":"news.example"}"#),
    );
    assert_eq!(s, 201, "{v}");
    let body = json!({"name": "op1", "password": OPERATOR_PW, "role": "operator"}).to_string();
    let (s, v) = a.api("POST", "/api/users", Some(&body));
    assert_eq!(s, 201, "{v}");
    let (s, t) = http(
        a.http,
        "POST",
        "/api/tokens",
        Some(("op1", OPERATOR_PW)),
        Some(r#"{"name":"backup script"}"#),
    );
    assert_eq!(s, 201);
    let t: Value = serde_json::from_slice(&t).unwrap();
    let token = t["token"].as_str().unwrap().to_string();
    let guides = a.dir.join("data/guides");
    std::fs::create_dir_all(&guides).unwrap();
    std::fs::write(
        guides.join("news.xml"),
        guide_xml("news.example", "Evening news", 6),
    )
    .unwrap();
    let body = json!({"name": "local", "url": guides.join("news.xml").to_str().unwrap()});
    let (s, v) = a.api("POST", "/api/epg/sources", Some(&body.to_string()));
    assert_eq!(s, 201, "{v}");
    a.wait_for("the guide synced", T, || {
        let (_, l) = a.api("GET", "/api/epg/sources", None);
        l[0]["last_success"].is_string()
    });
    let film = a.dir.join("film.mp4");
    make_small_film(&film);
    vod_import(a, &film, "Island film", "Films");
    let body = json!({"username": "viewer1", "password": "viewer-pw-1"}).to_string();
    let (s, v) = a.api("POST", "/api/viewers", Some(&body));
    assert_eq!(s, 201, "{v}");
    token
}

/// What must survive a backup and restore (or an upgrade), in a form to compare.
fn snapshot(a: &Atoll) -> Value {
    let pick = |v: &Value, keys: &[&str]| -> Vec<Value> {
        let mut out: Vec<Value> = v
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|x| {
                Value::Object(
                    keys.iter()
                        .map(|k| (k.to_string(), x[*k].clone()))
                        .collect(),
                )
            })
            .collect();
        out.sort_by_key(|x| x.to_string());
        out
    };
    let list = |path: &str| {
        let (s, v) = a.api("GET", path, None);
        assert_eq!(s, 200, "{path}: {v}");
        v
    };
    let vod = list("/api/vod");
    let vod = vod.get("titles").cloned().unwrap_or(vod);
    let viewers = list("/api/viewers");
    let viewers = viewers.get("viewers").cloned().unwrap_or(viewers);
    json!({
        "channels": pick(&list("/api/channels"), &["id", "name", "number", "group", "sources", "epg_id", "record"]),
        "users": pick(&list("/api/users"), &["name", "role", "disabled"]),
        "epg_sources": pick(&list("/api/epg/sources"), &["name", "url", "programmes_imported"]),
        "vod": pick(&vod, &["id", "title", "category"]),
        "viewers": pick(&viewers, &["username", "enabled"]),
    })
}

#[test]
fn backup_while_running_restores_the_same_server() {
    let a = Atoll::start("backup-src");
    let token = populate(&a);
    let before = snapshot(&a);
    assert_eq!(before["vod"].as_array().unwrap().len(), 1, "{before}");
    assert_eq!(before["channels"].as_array().unwrap().len(), 2, "{before}");
    // the server keeps writing while the copy is made (the demo channel's events, the journal,
    // sign-ins): a reader in another thread hammers it with API calls meanwhile
    let file = a.dir.join("atoll-backup.db");
    let data = a.dir.join("data");
    let port = a.http;
    let busy = std::thread::spawn(move || {
        for i in 0..30 {
            let body = format!(r#"{{"name":"busy {i}"}}"#);
            http(
                port,
                "POST",
                "/api/tokens",
                Some(("admin", PASSWORD)),
                Some(&body),
            );
        }
    });
    let (ok, out) = atoll_cli(&[
        "backup",
        file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    busy.join().unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains("2 channels") && out.contains("2 accounts") && out.contains("1 films"),
        "{out}"
    );
    assert!(out.contains("6 programmes"), "{out}");
    // it holds secrets: readable by its owner only
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // a restore over the running server's database is refused, and changes nothing
    let (ok, out) = atoll_cli(&[
        "restore",
        file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--force",
    ]);
    assert!(!ok && out.contains("server is running"), "{out}");
    assert!(data.join("atoll.db").exists());
    assert_eq!(snapshot(&a)["channels"], before["channels"]);
    // a backup is one file, no WAL beside it
    assert!(!PathBuf::from(format!("{}-wal", file.display())).exists());

    // restore into a new data directory and start a server on it
    let b = Atoll::start_prepared("backup-dst", &[("viewer_accounts", "true")], |dir| {
        let (ok, out) = atoll_cli(&[
            "restore",
            file.to_str().unwrap(),
            "--data",
            dir.to_str().unwrap(),
        ]);
        assert!(ok, "{out}");
        assert!(out.contains("2 channels"), "{out}");
        // a second restore over it is refused without --force, and keeps the first with it
        let (ok, out) = atoll_cli(&[
            "restore",
            file.to_str().unwrap(),
            "--data",
            dir.to_str().unwrap(),
        ]);
        assert!(!ok && out.contains("--force"), "{out}");
        let (ok, out) = atoll_cli(&[
            "restore",
            file.to_str().unwrap(),
            "--data",
            dir.to_str().unwrap(),
            "--force",
        ]);
        assert!(ok && out.contains("before-restore"), "{out}");
    });
    assert_eq!(snapshot(&b), before);
    // the accounts sign in with their passwords, the API token and the viewer account work
    let (s, _) = http(
        b.http,
        "GET",
        "/api/channels",
        Some(("op1", OPERATOR_PW)),
        None,
    );
    assert_eq!(s, 200);
    let bearer = format!("Bearer {token}");
    let (s, _, _) = raw(
        b.http,
        "GET",
        "/api/channels",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(s, 200, "the API token works on the restored server");
    let (s, body) = b.get("/player_api.php?username=viewer1&password=viewer-pw-1");
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(s, 200);
    assert_eq!(v["user_info"]["auth"], 1, "{v}");
    // the restored channels run: the demo channel plays
    b.wait_playlist("demo", 2, T);
}

#[test]
fn restore_refuses_what_is_not_a_backup() {
    let dir = temp_dir("restore-bad");
    let junk = dir.join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text".repeat(200)).unwrap();
    let data = dir.join("data");
    let (ok, out) = atoll_cli(&[
        "restore",
        junk.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("not"), "{out}");
    assert!(!data.join("atoll.db").exists());
    let (ok, out) = atoll_cli(&[
        "restore",
        dir.join("missing.db").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("does not exist"), "{out}");
    // a backup of a data directory without a database
    let (ok, out) = atoll_cli(&[
        "backup",
        dir.join("b.db").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("does not exist"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_schema7_database_is_migrated_on_start() {
    let fx = fixture("atoll-schema7.db");
    let b = Atoll::start_prepared("upgrade7", &[], |dir| {
        std::fs::copy(&fx, dir.join("atoll.db")).unwrap();
    });
    let snap = snapshot(&b);
    let names: Vec<&str> = snap["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["demo", "news"], "{snap}");
    assert_eq!(snap["vod"][0]["title"], "Island film", "{snap}");
    assert_eq!(snap["viewers"][0]["username"], "viewer1", "{snap}");
    assert_eq!(snap["epg_sources"][0]["name"], "local", "{snap}");
    let (s, _) = http(
        b.http,
        "GET",
        "/api/channels",
        Some(("op1", OPERATOR_PW)),
        None,
    );
    assert_eq!(s, 200, "the old account signs in");
    b.wait_playlist("demo", 2, T);
    // migration 8: the channels have no preferred audio language until one is set
    assert_eq!(b.channel("news")["audio_language"], "");
    let (s, v) = b.api(
        "PUT",
        "/api/channels/news",
        Some(r#"{"audio_language":"zh"}"#),
    );
    assert_eq!((s, v["audio_language"].as_str()), (200, Some("chi")), "{v}");
    let data = b.stop_keeping_data().join("data");
    let c = rusqlite::Connection::open(data.join("atoll.db")).unwrap();
    let v: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, schema_version(), "every migration since 7 applied");
    drop(c);
    // the setting survives a restart on the same database
    let again = Atoll::start_prepared("upgrade7-again", &[], |dir| {
        for f in ["atoll.db", "atoll.db-wal", "atoll.db-shm"] {
            if data.join(f).exists() {
                std::fs::copy(data.join(f), dir.join(f)).unwrap();
            }
        }
    });
    assert_eq!(again.channel("news")["audio_language"], "chi");
    assert_eq!(again.channel("demo")["audio_language"], "");
    drop(again);
    let _ = std::fs::remove_dir_all(data.parent().unwrap());
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = temp_dir("newer");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(fixture("atoll-schema7.db"), data.join("atoll.db")).unwrap();
    let newer = schema_version() + 1;
    {
        let c = rusqlite::Connection::open(data.join("atoll.db")).unwrap();
        c.pragma_update(None, "user_version", newer).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--rtmp",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit 3: not restarted by systemd\n{log}"
    );
    assert!(
        log.contains(&format!("schema version {newer} is newer than this build")),
        "{log}"
    );
    // untouched: still the newer version, no channel added
    let c = rusqlite::Connection::open(data.join("atoll.db")).unwrap();
    let v: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, newer);
    // restore refuses such a backup too
    let (ok, out) = atoll_cli(&[
        "restore",
        data.join("atoll.db").to_str().unwrap(),
        "--data",
        dir.join("other").to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("newer"), "{out}");
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `tests/fixtures/atoll-schema{N}.db` with this build (N = its schema version): run it
/// once per release that adds a migration and commit the file.
#[test]
#[ignore]
fn write_schema_fixture() {
    let a = Atoll::start("fixture");
    populate(&a);
    let out = fixture(&format!("atoll-schema{}.db", schema_version()));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let (ok, text) = atoll_cli(&[
        "backup",
        out.to_str().unwrap(),
        "--data",
        a.dir.join("data").to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    // small: drop the logs (they grow with time) and free pages
    let c = rusqlite::Connection::open(&out).unwrap();
    c.execute_batch("DELETE FROM channel_event; DELETE FROM audit_log; VACUUM;")
        .unwrap();
    println!("{text}");
}
