//! The channel hub: the registry of running channels. Each channel is a runner task fed by its
//! sources and read by viewers through its [`live::LiveOutput`]: [`channel`] cuts segments from
//! frames (origins), [`relay`] serves the segments an origin cut (edges).

pub mod channel;
pub mod failover;
pub mod live;
pub mod meter;
pub mod rebase;
pub mod recording;
pub mod relay;
pub mod renditions;
pub mod sequencer;
pub mod slate;
pub mod tsfeed;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use media::Clock;
use tokio::sync::{oneshot, watch};

pub use channel::{ChannelHandle, Control, State};

use crate::ingest::rtmp_server::{AttachError, PublisherRegistry};
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
    /// An edge stops pulling a channel that does not record this long after its last viewer.
    pub relay_idle_ms: i64,
    pub slate: Arc<slate::SlateLoop>,
    /// Archives recording channels' segments (None: no archive, e.g. in unit tests).
    pub recorder: Option<Arc<crate::recorder::Recorder>>,
    /// The channels' event log (source lost/restored, failovers, recording); None in unit tests.
    pub events: Option<crate::journal::EventSink>,
    /// Live media limits (segment cut without keyframes, no-keyframe failover, segment files).
    pub media: channel::MediaLimits,
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

    /// Starts, reconfigures or (when inactive) stops a channel to match its configuration. The
    /// preferred audio language goes to the live output directly (no restart, no ingest touched):
    /// master playlists offer it as the default from the channel's next segment on.
    pub async fn apply(&self, ch: Channel) {
        if !ch.active {
            self.remove(&ch.id).await;
            return;
        }
        // look up or start under one write lock, so two concurrent applies never start two runners
        let existing = {
            let mut map = self.channels.write().unwrap_or_else(|e| e.into_inner());
            match map.get(&ch.id) {
                Some(h) => Some(h.clone()),
                None => {
                    let (settings, shutdown) = (self.settings.clone(), self.shutdown.clone());
                    let h = if relay::is_relay(&ch) {
                        relay::spawn(ch.clone(), settings, shutdown)
                    } else {
                        channel::spawn(ch.clone(), settings, shutdown)
                    };
                    h.live.set_preferred_audio(Some(ch.audio_language.clone()));
                    map.insert(ch.id.clone(), h);
                    None
                }
            }
        };
        if let Some(h) = existing {
            h.live.set_preferred_audio(Some(ch.audio_language.clone()));
            let _ = h.control.send(Control::Reconfigure(ch)).await;
        }
    }

    /// Stops a channel: its runner closes the open segment (archived when recording), ends every
    /// viewer's stream and marks the recording stopped; after 3 s it is aborted.
    pub async fn remove(&self, id: &str) {
        let h = self
            .channels
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        let Some(h) = h else { return };
        let task = h.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        let _ = h.control.send(Control::Stop).await;
        if let Some(mut t) = task {
            if tokio::time::timeout(std::time::Duration::from_secs(3), &mut t)
                .await
                .is_err()
            {
                t.abort();
                h.live.close();
            }
        }
    }

    /// An RTMP publisher asks for channel `id`; the channel's runner checks the key.
    pub async fn attach_publisher(
        &self,
        id: &str,
        key: Option<String>,
    ) -> Result<SourceTx, AttachError> {
        let h = self.get(id).ok_or(AttachError::UnknownChannel)?;
        let (reply, rx) = oneshot::channel();
        h.control
            .send(Control::AttachPublisher { key, reply })
            .await
            .map_err(|_| AttachError::ShuttingDown)?;
        rx.await.map_err(|_| AttachError::ShuttingDown)?
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

/// The RTMP listener hands publishers to the channels through this ingest-owned interface.
impl PublisherRegistry for Hub {
    fn attach_publisher(
        &self,
        channel: &str,
        key: Option<String>,
    ) -> impl std::future::Future<Output = Result<SourceTx, AttachError>> + Send {
        Hub::attach_publisher(self, channel, key)
    }

    fn publish_slots(&self) -> usize {
        self.channels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}
