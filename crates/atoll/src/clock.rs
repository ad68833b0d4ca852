//! The system clock behind [`media::Clock`].

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use media::{Clock, UtcMs};

pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now_utc(&self) -> UtcMs {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        UtcMs(d.as_millis() as i64)
    }
    fn now_mono_ms(&self) -> i64 {
        self.origin.elapsed().as_millis() as i64
    }
}
