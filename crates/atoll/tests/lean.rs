//! Lean channels (issue 17) against the running binary: every per-channel buffer stays within
//! its setting while one viewer of the MPEG-TS feed reads nothing and another reads too slowly
//! (and the kernel's send buffer of the one that reads nothing within its setting too), and the
//! live window is held once (in its segment files, not also in memory); every streamed answer
//! keeps the send buffer setting; RTMP places follow the channel count.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;

const TS_BUFFER: u64 = 128 << 10;
const RECORDER_QUEUE: u64 = 1 << 20;
const SEGMENT_MAX: u64 = 150_000;
const SEND_BUFFER: u64 = 64 << 10;

fn gauge(a: &Atoll, name: &str) -> u64 {
    a.metric(&format!("{name}{{channel=\"demo\"}}"))
}

/// What the server's socket of the connection from `client_port` to `server_port` has queued
/// and not yet had acknowledged (`tx_queue` of /proc/net/tcp), or None once it is closed.
fn server_send_queue(server_port: u16, client_port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 4 && port(f[1]) == Some(server_port) && port(f[2]) == Some(client_port) {
            u64::from_str_radix(f[4].split(':').next()?, 16).ok()
        } else {
            None
        }
    })
}

/// Opens `/live/demo/mpegts` with a tiny receive buffer (the caller reads from it, or not).
fn ts_viewer(a: &Atoll) -> TcpStream {
    viewer_of(a, "/live/demo/mpegts")
}

/// Asks for `path` on a connection with a tiny receive buffer (the caller reads from it, or not).
fn viewer_of(a: &Atoll, path: &str) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", a.http)).unwrap();
    let small: libc::c_int = 4096;
    // SAFETY: setsockopt on an open socket with a valid c_int option value.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    (&s).write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .unwrap();
    s
}

#[test]
fn every_per_channel_buffer_holds_its_bound_under_stalled_and_slow_viewers() {
    let a = Atoll::start_with(
        "lean-bounds",
        &[
            ("ts_buffer_bytes", &TS_BUFFER.to_string()),
            ("recorder_queue_bytes", &RECORDER_QUEUE.to_string()),
            ("segment_max_bytes", &SEGMENT_MAX.to_string()),
            ("http_stream_send_buffer_bytes", &SEND_BUFFER.to_string()),
        ],
    );
    a.wait_playlist("demo", 2, Duration::from_secs(60));
    // one viewer reads nothing, another reads 4 KB/s of a ~40 KB/s feed: each holds only its
    // cursor in the ring, never chunks of its own (the kernel's socket buffer fills first, up to
    // `http_stream_send_buffer_bytes`; once a viewer's cursor falls off the ring it is dropped
    // and counted, and a viewer that no longer takes anything is closed by
    // `http_write_timeout_seconds`, 30 s, after this test's 20)
    let stalled = ts_viewer(&a);
    let stalled_port = stalled.local_addr().unwrap().port();
    let slow = ts_viewer(&a);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let slow_reader = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut s = slow;
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 2048];
            let mut total = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            total
        }
    });
    let start = Instant::now();
    let (mut ts_max, mut open_max, mut queue_max) = (0, 0, 0);
    let mut window_in_files_only = false;
    let (mut send_queue_max, mut send_queue_last) = (0, None);
    while start.elapsed() < Duration::from_secs(20) {
        let ts = gauge(&a, "atoll_channel_ts_buffer_bytes");
        let open = gauge(&a, "atoll_channel_open_segment_bytes");
        let queued = a.metric("atoll_recorder_queue_bytes");
        let in_memory = gauge(&a, "atoll_channel_live_memory_bytes");
        let in_files = gauge(&a, "atoll_channel_live_file_bytes");
        ts_max = ts_max.max(ts);
        open_max = open_max.max(open);
        queue_max = queue_max.max(queued);
        window_in_files_only |= in_memory == 0 && in_files > 0;
        send_queue_last = server_send_queue(a.http, stalled_port);
        send_queue_max = send_queue_max.max(send_queue_last.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ts_max > 0, "the TS feed never held anything");
    assert!(ts_max <= TS_BUFFER, "TS ring held {ts_max} > {TS_BUFFER}");
    // a segment is cut at its byte bound; one frame may pass it before the cut
    assert!(
        open_max > 0 && open_max <= SEGMENT_MAX + 100_000,
        "open segment {open_max}"
    );
    assert!(
        gauge(&a, "atoll_channel_forced_cuts_total") > 0,
        "segment_max_bytes never cut a segment: the bound was not exercised"
    );
    assert!(
        queue_max <= RECORDER_QUEUE,
        "recorder queue held {queue_max}"
    );
    assert!(
        window_in_files_only,
        "the live window was never held in its files alone"
    );
    // the viewer that reads nothing is still connected, its kernel send buffer full at the
    // setting (the kernel doubles SO_SNDBUF and may pass it by one 64 KB loopback packet;
    // TCP's autotuning alone lets a loopback socket queue megabytes)
    assert!(
        send_queue_last.is_some(),
        "the stalled viewer was closed before the write timeout"
    );
    assert!(
        send_queue_max > SEND_BUFFER / 2 && send_queue_max <= 2 * SEND_BUFFER + 65_536,
        "the stalled viewer's connection queued {send_queue_max} bytes \
         (http_stream_send_buffer_bytes = {SEND_BUFFER})"
    );
    drop(stalled);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        slow_reader.join().unwrap() > 0,
        "the slow viewer got nothing"
    );
    // a new viewer starts at the next segment start, PAT first
    let mut s = TcpStream::connect(("127.0.0.1", a.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(b"GET /live/demo/mpegts HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let body = loop {
        let n = s.read(&mut buf).expect("reading the TS feed");
        assert!(n > 0, "the TS feed closed");
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            // chunked: the first chunk's size line, then the bytes
            let rest = &got[end + 4..];
            if let Some(line) = rest.windows(2).position(|w| w == b"\r\n") {
                if rest.len() >= line + 2 + 3 {
                    break rest[line + 2..line + 5].to_vec();
                }
            }
        }
    };
    assert_eq!(
        body,
        [0x47, 0x40, 0x00],
        "a new TS viewer starts with the PAT"
    );
    // the segments served over HLS are whole from their files
    let text = a.wait_playlist("demo", 2, Duration::from_secs(30));
    let (_, segs) = check_live_playlist(&text);
    let (status, seg) = a.get(&format!("/live/demo/{}", segs[0].1));
    assert_eq!(status, 200);
    assert_eq!(seg.len() % 188, 0);
    assert_eq!(&seg[..3], &[0x47, 0x40, 0x00]);
}

