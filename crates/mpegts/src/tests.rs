//! Round-trip and robustness tests for the muxer and demuxer.

use bytes::{Bytes, BytesMut};
use media::{h264, AudioConfig, Codec, Frame, MediaEvent, StreamInfo, Track, Ts90k, VideoConfig};
use proptest::prelude::*;

use crate::*;

/// SPS of an x264 1280x720 High profile stream.
pub(crate) const SPS_720P: [u8; 25] = [
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
    0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19,
];
pub(crate) const PPS: [u8; 4] = [0x68, 0xeb, 0xe3, 0xcb];
/// AAC-LC, 44.1 kHz, stereo.
pub(crate) const ASC: [u8; 2] = [0x12, 0x10];

/// Deterministic filler bytes without zeros (so no accidental start codes).
fn filler(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) % 255) as u8 + 1
        })
        .collect()
}

fn info() -> StreamInfo {
    StreamInfo {
        video: Some(h264::video_config(
            vec![Bytes::from_static(&SPS_720P)],
            vec![Bytes::from_static(&PPS)],
        )),
        audio: vec![AudioConfig {
            codec: Some(Codec::Aac),
            sample_rate: 44100,
            channels: 2,
            asc: Some(Bytes::from_static(&ASC)),
            ..Default::default()
        }],
        data: Vec::new(),
    }
}

/// An H.264 AU: keyframes carry SPS/PPS when `params`, P frames a single slice.
fn video_au(i: u64, key: bool, params: bool) -> Bytes {
    let mut v = Vec::new();
    if key && params {
        v.extend_from_slice(&[0, 0, 0, 1]);
        v.extend_from_slice(&SPS_720P);
        v.extend_from_slice(&[0, 0, 0, 1]);
        v.extend_from_slice(&PPS);
    }
    v.extend_from_slice(&[0, 0, 1, if key { 0x65 } else { 0x41 }]);
    // sizes from tiny to multi-packet, sometimes > 65535 (unbounded PES)
    let len = match i % 7 {
        0 => 70_000,
        1 => 5,
        2 => 183,
        3 => 184,
        _ => 300 + (i as usize * 977) % 9000,
    };
    v.extend_from_slice(&filler(i, len));
    Bytes::from(v)
}

/// A synthetic stream: 25 fps video with B-frame style PTS, 44.1 kHz AAC, sorted by DTS.
fn frames(n_video: u64, start: i64, params_every_key: bool) -> Vec<Frame> {
    let mut out = Vec::new();
    for i in 0..n_video {
        let key = i % 12 == 0;
        let dts = start + i as i64 * 3600;
        let pts = dts + if i % 3 == 1 { 7200 } else { 3600 };
        out.push(Frame {
            track: Track::Video,
            codec: Codec::H264,
            pts_90k: Ts90k(pts),
            dts_90k: Ts90k(dts),
            keyframe: key,
            data: video_au(i, key, params_every_key || i == 0),
        });
    }
    let dur = media::aac::frame_duration_90k(44100);
    let n_audio = n_video as i64 * 3600 / dur;
    for k in 0..n_audio {
        let t = start + k * dur;
        out.push(Frame {
            track: Track::Audio(0),
            codec: Codec::Aac,
            pts_90k: Ts90k(t),
            dts_90k: Ts90k(t),
            keyframe: true,
            data: Bytes::from(filler(1000 + k as u64, 50 + (k as usize * 37) % 700)),
        });
    }
    out.sort_by_key(|f| (f.dts_90k, f.track.is_audio()));
    out
}

fn mux(frames: &[Frame]) -> BytesMut {
    let mut m = Muxer::new(&info());
    let mut out = BytesMut::new();
    for f in frames {
        if f.track == Track::Video && f.keyframe {
            m.write_psi(&mut out);
        }
        m.write_frame(f, &mut out);
    }
    out
}

fn demux_whole(data: &[u8]) -> (Vec<MediaEvent>, DemuxStats) {
    let mut d = Demuxer::new();
    let mut ev = Vec::new();
    d.push(data, &mut ev);
    d.flush(&mut ev);
    (ev, d.stats())
}

