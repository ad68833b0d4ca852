//! Which origin an edge talks to (pure: results and time in, a choice out).
//!
//! Every request to an origin (segment long-polls, lineup polls, probes of the origins not in
//! use) reports success or failure here. The edge stays on its current origin until that origin
//! has failed for `fail_after_ms` without a single success, then moves to the most preferred
//! origin that answered recently (or, when none did, the next one in order, so every origin is
//! tried in turn rather than the first one forever). It goes back to a more preferred origin only
//! after that one has answered every probe for `return_after_ms`: a flapping origin never pulls
//! the edge back and forth, and reconnects alone never make it hop.

/// The policy's thresholds.
#[derive(Debug, Clone, Copy)]
pub struct ChoicePolicy {
    /// The current origin failing this long with no success in between: switch away.
    pub fail_after_ms: i64,
    /// A more preferred origin healthy this long (no failure): switch back to it.
    pub return_after_ms: i64,
    /// A success older than this does not count as "answering now".
    pub fresh_ms: i64,
}

impl Default for ChoicePolicy {
    fn default() -> Self {
        ChoicePolicy {
            fail_after_ms: 3_000,
            return_after_ms: 30_000,
            fresh_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Health {
    last_ok_ms: Option<i64>,
    /// Since when requests fail without a success in between.
    failing_since_ms: Option<i64>,
    /// Since when requests succeed without a failure in between.
    healthy_since_ms: Option<i64>,
}

/// A switch the policy made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    pub from: usize,
    pub to: usize,
    /// Back to a more preferred origin (not away from a failing one).
    pub back: bool,
}

#[derive(Debug, Clone)]
pub struct OriginChoice {
    policy: ChoicePolicy,
    health: Vec<Health>,
    current: usize,
}

impl OriginChoice {
    /// `n` origins in order of preference (at least one); the first is used first.
    pub fn new(n: usize, policy: ChoicePolicy) -> Self {
        OriginChoice {
            policy,
            health: vec![Health::default(); n.max(1)],
            current: 0,
        }
    }

    pub fn current(&self) -> usize {
        self.current
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.health.len()
    }

    /// A request to origin `i` succeeded at `now_ms`.
    pub fn ok(&mut self, i: usize, now_ms: i64) {
        if let Some(h) = self.health.get_mut(i) {
            h.last_ok_ms = Some(now_ms);
            h.failing_since_ms = None;
            h.healthy_since_ms.get_or_insert(now_ms);
        }
    }

    /// A request to origin `i` failed at `now_ms`.
    pub fn failed(&mut self, i: usize, now_ms: i64) {
        if let Some(h) = self.health.get_mut(i) {
            h.healthy_since_ms = None;
            h.failing_since_ms.get_or_insert(now_ms);
        }
    }

    /// Whether origin `i` answered within `fresh_ms` and is not failing now.
    pub fn answering(&self, i: usize, now_ms: i64) -> bool {
        self.health.get(i).is_some_and(|h| {
            h.failing_since_ms.is_none()
                && h.last_ok_ms
                    .is_some_and(|t| now_ms - t <= self.policy.fresh_ms)
        })
    }

    /// Applies the rules at `now_ms`; returns the switch made, if any.
    pub fn tick(&mut self, now_ms: i64) -> Option<Switch> {
        let from = self.current;
        let p = self.policy;
        // back to a more preferred origin that has been steadily healthy
        if let Some(to) = (0..from).find(|&i| {
            self.health[i]
                .healthy_since_ms
                .is_some_and(|t| now_ms - t >= p.return_after_ms)
                && self.answering(i, now_ms)
        }) {
            self.current = to;
            return Some(Switch {
                from,
                to,
                back: true,
            });
        }
        let failing = self.health[from]
            .failing_since_ms
            .is_some_and(|t| now_ms - t >= p.fail_after_ms);
        if !failing || self.health.len() == 1 {
            return None;
        }
        // away: the most preferred origin answering now, else the next in order
        let to = (0..self.health.len())
            .find(|&i| i != from && self.answering(i, now_ms))
            .unwrap_or((from + 1) % self.health.len());
        self.current = to;
        // the newcomer gets its own full period before it can be left in turn
        let h = &mut self.health[to];
        if h.failing_since_ms.is_some() {
            h.failing_since_ms = Some(now_ms);
        }
        Some(Switch {
            from,
            to,
            back: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ChoicePolicy = ChoicePolicy {
        fail_after_ms: 3_000,
        return_after_ms: 30_000,
        fresh_ms: 5_000,
    };

    /// Drives `c` second by second from `from_s` to `to_s`; `up(i, t_s)` says whether origin i
    /// answers at that second (each origin is asked once a second). Returns the switches.
    fn run(
        c: &mut OriginChoice,
        from_s: i64,
        to_s: i64,
        up: impl Fn(usize, i64) -> bool,
    ) -> Vec<(i64, Switch)> {
        let mut out = Vec::new();
        for t in from_s..to_s {
            for i in 0..c.len() {
                if up(i, t) {
                    c.ok(i, t * 1000);
                } else {
                    c.failed(i, t * 1000);
                }
            }
            if let Some(s) = c.tick(t * 1000) {
                out.push((t, s));
            }
        }
        out
    }

    #[test]
    fn stays_while_the_first_answers() {
        let mut c = OriginChoice::new(2, P);
        assert!(run(&mut c, 0, 100, |_, _| true).is_empty());
        assert_eq!(c.current(), 0);
    }

    #[test]
    fn leaves_a_dead_origin_within_seconds_and_returns_only_after_a_steady_period() {
        let mut c = OriginChoice::new(2, P);
        // origin 0 dies at 10 s and comes back at 60 s
        let s = run(&mut c, 0, 120, |i, t| i == 1 || !(10..60).contains(&t));
        assert_eq!(
            s,
            vec![
                (
                    13,
                    Switch {
                        from: 0,
                        to: 1,
                        back: false
                    }
                ),
                (
                    90,
                    Switch {
                        from: 1,
                        to: 0,
                        back: true
                    }
                )
            ]
        );
    }

    #[test]
    fn a_flapping_first_origin_never_pulls_the_edge_back() {
        let mut c = OriginChoice::new(2, P);
        // origin 0 dies at 10 s, then answers 20 s out of every 25 s
        let s = run(&mut c, 0, 600, |i, t| i == 1 || t < 10 || (t % 25) >= 5);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(c.current(), 1);
    }

    #[test]
    fn short_failures_do_not_switch() {
        let mut c = OriginChoice::new(2, P);
        // origin 0 fails for 2 s out of every 10 (a reconnect, a slow answer)
        let s = run(&mut c, 0, 300, |i, t| i == 1 || (t % 10) >= 2);
        assert!(s.is_empty(), "{s:?}");
    }

    #[test]
    fn when_every_origin_is_down_each_is_tried_in_turn() {
        let mut c = OriginChoice::new(3, P);
        let s = run(&mut c, 0, 30, |_, _| false);
        let order: Vec<usize> = s.iter().map(|(_, s)| s.to).collect();
        assert!(order.len() >= 3, "{s:?}");
        assert_eq!(&order[..3], &[1, 2, 0]);
        // switches are spaced by the failure period, never every second
        for w in s.windows(2) {
            assert!(w[1].0 - w[0].0 >= 3, "{s:?}");
        }
    }

    #[test]
    fn skips_a_dead_backup_for_a_live_one() {
        let mut c = OriginChoice::new(3, P);
        // 0 dies at 5 s, 1 is dead all along, 2 answers
        let s = run(&mut c, 0, 20, |i, t| i == 2 || (i == 0 && t < 5));
        assert_eq!(s[0].1.to, 2, "{s:?}");
        assert_eq!(c.current(), 2);
    }

    #[test]
    fn one_origin_never_switches() {
        let mut c = OriginChoice::new(1, P);
        assert!(run(&mut c, 0, 50, |_, _| false).is_empty());
    }
}
