//! `atoll-load`: live and VOD HLS viewer load generator.
//!
//! Every viewer is a player at real pace on its own keep-alive connection and keeps a play
//! head; a stall is the play head running dry before the next segment is in.
//!
//! Live (`--url`): it loads the playlist, joins 3 segments behind the live edge, downloads the
//! segments in order and reloads the playlist every target duration / 2.
//!
//! VOD (`--vod`): it picks a title, loads its master playlist (the first video variant and the
//! default audio rendition) and both media playlists once, starts at a random segment (a
//! viewer seeking), and keeps a forward buffer of `--buffer` seconds, fetching video segment
//! k and audio segment k together; at the end of a title it starts another one.
//!
//! Feed (`feed`, module [`feed`]): one recorded MPEG-TS stream replayed at real pace to many
//! channels (UDP and RTMP publish) from one process, for the many-channel benchmark.

pub mod feed;
mod http;
mod player;
mod playlist;
mod vod;

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::{sleep, sleep_until, timeout, timeout_at};

const HELP: &str = "\
atoll-load — live and VOD HLS viewer load generator (real-pace players, stall accounting)

USAGE:
    atoll-load --url URL --viewers N --duration SECS [OPTIONS]
    atoll-load --vod URL[,URL…] --viewers N --duration SECS [OPTIONS]
    atoll-load feed --file FILE.ts [--udp HOST:PORT] [--rtmp URL] …   (see feed --help:
                      one recorded stream replayed at real pace to many channels)

