//! The failover policy of one channel as a pure state machine (no tasks, no clock reads):
//! the runner reports what its sources do (frames, keyframes, stream info, tasks ending,
//! publishers leaving) with the monotonic time in ms, calls [`Failover::tick`] a few times a
//! second, and carries out the [`Action`]s it gets back.
//!
//! Rules (sources in priority order, 0 first):
//! 1. The source on air goes off air when it has sent nothing for `silence_ms`, or no keyframe
//!    of its primary track for `no_keyframe_ms` (a source without keyframes is as good as silent:
//!    nothing of it can be segmented).
//! 2. The best source is the first, among those running, that is healthy (media in the last
//!    1.5 s, keyframes recent, stream info known); one ranked above the source on air must also
//!    have streamed steadily for `return_after_ms`. It goes on air at its next keyframe.
//! 3. Escalation (pull channels): when no running source is healthy and the last one started
//!    has had `silence_ms` to show itself, the next backup is started.
//! 4. A running source whose task ended is restarted.
//! 5. Once a higher-priority source has been on air steadily for `steady_stop_ms`, the backups
//!    below it are stopped.
//! 6. The slate is shown once nothing has been on air for `slate_after_ms`.

/// Media gap that ends a "steady" run, and the freshness a candidate needs.
const FRESH_MS: i64 = 1500;

#[derive(Debug, Clone, Copy)]
pub struct FailoverConfig {
    /// A source silent this long is taken off air; a backup gets this long to start.
    pub silence_ms: i64,
    /// A higher-priority source must stream this long before we switch back to it.
    pub return_after_ms: i64,
    /// A source without a keyframe (primary track) for this long is treated as silent.
    pub no_keyframe_ms: i64,
    /// Backups are stopped after the source above them has been on air this long.
    pub steady_stop_ms: i64,
    /// The slate starts this long after the channel loses its last source.
    pub slate_after_ms: i64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            silence_ms: 5_000,
            return_after_ms: 10_000,
            no_keyframe_ms: 10_000,
            steady_stop_ms: 10_000,
            slate_after_ms: 1_500,
        }
    }
}

/// Why the source on air was taken off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffAir {
    /// No media for this long.
    Silent { for_ms: i64 },
    /// Media, but no keyframe for this long.
    NoKeyframe { for_ms: i64 },
    /// The publisher disconnected.
    PublisherGone,
}

impl std::fmt::Display for OffAir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OffAir::Silent { for_ms } => write!(f, "no media for {} s", for_ms / 1000),
            OffAir::NoKeyframe { for_ms } => write!(f, "no keyframe for {} s", for_ms / 1000),
            OffAir::PublisherGone => write!(f, "publisher disconnected"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start (or restart) source N's task.
    Start(usize),
    /// Stop source N's task (a higher-priority source is back).
    Stop(usize),
    /// Put source N on air now (the current frame is its keyframe).
    SwitchTo(usize),
    /// Source N went off air.
    OffAir(usize, OffAir),
    /// Nothing on air for a while: start the slate.
    ShowSlate,
}

#[derive(Debug, Clone, Default)]
struct Source {
    /// Its task runs (pull) or it can take a publisher (publish).
    running: bool,
    /// Can be (re)started by the runner (a valid pull source).
    startable: bool,
    started_ms: i64,
    has_info: bool,
    last_frame_ms: Option<i64>,
    /// Start of the current run of media without a gap over 1.5 s.
    streaming_since_ms: Option<i64>,
    last_keyframe_ms: Option<i64>,
}

