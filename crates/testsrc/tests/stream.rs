#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // an integration test: real tools and files
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use media::aac::Asc;
use media::h264::{annexb_nals, nal_type, NAL_IDR, NAL_PPS, NAL_SPS};
use media::{Codec, Frame, Track, Ts90k, UtcMs};
use testsrc::{Pattern, TestSource, TestSourceConfig, TestSrcError};

/// 2026-11-18T11:06:40.123Z
const WALL0: i64 = 1_795_000_000_123;

fn run(cfg: TestSourceConfig, secs: i64, step_ms: i64) -> (TestSource, Vec<Frame>) {
    let mut src = TestSource::new(cfg).unwrap();
    let mut out = Vec::new();
    let mut t = 0;
    while t < secs * 1000 {
        t = (t + step_ms).min(secs * 1000);
        src.generate(Ts90k::from_ms(t), UtcMs(WALL0 + t), &mut out);
    }
    (src, out)
}

fn nal_types(f: &Frame) -> Vec<u8> {
    annexb_nals(&f.data).map(nal_type).collect()
}

#[test]
fn four_seconds_of_stream() {
    let cfg = TestSourceConfig {
        width: 640,
        height: 360,
        fps: 25,
        gop: 50,
        label: "Test Channel 1".into(),
        ..Default::default()
    };
    // uneven steps so frames straddle the call boundaries
    let (src, frames) = run(cfg, 4, 37);
    let info = src.info();
    let v = info.video.as_ref().unwrap();
    assert_eq!(v.codec, Some(Codec::H264));
    assert_eq!((v.width, v.height), (640, 360));
    assert_eq!((v.sps.len(), v.pps.len()), (1, 1));
    let a = info.audio.first().unwrap();
    assert_eq!(a.codec, Some(Codec::Aac));
    assert_eq!((a.sample_rate, a.channels), (48_000, 1));
    let asc = Asc::parse(a.asc.as_ref().unwrap()).unwrap();
    assert_eq!(
        (asc.object_type, asc.sample_rate, asc.channels),
        (2, 48_000, 1)
    );

    let video: Vec<&Frame> = frames.iter().filter(|f| f.track == Track::Video).collect();
    let audio: Vec<&Frame> = frames.iter().filter(|f| f.track.is_audio()).collect();
    assert_eq!(video.len(), 100);
    // 4 s / 1920 ticks = 187.5 -> frames 0..=187
    assert_eq!(audio.len(), 188);
    assert_eq!(src.encode_errors(), 0);

    // whole output in non-decreasing dts order, each track strictly increasing
    for w in frames.windows(2) {
        assert!(
            w[0].dts_90k <= w[1].dts_90k,
            "{:?} then {:?}",
            w[0].dts_90k,
            w[1].dts_90k
        );
    }
    for (i, f) in video.iter().enumerate() {
        assert_eq!(f.codec, Codec::H264);
        assert_eq!(f.pts_90k, Ts90k(i as i64 * 3600));
        assert_eq!(f.pts_90k, f.dts_90k);
        let types = nal_types(f);
        let idr = types.contains(&NAL_IDR);
        assert_eq!(f.keyframe, idr);
        assert_eq!(idr, i % 50 == 0, "frame {i}: {types:?}");
        if idr {
            assert!(
                types.contains(&NAL_SPS) && types.contains(&NAL_PPS),
                "frame {i}: {types:?}"
            );
            // the in-band parameter sets are the announced ones
            let sps = annexb_nals(&f.data)
                .find(|n| nal_type(n) == NAL_SPS)
                .unwrap();
            let pps = annexb_nals(&f.data)
                .find(|n| nal_type(n) == NAL_PPS)
                .unwrap();
            assert_eq!(sps, &v.sps[0][..]);
            assert_eq!(pps, &v.pps[0][..]);
        } else {
            assert!(
                types.contains(&media::h264::NAL_SLICE),
                "frame {i}: {types:?}"
            );
        }
    }
    for (i, f) in audio.iter().enumerate() {
        assert_eq!(f.codec, Codec::Aac);
        assert_eq!(f.pts_90k, Ts90k(i as i64 * 1920));
        assert_eq!(f.pts_90k, f.dts_90k);
        assert!(f.keyframe);
        assert_eq!(&f.data[..], &testsrc::silence::silent_frame()[..]);
    }
    let bytes: usize = video.iter().map(|f| f.data.len()).sum();
    println!(
        "4 s video: {bytes} bytes = {} kbit/s (target 800)",
        bytes * 8 / 4 / 1000
    );
}