OPTIONS:
    --url URL         live media playlist, e.g. http://127.0.0.1:8080/live/demo/index.m3u8;
                      may be repeated (all on one host): viewer i watches URL i mod N
    --vod URL[,URL…]  VOD mode: titles' master (or media) playlists, all on one host, e.g.
                      http://127.0.0.1:8080/vod/1/index.m3u8; may be repeated. Viewer i
                      starts on title i mod N at a random segment, keeps --buffer seconds
                      ahead (video segment k and the default audio rendition's segment k),
                      and at a title's end goes on with a random title and position
    --vod-list FILE   VOD mode: title URLs from FILE, one per line (# comments)
    --buffer SECS     VOD: forward buffer a player keeps filled            [default 30]
    --seed N          VOD: seed of the titles and positions picked          [default 1]
    --viewers N       simulated players, each on its own keep-alive connection
    --duration SECS   measured run after the ramp (Gbit/s is over this window)
    --ramp SECS       viewers start spread over this many seconds        [default 10]
    --src-ips N       spread connections over source addresses 127.0.0.1..N
                      (loopback targets only; 0 = one per 25000 viewers) [default 0]
    --threads N       runtime worker threads                  [default: available cores]
    --json            print the result as JSON
    -h, --help        print this help

Each viewer sends `User-Agent: atoll-load/{i}`. Progress goes to stderr every 10 s; the
result line goes to stdout. Segment fetch times (p50/p99/max) count every segment request,
video and audio alike; in VOD mode, title_ends counts titles played to their end. Raise the open-files limit first (ulimit -n) for many viewers.
";

struct Config {
    addr: SocketAddr,
    host_header: String,
    /// Live: the media playlists (viewer i watches `paths[i % len]`).
    paths: Vec<String>,
    /// VOD mode when not empty: the titles' playlist paths (on `addr`).
    vod: Vec<String>,
    buffer_s: f64,
    seed: u64,
    viewers: u64,
    duration: Duration,
    ramp: Duration,
    src_ips: u32,
    threads: usize,
    json: bool,
}

fn parse_args(args: &[String]) -> Result<Option<Config>, String> {
    let mut urls: Vec<String> = Vec::new();
    let mut vod_urls: Vec<String> = Vec::new();
    let mut buffer_s = 30.0;
    let mut seed = 1u64;
    let (mut viewers, mut duration) = (None, None);
    let mut ramp = 10.0;
    let mut src_ips = 0u32;
    let mut threads = 0usize;
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{flag}: not a valid number: {v}"))
        }
        match flag {
            "-h" | "--help" => return Ok(None),
            "--url" => urls.push(value()?),
            "--vod" => vod_urls.extend(
                value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_string),
            ),
            "--vod-list" => {
                let f = value()?;
                let text =
                    std::fs::read_to_string(&f).map_err(|e| format!("--vod-list {f}: {e}"))?;
                vod_urls.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_string),
                );
            }
            "--buffer" => buffer_s = num::<f64>(flag, value()?)?,
            "--seed" => seed = num(flag, value()?)?,
            "--viewers" => viewers = Some(num::<u64>(flag, value()?)?),
            "--duration" => duration = Some(num::<f64>(flag, value()?)?),
            "--ramp" => ramp = num::<f64>(flag, value()?)?,
            "--src-ips" => src_ips = num(flag, value()?)?,
            "--threads" => threads = num(flag, value()?)?,
            "--json" => json = true,
            _ => return Err(format!("unknown argument {a} (see --help)")),
        }
    }
    let url = match (urls.first(), vod_urls.first()) {
        (Some(_), Some(_)) => {
            return Err("give either --url (live) or --vod (VOD), not both".into())
        }
        (Some(u), None) => u.clone(),
        (None, Some(u)) => u.clone(),
        (None, None) => return Err("--url or --vod is required".into()),
    };
    let viewers = viewers.ok_or("--viewers is required")?;
    let duration = duration.ok_or("--duration is required")?;
    if viewers == 0 || duration <= 0.0 || !(0.0..=3600.0).contains(&ramp) || duration > 86400.0 {
        return Err("--viewers and --duration must be positive, --ramp 0..3600".into());
    }
    if !(buffer_s > 0.0 && buffer_s <= 3600.0) {
        return Err("--buffer must be in 0..3600 seconds".into());
    }
    let (hostport, path) = split_url(&url)?;
    let mut paths = vec![path.to_string()];
    for u in urls.iter().skip(1) {
        let (h, p) = split_url(u)?;
        if h != hostport {
            return Err(format!(
                "--url: all live URLs must be on one host ({u} is not on {hostport})"
            ));
        }
        paths.push(p.to_string());
    }
    let mut vod = Vec::with_capacity(vod_urls.len());
    for u in &vod_urls {
        let (h, p) = split_url(u)?;
        if h != hostport {
            return Err(format!(
                "--vod: all titles must be on one host ({u} is not on {hostport})"
            ));
        }
        vod.push(p.to_string());
    }
    let with_port = if hostport.rsplit_once(':').is_some_and(|(_, p)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !hostport.ends_with(']')
    }) {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("resolving {hostport}: {e}"))?
        .next()
        .ok_or_else(|| format!("{hostport} has no address"))?;
    if threads == 0 {
        threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    }
    Ok(Some(Config {
        addr,
        host_header: hostport.to_string(),
        paths,
        vod,
        buffer_s,
        seed,
        viewers,
        duration: Duration::from_secs_f64(duration),
        ramp: Duration::from_secs_f64(ramp),
        src_ips,
        threads,
        json,
    }))
}

/// `http://host[:port]/path` → (`host[:port]`, `/path`).
fn split_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are supported: {url}"))?;
    Ok(match rest.find('/') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, "/"),
    })
}

/// Counters shared by all viewers, for progress lines and the byte total.
#[derive(Default)]
struct Shared {
    bytes: AtomicU64,
    segments: AtomicU64,
    stalls: AtomicU64,
    stalled_now: AtomicI64,
    http_errors: AtomicU64,
    conn_errors: AtomicU64,
    skipped: AtomicU64,
    title_ends: AtomicU64,
    active: AtomicI64,
    errors_printed: AtomicU64,
    hint_emfile: AtomicBool,
    hint_addr: AtomicBool,
}

impl Shared {
    fn conn_error(&self, what: &str, e: &io::Error) {
        self.conn_errors.fetch_add(1, Ordering::Relaxed);
        match e.raw_os_error() {
            Some(24) if !self.hint_emfile.swap(true, Ordering::Relaxed) => eprintln!(
                "atoll-load: {what}: {e} — too many open files: raise the limit (ulimit -n {})",
                1 << 20
            ),
            Some(99) if !self.hint_addr.swap(true, Ordering::Relaxed) => eprintln!(
                "atoll-load: {what}: {e} — out of local ports: spread viewers over more \
                 source addresses with --src-ips N"
            ),
            _ if self.errors_printed.fetch_add(1, Ordering::Relaxed) < 10 => {
                eprintln!("atoll-load: connection error: {what}: {e}")
            }
            _ => {}
        }
    }