fn frames_of(ev: &[MediaEvent]) -> Vec<Frame> {
    ev.iter()
        .filter_map(|e| match e {
            MediaEvent::Frame(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// NAL units other than AUD / SPS / PPS.
fn slice_nals(au: &[u8]) -> Vec<Vec<u8>> {
    h264::annexb_nals(au)
        .filter(|n| {
            !matches!(
                h264::nal_type(n),
                h264::NAL_AUD | h264::NAL_SPS | h264::NAL_PPS
            )
        })
        .map(|n| n.to_vec())
        .collect()
}

fn assert_same(input: &[Frame], output: &[Frame]) {
    let split = |v: &[Frame], t: Track| {
        v.iter()
            .filter(|f| f.track == t)
            .cloned()
            .collect::<Vec<_>>()
    };
    for track in [Track::Video, Track::Audio(0)] {
        let a = split(input, track);
        let b = split(output, track);
        assert_eq!(a.len(), b.len(), "{track:?} frame count");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.pts_90k, y.pts_90k, "{track:?} pts");
            assert_eq!(x.dts_90k, y.dts_90k, "{track:?} dts");
            assert_eq!(x.keyframe, y.keyframe, "{track:?} keyframe");
            assert_eq!(x.codec, y.codec);
            if track == Track::Video {
                assert_eq!(slice_nals(&x.data), slice_nals(&y.data));
                let nals: Vec<_> = h264::annexb_nals(&y.data).collect();
                assert_eq!(h264::nal_type(nals[0]), h264::NAL_AUD, "AU starts with AUD");
                if y.keyframe {
                    assert_eq!(h264::nal_type(nals[1]), h264::NAL_SPS);
                    assert_eq!(nals[1], &SPS_720P[..]);
                    assert_eq!(h264::nal_type(nals[2]), h264::NAL_PPS);
                }
            } else {
                assert_eq!(x.data, y.data);
            }
        }
    }
}

/// Every packet is 188 bytes with sync, CCs continue per pid, PSI CRCs check.
fn check_packets(ts: &[u8]) {
    assert_eq!(ts.len() % PACKET_SIZE, 0);
    let mut cc: std::collections::HashMap<u16, u8> = Default::default();
    for p in ts.chunks(PACKET_SIZE) {
        assert_eq!(p[0], SYNC_BYTE);
        let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
        assert!(p[3] & 0x10 != 0, "every packet has payload");
        let c = p[3] & 0xf;
        if let Some(prev) = cc.insert(pid, c) {
            assert_eq!(c, (prev + 1) & 0xf, "cc on pid {pid:#x}");
        }
        let mut off = 4;
        if p[3] & 0x20 != 0 {
            off += 1 + p[4] as usize;
            assert!(off <= PACKET_SIZE);
        }
        if pid == PAT_PID || pid == PMT_PID {
            assert_eq!(p[1] & 0x40, 0x40);
            let s = &p[off + 1..];
            let len = 3 + (u16::from_be_bytes([s[1], s[2]]) & 0xfff) as usize;
            assert_eq!(crc32_mpeg2(&s[..len]), 0, "CRC on pid {pid:#x}");
        }
    }
}

#[test]
fn round_trip() {
    let input = frames(60, 900_000, false);
    let ts = mux(&input);
    check_packets(&ts);
    let (ev, stats) = demux_whole(&ts);
    assert!(stats.has_pat && stats.has_pmt);
    assert_eq!(stats.video_pid, Some(VIDEO_PID));
    assert_eq!(stats.audio_pid, Some(AUDIO_PID));
    assert_eq!(
        (
            stats.cc_errors,
            stats.pes_errors,
            stats.psi_errors,
            stats.garbage_bytes
        ),
        (0, 0, 0, 0)
    );
    assert_same(&input, &frames_of(&ev));

    // Info precedes the first frame of each track and carries its config.
    let mut latest: Option<StreamInfo> = None;
    for e in &ev {
        match e {
            MediaEvent::Info(i) => latest = Some(i.clone()),
            MediaEvent::Frame(f) => {
                let i = latest.as_ref().expect("Info before first frame");
                match f.track {
                    Track::Video => {
                        let v = i.video.as_ref().unwrap();
                        assert_eq!((v.width, v.height), (1280, 720));
                    }
                    Track::Audio(_) => {
                        let a = i.audio.first().unwrap();
                        assert_eq!((a.sample_rate, a.channels), (44100, 2));
                        assert_eq!(a.asc.as_deref(), Some(&ASC[..]));
                    }
                    Track::Data(_) => panic!("no data streams here"),
                }
            }
        }
    }
    assert_eq!(latest, Some(info()));
    let n_info = ev
        .iter()
        .filter(|e| matches!(e, MediaEvent::Info(_)))
        .count();
    assert!(n_info <= 2, "Info only when it changes ({n_info})");
}

#[test]
fn pcr_and_random_access() {
    let input = frames(30, 0, true);
    let ts = mux(&input);
    let mut last_pcr = None;
    let mut rai_count = 0;
    for p in ts.chunks(PACKET_SIZE) {
        let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
        if p[3] & 0x20 != 0 && p[4] > 0 {
            if p[5] & 0x40 != 0 {
                assert_eq!(pid, VIDEO_PID);
                rai_count += 1;
            }
            if p[5] & 0x10 != 0 {
                assert_eq!(pid, VIDEO_PID);
                let base = (p[6] as u64) << 25
                    | (p[7] as u64) << 17
                    | (p[8] as u64) << 9
                    | (p[9] as u64) << 1
                    | (p[10] >> 7) as u64;
                if let Some(l) = last_pcr {
                    assert!(base > l && base - l <= 3600);
                }
                last_pcr = Some(base);
            }
        }
    }
    assert_eq!(rai_count, 3);
    assert!(last_pcr.is_some());
}

#[test]
fn wrap_around_33_bits() {
    let start = (1i64 << 33) - 90_000;
    let input = frames(75, start, false);
    assert!(input.last().unwrap().pts_90k.0 > 1 << 33);
    let ts = mux(&input);
    let (ev, _) = demux_whole(&ts);
    assert_same(&input, &frames_of(&ev));
}

#[test]
fn chunked_input_matches_whole() {
    let input = frames(40, 12345, false);
    let ts = mux(&input);
    let (whole, _) = demux_whole(&ts);
    for seed in 0..8u64 {
        let mut d = Demuxer::new();
        let mut ev = Vec::new();
        let mut rest = &ts[..];
        let mut x = seed;
        while !rest.is_empty() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            let n = match seed % 3 {
                0 => 1 + (x >> 40) as usize % 3000,
                1 => 1 + (x >> 40) as usize % 10,
                _ => 7 * 188,
            }
            .min(rest.len());
            d.push(&rest[..n], &mut ev);
            rest = &rest[n..];
        }
        d.flush(&mut ev);
        assert_eq!(ev, whole, "seed {seed}");
    }
}

#[test]
fn garbage_between_packets_resyncs() {
    let input = frames(40, 0, true);
    let ts = mux(&input);
    let cut = (ts.len() / 188 / 2) * 188;
    let mut bad = ts[..cut].to_vec();
    bad.extend_from_slice(&[0x47, 1, 2, 3, 0x47, 0x47, 9, 9, 9]);
    bad.extend_from_slice(&filler(5, 1000));
    bad.extend_from_slice(&ts[cut..]);
    let (ev, stats) = demux_whole(&bad);
    assert!(stats.garbage_bytes > 0);
    assert!(stats.resyncs >= 1);
    let out = frames_of(&ev);
    let last_in = input
        .iter()
        .filter(|f| f.track == Track::Video)
        .last()
        .unwrap();
    let last_out = out
        .iter()
        .filter(|f| f.track == Track::Video)
        .last()
        .unwrap();
    assert_eq!(last_in.pts_90k, last_out.pts_90k);
    assert_eq!(slice_nals(&last_in.data), slice_nals(&last_out.data));
}

#[test]
fn lost_packet_drops_pes_and_counts() {
    let input = frames(20, 0, true);
    let ts = mux(&input);
    // remove the third packet on the video pid
    let mut seen = 0;
    let mut bad = Vec::new();
    for p in ts.chunks(188) {
        let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
        if pid == VIDEO_PID {
            seen += 1;
            if seen == 3 {
                continue;
            }
        }
        bad.extend_from_slice(p);
    }
    let (ev, stats) = demux_whole(&bad);
    assert_eq!(stats.cc_errors, 1);
    let n_in = input.iter().filter(|f| f.track == Track::Video).count();
    let n_out = frames_of(&ev)
        .iter()
        .filter(|f| f.track == Track::Video)
        .count();
    assert_eq!(n_out, n_in - 1);
}

#[test]
fn keyframe_without_params_gets_them_inserted() {
    let mut m = Muxer::new(&info());
    let mut out = BytesMut::new();
    m.write_psi(&mut out);
    let au = Bytes::from_static(&[0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x65, 1, 2, 3]);
    m.write_frame(
        &Frame {
            track: Track::Video,
            codec: Codec::H264,
            pts_90k: Ts90k(100),
            dts_90k: Ts90k(100),
            keyframe: true,
            data: au,
        },
        &mut out,
    );
    let (ev, _) = demux_whole(&out);
    let f = &frames_of(&ev)[0];
    let types: Vec<u8> = h264::annexb_nals(&f.data).map(h264::nal_type).collect();
    assert_eq!(types, vec![9, 7, 8, 5]);
    assert!(f.keyframe);
}

#[test]
fn audio_only_and_passthrough_codecs() {
    for codec in [Codec::Mpeg1Audio, Codec::Ac3, Codec::Eac3, Codec::Aac] {
        let info = StreamInfo {
            video: None,
            audio: vec![AudioConfig {
                codec: Some(codec),
                sample_rate: 48000,
                channels: 2,
                asc: None,
                ..Default::default()
            }],
            data: Vec::new(),
        };
        let mut m = Muxer::new(&info);
        assert_eq!(m.pcr_pid(), AUDIO_PID);
        let mut out = BytesMut::new();
        m.write_psi(&mut out);
        let data: Vec<u8> = match codec {
            Codec::Mpeg1Audio => [&[0xff, 0xfd, 0x84, 0x04][..], &filler(1, 400)].concat(),
            Codec::Ac3 => [
                &[0x0b, 0x77, 0, 0, 0x1e, 0x40, 0xe1, 0][..],
                &filler(2, 400),
            ]
            .concat(),
            Codec::Eac3 => [
                &[0x0b, 0x77, 0, 0x10, 0x34, 0x80, 0, 0][..],
                &filler(3, 400),
            ]
            .concat(),
            _ => filler(4, 300),
        };
        let input: Vec<Frame> = (0..5)
            .map(|i| Frame {
                track: Track::Audio(0),
                codec,
                pts_90k: Ts90k(i * 2160),
                dts_90k: Ts90k(i * 2160),
                keyframe: true,
                data: Bytes::from(data.clone()),
            })
            .collect();
        for f in &input {
            m.write_frame(f, &mut out);
        }
        check_packets(&out);
        let (ev, stats) = demux_whole(&out);
        assert_eq!(stats.video_pid, None);
        assert_eq!(frames_of(&ev), input, "{codec:?}");
        let MediaEvent::Info(i) = &ev[0] else {
            panic!("Info first")
        };
        let a = i.audio.first().unwrap();
        assert_eq!(a.codec, Some(codec));
        assert_eq!(a.sample_rate, 48000, "{codec:?}");
        assert_eq!(a.channels, if codec == Codec::Ac3 { 6 } else { 2 });
        assert!(i.video.is_none());
    }
}

#[test]
fn hevc_round_trip() {
    const VPS: [u8; 4] = [0x40, 0x01, 0x0c, 0x01];
    const SPS: [u8; 46] = [
        0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x03, 0x00,
        0x00, 0x78, 0x90, 0x00, 0x78, 0x10, 0x02, 0x1c, 0xb2, 0xca, 0xcd, 0x24, 0x99, 0x5e, 0x02,
        0xdc, 0x08, 0x08, 0x00, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01, 0x90,
        0x80,
    ];
    const HPPS: [u8; 3] = [0x44, 0x01, 0xc1];
    let info = StreamInfo {
        video: Some(VideoConfig {
            codec: Some(Codec::H265),
            width: 1920,
            height: 1080,
            fps_milli: 0,
            sps: vec![Bytes::from_static(&VPS), Bytes::from_static(&SPS)],
            pps: vec![Bytes::from_static(&HPPS)],
        }),
        audio: Vec::new(),
        data: Vec::new(),
    };
    let mut m = Muxer::new(&info);
    let mut out = BytesMut::new();
    m.write_psi(&mut out);
    // IDR_W_RADL (19) without parameter sets, then a TRAIL_R (1)
    let idr = Bytes::from([&[0, 0, 0, 1, 19 << 1, 1][..], &filler(9, 3000)].concat());
    let trail = Bytes::from([&[0, 0, 0, 1, 1 << 1, 1][..], &filler(10, 500)].concat());
    for (i, (d, k)) in [(idr, true), (trail, false)].into_iter().enumerate() {
        let t = Ts90k(i as i64 * 3000);
        m.write_frame(
            &Frame {
                track: Track::Video,
                codec: Codec::H265,
                pts_90k: t,
                dts_90k: t,
                keyframe: k,
                data: d,
            },
            &mut out,
        );
    }
    let (ev, _) = demux_whole(&out);
    let MediaEvent::Info(i) = &ev[0] else {
        panic!("Info first")
    };
    assert_eq!(i, &info);
    let f = frames_of(&ev);
    assert_eq!(f.len(), 2);
    assert!(f[0].keyframe && !f[1].keyframe);
    let types: Vec<u8> = h264::annexb_nals(&f[0].data)
        .map(crate::codec::hevc_nal_type)
        .collect();
    assert_eq!(types, vec![35, 32, 33, 34, 19]);
}

#[test]
fn no_pmt_no_frames() {
    let ts = mux(&frames(10, 0, true));
    // keep only the elementary stream packets
    let only_es: Vec<u8> = ts
        .chunks(188)
        .filter(|p| {
            let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
            pid == VIDEO_PID || pid == AUDIO_PID
        })
        .flatten()
        .copied()
        .collect();
    let (ev, stats) = demux_whole(&only_es);
    assert!(ev.is_empty());
    assert!(!stats.has_pat && !stats.has_pmt);
    assert!(stats.packets > 0);
}

#[test]
fn set_info_bumps_pmt_version() {
    let mut m = Muxer::new(&info());
    let mut a = BytesMut::new();
    m.write_psi(&mut a);
    let mut audio_only = info();
    audio_only.video = None;
    m.set_info(&audio_only);
    let mut b = BytesMut::new();
    m.write_psi(&mut b);
    let version = |ts: &[u8]| (ts[188 + 5 + 5] >> 1) & 0x1f;
    assert_ne!(version(&a), version(&b));
    check_packets(&[&a[..], &b[..]].concat());
    let (ev, stats) = demux_whole(&b);
    assert!(ev.is_empty());
    assert!(stats.has_pmt);
    assert_eq!(stats.video_pid, None);
    assert_eq!(stats.audio_pid, Some(AUDIO_PID));
}

fn valid_stream() -> &'static [u8] {
    use std::sync::OnceLock;
    static TS: OnceLock<Vec<u8>> = OnceLock::new();
    TS.get_or_init(|| mux(&frames(24, 1000, true)).to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let (_, _) = demux_whole(&data);
        // the same with sync bytes sprinkled at packet boundaries
        let mut d = data.clone();
        for i in (0..d.len()).step_by(188) {
            d[i] = 0x47;
        }
        let (_, _) = demux_whole(&d);
    }

    #[test]
    fn corrupted_stream_never_panics_and_recovers(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..40),
        cut in any::<prop::sample::Index>(),
        cut_len in 0usize..600,
        chunk in 1usize..2000,
    ) {
        let ts = valid_stream();
        // corrupt only the first half; the second half must still yield frames
        let half = ts.len() / 2;
        let mut bad = ts.to_vec();
        for (i, v) in &flips {
            bad[i.index(half)] = *v;
        }
        let c = cut.index(half);
        let e = (c + cut_len).min(half);
        bad.drain(c..e);
        let mut d = Demuxer::new();
        let mut ev = Vec::new();
        for piece in bad.chunks(chunk) {
            d.push(piece, &mut ev);
        }
        d.flush(&mut ev);
        let out = frames_of(&ev);
        let last_in = frames(24, 1000, true).into_iter().filter(|f| f.track == Track::Video).last().unwrap();
        prop_assert!(out.iter().any(|f| f.track == Track::Video && f.pts_90k == last_in.pts_90k));
    }

    #[test]
    fn truncations_never_panic(len in 0usize..20_000, skip in 0usize..400) {
        let ts = valid_stream();
        let end = len.min(ts.len());
        let start = skip.min(end);
        let _ = demux_whole(&ts[start..end]);
    }
}

