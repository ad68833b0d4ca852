//! `atoll-load feed`: many channels fed from one light process.
//!
//! It reads one recorded MPEG-TS file once (demuxed into access units by the workspace's
//! `mpegts` crate) and replays it at real pace, looping with continuous timestamps, to many
//! destinations: UDP (MPEG-TS remuxed per channel, 7×188-byte datagrams, sent as each frame's
//! decode time comes) and RTMP publish (one connection per channel, the `rtmp` crate's client
//! session). One pacer task on a single-threaded runtime wakes every `--tick-ms`; channel `c`
//! runs `c × stagger / N` behind channel 0, so that N channels' keyframes do not all leave in
//! the same tick (as N real encoders would not).

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use media::{Frame, MediaEvent, StreamInfo, Track, Ts90k};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub const HELP: &str = "\
atoll-load feed — replay one recorded stream at real pace to many channels (UDP and RTMP)

USAGE:
    atoll-load feed --file FILE.ts [--udp HOST:PORT [--udp-count N]]
                    [--rtmp URL [--rtmp-count N]] [OPTIONS]

OPTIONS:
    --file FILE.ts    the recorded stream (MPEG-TS, H.264/HEVC + AAC/MPEG audio; make one with
                      `ffmpeg -i in.mp4 -c copy -f mpegts FILE.ts`); read once into memory
    --udp HOST:PORT   send MPEG-TS over UDP (7×188-byte datagrams) to PORT, PORT+1, …
    --udp-count N     how many UDP channels (consecutive ports)                 [default 1]
    --rtmp URL        publish over RTMP; `{n}` in the URL becomes 1..N, e.g.
                      'rtmp://127.0.0.1:1935/live/ch{n}?key=k{n}' (one connection each)
    --rtmp-count N    how many RTMP channels                                    [default 1]
    --duration SECS   stop after SECS (0 = run until killed)                   [default 0]
    --stagger SECS    spread the channels' start over this long                [default 2]
    --tick-ms MS      pacer period                                             [default 10]
    -h, --help        print this help

