//! Pulling from an Atoll origin: how an edge's channels are fed. An edge channel's one source is
//! `origin://{id}`; its task long-polls the origin for the channel's new live segments
//! (`/api/cluster/live/{id}`, JSON: [`wire::LiveSegments`]) and fetches each one's bytes as they
//! are, so the edge serves the origin's own segments (same bytes, numbers and times). Which
//! origin is asked is decided once for the whole node by [`choice::OriginChoice`], fed by every
//! request's outcome and by probes of the origins not in use ([`Upstream::watch`]).

pub mod choice;
pub mod wire;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use media::Clock;
use tokio::net::TcpStream;

use super::{SourceEvent, SourceTx};
use choice::{ChoicePolicy, OriginChoice};

/// Idle keep-alive connections kept per origin.
const IDLE_PER_ORIGIN: usize = 32;
/// Longest wait for an origin to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a segment long-poll waits at the origin (the edge's freshness heartbeat).
pub const POLL_WAIT_MS: u64 = 2_000;
/// Largest segment taken from an origin when the caller sets no limit (`segment_max_bytes`).
pub const DEFAULT_MAX_SEGMENT_BYTES: usize = 64 << 20;

/// Why a request to an origin did not give a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// No answer: connection refused, timed out, reset (the origin counts as failing).
    Unreachable(String),
    /// An answer with this status (the origin is up; the request was refused or not found).
    Status(u16),
    /// The body was larger than allowed, or not what the cluster protocol says.
    Bad(String),
}

impl std::error::Error for UpstreamError {}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Unreachable(e) => write!(f, "origin unreachable: {e}"),
            UpstreamError::Status(s) => write!(f, "origin answered HTTP {s}"),
            UpstreamError::Bad(e) => write!(f, "bad answer from the origin: {e}"),
        }
    }
}

struct Pool {
    /// host:port
    addr: String,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// The edge's origins, the cluster key, keep-alive connections to each, and the choice of the
/// origin in use.
pub struct Upstream {
    pub origins: Vec<String>,
    key: String,
    pools: Vec<Pool>,
    choice: Mutex<OriginChoice>,
    clock: Arc<dyn Clock>,
}

static UPSTREAM: OnceLock<Arc<Upstream>> = OnceLock::new();

/// Makes `up` the node's upstream (once, at start of an edge).
pub fn install(up: Arc<Upstream>) {
    let _ = UPSTREAM.set(up);
}

/// The node's upstream (edges only).
pub fn upstream() -> Option<Arc<Upstream>> {
    UPSTREAM.get().cloned()
}

impl Upstream {
    /// `origins` are `http://host:port` (checked by the config).
    pub fn new(origins: &[String], key: &str, clock: Arc<dyn Clock>) -> Arc<Upstream> {
        let origins: Vec<String> = origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_string())
            .collect();
        let pools = origins
            .iter()
            .map(|o| {
                let host = o.strip_prefix("http://").unwrap_or(o);
                Pool {
                    addr: if host.contains(':') {
                        host.to_string()
                    } else {
                        format!("{host}:80")
                    },
                    idle: Mutex::new(Vec::new()),
                }
            })
            .collect();
        Arc::new(Upstream {
            choice: Mutex::new(OriginChoice::new(origins.len(), ChoicePolicy::default())),
            origins,
            key: key.to_string(),
            pools,
            clock,
        })
    }

    /// The origin in use (index into `origins`).
    pub fn current(&self) -> usize {
        self.choice
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current()
    }

    fn report(&self, origin: usize, ok: bool) {
        let now = self.clock.now_mono_ms();
        let mut c = self.choice.lock().unwrap_or_else(|e| e.into_inner());
        if ok {
            c.ok(origin, now);
        } else {
            c.failed(origin, now);
        }
    }

    /// GET `path` from origin `origin` with the cluster key; the body (at most `max_bytes`)
    /// within `timeout`. The outcome counts toward the origin's health.
    pub async fn get(
        &self,
        origin: usize,
        path: &str,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        self.request(
            origin,
            hyper::Method::GET,
            path,
            Bytes::new(),
            max_bytes,
            timeout,
            None,
        )
        .await
    }

