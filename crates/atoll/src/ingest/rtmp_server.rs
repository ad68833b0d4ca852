//! The RTMP listener: encoders publish to rtmp://host:1935/live/{channel}[?key=SECRET].
//!
//! Publishers are handed to the channels through [`PublisherRegistry`], an interface owned by
//! ingest (the hub implements it), so this module never imports the hub. Limits: total
//! connections, unauthenticated connections (when full, the least advanced, longest-waiting
//! one is evicted: a silent socket goes before an encoder that has sent `connect`, and one
//! whose bytes wait unread in its socket is spared for a silent one; at the total cap a
//! newcomer waits briefly for evicted connections to close before it is refused), a
//! deadline from accept to an accepted publish, the chunk decoder's memory / chunk streams /
//! message sizes ([`rtmp::ChunkLimits`]) and a per-address back-off after failed publish keys
//! ([`KeyLimiter`]).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use media::Clock;
use rand_core::{OsRng, RngCore};
use rtmp::{
    ChunkLimits, RejectReason, ServerConfig, ServerEvent, ServerSession, HANDSHAKE_RANDOM_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use super::{SourceEvent, SourceTx};
use crate::config::Config;

/// The RTMP application name publishers use.
pub const APP: &str = "live";
/// The refusal text while an address is backed off.
const BACKING_OFF: &str = "too many failed publish keys from this address";
/// A connection that sends nothing for this long is dropped.
const IDLE: Duration = Duration::from_secs(30);

/// Why a channel refused a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("unknown or inactive channel")]
    UnknownChannel,
    #[error("channel pulls its own sources and does not take RTMP publish")]
    NotPublishMode,
    #[error("publish key missing")]
    KeyMissing,
    #[error("wrong publish key")]
    WrongKey,
    #[error("another publisher is already live on this channel")]
    AlreadyPublishing,
    #[error("channel is shutting down")]
    ShuttingDown,
}

impl AttachError {
    /// A failed publish key (counts towards the address's back-off).
    pub fn is_key_failure(self) -> bool {
        matches!(self, AttachError::KeyMissing | AttachError::WrongKey)
    }

    /// How the refusal is told to the encoder.
    pub fn reject_reason(self) -> RejectReason {
        match self {
            AttachError::KeyMissing | AttachError::WrongKey => RejectReason::Unauthorized,
            AttachError::UnknownChannel => RejectReason::NotFound,
            AttachError::NotPublishMode
            | AttachError::AlreadyPublishing
            | AttachError::ShuttingDown => RejectReason::BadName,
        }
    }
}

/// Where the listener hands publishers: the channel `channel` checks `key` and, when it takes
/// the publisher, answers with the sender its media goes to (the same [`SourceTx`] pulls use).
pub trait PublisherRegistry: Send + Sync + 'static {
    fn attach_publisher(
        &self,
        channel: &str,
        key: Option<String>,
    ) -> impl Future<Output = Result<SourceTx, AttachError>> + Send;

    /// Places reserved beyond `rtmp_max_connections`: one per channel, so that however many
    /// channels an operator adds, each one's encoder finds a place.
    fn publish_slots(&self) -> usize {
        0
    }
}

/// Constant-time publish-key check: `expected` None means the channel has no key.
pub fn key_matches(expected: Option<&str>, given: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let Some(given) = given else {
        return false;
    };
    // compare digests, so neither the content nor the length leaks through timing
    let a = ring::digest::digest(&ring::digest::SHA256, expected.as_bytes());
    let b = ring::digest::digest(&ring::digest::SHA256, given.as_bytes());
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The listener's limits (see the `rtmp_*` settings).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_unauthenticated: usize,
    pub handshake_timeout: Duration,
    pub chunk: ChunkLimits,
    pub key: KeyLimits,
}