The file loops with continuous timestamps (each loop shifted by the file's length). RTMP
channels reconnect every second when refused or cut. Progress goes to stderr every 10 s; at the
end (with --duration) one result line goes to stdout.
";

/// Frames of one recorded stream, rebased to decode time 0, and how to loop them.
#[derive(Debug, Clone)]
pub struct Replay {
    info: StreamInfo,
    /// In decode order, the first decode time 0, starting on a video keyframe if there is video.
    frames: Vec<Frame>,
    /// One loop's length: the span of decode times plus one frame interval.
    period_90k: i64,
}

impl Replay {
    /// From demuxed events (the last stream description wins). Errors when there is no frame.
    pub fn new(events: Vec<MediaEvent>) -> Result<Replay, String> {
        let mut info = StreamInfo::default();
        let mut frames = Vec::new();
        for e in events {
            match e {
                MediaEvent::Info(i) => info = i,
                MediaEvent::Frame(f) => frames.push(f),
            }
        }
        frames.sort_by_key(|f| f.dts_90k);
        // start on a video keyframe so every loop (and every late joiner) decodes
        if frames.iter().any(|f| f.track == Track::Video) {
            let first_key = frames
                .iter()
                .position(|f| f.track == Track::Video && f.keyframe)
                .ok_or("the file has video but no keyframe")?;
            frames.drain(..first_key);
        }
        let (Some(first), Some(last)) = (frames.first(), frames.last()) else {
            return Err("no frames in the file".into());
        };
        let base = first.dts_90k;
        let span_90k = (last.dts_90k - base).0;
        // one frame interval: the last interval of the video track (else of any track)
        let track = if frames.iter().any(|f| f.track == Track::Video) {
            Track::Video
        } else {
            frames[0].track
        };
        let mut tail = frames.iter().rev().filter(|f| f.track == track);
        let step_90k = match (tail.next(), tail.next()) {
            (Some(a), Some(b)) => (a.dts_90k - b.dts_90k).0.clamp(1, 90_000),
            _ => 3600,
        };
        for f in &mut frames {
            f.dts_90k = f.dts_90k - base;
            f.pts_90k = f.pts_90k - base;
        }
        Ok(Replay {
            info,
            frames,
            period_90k: span_90k + step_90k,
        })
    }

    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn period_90k(&self) -> i64 {
        self.period_90k
    }

    /// When the `k`-th frame sent (counting across loops) is due, from the start, in 90 kHz.
    pub fn due_90k(&self, k: u64) -> i64 {
        let n = self.frames.len() as u64;
        (k / n) as i64 * self.period_90k + self.frames[(k % n) as usize].dts_90k.0
    }

    /// The `k`-th frame sent, its times shifted by the loops before it.
    pub fn frame(&self, k: u64) -> Frame {
        let n = self.frames.len() as u64;
        let shift = Ts90k((k / n) as i64 * self.period_90k);
        let mut f = self.frames[(k % n) as usize].clone();
        f.dts_90k = f.dts_90k + shift;
        f.pts_90k = f.pts_90k + shift;
        f
    }
}

/// Reads and demuxes an MPEG-TS file.
pub fn load_ts(path: &str) -> Result<Replay, String> {
    let data = std::fs::read(path).map_err(|e| format!("--file {path}: {e}"))?;
    let mut demux = mpegts::Demuxer::new();
    let mut events = Vec::new();
    demux.push(&data, &mut events);
    demux.flush(&mut events);
    Replay::new(events).map_err(|e| format!("--file {path}: {e} (an MPEG-TS file is needed)"))
}

/// Bytes of one UDP datagram: 7 TS packets, as ffmpeg and receivers send.
pub const DATAGRAM_BYTES: usize = 7 * 188;

/// Takes the whole datagrams off the front of `buf` (what is left waits for the next frame).
pub fn whole_datagrams(buf: &mut BytesMut) -> Vec<bytes::Bytes> {
    let mut v = Vec::with_capacity(buf.len() / DATAGRAM_BYTES);
    while buf.len() >= DATAGRAM_BYTES {
        v.push(buf.split_to(DATAGRAM_BYTES).freeze());
    }
    v
}

#[derive(Debug)]
struct FeedConfig {
    file: String,
    udp: Option<SocketAddr>,
    udp_count: u16,
    rtmp: Option<String>,
    rtmp_count: u32,
    duration: Option<Duration>,
    stagger: Duration,
    tick: Duration,
}

fn parse(args: &[String]) -> Result<Option<FeedConfig>, String> {
    let mut file = None;
    let mut udp = None;
    let mut udp_count = 1u16;
    let mut rtmp = None;
    let mut rtmp_count = 1u32;
    let mut duration_s = 0.0f64;
    let mut stagger_s = 2.0f64;
    let mut tick_ms = 10u64;
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
            "--file" => file = Some(value()?),
            "--udp" => {
                let v = value()?;
                let addr = v
                    .to_socket_addrs()
                    .map_err(|e| format!("--udp {v}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("--udp {v}: no address"))?;
                udp = Some(addr);
            }
            "--udp-count" => udp_count = num(flag, value()?)?,
            "--rtmp" => {
                let v = value()?;
                rtmp::RtmpUrl::parse(&v.replace("{n}", "1"))
                    .map_err(|_| format!("--rtmp {v}: not rtmp://host[:port]/app/stream"))?;
                rtmp = Some(v);
            }
            "--rtmp-count" => rtmp_count = num(flag, value()?)?,
            "--duration" => duration_s = num(flag, value()?)?,
            "--stagger" => stagger_s = num(flag, value()?)?,
            "--tick-ms" => tick_ms = num(flag, value()?)?,
            _ => return Err(format!("feed: unknown argument {a} (see feed --help)")),
        }
    }
    let file = file.ok_or("feed: --file is required")?;
    if udp.is_none() && rtmp.is_none() {
        return Err("feed: give --udp or --rtmp (or both)".into());
    }
    if udp.is_some_and(|a| a.port() as u32 + udp_count as u32 > 65_536) || udp_count == 0 {
        return Err("feed: --udp-count must be 1.. and the ports must fit below 65536".into());
    }
    if rtmp_count == 0 || rtmp_count > 10_000 {
        return Err("feed: --rtmp-count must be 1..10000".into());
    }
    if !(0.0..=86_400.0).contains(&duration_s) || !(0.0..=600.0).contains(&stagger_s) {
        return Err("feed: --duration must be 0..86400, --stagger 0..600 seconds".into());
    }
    if !(1..=1000).contains(&tick_ms) {
        return Err("feed: --tick-ms must be 1..1000".into());
    }
    Ok(Some(FeedConfig {
        file,
        udp,
        udp_count,
        rtmp,
        rtmp_count,
        duration: (duration_s > 0.0).then(|| Duration::from_secs_f64(duration_s)),
        stagger: Duration::from_secs_f64(stagger_s),
        tick: Duration::from_millis(tick_ms),
    }))
}

#[derive(Default)]
struct Stats {
    frames: AtomicU64,
    datagrams: AtomicU64,
    udp_drops: AtomicU64,
    rtmp_publishing: AtomicU64,
    rtmp_connects: AtomicU64,
    rtmp_failures: AtomicU64,
    rtmp_dropped_batches: AtomicU64,
    /// The pacer's worst lateness behind a frame's due time, in ms.
    max_late_ms: AtomicU64,
}

enum Sink {
    Udp {
        to: SocketAddr,
        mux: Box<mpegts::Muxer>,
        buf: BytesMut,
        /// Decode time of the last PAT/PMT written, 90 kHz.
        last_psi_90k: Option<i64>,
    },
    Rtmp(mpsc::Sender<Vec<Frame>>),
}

struct Channel {
    /// Behind channel 0 by this much, 90 kHz.
    offset_90k: i64,
    next: u64,
    sink: Sink,
}

/// `atoll-load feed …`: returns the exit code and the result line, or `None` for `--help`.
pub fn run_feed_args(args: &[String]) -> Result<Option<(i32, String)>, String> {
    let Some(cfg) = parse(args)? else {
        return Ok(None);
    };
    let replay = Arc::new(load_ts(&cfg.file)?);
    eprintln!(
        "atoll-load feed: {} frames, {:.1} s a loop; {} UDP + {} RTMP channels",
        replay.len(),
        replay.period_90k() as f64 / 90_000.0,
        if cfg.udp.is_some() { cfg.udp_count } else { 0 },
        if cfg.rtmp.is_some() {
            cfg.rtmp_count
        } else {
            0
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(feed(cfg, replay)).map(Some)
}

async fn feed(cfg: FeedConfig, replay: Arc<Replay>) -> Result<(i32, String), String> {
    let stats = Arc::new(Stats::default());
    let sock = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("udp socket: {e}"))?;
    sock.set_nonblocking(true)
        .map_err(|e| format!("udp socket: {e}"))?;
    let mut channels = Vec::new();
    if let Some(a) = cfg.udp {
        for i in 0..cfg.udp_count {
            let mut to = a;
            to.set_port(a.port() + i);
            channels.push(Sink::Udp {
                to,
                mux: Box::new(mpegts::Muxer::new(replay.info())),
                buf: BytesMut::new(),
                last_psi_90k: None,
            });
        }
    }
    if let Some(url) = &cfg.rtmp {
        for n in 1..=cfg.rtmp_count {
            // a few seconds of batches; a publisher further behind drops (and waits for a key)
            let (tx, rx) = mpsc::channel(512);
            let url = url.replace("{n}", &n.to_string());
            tokio::spawn(rtmp_channel(url, replay.info().clone(), rx, stats.clone()));
            channels.push(Sink::Rtmp(tx));
        }
    }
    let n = channels.len() as i64;
    let stagger_90k = (cfg.stagger.as_secs_f64() * 90_000.0) as i64;
    let mut channels: Vec<Channel> = channels
        .into_iter()
        .enumerate()
        .map(|(i, sink)| Channel {
            offset_90k: stagger_90k * i as i64 / n,
            next: 0,
            sink,
        })
        .collect();

    let start = Instant::now();
    let mut report_at = start + Duration::from_secs(10);
    let mut next_tick = start;
    loop {
        let now = Instant::now();
        if cfg.duration.is_some_and(|d| now - start >= d) {
            break;
        }
        let now_90k = ((now - start).as_secs_f64() * 90_000.0) as i64;
        for ch in &mut channels {
            let mut batch = Vec::new();
            while replay.due_90k(ch.next) + ch.offset_90k <= now_90k {
                let late_ms = (now_90k - replay.due_90k(ch.next) - ch.offset_90k) / 90;
                stats
                    .max_late_ms
                    .fetch_max(late_ms as u64, Ordering::Relaxed);
                batch.push(replay.frame(ch.next));
                ch.next += 1;
            }
            if batch.is_empty() {
                continue;
            }
            stats
                .frames
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            match &mut ch.sink {
                Sink::Udp {
                    to,
                    mux,
                    buf,
                    last_psi_90k,
                } => {
                    for f in &batch {
                        // PAT/PMT before every video keyframe and at least every 100 ms
                        let key = f.track == Track::Video && f.keyframe;
                        if key || last_psi_90k.map_or(true, |t| f.dts_90k.0 - t >= 9000) {
                            mux.write_psi(buf);
                            *last_psi_90k = Some(f.dts_90k.0);
                        }
                        mux.write_frame(f, buf);
                    }
                    for d in whole_datagrams(buf) {
                        match sock.send_to(&d, *to) {
                            Ok(_) => stats.datagrams.fetch_add(1, Ordering::Relaxed),
                            Err(_) => stats.udp_drops.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                }
                Sink::Rtmp(tx) => {
                    if tx.try_send(batch).is_err() {
                        stats.rtmp_dropped_batches.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        if now >= report_at {
            report_at += Duration::from_secs(10);
            eprintln!("atoll-load feed: {}", summary(&stats, start.elapsed()));
        }
        next_tick += cfg.tick;
        if next_tick < Instant::now() {
            next_tick = Instant::now();
        }
        tokio::time::sleep_until(next_tick.into()).await;
    }
    let line = summary(&stats, start.elapsed());
    let failed = stats.rtmp_publishing.load(Ordering::Relaxed)
        < if cfg.rtmp.is_some() {
            cfg.rtmp_count as u64
        } else {
            0
        };
    Ok((i32::from(failed), line))
}

fn summary(s: &Stats, elapsed: Duration) -> String {
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    format!(
        "elapsed_s={:.0} frames={} udp_datagrams={} udp_drops={} rtmp_publishing={} \
         rtmp_connects={} rtmp_failures={} rtmp_dropped_batches={} max_late_ms={}",
        elapsed.as_secs_f64(),
        l(&s.frames),
        l(&s.datagrams),
        l(&s.udp_drops),
        l(&s.rtmp_publishing),
        l(&s.rtmp_connects),
        l(&s.rtmp_failures),
        l(&s.rtmp_dropped_batches),
        l(&s.max_late_ms),
    )
}

/// One RTMP channel: publishes `url`, sends the batches it gets, reconnects every second.
async fn rtmp_channel(
    url: String,
    info: StreamInfo,
    mut rx: mpsc::Receiver<Vec<Frame>>,
    stats: Arc<Stats>,
) {
    let mut last_err = String::new();
    loop {
        match publish(&url, &info, &mut rx, &stats).await {
            Ok(()) => return, // the pacer ended
            Err(e) => {
                stats.rtmp_failures.fetch_add(1, Ordering::Relaxed);
                if e != last_err {
                    eprintln!("atoll-load feed: {url}: {e}");
                    last_err = e;
                }
            }
        }
        // drop what came meanwhile, then try again
        let until = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(_) => break,
            }
        }
    }
}

async fn publish(
    url: &str,
    info: &StreamInfo,
    rx: &mut mpsc::Receiver<Vec<Frame>>,
    stats: &Stats,
) -> Result<(), String> {
    let u = rtmp::RtmpUrl::parse(url).map_err(|e| e.to_string())?;
    let mut s = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect((u.host.as_str(), u.port)),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    stats.rtmp_connects.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; rtmp::HANDSHAKE_RANDOM_LEN];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31) ^ 0x5a;
    }
    let mut c = rtmp::ClientSession::publish(rtmp::ClientConfig::default(), u, random);
    let mut buf = vec![0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // handshake, connect, createStream, publish (the frames meanwhile are dropped)
    'start: loop {
        while let Some(b) = c.poll_transmit() {
            s.write_all(&b).await.map_err(|e| format!("write: {e}"))?;
        }
        while let Some(ev) = c.poll_event() {
            match ev {
                rtmp::ClientEvent::PublishStarted => break 'start,
                rtmp::ClientEvent::Error(e) => return Err(format!("refused: {e}")),
                _ => {}
            }
        }
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) => return Err("closed by the server".into()),
                Ok(n) => c.push(&buf[..n]).map_err(|e| e.to_string())?,
                Err(e) => return Err(format!("read: {e}")),
            },
            b = rx.recv() => if b.is_none() { return Ok(()) },
            _ = tokio::time::sleep_until(deadline) => return Err("no Publish.Start in 10 s".into()),
        }
    }
    c.send_info(info).map_err(|e| e.to_string())?;
    stats.rtmp_publishing.fetch_add(1, Ordering::Relaxed);
    let r = publishing(&mut c, &mut s, rx, info.video.is_some(), &mut buf).await;
    stats.rtmp_publishing.fetch_sub(1, Ordering::Relaxed);
    r
}

