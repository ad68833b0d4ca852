//! Interop tests against ffmpeg / ffprobe: files ffmpeg writes (MP4 with and without
//! faststart, QuickTime MOV, H.264/H.265 with AAC/AC-3/E-AC-3/MP3) are parsed and compared with
//! ffprobe's packet list, then rewritten with [`mp4::fast_start`] and checked with ffprobe and
//! a full decode. Skipped (with a message) when ffmpeg, ffprobe or libx264 is absent.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // an integration test: real tools and files

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use mp4::{
    fast_start, parse_box_header, parse_moov, CodecConfig, Limits, Movie, SampleOut, TrackKind,
    TrackOut,
};

/// Runs a tool; returns (success, stdout, stderr).
fn run(tool: &str, args: &[&str]) -> (bool, String, String) {
    match Command::new(tool).args(args).output() {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => (false, String::new(), e.to_string()),
    }
}

/// Whether ffmpeg, ffprobe and `encoder` are there; prints why not.
fn available(encoder: &str) -> bool {
    for tool in ["ffmpeg", "ffprobe"] {
        if !run(tool, &["-version"]).0 {
            eprintln!("SKIPPED: {tool} is not installed");
            return false;
        }
    }
    let (_, out, _) = run("ffmpeg", &["-hide_banner", "-encoders"]);
    if !out.split_whitespace().any(|w| w == encoder) {
        eprintln!("SKIPPED: ffmpeg has no {encoder} encoder");
        return false;
    }
    true
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("mp4-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes a 2 s file: 320x240 25 fps test pattern + 48 kHz sine, with `args` (codecs, format).
fn make(path: &str, args: &[&str]) {
    let mut all = vec![
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:d=2",
        "-pix_fmt",
        "yuv420p",
    ];
    all.extend_from_slice(args);
    all.push(path);
    let (ok, _, err) = run("ffmpeg", &all);
    assert!(ok, "ffmpeg failed: {err}");
}

/// Top-level box types in file order, and the parsed moov.
fn load(path: &str) -> (Vec<u8>, Vec<[u8; 4]>, Movie) {
    let data = std::fs::read(path).unwrap();
    let mut kinds = Vec::new();
    let mut moov = None;
    let mut pos = 0u64;
    while (pos as usize) < data.len() {
        let h = parse_box_header(&data[pos as usize..], pos)
            .unwrap()
            .expect("box header");
        let end = h.end().unwrap_or(data.len() as u64);
        kinds.push(h.kind);
        if &h.kind == b"moov" {
            moov = Some(parse_moov(&data[pos as usize..end as usize], &Limits::default()).unwrap());
        }
        pos = end;
    }
    (data, kinds, moov.expect("a moov box"))
}

/// A packet as ffprobe reports it.
#[derive(Debug, PartialEq, Eq)]
struct Packet {
    pts: Option<i64>,
    dts: Option<i64>,
    size: u32,
    pos: Option<u64>,
    key: bool,
}

fn probe_packets(path: &str, stream: usize) -> Vec<Packet> {
    let sel = stream.to_string();
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            &sel,
            "-show_entries",
            "packet=pts,dts,size,pos,flags",
            "-of",
            "compact=p=0",
            path,
        ],
    );
    assert!(ok, "ffprobe failed: {err}");
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let kv: HashMap<&str, &str> = l.split('|').filter_map(|f| f.split_once('=')).collect();
            Packet {
                pts: kv["pts"].parse().ok(),
                dts: kv["dts"].parse().ok(),
                size: kv["size"].parse().unwrap(),
                pos: kv["pos"].parse().ok(),
                key: kv["flags"].starts_with('K'),
            }
        })
        .collect()
}

/// Every track's samples against ffprobe's packets: same count, sizes, positions, key flags,
/// and the same decode-time steps.
fn compare_with_ffprobe(path: &str, movie: &Movie) {
    for (i, t) in movie.tracks.iter().enumerate() {
        let packets = probe_packets(path, i);
        assert_eq!(
            packets.len(),
            t.samples.len(),
            "{path} track {i}: sample count"
        );
        for (k, (p, s)) in packets.iter().zip(&t.samples).enumerate() {
            assert_eq!(p.size, s.size, "{path} track {i} sample {k}: size");
            assert_eq!(p.pos, Some(s.offset), "{path} track {i} sample {k}: offset");
            assert_eq!(p.key, s.sync, "{path} track {i} sample {k}: sync");
            let (d0, d) = (packets[0].dts.unwrap(), p.dts.unwrap());
            assert_eq!(d - d0, s.dts, "{path} track {i} sample {k}: dts");
            // composition order is kept: pts - dts is the cts offset (ffmpeg shifts both equally)
            if let (Some(pts), Some(dts)) = (p.pts, p.dts) {
                assert_eq!(
                    pts - dts,
                    i64::from(s.cts_offset),
                    "{path} track {i} sample {k}: cts"
                );
            }
        }
    }
}

