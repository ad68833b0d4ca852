//! Test harness: runs the real `atoll` binary on loopback ports and talks to it with a plain
//! HTTP client, ffmpeg and ffprobe.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod teletext;
#[allow(unused_imports)] // not every test binary uses it
pub use teletext::{teletext_feed, TeletextFeed};

pub const PASSWORD: &str = "test-pw";

/// A TCP port that is free now, below the ephemeral range (32768+) so that outgoing connections
/// of other tests (ffmpeg, clients) cannot take it before the server binds it.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919);
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_add(n.wrapping_mul(97)) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "atoll-it-{}-{}-{}",
        name,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "{tool} is required for the integration tests (apt-get install -y ffmpeg)"
    );
}

pub struct Atoll {
    pub child: Child,
    pub http: u16,
    pub rtmp: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
    /// Keep `dir` when stopped (for restart tests).
    pub keep_dir: bool,
}

impl Atoll {
    pub fn start(name: &str) -> Atoll {
        Self::start_with(name, &[])
    }

    pub fn start_with(name: &str, extra_config: &[(&str, &str)]) -> Atoll {
        Self::start_full(name, extra_config, &[])
    }

    /// With settings in a config file and extra environment variables.
    pub fn start_full(name: &str, extra_config: &[(&str, &str)], envs: &[(&str, &str)]) -> Atoll {
        Self::start_inner(name, &[], extra_config, envs)
    }

    /// As [`Atoll::start`], on a data directory `prepare` fills first (a restored backup, an
    /// old database).
    pub fn start_prepared(
        name: &str,
        extra_config: &[(&str, &str)],
        prepare: impl FnOnce(&Path),
    ) -> Atoll {
        let dir = temp_dir(name);
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        prepare(&data);
        Self::start_in(dir, &[], extra_config, &[])
    }

    /// As [`Atoll::start_with`], with the binary run under a wrapper command that execs it
    /// (e.g. `prlimit --nofile=1024:1024`); the wrapper must be installed.
    pub fn start_wrapped(name: &str, wrapper: &[&str], extra_config: &[(&str, &str)]) -> Atoll {
        require(wrapper[0]);
        Self::start_inner(name, wrapper, extra_config, &[])
    }

    fn start_inner(
        name: &str,
        wrapper: &[&str],
        extra_config: &[(&str, &str)],
        envs: &[(&str, &str)],
    ) -> Atoll {
        Self::start_in(temp_dir(name), wrapper, extra_config, envs)
    }

    fn start_in(
        dir: PathBuf,
        wrapper: &[&str],
        extra_config: &[(&str, &str)],
        envs: &[(&str, &str)],
    ) -> Atoll {
        // a port can still be taken between our check and the server's bind: try again then
        for attempt in 0.. {
            let mut a = Self::spawn(&dir, wrapper, extra_config, envs);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if a.get("/healthz").0 == 200 {
                    return a;
                }
                if !a.alive() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let log = a.log_text();
            if attempt < 4 && log.contains("Address already in use") {
                a.keep_dir = true;
                drop(a);
                continue;
            }
            panic!("atoll did not start (healthz)\n--- atoll log ---\n{log}");
        }
        unreachable!()
    }

    fn spawn(
        dir: &Path,
        wrapper: &[&str],
        extra_config: &[(&str, &str)],
        envs: &[(&str, &str)],
    ) -> Atoll {
        let dir = dir.to_path_buf();
        let http = free_port();
        let rtmp = free_port();
        let log = dir.join("atoll.log");
        let mut cmd = match wrapper.split_first() {
            Some((w, args)) => {
                let mut c = Command::new(w);
                c.args(args).arg(env!("CARGO_BIN_EXE_atoll"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_atoll")),
        };
        cmd.arg("serve")
            .arg("--data")
            .arg(dir.join("data"))
            .arg("--http")
            .arg(format!("127.0.0.1:{http}"))
            .arg("--rtmp")
            .arg(format!("127.0.0.1:{rtmp}"))
            .env("ATOLL_ADMIN_PASSWORD", PASSWORD)
            .env("ATOLL_LOG", "info")
            .envs(envs.iter().copied())
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log).unwrap(),
            ));
        if !extra_config.is_empty() {
            let cfg = dir.join("atoll.toml");
            let text: String = extra_config
                .iter()
                .map(|(k, v)| format!("{k} = {v}\n"))
                .collect();
            std::fs::write(&cfg, text).unwrap();
            cmd.arg("--config").arg(cfg);
        }
        let child = cmd.spawn().expect("spawn atoll");
        Atoll {
            child,
            http,
            rtmp,
            dir,
            log,
            keep_dir: false,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http, path)
    }

