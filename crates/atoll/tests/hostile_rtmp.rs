//! Hostile RTMP clients against the running binary: memory stays bounded, idle connections are
//! dropped and capped, publish keys cannot be brute-forced; real publishers keep working.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use common::*;

const T: Duration = Duration::from_secs(30);
const MIB_KIB: u64 = 1024;

fn create_channel(a: &Atoll, id: &str, key: Option<&str>) {
    let key = key.map_or(String::new(), |k| format!(r#","publish_key":"{k}""#));
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(&format!(
            r#"{{"id":"{id}","name":"{id}","sources":[]{key}}}"#
        )),
    );
    assert_eq!(s, 201, "{v}");
}

/// The newest segment of the live playlist (None while there is none).
fn newest_segment(a: &Atoll, id: &str) -> Option<String> {
    let (s, b) = a.get(&format!("/live/{id}/index.m3u8"));
    if s != 200 {
        return None;
    }
    String::from_utf8_lossy(&b)
        .lines()
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
}

/// Waits until the channel publishes a segment newer than the one it has now.
fn wait_new_segment(a: &Atoll, id: &str) {
    let seg = newest_segment(a, id);
    a.wait_for(&format!("{id} keeps making segments"), T, || {
        let now = newest_segment(a, id);
        now.is_some() && now != seg
    });
}

/// Runs `attack` on a thread while sampling the server's RSS every 10 ms; returns the peak
/// (KiB) seen until the attack returned and `settle` more.
fn peak_rss_during(pid: u32, settle: Duration, attack: impl FnOnce() + Send + 'static) -> u64 {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let t = std::thread::spawn(move || {
        attack();
        d.store(true, Ordering::SeqCst);
    });
    let mut peak = 0;
    let mut done_at = None;
    let start = Instant::now();
    loop {
        peak = peak.max(rss_kib(pid));
        if done.load(Ordering::SeqCst) {
            let at = *done_at.get_or_insert_with(Instant::now);
            if at.elapsed() > settle {
                break;
            }
        }
        assert!(start.elapsed() < T, "attack did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    t.join().unwrap();
    peak
}

/// Bytes of one chunk written by [`unfinished_chunk_streams`].
const CHUNK_BYTES: usize = 3 + 11 + 128;

/// The first chunk (fmt 0, 128 bytes) of a 1,000-byte video message on each of `n` chunk streams.
fn unfinished_chunk_streams(n: u32) -> Vec<u8> {
    let mut b = BytesMut::new();
    for i in 0..n {
        let csid = 320 + i; // 3-byte basic header form
        let c = csid - 64;
        b.put_u8(1);
        b.put_u8(c as u8);
        b.put_u8((c >> 8) as u8);
        b.put_slice(&[0, 0, 0]); // timestamp
        b.put_slice(&1000u32.to_be_bytes()[1..]); // length
        b.put_u8(9); // video
        b.put_u32_le(1); // message stream id
        b.put_slice(&[0x17; 128]);
    }
    b.to_vec()
}

#[test]
fn sixteen_thousand_unfinished_chunk_streams_drop_the_connection_and_memory_stays_bounded() {
    let clip = fixture_clip();
    let a = Atoll::start("hostile-rtmp-chunks");
    create_channel(&a, "news", None);
    let _push = rtmp_push_loop(&clip, &a.rtmp_url("/live/news"));
    a.wait_playlist("news", 1, T);
    let base = rss_kib(a.child.id());

    let mut attacker = rtmp_handshake(a.rtmp);
    let mut w = attacker.try_clone().unwrap();
    w.set_nodelay(true).unwrap();
    let bytes = unfinished_chunk_streams(16_000);
    let peak = peak_rss_during(a.child.id(), Duration::from_millis(500), move || {
        // one chunk per write, so each lands in its own read (on the old decoder each
        // unfinished message then pinned a whole read buffer); the server closes mid-way:
        // a write error is the expected end
        for part in bytes.chunks(CHUNK_BYTES) {
            if w.write_all(part).is_err() {
                break;
            }
        }
    });
    assert!(
        peak < base + 100 * MIB_KIB,
        "RSS grew from {base} KiB to {peak} KiB"
    );
    assert!(
        closed_within(&mut attacker, Duration::from_secs(5)),
        "the connection holding 16,000 chunk streams must be dropped"
    );
    a.wait_for("the drop logged", T, || {
        let log = a.log_text();
        log.contains("rtmp connection dropped") && log.contains("chunk streams")
    });
    // the real publisher on another connection keeps going
    wait_new_segment(&a, "news");
    assert_eq!(a.channel("news")["state"], "live");
}

/// connect("connect", 1, [null × n]) as one command message of `len` bytes, with a chunk size
/// large enough to send it in one chunk.
fn huge_amf_command(len: usize) -> Vec<u8> {
    let mut p = BytesMut::new();
    rtmp::Amf0Value::str("connect").encode(&mut p);
    rtmp::Amf0Value::Number(1.0).encode(&mut p);
    let n = len - p.len() - 5;
    p.put_u8(0x0a); // strict array
    p.put_u32(n as u32); // declared count = every byte left, all present
    p.resize(len, 0x05); // nulls
    let mut enc = rtmp::ChunkEncoder::new();
    let mut out = BytesMut::new();
    enc.set_chunk_size(1 << 24, &mut out);
    enc.write(
        &rtmp::Message {
            csid: 3,
            timestamp: 0,
            type_id: 20,
            stream_id: 0,
            payload: p.freeze(),
        },
        &mut out,
    );
    out.to_vec()
}

fn amf_attack(a: &Atoll) -> u64 {
    let base = rss_kib(a.child.id());
    let mut attacker = rtmp_handshake(a.rtmp);
    let mut w = attacker.try_clone().unwrap();
    let bytes = huge_amf_command((16 << 20) - 1);
    let peak = peak_rss_during(a.child.id(), Duration::from_millis(500), move || {
        for part in bytes.chunks(256 * 1024) {
            if w.write_all(part).is_err() {
                break;
            }
        }
    });
    let grew = peak.saturating_sub(base);
    assert!(grew < 100 * MIB_KIB, "RSS grew by {grew} KiB");
    assert!(
        closed_within(&mut attacker, Duration::from_secs(10)),
        "the connection sending a 16 M-element AMF array must be dropped"
    );
    grew
}

#[test]
fn a_huge_declared_amf_array_is_refused_without_a_memory_spike() {
    // defaults: commands are capped at 64 KiB, the message is refused from its header
    let a = Atoll::start("hostile-rtmp-amf");
    let grew = amf_attack(&a);
    assert!(grew < 100 * MIB_KIB, "RSS grew by {grew} KiB");
    a.wait_for("the drop logged", T, || {
        a.log_text().contains("rtmp connection dropped")
    });
    assert_eq!(a.get("/healthz").0, 200);
    drop(a);
    // with the size caps raised, the AMF decoder itself stays bounded
    let a = Atoll::start_with(
        "hostile-rtmp-amf-raised",
        &[
            ("rtmp_max_command_bytes", "16777215"),
            ("rtmp_max_connection_buffer_bytes", "67108864"),
        ],
    );
    let grew = amf_attack(&a);
    assert!(grew < 100 * MIB_KIB, "RSS grew by {grew} KiB");
    a.wait_for("the AMF limit logged", T, || {
        a.log_text().contains("AMF0: more than")
    });
    assert_eq!(a.get("/healthz").0, 200);
}

#[test]
fn connections_that_never_publish_are_capped_and_dropped_and_a_publisher_still_gets_in() {
    let clip = fixture_clip();
    let a = Atoll::start_with(
        "hostile-rtmp-idle",
        &[
            ("rtmp_handshake_timeout_ms", "2000"),
            ("rtmp_max_unauthenticated", "8"),
            ("rtmp_max_connections", "40"),
        ],
    );
    create_channel(&a, "news", None);
    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = (0..30)
        .map(|_| TcpStream::connect(("127.0.0.1", a.rtmp)).unwrap())
        .collect();
    // the newest 10 stay — rtmp_max_unauthenticated 8 + one place per channel (demo and news)
    // — each newcomer evicting the one waiting longest
    let open_now = |idle: &mut Vec<TcpStream>| {
        let mut n = 0;
        for s in idle.iter_mut() {
            if !closed_within(s, Duration::from_millis(20)) {
                n += 1;
            }
        }
        n
    };
    let mut open = 0;
    a.wait_for("at most 10 unauthenticated connections", T, || {
        open = open_now(&mut idle);
        open <= 10
    });
    assert!(
        opened.elapsed() < Duration::from_millis(1500),
        "the cap must act at once, not by the timeout"
    );
    assert!(
        open >= 1,
        "the newest connections are kept until their deadline"
    );
    // a real encoder gets in while the idle ones are held and new silent ones keep coming
    // (they evict each other, not the encoder that is talking)
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (stop, port) = (stop.clone(), a.rtmp);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                for _ in 0..10 {
                    if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                        held.push(s);
                    }
                }
                held.retain_mut(|s| !closed_within(s, Duration::from_millis(1)));
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let _push = rtmp_push_loop(&clip, &a.rtmp_url("/live/news"));
    a.wait_for("news live", T, || a.channel("news")["state"] == "live");
    stop.store(true, Ordering::SeqCst);
    churn.join().unwrap();
    // every idle connection is gone
    for s in idle.iter_mut() {
        assert!(
            closed_within(s, Duration::from_secs(5)),
            "an idle connection outlived the handshake timeout"
        );
    }
    // connections under the cap go at their deadline (not before)
    let opened = Instant::now();
    let mut late: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(("127.0.0.1", a.rtmp)).unwrap())
        .collect();
    for s in late.iter_mut() {
        assert!(
            closed_within(s, Duration::from_secs(6)),
            "an idle connection outlived the handshake timeout"
        );
    }
    let took = opened.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(5),
        "dropped after {took:?}, the deadline is 2 s"
    );
    assert!(a.log_text().contains("no accepted publish within 2000 ms"));
    // the publisher, authenticated, is not subject to the deadline
    wait_new_segment(&a, "news");
    assert_eq!(a.channel("news")["state"], "live");
}

