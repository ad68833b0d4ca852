//! The VOD library: titles stored once as fast-start MP4 under `vod_dir`, catalogued in SQLite,
//! served as HLS cut on the fly (`index`) and as the file itself; imports from uploads (tus),
//! a watch folder and the CLI, one at a time on a worker of their own (`import`).
//!
//! Layout of `vod_dir`:
//! - `{id}/media.mp4`, `{id}/poster.jpg`, `{id}/sub-{n}.vtt`: a title (its row exists only
//!   once these are complete);
//! - `.staging/{import}/`: an import in progress (removed at start: nothing half-imported);
//! - `.uploads/{upload}`: the bytes of a resumable upload so far;
//! - `incoming/`: the watch folder; files that fail go to `incoming/failed/` with a `.error.txt`.

pub mod catalog;
pub mod hevc;
pub mod import;
pub mod index;
pub mod mirror;
pub mod poster;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::store::Store;

/// Settings of the library (see `config`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub dir: PathBuf,
    pub import: import::Limits,
    /// Largest upload accepted, bytes.
    pub max_upload_bytes: u64,
    /// Imports waiting at most; more are refused (503).
    pub import_queue: usize,
    /// Target segment length, seconds.
    pub segment_seconds: u64,
    /// Memory for cached indexes, bytes.
    pub index_cache_bytes: usize,
    /// A watch-folder file is imported once its size has not changed for this long.
    pub watch_stable: Duration,
    /// Unfinished uploads are removed this long after their last write.
    pub upload_expiry: Duration,
}

/// Where an import came from, and what happens to the file afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A finished tus upload: its file is removed afterwards.
    Upload,
    /// The watch folder: removed after a success, moved to `incoming/failed/` after a failure.
    Watch,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Upload => "upload",
            Origin::Watch => "watch",
        }
    }
}

struct Job {
    id: String,
    origin: Origin,
    req: import::Request,
}

/// The library: settings, the index cache and the import queue.
pub struct Library {
    pub settings: Settings,
    pub cache: index::Cache,
    store: Store,
    jobs: mpsc::Sender<Job>,
    /// Files of the watch folder queued or being imported.
    watching: Mutex<HashSet<PathBuf>>,
    /// Progress of the running import, 0..1 as f64 bits.
    progress: Arc<AtomicU64>,
    /// One writer per upload: striped locks, by the upload id's hash.
    upload_locks: Vec<Arc<tokio::sync::Mutex<()>>>,
    /// An edge's mirror of its origin's library (None on an origin).
    mirror: std::sync::OnceLock<Arc<mirror::Mirror>>,
}