/// Checks that each H.264/H.265 sample is a whole number of length-prefixed NAL units.
fn check_nal_framing(data: &[u8], movie: &Movie) {
    for t in &movie.tracks {
        let n = match &t.codec {
            CodecConfig::H264 {
                nal_length_size, ..
            }
            | CodecConfig::H265 {
                nal_length_size, ..
            } => usize::from(*nal_length_size),
            _ => continue,
        };
        for s in &t.samples {
            let mut b = &data[s.offset as usize..s.offset as usize + s.size as usize];
            while !b.is_empty() {
                let len = b[..n]
                    .iter()
                    .fold(0usize, |a, &x| (a << 8) | usize::from(x));
                b = &b[n + len..];
            }
        }
    }
}

/// Rewrites `movie` (samples read from `data`) as a fast-start MP4 at `out`.
fn rewrite(data: &[u8], movie: &Movie, out: &str) {
    let tracks: Vec<TrackOut> = movie
        .tracks
        .iter()
        .map(|t| TrackOut {
            kind: t.kind,
            codec: t.codec.clone(),
            timescale: t.timescale,
            language: t.language.clone(),
            width: t.width,
            height: t.height,
            sample_rate: t.sample_rate,
            channels: t.channels,
            edit_media_start: t.edit_media_start,
            samples: t
                .samples
                .iter()
                .map(|s| SampleOut {
                    size: s.size,
                    duration: s.duration,
                    cts_offset: s.cts_offset,
                    sync: s.sync,
                })
                .collect(),
        })
        .collect();
    let layout = fast_start(&tracks, movie.timescale).unwrap();
    let mut file = layout.header.clone();
    for &(t, s) in &layout.order {
        let s = movie.tracks[t as usize].samples[s as usize];
        file.extend_from_slice(&data[s.offset as usize..(s.offset + u64::from(s.size)) as usize]);
    }
    assert_eq!(file.len() as u64, layout.total_size);
    std::fs::write(out, file).unwrap();
}

/// Parses `path`, compares with ffprobe, rewrites it and checks the copy decodes cleanly with
/// the same packets' timestamps as the original.
fn check_file(dir: &TempDir, path: &str) -> Movie {
    let (data, _, movie) = load(path);
    compare_with_ffprobe(path, &movie);
    check_nal_framing(&data, &movie);
    let copy = dir.file("copy.mp4");
    rewrite(&data, &movie, &copy);
    let (_, kinds, again) = load(&copy);
    assert_eq!(&kinds[..2], &[*b"ftyp", *b"moov"], "fast start");
    compare_with_ffprobe(&copy, &again);
    let (ok, _, err) = run("ffmpeg", &["-v", "error", "-i", &copy, "-f", "null", "-"]);
    assert!(
        ok && err.trim().is_empty(),
        "decoding the rewritten file: {err}"
    );
    for (i, (a, b)) in movie.tracks.iter().zip(&again.tracks).enumerate() {
        assert_eq!(
            (a.codec.clone(), a.language.clone(), a.edit_media_start),
            (b.codec.clone(), b.language.clone(), b.edit_media_start)
        );
        let (pa, pb) = (probe_packets(path, i), probe_packets(&copy, i));
        let pts = |p: &[Packet]| p.iter().map(|p| (p.pts, p.dts, p.size)).collect::<Vec<_>>();
        assert_eq!(
            pts(&pa),
            pts(&pb),
            "{path} track {i}: ffprobe timestamps after rewriting"
        );
    }
    movie
}

fn video(movie: &Movie) -> &mp4::Track {
    movie
        .tracks
        .iter()
        .find(|t| t.kind == TrackKind::Video)
        .unwrap()
}

fn audio(movie: &Movie) -> &mp4::Track {
    movie
        .tracks
        .iter()
        .find(|t| t.kind == TrackKind::Audio)
        .unwrap()
}

#[test]
fn h264_aac_mp4_faststart_and_not() {
    if !available("libx264") {
        return;
    }
    let dir = TempDir::new("mp4");
    for faststart in [true, false] {
        let path = dir.file(if faststart { "fs.mp4" } else { "plain.mp4" });
        let mut args = vec![
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-g",
            "12",
            "-c:a",
            "aac",
            "-metadata:s:a:0",
            "language=fra",
            "-metadata:s:v:0",
            "language=eng",
        ];
        if faststart {
            args.extend_from_slice(&["-movflags", "+faststart"]);
        }
        make(&path, &args);
        let (_, kinds, _) = load(&path);
        let moov = kinds.iter().position(|k| k == b"moov").unwrap();
        let mdat = kinds.iter().position(|k| k == b"mdat").unwrap();
        assert_eq!(moov < mdat, faststart);
        let movie = check_file(&dir, &path);
        assert!(!movie.fragmented);
        let v = video(&movie);
        assert!(matches!(
            v.codec,
            CodecConfig::H264 {
                nal_length_size: 4,
                ..
            }
        ));
        assert_eq!((v.width, v.height, v.samples.len()), (320, 240, 50));
        assert_eq!(v.language.as_deref(), Some("eng"));
        assert!(v.samples[0].sync && v.samples.iter().filter(|s| s.sync).count() >= 4);
        assert!(
            v.samples
                .iter()
                .any(|s| s.cts_offset != v.samples[0].cts_offset),
            "B-frames reorder"
        );
        let a = audio(&movie);
        assert!(matches!(&a.codec, CodecConfig::Aac { asc } if asc.len() >= 2));
        assert_eq!((a.sample_rate, a.channels), (48000, 1));
        assert_eq!(a.language.as_deref(), Some("fra"));
        assert_eq!(a.edit_media_start, 1024, "AAC priming");
    }
}