/// A PMT spanning two packets, with unsupported streams first and DVB-style AC-3
/// (stream_type 0x06 + AC-3 descriptor).
#[test]
fn multi_packet_pmt_and_dvb_ac3() {
    let ac3_info = StreamInfo {
        video: info().video,
        audio: vec![AudioConfig {
            codec: Some(Codec::Ac3),
            sample_rate: 48000,
            channels: 6,
            asc: None,
            ..Default::default()
        }],
        data: Vec::new(),
    };
    let mut m = Muxer::new(&ac3_info);
    let mut psi = BytesMut::new();
    m.write_psi(&mut psi);
    let mut ts = psi[..188].to_vec(); // the muxer's PAT

    let mut sec = vec![0x02, 0xb0, 0, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0x00];
    for i in 0..40u16 {
        sec.extend_from_slice(&[0x05, 0xe2, i as u8, 0xf0, 0x00]); // private sections
    }
    sec.extend_from_slice(&[0x1b, 0xe1, 0x00, 0xf0, 0x00]);
    sec.extend_from_slice(&[0x06, 0xe1, 0x01, 0xf0, 0x03, 0x6a, 0x01, 0x00]);
    let len = (sec.len() - 3 + 4) as u16;
    sec[1] = 0xb0 | (len >> 8) as u8;
    sec[2] = len as u8;
    let crc = crc32_mpeg2(&sec);
    sec.extend_from_slice(&crc.to_be_bytes());
    assert!(sec.len() > 183);
    let mut payload = vec![0u8]; // pointer_field
    payload.extend_from_slice(&sec);
    for (i, chunk) in payload.chunks(184).enumerate() {
        let mut p = vec![0x47, if i == 0 { 0x50 } else { 0x10 }, 0x00, 0x10 | i as u8];
        p.extend_from_slice(chunk);
        p.resize(188, 0xff);
        ts.extend_from_slice(&p);
    }

    let mut es = BytesMut::new();
    let video = Frame {
        track: Track::Video,
        codec: Codec::H264,
        pts_90k: Ts90k(0),
        dts_90k: Ts90k(0),
        keyframe: true,
        data: video_au(3, true, true),
    };
    let audio = Frame {
        track: Track::Audio(0),
        codec: Codec::Ac3,
        pts_90k: Ts90k(10),
        dts_90k: Ts90k(10),
        keyframe: true,
        data: Bytes::from(
            [
                &[0x0b, 0x77, 0, 0, 0x1e, 0x40, 0xe1, 0][..],
                &filler(2, 400),
            ]
            .concat(),
        ),
    };
    m.write_frame(&video, &mut es);
    m.write_frame(&audio, &mut es);
    ts.extend_from_slice(&es);
    let (ev, stats) = demux_whole(&ts);
    assert_eq!(stats.psi_errors, 0);
    assert_eq!(
        (stats.video_pid, stats.audio_pid),
        (Some(VIDEO_PID), Some(AUDIO_PID))
    );
    let f = frames_of(&ev);
    assert_eq!(f.len(), 2);
    assert_eq!(f[1], audio);
    let Some(MediaEvent::Info(i)) = ev.iter().rev().find(|e| matches!(e, MediaEvent::Info(_)))
    else {
        panic!("no Info")
    };
    assert_eq!(i, &ac3_info);
}