/// A random id (imports, uploads): 16 hex digits.
pub fn new_id() -> String {
    let mut b = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Removes what a stopped import or server left: staging directories.
pub fn clean_staging(dir: &Path) {
    let staging = dir.join(".staging");
    if let Ok(rd) = std::fs::read_dir(&staging) {
        for e in rd.flatten() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Stores an import's outcome: the row, then the files moved into place (the row is removed
/// again if the move fails). Returns the new id.
pub fn finalize(
    conn: &mut rusqlite::Connection,
    dir: &Path,
    imported: &import::Imported,
    now_utc_ms: i64,
) -> anyhow::Result<i64> {
    let id = catalog::insert(conn, &imported.title, now_utc_ms)?;
    let dest = dir.join(id.to_string());
    if dest.exists() {
        // a directory left by a title deleted while a viewer read it
        let _ = std::fs::remove_dir_all(&dest);
    }
    if let Err(e) = std::fs::rename(&imported.staging, &dest) {
        let _ = catalog::delete(conn, id);
        return Err(anyhow::anyhow!(
            "moving the import into {}: {e}",
            dest.display()
        ));
    }
    Ok(id)
}

impl Library {
    /// Opens the library (directories made, staging cleaned) and starts the import worker and
    /// the watch folder; both stop with `shutdown`.
    pub fn start(
        settings: Settings,
        store: Store,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<Library>> {
        Self::start_as(settings, store, None, shutdown)
    }

    /// An edge's library, or a backup origin's while it follows its primary (`following`): the
    /// origin's catalogue and files, mirrored. An edge takes no imports; a backup origin takes
    /// them once promoted.
    pub fn start_mirror(
        settings: Settings,
        mirror: mirror::Settings,
        store: Store,
        up: Arc<crate::ingest::origin::Upstream>,
        following: Option<Arc<std::sync::atomic::AtomicBool>>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<Library>> {
        Self::start_as(settings, store, Some((mirror, up, following)), shutdown)
    }

    #[allow(clippy::type_complexity)]
    fn start_as(
        settings: Settings,
        store: Store,
        mirror: Option<(
            mirror::Settings,
            Arc<crate::ingest::origin::Upstream>,
            Option<Arc<std::sync::atomic::AtomicBool>>,
        )>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<Library>> {
        for d in [".staging", ".uploads", "incoming"] {
            std::fs::create_dir_all(settings.dir.join(d))?;
        }
        clean_staging(&settings.dir);
        let (tx, rx) = mpsc::channel(settings.import_queue.max(1));
        let lib = Arc::new(Library {
            cache: index::Cache::new(settings.index_cache_bytes),
            settings,
            store,
            jobs: tx,
            watching: Mutex::new(HashSet::new()),
            progress: Arc::new(AtomicU64::new(0)),
            upload_locks: (0..64).map(|_| Arc::default()).collect(),
            mirror: std::sync::OnceLock::new(),
        });
        let imports = match mirror {
            Some((ms, up, following)) => {
                let backup = following.is_some();
                let m = mirror::Mirror::start(
                    lib.clone(),
                    lib.store.clone(),
                    up,
                    ms,
                    following,
                    shutdown.clone(),
                );
                let _ = lib.mirror.set(m);
                backup
            }
            None => true,
        };
        if imports {
            tokio::spawn(lib.clone().worker(rx, shutdown.clone()));
            tokio::spawn(lib.clone().watch_folder(shutdown.clone()));
            tokio::spawn(lib.clone().expire_uploads(shutdown));
        }
        Ok(lib)
    }

    pub fn title_dir(&self, id: i64) -> PathBuf {
        self.settings.dir.join(id.to_string())
    }

    /// The lock held while bytes are appended to upload `id`.
    pub fn upload_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let h = id
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        self.upload_locks[h % self.upload_locks.len()].clone()
    }

    pub fn upload_path(&self, id: &str) -> PathBuf {
        self.settings.dir.join(".uploads").join(id)
    }

    /// Queues an import; Err when the queue is full.
    pub async fn enqueue(
        &self,
        origin: Origin,
        req: import::Request,
    ) -> Result<String, crate::store::StoreError> {
        let id = new_id();
        let (i, o, name) = (id.clone(), origin.as_str(), req.source_name.clone());
        self.store
            .call(move |c| catalog::import_started(c, &i, o, &name, now_ms()))
            .await?;
        let job = Job {
            id: id.clone(),
            origin,
            req,
        };
        if let Err(e) = self.jobs.try_send(job) {
            let job = match e {
                mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
            };
            let i = job.id.clone();
            self.store
                .call(move |c| {
                    catalog::import_finished(
                        c,
                        &i,
                        Err("the import queue is full (vod_import_queue); try again later"),
                        now_ms(),
                    )
                })
                .await?;
            self.after(&job, false, "the import queue is full");
        }
        Ok(id)
    }

    /// What happens to the source file after an import.
    fn after(&self, job: &Job, ok: bool, error: &str) {
        match job.origin {
            Origin::Upload => {
                let _ = std::fs::remove_file(&job.req.path);
            }
            Origin::Watch => {
                if ok {
                    let _ = std::fs::remove_file(&job.req.path);
                    for (s, _) in &job.req.subtitles {
                        let _ = std::fs::remove_file(s);
                    }
                } else {
                    let failed = self.settings.dir.join("incoming").join("failed");
                    let _ = std::fs::create_dir_all(&failed);
                    if let Some(name) = job.req.path.file_name() {
                        let _ = std::fs::rename(&job.req.path, failed.join(name));
                        let mut txt = name.to_os_string();
                        txt.push(".error.txt");
                        let _ = std::fs::write(failed.join(txt), format!("{error}\n"));
                    }
                }
                self.watching
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&job.req.path);
            }
        }
    }

    async fn worker(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Job>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let job = tokio::select! {
                j = rx.recv() => match j { Some(j) => j, None => return },
                _ = shutdown.wait_for(|s| *s) => return,
            };
            self.run(job).await;
        }
    }

    async fn run(&self, job: Job) {
        let staging = self.settings.dir.join(".staging").join(&job.id);
        let progress = self.progress.clone();
        progress.store(0f64.to_bits(), Ordering::Relaxed);
        let (req, limits) = (job.req.clone(), self.settings.import.clone());
        let st = staging.clone();
        let mut task = tokio::task::spawn_blocking(move || {
            import::import(&req, &st, &limits, &mut |p| {
                progress.store(p.to_bits(), Ordering::Relaxed)
            })
        });
        tracing::info!(import = %job.id, file = %job.req.source_name, "import started");
        let result = loop {
            tokio::select! {
                r = &mut task => break r,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    let p = f64::from_bits(self.progress.load(Ordering::Relaxed));
                    let id = job.id.clone();
                    let _ = self.store.call(move |c| catalog::import_progress(c, &id, p)).await;
                }
            }
        };
        let dir = self.settings.dir.clone();
        let outcome: Result<i64, String> = match result {
            Ok(Ok(imported)) => {
                for n in &imported.notes {
                    tracing::info!(import = %job.id, "{n}");
                }
                self.store
                    .call(move |c| {
                        finalize(c, &dir, &imported, now_ms())
                            .map_err(|e| crate::store::StoreError::Join(format!("{e:#}")))
                    })
                    .await
                    .map_err(|e| e.to_string())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the import stopped: {e}")),
        };
        let _ = std::fs::remove_dir_all(&staging);
        match &outcome {
            Ok(t) => {
                tracing::info!(import = %job.id, title = t, "imported {}", job.req.source_name)
            }
            Err(e) => {
                tracing::warn!(import = %job.id, "import of {} refused: {e}", job.req.source_name)
            }
        }
        let id = job.id.clone();
        let o = outcome.clone();
        let _ = self
            .store
            .call(move |c| {
                catalog::import_finished(
                    c,
                    &id,
                    o.as_ref().map(|t| *t).map_err(|e| e.as_str()),
                    now_ms(),
                )
            })
            .await;
        self.after(
            &job,
            outcome.is_ok(),
            outcome.as_ref().err().map(|s| s.as_str()).unwrap_or(""),
        );
    }

    /// Picks up files dropped in `incoming/` once their size stays the same for `watch_stable`.
    async fn watch_folder(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let incoming = self.settings.dir.join("incoming");
        // path → (size, mtime, since when unchanged)
        let mut seen: std::collections::HashMap<
            PathBuf,
            (u64, std::time::SystemTime, tokio::time::Instant),
        > = Default::default();
        let tick = (self.settings.watch_stable / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let Ok(rd) = std::fs::read_dir(&incoming) else {
                continue;
            };
            let now = tokio::time::Instant::now();
            let mut present = HashSet::new();
            for e in rd.flatten() {
                let path = e.path();
                let Ok(meta) = e.metadata() else { continue };
                let name = e.file_name().to_string_lossy().to_string();
                let lower = name.to_ascii_lowercase();
                if !meta.is_file()
                    || name.starts_with('.')
                    || [".srt", ".vtt", ".txt", ".part", ".tmp", ".crdownload"]
                        .iter()
                        .any(|x| lower.ends_with(x))
                {
                    continue;
                }
                present.insert(path.clone());
                let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                let entry = seen.entry(path.clone()).or_insert((meta.len(), mtime, now));
                if entry.0 != meta.len() || entry.1 != mtime {
                    *entry = (meta.len(), mtime, now);
                    continue;
                }
                if now - entry.2 < self.settings.watch_stable {
                    continue;
                }
                if !self
                    .watching
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(path.clone())
                {
                    continue;
                }
                let req = import::Request {
                    subtitles: import::sidecars(&path),
                    source_name: name.clone(),
                    path: path.clone(),
                    title: None,
                    category: None,
                };
                if let Err(e) = self.enqueue(Origin::Watch, req).await {
                    tracing::warn!("watch folder: {name}: {e}");
                    self.watching
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&path);
                }
            }
            seen.retain(|p, _| present.contains(p));
        }
    }

    /// Removes uploads not written to for `upload_expiry`.
    async fn expire_uploads(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let cutoff = now_ms() - self.settings.upload_expiry.as_millis() as i64;
            let expired: Vec<String> = self
                .store
                .call(move |c| {
                    let mut st = c.prepare(
                        "SELECT id FROM vod_upload WHERE import_id IS NULL AND updated_utc_ms < ?1",
                    )?;
                    let ids = st
                        .query_map([cutoff], |r| r.get(0))?
                        .collect::<Result<Vec<String>, _>>()?;
                    c.execute("DELETE FROM vod_upload WHERE updated_utc_ms < ?1", [cutoff])?;
                    Ok(ids)
                })
                .await
                .unwrap_or_default();
            for id in expired {
                let _ = std::fs::remove_file(self.upload_path(&id));
            }
        }
    }

    /// The title's HLS index: from the cache, or read and planned now (on a blocking thread).
    pub async fn title_index(
        &self,
        t: &catalog::Title,
        subtitles: Vec<index::SubtitleFile>,
    ) -> Result<Arc<index::Title>, index::IndexError> {
        let id = t.id;
        let path = self.title_dir(id).join("media.mp4");
        let limits = self.settings.import.clone();
        let target = self.settings.segment_seconds as i64 * 90_000;
        let meta = match (tokio::fs::metadata(&path).await, self.mirror.get()) {
            (Ok(m), _) => m,
            (Err(_), Some(mirror)) => {
                // an edge's copy still arriving: the index from its first bytes
                let key = index::FileKey::arriving(t.size_bytes as u64, &t.sha256);
                if let Some(x) = self.cache.get(id, key) {
                    return Ok(x);
                }
                let movie = mirror
                    .partial_movie(id, t.size_bytes as u64, std::time::Duration::from_secs(20))
                    .await?
                    .ok_or_else(|| {
                        index::IndexError::Io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the title's index has not arrived from the origin yet",
                        ))
                    })?;
                let x = tokio::task::spawn_blocking(move || {
                    index::Title::new(movie, &subtitles, target)
                })
                .await
                .map_err(|e| index::IndexError::Bad(e.to_string()))??;
                let x = Arc::new(x);
                self.cache.put(id, key, x.clone());
                return Ok(x);
            }
            (Err(e), None) => return Err(e.into()),
        };
        let key = index::FileKey::of(&meta);
        if let Some(t) = self.cache.get(id, key) {
            return Ok(t);
        }
        let t = tokio::task::spawn_blocking(move || {
            let movie = index::read_movie(&path, &limits)?;
            index::Title::new(movie, &subtitles, target)
        })
        .await
        .map_err(|e| index::IndexError::Bad(e.to_string()))??;
        let t = Arc::new(t);
        self.cache.put(id, key, t.clone());
        Ok(t)
    }

    /// Segment `k` of the video or audio rendition `audio` of title `id` (its index `idx`), as
    /// fragmented MP4 (header, samples): from the stored file, or on an edge from the copy and
    /// the origin.
    pub async fn segment(
        &self,
        id: i64,
        idx: Arc<index::Title>,
        format: index::Format,
        audio: Option<usize>,
        k: usize,
    ) -> Option<std::io::Result<(bytes::Bytes, bytes::Bytes)>> {
        let path = self.title_dir(id).join("media.mp4");
        if let Some(m) = self.mirror.get() {
            if !path.exists() {
                let (track, range) = idx.segment_samples(audio, k)?;
                let runs = index::runs(track, range.clone());
                let data = match m.read_runs(id, &runs).await {
                    Ok(d) => d,
                    Err(e) => return Some(Err(e)),
                };
                return Some(index::build(format, track, range, k, &runs, &data));
            }
        }
        let r = tokio::task::spawn_blocking(move || {
            let f = match idx.file.get() {
                Some(f) => f.clone(),
                None => {
                    let f = Arc::new(std::fs::File::open(path)?);
                    idx.file.get_or_init(|| f).clone()
                }
            };
            idx.segment(&f, format, audio, k).transpose()
        })
        .await
        .map_err(std::io::Error::other);
        match r {
            Ok(Ok(Some(b))) => Some(Ok(b)),
            Ok(Ok(None)) => None,
            Ok(Err(e)) | Err(e) => Some(Err(e)),
        }
    }

    /// Counts a start of title `id` (in the background).
    pub fn count_play(&self, id: i64) {
        let now = now_ms();
        let store = self.store.clone();
        tokio::spawn(async move {
            let _ = store.call(move |c| catalog::played(c, id, now)).await;
        });
    }

    /// The index of title `id` when it is in memory and its stored file has not changed.
    pub fn cached_index(&self, id: i64) -> Option<Arc<index::Title>> {
        let meta = std::fs::metadata(self.title_dir(id).join("media.mp4")).ok()?;
        self.cache.get(id, index::FileKey::of(&meta))
    }

    /// An edge's mirror (None on an origin).
    pub fn mirror(&self) -> Option<&Arc<mirror::Mirror>> {
        self.mirror.get()
    }

    /// Progress of the import running now (0..1).
    pub fn running_progress(&self) -> f64 {
        f64::from_bits(self.progress.load(Ordering::Relaxed))
    }
}