#[test]
fn total_rtmp_connections_are_capped() {
    let a = Atoll::start_with(
        "hostile-rtmp-total",
        &[
            ("rtmp_handshake_timeout_ms", "1500"),
            ("rtmp_max_unauthenticated", "10"),
            // beyond one place per channel (demo and news): 4 in all
            ("rtmp_max_connections", "2"),
        ],
    );
    create_channel(&a, "news", None);
    for round in 0..2 {
        let mut conns: Vec<TcpStream> = (0..10)
            .map(|_| TcpStream::connect(("127.0.0.1", a.rtmp)).unwrap())
            .collect();
        let mut open = 0;
        for s in conns.iter_mut() {
            if !closed_within(s, Duration::from_millis(300)) {
                open += 1;
            }
        }
        assert_eq!(open, 4, "round {round}: the total cap holds");
        // the held ones go at their deadline; then a publisher gets in (the listener is alive)
        for s in conns.iter_mut() {
            assert!(closed_within(s, Duration::from_secs(5)));
        }
        let url = a.rtmp_url("/live/news");
        let mut ok = false;
        a.wait_for("a publisher accepted after the idle ones left", T, || {
            ok = rtmp_publish_attempt(&url, Duration::from_secs(5)).is_ok();
            ok
        });
        // our publisher hung up: wait until the server has let its connection go
        a.wait_for("the publisher's connection ended", T, || {
            a.log_text().matches("rtmp publish ended").count() > round
        });
    }
    assert!(a.log_text().contains("rtmp connection refused"));
    // 6 refused per round, counted in /metrics
    let m = String::from_utf8(a.get("/metrics").1).unwrap();
    // (at least: a publisher attempt may also have come while the last held ones left)
    let refused: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("atoll_rtmp_refused_connections_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{m}"));
    assert!(refused >= 12, "{m}");
}