#[test]
fn h264_aac_quicktime_mov() {
    if !available("libx264") {
        return;
    }
    let dir = TempDir::new("mov");
    let path = dir.file("a.mov");
    make(
        &path,
        &[
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-metadata:s:a:0",
            "language=fra",
            "-f",
            "mov",
        ],
    );
    let movie = check_file(&dir, &path);
    let a = audio(&movie);
    assert!(matches!(a.codec, CodecConfig::Aac { .. }));
    assert_eq!((a.sample_rate, a.channels), (48000, 2));
    assert_eq!(a.language.as_deref(), Some("fra"));
    assert_eq!(video(&movie).samples.len(), 50);
}

#[test]
fn hevc_ac3_eac3_mp3() {
    if !available("libx264") {
        return;
    }
    let dir = TempDir::new("codecs");
    let have = |e: &str| {
        run("ffmpeg", &["-hide_banner", "-encoders"])
            .1
            .split_whitespace()
            .any(|w| w == e)
    };
    let mut cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "ac3.mp4",
            vec!["-c:v", "libx264", "-c:a", "ac3", "-ac", "6"],
        ),
        (
            "eac3.mp4",
            vec!["-c:v", "libx264", "-c:a", "eac3", "-ac", "2"],
        ),
    ];
    if have("libmp3lame") {
        cases.push(("mp3.mp4", vec!["-c:v", "libx264", "-c:a", "libmp3lame"]));
    } else {
        eprintln!("SKIPPED (mp3 case): no libmp3lame");
    }
    if have("libx265") {
        cases.push((
            "hevc.mp4",
            vec![
                "-c:v",
                "libx265",
                "-tag:v",
                "hvc1",
                "-x265-params",
                "log-level=error",
                "-c:a",
                "aac",
            ],
        ));
    } else {
        eprintln!("SKIPPED (hevc case): no libx265");
    }
    for (name, args) in cases {
        let path = dir.file(name);
        make(&path, &args);
        let movie = check_file(&dir, &path);
        let data = std::fs::read(&path).unwrap();
        let a = audio(&movie);
        let first = &data[a.samples[0].offset as usize..][..a.samples[0].size as usize];
        match name {
            "ac3.mp4" => {
                let CodecConfig::Ac3 { dac3 } = &a.codec else {
                    panic!("{:?}", a.codec)
                };
                assert_eq!((a.sample_rate, a.channels), (48000, 6));
                assert_eq!(
                    mp4::codec::dac3_from_frame(first).unwrap(),
                    *dac3,
                    "dac3 from the first syncframe"
                );
            }
            "eac3.mp4" => {
                let CodecConfig::Eac3 { dec3 } = &a.codec else {
                    panic!("{:?}", a.codec)
                };
                assert_eq!((a.sample_rate, a.channels), (48000, 2));
                assert_eq!(
                    mp4::codec::dec3_from_frame(first).unwrap(),
                    *dec3,
                    "dec3 from the first syncframe"
                );
            }
            "mp3.mp4" => assert_eq!(a.codec, CodecConfig::Mp3),
            _ => {
                let v = video(&movie);
                match &v.codec {
                    CodecConfig::H265 {
                        vps,
                        sps,
                        pps,
                        nal_length_size,
                        hvcc,
                    } => {
                        assert_eq!(
                            (vps.len(), sps.len(), pps.len(), *nal_length_size),
                            (1, 1, 1, 4)
                        );
                        // our record from the same parameter sets matches x265's profile/level
                        let ours = mp4::codec::hvcc_from_parameter_sets(vps, sps, pps).unwrap();
                        assert_eq!(&ours[..13], &hvcc[..13]);
                        assert_eq!(&ours[16..19], &hvcc[16..19], "chroma and bit depths");
                    }
                    c => panic!("{c:?}"),
                }
            }
        }
    }
}

/// avcC built from the parameter sets x264 wrote matches x264's own record up to the PPS.
#[test]
fn avcc_from_x264_parameter_sets() {
    if !available("libx264") {
        return;
    }
    let dir = TempDir::new("avcc");
    for profile in ["baseline", "main", "high"] {
        let path = dir.file(&format!("{profile}.mp4"));
        make(&path, &["-c:v", "libx264", "-profile:v", profile, "-an"]);
        let (_, _, movie) = load(&path);
        let CodecConfig::H264 { avcc, sps, pps, .. } = &video(&movie).codec else {
            panic!()
        };
        let ours = mp4::codec::avcc_from_parameter_sets(sps, pps).unwrap();
        assert_eq!(ours, *avcc, "{profile}");
    }
}
