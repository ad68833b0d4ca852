//! Interop tests against ffmpeg / ffprobe. The tools are required: a missing tool, or an ffmpeg
//! that cannot encode a codec under test, fails the test (CI installs them).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // an integration test: real tools and files

use std::path::PathBuf;
use std::process::Command;

use bytes::{Bytes, BytesMut};
use media::{h264, AudioConfig, Codec, Frame, MediaEvent, StreamInfo, Track, Ts90k};
use mpegts::{Demuxer, Muxer};

/// Panics unless `tool` runs (`apt-get install -y ffmpeg`).
fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} is required for these tests (apt-get install -y ffmpeg)"
    );
}

/// A temp file path that is removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        TempPath(std::env::temp_dir().join(format!("mpegts-test-{}-{name}", std::process::id())))
    }
    fn as_str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs a tool; returns (success, stdout, stderr).
fn run(tool: &str, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(tool).args(args).output().expect("spawn tool");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `ffprobe -show_streams` as `codec_type|codec_name|width|height|sample_rate|channels` lines.
fn probe_streams(path: &str) -> Vec<String> {
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height,sample_rate,channels",
            "-of",
            "compact=p=0:nk=1",
            path,
        ],
    );
    assert!(ok, "ffprobe failed: {err}");
    // the program's stream list comes first, then a blank line, then the file's streams
    let streams = out.rsplit("\n\n").next().unwrap_or("");
    streams
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Decodes the whole file; returns ffmpeg's error output (empty when clean).
fn decode_errors(path: &str) -> String {
    let (ok, _, err) = run("ffmpeg", &["-v", "error", "-i", path, "-f", "null", "-"]);
    assert!(ok, "ffmpeg decode failed: {err}");
    err
}

fn count_frames(path: &str, stream: &str) -> u64 {
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            stream,
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            path,
        ],
    );
    assert!(ok, "ffprobe failed: {err}");
    out.trim().parse().unwrap_or(0)
}

fn demux(data: &[u8]) -> (Vec<MediaEvent>, mpegts::DemuxStats) {
    let mut d = Demuxer::new();
    let mut ev = Vec::new();
    // odd chunk sizes, as from a network
    for piece in data.chunks(1000) {
        d.push(piece, &mut ev);
    }
    d.flush(&mut ev);
    (ev, d.stats())
}

/// Re-muxes demuxed events the way the HLS segmenter does: PSI before every video keyframe.
fn remux(ev: &[MediaEvent]) -> BytesMut {
    let mut m = Muxer::new(&StreamInfo::default());
    let mut out = BytesMut::new();
    let mut psi_done = false;
    for e in ev {
        match e {
            MediaEvent::Info(i) => m.set_info(i),
            MediaEvent::Frame(f) => {
                if !psi_done || (f.track == Track::Video && f.keyframe) {
                    m.write_psi(&mut out);
                    psi_done = true;
                }
                m.write_frame(f, &mut out);
            }
        }
    }
    out
}

/// Encodes a 3 s test stream with ffmpeg, demuxes it, re-muxes it, and checks ffmpeg decodes
/// the result cleanly with the same streams.
fn ffmpeg_round_trip(
    name: &str,
    vcodec: &str,
    acodec: &str,
    expect: (&str, &str),
    vf: Codec,
    af: Codec,
) {
    require("ffmpeg");
    require("ffprobe");
    let src = TempPath::new(&format!("{name}-src.ts"));
    let dst = TempPath::new(&format!("{name}-out.ts"));
    let mut args = vec![
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "3",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        vcodec,
        "-g",
        "25",
        "-c:a",
        acodec,
    ];
    if vcodec == "libx265" {
        args.extend(["-x265-params", "log-level=error"]);
    }
    args.extend(["-f", "mpegts", src.as_str()]);
    let (ok, _, err) = run("ffmpeg", &args);
    assert!(ok, "ffmpeg cannot encode {vcodec}/{acodec}: {err}");
    let data = std::fs::read(&src.0).expect("read source");

    let (ev, stats) = demux(&data);
    assert_eq!(
        (stats.cc_errors, stats.pes_errors, stats.psi_errors),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.garbage_bytes, 0);
    let frames: Vec<&Frame> = ev
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Frame(f) => Some(f),
            _ => None,
        })
        .collect();
    let video: Vec<&&Frame> = frames.iter().filter(|f| f.track == Track::Video).collect();
    let audio: Vec<&&Frame> = frames.iter().filter(|f| f.track.is_audio()).collect();
    assert_eq!(video.len(), 75, "3 s at 25 fps");
    assert!(video[0].keyframe);
    assert!(video.iter().all(|f| f.codec == vf));
    assert!(audio.iter().all(|f| f.codec == af));
    assert_eq!(video.iter().filter(|f| f.keyframe).count(), 3);
    assert!(!audio.is_empty());
    // DTS never decreases per track
    for t in [&video, &audio] {
        assert!(t.windows(2).all(|w| w[0].dts_90k <= w[1].dts_90k));
    }
    let info = ev
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Info(i) => Some(i),
            _ => None,
        })
        .last()
        .expect("Info");
    let v = info.video.as_ref().expect("video info");
    assert_eq!((v.codec, v.width, v.height), (Some(vf), 320, 240));
    assert!(!v.sps.is_empty() && !v.pps.is_empty());
    let a = info.audio.first().expect("audio info");
    assert_eq!((a.codec, a.sample_rate), (Some(af), 48000));

    let ts = remux(&ev);
    std::fs::write(&dst.0, &ts).expect("write output");
    let errors = decode_errors(dst.as_str());
    assert!(errors.is_empty(), "ffmpeg reported errors:\n{errors}");
    let streams = probe_streams(dst.as_str());
    assert_eq!(streams.len(), 2, "{streams:?}");
    assert!(
        streams[0].starts_with(&format!("{}|video|320|240", expect.0)),
        "{streams:?}"
    );
    assert!(
        streams[1].starts_with(&format!("{}|audio|48000", expect.1)),
        "{streams:?}"
    );
    assert_eq!(
        count_frames(dst.as_str(), "v"),
        count_frames(src.as_str(), "v")
    );

    // and our own demuxer reads back the same frames
    let (ev2, _) = demux(&ts);
    let back: Vec<Frame> = ev2
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Frame(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(back.len(), frames.len());
    for (x, y) in frames.iter().zip(&back) {
        assert_eq!(
            (x.pts_90k, x.dts_90k, x.keyframe),
            (y.pts_90k, y.dts_90k, y.keyframe)
        );
        if x.track.is_audio() {
            assert_eq!(x.data, y.data);
        }
    }
}

