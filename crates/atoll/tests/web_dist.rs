//! Offline builds: with `ATOLL_WEB_DIST=dir` the build script takes the npm-built web files from
//! `dir` and needs neither Node nor the network; a dir without them stops the build with one line.
//! Runs the crate's compiled build script itself (as cargo does) with a PATH that has no npm.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

/// The newest compiled build script of this crate in the target dir.
fn build_script() -> PathBuf {
    let build = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/build");
    let build = std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| PathBuf::from(d).join("debug/build"))
        .filter(|d| d.is_dir())
        .unwrap_or(build);
    std::fs::read_dir(&build)
        .unwrap_or_else(|e| panic!("{}: {e}", build.display()))
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("atoll-"))
        .map(|e| e.path().join("build-script-build"))
        .filter(|p| p.is_file())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .expect("atoll's compiled build script (cargo builds it before the tests)")
}

fn run(dist: &Path, out: &Path) -> std::process::Output {
    std::fs::create_dir_all(out).unwrap();
    let empty_path = out.join("no-tools");
    std::fs::create_dir_all(&empty_path).unwrap();
    Command::new(build_script())
        .env_clear()
        .env("PATH", &empty_path) // no npm, no node
        .env("OUT_DIR", out)
        .env("CARGO_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR"))
        .env("ATOLL_WEB_DIST", dist)
        .output()
        .expect("run the build script")
}

#[test]
fn build_takes_web_assets_from_atoll_web_dist_without_node() {
    let dir = common::temp_dir("web-dist");
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let hls = b"/* a prepared hls.min.js */ var Hls = {};\n";
    std::fs::write(dist.join("hls.min.js"), hls).unwrap();
    let out = dir.join("out");
    let o = run(&dist, &out);
    assert!(
        o.status.success(),
        "build script failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(out.join("hls.min.js")).unwrap(), hls);
    let assets = std::fs::read_to_string(out.join("assets.rs")).unwrap();
    for f in [
        "\"hls.min.js\"",
        "\"player/app.js\"",
        "\"player/storage.js\"",
        "\"admin/app.js\"",
    ] {
        assert!(assets.contains(f), "{f} not embedded:\n{assets}");
    }

    // a dist dir without the files: one line saying what is missing and how to make it
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = run(&empty, &dir.join("out2"));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ATOLL_WEB_DIST=")
            && err.contains("hls.min.js")
            && err.contains("web/dist.sh"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
