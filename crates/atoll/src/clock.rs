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
