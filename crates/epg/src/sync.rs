//! The EPG source retry schedule, as a pure state machine driven by the caller's clock.

use media::UtcMs;

/// Delay between retries within a round: 30 s.
pub const RETRY_DELAY_MS: i64 = 30_000;
/// Failures per round before the long wait: 5.
pub const FAILURES_PER_ROUND: u32 = 5;
/// The long wait after a round of failures: 30 min.
pub const ROUND_BACKOFF_MS: i64 = 30 * 60_000;
/// Refresh interval after a success when the source gives none: 6 h.
pub const DEFAULT_REFRESH_MS: i64 = 6 * 3_600_000;

/// When to fetch an EPG source next. The operator's rule: on a failed fetch or parse retry every
/// 30 s; after the 5th consecutive failure wait 30 min and start again (5 more attempts 30 s
/// apart, …); never stop. On success the next sync is one refresh interval later.
///
/// With the first attempt at `t` failing every time, attempts are at `t`, `t+30s`, `t+60s`,
/// `t+90s`, `t+120s` (5th failure), then `t+120s+30min`, and 30 s apart again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSchedule {
    next: UtcMs,
    failures: u32,
}

impl SyncSchedule {
    /// A schedule whose first attempt is due at `first_attempt` (usually "now" at start-up).
    pub fn new(first_attempt: UtcMs) -> Self {
        SyncSchedule {
            next: first_attempt,
            failures: 0,
        }
    }

    /// Rebuilds the schedule from persisted state (e.g. after a restart): the stored consecutive
    /// failure count and next attempt. `None` means due at once (`UtcMs(0)`).
    pub fn resume(consecutive_failures: u32, next_attempt: Option<UtcMs>) -> Self {
        SyncSchedule {
            next: next_attempt.unwrap_or(UtcMs(0)),
            failures: consecutive_failures,
        }
    }

    /// Records a successful fetch and parse at `now`; returns the next attempt,
    /// `now + refresh_ms` (or [`DEFAULT_REFRESH_MS`] when `refresh_ms <= 0`).
    pub fn on_success(&mut self, now: UtcMs, refresh_ms: i64) -> UtcMs {
        let refresh = if refresh_ms > 0 {
            refresh_ms
        } else {
            DEFAULT_REFRESH_MS
        };
        self.failures = 0;
        self.next = UtcMs(now.0.saturating_add(refresh));
        self.next
    }

    /// Records a failed fetch or parse at `now`; returns the next attempt: `now + 30 s`, or
    /// `now + 30 min` after every 5th consecutive failure.
    pub fn on_failure(&mut self, now: UtcMs) -> UtcMs {
        self.failures = self.failures.saturating_add(1);
        let delay = if self.failures.is_multiple_of(FAILURES_PER_ROUND) {
            ROUND_BACKOFF_MS
        } else {
            RETRY_DELAY_MS
        };
        self.next = UtcMs(now.0.saturating_add(delay));
        self.next
    }

    /// "Sync now" (`POST /api/epg/sources/{id}/sync`, or a changed source): the next attempt is
    /// due at `now`. The failure count is kept, so a failing manual sync continues the current
    /// round rather than granting 5 fresh 30 s retries.
    pub fn sync_now(&mut self, now: UtcMs) {
        self.next = now;
    }

    /// When the next attempt is due.
    pub fn next_attempt(&self) -> UtcMs {
        self.next
    }

    /// Whether an attempt is due at `now`.
    pub fn is_due(&self, now: UtcMs) -> bool {
        now >= self.next
    }

    /// Consecutive failures since the last success (keeps counting across rounds).
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    #[test]
    fn exact_retry_sequence() {
        let t0 = UtcMs(1_800_000_000_000);
        let mut s = SyncSchedule::new(t0);
        assert!(s.is_due(t0));
        let mut now = s.next_attempt();
        let mut attempts = vec![now];
        // Three rounds of failures, always attempting exactly when due.
        for _ in 0..15 {
            now = s.on_failure(now);
            attempts.push(now);
        }
        let rel: Vec<i64> = attempts.iter().map(|t| (t.0 - t0.0) / S).collect();
        let r = 120 + 1800; // second round starts here
        let r2 = r + 120 + 1800;
        assert_eq!(
            rel,
            vec![
                0,
                30,
                60,
                90,
                120, // round 1: 5 attempts 30 s apart
                r,
                r + 30,
                r + 60,
                r + 90,
                r + 120, // 30 min later, round 2
                r2,
                r2 + 30,
                r2 + 60,
                r2 + 90,
                r2 + 120, // round 3
                r2 + 120 + 1800,
            ]
        );
        assert_eq!(s.consecutive_failures(), 15);

        // Success resets: next sync after the refresh interval (default 6 h).
        let next = s.on_success(now, 0);
        assert_eq!(next.0 - now.0, 6 * 3600 * S);
        assert_eq!(s.consecutive_failures(), 0);
        assert_eq!(s.on_success(now, 3600 * S).0 - now.0, 3600 * S);

        // After a success, a new failure starts a fresh round of 30 s retries.
        let t = s.next_attempt();
        assert_eq!(s.on_failure(t).0 - t.0, 30 * S);
        assert_eq!(s.consecutive_failures(), 1);
    }

    #[test]
    fn resume_continues_the_round() {
        let mut s = SyncSchedule::resume(4, None);
        assert!(s.is_due(UtcMs(1)));
        assert_eq!(s.on_failure(UtcMs(0)), UtcMs(1800 * S)); // 5th failure: long wait
        let s = SyncSchedule::resume(0, Some(UtcMs(5)));
        assert_eq!(s.next_attempt(), UtcMs(5));
        assert!(!s.is_due(UtcMs(4)));
    }

    #[test]
    fn sync_now_is_due_immediately_and_keeps_the_count() {
        let mut s = SyncSchedule::new(UtcMs(0));
        for i in 0..5 {
            s.on_failure(UtcMs(i * 30 * S));
        }
        assert_eq!(s.next_attempt(), UtcMs(120 * S + 1800 * S));
        s.sync_now(UtcMs(200 * S));
        assert!(s.is_due(UtcMs(200 * S)));
        assert_eq!(s.on_failure(UtcMs(200 * S)), UtcMs(230 * S));
        assert_eq!(s.consecutive_failures(), 6);
    }
}
