//! A channel's recording state, shared by both kinds of runner (frames in: [`super::channel`];
//! an origin's segments in: [`super::relay`]): hands finished segments to the recorder, and
//! marks where recording pauses (the archive's gap, with its reason), in the event log and the
//! channel's status.

use std::sync::{Arc, Mutex};

use hls::Segment;

use super::channel::Status;
use super::Settings;

pub struct Recording {
    id: String,
    settings: Arc<Settings>,
    status: Arc<Mutex<Status>>,
    /// The last finished segment went to the archive.
    on: bool,
}

impl Recording {
    pub fn new(id: String, settings: Arc<Settings>, status: Arc<Mutex<Status>>) -> Self {
        Recording {
            id,
            settings,
            status,
            on: false,
        }
    }

    /// Archives a finished segment (the caller decided it is to be recorded).
    pub fn segment(&mut self, s: &Segment) {
        let Some(r) = &self.settings.recorder else {
            return;
        };
        r.record(&self.id, s);
        if !self.on {
            self.on = true;
            if let Some(ev) = &self.settings.events {
                let now = self.settings.clock.now_utc().0;
                ev.emit(&self.id, now, "recording_started", String::new());
            }
            let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
            st.recording = true;
            st.recording_since = Some(s.start_utc);
        }
    }

    /// The archive gets a gap from now, with this reason, until the next recorded segment.
    pub fn pause(&mut self, reason: archive::GapReason) {
        if !self.on {
            return;
        }
        self.on = false;
        let why = match reason {
            archive::GapReason::SourceLost => "no source on air",
            archive::GapReason::RecordingStopped => "switched off, or the server is stopping",
            archive::GapReason::Crash => "the server stopped unexpectedly",
            archive::GapReason::Retention => "removed by retention",
            _ => "recording interrupted",
        };
        if let Some(ev) = &self.settings.events {
            let now = self.settings.clock.now_utc().0;
            ev.emit(&self.id, now, "recording_stopped", why.to_string());
        }
        if let Some(r) = &self.settings.recorder {
            r.stopped(&self.id, self.settings.clock.now_utc(), reason);
        }
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.recording = false;
        st.recording_since = None;
    }
}