#[test]
fn chunking_does_not_change_the_timeline() {
    let cfg = TestSourceConfig {
        width: 160,
        height: 90,
        fps: 30,
        gop: 7,
        ..Default::default()
    };
    let (_, a) = run(cfg.clone(), 2, 2000);
    let (_, b) = run(cfg, 2, 13);
    let key = |f: &Frame| (f.track == Track::Video, f.dts_90k, f.keyframe);
    assert_eq!(
        a.iter().map(key).collect::<Vec<_>>(),
        b.iter().map(key).collect::<Vec<_>>()
    );
    // 30 fps: 3000 ticks apart; gop 7
    let v: Vec<_> = a.iter().filter(|f| f.track == Track::Video).collect();
    assert_eq!(v.len(), 60);
    for (i, f) in v.iter().enumerate() {
        assert_eq!(f.dts_90k.0, i as i64 * 3000);
        assert_eq!(f.keyframe, i % 7 == 0, "frame {i}");
    }
    // generate() with a time in the past produces nothing
    let mut src = TestSource::new(TestSourceConfig::default()).unwrap();
    let mut out = Vec::new();
    src.generate(Ts90k(100_000), UtcMs(WALL0), &mut out);
    let n = out.len();
    src.generate(Ts90k(50_000), UtcMs(WALL0), &mut out);
    assert_eq!(out.len(), n);
    assert_eq!(src.next_pts(), Ts90k(100_800)); // video frame 28; audio frame 53 is at 101760
}

#[test]
fn slate_and_pattern_switch() {
    let (mut src, frames) = run(TestSourceConfig::slate("News 24"), 1, 40);
    assert_eq!(
        frames.iter().filter(|f| f.track == Track::Video).count(),
        25
    );
    src.set_pattern(Pattern::TestCard);
    src.set_label("Other");
    let mut out = Vec::new();
    src.generate(Ts90k::from_ms(2000), UtcMs(WALL0 + 2000), &mut out);
    assert_eq!(out.iter().filter(|f| f.track == Track::Video).count(), 25);
    assert_eq!(src.video_frames(), 50);
}

#[test]
fn bad_configs_are_rejected() {
    let base = TestSourceConfig::default();
    for cfg in [
        TestSourceConfig {
            width: 641,
            ..base.clone()
        },
        TestSourceConfig {
            height: 8,
            ..base.clone()
        },
        TestSourceConfig {
            fps: 0,
            ..base.clone()
        },
        TestSourceConfig {
            gop: 0,
            ..base.clone()
        },
        TestSourceConfig {
            width: 4000,
            ..base.clone()
        },
    ] {
        assert!(matches!(TestSource::new(cfg), Err(TestSrcError::Config(_))));
    }
    // other sizes produce matching SPS dimensions
    for (w, h) in [(1280, 720), (320, 180), (176, 144)] {
        let src = TestSource::new(TestSourceConfig {
            width: w,
            height: h,
            ..base.clone()
        })
        .unwrap();
        let v = src.info().video.unwrap();
        assert_eq!((v.width, v.height), (w, h));
    }
}

#[test]
fn encode_speed() {
    let cfg = TestSourceConfig::test_card("Speed test");
    let mut src = TestSource::new(cfg).unwrap();
    let mut out = Vec::new();
    let secs = 10;
    let t0 = Instant::now();
    for ms in (40..=secs * 1000).step_by(40) {
        src.generate(Ts90k::from_ms(ms), UtcMs(WALL0 + ms), &mut out);
    }
    let el = t0.elapsed().as_secs_f64();
    let frames = src.video_frames();
    println!(
        "encode speed ({} build): {frames} frames 640x360 in {el:.3} s = {:.0} fps = {:.1}x real time",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        frames as f64 / el,
        secs as f64 / el
    );
}

// ---- ffmpeg ----

