//! ffmpeg publishes 3 s of H.264 + AAC to a ServerSession driven over a real socket.
//! Skipped (with a note) when ffmpeg is not installed.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // an integration test: real tools and files

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use media::{Codec, MediaEvent, Track};
use rtmp::{ServerConfig, ServerEvent, ServerSession, HANDSHAKE_RANDOM_LEN};

/// Panics unless ffmpeg runs: a missing tool fails the test (CI installs it).
fn require_ffmpeg() {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "ffmpeg is required for this test (apt-get install -y ffmpeg)"
    );
}

/// Runs the ffmpeg publisher against a ServerSession; returns all server events.
fn ffmpeg_publish() -> Vec<ServerEvent> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("rtmp://127.0.0.1:{port}/live/test?key=abc");
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine"])
        .args([
            "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25",
        ])
        .args(["-c:a", "aac", "-f", "flv", &url])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();

    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sock = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => {
                let _ = child.kill();
                panic!("no connection from ffmpeg: {e}");
            }
        }
    };
    sock.set_nonblocking(false).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    let mut s = ServerSession::new(ServerConfig::default(), [0x5a; HANDSHAKE_RANDOM_LEN]);
    let mut events = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut unpublished = false;
    loop {
        let n = match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read: {e}"),
        };
        s.push(&buf[..n]).expect("protocol error");
        while let Some(ev) = s.poll_event() {
            match &ev {
                ServerEvent::PublishRequest { .. } => s.accept_publish().unwrap(),
                ServerEvent::Unpublish => unpublished = true,
                _ => {}
            }
            events.push(ev);
        }
        while let Some(out) = s.poll_transmit() {
            if sock.write_all(&out).is_err() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(10),
            "too slow"
        );
    }
    s.handle_eof();
    while let Some(ev) = s.poll_event() {
        if ev == ServerEvent::Unpublish {
            unpublished = true;
        }
        events.push(ev);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "ffmpeg failed: {status}");
    assert!(unpublished);
    events
}

#[test]
fn ffmpeg_push() {
    require_ffmpeg();
    let events = ffmpeg_publish();
    assert!(
        matches!(&events[0], ServerEvent::Connect { app, tc_url } if app == "live" && tc_url.ends_with("/live"))
    );
    assert!(events.iter().any(|e| matches!(e,
        ServerEvent::PublishRequest { stream_key, query, app, .. }
            if stream_key == "test" && query == "key=abc" && app == "live")));

    let mut last_info = None;
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    for e in &events {
        match e {
            ServerEvent::Media(MediaEvent::Info(i)) => last_info = Some(i.clone()),
            ServerEvent::Media(MediaEvent::Frame(f)) => match f.track {
                Track::Video => video.push(f.clone()),
                Track::Audio(_) => audio.push(f.clone()),
                Track::Data(_) => panic!("RTMP carries no data streams"),
            },
            ServerEvent::Warning(w) => panic!("warning: {w}"),
            _ => {}
        }
    }
    let info = last_info.expect("no Info");
    let v = info.video.expect("no video config");
    assert_eq!((v.width, v.height), (320, 240));
    assert_eq!(v.codec, Some(Codec::H264));
    let a = info.audio.first().cloned().expect("no audio config");
    assert_eq!(a.codec, Some(Codec::Aac));
    assert_eq!(a.sample_rate, 44100);

    assert!(
        (70..=80).contains(&video.len()),
        "video frames: {}",
        video.len()
    );
    let keys = video.iter().filter(|f| f.keyframe).count();
    assert!((3..=4).contains(&keys), "keyframes: {keys}");
    assert!(video[0].keyframe);
    assert!(video
        .iter()
        .all(|f| f.codec == Codec::H264 && f.pts_90k >= f.dts_90k));
    assert!(video
        .iter()
        .filter(|f| f.keyframe)
        .all(|f| media::h264::is_keyframe(&f.data)));
    assert!(
        (120..=140).contains(&audio.len()),
        "audio frames: {}",
        audio.len()
    );
    assert!(audio
        .iter()
        .all(|f| f.codec == Codec::Aac && !f.data.is_empty()));
    for t in [&video, &audio] {
        assert!(
            t.windows(2).all(|w| w[1].dts_90k > w[0].dts_90k),
            "dts not monotonic"
        );
        let span = (t.last().unwrap().dts_90k - t[0].dts_90k).as_secs_f64();
        assert!((2.7..=3.1).contains(&span), "span {span}");
    }
}

/// Frames published by ffmpeg are served back to an ffmpeg player through
/// `accept_play` / `send_info` / `send_media`; ffprobe checks what it recorded.
#[test]
fn ffmpeg_play() {
    require_ffmpeg();
    let events = ffmpeg_publish();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("atoll-rtmp-play-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("out.flv");
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-i", &format!("rtmp://127.0.0.1:{port}/live/chan1")])
        .args(["-c", "copy", "-f", "flv"])
        .arg(&out_path)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sock = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => {
                let _ = child.kill();
                panic!("no connection from ffmpeg: {e}");
            }
        }
    };
    sock.set_nonblocking(false).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut s = ServerSession::new(ServerConfig::default(), [0x33; HANDSHAKE_RANDOM_LEN]);
    let mut buf = vec![0u8; 64 * 1024];
    let mut served = false;
    while !served {
        let n = sock.read(&mut buf).expect("read");
        assert!(n > 0, "player hung up early");
        s.push(&buf[..n]).expect("protocol error");
        while let Some(ev) = s.poll_event() {
            if let ServerEvent::PlayRequest { stream_name, .. } = &ev {
                assert_eq!(stream_name, "chan1");
                s.accept_play().unwrap();
                for e in &events {
                    match e {
                        ServerEvent::Media(MediaEvent::Info(i)) => s.send_info(i).unwrap(),
                        ServerEvent::Media(MediaEvent::Frame(f)) => {
                            assert!(s.send_media(f).unwrap());
                        }
                        _ => {}
                    }
                }
                s.end_play().unwrap();
                served = true;
            }
        }
        while let Some(out) = s.poll_transmit() {
            sock.write_all(&out).unwrap();
        }
    }
    // half-close: the player reads everything up to our FIN, then hangs up; wait for that (drain
    // what it sends meanwhile, so closing never resets the connection under unread data)
    sock.shutdown(std::net::Shutdown::Write).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => assert!(Instant::now() < deadline, "player did not hang up"),
            Err(e) => panic!("player did not hang up: {e}"),
        }
    }
    drop(sock);
    let status = child.wait().unwrap();
    assert!(status.success(), "ffmpeg player failed: {status}");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries"])
        .args([
            "stream=codec_name,width,height,nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(&out_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout).to_string();
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("ffprobe: {text}");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{text}");
    let aac: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(aac[0], "aac");
    let packets: usize = aac.last().unwrap().parse().unwrap();
    assert!((120..=140).contains(&packets), "{text}");
    let h264: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(&h264[..3], &["h264", "320", "240"]);
    let packets: usize = h264[3].parse().unwrap();
    assert!((70..=80).contains(&packets), "{text}");
}
