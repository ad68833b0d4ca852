//! Demuxes small Matroska files written by ffmpeg (H.264 + AAC + SRT subtitles), as a file
//! and streamed to a pipe (unknown sizes). Skipped, with a message, when ffmpeg or libx264 is
//! missing.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use mkv::subtitle::{self, Cue};
use mkv::{Demuxer, Event, Frame, Limits, TrackEntry, TrackKind};

const SRT: &str = "1\n00:00:00,500 --> 00:00:01,200\nHello <i>there</i>\n\n\
                   2\n00:00:01,300 --> 00:00:01,900\nSecond line\ntwo rows\n";

fn ffmpeg_with_libx264() -> bool {
    let Ok(out) = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
    else {
        eprintln!("SKIP: ffmpeg not found");
        return false;
    };
    if !String::from_utf8_lossy(&out.stdout).contains("libx264") {
        eprintln!("SKIP: ffmpeg has no libx264 encoder");
        return false;
    }
    true
}

/// Runs ffmpeg writing Matroska to `output` ("pipe:1" for stdout); returns the file bytes.
fn make_mkv(dir: &Path, output: &str) -> Vec<u8> {
    let srt = dir.join("subs.srt");
    std::fs::write(&srt, SRT).expect("write srt");
    let mut cmd = Command::new("ffmpeg");
    cmd.current_dir(dir).args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=d=2",
        "-i",
        "subs.srt",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "2:s",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-c:s",
        "srt",
        "-metadata:s:a:0",
        "language=fre",
        "-f",
        "matroska",
        output,
    ]);
    let out = cmd.output().expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if output == "pipe:1" {
        out.stdout
    } else {
        std::fs::read(dir.join(output)).expect("read output")
    }
}

/// Demuxes `data` pushed in pseudo-random chunk sizes (1 byte to 64 KiB).
fn demux_random_chunks(data: &[u8], seed: u64) -> Vec<Event> {
    let mut d = Demuxer::new(Limits::default());
    let mut events = Vec::new();
    let mut x = seed;
    let mut at = 0;
    while at < data.len() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let max = [1usize, 7, 188, 4096, 65536][(x >> 60) as usize % 5];
        let n = ((x >> 33) as usize % max + 1).min(data.len() - at);
        d.push(&data[at..at + n]);
        at += n;
        while let Some(ev) = d.poll().expect("valid file") {
            events.push(ev);
        }
    }
    d.finish().expect("complete file");
    events
}

fn check(data: &[u8], what: &str) {
    let reference = demux_random_chunks(data, 0);
    for seed in 1..4 {
        assert_eq!(
            demux_random_chunks(data, seed),
            reference,
            "{what}: chunking changed the events"
        );
    }
    let events = reference;
    assert_eq!(
        events[0],
        Event::Header {
            doc_type: "matroska".into()
        }
    );
    let tracks: Vec<TrackEntry> = events
        .iter()
        .find_map(|e| match e {
            Event::Tracks(t) => Some(t.clone()),
            _ => None,
        })
        .expect("tracks");
    assert_eq!(tracks.len(), 3, "{what}: {tracks:?}");
    let video = tracks
        .iter()
        .find(|t| t.kind == TrackKind::Video)
        .expect("video");
    let audio = tracks
        .iter()
        .find(|t| t.kind == TrackKind::Audio)
        .expect("audio");
    let subs = tracks
        .iter()
        .find(|t| t.kind == TrackKind::Subtitle)
        .expect("subtitles");
    assert_eq!(video.codec_id, "V_MPEG4/ISO/AVC");
    assert_eq!((video.width, video.height), (160, 120));
    assert_eq!(
        video.codec_private.as_ref().map(|p| p[0]),
        Some(1),
        "avcC version"
    );
    assert_eq!(audio.codec_id, "A_AAC");
    assert_eq!(audio.language.as_deref(), Some("fre"));
    assert_eq!(audio.channels, 1);
    assert_eq!(audio.sample_rate, 44100.0);
    assert!(audio.codec_private.as_ref().is_some_and(|p| p.len() >= 2));
    assert_eq!(subs.codec_id, "S_TEXT/UTF8");

    let frames: Vec<&Frame> = events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f),
            _ => None,
        })
        .collect();
    let of = |n: u64| frames.iter().filter(|f| f.track == n).collect::<Vec<_>>();
    let vframes = of(video.number);
    assert_eq!(vframes.len(), 50, "{what}: video frames");
    assert!(
        vframes[0].keyframe,
        "{what}: the first video frame is a keyframe"
    );
    // ffmpeg may shift the start (B-frame delay) by a few ms
    assert!((0..=100_000_000).contains(&vframes[0].pts_ns), "{what}");
    let keys: Vec<i64> = vframes
        .iter()
        .filter(|f| f.keyframe)
        .map(|f| f.pts_ns)
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{what}: {keys:?}");
    let mut pts: Vec<i64> = vframes.iter().map(|f| f.pts_ns).collect();
    pts.sort_unstable();
    let start = pts[0];
    assert_eq!(
        pts,
        (0..50).map(|i| start + i * 40_000_000).collect::<Vec<_>>(),
        "{what}: 25 fps"
    );
    let aframes = of(audio.number);
    assert!(
        (85..=90).contains(&aframes.len()),
        "{what}: {} audio frames",
        aframes.len()
    );
    let sub_frames: Vec<(i64, Option<u64>, Bytes)> = of(subs.number)
        .iter()
        .map(|f| {
            (
                f.pts_ns / 1_000_000,
                f.duration_ns.map(|d| d / 1_000_000),
                f.data.clone(),
            )
        })
        .collect();
    let mut cues = subtitle::cues_from_frames(&sub_frames, &subs.codec_id);
    // ffmpeg shifts the non-audio streams by the same few ms (B-frame delay): undo it
    let shift = cues.first().map_or(0, |c| c.start_ms - 500);
    assert!((0..=100).contains(&shift), "{what}: {cues:?}");
    for c in &mut cues {
        c.start_ms -= shift;
        c.end_ms -= shift;
    }
    assert_eq!(
        cues,
        vec![
            Cue {
                start_ms: 500,
                end_ms: 1200,
                text: "Hello <i>there</i>".into()
            },
            Cue {
                start_ms: 1300,
                end_ms: 1900,
                text: "Second line\ntwo rows".into()
            },
        ],
        "{what}"
    );
    assert_eq!(subtitle::parse_srt(SRT), Ok(cues));
}

#[test]
fn ffmpeg_h264_aac_srt() {
    if !ffmpeg_with_libx264() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mkv-ffmpeg-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = make_mkv(&dir, "out.mkv");
    let piped = make_mkv(&dir, "pipe:1");
    let _ = std::fs::remove_dir_all(&dir);
    check(&file, "seekable file");
    check(&piped, "piped (unknown sizes)");
    corrupted_never_panic(&file);
    corrupted_never_panic(&piped);
}

/// Flipped bytes and truncations of a real file: errors, never panics.
fn corrupted_never_panic(data: &[u8]) {
    let mut x = 12345u64;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    for _ in 0..300 {
        let mut bad = data.to_vec();
        for _ in 0..next() % 8 + 1 {
            let i = next() % bad.len();
            bad[i] = next() as u8;
        }
        bad.truncate(next() % (bad.len() + 1));
        let chunk = next() % 5000 + 1;
        let mut d = Demuxer::new(Limits::default());
        'outer: for part in bad.chunks(chunk) {
            d.push(part);
            loop {
                match d.poll() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
        }
        let _ = d.finish();
    }
}
