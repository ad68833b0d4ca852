//! Architecture invariants from ARCHITECTURE.md that a machine can check.

use std::path::Path;

mod common;

fn read_tree(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            read_tree(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
}

fn crates_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The pure (sans-IO) crates.
const PURE: &[&str] = &[
    "media", "mpegts", "rtmp", "hls", "testsrc", "epg", "mp4", "mkv",
];

/// Packages that do IO (async runtimes, sockets, HTTP, databases, file watching): no pure crate may
/// depend on them, at any depth.
const IO_PACKAGES: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "hyper",
    "axum",
    "tower",
    "rusqlite",
    "libsqlite3-sys",
    "reqwest",
    "ureq",
    "async-std",
    "async-io",
    "smol",
    "polling",
    "notify",
    "chrono",
];

/// `cargo metadata` of the workspace (resolved for this host).
fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let host = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("host triple");
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .current_dir(crates_dir())
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

/// Every package `root` links (normal dependencies, transitively; not dev-dependencies, which only
/// serve its tests, nor build dependencies, which only run at build time): name -> the chain that
/// pulls it in.
fn dependency_closure(
    meta: &serde_json::Value,
    root: &str,
) -> std::collections::BTreeMap<String, String> {
    use std::collections::{BTreeMap, HashMap};
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root_id = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .find(|id| names.get(id) == Some(&root))
        .unwrap_or_else(|| panic!("{root} is not a workspace member"));
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut stack = vec![(root_id, root.to_string())];
    let mut visited = std::collections::HashSet::new();
    while let Some((id, chain)) = stack.pop() {
        if !visited.insert(id) {
            continue;
        }
        for d in nodes[id]["deps"].as_array().unwrap() {
            let linked = d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            if !linked {
                continue;
            }
            let dep = d["pkg"].as_str().unwrap();
            let name = names[dep];
            let chain = format!("{chain} -> {name}");
            seen.entry(name.to_string())
                .or_insert_with(|| chain.clone());
            stack.push((dep, chain));
        }
    }
    seen
}

/// The pure crates depend on nothing that does IO, directly or through another crate, however
/// the dependency is written in the manifest (read from `cargo metadata`, not from the text).
#[test]
fn pure_crates_depend_on_nothing_that_does_io() {
    let meta = metadata();
    for name in PURE {
        let deps = dependency_closure(&meta, name);
        assert!(
            deps.contains_key("bytes") || *name == "media" || deps.contains_key("media"),
            "{name}: the dependency walk found nothing ({deps:?})"
        );
        for banned in IO_PACKAGES {
            if let Some(chain) = deps.get(*banned) {
                panic!("pure crate {name} depends on {banned}: {chain}");
            }
        }
    }
    // the walk is transitive: atoll reaches tokio's own dependencies through tokio
    let atoll = dependency_closure(&meta, "atoll");
    assert!(
        atoll.contains_key("tokio") && atoll.contains_key("mio"),
        "{atoll:?}"
    );
}

/// Clocks, files, sockets, threads and unbounded queues in the pure crates are refused by clippy
/// (`.ci/run` runs it with `-D warnings`): each pure crate carries the same strict clippy.toml,
/// and the workspace one bans unbounded queues everywhere else.
#[test]
fn clippy_enforces_the_pure_crate_and_queue_rules() {
    let root = crates_dir().parent().unwrap().to_path_buf();
    let policy = std::fs::read_to_string(crates_dir().join("media/clippy.toml")).unwrap();
    for needle in [
        "std::time::SystemTime::now",
        "std::time::Instant::now",
        "std::fs::read",
        "std::fs::File",
        "std::net::TcpStream",
        "std::net::UdpSocket",
        "std::thread::spawn",
        "std::sync::mpsc::channel",
        "tokio::sync::mpsc::unbounded_channel",
    ] {
        assert!(
            policy.contains(&format!("\"{needle}\"")),
            "media/clippy.toml misses {needle}"
        );
    }
    for name in PURE {
        let p = crates_dir().join(name).join("clippy.toml");
        let text = std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e} (copy crates/media/clippy.toml)", p.display()));
        assert_eq!(
            text,
            policy,
            "{} differs from crates/media/clippy.toml",
            p.display()
        );
        // a source file may not switch the lints off
        let mut files = Vec::new();
        read_tree(&crates_dir().join(name).join("src"), &mut files);
        for (path, text) in files {
            assert!(
                !text.contains("disallowed_methods") && !text.contains("disallowed_types"),
                "{path} switches off the pure-crate lints"
            );
        }
    }
    let workspace = std::fs::read_to_string(root.join("clippy.toml")).unwrap();
    for needle in [
        "tokio::sync::mpsc::unbounded_channel",
        "std::sync::mpsc::channel",
    ] {
        assert!(workspace.contains(needle), "clippy.toml misses {needle}");
    }
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let clippy = ci
        .find("cargo clippy --workspace --all-targets -- -D warnings")
        .expect(".ci/run runs clippy with -D warnings");
    assert!(
        clippy < ci.find("cargo test").expect(".ci/run runs the tests"),
        "clippy runs before the tests"
    );
}