async fn publishing(
    c: &mut rtmp::ClientSession,
    s: &mut TcpStream,
    rx: &mut mpsc::Receiver<Vec<Frame>>,
    has_video: bool,
    buf: &mut [u8],
) -> Result<(), String> {
    let mut wait_key = has_video;
    loop {
        while let Some(b) = c.poll_transmit() {
            s.write_all(&b).await.map_err(|e| format!("write: {e}"))?;
        }
        while let Some(ev) = c.poll_event() {
            match ev {
                rtmp::ClientEvent::Error(e) => return Err(format!("refused: {e}")),
                rtmp::ClientEvent::StreamEnd => return Err("the server ended the stream".into()),
                _ => {}
            }
        }
        tokio::select! {
            r = s.read(buf) => match r {
                Ok(0) => return Err("closed by the server".into()),
                Ok(n) => c.push(&buf[..n]).map_err(|e| e.to_string())?,
                Err(e) => return Err(format!("read: {e}")),
            },
            b = rx.recv() => {
                let Some(batch) = b else {
                    let _ = c.unpublish();
                    while let Some(b) = c.poll_transmit() {
                        let _ = s.write_all(&b).await;
                    }
                    return Ok(());
                };
                for f in &batch {
                    if wait_key {
                        if f.track == Track::Video && f.keyframe {
                            wait_key = false;
                        } else {
                            continue;
                        }
                    }
                    c.send_media(f).map_err(|e| e.to_string())?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use media::Codec;

    fn frame(track: Track, dts: i64, pts: i64, key: bool) -> MediaEvent {
        MediaEvent::Frame(Frame {
            track,
            codec: if track == Track::Video {
                Codec::H264
            } else {
                Codec::Aac
            },
            pts_90k: Ts90k(pts),
            dts_90k: Ts90k(dts),
            keyframe: key,
            data: Bytes::from_static(b"x"),
        })
    }

    /// 25 fps video from dts 126000 (1.4 s, as ffmpeg starts), a B-frame delay, 3 frames, and
    /// AAC frames in between; an audio frame and a non-key video frame before the first key.
    fn clip() -> Vec<MediaEvent> {
        vec![
            frame(Track::Audio(0), 122_000, 122_000, true),
            frame(Track::Video, 122_400, 129_600, false),
            frame(Track::Video, 126_000, 133_200, true),
            frame(Track::Audio(0), 127_000, 127_000, true),
            frame(Track::Video, 129_600, 136_800, false),
            frame(Track::Audio(0), 128_920, 128_920, true),
            frame(Track::Video, 133_200, 140_400, false),
        ]
    }

    #[test]
    fn starts_on_a_keyframe_at_zero_in_decode_order() {
        let r = Replay::new(clip()).unwrap();
        assert_eq!(r.len(), 5);
        let f0 = r.frame(0);
        assert!(f0.keyframe && f0.track == Track::Video);
        assert_eq!((f0.dts_90k.0, f0.pts_90k.0), (0, 7200));
        let dts: Vec<i64> = (0..5).map(|k| r.frame(k).dts_90k.0).collect();
        assert_eq!(dts, vec![0, 1000, 2920, 3600, 7200]);
        // span 7200 + one video interval 3600
        assert_eq!(r.period_90k(), 10_800);
    }

    #[test]
    fn loops_with_continuous_increasing_times() {
        let r = Replay::new(clip()).unwrap();
        let n = r.len() as u64;
        let mut last = -1;
        for k in 0..3 * n {
            let f = r.frame(k);
            assert_eq!(
                f.dts_90k.0,
                r.due_90k(k),
                "frame {k} is due at its decode time"
            );
            assert!(
                f.dts_90k.0 > last,
                "decode times increase across loops (k={k})"
            );
            assert_eq!(
                f.pts_90k - f.dts_90k,
                r.frame(k % n).pts_90k - r.frame(k % n).dts_90k
            );
            last = f.dts_90k.0;
        }
        // the second loop's keyframe comes one video interval after the first loop's last frame
        assert_eq!(r.due_90k(n), r.due_90k(n - 1) + 3600);
        assert_eq!(r.frame(2 * n).dts_90k.0, 2 * 10_800);
    }

    #[test]
    fn audio_only_and_empty() {
        let a = Replay::new(vec![
            frame(Track::Audio(0), 0, 0, true),
            frame(Track::Audio(0), 1920, 1920, true),
        ])
        .unwrap();
        assert_eq!(a.period_90k(), 3840);
        assert!(Replay::new(vec![]).is_err());
        assert!(Replay::new(vec![frame(Track::Video, 0, 0, false)]).is_err());
    }

    #[test]
    fn datagrams_are_seven_packets_and_keep_the_rest() {
        let mut b = BytesMut::from(&vec![0x47u8; 188 * 16][..]);
        let d = whole_datagrams(&mut b);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.len() == 1316));
        assert_eq!(b.len(), 2 * 188);
    }

    #[test]
    fn parses_the_command_line() {
        let args = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let c = parse(&args(
            "--file a.ts --udp 127.0.0.1:5000 --udp-count 3 --rtmp rtmp://127.0.0.1:1935/live/c{n}?key=k{n} --rtmp-count 2 --duration 5",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(c.udp.unwrap().port(), 5000);
        assert_eq!((c.udp_count, c.rtmp_count), (3, 2));
        assert_eq!(c.duration, Some(Duration::from_secs(5)));
        assert!(parse(&args("--file a.ts")).is_err());
        assert!(parse(&args("--file a.ts --rtmp http://x/y")).is_err());
        assert!(parse(&args("--file a.ts --udp 127.0.0.1:65535 --udp-count 2")).is_err());
        assert!(parse(&args("--help")).unwrap().is_none());
    }
}
