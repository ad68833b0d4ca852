//! The HTTP front door: accepts connections and answers the hot live-HLS requests itself —
//! `GET /live/{id}/index.m3u8` and `GET /live/{id}/{seq}.ts` of a running channel — on the
//! keep-alive connection, segments by `sendfile(2)` from their read-only page-cache file (no
//! copy of the bytes through user space, as nginx serves files). The first request of a connection
//! that is anything else goes, with the bytes already read, to axum/hyper (`axum::serve`),
//! which keeps that connection from then on.
//!
//! What it answers (status, body, Content-Type, Cache-Control, CORS; the viewer counted) is
//! `crate::live_answer::answer`, the same function `api::live::live_file` writes, with the same
//! file-name parser; this module only writes it (Content-Length, Date, Connection; segments by
//! `sendfile`). Anything unusual (another method, a query string, percent-escapes, a body,
//! Expect, Upgrade, `mpegts`, a malformed or oversized head) is left to hyper.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::hub::live::{ua_hash, SegmentBody, SegmentFile};
use crate::hub::Hub;
use crate::live_answer::{self, LiveFile, Viewer};

/// Requested listen backlog; the kernel caps it at net.core.somaxconn.
const BACKLOG: i32 = 65535;
/// A request head longer than this is hyper's to judge.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
/// Connections waiting to be taken over by hyper (bounded; the sender waits).
const HANDOFF_QUEUE: usize = 1024;
/// Most bytes one `sendfile` call may send (as nginx's `sendfile_max_chunk`). Measured with
/// the page-cache segment files at 15,000 viewers (bench/live-viewers.sh): 1 MiB gave 19-40
/// stalls; uncapped, 2 MiB, 512 KiB and 256 KiB gave 16,000-37,000.
const SENDFILE_MAX_CHUNK: usize = 1 << 20;

/// Binds the HTTP listener with a large accept backlog (tokio's `bind` asks for 1024, which
/// drops connection attempts when thousands of viewers arrive at once).
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        match bind_one(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address")))
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    TcpListener::from_std(s.into())
}

/// Serves HTTP on `listener` until `shutdown` turns true, then waits for open connections
/// (hyper's close gracefully; fast-path ones close when idle).
pub async fn serve(
    listener: TcpListener,
    hub: Arc<Hub>,
    viewer: Arc<crate::viewer::Rules>,
    vod: Option<Arc<crate::vod::Library>>,
    app: axum::Router,
    limits: Limits,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let conns = Arc::new(Conns::new(limits));
    let local = listener.local_addr()?;
    let (handoff_tx, handoff_rx) = mpsc::channel(HANDOFF_QUEUE);
    let handoffs = Handoffs {
        rx: handoff_rx,
        local,
    };
    let per_connection = PerConnection {
        app,
        stream_send_buffer: conns.limits.stream_send_buffer,
    };
    let slow =
        axum::serve(handoffs, per_connection).with_graceful_shutdown(stopping(shutdown.clone()));
    let slow = tokio::spawn(slow.into_future());

    let front = Arc::new(Front {
        hub,
        viewer,
        handoff: handoff_tx,
        limits: conns.limits.clone(),
        vod,
    });
    let (close_tx, close_rx) = watch::channel(());
    let mut errors = AcceptErrors::default();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    errors.note(e).await;
                    continue;
                }
            },
            _ = stopping(shutdown.clone()) => break,
        };
        // beyond a cap the connection is closed at once; accepting never spins, and waits only
        // (up to DRAIN_WAIT) for connections already asked to close to be gone
        let guard = match conns.admit_draining(peer.ip()).await {
            Ok(g) => g,
            Err(why) => {
                errors.refused(why, peer);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            front.clone(),
            stream,
            peer,
            guard,
            shutdown.clone(),
            close_rx.clone(),
        ));
    }
    drop(listener);
    drop(close_rx);
    drop(front);
    close_tx.closed().await;
    match slow.await {
        Ok(r) => r,
        Err(e) => Err(io::Error::other(e)),
    }
}