#[test]
fn only_api_speaks_json_and_nothing_imports_api() {
    let src = crates_dir().join("atoll/src");
    let mut files = Vec::new();
    read_tree(&src, &mut files);
    for (path, text) in files {
        // the edges that talk to programs: the HTTP API, the command line's audit entries, the
        // cluster protocol between nodes (its wire types and the edge side that reads them), and
        // the VOD library (a title's track list is a JSON column; its edge mirror reads the
        // cluster protocol), and the viewer accounts (their packages are JSON columns)
        let speaks_json = path.contains("/api/")
            || path.ends_with("/cli.rs")
            || path.contains("/cluster/")
            || path.contains("/ingest/origin/")
            || path.contains("/vod/")
            || path.contains("/xc/");
        if !path.contains("/api/") {
            assert!(!text.contains("crate::api"), "{path} must not import api");
        }
        if speaks_json {
            continue;
        }
        assert!(
            !text.contains("serde_json"),
            "{path}: only api and the cluster protocol speak JSON"
        );
    }
}

/// The hub drives ingest; ingest never reaches back into the hub (publishers are handed over
/// through `ingest::rtmp_server::PublisherRegistry`, which the hub implements).
#[test]
fn ingest_never_imports_hub() {
    let mut files = Vec::new();
    read_tree(&crates_dir().join("atoll/src/ingest"), &mut files);
    assert!(files.len() > 3, "ingest sources found");
    for (path, text) in files {
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        // `crate::hub`, `crate::{hub, ..}`, `super::super::hub`, `hub::Hub`, the type itself
        for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            assert!(
                word != "hub" && word != "Hub",
                "{path} names the hub: ingest must not depend on it"
            );
        }
    }
}

#[test]
fn playback_reads_only_the_archive_store() {
    let text = std::fs::read_to_string(crates_dir().join("atoll/src/api/archive.rs")).unwrap();
    for banned in ["hub", "recorder", "LiveOutput"] {
        assert!(
            !text.contains(banned),
            "api/archive.rs (playback) must not use {banned}: the archive is the contract"
        );
    }
    let recorder = std::fs::read_to_string(crates_dir().join("atoll/src/recorder.rs")).unwrap();
    assert!(
        !recorder.contains("crate::api"),
        "the recorder never imports api"
    );
}

/// Every state-changing operation (POST/PUT/DELETE) of the running server refuses a request without
/// an account, except signing in. The operations come from the server's own OpenAPI document
/// (built from the route table the router is built from: `src/api/routes.rs`),
/// and each is requested for real, so a handler written as a closure, or one that forgets its
/// `Authed`/`Admin` extractor, is caught whatever its source looks like.
#[test]
fn every_state_change_needs_an_account() {
    let a = common::Atoll::start("invariant-auth");
    let (s, b) = a.get("/api/openapi.json");
    assert_eq!(s, 200);
    let doc: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let m = method.to_uppercase();
            // node-to-node calls take the cluster key, not an account: refused without it
            // (401), or always on a node that has none (403)
            let cluster = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x.get("clusterKey").is_some()));
            if !["POST", "PUT", "DELETE", "PATCH"].contains(&m.as_str()) {
                continue;
            }
            if m == "POST" && path == "/api/session" {
                continue; // signing in
            }
            if path.ends_with(".php") {
                // the Xtream Codes API: a POST there is a read whose form carries the viewer
                // account (tests/xc.rs refuses it without one)
                continue;
            }
            let p = path
                .replace("{id}", "demo")
                .replace("{name}", "admin")
                .replace("{action}", "stop");
            for body in [&b"{}"[..], b""] {
                let (s, _, resp) = common::raw(
                    a.http,
                    &m,
                    &p,
                    &[("Content-Type", "application/json")],
                    body,
                );
                let expected: &[u16] = if cluster { &[401, 403] } else { &[401] };
                assert!(
                    expected.contains(&s),
                    "{m} {p} without an account: {s} {}",
                    String::from_utf8_lossy(&resp)
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 16,
        "only {checked} state-changing operations found"
    );
    // nothing changed
    assert_eq!(a.channel("demo")["record"], true);
}