/// A teletext data field: data_identifier 0x10 and `units` EBU subtitle data units.
fn teletext_data(units: usize, seed: u64) -> Bytes {
    let mut v = vec![0x10];
    for u in 0..units {
        v.extend_from_slice(&[0x03, 0x2c]);
        v.extend_from_slice(&filler(seed + u as u64, 44));
    }
    Bytes::from(v)
}

fn multi_info() -> StreamInfo {
    let mut i = info();
    i.audio[0].language = Some("chi".into());
    i.audio.push(AudioConfig {
        codec: Some(Codec::Mpeg1Audio),
        sample_rate: 48_000,
        channels: 2,
        asc: None,
        language: Some("eng".into()),
        description: false,
    });
    i.audio.push(AudioConfig {
        codec: Some(Codec::Ac3),
        sample_rate: 48_000,
        channels: 6,
        asc: None,
        language: Some("eng".into()),
        description: true,
    });
    // teletext_descriptor: eng, subtitle page 888; ISO 639 of the stream too
    i.data.push(media::DataConfig {
        codec: Some(Codec::Teletext),
        language: Some("eng".into()),
        descriptors: Bytes::from_static(&[0x56, 5, b'e', b'n', b'g', 0x10, 0x88]),
    });
    i.data.push(media::DataConfig {
        codec: Some(Codec::DvbSubtitle),
        language: Some("fre".into()),
        descriptors: Bytes::from_static(&[0x59, 8, b'f', b'r', b'e', 0x10, 0, 1, 0, 1]),
    });
    i
}