    fn http_error(&self, what: &str, status: u16) {
        self.http_errors.fetch_add(1, Ordering::Relaxed);
        if self.errors_printed.fetch_add(1, Ordering::Relaxed) < 10 {
            eprintln!("atoll-load: HTTP {status} for {what}");
        }
    }
}

#[derive(Default)]
struct ViewerResult {
    title_ends: u64,
    stalls: u64,
    stalled: Duration,
    fetch_us: Vec<u32>,
}

struct Viewer {
    cfg: Arc<Config>,
    sh: Arc<Shared>,
    ua: String,
    bind: Option<IpAddr>,
    conn: Option<http::Conn>,
    play: player::PlayHead,
    fetch_us: Vec<u32>,
    /// VOD: the viewer's number, its random titles and positions, and titles played to the end.
    index: u64,
    rng: vod::Rng,
    title_ends: u64,
}

/// A VOD title as a player holds it: the video and audio media playlists (paths resolved).
struct Title {
    video: Vec<playlist::Segment>,
    /// Empty when the audio is in the video segments.
    audio: Vec<playlist::Segment>,
}

/// The outcome of one segment request.
enum Got {
    Done,
    /// 404: a player skips it.
    Skipped,
    /// A connection error or another status: try again.
    Retry,
}

impl Viewer {
    fn note(&self, c: player::Change) {
        if c.stall_began {
            self.sh.stalls.fetch_add(1, Ordering::Relaxed);
            self.sh.stalled_now.fetch_add(1, Ordering::Relaxed);
        }
        if c.stall_ended {
            self.sh.stalled_now.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn request(&self, path: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nAccept: */*\r\n\
             Connection: keep-alive\r\n\r\n",
            self.cfg.host_header, self.ua
        )
        .into_bytes()
    }

    /// One request on the viewer's connection (connecting first if needed). Connection
    /// errors are counted and paced here; `None` means "try again".
    async fn get(&mut self, path: &str, keep_body: bool) -> Option<http::Response> {
        if self.conn.is_none() {
            let c = timeout(
                Duration::from_secs(10),
                http::Conn::connect(self.cfg.addr, self.bind),
            )
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")));
            match c {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    self.sh.conn_error("connect", &e);
                    sleep(Duration::from_secs(1)).await;
                    return None;
                }
            }
        }
        let req = self.request(path);
        let conn = self.conn.as_mut()?;
        let r = timeout(
            Duration::from_secs(30),
            conn.request(&req, keep_body, &self.sh.bytes),
        )
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")));
        match r {
            Ok(resp) => {
                if resp.close {
                    self.conn = None;
                }
                Some(resp)
            }
            Err(e) => {
                self.conn = None;
                self.sh.conn_error(&format!("GET {path}"), &e);
                sleep(Duration::from_millis(500)).await;
                None
            }
        }
    }

    /// A playlist's text, or `None` after an error (counted, and paced for HTTP errors).
    async fn text(&mut self, path: &str) -> Option<String> {
        let resp = self.get(path, true).await?;
        if resp.status != 200 {
            self.sh.http_error(path, resp.status);
            sleep(Duration::from_secs(1)).await;
            return None;
        }
        Some(String::from_utf8_lossy(&resp.body).into_owned())
    }

    /// A media playlist with its segment paths resolved.
    async fn media(&mut self, path: &str, text: Option<String>) -> Option<Vec<playlist::Segment>> {
        let text = match text {
            Some(t) => t,
            None => self.text(path).await?,
        };
        match playlist::parse(&text) {
            Ok(pl) => Some(
                pl.segments
                    .into_iter()
                    .map(|s| playlist::Segment {
                        uri: playlist::resolve(path, &s.uri),
                        ..s
                    })
                    .collect(),
            ),
            Err(e) => {
                self.bad_playlist(path, e).await;
                None
            }
        }
    }

    async fn bad_playlist(&self, path: &str, e: &str) {
        self.sh.http_errors.fetch_add(1, Ordering::Relaxed);
        if self.sh.errors_printed.fetch_add(1, Ordering::Relaxed) < 10 {
            eprintln!("atoll-load: {path}: {e}");
        }
        sleep(Duration::from_secs(1)).await;
    }

    /// Loads a title as a player does: the master playlist (when it is one), then the video
    /// variant's and the audio rendition's media playlists.
    async fn title(&mut self, path: &str) -> Option<Title> {
        let text = self.text(path).await?;
        let (video_path, audio_path, video_text) = match vod::parse_master(&text) {
            Ok(Some(m)) => (
                playlist::resolve(path, &m.video),
                m.audio.map(|a| playlist::resolve(path, &a)),
                None,
            ),
            Ok(None) => (path.to_string(), None, Some(text)),
            Err(e) => {
                self.bad_playlist(path, e).await;
                return None;
            }
        };
        let video = self.media(&video_path, video_text).await?;
        let audio = match audio_path {
            Some(a) => self.media(&a, None).await?,
            None => Vec::new(),
        };
        if video.is_empty() {
            self.bad_playlist(&video_path, "no segments").await;
            return None;
        }
        Some(Title { video, audio })
    }

    /// One segment request, timed; the time counts in the fetch figures when it is a 200.
    async fn segment(&mut self, uri: &str) -> Got {
        let t = Instant::now();
        let Some(resp) = self.get(uri, false).await else {
            return Got::Retry;
        };
        if resp.status == 200 {
            let us = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
            self.fetch_us.push(us);
            self.sh.segments.fetch_add(1, Ordering::Relaxed);
            return Got::Done;
        }
        self.sh.http_error(uri, resp.status);
        if resp.status == 404 {
            self.sh.skipped.fetch_add(1, Ordering::Relaxed);
            return Got::Skipped;
        }
        sleep(Duration::from_secs(1)).await;
        Got::Retry
    }

    /// VOD: titles one after another, each from a random segment, with a forward buffer.
    async fn run_vod(&mut self) {
        let titles = self.cfg.vod.clone();
        let mut pick = (self.index % titles.len() as u64) as usize;
        // the title playing, its next segment, and whether that segment's video is in
        let mut current: Option<(Title, usize, Option<Got>)> = None;
        loop {
            let c = self.play.advance(Instant::now());
            self.note(c);
            let Some((title, k, video)) = current.as_mut() else {
                if let Some(t) = self.title(&titles[pick]).await {
                    let k = self.rng.below(t.video.len());
                    current = Some((t, k, None));
                } else {
                    pick = self.rng.below(titles.len());
                }
                continue;
            };
            let ahead = self.play.buffer_s();
            if ahead >= self.cfg.buffer_s {
                // full: wait until the play head has used up what is over the target
                sleep(Duration::from_secs_f64(ahead - self.cfg.buffer_s + 0.005)).await;
                continue;
            }
            let seg = title.video[*k].clone();
            if video.is_none() {
                match self.segment(&seg.uri).await {
                    Got::Retry => continue,
                    got => *video = Some(got),
                }
            }
            if let Some(a) = title.audio.get(*k) {
                let uri = a.uri.clone();
                if let Got::Retry = self.segment(&uri).await {
                    continue;
                }
            }
            if let Some(Got::Done) = video {
                let c = self.play.add(seg.duration_s, Instant::now());
                self.note(c);
            }
            *k += 1;
            *video = None;
            if *k >= title.video.len() {
                self.title_ends += 1;
                self.sh.title_ends.fetch_add(1, Ordering::Relaxed);
                current = None;
                pick = self.rng.below(titles.len());
            }
        }
    }

    async fn run(&mut self) {
        let playlist_path = self.cfg.paths[self.index as usize % self.cfg.paths.len()].clone();
        let mut known: VecDeque<playlist::Segment> = VecDeque::new();
        let mut next: Option<u64> = None;
        let mut target_s = 6.0f64;
        let mut last_reload: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let c = self.play.advance(now);
            self.note(c);
            let half = Duration::from_secs_f64((target_s / 2.0).max(0.5));
            let reload_due = last_reload.map_or(true, |t| now >= t + half);
            if reload_due {
                let Some(resp) = self.get(&playlist_path, true).await else {
                    continue;
                };
                last_reload = Some(now);
                if resp.status != 200 {
                    self.sh.http_error(&playlist_path, resp.status);
                    continue;
                }
                let text = String::from_utf8_lossy(&resp.body);
                let pl = match playlist::parse(&text) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("atoll-load: {playlist_path}: {e}");
                        self.sh.http_errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                target_s = pl.target_s;
                let Some(first) = pl.segments.first().map(|s| s.seq) else {
                    continue;
                };
                let n = match next {
                    Some(n) => n,
                    None => {
                        // join 3 segments behind the live edge
                        let i = pl.segments.len().saturating_sub(3);
                        pl.segments[i].seq
                    }
                };
                let n = if n < first {
                    // fell out of the window: jump forward
                    self.sh.skipped.fetch_add(first - n, Ordering::Relaxed);
                    known.clear();
                    first
                } else {
                    n
                };
                next = Some(n);
                let have = known.back().map_or(n, |s| s.seq + 1);
                for s in pl.segments.into_iter().filter(|s| s.seq >= have) {
                    known.push_back(playlist::Segment {
                        uri: playlist::resolve(&playlist_path, &s.uri),
                        ..s
                    });
                }
                continue;
            }
            if let Some(seg) = known.front().cloned() {
                let t = Instant::now();
                let Some(resp) = self.get(&seg.uri, false).await else {
                    continue;
                };
                let done = Instant::now();
                if resp.status == 200 {
                    self.fetch_us
                        .push((done - t).as_micros().min(u32::MAX as u128) as u32);
                    self.sh.segments.fetch_add(1, Ordering::Relaxed);
                    let c = self.play.add(seg.duration_s, done);
                    self.note(c);
                } else {
                    self.sh.http_error(&seg.uri, resp.status);
                    if resp.status != 404 {
                        sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    // gone or never there: a player skips it
                    self.sh.skipped.fetch_add(1, Ordering::Relaxed);
                }
                known.pop_front();
                next = Some(seg.seq + 1);
                continue;
            }
            // nothing to fetch until the next reload
            if let Some(t) = last_reload {
                sleep_until((t + half).into()).await;
            }
        }
    }
}

async fn viewer(
    i: u64,
    cfg: Arc<Config>,
    sh: Arc<Shared>,
    start_at: Instant,
    deadline: Instant,
) -> ViewerResult {
    sleep_until(start_at.into()).await;
    let cfg_seed = cfg.seed;
    let bind = match (cfg.src_ips, cfg.addr.ip()) {
        (n, IpAddr::V4(ip)) if n > 1 && ip.is_loopback() => {
            let k = (i % n as u64) as u32 + 1;
            Some(IpAddr::V4(Ipv4Addr::from(
                u32::from(Ipv4Addr::new(127, 0, 0, 0)) + k,
            )))
        }
        _ => None,
    };
    let mut v = Viewer {
        cfg,
        sh: sh.clone(),
        ua: format!("atoll-load/{i}"),
        bind,
        conn: None,
        play: player::PlayHead::default(),
        fetch_us: Vec::new(),
        index: i,
        rng: vod::Rng::new(cfg_seed, i),
        title_ends: 0,
    };
    sh.active.fetch_add(1, Ordering::Relaxed);
    if v.cfg.vod.is_empty() {
        let _ = timeout_at(deadline.into(), v.run()).await;
    } else {
        let _ = timeout_at(deadline.into(), v.run_vod()).await;
    }
    let c = v.play.finish(deadline);
    v.note(c);
    sh.active.fetch_sub(1, Ordering::Relaxed);
    ViewerResult {
        title_ends: v.title_ends,
        stalls: v.play.stalls,
        stalled: v.play.stalled,
        fetch_us: v.fetch_us,
    }
}

/// The soft open-files limit, from /proc (Linux), without a libc dependency.
fn open_files_limit() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The command line: runs the load described by `args` (without the program name) and prints
/// the result line on stdout. Returns the process exit code.
pub fn cli(args: &[String]) -> i32 {
    let (result, help) = match args.split_first() {
        Some((mode, rest)) if mode == "feed" => (feed::run_feed_args(rest), feed::HELP),
        _ => (run_args(args), HELP),
    };
    match result {
        Ok(Some((code, line))) => {
            println!("{line}");
            code
        }
        Ok(None) => {
            print!("{help}");
            0
        }
        Err(e) => {
            eprintln!("atoll-load: {e}");
            2
        }
    }
}

/// Runs the load described by `args` (the command line's, without the program name; add
/// `--json` for a JSON result) and returns the exit code and the result line, or `None` for
/// `--help`. Tests use this to watch through the project's own players.
pub fn run_args(args: &[String]) -> Result<Option<(i32, String)>, String> {
    let Some(mut cfg) = parse_args(args)? else {
        return Ok(None);
    };
    if cfg.src_ips == 0 {
        cfg.src_ips = cfg.viewers.div_ceil(25_000) as u32;
    }
    cfg.src_ips = cfg.src_ips.min(254);
    if let Some(lim) = open_files_limit() {
        if lim < cfg.viewers + 64 {
            eprintln!(
                "atoll-load: warning: open-files limit is {lim}, below {} viewers + slack; \
                 connections will fail with EMFILE (raise it: ulimit -n {})",
                cfg.viewers,
                cfg.viewers + 1024
            );
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.threads)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    Ok(Some(rt.block_on(run(Arc::new(cfg)))))
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(cfg: Arc<Config>) -> (i32, String) {
    let sh = Arc::new(Shared::default());
    let t0 = Instant::now();
    let ramp_end = t0 + cfg.ramp;
    let deadline = ramp_end + cfg.duration;
    let what = if cfg.vod.is_empty() {
        match cfg.paths.len() {
            1 => cfg.paths[0].clone(),
            n => format!("{} (+{} more live URLs)", cfg.paths[0], n - 1),
        }
    } else {
        format!(
            " (VOD: {} title{}, {:.0} s buffer, seed {})",
            cfg.vod.len(),
            if cfg.vod.len() == 1 { "" } else { "s" },
            cfg.buffer_s,
            cfg.seed
        )
    };
    eprintln!(
        "atoll-load: {} viewers on {}{} over {:.0} s ramp + {:.0} s measured, {} threads{}",
        cfg.viewers,
        cfg.host_header,
        what,
        cfg.ramp.as_secs_f64(),
        cfg.duration.as_secs_f64(),
        cfg.threads,
        if cfg.src_ips > 1 {
            format!(", source addresses 127.0.0.1..{}", cfg.src_ips)
        } else {
            String::new()
        }
    );
    let mut handles = Vec::with_capacity(cfg.viewers as usize);
    let mut viewer_s = 0.0;
    for i in 0..cfg.viewers {
        let start_at = t0 + cfg.ramp.mul_f64(i as f64 / cfg.viewers as f64);
        viewer_s += (deadline - start_at).as_secs_f64();
        handles.push(tokio::spawn(viewer(
            i,
            cfg.clone(),
            sh.clone(),
            start_at,
            deadline,
        )));
    }

    // byte counter at the start and the end of the measured window, and progress lines
    let monitor = {
        let sh = sh.clone();
        let viewers = cfg.viewers;
        let vod = !cfg.vod.is_empty();
        tokio::spawn(async move {
            let mut at_ramp_end = None;
            let mut last_bytes = 0u64;
            let mut last_t = t0;
            let mut tick = t0 + Duration::from_secs(10);
            loop {
                let wake = [tick, deadline]
                    .into_iter()
                    .chain((at_ramp_end.is_none()).then_some(ramp_end))
                    .min()
                    .unwrap();
                sleep_until(wake.into()).await;
                let now = Instant::now();
                let bytes = sh.bytes.load(Ordering::Relaxed);
                if at_ramp_end.is_none() && now >= ramp_end {
                    at_ramp_end = Some(bytes);
                }
                if now >= deadline {
                    return (at_ramp_end.unwrap_or(0), bytes);
                }
                if now >= tick {
                    let dt = (now - last_t).as_secs_f64().max(1e-3);
                    eprintln!(
                        "[{:>4.0}s] active={}/{} gbit_s={:.2} segments={} stalls={} \
                         stalled_now={} http_errors={} conn_errors={} skipped={}{}",
                        (now - t0).as_secs_f64(),
                        sh.active.load(Ordering::Relaxed),
                        viewers,
                        (bytes - last_bytes) as f64 * 8.0 / dt / 1e9,
                        sh.segments.load(Ordering::Relaxed),
                        sh.stalls.load(Ordering::Relaxed),
                        sh.stalled_now.load(Ordering::Relaxed),
                        sh.http_errors.load(Ordering::Relaxed),
                        sh.conn_errors.load(Ordering::Relaxed),
                        sh.skipped.load(Ordering::Relaxed),
                        if vod {
                            format!(" title_ends={}", sh.title_ends.load(Ordering::Relaxed))
                        } else {
                            String::new()
                        },
                    );
                    last_bytes = bytes;
                    last_t = now;
                    tick += Duration::from_secs(10);
                }
            }
        })
    };

    let mut stalls = 0u64;
    let mut stalled = Duration::ZERO;
    let mut stalled_viewers = 0u64;
    let mut title_ends = 0u64;
    let mut fetch_us: Vec<u32> = Vec::new();
    for h in handles {
        if let Ok(r) = h.await {
            stalls += r.stalls;
            title_ends += r.title_ends;
            stalled += r.stalled;
            stalled_viewers += (r.stalls > 0) as u64;
            fetch_us.extend(r.fetch_us);
        }
    }
    let (b0, b1) = monitor.await.unwrap_or((0, 0));
    fetch_us.sort_unstable();
    let dur = cfg.duration.as_secs_f64();
    let gbit_s = b1.saturating_sub(b0) as f64 * 8.0 / dur / 1e9;
    let segments = sh.segments.load(Ordering::Relaxed);
    let http_errors = sh.http_errors.load(Ordering::Relaxed);
    let conn_errors = sh.conn_errors.load(Ordering::Relaxed);
    let skipped = sh.skipped.load(Ordering::Relaxed);
    let (p50, p99, max) = (
        pct(&fetch_us, 0.50) as f64 / 1000.0,
        pct(&fetch_us, 0.99) as f64 / 1000.0,
        fetch_us.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
    let line = if cfg.json {
        format!(
            "{{\"viewers\":{},\"duration_s\":{},\"ramp_s\":{},\"gbit_s\":{:.3},\"stalls\":{},\
             \"stalled_s\":{:.1},\"stalled_viewers\":{},\"segments\":{},\"errors\":{},\
             \"http_errors\":{},\"conn_errors\":{},\"skipped\":{},\"seg_fetch_p50_ms\":{:.1},\
             \"seg_fetch_p99_ms\":{:.1},\"seg_fetch_max_ms\":{:.1},\"bytes\":{},\"viewer_s\":{:.1}{}}}",
            cfg.viewers,
            dur,
            cfg.ramp.as_secs_f64(),
            gbit_s,
            stalls,
            stalled.as_secs_f64(),
            stalled_viewers,
            segments,
            http_errors + conn_errors,
            http_errors,
            conn_errors,
            skipped,
            p50,
            p99,
            max,
            b1,
            viewer_s,
            if cfg.vod.is_empty() {
                String::new()
            } else {
                format!(",\"mode\":\"vod\",\"title_ends\":{title_ends}")
            }
        )
    } else {
        format!(
            "viewers={} duration={}s gbit_s={:.2} stalls={} stalled_s={:.1} segments={} \
             errors={} seg_fetch_p50_ms={:.1} seg_fetch_p99_ms={:.1} seg_fetch_max_ms={:.1} \
             http_errors={} conn_errors={} skipped={} stalled_viewers={} viewer_s={:.0}{}",
            cfg.viewers,
            dur,
            gbit_s,
            stalls,
            stalled.as_secs_f64(),
            segments,
            http_errors + conn_errors,
            p50,
            p99,
            max,
            http_errors,
            conn_errors,
            skipped,
            stalled_viewers,
            viewer_s,
            if cfg.vod.is_empty() {
                String::new()
            } else {
                format!(" title_ends={title_ends}")
            }
        )
    };
    if segments == 0 {
        eprintln!("atoll-load: no segment was downloaded");
        return (1, line);
    }
    (0, line)
}
