//! A minimal HTTP/1.1 keep-alive client: one request at a time on one connection,
//! `Content-Length`, chunked and close-delimited bodies. Bodies are counted as they
//! arrive (into a shared byte counter) and kept only when the caller asks for them.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Read buffer size per in-flight request (allocated per request, freed after).
const BUF: usize = 64 * 1024;
/// Response headers larger than this are an error.
const MAX_HEAD: usize = 32 * 1024;

pub struct Conn {
    stream: TcpStream,
    /// Bytes read past the end of the previous response (normally none).
    carry: Vec<u8>,
}

pub struct Response {
    pub status: u16,
    /// The body, when it was asked for.
    pub body: Vec<u8>,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// An error reading or writing, or a malformed response: the connection is unusable.
pub fn proto(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl Conn {
    pub async fn connect(addr: SocketAddr, bind: Option<IpAddr>) -> io::Result<Conn> {
        let sock = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = bind {
            sock.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = sock.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            carry: Vec::new(),
        })
    }

    /// Sends `request` (a complete HTTP/1.1 request head) and reads the whole response.
    pub async fn request(
        &mut self,
        request: &[u8],
        keep_body: bool,
        counter: &AtomicU64,
    ) -> io::Result<Response> {
        self.stream.write_all(request).await?;
        let mut r = Reader {
            stream: &mut self.stream,
            buf: Vec::new(),
            start: 0,
            end: 0,
        };
        r.buf.resize(BUF, 0);
        let carry = std::mem::take(&mut self.carry);
        r.buf[..carry.len()].copy_from_slice(&carry);
        r.end = carry.len();

        // head
        let head_end = loop {
            if let Some(p) = find(&r.buf[r.start..r.end], b"\r\n\r\n") {
                break r.start + p + 4;
            }
            if r.end - r.start >= MAX_HEAD {
                return Err(proto("response head too large"));
            }
            if r.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before the response head",
                ));
            }
        };
        let head = std::str::from_utf8(&r.buf[r.start..head_end])
            .map_err(|_| proto("response head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.split(' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(proto("not an HTTP/1.x response"));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| proto("bad status line"))?;
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        let mut close = version == "HTTP/1.0";
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                content_length = Some(v.parse().map_err(|_| proto("bad Content-Length"))?);
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.to_ascii_lowercase().contains("chunked");
            } else if k.eq_ignore_ascii_case("connection") {
                let v = v.to_ascii_lowercase();
                if v.contains("close") {
                    close = true;
                } else if v.contains("keep-alive") {
                    close = false;
                }
            }
        }
        r.start = head_end;

        let mut body = Vec::new();
        let mut sink = |data: &[u8]| {
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            if keep_body {
                body.extend_from_slice(data);
            }
        };
        if status == 204 || status == 304 || (100..200).contains(&status) {
            // no body
        } else if chunked {
            loop {
                let line = r.line().await?;
                let size_str = line.split(';').next().unwrap_or_default().trim();
                let size =
                    u64::from_str_radix(size_str, 16).map_err(|_| proto("bad chunk size"))?;
                if size == 0 {
                    // trailers up to an empty line
                    while !r.line().await?.is_empty() {}
                    break;
                }
                r.body(size, &mut sink).await?;
                if !r.line().await?.is_empty() {
                    return Err(proto("missing CRLF after chunk"));
                }
            }
        } else if let Some(n) = content_length {
            if keep_body {
                r.body(n, &mut sink).await?;
            } else {
                r.discard(n, counter).await?;
            }
        } else {
            // delimited by close
            close = true;
            loop {
                if r.start < r.end {
                    sink(&r.buf[r.start..r.end]);
                    r.start = r.end;
                }
                if r.fill().await? == 0 {
                    break;
                }
            }
        }
        if r.start < r.end {
            self.carry = r.buf[r.start..r.end].to_vec();
        }
        Ok(Response {
            status,
            body,
            close,
        })
    }
}