async fn stopping(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Process-wide front-door totals, exported by `/metrics`.
pub mod stats {
    use std::sync::atomic::AtomicU64;
    /// Connections closed at accept: over `http_max_connections_per_ip`.
    pub static REFUSED_PER_IP: AtomicU64 = AtomicU64::new(0);
    /// Connections closed at accept: all `http_max_connections` busy, none idle to evict.
    pub static REFUSED_FULL: AtomicU64 = AtomicU64::new(0);
    /// Idle keep-alive connections closed to make room for a new one at the cap.
    pub static EVICTED: AtomicU64 = AtomicU64::new(0);
    /// Connections ended by the header or keep-alive timeout.
    pub static READ_TIMEOUTS: AtomicU64 = AtomicU64::new(0);
    /// Connections ended by the write timeout (a client that stopped reading).
    pub static WRITE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);
    /// Bytes written to HTTP clients, both paths (heads, bodies, `sendfile`).
    pub static BYTES_OUT: AtomicU64 = AtomicU64::new(0);

    pub(super) fn sent(n: usize) {
        BYTES_OUT.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn add(c: &AtomicU64) {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Accept failures and refusals, logged at most once per [`LOG_EVERY`] (with counts).
#[derive(Default)]
struct AcceptErrors {
    last_log: Option<std::time::Instant>,
    errors: u64,
    refused_per_ip: u64,
    refused_full: u64,
}

const LOG_EVERY: Duration = Duration::from_secs(10);
/// Pause after an accept failure such as EMFILE (the pending connection stays in the backlog).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

impl AcceptErrors {
    /// As axum's listener: a failed handshake is the peer's problem; anything else (EMFILE)
    /// pauses accepting briefly and is logged now and then, not every time.
    async fn note(&mut self, e: io::Error) {
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
        ) {
            return;
        }
        self.errors += 1;
        if self.due() {
            tracing::error!(
                "accept error: {e} ({} in the last {} s; raise the open-file limit or lower \
                 http_max_connections)",
                self.errors,
                LOG_EVERY.as_secs()
            );
            self.errors = 0;
        }
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }

    fn refused(&mut self, why: Refused, peer: SocketAddr) {
        match why {
            Refused::PerIp => {
                stats::add(&stats::REFUSED_PER_IP);
                self.refused_per_ip += 1
            }
            Refused::Full | Refused::Draining => {
                stats::add(&stats::REFUSED_FULL);
                self.refused_full += 1
            }
        }
        if self.due() {
            tracing::warn!(
                %peer,
                "HTTP connections refused in the last {} s: {} over the per-address cap \
                 (http_max_connections_per_ip), {} with all connections busy (http_max_connections)",
                LOG_EVERY.as_secs(),
                self.refused_per_ip,
                self.refused_full
            );
            self.refused_per_ip = 0;
            self.refused_full = 0;
        }
    }

    fn due(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self.last_log.is_some_and(|t| now - t < LOG_EVERY) {
            return false;
        }
        self.last_log = Some(now);
        true
    }
}

/// The front door's limits (from the settings; see `config`).
#[derive(Clone, Debug)]
pub struct Limits {
    /// A request head must be complete this long after the connection opened or its first byte.
    pub header_timeout: Duration,
    /// An idle keep-alive connection closes after this long without a new request.
    pub idle_timeout: Duration,
    /// A write that makes no progress for this long closes the connection.
    pub write_timeout: Duration,
    /// SO_SNDBUF of a connection from its first streamed body on ([`live_answer::Streamed`]).
    pub stream_send_buffer: usize,
    /// Open connections in all (already capped below the open-file limit).
    pub max_connections: usize,
    /// Open connections per client address; 0 = no cap.
    pub max_per_ip: usize,
    /// Live playlists go to axum too (which may send the viewer to an edge: `[cluster] redirect`).
    pub hand_over_playlists: bool,
}

/// Why a new connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    PerIp,
    Full,
    /// An idle connection could make room, but too many asked to close are still open (their
    /// descriptors not yet released): wait for them ([`Conns::admit_draining`]), then retry.
    Draining,
}

/// How long the accept loop waits for evicted connections to be gone before it refuses a
/// newcomer (new connections wait in the kernel's backlog meanwhile). A burst of connections
/// at the cap evicts faster than the evicted tasks run; without the wait, the tail of the
/// burst, and a viewer behind it, would be refused although idle connections could give way.
const DRAIN_WAIT: Duration = Duration::from_millis(500);

/// Every open HTTP connection (fast path and hyper): counts per address, and which ones wait
/// idle for a request head (the oldest is closed when a new connection arrives at the cap, as
/// nginx reuses keep-alive connections).
struct Conns {
    limits: Limits,
    table: std::sync::Mutex<ConnTable>,
    epoch: std::time::Instant,
    /// Signalled whenever a connection's place is released.
    freed: tokio::sync::Notify,
}

#[derive(Default)]
struct ConnTable {
    next_id: u64,
    per_ip: HashMap<IpAddr, usize>,
    open: HashMap<u64, Arc<Slot>>,
}

/// One connection's shared state.
#[derive(Default)]
struct Slot {
    /// Milliseconds (since `Conns::epoch`, +1) since when it waits for a request head; 0 = busy.
    idle_since: AtomicU64,
    /// Asked to close (evicted for a new connection).
    kicked: AtomicBool,
    waker: std::sync::Mutex<Option<Waker>>,
}

impl Slot {
    fn poll_kicked(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.kicked.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        if self.kicked.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    fn kick(&self) {
        self.kicked.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            w.wake();
        }
    }
}

impl Conns {
    fn new(limits: Limits) -> Self {
        Conns {
            limits,
            table: Default::default(),
            epoch: std::time::Instant::now(),
            freed: tokio::sync::Notify::new(),
        }
    }

    /// [`Conns::admit`], waiting up to [`DRAIN_WAIT`] while evicted connections close.
    async fn admit_draining(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, Refused> {
        let until = Instant::now() + DRAIN_WAIT;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            match self.admit(ip) {
                Err(Refused::Draining) => {
                    if tokio::time::timeout_at(until, freed).await.is_err() {
                        return Err(Refused::Draining);
                    }
                }
                r => return r,
            }
        }
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, Refused> {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let max_ip = self.limits.max_per_ip;
        if max_ip > 0 && t.per_ip.get(&ip).copied().unwrap_or(0) >= max_ip {
            return Err(Refused::PerIp);
        }
        let max = self.limits.max_connections;
        if t.open.len() >= max {
            // close the connection idle the longest; the ones already asked to close still
            // count, up to a small slack (the descriptor reserve covers it)
            let slack = max / 16 + 16;
            let victim = t
                .open
                .values()
                .filter(|s| !s.kicked.load(Ordering::Relaxed))
                .filter_map(|s| match s.idle_since.load(Ordering::Relaxed) {
                    0 => None,
                    since => Some((since, s)),
                })
                .min_by_key(|(since, _)| *since)
                .map(|(_, s)| s.clone());
            match victim {
                Some(v) if t.open.len() < max + slack => {
                    stats::add(&stats::EVICTED);
                    v.kick()
                }
                Some(_) => return Err(Refused::Draining),
                None => return Err(Refused::Full),
            }
        }
        t.next_id += 1;
        let id = t.next_id;
        let slot = Arc::new(Slot::default());
        t.open.insert(id, slot.clone());
        *t.per_ip.entry(ip).or_default() += 1;
        drop(t);
        let g = ConnGuard {
            conns: self.clone(),
            id,
            ip,
            slot,
        };
        g.idle();
        Ok(g)
    }
}

/// Holds one connection's place in [`Conns`] until dropped (with the connection).
pub struct ConnGuard {
    conns: Arc<Conns>,
    id: u64,
    ip: IpAddr,
    slot: Arc<Slot>,
}

impl ConnGuard {
    /// Marks the connection as waiting for a request head (may be closed for a newcomer).
    fn idle(&self) {
        let ms = self.conns.epoch.elapsed().as_millis() as u64 + 1;
        let _ = self
            .slot
            .idle_since
            .compare_exchange(0, ms, Ordering::Relaxed, Ordering::Relaxed);
    }
    /// Marks the connection as serving a request.
    fn busy(&self) {
        self.slot.idle_since.store(0, Ordering::Relaxed);
    }
    fn kicked(&self) -> bool {
        self.slot.kicked.load(Ordering::Acquire)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut t = self.conns.table.lock().unwrap_or_else(|e| e.into_inner());
        t.open.remove(&self.id);
        if let Some(n) = t.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.per_ip.remove(&self.ip);
            }
        }
        drop(t);
        self.conns.freed.notify_waiters();
    }
}

