//! Brings the front-end dependencies (hls.js) from npm, pinned by web/package-lock.json, so the
//! binary serves everything itself (the network has no internet, so no CDN at run time).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let web = manifest
        .join("../../web")
        .canonicalize()
        .expect("web/ next to crates/");
    println!(
        "cargo:rerun-if-changed={}",
        web.join("package.json").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        web.join("package-lock.json").display()
    );
    let hls = web.join("node_modules/hls.js/dist/hls.min.js");
    if !hls.exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&web)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "running `npm ci` in {}: {e} (install Node.js and npm)",
                    web.display()
                )
            });
        assert!(status.success(), "`npm ci` in {} failed", web.display());
    }
    println!("cargo:rerun-if-changed={}", hls.display());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::copy(&hls, out.join("hls.min.js")).expect("copy hls.min.js");
}
