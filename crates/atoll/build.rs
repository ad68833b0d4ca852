//! Brings the front-end dependencies (hls.js) from npm, pinned by web/package-lock.json, and embeds
//! the pages under web/player and web/admin, so the binary serves everything itself (the network
//! has no internet, so no CDN at run time).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Folders of web/ whose files are served under `/assets/{folder}/…`.
const PAGE_DIRS: &[&str] = &["player", "admin"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let web = manifest
        .join("../../web")
        .canonicalize()
        .expect("web/ next to crates/");
    for f in ["package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", web.join(f).display());
    }
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

    let mut files = Vec::new();
    for dir in PAGE_DIRS {
        let d = web.join(dir);
        println!("cargo:rerun-if-changed={}", d.display());
        if d.is_dir() {
            walk(&d, &web, &mut files);
        }
    }
    files.sort();
    let mut src = String::from("/// Embedded web assets: (path under /assets/, bytes).\npub static ASSETS: &[(&str, &[u8])] = &[\n");
    writeln!(
        src,
        "    (\"hls.min.js\", include_bytes!({:?})),",
        out.join("hls.min.js").display().to_string()
    )
    .unwrap();
    for (rel, abs) in &files {
        writeln!(src, "    ({rel:?}, include_bytes!({abs:?})),").unwrap();
    }
    src.push_str("];\n");
    std::fs::write(out.join("assets.rs"), src).expect("write assets.rs");
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read web dir")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, root, out);
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, p.display().to_string()));
        }
    }
}
