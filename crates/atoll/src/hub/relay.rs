//! An edge channel's runner: its one source is the cluster's origin (`origin://{id}`), which
//! sends finished segments. They are served as they are (same bytes, numbers and
//! PROGRAM-DATE-TIME, numbered by [`RelaySequencer`] across origin switches), streamed to TS
//! viewers and archived when the channel records, through the same [`LiveOutput`] and
//! [`Recording`] as a channel cut here. Nothing is re-muxed or re-cut.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use super::channel::{ChannelHandle, Control, Counters, State, Status};
use super::live::LiveOutput;
use super::meter::BitrateMeter;
use super::recording::Recording;
use super::sequencer::{Incoming, RelaySequencer, Skipped};
use super::Settings;
use crate::ingest::{self, SourceEvent, SourceTask, SourceTx, Tagged};
use crate::store::Channel;

/// Whether a channel is fed by the origin (its first source is `origin://…`).
pub fn is_relay(ch: &Channel) -> bool {
    ch.sources
        .first()
        .is_some_and(|s| s.starts_with("origin://"))
}

pub fn spawn(
    cfg: Channel,
    settings: Arc<Settings>,
    shutdown: watch::Receiver<bool>,
) -> Arc<ChannelHandle> {
    let (live, status, counters) = super::channel::outputs(&settings);
    let (control_tx, control_rx) = mpsc::channel(16);
    let (tx, rx) = mpsc::channel(64);
    let relay = Relay {
        id: cfg.id.clone(),
        recording: Recording::new(cfg.id.clone(), settings.clone(), status.clone()),
        cfg,
        settings,
        live: live.clone(),
        status: status.clone(),
        counters: counters.clone(),
        tx,
        task: None,
        generation: 0,
        seq: RelaySequencer::new(),
        meter: BitrateMeter::default(),
        last_alive_ms: None,
        last_segment_ms: None,
        connected_to: None,
        info_known: false,
    };
    let id = relay.id.clone();
    let task = tokio::spawn(relay.run(rx, control_rx, shutdown));
    ChannelHandle::new(id, (live, status, counters), control_tx, task)
}

struct Relay {
    id: String,
    cfg: Channel,
    settings: Arc<Settings>,
    live: Arc<LiveOutput>,
    status: Arc<Mutex<Status>>,
    counters: Arc<Counters>,
    tx: mpsc::Sender<Tagged>,
    task: Option<SourceTask>,
    generation: u64,
    seq: RelaySequencer,
    meter: BitrateMeter,
    recording: Recording,
    /// When the origin last answered (monotonic ms).
    last_alive_ms: Option<i64>,
    /// When the last segment was taken (monotonic ms).
    last_segment_ms: Option<i64>,
    /// What the source said it is connected to.
    connected_to: Option<String>,
    /// Codecs and picture size, read from the first segment after (re)connecting.
    info_known: bool,
}

impl super::channel::Runs for Relay {
    fn on_event(&mut self, ev: Tagged) {
        Relay::on_event(self, ev)
    }
    fn on_control(&mut self, c: Control) {
        Relay::on_control(self, c)
    }
    fn on_tick(&mut self) {
        Relay::on_tick(self)
    }
}

impl Relay {
    fn start_source(&mut self) {
        self.generation += 1;
        let tx = SourceTx {
            tx: self.tx.clone(),
            slot: 0,
            generation: self.generation,
            dismissed: None,
        };
        self.task = Some(ingest::spawn_origin(
            self.cfg.id.clone(),
            self.settings.media.segment_max_bytes,
            tx,
        ));
    }

    fn stop_source(&mut self) {
        self.task = None;
        self.generation += 1; // what the stopped task still sends is ignored
        self.connected_to = None;
        self.info_known = false;
        self.last_alive_ms = None;
        self.last_segment_ms = None;
        self.live.clear();
        tracing::info!(channel = %self.id, "no viewer: stopped pulling from the origin");
    }

    /// Pulled while it records, or while it is watched (and `relay_idle_ms` after).
    fn wanted(&self, now: i64) -> bool {
        self.cfg.record
            || self.live.ts_viewers.load(Ordering::Relaxed) > 0
            || now.saturating_sub(self.live.last_asked()) < self.settings.relay_idle_ms
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Tagged>,
        mut control: mpsc::Receiver<Control>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        if self.wanted(self.settings.clock.now_mono_ms()) {
            self.start_source();
        }
        super::channel::drive(&mut self, 250, &mut rx, &mut control, &mut shutdown).await;
        self.task = None;
        self.live.close();
        self.recording.pause(archive::GapReason::RecordingStopped);
        tracing::debug!(channel = %self.id, "relay stopped");
    }