fn ffmpeg() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("ffmpeg"))
        .find(|p| p.is_file())
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("testsrc-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_streams(dir: &Path, src: &TestSource, frames: &[Frame]) -> (PathBuf, PathBuf) {
    let asc = Asc::parse(src.info().audio[0].clone().asc.as_ref().unwrap()).unwrap();
    let mut h264 = Vec::new();
    let mut aac = Vec::new();
    for f in frames {
        match f.track {
            Track::Video => h264.extend_from_slice(&f.data),
            Track::Audio(_) => {
                aac.extend_from_slice(&asc.adts_header(f.data.len()));
                aac.extend_from_slice(&f.data);
            }
            Track::Data(_) => unreachable!("the test card has no data streams"),
        }
    }
    let (v, a) = (dir.join("video.h264"), dir.join("audio.aac"));
    std::fs::write(&v, h264).unwrap();
    std::fs::write(&a, aac).unwrap();
    (v, a)
}

fn ffmpeg_clean_decode(ff: &Path, file: &Path) {
    let o = Command::new(ff)
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "ffmpeg failed on {file:?}: {err}");
    assert!(
        err.trim().is_empty(),
        "ffmpeg complained about {file:?}: {err}"
    );
}

fn ffmpeg_count_frames(ff: &Path, file: &Path, stream: &str) -> usize {
    let o = Command::new(ff)
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-map", stream, "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count()
}

fn check_with_ffmpeg(name: &str, cfg: TestSourceConfig, png: &str) {
    let ff =
        ffmpeg().expect("ffmpeg is required on PATH for this test (apt-get install -y ffmpeg)");
    let (src, frames) = run(cfg, 4, 40);
    let dir = tmpdir(name);
    let (v, a) = write_streams(&dir, &src, &frames);
    ffmpeg_clean_decode(&ff, &v);
    ffmpeg_clean_decode(&ff, &a);
    assert_eq!(ffmpeg_count_frames(&ff, &v, "0:v"), 100);
    assert_eq!(ffmpeg_count_frames(&ff, &a, "0:a"), 188);
    // a frame from the middle of the second GOP, for a human to look at
    let o = Command::new(&ff)
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&v)
        .args(["-vf", "select=eq(n\\,62)", "-frames:v", "1", png])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::metadata(png).unwrap().len() > 1000);
    println!("wrote {png}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ffmpeg_decodes_test_card() {
    check_with_ffmpeg(
        "card",
        TestSourceConfig {
            utc_offset_min: 60,
            ..TestSourceConfig::test_card("Atoll Test Card")
        },
        "/tmp/testsrc-card.png",
    );
}

#[test]
fn ffmpeg_decodes_slate() {
    check_with_ffmpeg(
        "slate",
        TestSourceConfig::slate("Sport 1 HD"),
        "/tmp/testsrc-slate.png",
    );
}

/// Two sources started 0.7 s apart, each aligned to the wall clock, put their keyframes at the
/// same wall times (the first frame at or after each multiple of the 2 s GOP), the later one's
/// first GOP being shorter.
#[test]
fn gops_aligned_to_the_wall_clock_line_up_across_sources() {
    let keyframe_walls = |first_frame_ms: i64| {
        let mut src = TestSource::new(TestSourceConfig {
            width: 160,
            height: 90,
            ..Default::default()
        })
        .unwrap();
        src.align_gop_to_wall(UtcMs(first_frame_ms));
        let mut out = Vec::new();
        src.generate(Ts90k::from_ms(6000), UtcMs(first_frame_ms + 6000), &mut out);
        out.iter()
            .filter(|f| f.track == Track::Video && f.keyframe)
            .map(|f| first_frame_ms + f.dts_90k.0 / 90)
            .collect::<Vec<_>>()
    };
    let a = keyframe_walls(1_800_000_000_000);
    let b = keyframe_walls(1_800_000_000_700);
    assert_eq!(a, [1_800_000_000_000, 1_800_000_002_000, 1_800_000_004_000]);
    // b's frame 0 is an IDR (the encoder starts with one), then the first frame on or after
    // each grid point (its frames are 40 ms apart from 0.7 s: 2.02 s, 4.02 s)
    assert_eq!(
        b,
        [
            1_800_000_000_700,
            1_800_000_002_020,
            1_800_000_004_020,
            1_800_000_006_020
        ]
    );
}
