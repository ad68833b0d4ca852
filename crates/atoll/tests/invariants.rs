//! Architecture invariants from ARCHITECTURE.md that a machine can check.

use std::path::Path;

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

#[test]
fn pure_crates_do_no_io_and_read_no_clock() {
    for name in ["media", "mpegts", "rtmp", "hls", "testsrc", "epg"] {
        let dir = crates_dir().join(name);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        for dep in ["tokio", "mio", "socket2", "hyper", "axum", "rusqlite"] {
            assert!(
                !manifest.contains(&format!("\n{dep}")),
                "{name} must not depend on {dep}"
            );
        }
        let mut files = Vec::new();
        read_tree(&dir.join("src"), &mut files);
        for (path, text) in files {
            for banned in [
                "std::net",
                "tokio::",
                "SystemTime::now",
                "Instant::now",
                "std::fs::",
                "std::thread::spawn",
            ] {
                assert!(
                    !text.contains(banned),
                    "{path} uses {banned}: pure crates are sans-IO"
                );
            }
        }
    }
}

#[test]
fn only_api_speaks_json_and_nothing_imports_api() {
    let src = crates_dir().join("atoll/src");
    let mut files = Vec::new();
    read_tree(&src, &mut files);
    for (path, text) in files {
        if path.contains("/api/") {
            continue;
        }
        assert!(
            !text.contains("serde_json"),
            "{path}: only api serialises JSON"
        );
        assert!(!text.contains("crate::api"), "{path} must not import api");
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

/// Every handler of a state-changing route (POST/PUT/DELETE) asks for an account (`Authed` or
/// `Admin` among its parameters), except signing in.
#[test]
fn every_state_change_needs_an_account() {
    let api = crates_dir().join("atoll/src/api");
    let read = |m: &str| std::fs::read_to_string(api.join(format!("{m}.rs"))).unwrap();
    let mut checked = 0;
    for e in std::fs::read_dir(&api).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&p).unwrap();
        for chunk in src.split(".route(").skip(1) {
            let path = chunk.split('"').nth(1).unwrap_or("");
            for m in ["post(", "put(", "delete("] {
                for (i, _) in chunk.match_indices(m) {
                    if i > 0 && chunk[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                        continue;
                    }
                    let handler: String = chunk[i + m.len()..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    if handler.is_empty() {
                        continue;
                    }
                    let (module, func) = match handler.rsplit_once("::") {
                        Some((m, f)) => (m.rsplit("::").next().unwrap().to_string(), f.to_string()),
                        None => ("mod".to_string(), handler.clone()),
                    };
                    if func == "sign_in" {
                        continue;
                    }
                    let file = read(&module);
                    let at = file
                        .find(&format!("async fn {func}("))
                        .unwrap_or_else(|| panic!("handler {module}::{func} not found"));
                    let params = &file[at..at + file[at..].find(") ->").unwrap()];
                    assert!(
                        params.contains("Authed") || params.contains("Admin"),
                        "{m}{path}) handled by {module}::{func} does not ask for an account"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 16, "only {checked} state-changing routes found");
}