#[test]
fn ffmpeg_h264_aac() {
    ffmpeg_round_trip(
        "h264-aac",
        "libx264",
        "aac",
        ("h264", "aac"),
        Codec::H264,
        Codec::Aac,
    );
}

#[test]
fn ffmpeg_hevc_ac3() {
    ffmpeg_round_trip(
        "hevc-ac3",
        "libx265",
        "ac3",
        ("hevc", "ac3"),
        Codec::H265,
        Codec::Ac3,
    );
}

#[test]
fn ffmpeg_h264_mp2() {
    ffmpeg_round_trip(
        "h264-mp2",
        "libx264",
        "mp2",
        ("h264", "mp2"),
        Codec::H264,
        Codec::Mpeg1Audio,
    );
}

#[test]
fn ffmpeg_h264_eac3() {
    ffmpeg_round_trip(
        "h264-eac3",
        "libx264",
        "eac3",
        ("h264", "eac3"),
        Codec::H264,
        Codec::Eac3,
    );
}

/// A synthetic stream (the 720p SPS, placeholder slices, raw AAC frames) is well-formed enough
/// for ffprobe to identify its streams and their parameters.
#[test]
fn ffprobe_synthetic_stream() {
    require("ffprobe");
    const SPS_720P: [u8; 25] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19,
    ];
    let info = StreamInfo {
        video: Some(h264::video_config(
            vec![Bytes::from_static(&SPS_720P)],
            vec![Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb])],
        )),
        audio: vec![AudioConfig {
            codec: Some(Codec::Aac),
            sample_rate: 44100,
            channels: 2,
            asc: Some(Bytes::from_static(&[0x12, 0x10])),
            ..Default::default()
        }],
        data: Vec::new(),
    };
    let mut m = Muxer::new(&info);
    let mut ts = BytesMut::new();
    for i in 0..50i64 {
        if i % 25 == 0 {
            m.write_psi(&mut ts);
        }
        let key = i % 25 == 0;
        let mut au = vec![0, 0, 0, 1, if key { 0x65 } else { 0x41 }, 0x88, 0xf0];
        au.extend_from_slice(&[0x5a; 500]);
        m.write_frame(
            &Frame {
                track: Track::Video,
                codec: Codec::H264,
                pts_90k: Ts90k(i * 3600 + 3600),
                dts_90k: Ts90k(i * 3600),
                keyframe: key,
                data: Bytes::from(au),
            },
            &mut ts,
        );
        for k in 0..2 {
            m.write_frame(
                &Frame {
                    track: Track::Audio(0),
                    codec: Codec::Aac,
                    pts_90k: Ts90k(i * 3600 + k * 1800),
                    dts_90k: Ts90k(i * 3600 + k * 1800),
                    keyframe: true,
                    // a silent AAC-LC stereo frame (CPE, common window off)
                    data: Bytes::from_static(&[0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c]),
                },
                &mut ts,
            );
        }
    }
    let path = TempPath::new("synthetic.ts");
    std::fs::write(&path.0, &ts).expect("write");
    // the placeholder slices do not decode, but the container must raise no complaints
    let (_, _, err) = run("ffprobe", &["-v", "error", path.as_str()]);
    assert!(!err.contains("[mpegts"), "ffprobe: {err}");
    let streams = probe_streams(path.as_str());
    assert_eq!(streams.len(), 2, "{streams:?}");
    assert!(streams[0].starts_with("h264|video|1280|720"), "{streams:?}");
    assert!(streams[1].starts_with("aac|audio|44100|2"), "{streams:?}");
}
