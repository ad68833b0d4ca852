//! One channel's runner: owns its sources, picks the one on air (failover), fills gaps with the
//! slate, re-bases timestamps onto one continuous output timeline and drives the segmenter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hls::{SegmentEvent, Segmenter, SegmenterConfig};
use media::{Frame, MediaEvent, StreamInfo, Track, Ts90k};
use tokio::sync::{mpsc, oneshot, watch};

use super::live::LiveOutput;
use super::slate::{SlateLoop, SlatePlayer};
use super::Settings;
use crate::ingest::{self, SourceEvent, SourceSpec, SourceTask, SourceTx, Tagged};
use crate::store::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Live,
    Offline,
    Connecting,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Live => "live",
            State::Offline => "offline",
            State::Connecting => "connecting",
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
    /// Whether the slate is on air.
    pub slate: bool,
    /// Segments are going to the archive.
    pub recording: bool,
    /// When the current recording run began (first segment archived after a pause).
    pub recording_since: Option<media::UtcMs>,
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
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One source in failover order.
struct Slot {
    url: String,
    spec: Option<SourceSpec>,
    generation: u64,
    task: Option<SourceTask>,
    /// When the task was (re)started, or the publisher attached.
    started_mono: i64,
    info: Option<StreamInfo>,
    last_media_mono: Option<i64>,
    /// Start of the current run of media without a gap over 1.5 s.
    streaming_since_mono: Option<i64>,
    last_error: Option<String>,
    /// For publish slots: whether a publisher is attached.
    publisher: bool,
    /// Dropping it dismisses the attached publisher (its connection closes).
    publisher_keep: Option<tokio::sync::watch::Sender<()>>,
}

impl Slot {
    fn alive(&self, now: i64, silence_ms: i64) -> bool {
        self.last_media_mono.is_some_and(|t| now - t < silence_ms)
    }
    fn streaming_for(&self, now: i64) -> i64 {
        match (self.streaming_since_mono, self.last_media_mono) {
            (Some(s), Some(l)) if now - l < 1500 => now - s,
            _ => 0,
        }
    }
}

/// Maps each source's timestamps onto the channel's continuous output timeline.
struct Rebaser {
    offset: Option<i64>,
    last_out_dts: i64,
    /// Last output DTS of the non-primary track (kept monotone).
    last_out_secondary: i64,
    last_in_primary: Option<i64>,
}

impl Rebaser {
    fn new() -> Self {
        Rebaser {
            offset: None,
            last_out_dts: 10 * 90_000,
            last_out_secondary: 0,
            last_in_primary: None,
        }
    }
    /// Next frame comes from a new source: continue the output one frame after the last one.
    fn reset(&mut self) {
        self.offset = None;
        self.last_in_primary = None;
    }
    /// Re-bases `f`; returns true when the source's own timestamps jumped (a discontinuity).
    #[cfg(test)]
    fn map(&mut self, f: &mut Frame, primary: bool) -> bool {
        matches!(self.map_verbose(f, primary), Mapped::Jump(..))
    }

