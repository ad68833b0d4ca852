//! `atoll backup FILE` and `atoll restore FILE --data DIR`: everything that is not the archive
//! or a film's bytes — channels and sources, accounts, sessions and API tokens, guide sources and
//! programmes, the VOD catalogue, viewer accounts, settings, the audit and channel logs — lives
//! in `atoll.db`, so a backup is one consistent copy of it, made with SQLite's online backup
//! while the server runs (WAL: the server keeps writing meanwhile; the copy is the database as
//! of one commit). The copy is a plain SQLite file (no WAL), its schema version in
//! `user_version`: a restored server migrates an older one on start and refuses a newer one.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rusqlite::{Connection, OpenFlags};

use crate::config::{Config, Restore};
use crate::store::SCHEMA_VERSION;

/// What a backup holds, counted for the operator (and the tests).
fn summary(c: &Connection) -> anyhow::Result<String> {
    let count = |t: &str| -> anyhow::Result<i64> {
        Ok(c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?)
    };
    let version: usize = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let mut parts = vec![
        format!("schema {version}"),
        format!("{} channels", count("channel")?),
        format!("{} accounts", count("user")?),
        format!("{} API tokens", count("api_token")?),
        format!("{} guide sources", count("epg_source")?),
        format!("{} programmes", count("programme")?),
    ];
    if version >= 6 {
        parts.push(format!("{} films", count("vod_title")?));
    }
    if version >= 7 {
        parts.push(format!("{} viewer accounts", count("viewer_account")?));
    }
    Ok(parts.join(", "))
}

/// Copies `from` into a new file `to` (replaced if there) through a `.partial` beside it, in one
/// step of the online backup (one read transaction: a consistent copy); the copy's journal is
/// a rollback journal, so it is one self-contained file.
fn copy_db(from: &Connection, to: &Path) -> anyhow::Result<()> {
    let partial = PathBuf::from(format!("{}.partial", to.display()));
    let _ = std::fs::remove_file(&partial);
    // the copy holds secrets (publish keys, the viewer-token key, source credentials): owner only
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
    }
    {
        let mut dst = Connection::open(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let b = rusqlite::backup::Backup::new(from, &mut dst)?;
        // every page in one step: one read transaction (Busy/Locked: the server holds a lock
        // for a moment; try again, for at most 30 s)
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match b.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                _ if std::time::Instant::now() > until => bail!("the database stayed locked"),
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
        drop(b);
        dst.pragma_update(None, "journal_mode", "DELETE")?;
        let ok: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if ok != "ok" {
            bail!("the copy failed its check: {ok}");
        }
    }
    std::fs::rename(&partial, to)
        .with_context(|| format!("renaming {} to {}", partial.display(), to.display()))?;
    Ok(())
}

/// Opens `path` (never creating it; `query_only`) and checks it is an Atoll database this build
/// can run. A live WAL database is opened read-write (a read-only connection cannot always set up
/// the WAL index), a backup file read-only.
fn open_checked(path: &Path, flags: OpenFlags) -> anyhow::Result<Connection> {
    if !path.is_file() {
        bail!("{} does not exist", path.display());
    }
    let c = Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {}", path.display()))?;
    c.pragma_update(None, "query_only", "ON")?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    let version: usize = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .with_context(|| format!("{} is not an SQLite database", path.display()))?;
    let has_channels: bool = c
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'channel'",
            [],
            |r| r.get(0),
        )
        .with_context(|| format!("{} is not an SQLite database", path.display()))?;
    if version == 0 || !has_channels {
        bail!("{} is not an Atoll database", path.display());
    }
    if version > SCHEMA_VERSION {
        bail!(
            "{}: schema version {version} is newer than this build of Atoll knows \
             ({SCHEMA_VERSION}); use the version that made it",
            path.display()
        );
    }
    Ok(c)
}

