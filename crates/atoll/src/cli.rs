//! `atoll user …`: account maintenance from the command line (works while the server runs:
//! SQLite serialises the writes). Every change is written to the audit log as user `cli`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};

use crate::auth;
use crate::config::{Config, UserCommand};
use crate::store::{self, Role, Store};

/// `atoll cluster promote`: this backup origin stops following its primary and takes changes
/// itself (a running server notices within a second). Written to the audit log.
pub fn promote(cfg: &Config) -> anyhow::Result<()> {
    let db = cfg.data.join("atoll.db");
    if !db.exists() {
        bail!("no database at {} (pass --data)", db.display());
    }
    let store = Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    if let Some(t) = store.with(|c| store::node_setting(c, crate::cluster::follow::PROMOTED))? {
        println!("already promoted (at {t} ms); this node takes changes itself");
        return Ok(());
    }
    store
        .with(|c| store::set_node_setting(c, crate::cluster::follow::PROMOTED, &now.to_string()))?;
    let detail = serde_json::json!({"promoted_utc_ms": now}).to_string();
    store.with(|c| crate::journal::audit(c, now, "cli", "", "cluster.promote", "", &detail))?;
    println!(
        "promoted: this node no longer follows its primary and takes changes itself. \
         Remove --follow from its settings, and reconfigure the old primary to --follow this one \
         before it runs again."
    );
    Ok(())
}

pub fn user(cmd: &UserCommand, cfg: &Config) -> anyhow::Result<()> {
    let db = cfg.data.join("atoll.db");
    if !db.exists() {
        bail!(
            "no database at {} (start the server once, or pass --data)",
            db.display()
        );
    }
    let store = Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let name = cmd.name.as_str();
    // the audit detail is a JSON object, serialised by serde_json (never assembled by hand)
    let audit = |action: &str, detail: serde_json::Value| {
        let detail = detail.to_string();
        store.with(|c| crate::journal::audit(c, now, "cli", "", action, name, &detail))
    };
    match cmd.action.as_str() {
        "list" => {
            let users = store.with(|c| auth::list_users(c))?;
            println!(
                "{:<24} {:<9} {:<9} last sign-in (UTC)",
                "NAME", "ROLE", "STATE"
            );
            for u in users {
                println!(
                    "{:<24} {:<9} {:<9} {}",
                    u.name,
                    u.role.as_str(),
                    if u.disabled { "disabled" } else { "enabled" },
                    u.last_login_utc_ms
                        .map(|t| media::UtcMs(t).to_rfc3339())
                        .unwrap_or_else(|| "never".into())
                );
            }
        }
        "add" => {
            if !(1..=64).contains(&name.len())
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
            {
                bail!("account names are 1-64 characters of a-z 0-9 _ . -");
            }
            let password = read_password()?;
            let role = if cmd.role == "admin" {
                Role::Admin
            } else {
                Role::Operator
            };
            let user = store::User {
                name: name.to_string(),
                password_hash: auth::hash_password(&password),
                role,
                disabled: false,
            };
            store
                .with(|c| store::insert_user(c, &user, now))
                .map_err(|e| match e {
                    store::StoreError::Conflict { .. } => {
                        anyhow::anyhow!("account '{name}' already exists")
                    }
                    e => e.into(),
                })?;
            audit("user.create", serde_json::json!({ "role": role.as_str() }))?;
            println!("added {} account '{name}'", role.as_str());
        }
        "passwd" => {
            let password = read_password()?;
            let hash = auth::hash_password(&password);
            store
                .with(|c| auth::update_user(c, name, Some(&hash), None, None))
                .map_err(|e| not_found(e, name))?;
            audit(
                "user.update",
                serde_json::json!({ "password_changed": true }),
            )?;
            println!("password of '{name}' changed; its console sessions are signed out");
        }
        "disable" | "enable" => {
            let disable = cmd.action == "disable";
            if disable {
                let u = store
                    .with(|c| store::get_user(c, name))?
                    .ok_or_else(|| anyhow::anyhow!("no account '{name}'"))?;
                if u.role == Role::Admin && store.with(|c| auth::other_admins(c, name))? == 0 {
                    bail!("'{name}' is the last enabled admin account");
                }
            }
            store
                .with(|c| auth::update_user(c, name, None, None, Some(disable)))
                .map_err(|e| not_found(e, name))?;
            audit("user.update", serde_json::json!({ "disabled": disable }))?;
            println!("'{name}' {}", if disable { "disabled" } else { "enabled" });
        }
        other => bail!("unknown action {other}"),
    }
    Ok(())
}

