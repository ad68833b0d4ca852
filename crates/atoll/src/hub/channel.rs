//! One channel's runner: owns its sources, picks the one on air (failover), fills gaps with the
//! slate, re-bases timestamps onto one continuous output timeline and drives the segmenter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hls::{SegmentEvent, Segmenter, SegmenterConfig};
use media::{MediaEvent, StreamInfo, Track};
use tokio::sync::{mpsc, oneshot, watch};

use super::failover::{Action, Failover, FailoverConfig};
use super::live::LiveOutput;
use super::meter::BitrateMeter;
use super::rebase::{Mapped, Rebaser, STEP_90K};
use super::recording::Recording;
use super::slate::{SlateLoop, SlatePlayer};
use super::Settings;
use crate::ingest::{self, SourceEvent, SourceSpec, SourceTask, SourceTx, Tagged};
use crate::store::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Live,
    Offline,
    Connecting,
    /// An edge's channel that is pulled on demand, unwatched now.
    Idle,
}

impl Status {
    /// Records an error that happened at `at`.
    pub fn note_error(&mut self, e: String, at: media::UtcMs) {
        self.last_error = Some(e);
        self.last_error_at = Some(at);
    }
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Live => "live",
            State::Offline => "offline",
            State::Connecting => "connecting",
            State::Idle => "idle",
        }
    }
}

/// Live status, refreshed by the runner a few times a second.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: State,
    pub active_source: Option<String>,
    pub input_bitrate_bps: u64,
    pub info: StreamInfo,
    pub last_error: Option<String>,
    /// When `last_error` last happened (wall clock); the console shows an error from before the
    /// channel recovered as history.
    pub last_error_at: Option<media::UtcMs>,
    /// A channel that takes RTMP publish with no encoder attached (it waits for one; nothing
    /// is being connected to).
    pub awaiting_encoder: bool,
    /// Whether the slate is on air.
    pub slate: bool,
    /// Segments are going to the archive.
    pub recording: bool,
    /// When the current recording run began (first segment archived after a pause).
    pub recording_since: Option<media::UtcMs>,
}

/// Limits on what one channel holds and how long it waits for keyframes.
#[derive(Debug, Clone)]
pub struct MediaLimits {
    /// A segment this long (0: 3 × the target) is cut even without a keyframe.
    pub segment_max_90k: i64,
    /// A segment holding this many bytes is cut even without a keyframe.
    pub segment_max_bytes: usize,
    /// A source without a keyframe for this long is treated as silent.
    pub no_keyframe_ms: i64,
    /// Where live segment copies for `sendfile` go.
    pub segment_place: super::live::SegmentPlace,
    /// Bytes the continuous TS feed's ring holds at most (`hub::tsfeed`).
    pub ts_buffer_bytes: usize,
    /// Bytes of rendition segments cut for viewers a channel keeps at most (`hub::renditions`).
    pub rendition_cache_bytes: usize,
    /// A wall-clock step (wall minus monotonic time changing by more than this between two
    /// ticks) is logged and marks a discontinuity.
    pub clock_step_ms: i64,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits {
            segment_max_90k: 0,
            segment_max_bytes: 64 << 20,
            no_keyframe_ms: 10_000,
            segment_place: Default::default(),
            ts_buffer_bytes: super::tsfeed::TS_BUFFER_BYTES,
            rendition_cache_bytes: super::renditions::RENDITION_CACHE_BYTES,
            clock_step_ms: 2_000,
        }
    }
}

/// Monotone counters for /metrics.
#[derive(Default)]
pub struct Counters {
    pub segments: AtomicU64,
    pub frames_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub dropped_frames: AtomicU64,
    pub errors: AtomicU64,
    pub failovers: AtomicU64,
    /// Segments cut at the duration or size limit without a keyframe.
    pub forced_cuts: AtomicU64,
    /// Wall-clock steps seen.
    pub clock_steps: AtomicU64,
    /// Bytes of the segment being built (a gauge, sampled every tick).
    pub open_segment_bytes: AtomicU64,
}

pub enum Control {
    Reconfigure(Channel),
    /// Stop the channel (deleted or deactivated): close the open segment and end.
    Stop,
    /// An RTMP publisher wants this channel; the runner checks the key and answers.
    AttachPublisher {
        key: Option<String>,
        reply: oneshot::Sender<Result<SourceTx, crate::ingest::rtmp_server::AttachError>>,
    },
}