#[test]
fn every_audio_track_and_data_stream_round_trips_with_its_language() {
    let info = multi_info();
    let mut mux = Muxer::new(&info);
    let mut out = BytesMut::new();
    mux.write_psi(&mut out);
    let mp2 = Bytes::from_static(&[0xff, 0xfd, 0x84, 0x04, 1, 2, 3, 4]);
    let ac3 = Bytes::from_static(&[0x0b, 0x77, 0, 0, 0x1e, 0x40, 0xe1, 0, 9, 9]);
    let mut sent = Vec::new();
    for k in 0..10i64 {
        let t = 90_000 + k * 3600;
        let mut fr = vec![
            Frame {
                track: Track::Video,
                codec: Codec::H264,
                pts_90k: Ts90k(t + 3600),
                dts_90k: Ts90k(t),
                keyframe: k == 0,
                data: video_au(k as u64, k == 0, true),
            },
            Frame {
                track: Track::Audio(0),
                codec: Codec::Aac,
                pts_90k: Ts90k(t),
                dts_90k: Ts90k(t),
                keyframe: true,
                data: Bytes::from(filler(k as u64, 200)),
            },
            Frame {
                track: Track::Audio(1),
                codec: Codec::Mpeg1Audio,
                pts_90k: Ts90k(t + 10),
                dts_90k: Ts90k(t + 10),
                keyframe: true,
                data: mp2.clone(),
            },
            Frame {
                track: Track::Audio(2),
                codec: Codec::Ac3,
                pts_90k: Ts90k(t + 20),
                dts_90k: Ts90k(t + 20),
                keyframe: true,
                data: ac3.clone(),
            },
            Frame {
                track: Track::Data(1),
                codec: Codec::DvbSubtitle,
                pts_90k: Ts90k(t + 40),
                dts_90k: Ts90k(t + 40),
                keyframe: true,
                data: Bytes::from_static(&[0x20, 0x00, 0x0f, 0x10, 0, 1, 0, 0, 0xff]),
            },
        ];
        if k % 3 == 0 {
            fr.push(Frame {
                track: Track::Data(0),
                codec: Codec::Teletext,
                pts_90k: Ts90k(t + 30),
                dts_90k: Ts90k(t + 30),
                keyframe: true,
                data: teletext_data(1 + k as usize / 3, k as u64),
            });
        }
        for f in &fr {
            mux.write_frame(f, &mut out);
        }
        sent.extend(fr);
    }
    // a frame of a track the description lacks is not written
    let before = out.len();
    mux.write_frame(
        &Frame {
            track: Track::Audio(5),
            ..sent[1].clone()
        },
        &mut out,
    );
    assert_eq!(out.len(), before);

    // teletext PES: header data length 0x24, whole packets (EN 300 472)
    let ts = out.freeze();
    for p in ts.chunks(PACKET_SIZE) {
        let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
        if pid == DATA_PID && p[1] & 0x40 != 0 {
            let off = if p[3] & 0x20 != 0 {
                5 + p[4] as usize
            } else {
                4
            };
            let pes = &p[off..];
            assert_eq!(&pes[..4], &[0, 0, 1, 0xbd]);
            assert_eq!(pes[8], 0x24, "PES_header_data_length");
            let len = u16::from_be_bytes([pes[4], pes[5]]) as usize;
            assert_eq!((len + 6) % 184, 0, "a teletext PES fills whole packets");
            assert_eq!(pes[9 + 0x24], 0x10, "the data field starts at 45");
        }
    }

    let mut demux = Demuxer::new();
    let mut ev = Vec::new();
    demux.push(&ts, &mut ev);
    demux.flush(&mut ev);
    let got_info = ev
        .iter()
        .rev()
        .find_map(|e| match e {
            MediaEvent::Info(i) => Some(i.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(got_info.audio.len(), 3);
    let langs: Vec<_> = got_info
        .audio
        .iter()
        .map(|a| (a.codec, a.language.clone(), a.description))
        .collect();
    assert_eq!(
        langs,
        vec![
            (Some(Codec::Aac), Some("chi".into()), false),
            (Some(Codec::Mpeg1Audio), Some("eng".into()), false),
            (Some(Codec::Ac3), Some("eng".into()), true),
        ]
    );
    assert_eq!(got_info.audio[1].sample_rate, 48_000);
    assert_eq!(got_info.audio[2].channels, 6);
    assert_eq!(
        got_info.data, info.data,
        "data streams keep their descriptors"
    );
    let stats = demux.stats();
    assert_eq!((stats.audio_streams, stats.data_streams), (3, 2));
    assert_eq!(stats.cc_errors + stats.pes_errors + stats.psi_errors, 0);
    let frames: Vec<Frame> = ev
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Frame(f) => Some(f),
            _ => None,
        })
        .collect();
    for track in [
        Track::Video,
        Track::Audio(0),
        Track::Audio(1),
        Track::Audio(2),
        Track::Data(0),
        Track::Data(1),
    ] {
        let a: Vec<_> = sent.iter().filter(|f| f.track == track).collect();
        let b: Vec<_> = frames.iter().filter(|f| f.track == track).collect();
        assert_eq!(a.len(), b.len(), "{track:?}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.pts_90k, y.pts_90k, "{track:?}");
            if track != Track::Video {
                if track == Track::Data(0) {
                    // stuffing units may follow the data units
                    assert!(y.data.starts_with(&x.data));
                    assert!(y.data[x.data.len()..].chunks(46).all(|u| u[0] == 0xff));
                } else {
                    assert_eq!(x.data, y.data, "{track:?}");
                }
            }
        }
    }
    // the renditions reader sees the same program
    let program = crate::program::read_program(&ts).unwrap();
    assert_eq!(program.streams.len(), 6);
    assert_eq!(
        program.streams[3].language(),
        Some(*b"eng"),
        "ISO 639 written"
    );
    assert!(program.streams[3].is_audio_description());
}

#[test]
fn a_program_of_many_streams_spans_pmt_packets_and_caps_the_tracks() {
    let mut info = multi_info();
    let a = info.audio[1].clone();
    while info.audio.len() < 12 {
        info.audio.push(a.clone());
    }
    let d = media::DataConfig {
        codec: Some(Codec::Teletext),
        language: Some("ger".into()),
        descriptors: Bytes::from(
            [0x56u8, 20]
                .into_iter()
                .chain((0..4).flat_map(|p| [b'g', b'e', b'r', 0x10, 0x50 + p]))
                .collect::<Vec<u8>>(),
        ),
    };
    while info.data.len() < 8 {
        info.data.push(d.clone());
    }
    let mut mux = Muxer::new(&info);
    let mut out = BytesMut::new();
    mux.write_psi(&mut out);
    assert!(
        out.len() > 2 * PACKET_SIZE,
        "the PMT needs more than one packet"
    );
    let mut demux = Demuxer::new();
    let mut ev = Vec::new();
    demux.push(&out, &mut ev);
    let s = demux.stats();
    assert_eq!(s.psi_errors, 0);
    assert!(s.has_pmt);
    assert_eq!(s.audio_streams as usize, media::MAX_AUDIO_TRACKS);
    assert_eq!(s.data_streams as usize, media::MAX_DATA_STREAMS);
    assert_eq!(demux.info().audio.len(), media::MAX_AUDIO_TRACKS);
}

#[test]
fn frames_of_a_stream_share_slabs() {
    let input = frames(240, 0, false);
    let (ev, _) = demux_whole(&mux(&input));
    let audio: Vec<Frame> = frames_of(&ev)
        .into_iter()
        .filter(|f| f.track == Track::Audio(0))
        .collect();
    assert!(audio.len() > 400, "{} audio frames", audio.len());
    // the next frame sits just after the previous one (its PES and ADTS headers between) when
    // both are in one allocation
    let fresh = 1 + audio
        .windows(2)
        .filter(|w| {
            let end = w[0].data.as_ptr() as usize + w[0].data.len();
            let next = w[1].data.as_ptr() as usize;
            next < end || next > end + 64
        })
        .count();
    assert!(
        fresh * 10 <= audio.len(),
        "{fresh} allocations for {} frames",
        audio.len()
    );
}