fn not_found(e: store::StoreError, name: &str) -> anyhow::Error {
    match e {
        store::StoreError::NotFound => anyhow::anyhow!("no account '{name}'"),
        e => e.into(),
    }
}

/// The new password: ATOLL_USER_PASSWORD, else asked twice on a terminal (no echo), else one
/// line of standard input.
fn read_password() -> anyhow::Result<String> {
    let p = if let Ok(p) = std::env::var("ATOLL_USER_PASSWORD") {
        p
    } else if std::io::stdin().is_terminal() {
        let a = prompt("New password: ")?;
        let b = prompt("Again: ")?;
        if a != b {
            bail!("the passwords differ");
        }
        a
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if p.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    Ok(p)
}

/// Reads a line from the terminal with echo off.
fn prompt(label: &str) -> anyhow::Result<String> {
    eprint!("{label}");
    std::io::stderr().flush()?;
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data filled in by tcgetattr; we restore what we read.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::tcgetattr(fd, &mut t) } == 0;
    if got {
        let mut quiet = t;
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    if got {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
    }
    eprintln!();
    r?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `atoll vod import PATH…`: each file remuxed into the library of the data directory, one line
/// per file (the new title's id, or why it was refused). Ok(false) when any was refused.
pub fn vod_import(cmd: &crate::config::VodImport, cfg: &Config) -> anyhow::Result<bool> {
    use crate::vod;
    let db = cfg.data.join("atoll.db");
    std::fs::create_dir_all(&cfg.data)
        .with_context(|| format!("creating {}", cfg.data.display()))?;
    let store = Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let settings = cfg.vod();
    for d in [".staging", ".uploads", "incoming"] {
        std::fs::create_dir_all(settings.dir.join(d))
            .with_context(|| format!("creating {}", settings.dir.join(d).display()))?;
    }
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    };
    let mut all_ok = true;
    for path in &cmd.paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| path.display().to_string());
        let import_id = vod::new_id();
        store.with(|c| vod::catalog::import_started(c, &import_id, "cli", &name, now()))?;
        let req = vod::import::Request {
            path: path.clone(),
            source_name: name.clone(),
            title: cmd.title.clone(),
            category: cmd.category.clone(),
            subtitles: vod::import::sidecars(path),
        };
        let staging = settings.dir.join(".staging").join(&import_id);
        let mut last = 0.0;
        let result = vod::import::import(&req, &staging, &settings.import, &mut |p| {
            if p - last >= 0.1 {
                last = p;
                let _ = store.with(|c| vod::catalog::import_progress(c, &import_id, p));
            }
        });
        let outcome = match result {
            Ok(imported) => {
                for n in &imported.notes {
                    eprintln!("{}: note: {n}", path.display());
                }
                let r = store
                    .with(|c| {
                        vod::finalize(c, &settings.dir, &imported, now())
                            .map_err(|e| store::StoreError::Join(format!("{e:#}")))
                    })
                    .map_err(|e| e.to_string());
                let _ = std::fs::remove_dir_all(&staging);
                r
            }
            Err(e) => Err(e.to_string()),
        };
        store.with(|c| {
            vod::catalog::import_finished(
                c,
                &import_id,
                outcome.as_ref().map(|t| *t).map_err(|e| e.as_str()),
                now(),
            )
        })?;
        match outcome {
            Ok(id) => {
                println!("{}: imported as {id}", path.display());
                let detail = serde_json::json!({"file": name, "title_id": id}).to_string();
                let _ = store.with(|c| {
                    crate::journal::audit(
                        c,
                        now(),
                        "cli",
                        "",
                        "vod.import",
                        &id.to_string(),
                        &detail,
                    )
                });
            }
            Err(e) => {
                all_ok = false;
                println!("{}: refused: {e}", path.display());
            }
        }
    }
    Ok(all_ok)
}
