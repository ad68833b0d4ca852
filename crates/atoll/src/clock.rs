//! The system clock behind [`media::Clock`].
//!
//! Test hook (debug builds only, never in release): when `ATOLL_TEST_CLOCK_OFFSET_FILE` names a
//! file, [`SystemClock::now_utc`] adds the signed millisecond offset written in it (re-read at most
//! every 100 ms; a missing or unreadable file is 0). The monotonic clock is untouched, so the
//! integration tests can step the wall clock of the running binary (tests/hostile_clock.rs).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use media::{Clock, UtcMs};

pub struct SystemClock {
    origin: Instant,
    #[cfg(debug_assertions)]
    offset: Option<test_offset::Offset>,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
            #[cfg(debug_assertions)]
            offset: std::env::var_os("ATOLL_TEST_CLOCK_OFFSET_FILE").map(test_offset::Offset::new),
        }
    }
}

impl Clock for SystemClock {
    fn now_utc(&self) -> UtcMs {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        #[allow(unused_mut)]
        let mut ms = d.as_millis() as i64;
        #[cfg(debug_assertions)]
        if let Some(o) = &self.offset {
            ms += o.get_ms(self.origin.elapsed().as_millis() as i64);
        }
        UtcMs(ms)
    }
    fn now_mono_ms(&self) -> i64 {
        self.origin.elapsed().as_millis() as i64
    }
}

#[cfg(debug_assertions)]
mod test_offset {
    use std::ffi::OsString;
    use std::path::PathBuf;
    use std::sync::Mutex;

    const REREAD_MS: i64 = 100;

    pub struct Offset {
        path: PathBuf,
        /// (monotonic ms when read, offset ms)
        cached: Mutex<Option<(i64, i64)>>,
    }

    impl Offset {
        pub fn new(path: OsString) -> Self {
            Offset {
                path: path.into(),
                cached: Mutex::new(None),
            }
        }

        pub fn get_ms(&self, now_mono_ms: i64) -> i64 {
            let mut c = self.cached.lock().unwrap_or_else(|e| e.into_inner());
            match *c {
                Some((at, v)) if now_mono_ms - at < REREAD_MS => v,
                _ => {
                    let v = std::fs::read_to_string(&self.path)
                        .ok()
                        .and_then(|s| s.trim().parse::<i64>().ok())
                        .unwrap_or(0);
                    *c = Some((now_mono_ms, v));
                    v
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn offset_is_read_cached_and_garbage_is_zero() {
            let p = std::env::temp_dir().join(format!("atoll-clock-offset-{}", std::process::id()));
            let o = Offset::new(p.clone().into());
            assert_eq!(o.get_ms(0), 0, "missing file");
            std::fs::write(&p, "-3600000\n").unwrap();
            assert_eq!(o.get_ms(50), 0, "cached for 100 ms");
            assert_eq!(o.get_ms(150), -3_600_000);
            std::fs::write(&p, "garbage").unwrap();
            assert_eq!(o.get_ms(300), 0);
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// The kernel's view of the wall clock's synchronisation (NTP or GPS discipline), read with
/// `ntp_adjtime` in read-only mode (no change is made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncState {
    /// False when the kernel says the clock is unsynchronised (`STA_UNSYNC`, `TIME_ERROR`).
    pub synchronized: bool,
    /// The kernel's estimated error, microseconds (`esterror`).
    pub est_error_us: i64,
}

/// An estimated error above this makes catch-up times unreliable: the console and the log warn.
pub const MAX_EST_ERROR_US: i64 = 1_000_000;

impl SyncState {
    /// Whether the operator must be told (unsynchronised, or off by more than a second).
    pub fn is_bad(&self) -> bool {
        !self.synchronized || self.est_error_us > MAX_EST_ERROR_US
    }

    pub fn est_error_ms(&self) -> f64 {
        self.est_error_us as f64 / 1000.0
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        if self.synchronized {
            format!(
                "system clock synchronised, estimated error {:.1} ms",
                self.est_error_ms()
            )
        } else {
            format!(
                "system clock NOT synchronised (estimated error {:.1} s): archive and catch-up \
                 times depend on it; check NTP/GPS (chronyc tracking, timedatectl)",
                self.est_error_us as f64 / 1e6
            )
        }
    }
}

/// Reads the kernel's synchronisation state; None where `ntp_adjtime` fails.
///
/// Test hook (debug builds only): `ATOLL_TEST_CLOCK_SYNC` = `unsync` or `sync:ERROR_US` replaces
/// the kernel's answer, so tests can show both states on a machine whatever its clock.
pub fn sync_state() -> Option<SyncState> {
    #[cfg(debug_assertions)]
    if let Ok(v) = std::env::var("ATOLL_TEST_CLOCK_SYNC") {
        return match v.split_once(':') {
            Some(("sync", us)) => Some(SyncState {
                synchronized: true,
                est_error_us: us.parse().unwrap_or(0),
            }),
            _ => Some(SyncState {
                synchronized: false,
                est_error_us: 16_000_000,
            }),
        };
    }
    // SAFETY: timex is plain data; modes = 0 only reads the kernel's state.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    tx.modes = 0;
    let state = unsafe { libc::ntp_adjtime(&mut tx) };
    if state < 0 {
        return None;
    }
    Some(SyncState {
        synchronized: state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0,
        est_error_us: tx.esterror as i64,
    })
}

/// Reads the synchronisation state every `period` and logs a warning when it turns bad
/// (unsynchronised, or an estimated error over a second), again every hour while it stays bad,
/// and once when it recovers.
pub async fn watch_sync(
    period: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    const REPEAT: std::time::Duration = std::time::Duration::from_secs(3600);
    let mut warned: Option<Instant> = None; // while bad: when last warned
    let mut first = true;
    loop {
        match tokio::task::spawn_blocking(sync_state).await.ok().flatten() {
            Some(s) if s.is_bad() => {
                let now = Instant::now();
                if warned.is_none_or(|w| now.duration_since(w) >= REPEAT) {
                    warned = Some(now);
                    if s.synchronized {
                        tracing::warn!(
                            "clock: system clock's estimated error is {:.1} s (over 1 s): \
                             archive and catch-up times depend on it; check NTP/GPS",
                            s.est_error_us as f64 / 1e6
                        );
                    } else {
                        tracing::warn!("clock: {}", s.describe());
                    }
                }
            }
            // good again after a warning (or at start): say so once
            Some(s) if warned.take().is_some() || first => {
                tracing::info!("clock: {}", s.describe());
            }
            Some(_) => {}
            None if first => {
                tracing::warn!("clock: could not read the kernel's synchronisation state")
            }
            None => {}
        }
        first = false;
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
    }
}
