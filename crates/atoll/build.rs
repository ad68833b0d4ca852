//! Brings the front-end dependencies (hls.js) from npm, pinned by web/package-lock.json, and embeds
//! the pages under web/player and web/admin, so the binary serves everything itself (the network
//! has no internet, so no CDN at run time).
//!
//! Offline builds: `ATOLL_WEB_DIST=dir` takes the npm-built files from `dir` instead (its layout:
//! `dir/hls.min.js`; `web/dist.sh dir` makes it on a machine with Node and the npm registry), and
//! then neither Node nor the network is needed. Without it, Node's `npm ci` runs once (into
//! web/node_modules) and a missing npm or a failed install stops the build with a one-line reason.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Folders of web/ whose files are served under `/assets/{folder}/…`.
const PAGE_DIRS: &[&str] = &["player", "admin"];

/// Files built from npm packages: (name in an ATOLL_WEB_DIST dir and under /assets/, path in web/).
const NPM_FILES: &[(&str, &str)] = &[("hls.min.js", "node_modules/hls.js/dist/hls.min.js")];

/// Stops the build with one line saying why (cargo shows the build script's stderr).
fn fail(msg: String) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}

/// Where the npm-built files come from: an ATOLL_WEB_DIST dir, or web/node_modules (running
/// `npm ci` first when a file is missing).
fn npm_files(web: &Path) -> Vec<(&'static str, PathBuf)> {
    println!("cargo:rerun-if-env-changed=ATOLL_WEB_DIST");
    if let Some(dist) = std::env::var_os("ATOLL_WEB_DIST").filter(|d| !d.is_empty()) {
        let dist = PathBuf::from(dist);
        return NPM_FILES
            .iter()
            .map(|(name, _)| {
                let p = dist.join(name);
                if !p.is_file() {
                    fail(format!(
                        "ATOLL_WEB_DIST={}: {name} is missing (make the dir with `web/dist.sh DIR` on a machine with Node.js and the npm registry)",
                        dist.display()
                    ));
                }
                println!("cargo:rerun-if-changed={}", p.display());
                (*name, p)
            })
            .collect();
    }
    for f in ["package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", web.join(f).display());
    }
    if NPM_FILES.iter().any(|(_, rel)| !web.join(rel).exists()) {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(web)
            .status()
            .unwrap_or_else(|e| {
                fail(format!(
                    "the web player needs hls.js from npm, and `npm` could not run ({e}): install Node.js and npm, or build offline with ATOLL_WEB_DIST=DIR (see README)"
                ))
            });
        if !status.success() {
            fail(format!(
                "`npm ci` in {} failed ({status}; it needs the npm registry): retry online, or build offline with ATOLL_WEB_DIST=DIR made by web/dist.sh (see README)",
                web.display()
            ));
        }
    }
    NPM_FILES
        .iter()
        .map(|(name, rel)| {
            let p = web.join(rel);
            if !p.is_file() {
                fail(format!("`npm ci` did not produce {}", p.display()));
            }
            println!("cargo:rerun-if-changed={}", p.display());
            (*name, p)
        })
        .collect()
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let web = manifest
        .join("../../web")
        .canonicalize()
        .expect("web/ next to crates/");
    let npm = npm_files(&web);
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for (name, src) in &npm {
        if let Err(e) = std::fs::copy(src, out.join(name)) {
            fail(format!("copying {}: {e}", src.display()));
        }
    }

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
    for (name, _) in &npm {
        writeln!(
            src,
            "    ({name:?}, include_bytes!({:?})),",
            out.join(name).display().to_string()
        )
        .unwrap();
    }
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