/// Every other streamed answer marked for `http_stream_send_buffer_bytes` keeps its connection's
/// kernel send buffer at the setting when the viewer reads nothing: a catch-up range download,
/// an endless catch-up TS, a film's file (the player's URL and the Xtream Codes one) and the
/// Xtream Codes live `.ts` URL (the MPEG-TS feed's own URL is measured above).
#[test]
fn every_streamed_answer_keeps_the_send_buffer_setting() {
    let a = Atoll::start_with(
        "lean-streamed",
        &[
            ("http_stream_send_buffer_bytes", &SEND_BUFFER.to_string()),
            ("viewer_accounts", "true"),
        ],
    );
    let from_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let film = vod_import(&a, &fixture_clip(), "Clip", "Films");
    let (s, v) = a.api(
        "POST",
        "/api/viewers",
        Some(r#"{"username":"v","password":"pw"}"#),
    );
    assert_eq!(s, 201, "{v}");
    let (s, body) = a.get("/player_api.php?username=v&password=pw&action=get_live_streams");
    assert_eq!(s, 200);
    let streams: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let demo = streams
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["epg_channel_id"] == "demo")
        .expect("demo in the account's streams")["stream_id"]
        .as_i64()
        .unwrap();
    // the 20 s from `from_s` recorded: that range holds several times the send buffer
    a.wait_for("20 s of demo recorded", Duration::from_secs(90), || {
        let to_s = from_s + 20;
        let (_, cov) = a.api(
            "GET",
            &format!("/api/channels/demo/archive?from={from_s}&to={}", to_s + 60),
            None,
        );
        cov["intervals"].as_array().is_some_and(|iv| {
            iv.iter().any(|i| {
                i["from"].as_f64().unwrap_or(f64::MAX) <= from_s as f64
                    && i["to"].as_f64().unwrap_or(0.0) >= to_s as f64
            })
        })
    });
    for path in [
        format!("/live/demo/archive-{from_s}-20.ts"),
        format!("/live/demo/archive-{from_s}-now.ts"),
        format!("/vod/{film}/file.mp4"),
        format!("/movie/v/pw/{film}.mp4"),
        format!("/live/v/pw/{demo}.ts"),
    ] {
        let stalled = viewer_of(&a, &path);
        let port = stalled.local_addr().unwrap().port();
        let start = Instant::now();
        let mut peak = 0;
        while start.elapsed() < Duration::from_secs(8) {
            peak = peak.max(server_send_queue(a.http, port).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(100));
        }
        // bytes queued at all (so an answer was streamed), and no more than the setting allows
        assert!(
            peak > SEND_BUFFER / 2 && peak <= 2 * SEND_BUFFER + 65_536,
            "GET {path}: the stalled viewer's connection queued {peak} bytes \
             (http_stream_send_buffer_bytes = {SEND_BUFFER})"
        );
    }
}

