//! The channel hub: the registry of running channels. Each channel is a runner task
//! ([`channel`]) fed by its sources and read by viewers through its [`live::LiveOutput`].

pub mod channel;
pub mod live;
pub mod slate;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use media::Clock;
use tokio::sync::{oneshot, watch};

pub use channel::{ChannelHandle, Control, State};

use crate::ingest::SourceTx;
use crate::store::Channel;

/// Settings shared by every channel.
pub struct Settings {
    pub clock: Arc<dyn Clock>,
    /// Target segment duration, seconds.
    pub segment_s: u64,
    /// Segments in the live playlist.
    pub window: usize,
    /// A source silent this long is taken off air (failover).
    pub failover_silence_ms: i64,
    /// A higher-priority source must stream this long before we switch back to it.
    pub return_after_ms: i64,
    /// The slate starts this long after a channel loses its last source.
    pub slate_after_ms: i64,
    pub slate: Arc<slate::SlateLoop>,
    /// Archives recording channels' segments (None: no archive, e.g. in unit tests).
    pub recorder: Option<Arc<crate::recorder::Recorder>>,
}

pub struct Hub {
    channels: RwLock<HashMap<String, Arc<ChannelHandle>>>,
    pub settings: Arc<Settings>,
    shutdown: watch::Receiver<bool>,
}

impl Hub {
    pub fn new(settings: Settings, shutdown: watch::Receiver<bool>) -> Self {
        Hub {
            channels: RwLock::new(HashMap::new()),
            settings: Arc::new(settings),
            shutdown,
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<ChannelHandle>> {
        self.channels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<ChannelHandle>> {
        self.channels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Starts, reconfigures or (when inactive) stops a channel to match its configuration.
    pub async fn apply(&self, ch: Channel) {
        if !ch.active {
            self.remove(&ch.id);
            return;
        }
        let existing = self.get(&ch.id);
        match existing {
            Some(h) => {
                let _ = h.control.send(Control::Reconfigure(ch)).await;
            }
            None => {
                let id = ch.id.clone();
                let h = channel::spawn(ch, self.settings.clone(), self.shutdown.clone());
                self.channels
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, h);
            }
        }
    }

    pub fn remove(&self, id: &str) {
        let h = self
            .channels
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        if let Some(h) = h {
            if let Some(t) = h.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
                t.abort();
            }
            h.live.close();
            if let Some(r) = &self.settings.recorder {
                r.stopped(
                    id,
                    self.settings.clock.now_utc(),
                    archive::GapReason::RecordingStopped,
                );
            }
        }
    }

    /// An RTMP publisher asks for channel `id`.
    pub async fn attach_publisher(
        &self,
        id: &str,
        key: Option<String>,
    ) -> Result<SourceTx, String> {
        let h = self
            .get(id)
            .ok_or_else(|| "unknown or inactive channel".to_string())?;
        let (reply, rx) = oneshot::channel();
        h.control
            .send(Control::AttachPublisher { key, reply })
            .await
            .map_err(|_| "channel is shutting down".to_string())?;
        rx.await
            .map_err(|_| "channel is shutting down".to_string())?
    }

    /// Waits for every runner to finish (after the shutdown signal).
    pub async fn join(&self) {
        let tasks: Vec<_> = self
            .all()
            .iter()
            .filter_map(|h| h.task.lock().unwrap_or_else(|e| e.into_inner()).take())
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}