    /// GET bytes `start..start + len` of `path` from origin `origin` (a `Range` request; the
    /// answer must be exactly those bytes).
    pub async fn get_range(
        &self,
        origin: usize,
        path: &str,
        start: u64,
        len: u64,
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let b = self
            .request(
                origin,
                hyper::Method::GET,
                path,
                Bytes::new(),
                len as usize,
                timeout,
                Some((start, len)),
            )
            .await?;
        if b.len() as u64 != len {
            return Err(UpstreamError::Bad(format!(
                "{path}: {} bytes for a range of {len}",
                b.len()
            )));
        }
        Ok(b)
    }

    /// POST a JSON body to origin `origin` with the cluster key.
    pub async fn post_json(
        &self,
        origin: usize,
        path: &str,
        body: Bytes,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        self.request(
            origin,
            hyper::Method::POST,
            path,
            body,
            max_bytes,
            timeout,
            None,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn request(
        &self,
        origin: usize,
        method: hyper::Method,
        path: &str,
        body: Bytes,
        max_bytes: usize,
        timeout: Duration,
        range: Option<(u64, u64)>,
    ) -> Result<Bytes, UpstreamError> {
        let Some(pool) = self.pools.get(origin) else {
            return Err(UpstreamError::Bad(format!("no origin {origin}")));
        };
        let result = tokio::time::timeout(
            timeout,
            self.exchange(pool, method, path, body, max_bytes, range),
        )
        .await
        .unwrap_or_else(|_| {
            Err(UpstreamError::Unreachable(format!(
                "{}{path}: no answer within {} ms",
                self.origins[origin],
                timeout.as_millis()
            )))
        });
        let up = match &result {
            Ok(_) => true,
            Err(UpstreamError::Status(s)) => *s < 500,
            Err(UpstreamError::Bad(_)) => true,
            Err(UpstreamError::Unreachable(_)) => false,
        };
        self.report(origin, up);
        result
    }

    async fn exchange(
        &self,
        pool: &Pool,
        method: hyper::Method,
        path: &str,
        body: Bytes,
        max_bytes: usize,
        range: Option<(u64, u64)>,
    ) -> Result<Bytes, UpstreamError> {
        let unreachable = |e: String| UpstreamError::Unreachable(format!("{}: {e}", pool.addr));
        let reused = {
            let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            let mut found = None;
            while let Some(s) = idle.pop() {
                if !s.is_closed() {
                    found = Some(s);
                    break;
                }
            }
            found
        };
        let mut sender = match reused {
            Some(s) => s,
            None => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&pool.addr))
                    .await
                    .map_err(|_| unreachable("connect timed out".into()))?
                    .map_err(|e| unreachable(format!("connect: {e}")))?;
                let _ = stream.set_nodelay(true);
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| unreachable(format!("handshake: {e}")))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
        };
        sender
            .ready()
            .await
            .map_err(|e| unreachable(format!("connection: {e}")))?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &pool.addr)
            .header(wire::KEY_HEADER, &self.key)
            .header(
                "user-agent",
                concat!("atoll-edge/", env!("CARGO_PKG_VERSION")),
            );
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        if let Some((start, len)) = range {
            req = req.header("range", format!("bytes={start}-{}", start + len - 1));
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| UpstreamError::Bad(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(format!("request: {e}")))?;
        let status = resp.status().as_u16();
        if let Some(len) = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
        {
            if len > max_bytes {
                return Err(UpstreamError::Bad(format!(
                    "{path}: {len} bytes, more than {max_bytes}"
                )));
            }
        }
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| unreachable(format!("body: {e}")))?;
            if let Some(d) = frame.data_ref() {
                if out.len() + d.len() > max_bytes {
                    return Err(UpstreamError::Bad(format!(
                        "{path}: more than {max_bytes} bytes"
                    )));
                }
                out.extend_from_slice(d);
            }
        }
        {
            let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < IDLE_PER_ORIGIN && !sender.is_closed() {
                idle.push(sender);
            }
        }
        if status != 200 && !(range.is_some() && status == 206) {
            return Err(UpstreamError::Status(status));
        }
        Ok(Bytes::from(out))
    }

    /// Every second: probes the origins not in use (so their health is known before it is
    /// needed) and applies the choice's rules; a switch is logged. Ends at shutdown.
    pub async fn watch(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let current = self.current();
            let probes = (0..self.origins.len()).filter(|&i| i != current).map(|i| {
                let up = self.clone();
                async move {
                    let _ = up
                        .get(i, "/api/cluster/ping", 1024, Duration::from_millis(1500))
                        .await;
                }
            });
            futures_util::future::join_all(probes).await;
            let now = self.clock.now_mono_ms();
            let switch = self
                .choice
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .tick(now);
            if let Some(s) = switch {
                if s.back {
                    tracing::info!(from = %self.origins[s.from], to = %self.origins[s.to], "back to the preferred origin");
                } else {
                    tracing::warn!(from = %self.origins[s.from], to = %self.origins[s.to], "origin not answering; switched");
                }
            }
        }
    }
}