/// Raises the soft open-file limit to the hard limit; returns the soft limit in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    let soft = lim.rlim_cur as u64;
    Ok(soft)
}

struct Front {
    hub: Arc<Hub>,
    /// Viewer access rules: when a token is required or the address is not allowed, the request
    /// goes to hyper, whose gate checks and answers (see api::viewer_gate).
    viewer: Arc<crate::viewer::Rules>,
    handoff: mpsc::Sender<(Prefixed, SocketAddr)>,
    limits: Limits,
    /// The film library: fMP4 playlists and segments of titles whose index is cached are
    /// answered here (segments by `sendfile` from the stored file).
    vod: Option<Arc<crate::vod::Library>>,
}

/// One connection: fast requests are answered here, in order, until the first other one.
/// A request head must be complete within the header timeout (from the connection, or from
/// its first byte after a response); between requests the connection may idle for the
/// keep-alive time; a write that makes no progress for the write timeout ends it.
async fn connection(
    front: Arc<Front>,
    mut stream: TcpStream,
    peer: SocketAddr,
    guard: ConnGuard,
    shutdown: watch::Receiver<bool>,
    _open: watch::Receiver<()>,
) {
    let limits = &front.limits;
    // bytes read and not yet used; freed between requests (thousands of idle viewers)
    let mut buf: Vec<u8> = Vec::new();
    let mut deadline = Instant::now() + limits.header_timeout;
    // when the current head's first byte arrived (None: nothing of it yet)
    let mut head_started: Option<Instant> = None;
    loop {
        if !buf.is_empty() && head_started.is_none() {
            let now = Instant::now();
            head_started = Some(now);
            deadline = deadline.min(now + limits.header_timeout);
        }
        let req = match parse(&buf) {
            Head::Partial if buf.len() < MAX_HEAD => {
                if buf.capacity() - buf.len() < 1024 {
                    buf.reserve(4096);
                }
                let idle = buf.is_empty();
                guard.idle();
                let r = tokio::select! {
                    r = stream.read_buf(&mut buf) => r,
                    _ = stopping(shutdown.clone()), if idle => return,
                    _ = std::future::poll_fn(|cx| guard.slot.poll_kicked(cx)) => return,
                    _ = tokio::time::sleep_until(deadline) => {
                        stats::add(&stats::READ_TIMEOUTS);
                        return;
                    }
                };
                match r {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
            Head::Live(req)
                if front.viewer.token_key.is_none()
                    && front.viewer.address_allowed(peer.ip())
                    && !(limits.hand_over_playlists && req.what == LiveFile::Playlist) =>
            {
                req
            }
            Head::Vod(v)
                if front.viewer.token_key.is_none()
                    && front.viewer.address_allowed(peer.ip())
                    && front
                        .vod
                        .as_ref()
                        .is_some_and(|l| l.cached_index(v.id).is_some()) =>
            {
                guard.busy();
                let sent = vod_answer(&front, &mut stream, &v, limits).await;
                if sent.is_err() || guard.kicked() {
                    return;
                }
                buf.drain(..v.head_len);
                if buf.is_empty() {
                    buf = Vec::new();
                }
                head_started = None;
                deadline = Instant::now() + limits.idle_timeout;
                if !v.keep_alive {
                    let _ = stream.shutdown().await;
                    return;
                }
                continue;
            }
            Head::Live(_) | Head::Vod(_) | Head::Partial | Head::Other => {
                let io = Prefixed::new(buf, stream, guard, limits, head_started);
                tokio::select! {
                    _ = front.handoff.send((io, peer)) => {},
                    _ = stopping(shutdown.clone()) => {},
                }
                return;
            }
        };
        guard.busy();
        let conn_hdr = match (req.keep_alive, req.http10) {
            (false, _) => "connection: close\r\n",
            (true, true) => "connection: keep-alive\r\n",
            (true, false) => "",
        };
        // what the answer is, is live_answer's (the same as api::live's); how it is written
        // (one write, or the head then `sendfile`) is ours
        let viewer = Viewer {
            ip: peer.ip(),
            ua_hash: req.ua,
        };
        let a = live_answer::answer(&front.hub, &req.id, req.what, viewer);
        let status = status_line(a.status);
        let sent = match a.body {
            live_answer::Body::Segment(body) => {
                let head = head(
                    &status,
                    a.content_type,
                    a.cache_control,
                    conn_hdr,
                    body.len() as usize,
                );
                segment(&mut stream, limits.write_timeout, &head, &body).await
            }
            live_answer::Body::Playlist(body) => {
                small(
                    &mut stream,
                    limits.write_timeout,
                    &status,
                    a.content_type,
                    a.cache_control,
                    conn_hdr,
                    &body,
                )
                .await
            }
            live_answer::Body::Text(body) => {
                small(
                    &mut stream,
                    limits.write_timeout,
                    &status,
                    a.content_type,
                    a.cache_control,
                    conn_hdr,
                    body.as_bytes(),
                )
                .await
            }
            // never asked for (`parse` leaves `mpegts` to hyper)
            live_answer::Body::Stream(_) => return,
        };
        if sent.is_err() || guard.kicked() {
            return;
        }
        buf.drain(..req.head_len);
        if buf.is_empty() {
            buf = Vec::new();
        }
        head_started = None;
        deadline = Instant::now() + limits.idle_timeout;
        if !req.keep_alive {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

fn status_line(status: axum::http::StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    )
}

fn head(status: &str, ctype: &str, cache: &str, conn: &str, len: usize) -> Vec<u8> {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let mut extra = String::new();
    for (k, v) in live_answer::EXTRA_HEADERS {
        extra.push_str(&format!("{k}: {v}\r\n"));
    }
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncache-control: {cache}\r\n\
         {extra}content-length: {len}\r\n{conn}date: {date}\r\n\r\n"
    )
    .into_bytes()
}

/// A small response (playlist, 404): head and body in one write.
async fn small(
    stream: &mut TcpStream,
    write_timeout: Duration,
    status: &str,
    ctype: &str,
    cache: &str,
    conn: &str,
    body: &[u8],
) -> io::Result<()> {
    let mut out = head(status, ctype, cache, conn, body.len());
    out.extend_from_slice(body);
    write_all_timed(stream, &out, write_timeout).await
}

/// `write_all`, failing when one write makes no progress for `timeout` (a client that reads
/// nothing).
async fn write_all_timed(
    stream: &mut TcpStream,
    mut buf: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = tokio::time::timeout(timeout, stream.write(buf))
            .await
            .map_err(|_| {
                stats::add(&stats::WRITE_TIMEOUTS);
                io::Error::from(io::ErrorKind::TimedOut)
            })??;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        stats::sent(n);
        buf = &buf[n..];
    }
    Ok(())
}

/// A segment: the head, then the body by `sendfile` from its file (a plain copy
/// when there is none), corked like nginx's `tcp_nopush`: only full-sized packets leave until
/// the end of the body, even when a slow reader's window opens a little at a time.
async fn segment(
    stream: &mut TcpStream,
    write_timeout: Duration,
    head: &[u8],
    body: &SegmentBody,
) -> io::Result<()> {
    let file = match body {
        SegmentBody::Memory(data) => {
            write_all_timed(stream, head, write_timeout).await?;
            return write_all_timed(stream, data, write_timeout).await;
        }
        SegmentBody::File(f) => f,
    };
    let sock = stream.as_raw_fd();
    cork(sock, true);
    let r = sendfile_body(stream, sock, head, file, write_timeout).await;
    cork(sock, false);
    r
}

fn cork(sock: std::os::fd::RawFd, on: bool) {
    let v: libc::c_int = on.into();
    // SAFETY: setsockopt on the open socket `sock` with a valid c_int option value.
    unsafe {
        libc::setsockopt(
            sock,
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

async fn sendfile_body(
    stream: &TcpStream,
    sock: std::os::fd::RawFd,
    head: &[u8],
    file: &SegmentFile,
    write_timeout: Duration,
) -> io::Result<()> {
    send_head(stream, sock, head, write_timeout).await?;
    sendfile_range(
        stream,
        sock,
        file.fd().as_raw_fd(),
        0,
        file.len(),
        write_timeout,
    )
    .await
}

/// The head of an answer whose body follows by `sendfile` (`MSG_MORE`: held for full packets).
async fn send_head(
    stream: &TcpStream,
    sock: std::os::fd::RawFd,
    head: &[u8],
    write_timeout: Duration,
) -> io::Result<()> {
    let stalled = |_| {
        stats::add(&stats::WRITE_TIMEOUTS);
        io::Error::from(io::ErrorKind::TimedOut)
    };
    let mut sent = 0;
    while sent < head.len() {
        let rest = &head[sent..];
        sent += tokio::time::timeout(
            write_timeout,
            stream.async_io(Interest::WRITABLE, || {
                // SAFETY: `sock` is the open socket `stream` owns; `rest` is a live buffer of
                // `rest.len()` bytes.
                let n = unsafe {
                    libc::send(
                        sock,
                        rest.as_ptr().cast(),
                        rest.len(),
                        libc::MSG_MORE | libc::MSG_NOSIGNAL,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }),
        )
        .await
        .map_err(stalled)??;
    }
    Ok(())
}

/// `len` bytes of file `fd` from `start` by `sendfile`, after whatever was sent before.
async fn sendfile_range(
    stream: &TcpStream,
    sock: std::os::fd::RawFd,
    fd: std::os::fd::RawFd,
    start: u64,
    len: u64,
    write_timeout: Duration,
) -> io::Result<()> {
    let stalled = |_| {
        stats::add(&stats::WRITE_TIMEOUTS);
        io::Error::from(io::ErrorKind::TimedOut)
    };
    let end = (start + len) as libc::off_t;
    let mut off: libc::off_t = start as libc::off_t;
    let len = end;
    while off < len {
        let n = tokio::time::timeout(
            write_timeout,
            stream.async_io(Interest::WRITABLE, || {
                let want = ((len - off) as usize).min(SENDFILE_MAX_CHUNK);
                // SAFETY: both descriptors stay open during the call (the caller borrows the
                // socket and holds the file); `off` is a valid in/out offset, advanced by the
                // kernel.
                let n = unsafe { libc::sendfile(sock, fd, &mut off, want) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }),
        )
        .await
        .map_err(stalled)??;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        stats::sent(n);
    }
    Ok(())
}

#[derive(Debug, PartialEq)]
struct LiveReq {
    head_len: usize,
    id: String,
    what: LiveFile,
    ua: u64,
    keep_alive: bool,
    http10: bool,
}

/// A film's fMP4 playlist or segment: `/vod/{id}/{file}`.
#[derive(Debug, PartialEq)]
struct VodReq {
    head_len: usize,
    id: i64,
    file: String,
    keep_alive: bool,
    http10: bool,
}

#[derive(Debug, PartialEq)]
enum Head {
    /// Not a complete head yet.
    Partial,
    /// A request for hyper.
    Other,
    Live(LiveReq),
    Vod(VodReq),
}

/// What of a title the front door answers: the fMP4 renditions (`index-fmp4.m3u8`, `vf.m3u8`,
/// `af{n}.m3u8`, `vf|af{n}/init.mp4`, `vf|af{n}/{k}.m4s`); everything else is hyper's.
fn vod_file(file: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    if matches!(file, "index-fmp4.m3u8" | "vf.m3u8") {
        return true;
    }
    if let Some(n) = file
        .strip_prefix("af")
        .and_then(|r| r.strip_suffix(".m3u8"))
    {
        return digits(n);
    }
    let Some((rendition, seg)) = file.split_once('/') else {
        return false;
    };
    let rendition_ok = rendition == "vf" || rendition.strip_prefix("af").is_some_and(digits);
    let seg_ok = seg == "init.mp4" || seg.strip_suffix(".m4s").is_some_and(digits);
    rendition_ok && seg_ok
}

fn parse(buf: &[u8]) -> Head {
    if buf.is_empty() {
        return Head::Partial;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    };
    if req.method != Some("GET") {
        return Head::Other;
    }
    let http10 = req.version == Some(0);
    let path = req.path.unwrap_or("");
    let plain = |s: &str| !s.is_empty() && !s.contains(['/', '?', '#', '%']);
    // a film: /vod/{id}/{file} with a number and one of the fMP4 files
    let vod = path.strip_prefix("/vod/").and_then(|r| {
        let (id, file) = r.split_once('/')?;
        let id = id
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0 && id.len() <= 18)?;
        (!file.contains(['?', '#', '%']) && vod_file(file)).then(|| (id, file.to_string()))
    });
    let live = match &vod {
        Some(_) => None,
        None => {
            let Some((id, file)) = path.strip_prefix("/live/").and_then(|r| r.split_once('/'))
            else {
                return Head::Other;
            };
            if !plain(id) || !plain(file) {
                return Head::Other;
            }
            // the one parser of live file names: anything but a playlist or a segment is hyper's
            match LiveFile::parse(file) {
                w @ (LiveFile::Playlist | LiveFile::Segment(_)) => Some((id, w)),
                LiveFile::Stream
                | LiveFile::Unknown
                | LiveFile::RenditionPlaylist(_)
                | LiveFile::RenditionSegment(..) => return Head::Other,
            }
        }
    };
    let mut keep_alive = !http10;
    let mut close = false;
    let mut ua: Option<&[u8]> = None;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("user-agent") {
            ua.get_or_insert(h.value);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Head::Other;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            if h.value.trim_ascii() != b"0" {
                return Head::Other;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return Head::Other;
        }
    }
    // "close" wins over any keep-alive token
    let keep_alive = keep_alive && !close;
    match (vod, live) {
        (Some((id, file)), _) => Head::Vod(VodReq {
            head_len,
            id,
            file,
            keep_alive,
            http10,
        }),
        (None, Some((id, what))) => Head::Live(LiveReq {
            head_len,
            id: id.to_string(),
            what,
            ua: ua_hash(ua.unwrap_or_default()),
            keep_alive,
            http10,
        }),
        (None, None) => Head::Other,
    }
}

/// A film's fMP4 playlist, init segment or media segment, from its cached index: playlists and
/// init segments in one write, a media segment as its `moof` header then its byte range of the
/// stored file by `sendfile` (a segment not stored as one range is made in memory).
async fn vod_answer(
    front: &Front,
    stream: &mut TcpStream,
    v: &VodReq,
    limits: &Limits,
) -> io::Result<()> {
    const PLAYLIST: &str = "application/vnd.apple.mpegurl";
    const CACHE: &str = "public, max-age=3600";
    let conn_hdr = match (v.keep_alive, v.http10) {
        (false, _) => "connection: close\r\n",
        (true, true) => "connection: keep-alive\r\n",
        (true, false) => "",
    };
    let timeout = limits.write_timeout;
    let whole = |status: &str, ctype: &str, cache: &str, body: &[u8]| {
        let mut one = head(status, ctype, cache, conn_hdr, body.len());
        one.extend_from_slice(body);
        one
    };
    let missing = whole(
        "404 Not Found",
        "application/json",
        "no-store",
        b"{\"error\":\"not_found\",\"field\":null,\"message\":\"no such file\"}",
    );
    let (Some(lib), Some(idx)) = (
        front.vod.as_ref(),
        front.vod.as_ref().and_then(|l| l.cached_index(v.id)),
    ) else {
        return write_all_timed(stream, &missing, timeout).await;
    };
    let f = v.file.as_str();
    let playlist = match f {
        "index-fmp4.m3u8" => {
            lib.count_play(v.id);
            Some(idx.master_fmp4.clone())
        }
        "vf.m3u8" => Some(idx.video_playlist_fmp4.clone()),
        _ => f
            .strip_prefix("af")
            .and_then(|r| r.strip_suffix(".m3u8"))
            .and_then(|n| n.parse::<usize>().ok())
            .map(|n| idx.audio_playlists_fmp4.get(n).cloned().unwrap_or_default()),
    };
    if let Some(p) = playlist {
        let out = match p.is_empty() {
            true => missing,
            false => whole("200 OK", PLAYLIST, CACHE, p.as_bytes()),
        };
        return write_all_timed(stream, &out, timeout).await;
    }
    let (rendition, seg) = f.split_once('/').unwrap_or(("", ""));
    let audio = match rendition.strip_prefix("af") {
        Some(n) => match n.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => return write_all_timed(stream, &missing, timeout).await,
        },
        None => None,
    };
    if seg == "init.mp4" {
        let out = match idx.init(audio) {
            Some(b) => whole("200 OK", "video/mp4", CACHE, &b),
            None => missing,
        };
        return write_all_timed(stream, &out, timeout).await;
    }
    let found = seg
        .strip_suffix(".m4s")
        .and_then(|k| k.parse::<usize>().ok())
        .and_then(|k| idx.segment_samples(audio, k).map(|(t, r)| (k, t, r)));
    let Some((k, track, range)) = found else {
        return write_all_timed(stream, &missing, timeout).await;
    };
    let runs = crate::vod::index::runs(track, range.clone());
    let file = match idx.file.get() {
        Some(f) => f.clone(),
        None => {
            let path = lib.title_dir(v.id).join("media.mp4");
            let opened = tokio::task::spawn_blocking(move || std::fs::File::open(path))
                .await
                .map_err(io::Error::other)??;
            idx.file.get_or_init(|| Arc::new(opened)).clone()
        }
    };
    let (start, len) = match runs.as_slice() {
        [one] => *one,
        [] => (0, 0),
        _ => {
            // not stored as one range: made in memory
            let out = match idx.segment(&file, crate::vod::index::Format::Fmp4, audio, k) {
                Some(Ok((h, body))) => {
                    let mut one =
                        head("200 OK", "video/mp4", CACHE, conn_hdr, h.len() + body.len());
                    one.extend_from_slice(&h);
                    one.extend_from_slice(&body);
                    one
                }
                _ => missing,
            };
            return write_all_timed(stream, &out, timeout).await;
        }
    };
    let Ok(moof) = crate::vod::index::fragment_head(track, range, k) else {
        return write_all_timed(stream, &missing, timeout).await;
    };
    let mut h = head(
        "200 OK",
        "video/mp4",
        CACHE,
        conn_hdr,
        moof.len() + len as usize,
    );
    h.extend_from_slice(&moof);
    let sock = stream.as_raw_fd();
    cork(sock, true);
    let r = match send_head(stream, sock, &h, timeout).await {
        Ok(()) => sendfile_range(stream, sock, file.as_raw_fd(), start, len, timeout).await,
        Err(e) => Err(e),
    };
    cork(sock, false);
    r
}

/// Connections handed to axum, as its listener.
struct Handoffs {
    rx: mpsc::Receiver<(Prefixed, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handoffs {
    type Io = Prefixed;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Prefixed, SocketAddr) {
        match self.rx.recv().await {
            Some(c) => c,
            // the front stopped; axum stops accepting on the same shutdown signal
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// axum's make-service for the connections it is handed: each request carries
/// `ConnectInfo<SocketAddr>` (as `into_make_service_with_connect_info` would), and an answer
/// marked [`live_answer::Streamed`] caps the connection's kernel send buffer from its head on.
#[derive(Clone)]
struct PerConnection {
    app: axum::Router,
    stream_send_buffer: usize,
}

impl<'a> tower_service::Service<axum::serve::IncomingStream<'a, Handoffs>> for PerConnection {
    type Response = ConnService;
    type Error = Infallible;
    type Future = std::future::Ready<Result<ConnService, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, conn: axum::serve::IncomingStream<'a, Handoffs>) -> Self::Future {
        std::future::ready(Ok(ConnService {
            app: self.app.clone(),
            peer: *conn.remote_addr(),
            send_buffer: conn.io().send_buffer.clone(),
            stream_send_buffer: self.stream_send_buffer,
        }))
    }
}

/// The router as one connection's service (see [`PerConnection`]).
#[derive(Clone)]
struct ConnService {
    app: axum::Router,
    peer: SocketAddr,
    /// Shared with the connection's [`Prefixed`], which applies it on its next write.
    send_buffer: Arc<AtomicUsize>,
    stream_send_buffer: usize,
}

impl tower_service::Service<axum::extract::Request> for ConnService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<axum::extract::Request>::poll_ready(&mut self.app, cx)
    }

    fn call(&mut self, mut req: axum::extract::Request) -> Self::Future {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        let answer = self.app.call(req);
        let (ask, bytes) = (self.send_buffer.clone(), self.stream_send_buffer);
        Box::pin(async move {
            let r = answer.await?;
            if r.extensions().get::<live_answer::Streamed>().is_some() {
                ask.store(bytes, Ordering::Relaxed);
            }
            Ok(r)
        })
    }
}

/// A connection whose first bytes were already read: they are replayed before the socket.
/// It also holds the connection's timeouts while hyper owns it (hyper has no timer here):
/// a request head must be complete within the header timeout of its first byte, a connection
/// waiting for its next request closes after the keep-alive time (or when evicted for a new
/// connection at the cap), any read or write that makes no progress for the idle (read) or
/// write time fails with `TimedOut`.
pub struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    stream: TcpStream,
    guard: ConnGuard,
    header_timeout: Duration,
    idle_timeout: Duration,
    write_timeout: Duration,
    /// Between a complete request head and the response's first write: body or handler time.
    in_request: bool,
    /// The last four bytes read while waiting for a head (to see its blank line).
    tail: u32,
    /// Bytes of the next head have arrived (its header timeout runs).
    head_started: bool,
    /// When the current wait for a head, or the head itself, must have ended.
    read_deadline: Option<Instant>,
    read_sleep: Pin<Box<tokio::time::Sleep>>,
    write_deadline: Option<Instant>,
    write_sleep: Pin<Box<tokio::time::Sleep>>,
    /// SO_SNDBUF an answer asked for (0: the kernel's autotuning), set by [`ConnService`].
    send_buffer: Arc<AtomicUsize>,
    /// What was applied to the socket.
    send_buffer_set: usize,
}

impl Prefixed {
    fn new(
        prefix: Vec<u8>,
        stream: TcpStream,
        guard: ConnGuard,
        limits: &Limits,
        head_started: Option<Instant>,
    ) -> Self {
        let now = Instant::now();
        let started = head_started.unwrap_or(now);
        Prefixed {
            prefix,
            pos: 0,
            stream,
            guard,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            write_timeout: limits.write_timeout,
            in_request: false,
            tail: 0,
            head_started: true,
            read_deadline: Some(started + limits.header_timeout),
            read_sleep: Box::pin(tokio::time::sleep_until(started + limits.header_timeout)),
            write_deadline: None,
            write_sleep: Box::pin(tokio::time::sleep_until(now)),
            send_buffer: Arc::new(AtomicUsize::new(0)),
            send_buffer_set: 0,
        }
    }

    /// Caps the socket's kernel send buffer once an answer asked for it (before its head is
    /// written); a cap stays for the rest of the connection.
    fn apply_send_buffer(&mut self) {
        let want = self.send_buffer.load(Ordering::Relaxed);
        if want != self.send_buffer_set {
            self.send_buffer_set = want;
            if let Err(e) = socket2::SockRef::from(&self.stream).set_send_buffer_size(want) {
                tracing::debug!("SO_SNDBUF {want}: {e}");
            }
        }
    }

    /// Notes bytes read: while waiting for a head, looks for its end.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.in_request {
            return;
        }
        if !self.head_started {
            // the first byte of a new head after a response
            self.head_started = true;
            self.read_deadline = Some(Instant::now() + self.header_timeout);
        }
        for &b in bytes {
            self.tail = (self.tail << 8) | b as u32;
            if self.tail == 0x0d0a_0d0a {
                self.in_request = true;
                self.tail = 0;
                self.head_started = false;
                self.read_deadline = None;
                self.guard.busy();
                break;
            }
        }
    }

    fn poll_read_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.guard.slot.poll_kicked(cx).is_ready() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        if !self.in_request && !self.head_started {
            // waiting for the next request: may be closed for a new connection at the cap
            self.guard.idle();
        }
        let deadline = match self.read_deadline {
            Some(d) => d,
            None => {
                // waiting for the next request, or in a request (body, handler): no progress
                // for the keep-alive time ends it
                let d = Instant::now() + self.idle_timeout;
                self.read_deadline = Some(d);
                d
            }
        };
        if self.read_sleep.deadline() != deadline {
            self.read_sleep.as_mut().reset(deadline);
        }
        match self.read_sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                stats::add(&stats::READ_TIMEOUTS);
                Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let deadline = *self
            .write_deadline
            .get_or_insert_with(|| Instant::now() + self.write_timeout);
        if self.write_sleep.deadline() != deadline {
            self.write_sleep.as_mut().reset(deadline);
        }
        match self.write_sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                stats::add(&stats::WRITE_TIMEOUTS);
                Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn wrote(
        &mut self,
        r: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(Ok(n)) => {
                stats::sent(n);
                self.write_deadline = None;
                if n > 0 {
                    // an answer is being written: the next bytes read start the next head, and
                    // the keep-alive time runs from the last write (a stream keeps it open)
                    self.guard.busy();
                    self.in_request = false;
                    self.head_started = false;
                    self.tail = 0;
                    let d = Instant::now() + self.idle_timeout;
                    self.read_deadline = Some(d);
                    self.read_sleep.as_mut().reset(d);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.poll_write_deadline(cx),
        }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            let chunk = this.prefix[this.pos..this.pos + n].to_vec();
            buf.put_slice(&chunk);
            this.saw(&chunk);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let filled = &buf.filled()[before..];
                if !filled.is_empty() && this.in_request {
                    this.read_deadline = None;
                }
                let chunk = filled.to_vec();
                this.saw(&chunk);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_read_deadline(cx),
        }
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.apply_send_buffer();
        let r = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(r, cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.apply_send_buffer();
        let r = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(r, cx)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(r: &[u8]) -> LiveReq {
        match parse(r) {
            Head::Live(l) => l,
            other => panic!("{other:?} for {}", String::from_utf8_lossy(r)),
        }
    }

    #[test]
    fn hot_requests_are_recognised() {
        let req = b"GET /live/demo/index.m3u8 HTTP/1.1\r\nHost: x\r\nUser-Agent: a\r\n\r\nGET";
        let r = live(req);
        assert_eq!(r.id, "demo");
        assert_eq!(r.what, LiveFile::Playlist);
        assert_eq!(r.ua, ua_hash(b"a"));
        assert!(r.keep_alive && !r.http10);
        assert_eq!(r.head_len, req.len() - 3, "a pipelined next request stays");
        let r =
            live(b"GET /live/c1/1795000012.ts HTTP/1.1\r\nConnection: Keep-Alive, close\r\n\r\n");
        assert_eq!(r.what, LiveFile::Segment(1795000012));
        assert_eq!(r.ua, ua_hash(b""));
        assert!(!r.keep_alive);
        let r = live(b"GET /live/c1/7.ts HTTP/1.0\r\n\r\n");
        assert!(!r.keep_alive && r.http10);
        let r = live(b"GET /live/c1/7.ts HTTP/1.0\r\nconnection: keep-alive\r\n\r\n");
        assert!(r.keep_alive && r.http10);
        let r = live(b"GET /live/c1/7.ts HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.what, LiveFile::Segment(7));
    }

    fn limits(max: usize, per_ip: usize) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            stream_send_buffer: 256 << 10,
            max_connections: max,
            max_per_ip: per_ip,
            hand_over_playlists: false,
        }
    }

    #[test]
    fn per_address_cap_and_release() {
        let c = Arc::new(Conns::new(limits(100, 2)));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let g1 = c.admit(a).unwrap();
        let _g2 = c.admit(a).unwrap();
        assert_eq!(c.admit(a).err(), Some(Refused::PerIp));
        let _g3 = c.admit(b).unwrap();
        drop(g1);
        let _g4 = c.admit(a).unwrap();
        let t = c.table.lock().unwrap();
        assert_eq!((t.open.len(), t.per_ip[&a], t.per_ip[&b]), (3, 2, 1));
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_is_closed_never_a_busy_one() {
        let c = Arc::new(Conns::new(limits(3, 0)));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let busy = c.admit(ip).unwrap();
        busy.busy();
        let old = c.admit(ip).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let young = c.admit(ip).unwrap();
        // a fourth: the oldest idle one is asked to close
        let _new = c.admit(ip).unwrap();
        assert!(old.kicked() && !young.kicked() && !busy.kicked());
        // every one busy: refused, nothing kicked
        for g in [&young, &_new] {
            g.busy();
        }
        drop(old);
        let c2 = Arc::new(Conns::new(limits(1, 0)));
        let only = c2.admit(ip).unwrap();
        only.busy();
        assert_eq!(c2.admit(ip).err(), Some(Refused::Full));
        assert!(!only.kicked());
    }

    #[tokio::test]
    async fn a_burst_at_the_cap_waits_for_evicted_connections_instead_of_refusing() {
        let c = Arc::new(Conns::new(limits(1, 0)));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        // one place, and a slack of 16 for connections asked to close and not yet gone
        let mut held = vec![c.admit(ip).unwrap()];
        for _ in 0..16 {
            held.push(c.admit(ip).unwrap());
        }
        assert_eq!(held.iter().filter(|g| g.kicked()).count(), 16);
        // the slack is used up: not refused outright, but asked to wait
        assert_eq!(c.admit(ip).err(), Some(Refused::Draining));
        // the evicted ones close while the newcomer waits: it gets its place
        let waiting = tokio::spawn({
            let c = c.clone();
            async move { c.admit_draining(ip).await.map(|g| g.kicked()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        held.retain(|g| !g.kicked());
        assert_eq!(waiting.await.unwrap(), Ok(false));
        // nobody closes: after DRAIN_WAIT the newcomer is refused
        let c = Arc::new(Conns::new(limits(1, 0)));
        let _held: Vec<_> = (0..17).map(|_| c.admit(ip).unwrap()).collect();
        let start = Instant::now();
        assert_eq!(c.admit_draining(ip).await.err(), Some(Refused::Draining));
        assert!(start.elapsed() >= DRAIN_WAIT);
    }

    #[test]
    fn film_fmp4_requests_are_recognised_and_the_rest_is_hypers() {
        let vod = |path: &str| match parse(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        ) {
            Head::Vod(v) => Some((v.id, v.file)),
            _ => None,
        };
        assert_eq!(vod("/vod/12/vf/3.m4s"), Some((12, "vf/3.m4s".into())));
        assert_eq!(
            vod("/vod/12/af1/init.mp4"),
            Some((12, "af1/init.mp4".into()))
        );
        assert_eq!(
            vod("/vod/12/index-fmp4.m3u8"),
            Some((12, "index-fmp4.m3u8".into()))
        );
        assert_eq!(vod("/vod/12/af0.m3u8"), Some((12, "af0.m3u8".into())));
        for other in [
            "/vod/12/index.m3u8",
            "/vod/12/v/3.ts",
            "/vod/12/file.mp4",
            "/vod/12/poster.jpg",
            "/vod/12/s0.vtt",
            "/vod/0/vf/1.m4s",
            "/vod/-1/vf/1.m4s",
            "/vod/x/vf/1.m4s",
            "/vod/12/vf/1.m4s?token=a",
            "/vod/12/vf/../1.m4s",
            "/vod/12/afx/1.m4s",
            "/vod/12/vf/1234567890.m4s",
        ] {
            assert_eq!(vod(other), None, "{other}");
        }
    }

    #[test]
    fn everything_else_is_left_to_hyper() {
        assert_eq!(parse(b""), Head::Partial);
        assert_eq!(
            parse(b"GET /live/demo/index.m3u8 HTTP/1.1\r\nHost"),
            Head::Partial
        );
        for r in [
            &b"HEAD /live/demo/index.m3u8 HTTP/1.1\r\n\r\n"[..],
            b"POST /live/demo/1.ts HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"GET /live/demo/1.ts HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /live/demo/1.ts HTTP/1.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /live/demo/1.ts HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            b"GET /live/demo/1.ts HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET /live/demo/1.ts HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
            b"GET /live/demo/index.m3u8?x=1 HTTP/1.1\r\n\r\n",
            b"GET /live/d%65mo/index.m3u8 HTTP/1.1\r\n\r\n",
            b"GET /live/demo/index-1795000000-60.m3u8 HTTP/1.1\r\n\r\n",
            b"GET /live/demo/archive-1795000000-60.ts HTTP/1.1\r\n\r\n",
            b"GET /live/demo/mpegts HTTP/1.1\r\n\r\n",
            b"GET /live/demo/+1.ts HTTP/1.1\r\n\r\n",
            b"GET /live/demo/01.ts HTTP/1.1\r\n\r\n",
            b"GET /live/demo/18446744073709551616.ts HTTP/1.1\r\n\r\n",
            b"GET /live/demo/.ts HTTP/1.1\r\n\r\n",
            b"GET /live/demo/a/1.ts HTTP/1.1\r\n\r\n",
            b"GET /live//1.ts HTTP/1.1\r\n\r\n",
            b"GET /api/channels HTTP/1.1\r\n\r\n",
            b"GET http://h/live/demo/1.ts HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01garbage\r\n\r\n",
        ] {
            assert_eq!(parse(r), Head::Other, "{}", String::from_utf8_lossy(r));
        }
    }
}