impl Limits {
    pub fn from_config(c: &Config) -> Self {
        Limits {
            max_connections: c.rtmp_max_connections.max(1),
            max_unauthenticated: c.rtmp_max_unauthenticated.max(1),
            handshake_timeout: Duration::from_millis(c.rtmp_handshake_timeout_ms.max(1)),
            chunk: ChunkLimits {
                max_message: c.rtmp_max_message_bytes,
                max_control_message: c.rtmp_max_command_bytes,
                max_chunk_streams: c.rtmp_max_chunk_streams.max(1),
                max_buffered: c.rtmp_max_connection_buffer_bytes,
            },
            key: KeyLimits {
                max_failures: c.rtmp_key_max_failures.max(1),
                window_ms: c.rtmp_key_failure_window_ms as i64,
                backoff_ms: c.rtmp_key_backoff_ms as i64,
                max_addresses: c.rtmp_key_limiter_addresses.max(1),
            },
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct KeyLimits {
    pub max_failures: u32,
    pub window_ms: i64,
    pub backoff_ms: i64,
    pub max_addresses: usize,
}

#[derive(Debug, Clone, Copy)]
struct AddrRecord {
    /// Start of the current failure window.
    window_start_ms: i64,
    failures: u32,
    /// Refused until then (after too many failures).
    blocked_until_ms: Option<i64>,
}

/// Per-address publish-key back-off: after `max_failures` failed keys within `window_ms`, the
/// address is refused for `backoff_ms`, whatever key it sends. Remembers at most
/// `max_addresses` addresses: expired records go first, then the ones least under attack;
/// a blocked address is only forgotten when every record is a block.
#[derive(Debug)]
pub struct KeyLimiter {
    limits: KeyLimits,
    by_addr: HashMap<IpAddr, AddrRecord>,
}

impl KeyLimiter {
    pub fn new(limits: KeyLimits) -> Self {
        KeyLimiter {
            limits,
            by_addr: HashMap::new(),
        }
    }

    /// Remaining back-off for `addr`, if it is refused now.
    pub fn blocked(&mut self, addr: IpAddr, now_ms: i64) -> Option<i64> {
        let r = self.by_addr.get(&addr)?;
        match r.blocked_until_ms {
            Some(t) if t > now_ms => Some(t - now_ms),
            Some(_) => {
                self.by_addr.remove(&addr);
                None
            }
            None => None,
        }
    }

    /// Records a failed key; true when the address is now blocked.
    pub fn failure(&mut self, addr: IpAddr, now_ms: i64) -> bool {
        if !self.by_addr.contains_key(&addr) && self.by_addr.len() >= self.limits.max_addresses {
            self.make_room(now_ms);
        }
        let l = self.limits;
        let r = self.by_addr.entry(addr).or_insert(AddrRecord {
            window_start_ms: now_ms,
            failures: 0,
            blocked_until_ms: None,
        });
        if now_ms - r.window_start_ms > l.window_ms {
            r.window_start_ms = now_ms;
            r.failures = 0;
        }
        r.failures = r.failures.saturating_add(1);
        if r.failures >= l.max_failures {
            r.blocked_until_ms = Some(now_ms + l.backoff_ms);
            true
        } else {
            false
        }
    }

    /// A successful publish clears the address's failures.
    pub fn success(&mut self, addr: IpAddr) {
        self.by_addr.remove(&addr);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_addr.len()
    }

    fn make_room(&mut self, now_ms: i64) {
        let l = self.limits;
        self.by_addr.retain(|_, r| match r.blocked_until_ms {
            Some(t) => t > now_ms,
            None => now_ms - r.window_start_ms <= l.window_ms,
        });
        if self.by_addr.len() < l.max_addresses {
            return;
        }
        // least under attack first: not blocked, fewest failures, oldest window; then the
        // block that ends first
        let victim = self
            .by_addr
            .iter()
            .min_by_key(|(_, r)| {
                (
                    r.blocked_until_ms.is_some(),
                    r.blocked_until_ms.unwrap_or(0),
                    r.failures,
                    r.window_start_ms,
                )
            })
            .map(|(a, _)| *a);
        if let Some(a) = victim {
            self.by_addr.remove(&a);
        }
    }
}

/// Process-wide RTMP refusal totals, exported by `/metrics`.
pub mod stats {
    use std::sync::atomic::AtomicU64;
    /// Connections closed at accept: `rtmp_max_connections` open.
    pub static REFUSED_CONNECTIONS: AtomicU64 = AtomicU64::new(0);
    /// Unauthenticated connections evicted to make room (`rtmp_max_unauthenticated`).
    pub static EVICTED_UNAUTHENTICATED: AtomicU64 = AtomicU64::new(0);
    /// Publish requests refused (bad application, key, back-off, channel).
    pub static REFUSED_PUBLISHES: AtomicU64 = AtomicU64::new(0);

    pub(super) fn add(c: &AtomicU64) {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Admission of connections: a total cap (new connections refused when full) and a cap on
/// unauthenticated ones (when full, the least advanced — see [`Progress`] — and then the
/// longest-waiting is evicted). Both caps grow by the places the registry reserves for its
/// channels ([`PublisherRegistry::publish_slots`], read at each accept): `max_total` plus one
/// per channel, and `max_unauth` plus one per channel, so every channel's encoder can be in
/// its handshake at once (all of them reconnecting after a restart) without evicting another.
struct Gate {
    max_total: usize,
    max_unauth: usize,
    state: Mutex<GateState>,
    /// Signalled whenever a connection's place is released.
    freed: tokio::sync::Notify,
}

/// How long the accept loop waits, at the total cap, for evicted connections to be gone
/// before it refuses a newcomer (it waits in the kernel's backlog meanwhile): a flood of
/// silent sockets evicts faster than the evicted tasks run, and an encoder arriving behind
/// it must not be refused for places that are about to be free.
const DRAIN_WAIT: Duration = Duration::from_millis(500);

#[derive(Default)]
struct GateState {
    total: usize,
    /// Evicted connections whose tasks have not ended yet (still counted in `total`).
    draining: usize,
    next_id: u64,
    /// Unauthenticated connections by admission order (ids grow): id → eviction trigger.
    unauth: std::collections::BTreeMap<(Progress, u64), oneshot::Sender<()>>,
    /// The cap on `unauth` as of the last admission (`max_unauth` + the reserved places).
    unauth_cap: usize,
}

/// How far an unauthenticated connection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Progress {
    /// Nothing received yet.
    Silent,
    /// Sent bytes (handshake under way or done).
    Talking,
    /// Sent `connect`.
    Connected,
}

/// One admitted connection; dropping it frees its place.
struct Admission {
    gate: Arc<Gate>,
    id: u64,
    progress: Progress,
    /// Resolves when the connection was evicted to make room (while unauthenticated).
    evicted: Option<oneshot::Receiver<()>>,
    /// Publishing with a valid key (no longer in the unauthenticated table).
    authenticated: bool,
    /// Already spared once ([`Admission::reprieve`]).
    reprieved: bool,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`Gate::admit`], waiting up to [`DRAIN_WAIT`] while the total cap is reached only
    /// because evicted connections have not closed yet.
    async fn admit_draining(self: &Arc<Self>, reserved: usize) -> Option<Admission> {
        let until = tokio::time::Instant::now() + DRAIN_WAIT;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            match self.try_admit(reserved) {
                Ok(a) => return Some(a),
                Err(Full { draining: true }) => {
                    if tokio::time::timeout_at(until, freed).await.is_err() {
                        return None;
                    }
                }
                Err(Full { draining: false }) => return None,
            }
        }
    }

    #[cfg(test)]
    fn admit(self: &Arc<Self>) -> Option<Admission> {
        self.try_admit(0).ok()
    }

    /// Admits a connection when fewer than `max_total + reserved` are open.
    fn try_admit(self: &Arc<Self>, reserved: usize) -> Result<Admission, Full> {
        let mut s = self.lock();
        if s.total >= self.max_total.saturating_add(reserved) {
            return Err(Full {
                draining: s.draining > 0,
            });
        }
        s.unauth_cap = self.max_unauth.saturating_add(reserved);
        if s.unauth.len() >= s.unauth_cap {
            s.evict_first();
        }
        s.total += 1;
        s.next_id += 1;
        let id = s.next_id;
        let (tx, rx) = oneshot::channel();
        s.unauth.insert((Progress::Silent, id), tx);
        Ok(Admission {
            gate: self.clone(),
            id,
            progress: Progress::Silent,
            evicted: Some(rx),
            authenticated: false,
            reprieved: false,
        })
    }
}

/// The total cap is reached; `draining` when evicted connections still hold places.
#[derive(Debug)]
struct Full {
    draining: bool,
}

impl GateState {
    /// Asks the least advanced, longest-waiting unauthenticated connection to close.
    fn evict_first(&mut self) {
        if let Some((_, evict)) = self.unauth.pop_first() {
            stats::add(&stats::EVICTED_UNAUTHENTICATED);
            self.draining += 1;
            let _ = evict.send(());
        }
    }
}

impl Admission {
    /// The connection is publishing with a valid key: it no longer counts as unauthenticated.
    fn authenticated(&mut self) {
        self.gate.lock().unauth.remove(&(self.progress, self.id));
        self.evicted = None;
        self.authenticated = true;
    }

    /// Called when this connection was evicted as the least advanced: if it has in fact sent
    /// bytes its task has not read yet (an encoder's handshake that arrived while the runtime
    /// was busy accepting a flood), it is not silent. It takes its place back, ranked as
    /// talking, and the least advanced of the others goes instead. Once per connection; false
    /// when it must go.
    fn reprieve(&mut self, pending_bytes: bool) -> bool {
        if self.reprieved || !pending_bytes || self.authenticated {
            return false;
        }
        self.reprieved = true;
        let mut s = self.gate.lock();
        let me = (Progress::Talking.max(self.progress), self.id);
        if s.unauth.len() >= s.unauth_cap {
            match s.unauth.first_key_value() {
                Some((first, _)) if *first < me => s.evict_first(),
                _ => return false,
            }
        }
        let (tx, rx) = oneshot::channel();
        s.unauth.insert(me, tx);
        s.draining -= 1;
        drop(s);
        self.progress = me.0;
        self.evicted = Some(rx);
        true
    }

    /// The connection got further (eviction takes the least advanced first).
    fn advanced(&mut self, to: Progress) {
        if to <= self.progress {
            return;
        }
        let mut s = self.gate.lock();
        if let Some(tx) = s.unauth.remove(&(self.progress, self.id)) {
            s.unauth.insert((to, self.id), tx);
        }
        self.progress = to;
    }

    /// Resolves once, when evicted; pending otherwise (also after authentication).
    async fn evicted(&mut self) {
        if let Some(rx) = self.evicted.as_mut() {
            let r = rx.await;
            self.evicted = None;
            if r.is_ok() {
                return;
            }
        }
        std::future::pending().await
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut s = self.gate.lock();
        s.total -= 1;
        if s.unauth.remove(&(self.progress, self.id)).is_none() && !self.authenticated {
            s.draining -= 1; // it had been evicted
        }
        drop(s);
        self.gate.freed.notify_waiters();
    }
}

struct Shared<R> {
    registry: Arc<R>,
    limits: Limits,
    clock: Arc<dyn Clock>,
    keys: Mutex<KeyLimiter>,
}

pub async fn serve<R: PublisherRegistry>(
    listener: TcpListener,
    registry: Arc<R>,
    limits: Limits,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
) {
    let gate = Arc::new(Gate {
        max_total: limits.max_connections,
        max_unauth: limits.max_unauthenticated,
        state: Mutex::new(GateState::default()),
        freed: Default::default(),
    });
    let shared = Arc::new(Shared {
        registry,
        keys: Mutex::new(KeyLimiter::new(limits.key)),
        limits,
        clock,
    });
    let mut refused_logged_ms: Option<i64> = None;
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let reserved = shared.registry.publish_slots();
                    let Some(admission) = gate.admit_draining(reserved).await else {
                        stats::add(&stats::REFUSED_CONNECTIONS);
                        let now = shared.clock.now_mono_ms();
                        // one line per 10 s at most: the refusals themselves are the flood
                        if refused_logged_ms.is_none_or(|t| now.saturating_sub(t) > 10_000) {
                            refused_logged_ms = Some(now);
                            tracing::warn!(%peer, "rtmp connection refused: {} connections open (rtmp_max_connections {} + one per channel)", shared.limits.max_connections + reserved, shared.limits.max_connections);
                        }
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, peer, shared.clone(), admission, shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!("rtmp accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

/// Resolves when the channel has dismissed this connection's publisher; never without one.
async fn dismissed(publisher: &mut Option<(String, SourceTx)>) {
    match publisher.as_mut().and_then(|(_, tx)| tx.dismissed.as_mut()) {
        Some(rx) => while rx.changed().await.is_ok() {},
        None => std::future::pending().await,
    }
}

/// Whether the peer has sent bytes not read yet (a non-blocking `MSG_PEEK` of the socket
/// itself, not tokio's readiness, which may not have seen them yet).
fn has_pending_bytes(stream: &TcpStream) -> bool {
    let mut one = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    matches!(socket2::SockRef::from(stream).peek(&mut one), Ok(n) if n > 0)
}

/// Resolves at `deadline` unless the connection is publishing by then.
async fn unauthenticated_deadline(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn key_from_query(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "key")
        .map(|(_, v)| v.to_string())
}

async fn connection<R: PublisherRegistry>(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared<R>>,
    mut admission: Admission,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut random = [0u8; HANDSHAKE_RANDOM_LEN];
    OsRng.fill_bytes(&mut random);
    let config = ServerConfig {
        limits: shared.limits.chunk,
        ..ServerConfig::default()
    };
    let mut session = ServerSession::new(config, random);
    let mut publisher: Option<(String, SourceTx)> = None;
    let mut deadline = Some(tokio::time::Instant::now() + shared.limits.handshake_timeout);
    let mut buf = vec![0u8; 64 * 1024];
    let mut protocol_error = false;
    let reason = 'conn: loop {
        let n = tokio::select! {
            r = tokio::time::timeout(IDLE, stream.read(&mut buf)) => match r {
                Err(_) => break 'conn format!("no data for {} s", IDLE.as_secs()),
                Ok(Err(e)) => break 'conn format!("read: {e}"),
                Ok(Ok(0)) => {
                    session.handle_eof();
                    0
                }
                Ok(Ok(n)) => n,
            },
            _ = shutdown.changed() => break 'conn "server shutting down".to_string(),
            _ = dismissed(&mut publisher) => break 'conn "the channel dismissed this publisher (reconfigured, key changed or replaced)".to_string(),
            _ = unauthenticated_deadline(deadline) => {
                protocol_error = true;
                break 'conn format!("no accepted publish within {} ms (rtmp_handshake_timeout_ms)", shared.limits.handshake_timeout.as_millis());
            }
            _ = admission.evicted() => {
                if admission.reprieve(has_pending_bytes(&stream)) {
                    continue 'conn;
                }
                protocol_error = true;
                break 'conn format!("evicted: {} unauthenticated connections open (rtmp_max_unauthenticated {} + one per channel)", shared.limits.max_unauthenticated + shared.registry.publish_slots(), shared.limits.max_unauthenticated);
            }
        };
        if n > 0 {
            admission.advanced(Progress::Talking);
            if let Err(e) = session.push(&buf[..n]) {
                protocol_error = true;
                break 'conn format!("protocol error: {e}");
            }
        }
        let mut close = n == 0;
        while let Some(ev) = session.poll_event() {
            match ev {
                ServerEvent::Connect { app, .. } => {
                    admission.advanced(Progress::Connected);
                    tracing::debug!(%peer, %app, "rtmp connect");
                }
                ServerEvent::PublishRequest {
                    app,
                    stream_key,
                    query,
                    ..
                } => {
                    let refusal = if app != APP {
                        Some((
                            RejectReason::NotFound,
                            format!(
                                "unknown application '{app}' (use rtmp://host/{APP}/{{channel}})"
                            ),
                        ))
                    } else if publisher.is_some() {
                        Some((
                            RejectReason::BadName,
                            "connection is already publishing".to_string(),
                        ))
                    } else {
                        let now = shared.clock.now_mono_ms();
                        let blocked = shared
                            .keys
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .blocked(peer.ip(), now);
                        if let Some(left_ms) = blocked {
                            Some((
                                RejectReason::Unauthorized,
                                format!(
                                    "{BACKING_OFF}; refused for {} s more",
                                    (left_ms + 999) / 1000
                                ),
                            ))
                        } else {
                            match shared
                                .registry
                                .attach_publisher(&stream_key, key_from_query(&query))
                                .await
                            {
                                Ok(tx) => {
                                    shared
                                        .keys
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .success(peer.ip());
                                    admission.authenticated();
                                    deadline = None;
                                    tracing::info!(channel = %stream_key, %peer, "rtmp publish started");
                                    let _ = tx.send(SourceEvent::PublisherConnected { peer }).await;
                                    publisher = Some((stream_key.clone(), tx));
                                    let _ = session.accept_publish();
                                    None
                                }
                                Err(e) => {
                                    let mut reason = e.to_string();
                                    if e.is_key_failure()
                                        && shared
                                            .keys
                                            .lock()
                                            .unwrap_or_else(|e| e.into_inner())
                                            .failure(peer.ip(), shared.clock.now_mono_ms())
                                    {
                                        reason.push_str(&format!(
                                            "; address refused for {} s (rtmp_key_backoff_ms)",
                                            shared.limits.key.backoff_ms / 1000
                                        ));
                                    }
                                    Some((e.reject_reason(), reason))
                                }
                            }
                        }
                    };
                    if let Some((kind, reason)) = refusal {
                        stats::add(&stats::REFUSED_PUBLISHES);
                        // the key itself is never logged; attempts during a back-off only at
                        // debug (the failure that started it was logged), so a brute force
                        // cannot flood the log
                        if kind == RejectReason::Unauthorized && reason.starts_with(BACKING_OFF) {
                            tracing::debug!(channel = %stream_key, %peer, "rtmp publish refused: {reason}");
                        } else {
                            tracing::warn!(channel = %stream_key, %peer, "rtmp publish refused: {reason}");
                        }
                        let _ = session.reject(kind);
                        close = true;
                    }
                }
                ServerEvent::PlayRequest { stream_name, .. } => {
                    tracing::warn!(channel = %stream_name, %peer, "rtmp play refused: RTMP playback is not offered (use HLS or /mpegts)");
                    let _ = session.reject(RejectReason::NotFound);
                    close = true;
                }
                ServerEvent::Media(m) => {
                    if let Some((_, tx)) = &publisher {
                        if !tx.send(SourceEvent::Media(m)).await {
                            break 'conn "channel stopped".to_string();
                        }
                    }
                }
                ServerEvent::Metadata(_) => {}
                ServerEvent::Warning(w) => {
                    tracing::debug!(%peer, "rtmp: {w}");
                }
                ServerEvent::Unpublish | ServerEvent::Closed => close = true,
            }
        }
        while let Some(out) = session.poll_transmit() {
            if let Err(e) = stream.write_all(&out).await {
                break 'conn format!("write: {e}");
            }
        }
        if close {
            break 'conn "closed by peer".to_string();
        }
    };
    match publisher {
        Some((channel, tx)) => {
            tracing::info!(%channel, %peer, "rtmp publish ended: {reason}");
            let _ = tx.send(SourceEvent::PublisherGone { reason }).await;
        }
        None if protocol_error => {
            tracing::warn!(%peer, "rtmp connection dropped: {reason}")
        }
        None => tracing::debug!(%peer, "rtmp connection ended: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> KeyLimits {
        KeyLimits {
            max_failures: 5,
            window_ms: 10_000,
            backoff_ms: 60_000,
            max_addresses: 3,
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn keys_compare_by_content_only() {
        assert!(key_matches(None, None));
        assert!(key_matches(None, Some("x")));
        assert!(key_matches(Some("secret"), Some("secret")));
        assert!(!key_matches(Some("secret"), Some("secreT")));
        assert!(!key_matches(Some("secret"), Some("secret2")));
        assert!(!key_matches(Some("secret"), None));
        assert!(!key_matches(Some(""), None));
    }

    #[test]
    fn back_off_after_repeated_failures_then_expires() {
        let mut k = KeyLimiter::new(limits());
        for i in 0..4 {
            assert!(!k.failure(ip(1), i * 100));
            assert_eq!(k.blocked(ip(1), i * 100), None);
        }
        assert!(k.failure(ip(1), 500));
        assert_eq!(k.blocked(ip(1), 600), Some(59_900));
        assert_eq!(
            k.blocked(ip(2), 600),
            None,
            "other addresses are not affected"
        );
        assert_eq!(k.blocked(ip(1), 60_500), None, "the back-off ends");
        // failures spread wider than the window never block
        let mut k = KeyLimiter::new(limits());
        for i in 0..20 {
            assert!(!k.failure(ip(1), i * 3_000));
        }
        // a success clears the count
        let mut k = KeyLimiter::new(limits());
        for _ in 0..4 {
            k.failure(ip(1), 0);
        }
        k.success(ip(1));
        assert!(!k.failure(ip(1), 0));
    }

    #[test]
    fn state_is_bounded_and_keeps_the_blocked() {
        let mut k = KeyLimiter::new(limits());
        for _ in 0..5 {
            k.failure(ip(1), 0);
        }
        for n in 2..200 {
            k.failure(ip(n), 1);
            assert!(k.len() <= 3);
        }
        assert!(
            k.blocked(ip(1), 2).is_some(),
            "the address under back-off is kept"
        );
    }

    #[test]
    fn attach_errors_map_to_reject_reasons() {
        assert_eq!(
            AttachError::WrongKey.reject_reason(),
            RejectReason::Unauthorized
        );
        assert_eq!(
            AttachError::KeyMissing.reject_reason(),
            RejectReason::Unauthorized
        );
        assert_eq!(
            AttachError::AlreadyPublishing.reject_reason(),
            RejectReason::BadName
        );
        assert!(AttachError::WrongKey.is_key_failure());
        assert!(!AttachError::UnknownChannel.is_key_failure());
    }

    #[tokio::test]
    async fn gate_caps_total_and_evicts_the_oldest_unauthenticated() {
        let gate = Arc::new(Gate {
            max_total: 4,
            max_unauth: 2,
            state: Mutex::new(GateState::default()),
            freed: Default::default(),
        });
        let mut a = gate.admit().unwrap();
        let mut b = gate.admit().unwrap();
        a.authenticated();
        let mut c = gate.admit().unwrap();
        // b (oldest unauthenticated) was evicted for d
        let _d = gate.admit().unwrap();
        tokio::time::timeout(Duration::from_secs(1), b.evicted())
            .await
            .expect("b evicted");
        assert!(gate.admit().is_none(), "total cap");
        drop(b);
        // a is authenticated: never evicted; c is evicted by the next
        let _e = gate.admit().unwrap();
        tokio::time::timeout(Duration::from_secs(1), c.evicted())
            .await
            .expect("c evicted");
        assert!(tokio::time::timeout(Duration::from_millis(50), a.evicted())
            .await
            .is_err());
    }

    #[test]
    fn the_total_cap_grows_by_the_places_reserved_for_channels() {
        let gate = new_gate(2, 100);
        let held: Vec<Admission> = (0..2).map(|_| gate.admit().unwrap()).collect();
        assert!(gate.admit().is_none(), "the configured cap");
        let more: Vec<Admission> = (0..3).map(|_| gate.try_admit(3).unwrap()).collect();
        assert!(gate.try_admit(3).is_err(), "2 + 3 channels' places");
        drop(more);
        assert!(gate.try_admit(0).is_err(), "channels gone: back to the cap");
        drop(held);
        assert!(gate.admit().is_some());
    }

    #[tokio::test]
    async fn the_unauthenticated_cap_grows_by_the_places_reserved_for_channels() {
        let gate = new_gate(100, 1);
        // 1 + 2 channels: three encoders in their handshakes at once, none evicted
        let mut first = gate.try_admit(2).unwrap();
        let _second = gate.try_admit(2).unwrap();
        let _third = gate.try_admit(2).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), first.evicted())
                .await
                .is_err(),
            "three fit"
        );
        let _fourth = gate.try_admit(2).unwrap();
        tokio::time::timeout(Duration::from_secs(1), first.evicted())
            .await
            .expect("the fourth evicts the oldest");
    }

    #[tokio::test]
    async fn gate_evicts_silent_connections_before_advanced_ones() {
        let gate = Arc::new(Gate {
            max_total: 10,
            max_unauth: 2,
            state: Mutex::new(GateState::default()),
            freed: Default::default(),
        });
        let mut encoder = gate.admit().unwrap(); // oldest, but it has sent connect
        encoder.advanced(Progress::Connected);
        let mut silent = gate.admit().unwrap();
        let mut newer = gate.admit().unwrap();
        tokio::time::timeout(Duration::from_secs(1), silent.evicted())
            .await
            .expect("the silent one goes first");
        let _newest = gate.admit().unwrap();
        tokio::time::timeout(Duration::from_secs(1), newer.evicted())
            .await
            .expect("then the next silent one");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), encoder.evicted())
                .await
                .is_err(),
            "the encoder that sent connect stays"
        );
    }

    fn new_gate(max_total: usize, max_unauth: usize) -> Arc<Gate> {
        Arc::new(Gate {
            max_total,
            max_unauth,
            state: Mutex::new(GateState::default()),
            freed: Default::default(),
        })
    }

    async fn is_evicted(a: &mut Admission) -> bool {
        tokio::time::timeout(Duration::from_millis(50), a.evicted())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn an_evicted_connection_with_unread_bytes_is_spared_once_and_a_silent_one_goes() {
        let gate = new_gate(10, 2);
        let mut encoder = gate.admit().unwrap(); // its handshake is in the socket, unread
        let mut silent = gate.admit().unwrap();
        let _newcomer = gate.admit().unwrap();
        assert!(is_evicted(&mut encoder).await, "ranked silent: evicted");
        assert!(!encoder.reprieve(false), "no bytes: it goes");
        assert!(encoder.reprieve(true), "bytes waiting: it stays");
        assert!(is_evicted(&mut silent).await, "the silent one goes instead");
        assert!(!is_evicted(&mut encoder).await);
        assert_eq!(gate.lock().unauth.len(), 2);
        assert_eq!(gate.lock().draining, 1, "only the silent one is draining");
        drop(silent);
        assert_eq!(gate.lock().draining, 0);
        // spared once only: a second eviction (all others talking and newer) is final
        let mut b = gate.admit().unwrap(); // evicts the newcomer (silent)
        b.advanced(Progress::Talking);
        drop(_newcomer);
        let mut c = gate.admit().unwrap(); // evicts the encoder (talking, oldest)
        c.advanced(Progress::Talking);
        assert!(is_evicted(&mut encoder).await);
        assert!(!encoder.reprieve(true));
        drop(encoder);
        assert_eq!(gate.lock().draining, 0);
        assert_eq!(gate.lock().total, 2);
        assert!(!is_evicted(&mut b).await && !is_evicted(&mut c).await);
    }

    #[tokio::test]
    async fn a_reprieve_never_evicts_a_more_advanced_connection() {
        let gate = new_gate(10, 2);
        let mut first = gate.admit().unwrap();
        let mut a = gate.admit().unwrap();
        a.advanced(Progress::Connected);
        let mut b = gate.admit().unwrap();
        b.advanced(Progress::Connected);
        assert!(is_evicted(&mut first).await);
        let mut c = gate.admit().unwrap(); // evicts a (least advanced left)
        assert!(is_evicted(&mut a).await);
        c.advanced(Progress::Connected);
        assert!(
            !first.reprieve(true),
            "talking ranks below connected: it goes"
        );
        assert!(!is_evicted(&mut b).await && !is_evicted(&mut c).await);
    }

    #[tokio::test]
    async fn at_the_total_cap_a_newcomer_waits_for_evicted_connections_then_is_refused() {
        let gate = new_gate(2, 1);
        let mut a = gate.admit().unwrap();
        let _b = gate.admit().unwrap(); // evicts a, which has not closed yet
        assert!(is_evicted(&mut a).await);
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit_draining(0).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(a);
        let _admitted = waiting
            .await
            .unwrap()
            .expect("admitted once the evicted one closed");
        // nothing draining: refused at once; draining but nothing closes: refused after the wait
        assert!(gate.admit_draining(0).await.is_none());
        let gate = new_gate(2, 1);
        let mut a = gate.admit().unwrap();
        let _b = gate.admit().unwrap();
        assert!(is_evicted(&mut a).await);
        let t = std::time::Instant::now();
        assert!(gate.admit_draining(0).await.is_none());
        assert!(t.elapsed() >= DRAIN_WAIT);
    }
}