/// The source task of an edge channel: follows the channel's live segments on the origin in use
/// and sends each as [`SourceEvent::Segment`]; [`SourceEvent::Alive`] after every answer (also
/// an empty one), so the channel knows its origin is there between segments.
pub async fn run(channel: String, max_segment_bytes: usize, tx: SourceTx) {
    let mut cursor: Option<(usize, u64)> = None;
    let mut said_connected: Option<usize> = None;
    loop {
        let Some(up) = upstream() else {
            if !tx
                .send(SourceEvent::Error(
                    "origin:// sources work on edges only".into(),
                ))
                .await
            {
                return;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        };
        let origin = up.current();
        let after = cursor
            .filter(|(o, _)| *o == origin)
            .map(|(_, seq)| format!("&after={seq}"))
            .unwrap_or_default();
        let path = format!("/api/cluster/live/{channel}?wait_ms={POLL_WAIT_MS}{after}");
        let answer = up
            .get(
                origin,
                &path,
                1 << 20,
                Duration::from_millis(POLL_WAIT_MS + 3_000),
            )
            .await
            .and_then(|b| {
                serde_json::from_slice::<wire::LiveSegments>(&b)
                    .map_err(|e| UpstreamError::Bad(format!("{path}: {e}")))
            });
        let list = match answer {
            Ok(l) => l,
            Err(e) => {
                if !tx.send(SourceEvent::Error(e.to_string())).await {
                    return;
                }
                let pause = match e {
                    UpstreamError::Status(_) | UpstreamError::Bad(_) => 2_000,
                    UpstreamError::Unreachable(_) => 500,
                };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                continue;
            }
        };
        if said_connected != Some(origin) {
            said_connected = Some(origin);
            let what = format!("origin {}", up.origins[origin]);
            if !tx.send(SourceEvent::Connected(what)).await {
                return;
            }
        }
        if !tx.send(SourceEvent::Alive).await {
            return;
        }
        for m in list.segments {
            if cursor.is_some_and(|(o, seq)| o == origin && m.seq <= seq) {
                continue;
            }
            if m.bytes as usize > max_segment_bytes {
                cursor = Some((origin, m.seq));
                let e = format!("segment {} of {} bytes is over the limit", m.seq, m.bytes);
                if !tx.send(SourceEvent::Error(e)).await {
                    return;
                }
                continue;
            }
            let seg_path = format!("/api/cluster/live/{channel}/{}.ts", m.seq);
            match up
                .get(
                    origin,
                    &seg_path,
                    max_segment_bytes,
                    Duration::from_secs(20),
                )
                .await
            {
                Ok(data) if data.len() as u64 == m.bytes => {
                    cursor = Some((origin, m.seq));
                    let seg = Relayed {
                        origin,
                        segment: hls::Segment {
                            seq: m.seq,
                            start_90k: media::Ts90k(m.start_90k),
                            duration_90k: m.duration_90k,
                            start_utc: media::UtcMs(m.start_utc_ms),
                            discontinuity: m.discontinuity,
                            clock_step: m.clock_step,
                            data,
                        },
                    };
                    if !tx.send(SourceEvent::Segment(Box::new(seg))).await {
                        return;
                    }
                }
                Ok(data) => {
                    let e = format!(
                        "segment {}: {} bytes where {} were announced",
                        m.seq,
                        data.len(),
                        m.bytes
                    );
                    if !tx.send(SourceEvent::Error(e)).await {
                        return;
                    }
                    break;
                }
                Err(UpstreamError::Status(404)) => {
                    // slid out of the origin's window meanwhile: the next one comes
                    cursor = Some((origin, m.seq));
                }
                Err(e) => {
                    if !tx.send(SourceEvent::Error(e.to_string())).await {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// A segment as an origin served it.
#[derive(Debug)]
pub struct Relayed {
    /// Which origin (index in the edge's list).
    pub origin: usize,
    pub segment: hls::Segment,
}