pub struct ChannelHandle {
    pub id: String,
    pub live: Arc<LiveOutput>,
    pub status: Arc<Mutex<Status>>,
    pub counters: Arc<Counters>,
    pub control: mpsc::Sender<Control>,
    pub task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ChannelHandle {
    pub fn new(
        id: String,
        (live, status, counters): Outputs,
        control: mpsc::Sender<Control>,
        task: tokio::task::JoinHandle<()>,
    ) -> Arc<ChannelHandle> {
        Arc::new(ChannelHandle {
            id,
            live,
            status,
            counters,
            control,
            task: Mutex::new(Some(task)),
        })
    }

    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One source in failover order (its IO side; the policy state lives in [`Failover`]).
struct Slot {
    url: String,
    spec: Option<SourceSpec>,
    generation: u64,
    task: Option<SourceTask>,
    info: Option<StreamInfo>,
    last_error: Option<String>,
    /// For publish slots: whether a publisher is attached.
    publisher: bool,
    /// Dropping it dismisses the attached publisher (its connection closes).
    publisher_keep: Option<tokio::sync::watch::Sender<()>>,
}

pub fn spawn(
    cfg: Channel,
    settings: Arc<Settings>,
    shutdown: watch::Receiver<bool>,
) -> Arc<ChannelHandle> {
    let (live, status, counters) = outputs(&settings);
    let (control_tx, control_rx) = mpsc::channel(16);
    let (tx, rx) = mpsc::channel(1024);
    let now = settings.clock.now_mono_ms();
    let first_seq = settings.clock.now_utc().secs().max(0) as u64;
    let target_90k = settings.segment_s as i64 * 90_000;
    let mut seg_cfg = SegmenterConfig::with_target(target_90k);
    if settings.media.segment_max_90k > 0 {
        seg_cfg.max_duration_90k = settings.media.segment_max_90k.max(target_90k);
    }
    seg_cfg.max_bytes = settings.media.segment_max_bytes;
    let (fo, _) = Failover::new(failover_config(&settings), &[], false, now);
    let cfg_id_for_recording = cfg.id.clone();
    let mut runner = Runner {
        id: cfg.id.clone(),
        slots: Vec::new(),
        cfg,
        settings: settings.clone(),
        fo,
        seg: Segmenter::new(seg_cfg, first_seq),
        rebaser: Rebaser::new(),
        slate: None,
        live: live.clone(),
        status: status.clone(),
        counters: counters.clone(),
        tx,
        meter: BitrateMeter::default(),
        events: Vec::new(),
        next_generation: 1,
        open_is_slate: false,
        recording: Recording::new(cfg_id_for_recording, settings.clone(), status.clone()),
        dropped_rebase: 0,
        wall_minus_mono_ms: None,
        on_air: None,
    };
    runner.rebuild_slots();
    let id = runner.id.clone();
    let task = tokio::spawn(runner.run(rx, control_rx, shutdown));
    ChannelHandle::new(id, (live, status, counters), control_tx, task)
}

/// A channel runner's three inputs (the hub drives both kinds alike).
pub trait Runs {
    fn on_event(&mut self, ev: Tagged);
    fn on_control(&mut self, c: Control);
    fn on_tick(&mut self);
}

/// Feeds a runner its source events, control messages and a tick every `tick_ms` until it is
/// stopped, its sources are gone, or the server shuts down.
pub async fn drive(
    r: &mut impl Runs,
    tick_ms: u64,
    rx: &mut mpsc::Receiver<Tagged>,
    control: &mut mpsc::Receiver<Control>,
    shutdown: &mut watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(tick_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => r.on_event(ev),
                None => break,
            },
            c = control.recv() => match c {
                Some(Control::Stop) | None => break,
                Some(c) => r.on_control(c),
            },
            _ = tick.tick() => r.on_tick(),
            _ = shutdown.changed() => break,
        }
    }
}

/// What a runner publishes: its live output, its status and its counters.
pub type Outputs = (Arc<LiveOutput>, Arc<Mutex<Status>>, Arc<Counters>);