struct Reader<'a> {
    stream: &'a mut TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Reader<'_> {
    /// Reads more; compacts or resets the buffer first when needed. Returns 0 at EOF.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// One CRLF-terminated line (without the CRLF).
    async fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(p) = find(&self.buf[self.start..self.end], b"\r\n") {
                let s = String::from_utf8_lossy(&self.buf[self.start..self.start + p]).into_owned();
                self.start += p + 2;
                return Ok(s);
            }
            if self.end - self.start >= MAX_HEAD {
                return Err(proto("line too long"));
            }
            if self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in a chunked body",
                ));
            }
        }
    }

    /// Exactly `n` body bytes into `sink`.
    async fn body(&mut self, mut n: u64, sink: &mut impl FnMut(&[u8])) -> io::Result<()> {
        while n > 0 {
            if self.start == self.end && self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the body",
                ));
            }
            let take = ((self.end - self.start) as u64).min(n) as usize;
            sink(&self.buf[self.start..self.start + take]);
            self.start += take;
            n -= take as u64;
        }
        Ok(())
    }
}

impl Reader<'_> {
    /// Exactly `n` body bytes, counted and thrown away. On Linux the bytes are spliced from the
    /// socket into a pipe and from there into /dev/null, never copied into user space: the load
    /// tool shares the machine with the server it measures, and reading 30+ Gbit/s through
    /// `read()` would take the CPU the server needs (and count the tool's own lag as stalls).
    async fn discard(&mut self, mut n: u64, counter: &AtomicU64) -> io::Result<()> {
        let buffered = ((self.end - self.start) as u64).min(n) as usize;
        counter.fetch_add(buffered as u64, Ordering::Relaxed);
        self.start += buffered;
        n -= buffered as u64;
        while n > 0 {
            self.stream.readable().await?;
            let want = n.min(1 << 20) as usize;
            match self.stream.try_io(tokio::io::Interest::READABLE, || {
                splice::discard(self.fd(), want)
            }) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed in the body",
                    ))
                }
                Ok(got) => {
                    counter.fetch_add(got as u64, Ordering::Relaxed);
                    n -= got as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                    // no splice here: read and drop
                    return self
                        .body(n, &mut |d| {
                            counter.fetch_add(d.len() as u64, Ordering::Relaxed);
                        })
                        .await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&*self.stream)
    }
}

/// Zero-copy discarding with splice(2): one pipe per worker thread, always left empty.
mod splice {
    use std::cell::RefCell;
    use std::io;
    use std::os::fd::RawFd;

    struct Sink {
        pipe: [RawFd; 2],
        null: RawFd,
    }

    thread_local! {
        static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
    }

    fn sink() -> io::Result<Sink> {
        let mut pipe = [0; 2];
        // SAFETY: pipe2 fills the two-element array it is given.
        if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // a bigger pipe moves more per call (best effort: the system may cap it)
        unsafe { libc::fcntl(pipe[1], libc::F_SETPIPE_SZ, 1 << 20) };
        let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if null < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Sink { pipe, null })
    }

    /// Moves up to `len` bytes from socket `fd` to /dev/null; Ok(0) at end of stream.
    pub fn discard(fd: RawFd, len: usize) -> io::Result<usize> {
        SINK.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.is_none() {
                *cell = Some(sink().map_err(|e| io::Error::new(io::ErrorKind::Unsupported, e))?);
            }
            let s = cell.as_ref().expect("just set");
            let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
            // SAFETY: plain fds; null offsets mean "current position" for sockets and pipes.
            let n = unsafe {
                libc::splice(
                    fd,
                    std::ptr::null_mut(),
                    s.pipe[1],
                    std::ptr::null_mut(),
                    len,
                    flags,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return Err(match e.raw_os_error() {
                    Some(libc::EINVAL) | Some(libc::ENOSYS) => {
                        io::Error::new(io::ErrorKind::Unsupported, e)
                    }
                    _ => e,
                });
            }
            // empty the pipe again before anything else can use it
            let mut left = n as usize;
            while left > 0 {
                let m = unsafe {
                    libc::splice(
                        s.pipe[0],
                        std::ptr::null_mut(),
                        s.null,
                        std::ptr::null_mut(),
                        left,
                        flags,
                    )
                };
                if m <= 0 {
                    return Err(io::Error::other("splice to /dev/null failed"));
                }
                left -= m as usize;
            }
            Ok(n as usize)
        })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
