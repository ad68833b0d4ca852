//! The HTTP front door: accepts connections and answers the hot live-HLS requests itself —
//! `GET /live/{id}/index.m3u8` and `GET /live/{id}/{seq}.ts` of a running channel — on the
//! keep-alive connection, segments by `sendfile(2)` from their read-only page-cache file (no
//! copy of the bytes through user space, as nginx serves files). The first request of a connection
//! that is anything else goes, with the bytes already read, to axum/hyper (`axum::serve`),
//! which keeps that connection from then on.
//!
//! The responses mirror `api::live::live_file` (status, body, Content-Type, Cache-Control,
//! CORS, Content-Length, Date; the viewer is counted the same way): keep the two in step.
//! Anything unusual (another method, a query string, percent-escapes, a body, Expect,
//! Upgrade, an unknown channel, a malformed or oversized head) is left to hyper.

use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::serve::ListenerExt;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::hub::live::{ua_hash, SegmentFile};
use crate::hub::Hub;

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

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const TS_TYPE: &str = "video/mp2t";
const TEXT_TYPE: &str = "text/plain; charset=utf-8";

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
    app: axum::Router,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let (handoff_tx, handoff_rx) = mpsc::channel(HANDOFF_QUEUE);
    // `tap_io` makes axum's `ConnectInfo<SocketAddr>` work for a custom listener.
    let handoffs = Handoffs {
        rx: handoff_rx,
        local,
    }
    .tap_io(|_: &mut Prefixed| {});
    let slow = axum::serve(
        handoffs,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopping(shutdown.clone()));
    let slow = tokio::spawn(slow.into_future());

    let front = Arc::new(Front {
        hub,
        viewer,
        handoff: handoff_tx,
    });
    let (close_tx, close_rx) = watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = stopping(shutdown.clone()) => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            front.clone(),
            stream,
            peer,
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

/// As axum's listener: a failed handshake is the peer's problem; anything else (EMFILE)
/// is logged and accepting pauses for a second.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept error: {e}");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

struct Front {
    hub: Arc<Hub>,
    /// Viewer access rules: when a token is required or the address is not allowed, the request
    /// goes to hyper, whose gate checks and answers (see api::viewer_gate).
    viewer: Arc<crate::viewer::Rules>,
    handoff: mpsc::Sender<(Prefixed, SocketAddr)>,
}