/// `rtmp_max_connections` is what the listener allows beyond one place per channel: with it
/// at 1 and three channels, two encoders publish side by side, two silent sockets take the
/// last places, and the next connection is refused.
#[test]
fn rtmp_places_follow_the_channel_count() {
    require("ffmpeg");
    let a = Atoll::start_with(
        "lean-rtmp",
        &[
            ("rtmp_max_connections", "1"),
            ("rtmp_max_unauthenticated", "1"),
        ],
    );
    for id in ["p1", "p2"] {
        let body = serde_json::json!({"id": id, "name": id, "sources": [], "record": false});
        let (s, v) = a.api("POST", "/api/channels", Some(&body.to_string()));
        assert_eq!(s, 201, "{v}");
    }
    let clip = fixture_clip();
    let _p1 = rtmp_push_loop(&clip, &a.rtmp_url("/live/p1"));
    let _p2 = rtmp_push_loop(&clip, &a.rtmp_url("/live/p2"));
    for id in ["p1", "p2"] {
        a.wait_playlist(id, 1, Duration::from_secs(60));
        assert_eq!(a.channel(id)["state"], "live");
    }
    // 1 + 3 channels = 4 places: two publishers, two silent sockets, then refusals; and
    // 1 + 3 unauthenticated places: the two silent sockets are both kept (with the configured
    // rtmp_max_unauthenticated of 1 alone, the second would evict the first)
    let before = a.metric("atoll_rtmp_refused_connections_total");
    let evicted = a.metric("atoll_rtmp_evicted_unauthenticated_total");
    let mut silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(("127.0.0.1", a.rtmp)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        a.metric("atoll_rtmp_evicted_unauthenticated_total"),
        evicted,
        "no silent socket evicted"
    );
    for s in &mut silent {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("a silent socket within the places was closed: {other:?}"),
        }
    }
    let mut extra = TcpStream::connect(("127.0.0.1", a.rtmp)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut b = [0u8; 1];
    // closed at accept (well before the 5 s handshake timeout would close a silent one)
    match extra.read(&mut b) {
        Ok(0) => {}
        Err(e) if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a connection beyond the places was accepted: {other:?}"),
    }
    assert!(a.metric("atoll_rtmp_refused_connections_total") > before);
    // both channels still live
    std::thread::sleep(Duration::from_secs(2));
    for id in ["p1", "p2"] {
        assert_eq!(a.channel(id)["state"], "live", "{id}");
    }
}

/// A channel with many viewers moves its next live segments from memfds to page-cache files in
/// `<data>/live-segments` (cheaper to `sendfile` at thousands of viewers), served whole from
/// there; an unwatched one writes nothing to disk.
#[test]
fn a_popular_channel_serves_its_segments_from_page_cache_files() {
    let a = Atoll::start_with("lean-popular", &[("live_segment_disk_requests", "4")]);
    let on_disk = |a: &Atoll| a.metric("atoll_channel_live_segments_on_disk{channel=\"demo\"}");
    a.wait_playlist("demo", 2, Duration::from_secs(60));
    assert_eq!(
        on_disk(&a),
        0,
        "an unwatched channel's segments went to disk"
    );
    let dir = a.dir.join("data").join("live-segments");
    assert!(dir.is_dir(), "{} was not made", dir.display());
    // five viewers, each taking the newest segment about once a second
    let start = Instant::now();
    while on_disk(&a) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no segment went to disk with five viewers"
        );
        let (status, text) = a.get("/live/demo/index.m3u8");
        assert_eq!(status, 200);
        let newest = check_live_playlist(&String::from_utf8_lossy(&text))
            .1
            .last()
            .unwrap()
            .1
            .clone();
        for _ in 0..5 {
            assert_eq!(a.get(&format!("/live/demo/{newest}")).0, 200);
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    // the server holds segment files in that directory (unlinked, so only its descriptors
    // show them), and a segment from one is whole
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", a.child.id()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        fds.iter().any(|p| p.contains("live-segments")),
        "no open file in live-segments: {fds:?}"
    );
    let text = a.get("/live/demo/index.m3u8").1;
    let (_, segs) = check_live_playlist(&String::from_utf8_lossy(&text));
    let newest = &segs.last().unwrap().1;
    let (status, seg) = a.get(&format!("/live/demo/{newest}"));
    assert_eq!(status, 200);
    assert!(
        seg.len() > 188 && seg.len() % 188 == 0,
        "{} bytes",
        seg.len()
    );
    assert_eq!(&seg[..3], &[0x47, 0x40, 0x00]);
}