/// `atoll backup FILE`.
pub fn backup(file: &Path, cfg: &Config) -> anyhow::Result<()> {
    let db = cfg.data.join("atoll.db");
    let src = open_checked(&db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .context("(pass --data DIR, the server's data directory)")?;
    copy_db(&src, file)?;
    let copy = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {} to {} ({} KiB): {}",
        db.display(),
        file.display(),
        size.div_ceil(1024),
        summary(&copy)?
    );
    Ok(())
}

/// The file a running server holds a shared lock on (`flock`), for as long as it runs.
const RUNNING_LOCK: &str = "atoll.running";

fn flock(f: &std::fs::File, op: libc::c_int) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a valid open file descriptor; flock has no other preconditions.
    if unsafe { libc::flock(f.as_raw_fd(), op | libc::LOCK_NB) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn open_lock(dir: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.join(RUNNING_LOCK))
}

/// Taken by `atoll serve` on its data directory and kept until it exits (shared: it does not
/// stop anything else from running there; it stops `atoll restore`).
pub fn hold_running_lock(dir: &Path) -> std::io::Result<std::fs::File> {
    let f = open_lock(dir)?;
    flock(&f, libc::LOCK_SH).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            std::io::Error::other("`atoll restore` is replacing the database; start again after it")
        } else {
            e
        }
    })?;
    Ok(f)
}

/// `atoll restore FILE --data DIR [--force]`. Refused while a server runs on DIR.
pub fn restore(r: &Restore, cfg: &Config) -> anyhow::Result<()> {
    let src = open_checked(&r.file, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let ok: String = src.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if ok != "ok" {
        bail!("{} is damaged: {ok}", r.file.display());
    }
    std::fs::create_dir_all(&cfg.data)
        .with_context(|| format!("creating {}", cfg.data.display()))?;
    // held until the restore is done: no server starts on the directory meanwhile
    let lock = open_lock(&cfg.data).with_context(|| format!("locking {}", cfg.data.display()))?;
    if flock(&lock, libc::LOCK_EX).is_err() {
        bail!(
            "an Atoll server is running on {}: stop it first (sudo systemctl stop atoll)",
            cfg.data.display()
        );
    }
    give_to_data_dir_owner(&cfg.data, &cfg.data.join(RUNNING_LOCK));
    let db = cfg.data.join("atoll.db");
    let wal = |p: &Path, ext: &str| PathBuf::from(format!("{}-{ext}", p.display()));
    if db.exists() {
        if !r.force {
            bail!(
                "{} already has a database; stop the server and pass --force to replace it \
                 (the current one is kept beside it)",
                cfg.data.display()
            );
        }
        // fold the old database's WAL into it, then keep it under another name
        {
            let old = Connection::open(&db)?;
            old.busy_timeout(std::time::Duration::from_secs(10))?;
            old.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            old.pragma_update(None, "journal_mode", "DELETE")?;
        }
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let kept = cfg.data.join(format!("atoll.db.before-restore-{secs}"));
        std::fs::rename(&db, &kept)?;
        println!("kept the replaced database as {}", kept.display());
    }
    for ext in ["wal", "shm"] {
        let _ = std::fs::remove_file(wal(&db, ext));
    }
    copy_db(&src, &db)?;
    give_to_data_dir_owner(&cfg.data, &db);
    println!(
        "restored {} into {}: {}",
        r.file.display(),
        db.display(),
        summary(&src)?
    );
    Ok(())
}

/// Run as root (`sudo atoll restore …` on a packaged install), the restored file goes to the
/// owner of the data directory (the `atoll` user), or the service could not write it.
fn give_to_data_dir_owner(dir: &Path, file: &Path) {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    if let Ok(m) = std::fs::metadata(dir) {
        if let Err(e) = std::os::unix::fs::chown(file, Some(m.uid()), Some(m.gid())) {
            eprintln!(
                "could not give {} to the data directory's owner: {e}",
                file.display()
            );
        }
    }
}
