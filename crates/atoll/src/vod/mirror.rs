//! An edge's copy of its origin's library. The catalogue follows the origin's within seconds
//! (same ids, categories and fields; removed titles go with their files). The files are mirrored
//! in the background, most wanted first (a title a viewer is waiting for, then the most played
//! here, then the newest), in ranges of 4 MiB appended to `{id}/media.mp4.part` (a restart or
//! a broken link resumes where the part ends), verified against the origin's SHA-256, and only
//! then renamed to `media.mp4`. Mirrored copies stay within `vod_mirror_max_mib` and leave
//! `vod_mirror_min_free_percent` of the disk free, evicting the copies unwatched the longest.
//!
//! A title not mirrored yet plays at once: it goes to the head of the queue, its index is read
//! from the first bytes of the part (a fast-start file), and a segment whose bytes have not
//! arrived is read from the origin with a range request (`read_runs`).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{watch, Notify};

use super::catalog::{self, Title};
use super::Library;
use crate::ingest::origin::Upstream;
use crate::store::Store;

/// Bytes fetched per range request.
const CHUNK: u64 = 4 << 20;
/// How often the catalogue is compared with the origin's.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// Largest catalogue answer accepted.
const MAX_CATALOGUE_BYTES: usize = 64 << 20;
/// Largest poster or subtitle file fetched.
const MAX_SIDE_FILE: usize = 16 << 20;

/// Bytes of media files mirrored from the origin (`/metrics`).
pub static MIRRORED_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Bytes read from the origin for viewers of titles still arriving (`/metrics`).
pub static PASSED_THROUGH_BYTES: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);
/// Titles whose mirrored copy was complete and verified (`/metrics`).
pub static MIRRORED_TITLES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Settings of the mirror.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Mirror every title in the background (false: only titles viewers start).
    pub background: bool,
    /// Disk the mirrored copies may take, bytes (0 = no cap but `min_free_percent`).
    pub max_bytes: u64,
    /// Keep this share of the library's disk free.
    pub min_free_percent: f64,
}