    pub fn rtmp_url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}{}", self.rtmp, path)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        http(self.http, "GET", path, None, None)
    }

    /// One sample from `/metrics`: `name` with its labels as printed (`x_total{kind="read"}`).
    pub fn metric(&self, name: &str) -> u64 {
        let text = String::from_utf8_lossy(&self.get("/metrics").1).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    }

    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let (s, b) = http(self.http, method, path, Some(("admin", PASSWORD)), body);
        let v = serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null);
        (s, v)
    }

    pub fn channel(&self, id: &str) -> serde_json::Value {
        self.api("GET", &format!("/api/channels/{id}"), None).1
    }

    /// Polls `f` every 200 ms until it holds, or panics with the server log after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "timed out after {timeout:?} waiting for {what}\n--- atoll log ---\n{}",
            self.log_text()
        );
    }

    /// Waits until the live playlist of `id` lists at least `n` segments; returns it.
    pub fn wait_playlist(&self, id: &str, n: usize, timeout: Duration) -> String {
        let mut text = String::new();
        self.wait_for(&format!("{n} segments in {id}'s playlist"), timeout, || {
            let (s, b) = self.get(&format!("/live/{id}/index.m3u8"));
            text = String::from_utf8_lossy(&b).into_owned();
            s == 200 && text.matches("#EXTINF").count() >= n
        });
        text
    }

    /// Stops the server (SIGTERM) and keeps its directory; returns it.
    pub fn stop_keeping_data(mut self) -> PathBuf {
        self.keep_dir = true;
        let dir = self.dir.clone();
        drop(self);
        dir
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Atoll {
    fn drop(&mut self) {
        unsafe_free_sigterm(self.child.id());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if self.child.try_wait().ok().flatten().is_some() {
                if !self.keep_dir {
                    let _ = std::fs::remove_dir_all(&self.dir);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM via the `kill` command (no libc dependency in tests).
pub fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// A minimal blocking HTTP/1.1 client (Connection: close; Content-Length or read-to-end bodies):
/// optional Basic credentials, a JSON body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<&str>,
) -> (u16, Vec<u8>) {
    let auth = auth.map(|(u, p)| basic(u, p));
    let mut headers = vec![("User-Agent", "atoll-it")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" || method == "PUT" {
        headers.push(("Content-Type", "application/json"));
    }
    let (status, _, b) = raw(port, method, path, &headers, body.as_bytes());
    (status, b)
}

pub fn header_of(port: u16, path: &str, name: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < eol + 2 + n {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = b.get(eol + 2 + n + 2..).unwrap_or_default();
    }
    out
}

/// A 20 s 320x240 H.264 + AAC MP4 with a 1 s GOP, generated once per machine.
pub fn fixture_clip() -> PathBuf {
    fixture_clip_in(&std::env::temp_dir().join("atoll-it-fixtures"))
}

/// [`fixture_clip`] kept in `dir` (a test builds it in a fresh one from parallel threads).
pub fn fixture_clip_in(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("clip-320x240-20s.mp4");
    if path.exists() {
        return path;
    }
    require("ffmpeg");
    // Several test threads and processes may build it at once: each writes its own temporary file
    // (process, thread and counter in the name) and renames it into place atomically; the last
    // rename wins and every rename leaves a complete clip.
    let tmp = dir.join(unique_name("clip", "tmp.mp4"));
    let st = Command::new("ffmpeg")
        .args([
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "20",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ])
        .arg(&tmp)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg could not make the fixture clip");
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// A file name no other thread or process uses: `{stem}.{pid}.{thread}.{n}.{ext}`.
pub fn unique_name(stem: &str, ext: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let thread = format!("{:?}", std::thread::current().id())
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect::<String>();
    format!(
        "{stem}.{}.{thread}.{}.{ext}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs ffmpeg in the background with these args (quiet).
pub fn ffmpeg_bg(args: &[&str]) -> Child {
    require("ffmpeg");
    Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub struct Killer(pub Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ffprobe's `-show_entries entries` of a URL as CSV lines (`extra` before the URL, e.g.
/// `-count_packets`); panics when ffprobe fails. Programs list their streams again: callers that
/// want each stream once sort and dedup, or key by index.
pub fn ffprobe_entries(url: &str, extra: &[&str], entries: &str) -> Vec<String> {
    require("ffprobe");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "15000000"])
        .args(extra)
        .args(["-show_entries", entries, "-of", "csv=p=0", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// ffprobe's view of a URL: "codec_name,width,height" per stream, each stream once.
pub fn ffprobe_streams(url: &str) -> Vec<String> {
    let mut v = ffprobe_entries(url, &[], "stream=codec_name,width,height,sample_rate");
    v.sort();
    v.dedup();
    v
}

/// `ffmpeg -i URL -c copy -f null -` reading at most `secs`: returns (stderr errors, seconds of media read).
pub fn ffmpeg_read(url: &str, secs: u32) -> (String, f64) {
    require("ffmpeg");
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-stats",
            "-rw_timeout",
            "15000000",
            "-i",
            url,
            "-t",
            &secs.to_string(),
            "-c",
            "copy",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    // -stats prints "... time=00:00:09.96 ..." progress lines; take the last
    let t = stderr
        .rsplit("time=")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(parse_hms)
        .unwrap_or(0.0);
    let errors: String = stderr
        .lines()
        .flat_map(|l| l.split('\r'))
        .filter(|l| !l.contains("time=") && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        out.status.success(),
        "ffmpeg read of {url} failed:\n{stderr}"
    );
    (errors, t)
}

fn parse_hms(s: &str) -> Option<f64> {
    let mut parts = s.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let sec: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + sec)
}

/// Checks RFC 8216 rules on a live playlist; returns (target, [(extinf, uri, pdt)]).
pub fn check_live_playlist(text: &str) -> (u64, Vec<(f64, String, String)>) {
    assert!(text.starts_with("#EXTM3U\n"), "{text}");
    let target: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .expect("TARGETDURATION")
        .parse()
        .unwrap();
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:"));
    assert!(!text.contains("#EXT-X-ENDLIST"));
    let mut segs = Vec::new();
    let mut pdt = None;
    let mut dur = None;
    for l in text.lines() {
        if let Some(p) = l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = Some(p.to_string());
        } else if let Some(d) = l.strip_prefix("#EXTINF:") {
            dur = Some(d.trim_end_matches(',').parse::<f64>().unwrap());
        } else if !l.starts_with('#') && !l.is_empty() {
            let d = dur.take().expect("EXTINF before URI");
            assert!(
                d.round() as u64 <= target,
                "EXTINF {d} > TARGETDURATION {target}"
            );
            segs.push((
                d,
                l.to_string(),
                pdt.take().expect("PROGRAM-DATE-TIME on every segment"),
            ));
        }
    }
    (target, segs)
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Start times of the video and audio streams of one segment (ffprobe), in seconds.
pub fn av_start_times(url: &str) -> (f64, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (mut v, mut a) = (None, None);
    for l in text.lines() {
        let mut parts = l.split(',');
        let kind = parts.next().unwrap_or("");
        let t: Option<f64> = parts.next().and_then(|t| t.parse().ok());
        match kind {
            "video" => v = v.or(t),
            "audio" => a = a.or(t),
            _ => {}
        }
    }
    (
        v.unwrap_or_else(|| panic!("no video start in {url}: {text}")),
        a.unwrap_or_else(|| panic!("no audio start in {url}: {text}")),
    )
}

/// Asserts audio and video of every segment in `playlist` start within 100 ms of each other.
pub fn assert_av_aligned(a: &Atoll, id: &str, playlist: &str) {
    for (_, uri, _) in check_live_playlist(playlist).1 {
        let (v, au) = av_start_times(&a.url(&format!("/live/{id}/{uri}")));
        assert!(
            (v - au).abs() < 0.1,
            "{id}/{uri}: video starts at {v}, audio at {au}"
        );
    }
}

impl Atoll {
    /// The server still runs (no panic took it down).
    pub fn alive_check(&self) -> bool {
        self.get("/healthz").0 == 200
    }
}

/// ffmpeg looping the fixture clip as MPEG-TS to `udp_url` at real pace (like a receiver's output).
pub fn udp_feed_to(udp_url: &str) -> Killer {
    let clip = fixture_clip();
    Killer(ffmpeg_bg(&[
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        path_str(&clip),
        "-c",
        "copy",
        "-f",
        "mpegts",
        udp_url,
    ]))
}

/// The same to a unicast port on 127.0.0.1.
pub fn udp_feed(port: u16) -> Killer {
    udp_feed_to(&format!("udp://127.0.0.1:{port}?pkt_size=1316"))
}

/// One HTTP/1.1 request with any headers and body; returns (status, head, body). The head is the
/// raw status line and headers (for Set-Cookie, Retry-After, …).
pub fn raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(_) => return (0, String::new(), Vec::new()),
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    if s.write_all(&bytes).is_err() {
        return (0, String::new(), Vec::new());
    }
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let Some(split) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, String::new(), Vec::new());
    };
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = resp[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

/// A header's value from a raw head.
pub fn head_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    })
}

/// HTTP Basic header value.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The web/ folder (pages, their npm dependencies and the browser test scripts).
pub fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../web")
        .canonicalize()
        .unwrap()
}

// ---- RTMP attack helpers (tests/hostile_rtmp.rs) ----

/// Resident memory of process `pid` in KiB (VmRSS of /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// A TCP connection to the RTMP port with the RTMP handshake done (nothing else sent).
pub fn rtmp_handshake(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut hs = rtmp::Handshake::client([7; rtmp::HANDSHAKE_RANDOM_LEN]);
    s.write_all(&hs.take_transmit().unwrap()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !hs.is_done() {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "server closed during the RTMP handshake");
        got.extend_from_slice(&buf[..n]);
        let used = hs.push(&got).unwrap();
        got.drain(..used);
    }
    if let Some(c2) = hs.take_transmit() {
        s.write_all(&c2).unwrap();
    }
    s
}

/// Whether the server has closed `s` (EOF or reset) within `timeout`; reads and discards
/// whatever else it sends.
pub fn closed_within(s: &mut TcpStream, timeout: Duration) -> bool {
    let start = Instant::now();
    let mut buf = [0u8; 16 * 1024];
    while start.elapsed() < timeout {
        let left = timeout
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(1));
        s.set_read_timeout(Some(left.min(Duration::from_millis(100))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// One RTMP publish attempt to `url` (rtmp://host:port/app/stream?query) with the crate's client
/// session: Ok when the server answers NetStream.Publish.Start, Err(what it said) otherwise.
pub fn rtmp_publish_attempt(url: &str, timeout: Duration) -> Result<(), String> {
    let u = rtmp::RtmpUrl::parse(url).unwrap();
    let mut s = TcpStream::connect((u.host.as_str(), u.port)).map_err(|e| e.to_string())?;
    let mut c = rtmp::ClientSession::publish(
        rtmp::ClientConfig::default(),
        u,
        [9; rtmp::HANDSHAKE_RANDOM_LEN],
    );
    let start = Instant::now();
    let mut buf = [0u8; 16 * 1024];
    loop {
        while let Some(out) = c.poll_transmit() {
            s.write_all(&out).map_err(|e| format!("write: {e}"))?;
        }
        while let Some(ev) = c.poll_event() {
            match ev {
                rtmp::ClientEvent::PublishStarted => return Ok(()),
                rtmp::ClientEvent::Error(e) => return Err(e),
                _ => {}
            }
        }
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err("no answer".into());
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Err("closed".into()),
            Ok(n) => c.push(&buf[..n]).map_err(|e| e.to_string())?,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Pushes `clip` in a loop at real pace to `url` with ffmpeg (`-c copy`, FLV).
pub fn rtmp_push_loop(clip: &Path, url: &str) -> Killer {
    Killer(ffmpeg_bg(&[
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        path_str(clip),
        "-c",
        "copy",
        "-f",
        "flv",
        url,
    ]))
}

/// A python3 http.server serving `dir` on a loopback port, answering 401 unless the request
/// carries HTTP Basic `user:password`. Returns the process (killed on drop) and its port. The
/// server logs each request (its path and status) to its stderr, kept in `dir/../server.log`.
pub fn basic_auth_server(dir: &Path, user: &str, password: &str) -> (Killer, u16) {
    require("python3");
    let port = free_port();
    let script = r#"
import base64, http.server, sys, functools
root, port, cred = sys.argv[1], int(sys.argv[2]), sys.argv[3]
want = "Basic " + base64.b64encode(cred.encode()).decode()
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="up"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()
http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(H, directory=root)).serve_forever()
"#;
    let log = dir.parent().unwrap_or(dir).join("server.log");
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .arg(port.to_string())
        .arg(format!("{user}:{password}"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .expect("python3");
    let k = Killer(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the python3 server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (k, port)
}

/// The peak resident memory of a process so far (VmHWM), in bytes.
pub fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/PID/status")
        * 1024
}

/// A TCP connection to `127.0.0.1:port` from the loopback address `from` (127.0.0.x: every
/// address of 127.0.0.0/8 is local, so one machine can play many clients).
pub fn connect_from(from: [u8; 4], port: u16) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    let local = std::net::SocketAddr::from((from, 0));
    s.bind(&SockAddr::from(local))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.connect_timeout(
        &SockAddr::from(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
        Duration::from_secs(5),
    )?;
    Ok(s.into())
}

/// Now, in whole seconds since the epoch.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A small XMLTV file: `n` half-hour programmes on `xmltv_id` from two hours ago.
pub fn guide_xml(xmltv_id: &str, title: &str, n: i64) -> String {
    let t0 = now_s() / 1800 * 1800 - 2 * 3600;
    let fmt = |t: i64| {
        let (d, s) = (t.div_euclid(86_400), t.rem_euclid(86_400));
        let (y, m, dd) = media::time::civil_from_days(d);
        format!(
            "{y:04}{m:02}{dd:02}{:02}{:02}{:02} +0000",
            s / 3600,
            s % 3600 / 60,
            s % 60
        )
    };
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\n<channel id=\"{xmltv_id}\"><display-name>{xmltv_id}</display-name></channel>\n"
    );
    for i in 0..n {
        x.push_str(&format!(
            "<programme start=\"{}\" stop=\"{}\" channel=\"{xmltv_id}\"><title>{title} {i}</title></programme>\n",
            fmt(t0 + i * 1800),
            fmt(t0 + (i + 1) * 1800)
        ));
    }
    x.push_str("</tv>\n");
    x
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Asserts that a page script run by [`browser_script`] passed every step with no JavaScript
/// error on the page; on failure, says which step, the facts, and the tail of the server's log.
pub fn assert_flow_ok(v: &serde_json::Value, report: &str, a: &Atoll, what: &str) {
    assert_eq!(
        v["ok"],
        true,
        "{what} failed: {}\n{report}facts: {}\npage errors: {}\n--- atoll log (tail) ---\n{}",
        v["error"],
        v["facts"],
        v["pageErrors"],
        tail(&a.log_text(), 60)
    );
    assert!(
        v["pageErrors"].as_array().is_none_or(|e| e.is_empty()),
        "JavaScript errors on the page: {}",
        v["pageErrors"]
    );
}

/// Runs a browser script of `web/` (headless Chromium through playwright-core) with `args`; it
/// prints one JSON line `{"ok","steps":[{"name","ok","ms","error"?}],…}` as its last line.
/// Returns that value and a readable report of the steps. `budget_s` caps the script (passed to
/// it as ADMIN_TEST_BUDGET_S; 30 s more and it is killed).
pub fn browser_script(script: &str, args: &[&str], budget_s: u64) -> (serde_json::Value, String) {
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var("CHROMIUM").is_ok(),
        "Chromium is needed for the browser tests (apt-get install -y chromium)"
    );
    assert!(
        web_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci` in {}",
        web_dir().display()
    );
    let mut child = Command::new("node")
        .arg(web_dir().join(script))
        .args(args)
        .env("ADMIN_TEST_BUDGET_S", budget_s.to_string())
        .current_dir(web_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is needed for the browser tests");
    let mut stdout_pipe = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout_pipe.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let mut killed = false;
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(budget_s + 30) {
            let _ = child.kill();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.wait();
    let stdout = out_t.join().unwrap();
    let stderr = err_t.join().unwrap();
    assert!(
        !killed,
        "{script} did not finish in {}s\n{stdout}\n{stderr}",
        budget_s + 30
    );
    let line = stdout.lines().last().unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|_| panic!("no result from {script}:\n{stdout}\n{stderr}"));
    let mut report = String::new();
    for s in v["steps"].as_array().into_iter().flatten() {
        report.push_str(&format!(
            "  [{}] {} ({} ms){}\n",
            if s["ok"] == true { "ok" } else { "FAILED" },
            s["name"].as_str().unwrap_or(""),
            s["ms"],
            s["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    println!("{script} steps:\n{report}");
    for p in v["screenshots"].as_array().into_iter().flatten() {
        println!("screenshot: {}", p.as_str().unwrap_or(""));
    }
    (v, report)
}

/// Runs ffmpeg with `args`, failing the test with its stderr.
pub fn ffmpeg_run(args: &[&str]) {
    let out = Command::new("ffmpeg").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An 8 s H.264/AAC MP4 made by ffmpeg at `path`.
pub fn make_small_film(path: &Path) {
    ffmpeg_run(&[
        "-y",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25:duration=8",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=8",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        path_str(path),
    ]);
}

/// `atoll vod import` of `file` into the running server's data directory; the new title's id.
pub fn vod_import(a: &Atoll, file: &Path, title: &str, category: &str) -> i64 {
    let out = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(["vod", "import", "--data"])
        .arg(a.dir.join("data"))
        .args(["--title", title, "--category", category])
        .arg(file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && stdout.contains("imported as"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim().rsplit(' ').next().unwrap().parse().unwrap()
}