    /// Re-bases `f`. The primary track (video, or audio when there is none) drives the offset:
    /// a jump in its timestamps re-bases and is reported. Other tracks follow; their frames are
    /// dropped while they disagree with the primary by more than 2 s (they belong to the other side
    /// of a jump the primary has not shown yet), before the primary has set the offset, or when
    /// they would go backwards on the output.
    fn map_verbose(&mut self, f: &mut Frame, primary: bool) -> Mapped {
        if !primary {
            let Some(off) = self.offset else {
                return Mapped::Drop;
            };
            if self
                .last_in_primary
                .is_some_and(|lp| (f.dts_90k.0 - lp).abs() > 180_000)
            {
                return Mapped::Drop;
            }
            let dts = f.dts_90k.0 + off;
            if dts < self.last_out_secondary {
                return Mapped::Drop;
            }
            self.last_out_secondary = dts;
            f.dts_90k = Ts90k(dts);
            f.pts_90k = Ts90k(f.pts_90k.0 + off);
            self.last_out_dts = self.last_out_dts.max(dts);
            return Mapped::Keep;
        }
        let mut result = Mapped::Keep;
        if let (Some(_), Some(last)) = (self.offset, self.last_in_primary) {
            let d = f.dts_90k.0 - last;
            if !(-90_000..=5 * 90_000).contains(&d) {
                self.offset = None;
                result = Mapped::Jump(last, f.dts_90k.0);
            }
        }
        self.last_in_primary = Some(f.dts_90k.0);
        let next = self.last_out_dts + 3600;
        let off = *self.offset.get_or_insert(next - f.dts_90k.0);
        f.dts_90k = Ts90k(f.dts_90k.0 + off);
        f.pts_90k = Ts90k(f.pts_90k.0 + off);
        self.last_out_dts = self.last_out_dts.max(f.dts_90k.0);
        result
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapped {
    Keep,
    /// The primary track's timestamps jumped from the first to the second value (source DTS).
    Jump(i64, i64),
    Drop,
}

/// Input bitrate over the last few seconds.
struct BitrateMeter {
    buckets: [(i64, u64); 5],
}

impl BitrateMeter {
    fn add(&mut self, now_ms: i64, bytes: usize) {
        let sec = now_ms / 1000;
        let b = &mut self.buckets[(sec % 5) as usize];
        if b.0 != sec {
            *b = (sec, 0);
        }
        b.1 += bytes as u64;
    }
    fn bps(&self, now_ms: i64) -> u64 {
        let sec = now_ms / 1000;
        // the four complete seconds before this one
        let total: u64 = self
            .buckets
            .iter()
            .filter(|(s, _)| *s < sec && *s >= sec - 4)
            .map(|(_, b)| *b)
            .sum();
        total * 8 / 4
    }
}

pub fn spawn(
    cfg: Channel,
    settings: Arc<Settings>,
    shutdown: watch::Receiver<bool>,
) -> Arc<ChannelHandle> {
    let live = Arc::new(LiveOutput::new(settings.window, settings.segment_s));
    let status = Arc::new(Mutex::new(Status {
        state: State::Connecting,
        active_source: None,
        input_bitrate_bps: 0,
        info: StreamInfo::default(),
        last_error: None,
        slate: false,
        recording: false,
        recording_since: None,
    }));
    let counters = Arc::new(Counters::default());
    let (control_tx, control_rx) = mpsc::channel(16);
    let (tx, rx) = mpsc::channel(1024);
    let now = settings.clock.now_mono_ms();
    let first_seq = settings.clock.now_utc().secs().max(0) as u64;
    let mut runner = Runner {
        id: cfg.id.clone(),
        slots: Vec::new(),
        cfg,
        settings: settings.clone(),
        active: None,
        pending: None,
        max_running: 0,
        offline_since_mono: now,
        seg: Segmenter::new(
            SegmenterConfig {
                target_90k: settings.segment_s as i64 * 90_000,
            },
            first_seq,
        ),
        rebaser: Rebaser::new(),
        slate: None,
        live: live.clone(),
        status: status.clone(),
        counters: counters.clone(),
        tx,
        meter: BitrateMeter {
            buckets: [(0, 0); 5],
        },
        events: Vec::new(),
        next_generation: 1,
        open_is_slate: false,
        recording: false,
        dropped_rebase: 0,
    };
    runner.rebuild_slots();
    let id = runner.id.clone();
    let task = tokio::spawn(runner.run(rx, control_rx, shutdown));
    Arc::new(ChannelHandle {
        id,
        live,
        status,
        counters,
        control: control_tx,
        task: Mutex::new(Some(task)),
    })
}

struct Runner {
    id: String,
    cfg: Channel,
    settings: Arc<Settings>,
    slots: Vec<Slot>,
    active: Option<usize>,
    /// Switch to this slot at its next keyframe.
    pending: Option<usize>,
    /// Slots 0..=max_running have their tasks running.
    max_running: usize,
    offline_since_mono: i64,
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
    /// The last finished segment went to the archive.
    recording: bool,
    /// Frames dropped by the rebaser (other side of a timestamp jump, or going backwards).
    dropped_rebase: u64,
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
                        tracing::warn!(channel = %self.id, "bad source: {e}");
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
                started_mono: now,
                info: None,
                last_media_mono: None,
                streaming_since_mono: None,
                publisher: false,
                publisher_keep: None,
            });
        }
        self.active = None;
        self.pending = None;
        self.max_running = 0;
        self.offline_since_mono = now;
        if !self.slots.is_empty() {
            self.start_slot(0);
        }
    }

    fn start_slot(&mut self, i: usize) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let now = self.settings.clock.now_mono_ms();
        let label = self.cfg.name.clone();
        let slot = &mut self.slots[i];
        slot.generation = generation;
        slot.started_mono = now;
        slot.last_media_mono = None;
        slot.streaming_since_mono = None;
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
        slot.last_media_mono = None;
        slot.streaming_since_mono = None;
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Tagged>,
        mut control: mpsc::Receiver<Control>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => self.on_event(ev),
                    None => break,
                },
                c = control.recv() => match c {
                    Some(Control::Stop) | None => break,
                    Some(c) => self.on_control(c),
                },
                _ = tick.tick() => self.on_tick(),
                _ = shutdown.changed() => break,
            }
        }
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
                    self.go_offline("sources reconfigured");
                    self.rebuild_slots();
                }
            }
            Control::Stop => {}
            Control::AttachPublisher { key, reply } => {
                use crate::ingest::rtmp_server::{key_matches, AttachError};
                let result = if !self.publish_mode() {
                    Err(AttachError::NotPublishMode)
                } else if !key_matches(self.cfg.publish_key.as_deref(), key.as_deref()) {
                    Err(if key.is_none() {
                        AttachError::KeyMissing
                    } else {
                        AttachError::WrongKey
                    })
                } else if self.slots[0].publisher
                    && self.slots[0].alive(self.settings.clock.now_mono_ms(), 3000)
                {
                    Err(AttachError::AlreadyPublishing)
                } else {
                    // a silent previous publisher (dead network, encoder restarted) is replaced
                    let generation = self.next_generation;
                    self.next_generation += 1;
                    let now = self.settings.clock.now_mono_ms();
                    let s = &mut self.slots[0];
                    s.publisher = true;
                    s.generation = generation;
                    s.started_mono = now;
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
                if what.starts_with("rtmp publish") {
                    let msg = what.clone();
                    self.event("publisher_connected", msg);
                }
            }
            SourceEvent::Error(e) => {
                tracing::warn!(channel = %self.id, source = %slot.url, "source error: {e}");
                if let Some(why) = e.strip_prefix("publisher disconnected") {
                    let msg = format!("publisher disconnected{why}");
                    self.event("publisher_disconnected", msg);
                } else if slot.last_error.as_deref() != Some(e.as_str()) {
                    // the same error again (a reconnect loop) is logged once
                    let msg = format!("{}: {e}", slot.url);
                    self.event("source_error", msg);
                }
                let Some(slot) = self.slots.get_mut(ev.slot) else {
                    return;
                };
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                slot.last_error = Some(e.clone());
                if e.starts_with("publisher disconnected") {
                    slot.publisher = false;
                    slot.publisher_keep = None;
                    slot.generation = 0; // nothing more from this publisher
                    slot.last_media_mono = None;
                    if self.active == Some(ev.slot) {
                        self.status
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .last_error = Some(e.clone());
                        self.go_offline(&e);
                        return;
                    }
                }
                self.status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .last_error = Some(e);
            }
            SourceEvent::Media(MediaEvent::Info(info)) => {
                slot.info = Some(info.clone());
                if self.active == Some(ev.slot) {
                    self.seg.set_info(&info);
                }
            }
            SourceEvent::Media(MediaEvent::Frame(mut f)) => {
                self.counters.frames_in.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .bytes_in
                    .fetch_add(f.data.len() as u64, Ordering::Relaxed);
                if slot.last_media_mono.is_none_or(|t| now - t > 1500) {
                    slot.streaming_since_mono = Some(now);
                }
                slot.last_media_mono = Some(now);
                let has_video = slot.info.as_ref().is_some_and(|i| i.video.is_some());
                let primary = if has_video {
                    Track::Video
                } else {
                    Track::Audio
                };
                let first_on_air =
                    self.active.is_none() && slot.info.is_some() && ev.slot <= self.max_running;
                if (self.pending == Some(ev.slot) || first_on_air)
                    && f.track == primary
                    && f.keyframe
                {
                    self.switch_to(ev.slot);
                }
                if self.active == Some(ev.slot) {
                    self.meter.add(now, f.data.len());
                    let is_primary = f.track == primary;
                    match self.rebaser.map_verbose(&mut f, is_primary) {
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

    fn switch_to(&mut self, i: usize) {
        let from = self.active;
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
        self.active = Some(i);
        self.pending = None;
        self.drain_events();
    }

    fn go_offline(&mut self, why: &str) {
        if let Some(a) = self.active.take() {
            tracing::warn!(channel = %self.id, source = %self.slots.get(a).map(|s| s.url.as_str()).unwrap_or(""), "source lost: {why}");
            let url = self.slots.get(a).map(|s| s.url.clone()).unwrap_or_default();
            self.event("source_lost", format!("{url}: {why}"));
            self.seg.discontinuity(&mut self.events);
            self.drain_events();
        }
        self.pending = None;
        self.offline_since_mono = self.settings.clock.now_mono_ms();
        self.pause_recording(archive::GapReason::SourceLost);
    }

    /// The archive gets a gap from now, with this reason, until the next recorded segment.
    fn pause_recording(&mut self, reason: archive::GapReason) {
        if self.recording {
            self.recording = false;
            let why = match reason {
                archive::GapReason::SourceLost => "no source on air",
                archive::GapReason::RecordingStopped => "switched off, or the server is stopping",
                archive::GapReason::Crash => "the server stopped unexpectedly",
                archive::GapReason::Retention => "removed by retention",
                _ => "recording interrupted",
            };
            self.event("recording_stopped", why.to_string());
            if let Some(r) = &self.settings.recorder {
                r.stopped(&self.id, self.settings.clock.now_utc(), reason);
            }
            let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
            st.recording = false;
            st.recording_since = None;
        }
    }

    fn on_tick(&mut self) {
        let now = self.settings.clock.now_mono_ms();
        let silence = self.settings.failover_silence_ms;
        // 1. the source on air went silent
        if let Some(a) = self.active {
            if !self.slots[a].alive(now, silence) {
                let why = format!("no media for {} s", silence / 1000);
                self.slots[a].last_error.get_or_insert(why.clone());
                self.go_offline(&why);
            }
        }
        // 2. pick the best live source: the first in order that is streaming (a source ranked above
        //    the one on air must have been streaming steadily for a while before we switch back)
        let running = self.max_running.min(self.slots.len().saturating_sub(1));
        let best = (0..self.slots.len().min(running + 1)).find(|&i| {
            let s = &self.slots[i];
            let needed = if self.active.is_some() {
                self.settings.return_after_ms
            } else {
                0
            };
            s.alive(now, 1500) && s.info.is_some() && s.streaming_for(now) >= needed
        });
        match (best, self.active) {
            (Some(b), None) => self.pending = Some(b),
            (Some(b), Some(a)) if b < a => self.pending = Some(b),
            _ => {}
        }
        // 3. escalate: nothing running is alive and the last started one had its chance
        if !self.publish_mode() && !self.slots.is_empty() {
            let any_alive = (0..=running).any(|i| self.slots[i].alive(now, silence));
            let last = &self.slots[running];
            if !any_alive && running + 1 < self.slots.len() && now - last.started_mono >= silence {
                self.max_running = running + 1;
                tracing::info!(channel = %self.id, source = %self.slots[running + 1].url, "trying backup source");
                self.start_slot(running + 1);
            }
            // 4. a source stopped by a reconfigure or after failing back is restarted
            for i in 0..=self.max_running.min(self.slots.len() - 1) {
                let ended = self.slots[i].task.as_ref().is_some_and(|t| t.is_finished());
                if ended {
                    tracing::warn!(channel = %self.id, source = %self.slots[i].url, "source task ended; restarting it");
                }
                if (self.slots[i].task.is_none() || ended) && self.slots[i].spec.is_some() {
                    self.start_slot(i);
                }
            }
            // 5. once back on a higher-priority source for a while, stop the backups below it
            if let Some(a) = self.active {
                if a < self.max_running && self.slots[a].streaming_for(now) >= 10_000 {
                    for i in a + 1..=self.max_running {
                        self.stop_slot(i);
                    }
                    self.max_running = a;
                }
            }
        }
        // 6. slate while nothing is on air
        if self.active.is_none() {
            if self.slate.is_none() && now - self.offline_since_mono >= self.settings.slate_after_ms
            {
                self.seg.discontinuity(&mut self.events);
                let slate: &Arc<SlateLoop> = &self.settings.slate;
                self.seg.set_info(&slate.info);
                self.slate = Some(SlatePlayer::new(
                    slate.clone(),
                    now,
                    self.rebaser.last_out_dts + 3600,
                ));
                self.rebaser.reset();
            }
            if let Some(p) = self.slate.as_mut() {
                let mut frames = Vec::new();
                p.frames_until(now, &mut frames);
                let wall = self.settings.clock.now_utc();
                for f in frames {
                    self.rebaser.last_out_dts = self.rebaser.last_out_dts.max(f.dts_90k.0);
                    if f.track == Track::Audio {
                        self.rebaser.last_out_secondary =
                            self.rebaser.last_out_secondary.max(f.dts_90k.0);
                    }
                    self.seg.push(&f, wall, &mut self.events);
                }
                self.drain_events();
            }
        }
        self.counters.dropped_frames.store(
            self.seg.dropped_waiting_for_keyframe + self.dropped_rebase,
            Ordering::Relaxed,
        );
        self.publish_status(now);
    }

    fn publish_status(&mut self, now: i64) {
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.state = match self.active {
            Some(_) => State::Live,
            None if self
                .slots
                .iter()
                .any(|s| s.last_media_mono.is_some_and(|t| now - t < 1500)) =>
            {
                State::Connecting
            }
            None if now - self.offline_since_mono < self.settings.slate_after_ms => {
                State::Connecting
            }
            None => State::Offline,
        };
        st.active_source = self.active.map(|a| self.slots[a].url.clone());
        st.input_bitrate_bps = if self.active.is_some() {
            self.meter.bps(now)
        } else {
            0
        };
        st.info = self
            .active
            .and_then(|a| self.slots[a].info.clone())
            .unwrap_or_default();
        st.slate = self.slate.is_some();
        if let Some(a) = self.active {
            if let Some(e) = &self.slots[a].last_error {
                st.last_error = Some(e.clone());
            }
        }
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
                        if let Some(r) = &self.settings.recorder {
                            r.record(&self.id, &s);
                            if !self.recording {
                                self.recording = true;
                                if let Some(ev) = &self.settings.events {
                                    let now = self.settings.clock.now_utc().0;
                                    ev.emit(&self.id, now, "recording_started", String::new());
                                }
                                let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
                                st.recording = true;
                                st.recording_since = Some(s.start_utc);
                            }
                        }
                    }
                    self.live.push_segment(s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use media::Codec;

    fn vf(dts: i64) -> Frame {
        Frame {
            track: Track::Video,
            codec: Codec::H264,
            pts_90k: Ts90k(dts + 3600),
            dts_90k: Ts90k(dts),
            keyframe: false,
            data: Bytes::new(),
        }
    }

    #[test]
    fn rebaser_keeps_output_continuous_across_jumps_and_sources() {
        let mut r = Rebaser::new();
        let mut out = Vec::new();
        for k in 0..10 {
            let mut f = vf(1_000_000 + k * 3600);
            assert!(!r.map(&mut f, true));
            out.push(f.dts_90k.0);
        }
        // source timestamps jump back by an hour (encoder restart)
        let mut f = vf(5000);
        assert!(r.map(&mut f, true));
        out.push(f.dts_90k.0);
        // a different source with its own clock
        r.reset();
        let mut f = vf(8_589_000_000);
        assert!(!r.map(&mut f, true));
        out.push(f.dts_90k.0);
        assert!(out.windows(2).all(|w| w[1] - w[0] == 3600), "{out:?}");
        assert_eq!(f.pts_90k.0 - f.dts_90k.0, 3600);
    }

    fn af(dts: i64) -> Frame {
        Frame {
            track: Track::Audio,
            codec: Codec::Aac,
            pts_90k: Ts90k(dts),
            dts_90k: Ts90k(dts),
            keyframe: true,
            data: Bytes::new(),
        }
    }

    #[test]
    fn audio_follows_video_and_never_crosses_a_jump_or_goes_back() {
        let mut r = Rebaser::new();
        // audio before the first video frame: no offset yet
        assert_eq!(r.map_verbose(&mut af(1_000_000), false), Mapped::Drop);
        assert_eq!(r.map_verbose(&mut vf(1_000_000), true), Mapped::Keep);
        let mut a = af(1_000_100);
        assert_eq!(r.map_verbose(&mut a, false), Mapped::Keep);
        // audio already on the far side of a jump the video has not shown yet
        assert_eq!(r.map_verbose(&mut af(50_000_000), false), Mapped::Drop);
        assert_eq!(
            r.map_verbose(&mut vf(50_000_000), true),
            Mapped::Jump(1_000_000, 50_000_000)
        );
        let mut a2 = af(50_000_000);
        assert_eq!(r.map_verbose(&mut a2, false), Mapped::Keep);
        assert!(a2.dts_90k > a.dts_90k);
        // a new source whose audio lags its video: audio that would go backwards is dropped
        r.reset();
        assert_eq!(r.map_verbose(&mut vf(7_000_000), true), Mapped::Keep);
        let mut late = af(7_000_000 - 9000);
        assert_eq!(r.map_verbose(&mut late, false), Mapped::Drop);
        assert_eq!(
            r.map_verbose(&mut af(7_000_000 + 1800), false),
            Mapped::Keep
        );
    }

    #[test]
    fn bitrate_meter() {
        let mut m = BitrateMeter {
            buckets: [(0, 0); 5],
        };
        for ms in (0..10_000).step_by(40) {
            m.add(ms, 5000); // 125 kB/s = 1 Mbit/s
        }
        assert_eq!(m.bps(10_000), 1_000_000);
    }
}