impl Source {
    fn alive(&self, now: i64, silence_ms: i64) -> bool {
        self.last_frame_ms.is_some_and(|t| now - t < silence_ms)
    }
    fn streaming_for(&self, now: i64) -> i64 {
        match (self.streaming_since_ms, self.last_frame_ms) {
            (Some(s), Some(l)) if now - l < FRESH_MS => now - s,
            _ => 0,
        }
    }
    /// How long it has streamed without a keyframe (0 when it had one recently enough).
    fn without_keyframe_ms(&self, now: i64) -> i64 {
        match (self.last_keyframe_ms, self.streaming_since_ms) {
            (Some(k), _) => now - k,
            (None, Some(s)) => now - s,
            (None, None) => 0,
        }
    }
    fn healthy(&self, now: i64, silence_ms: i64, no_keyframe_ms: i64) -> bool {
        self.alive(now, silence_ms) && self.without_keyframe_ms(now) < no_keyframe_ms
    }
}

pub struct Failover {
    cfg: FailoverConfig,
    sources: Vec<Source>,
    /// Pull channels escalate to backups and restart ended tasks; publish channels do not.
    pull: bool,
    active: Option<usize>,
    /// Switch to this source at its next keyframe.
    pending: Option<usize>,
    /// Sources 0..=max_running run.
    max_running: usize,
    offline_since_ms: i64,
    slate: bool,
}

impl Failover {
    /// `startable[i]`: source i can be started (a valid pull source; false for a publish slot).
    /// Returns the machine and the first actions (start source 0).
    pub fn new(
        cfg: FailoverConfig,
        startable: &[bool],
        pull: bool,
        now_ms: i64,
    ) -> (Failover, Vec<Action>) {
        let mut f = Failover {
            cfg,
            sources: startable
                .iter()
                .map(|&s| Source {
                    startable: s,
                    started_ms: now_ms,
                    ..Source::default()
                })
                .collect(),
            pull,
            active: None,
            pending: None,
            max_running: 0,
            offline_since_ms: now_ms,
            slate: false,
        };
        let mut out = Vec::new();
        if !f.sources.is_empty() {
            f.start(0, now_ms, &mut out);
        }
        (f, out)
    }

    pub fn active(&self) -> Option<usize> {
        self.active
    }
    pub fn offline_since_ms(&self) -> i64 {
        self.offline_since_ms
    }
    #[cfg(test)]
    pub fn slate(&self) -> bool {
        self.slate
    }
    /// Source `i` sent media within `within_ms`.
    pub fn fresh(&self, i: usize, now_ms: i64, within_ms: i64) -> bool {
        self.sources
            .get(i)
            .is_some_and(|s| s.alive(now_ms, within_ms))
    }
    pub fn any_fresh(&self, now_ms: i64) -> bool {
        (0..self.sources.len()).any(|i| self.fresh(i, now_ms, FRESH_MS))
    }

    fn start(&mut self, i: usize, now: i64, out: &mut Vec<Action>) {
        let s = &mut self.sources[i];
        s.running = s.startable;
        s.started_ms = now;
        s.last_frame_ms = None;
        s.streaming_since_ms = None;
        s.last_keyframe_ms = None;
        if s.startable {
            out.push(Action::Start(i));
        }
    }

    /// A publisher attached to source `i` (publish channels).
    pub fn attached(&mut self, i: usize, now_ms: i64) {
        if let Some(s) = self.sources.get_mut(i) {
            s.started_ms = now_ms;
        }
    }

    /// Source `i` described its stream.
    pub fn on_info(&mut self, i: usize) {
        if let Some(s) = self.sources.get_mut(i) {
            s.has_info = true;
        }
    }

    /// Source `i` sent a frame (`primary`: of its primary track). Returns `SwitchTo(i)` when
    /// this frame puts it on air.
    pub fn on_frame(
        &mut self,
        i: usize,
        now_ms: i64,
        primary: bool,
        keyframe: bool,
    ) -> Option<Action> {
        let s = self.sources.get_mut(i)?;
        if s.last_frame_ms.is_none_or(|t| now_ms - t > FRESH_MS) {
            s.streaming_since_ms = Some(now_ms);
            s.last_keyframe_ms = None;
        }
        s.last_frame_ms = Some(now_ms);
        let key = primary && keyframe;
        if key {
            s.last_keyframe_ms = Some(now_ms);
        }
        let first_on_air = self.active.is_none() && s.has_info && i <= self.max_running;
        if key && (self.pending == Some(i) || first_on_air) && self.active != Some(i) {
            self.active = Some(i);
            self.pending = None;
            self.slate = false;
            return Some(Action::SwitchTo(i));
        }
        None
    }