/// One connection: fast requests are answered here, in order, until the first other one.
async fn connection(
    front: Arc<Front>,
    mut stream: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
    _open: watch::Receiver<()>,
) {
    // bytes read and not yet used; freed between requests (thousands of idle viewers)
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let req = match parse(&buf) {
            Head::Partial if buf.len() < MAX_HEAD => {
                if buf.capacity() - buf.len() < 1024 {
                    buf.reserve(4096);
                }
                let idle = buf.is_empty();
                let r = tokio::select! {
                    r = stream.read_buf(&mut buf) => r,
                    _ = stopping(shutdown.clone()), if idle => return,
                };
                match r {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
            Head::Live(req)
                if front.viewer.token_key.is_none() && front.viewer.address_allowed(peer.ip()) =>
            {
                req
            }
            Head::Live(_) | Head::Partial | Head::Other => {
                let io = Prefixed {
                    prefix: buf,
                    pos: 0,
                    stream,
                };
                tokio::select! {
                    _ = front.handoff.send((io, peer)) => {},
                    _ = stopping(shutdown.clone()) => {},
                }
                return;
            }
        };
        // an unknown channel's answer (404, or a catch-up form) is hyper's
        let Some(ch) = front.hub.get(&req.id) else {
            let io = Prefixed {
                prefix: buf,
                pos: 0,
                stream,
            };
            tokio::select! {
                _ = front.handoff.send((io, peer)) => {},
                _ = stopping(shutdown.clone()) => {},
            }
            return;
        };
        let live = ch.live.clone();
        drop(ch);
        let conn_hdr = match (req.keep_alive, req.http10) {
            (false, _) => "connection: close\r\n",
            (true, true) => "connection: keep-alive\r\n",
            (true, false) => "",
        };
        let sent = match req.what {
            What::Playlist => {
                let playlist = live.snapshot().playlist.clone();
                if playlist.is_empty() {
                    let body = b"channel is starting; no segment yet\n";
                    small(
                        &mut stream,
                        "404 Not Found",
                        TEXT_TYPE,
                        "no-cache",
                        conn_hdr,
                        body,
                    )
                    .await
                } else {
                    small(
                        &mut stream,
                        "200 OK",
                        PLAYLIST_TYPE,
                        "max-age=1",
                        conn_hdr,
                        &playlist,
                    )
                    .await
                }
            }
            What::Segment(seq) => {
                let found = {
                    let snap = live.snapshot();
                    snap.segment_and_file(seq)
                        .map(|(s, f)| (s.data.clone(), f.cloned()))
                };
                match found {
                    Some((data, file)) => {
                        live.hls_sessions.touch(
                            peer.ip(),
                            req.ua,
                            front.hub.settings.clock.now_mono_ms(),
                        );
                        let head = head(
                            "200 OK",
                            TS_TYPE,
                            "public, max-age=86400, immutable",
                            conn_hdr,
                            data.len(),
                        );
                        segment(&mut stream, &head, &data, file.as_deref()).await
                    }
                    None => {
                        let body = b"segment is not (or no longer) available\n";
                        small(
                            &mut stream,
                            "404 Not Found",
                            TEXT_TYPE,
                            "no-cache",
                            conn_hdr,
                            body,
                        )
                        .await
                    }
                }
            }
        };
        if sent.is_err() {
            return;
        }
        buf.drain(..req.head_len);
        if buf.is_empty() {
            buf = Vec::new();
        }
        if !req.keep_alive {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

fn head(status: &str, ctype: &str, cache: &str, conn: &str, len: usize) -> Vec<u8> {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncache-control: {cache}\r\n\
         access-control-allow-origin: *\r\ncontent-length: {len}\r\n{conn}date: {date}\r\n\r\n"
    )
    .into_bytes()
}

/// A small response (playlist, 404): head and body in one write.
async fn small(
    stream: &mut TcpStream,
    status: &str,
    ctype: &str,
    cache: &str,
    conn: &str,
    body: &[u8],
) -> io::Result<()> {
    let mut out = head(status, ctype, cache, conn, body.len());
    out.extend_from_slice(body);
    stream.write_all(&out).await
}

/// A segment: the head, then the body by `sendfile` from its file (a plain copy
/// when there is none), corked like nginx's `tcp_nopush`: only full-sized packets leave until
/// the end of the body, even when a slow reader's window opens a little at a time.
async fn segment(
    stream: &mut TcpStream,
    head: &[u8],
    data: &Bytes,
    file: Option<&SegmentFile>,
) -> io::Result<()> {
    let Some(file) = file else {
        stream.write_all(head).await?;
        return stream.write_all(data).await;
    };
    let sock = stream.as_raw_fd();
    cork(sock, true);
    let r = sendfile_body(stream, sock, head, file).await;
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
) -> io::Result<()> {
    let mut sent = 0;
    while sent < head.len() {
        let rest = &head[sent..];
        sent += stream
            .async_io(Interest::WRITABLE, || {
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
            })
            .await?;
    }
    let len = file.len() as libc::off_t;
    let mut off: libc::off_t = 0;
    while off < len {
        let n = stream
            .async_io(Interest::WRITABLE, || {
                let want = ((len - off) as usize).min(SENDFILE_MAX_CHUNK);
                // SAFETY: both descriptors stay open during the call (`stream` and `file` are
                // borrowed); `off` is a valid in/out offset, advanced by the kernel.
                let n = unsafe { libc::sendfile(sock, file.fd().as_raw_fd(), &mut off, want) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            })
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq)]
enum What {
    Playlist,
    Segment(u64),
}

#[derive(Debug, PartialEq)]
struct LiveReq {
    head_len: usize,
    id: String,
    what: What,
    ua: u64,
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
    let Some((id, file)) = req
        .path
        .and_then(|p| p.strip_prefix("/live/"))
        .and_then(|r| r.split_once('/'))
    else {
        return Head::Other;
    };
    let plain = |s: &str| !s.is_empty() && !s.contains(['/', '?', '#', '%']);
    if !plain(id) || !plain(file) {
        return Head::Other;
    }
    let what = if file == "index.m3u8" {
        What::Playlist
    } else {
        match file
            .strip_suffix(".ts")
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
        {
            Some(seq) => What::Segment(seq),
            None => return Head::Other,
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
    Head::Live(LiveReq {
        head_len,
        id: id.to_string(),
        what,
        ua: ua_hash(ua.unwrap_or_default()),
        // "close" wins over any keep-alive token
        keep_alive: keep_alive && !close,
        http10,
    })
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

/// A connection whose first bytes were already read: they are replayed before the socket.
pub struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    stream: TcpStream,
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
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
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
        assert_eq!(r.what, What::Playlist);
        assert_eq!(r.ua, ua_hash(b"a"));
        assert!(r.keep_alive && !r.http10);
        assert_eq!(r.head_len, req.len() - 3, "a pipelined next request stays");
        let r =
            live(b"GET /live/c1/1795000012.ts HTTP/1.1\r\nConnection: Keep-Alive, close\r\n\r\n");
        assert_eq!(r.what, What::Segment(1795000012));
        assert_eq!(r.ua, ua_hash(b""));
        assert!(!r.keep_alive);
        let r = live(b"GET /live/c1/7.ts HTTP/1.0\r\n\r\n");
        assert!(!r.keep_alive && r.http10);
        let r = live(b"GET /live/c1/7.ts HTTP/1.0\r\nconnection: keep-alive\r\n\r\n");
        assert!(r.keep_alive && r.http10);
        let r = live(b"GET /live/c1/7.ts HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.what, What::Segment(7));
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