/// The edge's mirror: its queue, its progress, and the reader for titles still arriving.
pub struct Mirror {
    lib: Arc<Library>,
    store: Store,
    up: Arc<Upstream>,
    settings: Settings,
    /// Titles a viewer is waiting for, first in line.
    wanted: Mutex<VecDeque<i64>>,
    wake: Notify,
    /// Bytes of `media.mp4.part` present, per title being mirrored.
    have: Mutex<HashMap<i64, u64>>,
    /// A backup origin follows its primary's library while this is set (None: an edge,
    /// always).
    following: Option<Arc<std::sync::atomic::AtomicBool>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Mirror {
    pub fn start(
        lib: Arc<Library>,
        store: Store,
        up: Arc<Upstream>,
        settings: Settings,
        following: Option<Arc<std::sync::atomic::AtomicBool>>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Mirror> {
        let m = Arc::new(Mirror {
            lib,
            store,
            up,
            settings,
            wanted: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            have: Mutex::new(HashMap::new()),
            following,
        });
        tokio::spawn(m.clone().follow(shutdown.clone()));
        tokio::spawn(m.clone().mirror_loop(shutdown));
        m
    }

    fn media(&self, id: i64) -> PathBuf {
        self.lib.title_dir(id).join("media.mp4")
    }

    fn part(&self, id: i64) -> PathBuf {
        self.lib.title_dir(id).join("media.mp4.part")
    }

    /// Whether the catalogue still follows the origin (a promoted backup origin stops).
    pub fn follows(&self) -> bool {
        self.following
            .as_ref()
            .is_none_or(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Keeps the catalogue equal to the origin's.
    async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut last = String::new();
        loop {
            if !self.follows() {
                tracing::info!("promoted: the VOD library no longer follows the primary's");
                return;
            }
            let origin = self.up.current();
            match self
                .up
                .get(
                    origin,
                    "/api/cluster/vod",
                    MAX_CATALOGUE_BYTES,
                    Duration::from_secs(20),
                )
                .await
            {
                Ok(body) => {
                    if let Err(e) = self.apply(&body, &mut last).await {
                        tracing::warn!("VOD catalogue from the origin: {e}");
                    }
                }
                Err(e) => tracing::debug!("VOD catalogue from the origin: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    async fn apply(&self, body: &[u8], last: &mut String) -> anyhow::Result<()> {
        let v: Value = serde_json::from_slice(body)?;
        let revision = v["revision"].as_str().unwrap_or("").to_string();
        if !revision.is_empty() && revision == *last {
            return Ok(());
        }
        let titles: Vec<Title> = v["titles"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("no titles"))?
            .iter()
            .filter_map(Title::from_wire)
            .collect();
        let cats: Vec<(i64, String, i64)> = v["categories"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| {
                        Some((
                            c["id"].as_i64()?,
                            c["name"].as_str()?.to_string(),
                            c["position"].as_i64().unwrap_or(0),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let n = titles.len();
        let (removed, changed) = self
            .store
            .call(move |c| catalog::replace_from_origin(c, &titles, &cats))
            .await?;
        for id in removed.iter().chain(&changed) {
            self.lib.cache.forget(*id);
            self.have
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
            let dir = self.lib.title_dir(*id);
            let whole = removed.contains(id);
            let _ = tokio::task::spawn_blocking(move || {
                if whole {
                    std::fs::remove_dir_all(dir)
                } else {
                    // the origin's file changed: the copy goes, the title stays
                    let _ = std::fs::remove_file(dir.join("media.mp4.part"));
                    std::fs::remove_file(dir.join("media.mp4"))
                }
            })
            .await;
        }
        if !removed.is_empty() || !changed.is_empty() {
            tracing::info!(
                removed = removed.len(),
                changed = changed.len(),
                "VOD catalogue follows the origin ({n} titles)"
            );
        }
        *last = revision;
        self.wake.notify_one();
        Ok(())
    }

    /// A viewer started title `id`: it is mirrored next.
    pub fn want(&self, id: i64) {
        let mut w = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
        if !w.contains(&id) {
            w.push_front(id);
            w.truncate(64);
        }
        drop(w);
        self.wake.notify_one();
    }

    /// Bytes of the title present here: Some(full size) when mirrored, the part's length while
    /// it arrives, None when nothing is here.
    pub fn present(&self, id: i64) -> Option<u64> {
        if let Ok(m) = std::fs::metadata(self.media(id)) {
            return Some(m.len());
        }
        std::fs::metadata(self.part(id)).ok().map(|m| m.len())
    }

    /// The next title to mirror: wanted first, then (in the background) the most played, then
    /// the newest; None when everything is here.
    async fn next(&self) -> Option<Title> {
        let wanted: Vec<i64> = self
            .wanted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        let titles = self.store.read(|c| Ok(catalog::export(c)?.0)).await.ok()?;
        let missing = |t: &&Title| !self.media(t.id).exists();
        for id in wanted {
            if let Some(t) = titles.iter().filter(missing).find(|t| t.id == id) {
                return Some(t.clone());
            }
            self.wanted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|w| *w != id);
        }
        if !self.settings.background {
            return None;
        }
        let mut rest: Vec<&Title> = titles.iter().filter(missing).collect();
        rest.sort_by_key(|t| {
            (
                std::cmp::Reverse(t.plays),
                std::cmp::Reverse(t.added_utc_ms),
            )
        });
        rest.first().map(|t| (*t).clone())
    }

    async fn mirror_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut failed_until: HashMap<i64, tokio::time::Instant> = HashMap::new();
        loop {
            let next = self.next().await;
            let now = tokio::time::Instant::now();
            match next {
                Some(t) if failed_until.get(&t.id).is_none_or(|u| *u <= now) => {
                    let id = t.id;
                    let r = tokio::select! {
                        r = self.fetch(&t) => r,
                        _ = shutdown.wait_for(|s| *s) => return,
                    };
                    match r {
                        Ok(true) => {
                            failed_until.remove(&id);
                            tracing::info!(title = id, "VOD title mirrored from the origin");
                        }
                        Ok(false) => {
                            failed_until.insert(id, now + Duration::from_secs(60));
                        }
                        Err(e) => {
                            tracing::warn!(title = id, "mirroring: {e:#}");
                            failed_until.insert(id, now + Duration::from_secs(10));
                        }
                    }
                    continue;
                }
                _ => {}
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    /// Mirrors one title (resuming its part); Ok(false) when there is no room for it.
    async fn fetch(&self, t: &Title) -> anyhow::Result<bool> {
        let id = t.id;
        let size = t.size_bytes as u64;
        if !self.make_room(id, size).await? {
            tracing::warn!(
                title = id,
                "no room to mirror {} ({} MiB): vod_mirror_max_mib / vod_mirror_min_free_percent",
                t.title,
                size >> 20
            );
            return Ok(false);
        }
        let dir = self.lib.title_dir(id);
        tokio::fs::create_dir_all(&dir).await?;
        // the small files first: the title's page and subtitles work at once
        let origin = self.up.current();
        let mut side = Vec::new();
        if t.poster {
            side.push("poster.jpg".to_string());
        }
        for s in t.media["subtitles"].as_array().into_iter().flatten() {
            if let Some(f) = s["file"].as_str() {
                if f.starts_with("sub-") && f.ends_with(".vtt") && !f.contains('/') {
                    side.push(f.to_string());
                }
            }
        }
        for f in side {
            let path = dir.join(&f);
            if path.exists() {
                continue;
            }
            let b = self
                .up
                .get(
                    origin,
                    &format!("/api/cluster/vod/{id}/{f}"),
                    MAX_SIDE_FILE,
                    Duration::from_secs(60),
                )
                .await?;
            let tmp = dir.join(format!("{f}.tmp"));
            tokio::fs::write(&tmp, &b).await?;
            tokio::fs::rename(&tmp, &path).await?;
        }
        // the media file, in ranges, appended to the part
        use tokio::io::AsyncWriteExt;
        let part = self.part(id);
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
            .await?;
        let mut have = file.metadata().await?.len();
        if have > size {
            drop(file);
            tokio::fs::remove_file(&part).await?;
            anyhow::bail!("the part was longer than the origin's file: started again");
        }
        self.have
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, have);
        let path = format!("/api/cluster/vod/{id}/media.mp4");
        while have < size {
            let len = CHUNK.min(size - have);
            let origin = self.up.current();
            let b = self
                .up
                .get_range(origin, &path, have, len, Duration::from_secs(120))
                .await?;
            file.write_all(&b).await?;
            file.flush().await?;
            have += b.len() as u64;
            MIRRORED_BYTES.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
            self.have
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, have);
        }
        file.sync_all().await?;
        drop(file);
        // verify, then the copy is complete
        let p = part.clone();
        let sha = tokio::task::spawn_blocking(move || sha256_file(&p)).await??;
        if sha != t.sha256 {
            tokio::fs::remove_file(&part).await?;
            self.have
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            anyhow::bail!(
                "the copy's SHA-256 {sha} is not the origin's {}: fetching it again",
                t.sha256
            );
        }
        tokio::fs::rename(&part, self.media(id)).await?;
        MIRRORED_TITLES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.have
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.lib.cache.forget(id);
        self.wanted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|w| *w != id);
        Ok(true)
    }

    /// Evicts mirrored copies (unwatched the longest first, none watched in the last 10
    /// minutes) until `size` more bytes fit; false when they cannot.
    async fn make_room(&self, id: i64, size: u64) -> anyhow::Result<bool> {
        let titles = self.store.read(|c| Ok(catalog::export(c)?.0)).await?;
        let mut used: u64 = 0;
        let mut evictable: Vec<(i64, i64, u64)> = Vec::new();
        let now = now_ms();
        for t in &titles {
            if t.id == id {
                continue;
            }
            if let Some(n) = self.present(t.id) {
                used += n;
                let last = t.last_played_utc_ms.unwrap_or(0);
                if self.media(t.id).exists() && now - last > 600_000 {
                    evictable.push((last, t.id, n));
                }
            }
        }
        let have = self.present(id).unwrap_or(0);
        let need = size.saturating_sub(have);
        evictable.sort();
        let dir = self.lib.settings.dir.clone();
        let fits = |used: u64| -> bool {
            let cap_ok = self.settings.max_bytes == 0 || used + size <= self.settings.max_bytes;
            let free_ok = match crate::sys::disk_space(&dir) {
                Some((total, free)) => {
                    free.saturating_sub(need) as f64
                        >= total as f64 * self.settings.min_free_percent / 100.0
                }
                None => true,
            };
            cap_ok && free_ok
        };
        let mut evict = evictable.into_iter();
        while !fits(used) {
            let Some((_, victim, n)) = evict.next() else {
                return Ok(false);
            };
            tracing::info!(title = victim, "evicting a mirrored copy to make room");
            let _ = tokio::fs::remove_file(self.media(victim)).await;
            self.lib.cache.forget(victim);
            used = used.saturating_sub(n);
        }
        Ok(true)
    }

    /// A poster or subtitle file of title `id`: the copy here, or fetched from the origin now
    /// (and kept).
    pub async fn side_file(&self, id: i64, name: &str) -> std::io::Result<Bytes> {
        let path = self.lib.title_dir(id).join(name);
        if let Ok(b) = tokio::fs::read(&path).await {
            return Ok(Bytes::from(b));
        }
        let origin = self.up.current();
        let b = self
            .up
            .get(
                origin,
                &format!("/api/cluster/vod/{id}/{name}"),
                MAX_SIDE_FILE,
                Duration::from_secs(30),
            )
            .await
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))?;
        let dir = self.lib.title_dir(id);
        if tokio::fs::create_dir_all(&dir).await.is_ok() {
            let tmp = dir.join(format!("{name}.tmp"));
            if tokio::fs::write(&tmp, &b).await.is_ok() {
                let _ = tokio::fs::rename(&tmp, &path).await;
            }
        }
        Ok(b)
    }

    /// The bytes of `runs` of title `id`: from the local copy where they have arrived, from the
    /// origin where not.
    pub async fn read_runs(&self, id: i64, runs: &[(u64, u64)]) -> std::io::Result<Vec<Bytes>> {
        let complete = self.media(id);
        let (path, have) = match std::fs::metadata(&complete) {
            Ok(m) => (complete, m.len()),
            Err(_) => {
                let p = self.part(id);
                let n = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                (p, n)
            }
        };
        let mut out = Vec::with_capacity(runs.len());
        for &(off, len) in runs {
            if off + len <= have {
                let p = path.clone();
                let b = tokio::task::spawn_blocking(move || {
                    use std::os::unix::fs::FileExt;
                    let f = std::fs::File::open(p)?;
                    let mut buf = vec![0u8; len as usize];
                    f.read_exact_at(&mut buf, off)?;
                    Ok::<_, std::io::Error>(Bytes::from(buf))
                })
                .await
                .map_err(std::io::Error::other)??;
                out.push(b);
            } else {
                let origin = self.up.current();
                let b = self
                    .up
                    .get_range(
                        origin,
                        &format!("/api/cluster/vod/{id}/media.mp4"),
                        off,
                        len,
                        Duration::from_secs(30),
                    )
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                PASSED_THROUGH_BYTES.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
                out.push(b);
            }
        }
        Ok(out)
    }

    /// The title's index while its copy arrives: waits (up to `wait`) for the first bytes,
    /// which hold it in a fast-start file.
    pub async fn partial_movie(
        &self,
        id: i64,
        size: u64,
        wait: Duration,
    ) -> Result<Option<mp4::Movie>, super::index::IndexError> {
        self.want(id);
        let until = tokio::time::Instant::now() + wait;
        let limits = self.lib.settings.import.clone();
        loop {
            let part = self.part(id);
            let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            if have > 0 {
                let l = limits.clone();
                let found = tokio::task::spawn_blocking(move || {
                    let f = std::fs::File::open(&part)?;
                    super::index::read_movie_in(&f, have, size, &l)
                })
                .await
                .map_err(|e| super::index::IndexError::Bad(e.to_string()))??;
                if found.is_some() {
                    return Ok(found);
                }
            }
            if self.media(id).exists() {
                let p = self.media(id);
                let l = limits.clone();
                let m = tokio::task::spawn_blocking(move || super::index::read_movie(&p, &l))
                    .await
                    .map_err(|e| super::index::IndexError::Bad(e.to_string()))??;
                return Ok(Some(m));
            }
            if tokio::time::Instant::now() >= until {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