/// A new channel's outputs (any kind of runner).
pub fn outputs(settings: &Settings) -> Outputs {
    let live = Arc::new(LiveOutput::new(
        settings.window,
        settings.segment_s,
        settings.media.ts_buffer_bytes,
        settings.media.rendition_cache_bytes,
    ));
    live.set_segment_place(settings.media.segment_place.clone());
    let status = Arc::new(Mutex::new(Status {
        state: State::Connecting,
        active_source: None,
        input_bitrate_bps: 0,
        info: StreamInfo::default(),
        last_error: None,
        last_error_at: None,
        awaiting_encoder: false,
        slate: false,
        recording: false,
        recording_since: None,
    }));
    (live, status, Arc::new(Counters::default()))
}

fn failover_config(settings: &Settings) -> FailoverConfig {
    FailoverConfig {
        silence_ms: settings.failover_silence_ms,
        return_after_ms: settings.return_after_ms,
        no_keyframe_ms: settings.media.no_keyframe_ms,
        steady_stop_ms: 10_000,
        slate_after_ms: settings.slate_after_ms,
    }
}

struct Runner {
    id: String,
    cfg: Channel,
    settings: Arc<Settings>,
    slots: Vec<Slot>,
    /// The failover policy: which source is on air, which run, when the slate shows.
    fo: Failover,
    seg: Segmenter,
    rebaser: Rebaser,
    slate: Option<SlatePlayer>,
    live: Arc<LiveOutput>,
    status: Arc<Mutex<Status>>,
    counters: Arc<Counters>,
    tx: mpsc::Sender<Tagged>,
    meter: BitrateMeter,
    events: Vec<SegmentEvent>,
    next_generation: u64,
    /// The segment being built holds slate frames (not archived).
    open_is_slate: bool,
    /// Hands finished segments to the archive; marks pauses.
    recording: Recording,
    /// Frames dropped by the rebaser (other side of a timestamp jump, or going backwards).
    dropped_rebase: u64,
    /// Wall clock minus monotonic clock at the last tick (a change is a wall-clock step).
    wall_minus_mono_ms: Option<i64>,
    /// The source this runner has on air (the policy's choice, as carried out).
    on_air: Option<usize>,
}

impl super::channel::Runs for Runner {
    fn on_event(&mut self, ev: Tagged) {
        Runner::on_event(self, ev)
    }
    fn on_control(&mut self, c: Control) {
        Runner::on_control(self, c)
    }
    fn on_tick(&mut self) {
        Runner::on_tick(self)
    }
}

impl Runner {
    fn publish_mode(&self) -> bool {
        self.cfg.sources.is_empty()
    }

