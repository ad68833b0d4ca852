//! Input bitrate over the last few seconds (pure: bytes and the time in ms in).

#[derive(Default)]
pub struct BitrateMeter {
    buckets: [(i64, u64); 5],
}

impl BitrateMeter {
    pub fn add(&mut self, now_ms: i64, bytes: usize) {
        let sec = now_ms / 1000;
        let b = &mut self.buckets[(sec % 5) as usize];
        if b.0 != sec {
            *b = (sec, 0);
        }
        b.1 += bytes as u64;
    }

    /// Bits per second over the four complete seconds before `now_ms`.
    pub fn bps(&self, now_ms: i64) -> u64 {
        let sec = now_ms / 1000;
        let total: u64 = self
            .buckets
            .iter()
            .filter(|(s, _)| *s < sec && *s >= sec - 4)
            .map(|(_, b)| *b)
            .sum();
        total * 8 / 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrate_meter() {
        let mut m = BitrateMeter::default();
        for ms in (0..10_000).step_by(40) {
            m.add(ms, 5000); // 125 kB/s = 1 Mbit/s
        }
        assert_eq!(m.bps(10_000), 1_000_000);
        // silence: the figure falls to zero once the window has passed
        assert_eq!(m.bps(16_000), 0);
    }
}