#[test]
fn publish_key_brute_force_backs_off_the_address() {
    let a = Atoll::start_with(
        "hostile-rtmp-keys",
        &[
            ("rtmp_key_max_failures", "5"),
            ("rtmp_key_failure_window_ms", "10000"),
            ("rtmp_key_backoff_ms", "3000"),
        ],
    );
    create_channel(&a, "news", Some("s3cret"));
    let url = |key: &str| a.rtmp_url(&format!("/live/news?key={key}"));
    let wait = Duration::from_secs(10);
    for i in 0..20 {
        let r = rtmp_publish_attempt(&url(&format!("guess-{i}")), wait);
        assert!(r.is_err(), "wrong key {i} accepted");
    }
    let last_failure = Instant::now();
    // the right key, at once: refused during the back-off
    let r = rtmp_publish_attempt(&url("s3cret"), wait);
    assert!(
        r.as_ref().is_err_and(|e| e.contains("Unauthorized")),
        "the right key must be refused during the back-off: {r:?}"
    );
    let log = a.log_text();
    assert!(log.contains("rtmp publish refused"), "{log}");
    assert!(log.contains("127.0.0.1"), "the address is logged");
    assert!(log.contains("news"), "the channel is logged");
    assert!(
        log.contains("wrong publish key; address refused for 3 s"),
        "the failure that starts the back-off is logged: {log}"
    );
    assert_eq!(
        log.matches("wrong publish key").count(),
        5,
        "attempts during the back-off do not flood the log: {log}"
    );
    assert!(!log.contains("guess-"), "keys are never logged");
    assert!(!log.contains("s3cret"), "keys are never logged");
    // accepted once the back-off has passed
    let mut accepted = false;
    a.wait_for("the right key accepted after the back-off", T, || {
        accepted = rtmp_publish_attempt(&url("s3cret"), wait).is_ok();
        accepted
    });
    assert!(
        last_failure.elapsed() >= Duration::from_millis(2500),
        "accepted before the back-off ended ({:?})",
        last_failure.elapsed()
    );
}