    fn on_control(&mut self, c: Control) {
        match c {
            Control::Reconfigure(cfg) => {
                if self.cfg.record && !cfg.record {
                    self.recording.pause(archive::GapReason::RecordingStopped);
                }
                self.cfg = cfg;
            }
            Control::Stop => {}
            Control::AttachPublisher { reply, .. } => {
                let _ = reply.send(Err(crate::ingest::rtmp_server::AttachError::NotPublishMode));
            }
        }
    }

    fn on_event(&mut self, ev: Tagged) {
        if ev.generation != self.generation {
            return;
        }
        let now = self.settings.clock.now_mono_ms();
        match ev.event {
            SourceEvent::Connected(what) => {
                tracing::info!(channel = %self.id, "relaying from {what}");
                if self.connected_to.is_some() && self.connected_to.as_ref() != Some(&what) {
                    self.counters.failovers.fetch_add(1, Ordering::Relaxed);
                    self.event(
                        "failover",
                        format!(
                            "{} -> {what}",
                            self.connected_to.as_deref().unwrap_or_default()
                        ),
                    );
                }
                self.connected_to = Some(what);
                self.info_known = false;
                self.last_alive_ms = Some(now);
            }
            SourceEvent::Alive => self.last_alive_ms = Some(now),
            SourceEvent::Error(e) => {
                tracing::debug!(channel = %self.id, "origin: {e}");
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                let at = self.settings.clock.now_utc();
                self.status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .note_error(e, at);
            }
            SourceEvent::Segment(r) => {
                self.last_alive_ms = Some(now);
                let mut s = r.segment;
                let incoming = Incoming {
                    origin: r.origin,
                    seq: s.seq,
                    start_utc_ms: s.start_utc.0,
                    duration_90k: s.duration_90k,
                    discontinuity: s.discontinuity,
                };
                let placed = match self.seq.accept(&incoming) {
                    Ok(p) => p,
                    Err(Skipped::Seen) | Err(Skipped::Covered) => return,
                };
                s.seq = placed.seq;
                s.discontinuity = placed.discontinuity;
                if !self.info_known {
                    // what the origin carries, for the status (the bytes are served untouched)
                    let mut demux = mpegts::Demuxer::new();
                    let mut events = Vec::new();
                    demux.push(&s.data, &mut events);
                    let info = demux.info().clone();
                    if info.video.is_some() || !info.audio.is_empty() {
                        self.info_known = true;
                        self.status.lock().unwrap_or_else(|e| e.into_inner()).info = info;
                    }
                }
                self.last_segment_ms = Some(now);
                self.counters.segments.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .bytes_in
                    .fetch_add(s.data.len() as u64, Ordering::Relaxed);
                self.meter.add(now, s.data.len());
                self.live.push_chunk(s.data.clone(), true);
                if self.cfg.record {
                    self.recording.segment(&s);
                }
                self.live.push_segment(s);
            }
            SourceEvent::Media(_)
            | SourceEvent::PublisherConnected { .. }
            | SourceEvent::PublisherGone { .. } => {}
        }
    }

    fn event(&self, kind: &'static str, message: String) {
        if let Some(ev) = &self.settings.events {
            ev.emit(&self.id, self.settings.clock.now_utc().0, kind, message);
        }
    }

    fn on_tick(&mut self) {
        let now = self.settings.clock.now_mono_ms();
        match (self.wanted(now), &self.task) {
            (true, None) => {
                tracing::info!(channel = %self.id, "asked for: pulling from the origin");
                self.start_source();
            }
            (true, Some(t)) if t.is_finished() => {
                tracing::warn!(channel = %self.id, "origin source ended; restarting it");
                self.start_source();
            }
            (false, Some(_)) => self.stop_source(),
            _ => {}
        }
        if self.task.is_none() {
            let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
            st.state = State::Idle;
            st.active_source = None;
            st.input_bitrate_bps = 0;
            return;
        }
        let silence = self.settings.failover_silence_ms;
        let alive = self.last_alive_ms.is_some_and(|t| now - t < silence);
        // live while segments keep coming (a target duration and a half of slack)
        let flowing = self
            .last_segment_ms
            .is_some_and(|t| now - t < self.settings.segment_s as i64 * 1500 + silence);
        if !alive || !flowing {
            self.recording.pause(archive::GapReason::SourceLost);
        }
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let was = st.state;
        st.state = match (alive, flowing) {
            (true, true) => State::Live,
            (true, false) => State::Connecting,
            (false, _) if self.last_alive_ms.is_none() => State::Connecting,
            (false, _) => State::Offline,
        };
        st.active_source = self.connected_to.clone().filter(|_| alive);
        st.input_bitrate_bps = if flowing { self.meter.bps(now) } else { 0 };
        st.slate = false;
        let now_state = st.state;
        drop(st);
        if was == State::Live && now_state != State::Live {
            tracing::warn!(channel = %self.id, "origin stopped sending segments");
            self.event("source_lost", "origin stopped sending segments".into());
        } else if was != State::Live && now_state == State::Live {
            self.event("source_restored", "segments from the origin".into());
        }
    }
}