    /// Source `i`'s task ended by itself: it is restarted at the next tick.
    pub fn task_ended(&mut self, i: usize) {
        if let Some(s) = self.sources.get_mut(i) {
            s.running = false;
        }
    }

    /// The publisher of source `i` left. Returns `OffAir` when it was on air.
    pub fn publisher_gone(&mut self, i: usize, now_ms: i64) -> Option<Action> {
        let s = self.sources.get_mut(i)?;
        s.last_frame_ms = None;
        s.streaming_since_ms = None;
        s.last_keyframe_ms = None;
        if self.active == Some(i) {
            self.off_air(now_ms);
            return Some(Action::OffAir(i, OffAir::PublisherGone));
        }
        None
    }

    fn off_air(&mut self, now: i64) {
        self.active = None;
        self.pending = None;
        self.offline_since_ms = now;
    }

    /// Applies every rule at `now_ms`.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Action> {
        let now = now_ms;
        let c = self.cfg;
        let mut out = Vec::new();
        if self.sources.is_empty() {
            return self.slate_rule(now, out);
        }
        // 1. the source on air went silent, or stopped sending keyframes
        if let Some(a) = self.active {
            let s = &self.sources[a];
            let why = if !s.alive(now, c.silence_ms) {
                Some(OffAir::Silent {
                    for_ms: c.silence_ms,
                })
            } else if s.without_keyframe_ms(now) >= c.no_keyframe_ms {
                Some(OffAir::NoKeyframe {
                    for_ms: s.without_keyframe_ms(now),
                })
            } else {
                None
            };
            if let Some(why) = why {
                self.off_air(now);
                out.push(Action::OffAir(a, why));
            }
        }
        // 2. the best healthy source goes on air at its next keyframe
        let running = self.max_running.min(self.sources.len() - 1);
        let needed = if self.active.is_some() {
            c.return_after_ms
        } else {
            0
        };
        let best = (0..=running).find(|&i| {
            let s = &self.sources[i];
            s.alive(now, FRESH_MS)
                && s.healthy(now, c.silence_ms, c.no_keyframe_ms)
                && s.has_info
                && s.streaming_for(now) >= needed
        });
        match (best, self.active) {
            (Some(b), None) => self.pending = Some(b),
            (Some(b), Some(a)) if b < a => self.pending = Some(b),
            _ => {}
        }
        if self.pull {
            // 3. escalate: nothing running is healthy and the last one started had its chance
            let any_healthy =
                (0..=running).any(|i| self.sources[i].healthy(now, c.silence_ms, c.no_keyframe_ms));
            if !any_healthy
                && running + 1 < self.sources.len()
                && now - self.sources[running].started_ms >= c.silence_ms
            {
                self.max_running = running + 1;
                self.start(running + 1, now, &mut out);
            }
            // 4. a running source whose task ended (or that was stopped) is restarted
            for i in 0..=self.max_running.min(self.sources.len() - 1) {
                if !self.sources[i].running && self.sources[i].startable {
                    self.start(i, now, &mut out);
                }
            }
            // 5. back on a higher-priority source for a while: stop the backups below it
            if let Some(a) = self.active {
                if a < self.max_running && self.sources[a].streaming_for(now) >= c.steady_stop_ms {
                    for i in a + 1..=self.max_running {
                        let s = &mut self.sources[i];
                        s.running = false;
                        s.last_frame_ms = None;
                        s.streaming_since_ms = None;
                        s.last_keyframe_ms = None;
                        out.push(Action::Stop(i));
                    }
                    self.max_running = a;
                }
            }
        }
        self.slate_rule(now, out)
    }

    // 6. the slate while nothing is on air
    fn slate_rule(&mut self, now: i64, mut out: Vec<Action>) -> Vec<Action> {
        if self.active.is_none()
            && !self.slate
            && now - self.offline_since_ms >= self.cfg.slate_after_ms
        {
            self.slate = true;
            out.push(Action::ShowSlate);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: FailoverConfig = FailoverConfig {
        silence_ms: 5_000,
        return_after_ms: 10_000,
        no_keyframe_ms: 10_000,
        steady_stop_ms: 10_000,
        slate_after_ms: 1_500,
    };

    /// Simulated channel: sources send 25 fps with a keyframe every `gop` frames while `on`.
    struct Sim {
        f: Failover,
        now: i64,
        on: Vec<bool>,
        gop: Vec<u64>,
        frame: u64,
        log: Vec<(i64, Action)>,
    }

    impl Sim {
        fn new(n: usize) -> Sim {
            let (f, first) = Failover::new(CFG, &vec![true; n], true, 0);
            let mut f = f;
            for i in 0..n {
                f.on_info(i);
            }
            Sim {
                f,
                now: 0,
                on: vec![false; n],
                gop: vec![25; n],
                frame: 0,
                log: first.into_iter().map(|a| (0, a)).collect(),
            }
        }
        /// Runs `ms` of simulated time in 40 ms steps, ticking every 100 ms.
        fn run(&mut self, ms: i64) {
            let end = self.now + ms;
            while self.now < end {
                self.now += 20;
                if self.now % 40 == 0 {
                    self.frame += 1;
                    for i in 0..self.on.len() {
                        // a source only sends while its task runs
                        if self.on[i] && self.f.sources[i].running {
                            let key = self.frame.is_multiple_of(self.gop[i]);
                            if let Some(a) = self.f.on_frame(i, self.now, true, key) {
                                self.log.push((self.now, a));
                            }
                        }
                    }
                }
                if self.now % 100 == 0 {
                    for a in self.f.tick(self.now) {
                        self.log.push((self.now, a));
                    }
                }
            }
        }
        fn actions_since(&self, t: i64) -> Vec<Action> {
            self.log
                .iter()
                .filter(|(at, _)| *at >= t)
                .map(|(_, a)| *a)
                .collect()
        }
    }

    #[test]
    fn primary_on_air_then_silent_fails_over_to_the_backup() {
        let mut s = Sim::new(2);
        assert_eq!(s.actions_since(0), vec![Action::Start(0)]);
        s.on[0] = true;
        s.on[1] = true;
        s.run(2000);
        assert_eq!(s.f.active(), Some(0));
        assert!(
            !s.actions_since(0).contains(&Action::Start(1)),
            "hot standby is limited"
        );
        s.on[0] = false;
        let t = s.now;
        s.run(5_000);
        let acts = s.actions_since(t);
        assert!(acts.contains(&Action::OffAir(0, OffAir::Silent { for_ms: 5000 })));
        let pos = |a: Action| acts.iter().position(|x| *x == a);
        // the backup starts only once nothing running is alive (the primary had its chance)
        assert!(pos(Action::Start(1)) > pos(Action::OffAir(0, OffAir::Silent { for_ms: 5000 })));
        s.run(6_000);
        let acts = s.actions_since(t);
        // the backup was streaming as soon as it started: on air before the slate was due
        assert!(!acts.contains(&Action::ShowSlate), "{acts:?}");
        assert!(acts.contains(&Action::SwitchTo(1)));
        assert_eq!(s.f.active(), Some(1));
        assert!(!s.f.slate());
    }

    #[test]
    fn primary_and_backup_silent_shows_the_slate_and_keeps_restarting() {
        let mut s = Sim::new(2);
        s.run(20_000);
        let acts = s.actions_since(0);
        assert_eq!(acts.iter().filter(|a| **a == Action::ShowSlate).count(), 1);
        assert!(acts.contains(&Action::Start(1)));
        assert_eq!(s.f.active(), None);
        assert!(s.f.slate());
        // the backup's task ends (gave up): restarted
        s.f.task_ended(1);
        let t = s.now;
        s.run(200);
        assert!(s.actions_since(t).contains(&Action::Start(1)));
        // the backup comes up: on air at its first keyframe, slate off
        s.on[1] = true;
        s.run(2000);
        assert_eq!(s.f.active(), Some(1));
        assert!(!s.f.slate());
    }

    #[test]
    fn primary_returns_only_after_a_steady_period_and_backups_stop_after() {
        let mut s = Sim::new(2);
        s.run(11_000); // primary never came: backup started
        s.on[1] = true;
        s.run(2000);
        assert_eq!(s.f.active(), Some(1));
        // the primary comes back: not before 10 s of steady streaming
        s.on[0] = true;
        let back = s.now;
        s.run(9_000);
        assert_eq!(s.f.active(), Some(1));
        s.run(2_000);
        assert_eq!(s.f.active(), Some(0));
        let switched = s
            .log
            .iter()
            .find(|(_, a)| *a == Action::SwitchTo(0))
            .unwrap()
            .0;
        assert!(switched - back >= 10_000);
        // once the primary is on air after 10 s of steady streaming, the backup is stopped
        let acts = s.actions_since(back);
        let stop = acts.iter().position(|a| *a == Action::Stop(1));
        let switch = acts.iter().position(|a| *a == Action::SwitchTo(0));
        assert!(stop.is_some() && stop > switch, "{acts:?}");
    }

    #[test]
    fn a_flapping_primary_does_not_take_the_air_back() {
        let mut s = Sim::new(2);
        s.run(11_000);
        s.on[1] = true;
        s.run(2000);
        assert_eq!(s.f.active(), Some(1));
        // primary up 4 s, down 2 s, for a minute: never steady for 10 s
        let t = s.now;
        for _ in 0..10 {
            s.on[0] = true;
            s.run(4000);
            s.on[0] = false;
            s.run(2000);
        }
        assert_eq!(s.f.active(), Some(1));
        assert!(!s.actions_since(t).contains(&Action::SwitchTo(0)));
    }

    #[test]
    fn no_keyframe_for_too_long_is_silence() {
        let mut s = Sim::new(2);
        s.on[0] = true;
        s.run(2000);
        assert_eq!(s.f.active(), Some(0));
        // the primary keeps sending frames but never a keyframe again
        s.gop[0] = u64::MAX;
        let t = s.now;
        s.run(9_000);
        assert_eq!(s.f.active(), Some(0));
        s.run(1_200);
        let acts = s.actions_since(t);
        assert!(
            acts.iter()
                .any(|a| matches!(a, Action::OffAir(0, OffAir::NoKeyframe { .. }))),
            "{acts:?}"
        );
        // treated as silent: the slate, and the backup gets its chance
        s.run(6_000);
        let acts = s.actions_since(t);
        assert!(acts.contains(&Action::ShowSlate));
        assert!(acts.contains(&Action::Start(1)));
        // keyframes again: on air again
        s.gop[0] = 25;
        s.run(2000);
        assert_eq!(s.f.active(), Some(0));
    }

    #[test]
    fn publish_channel_goes_off_air_when_the_publisher_leaves() {
        let (mut f, first) = Failover::new(CFG, &[false], false, 0);
        assert!(first.is_empty(), "a publish slot has no task to start");
        f.attached(0, 0);
        f.on_info(0);
        assert_eq!(f.on_frame(0, 40, true, true), Some(Action::SwitchTo(0)));
        assert_eq!(
            f.publisher_gone(0, 80),
            Some(Action::OffAir(0, OffAir::PublisherGone))
        );
        assert!(f.tick(1000).is_empty());
        assert_eq!(f.tick(1600), vec![Action::ShowSlate]);
        assert!(f.tick(60_000).is_empty(), "never escalates nor restarts");
    }
}