    fn rebuild_slots(&mut self) {
        self.slots.clear();
        let now = self.settings.clock.now_mono_ms();
        let urls: Vec<String> = if self.publish_mode() {
            vec![format!("rtmp publish /live/{}", self.cfg.id)]
        } else {
            self.cfg.sources.clone()
        };
        for url in urls {
            let spec = if self.publish_mode() {
                None
            } else {
                match SourceSpec::parse(&url) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!(channel = %self.id, "bad source: {}", crate::ingest::http_client::redact_text(&e.to_string()));
                        None
                    }
                }
            };
            self.slots.push(Slot {
                last_error: None,
                // only ever shown (logs, events, status): never with a password
                url: ingest::http_client::redact(&url),
                spec,
                generation: 0,
                task: None,
                info: None,
                publisher: false,
                publisher_keep: None,
            });
        }
        let startable: Vec<bool> = self.slots.iter().map(|s| s.spec.is_some()).collect();
        let (fo, actions) = Failover::new(
            failover_config(&self.settings),
            &startable,
            !self.publish_mode(),
            now,
        );
        self.fo = fo;
        self.apply(actions);
    }

    fn start_slot(&mut self, i: usize) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let label = self.cfg.name.clone();
        let slot = &mut self.slots[i];
        slot.generation = generation;
        if let Some(spec) = slot.spec.clone() {
            let tx = SourceTx {
                tx: self.tx.clone(),
                slot: i,
                generation,
                dismissed: None,
            };
            slot.task = Some(ingest::spawn_source(spec, label, tx));
            tracing::info!(channel = %self.id, source = %slot.url, "source started");
        }
    }

    fn stop_slot(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.task.take().is_some() {
            tracing::info!(channel = %self.id, source = %slot.url, "source stopped (a higher-priority source is on air)");
        }
        slot.generation = 0;
    }

    /// Carries out the failover policy's decisions.
    fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Start(i) => {
                    if i > 0 && self.slots[i].task.is_none() && self.slots[i].generation == 0 {
                        tracing::info!(channel = %self.id, source = %self.slots[i].url, "trying backup source");
                    }
                    self.start_slot(i)
                }
                Action::Stop(i) => self.stop_slot(i),
                Action::SwitchTo(i) => self.switch_to(i),
                Action::OffAir(i, why) => {
                    let why = why.to_string();
                    if let Some(s) = self.slots.get_mut(i) {
                        s.last_error.get_or_insert(why.clone());
                    }
                    self.go_offline(i, &why);
                }
                Action::ShowSlate => self.start_slate(),
            }
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Tagged>,
        mut control: mpsc::Receiver<Control>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        drive(&mut self, 100, &mut rx, &mut control, &mut shutdown).await;
        self.seg.flush(&mut self.events);
        self.drain_events();
        self.live.close();
        self.pause_recording(archive::GapReason::RecordingStopped);
        tracing::debug!(channel = %self.id, "channel runner stopped");
    }

    fn on_control(&mut self, c: Control) {
        match c {
            Control::Reconfigure(cfg) => {
                let sources_changed = cfg.sources != self.cfg.sources;
                if cfg.publish_key != self.cfg.publish_key {
                    if let Some(slot) = self.slots.first_mut().filter(|s| s.publisher) {
                        tracing::info!(channel = %self.id, "publish key changed; dismissing the publisher");
                        slot.publisher_keep = None;
                        slot.publisher = false;
                        slot.generation = 0;
                    }
                }
                if self.cfg.record && !cfg.record {
                    self.pause_recording(archive::GapReason::RecordingStopped);
                }
                self.cfg = cfg;
                if sources_changed {
                    tracing::info!(channel = %self.id, "sources changed; restarting ingest");
                    for i in 0..self.slots.len() {
                        self.stop_slot(i);
                    }
                    if let Some(a) = self.on_air {
                        self.go_offline(a, "sources reconfigured");
                    } else {
                        self.pause_recording(archive::GapReason::SourceLost);
                    }
                    self.rebuild_slots();
                }
            }
            Control::Stop => {}
            Control::AttachPublisher { key, reply } => {
                use crate::ingest::rtmp_server::{key_matches, AttachError};
                let now = self.settings.clock.now_mono_ms();
                let result = if !self.publish_mode() {
                    Err(AttachError::NotPublishMode)
                } else if !key_matches(self.cfg.publish_key.as_deref(), key.as_deref()) {
                    Err(if key.is_none() {
                        AttachError::KeyMissing
                    } else {
                        AttachError::WrongKey
                    })
                } else if self.slots[0].publisher && self.fo.fresh(0, now, 3000) {
                    Err(AttachError::AlreadyPublishing)
                } else {
                    // a silent previous publisher (dead network, encoder restarted) is replaced
                    let generation = self.next_generation;
                    self.next_generation += 1;
                    let s = &mut self.slots[0];
                    s.publisher = true;
                    s.generation = generation;
                    self.fo.attached(0, now);
                    let (keep, dismissed) = tokio::sync::watch::channel(());
                    s.publisher_keep = Some(keep); // a previous (silent) publisher is dismissed here
                    Ok(SourceTx {
                        tx: self.tx.clone(),
                        slot: 0,
                        generation,
                        dismissed: Some(dismissed),
                    })
                };
                let _ = reply.send(result);
            }
        }
    }

    fn on_event(&mut self, ev: Tagged) {
        let Some(slot) = self.slots.get_mut(ev.slot) else {
            return;
        };
        if slot.generation != ev.generation || slot.generation == 0 {
            return; // from a stopped task
        }
        let now = self.settings.clock.now_mono_ms();
        match ev.event {
            SourceEvent::Connected(what) => {
                tracing::info!(channel = %self.id, source = %slot.url, "connected: {what}");
            }
            SourceEvent::PublisherConnected { peer } => {
                tracing::info!(channel = %self.id, source = %slot.url, %peer, "publisher connected");
                self.event("publisher_connected", format!("rtmp publish from {peer}"));
            }
            SourceEvent::PublisherGone { reason } => {
                let msg = format!("publisher disconnected: {reason}");
                tracing::warn!(channel = %self.id, source = %slot.url, "{msg}");
                self.event("publisher_disconnected", msg.clone());
                let slot = &mut self.slots[ev.slot];
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                slot.last_error = Some(msg.clone());
                slot.publisher = false;
                slot.publisher_keep = None;
                slot.generation = 0; // nothing more from this publisher
                let at = self.settings.clock.now_utc();
                self.status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .note_error(msg.clone(), at);
                if let Some(Action::OffAir(i, _)) = self.fo.publisher_gone(ev.slot, now) {
                    self.go_offline(i, &msg);
                }
            }
            SourceEvent::Error(e) => {
                tracing::warn!(channel = %self.id, source = %slot.url, "source error: {e}");
                if slot.last_error.as_deref() != Some(e.as_str()) {
                    // the same error again (a reconnect loop) is logged once
                    let msg = format!("{}: {e}", slot.url);
                    self.event("source_error", msg);
                }
                let Some(slot) = self.slots.get_mut(ev.slot) else {
                    return;
                };
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                slot.last_error = Some(e.clone());
                let at = self.settings.clock.now_utc();
                self.status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .note_error(e, at);
            }
            SourceEvent::Segment(_) | SourceEvent::Alive => {
                // only `origin://` sources send these, and those feed a relay (`hub::relay`)
            }
            SourceEvent::Media(MediaEvent::Info(info)) => {
                slot.info = Some(info.clone());
                self.fo.on_info(ev.slot);
                if self.on_air == Some(ev.slot) {
                    self.seg.set_info(&info);
                }
            }
            SourceEvent::Media(MediaEvent::Frame(mut f)) => {
                self.counters.frames_in.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .bytes_in
                    .fetch_add(f.data.len() as u64, Ordering::Relaxed);
                let has_video = slot.info.as_ref().is_some_and(|i| i.video.is_some());
                let primary = if has_video {
                    Track::Video
                } else {
                    Track::Audio(0)
                };
                let is_primary = f.track == primary;
                if let Some(a) = self.fo.on_frame(ev.slot, now, is_primary, f.keyframe) {
                    self.apply(vec![a]);
                }
                if self.on_air == Some(ev.slot) {
                    self.meter.add(now, f.data.len());
                    match self.rebaser.map(&mut f, is_primary) {
                        Mapped::Keep => {}
                        Mapped::Drop => {
                            self.dropped_rebase += 1;
                            return;
                        }
                        Mapped::Jump(from, to) => {
                            tracing::info!(channel = %self.id, from_90k = from, to_90k = to, "source timestamps jumped; discontinuity");
                            self.seg.discontinuity(&mut self.events);
                        }
                    }
                    self.seg
                        .push(&f, self.settings.clock.now_utc(), &mut self.events);
                    self.drain_events();
                }
            }
        }
    }

    /// Notes an event in the channel's event log (never blocks; dropped if the log is behind).
    fn event(&self, kind: &'static str, message: String) {
        if let Some(ev) = &self.settings.events {
            ev.emit(&self.id, self.settings.clock.now_utc().0, kind, message);
        }
    }

    /// The failover policy put source `i` on air (its current frame is a keyframe).
    fn switch_to(&mut self, i: usize) {
        let from = self.on_air.replace(i);
        if from.is_some() {
            self.counters.failovers.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(channel = %self.id, source = %self.slots[i].url, from = ?from.map(|f| self.slots[f].url.clone()), "source on air");
        match from {
            Some(f) => self.event(
                "failover",
                format!("{} -> {}", self.slots[f].url, self.slots[i].url),
            ),
            None => self.event("source_restored", format!("{} on air", self.slots[i].url)),
        }
        self.slate = None;
        self.seg.discontinuity(&mut self.events);
        self.rebaser.reset();
        if let Some(info) = &self.slots[i].info {
            self.seg.set_info(info);
        }
        self.drain_events();
    }

    /// Source `i` went off air (the policy said so, or the sources were reconfigured).
    fn go_offline(&mut self, i: usize, why: &str) {
        if self.on_air.take().is_some() {
            let url = self.slots.get(i).map(|s| s.url.clone()).unwrap_or_default();
            tracing::warn!(channel = %self.id, source = %url, "source lost: {why}");
            self.event("source_lost", format!("{url}: {why}"));
            self.seg.discontinuity(&mut self.events);
            self.drain_events();
        }
        self.pause_recording(archive::GapReason::SourceLost);
    }

    /// The archive gets a gap from now, with this reason, until the next recorded segment.
    fn pause_recording(&mut self, reason: archive::GapReason) {
        self.recording.pause(reason);
    }

    /// The policy says: nothing on air for a while, show the slate.
    fn start_slate(&mut self) {
        if self.slate.is_some() {
            return;
        }
        let now = self.settings.clock.now_mono_ms();
        self.seg.discontinuity(&mut self.events);
        let slate: &Arc<SlateLoop> = &self.settings.slate;
        self.seg.set_info(&slate.info);
        self.slate = Some(SlatePlayer::new(
            slate.clone(),
            now,
            self.rebaser.last_out_dts + STEP_90K,
        ));
        self.rebaser.reset();
        self.drain_events();
    }

    /// A step of the wall clock against the monotonic clock is logged, counted and marks a
    /// discontinuity; the segmenter keeps wall starts from going backwards (docs/time.md).
    fn watch_clock(&mut self, now_mono: i64) {
        let wall = self.settings.clock.now_utc().0;
        let diff = wall - now_mono;
        if let Some(prev) = self.wall_minus_mono_ms.replace(diff) {
            let step = diff - prev;
            if step.abs() > self.settings.media.clock_step_ms {
                tracing::warn!(channel = %self.id, step_ms = step, "wall clock stepped; discontinuity");
                self.counters.clock_steps.fetch_add(1, Ordering::Relaxed);
                self.event("clock_step", format!("wall clock stepped by {step} ms"));
                self.seg.clock_stepped(&mut self.events);
                self.drain_events();
            }
        }
    }

    fn on_tick(&mut self) {
        let now = self.settings.clock.now_mono_ms();
        self.watch_clock(now);
        for i in 0..self.slots.len() {
            if self.slots[i].task.as_ref().is_some_and(|t| t.is_finished()) {
                tracing::warn!(channel = %self.id, source = %self.slots[i].url, "source task ended; restarting it");
                self.slots[i].task = None;
                self.fo.task_ended(i);
            }
        }
        let actions = self.fo.tick(now);
        self.apply(actions);
        // the slate plays while nothing is on air
        if self.on_air.is_none() {
            if let Some(p) = self.slate.as_mut() {
                let mut frames = Vec::new();
                p.frames_until(now, &mut frames);
                let wall = self.settings.clock.now_utc();
                for f in frames {
                    self.rebaser.note_output(f.dts_90k.0, !f.track.is_audio());
                    self.seg.push(&f, wall, &mut self.events);
                }
                self.drain_events();
            }
        }
        self.counters.dropped_frames.store(
            self.seg.dropped_waiting_for_keyframe
                + self.seg.dropped_non_monotonic
                + self.dropped_rebase,
            Ordering::Relaxed,
        );
        self.counters
            .forced_cuts
            .store(self.seg.forced_cuts, Ordering::Relaxed);
        self.counters
            .open_segment_bytes
            .store(self.seg.open_bytes() as u64, Ordering::Relaxed);
        self.publish_status(now);
    }

    fn publish_status(&mut self, now: i64) {
        debug_assert_eq!(self.fo.active(), self.on_air, "policy and runner agree");
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.state = match self.on_air {
            Some(_) => State::Live,
            None if self.fo.any_fresh(now) => State::Connecting,
            None if now - self.fo.offline_since_ms() < self.settings.slate_after_ms => {
                State::Connecting
            }
            None => State::Offline,
        };
        st.active_source = self.on_air.map(|a| self.slots[a].url.clone());
        st.input_bitrate_bps = if self.on_air.is_some() {
            self.meter.bps(now)
        } else {
            0
        };
        st.info = self
            .on_air
            .and_then(|a| self.slots[a].info.clone())
            .unwrap_or_default();
        st.slate = self.slate.is_some();
        st.awaiting_encoder =
            self.publish_mode() && !self.slots.first().is_some_and(|s| s.publisher);
    }
    fn drain_events(&mut self) {
        for ev in self.events.drain(..) {
            match ev {
                SegmentEvent::Chunk {
                    data,
                    segment_start,
                } => {
                    if segment_start {
                        self.open_is_slate = self.slate.is_some();
                    }
                    self.live.push_chunk(data, segment_start)
                }
                SegmentEvent::Segment(s) => {
                    self.counters.segments.fetch_add(1, Ordering::Relaxed);
                    if self.cfg.record && !self.open_is_slate {
                        self.recording.segment(&s);
                    }
                    self.live.push_segment(s);
                }
            }
        }
    }
}
