//! Round trips through the writer and the reader, hand-built `moov` fragments, and hostile
//! input.

use bytes::Bytes;
use proptest::prelude::*;

use crate::codec::tests::{PPS, SPS_BASELINE};
use crate::codec::{avcc_from_parameter_sets, pack_language};
use crate::*;

// ---------------------------------------------------------------- builders for hand-made boxes

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn full(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![version, 0, 0, 0];
    b.extend_from_slice(body);
    bx(kind, &b)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

fn mvhd(timescale: u32, duration: u32) -> Vec<u8> {
    let mut b = u32s(&[0, 0, timescale, duration]);
    b.resize(96, 0);
    full(b"mvhd", 0, &b)
}

fn tkhd(id: u32, width: u32, height: u32) -> Vec<u8> {
    let mut b = u32s(&[0, 0, id, 0, 0]);
    b.resize(b.len() + 8 + 8 + 36, 0);
    b.extend_from_slice(&u32s(&[width << 16, height << 16]));
    full(b"tkhd", 0, &b)
}

fn mdhd(timescale: u32, duration: u32, language: u16) -> Vec<u8> {
    let mut b = u32s(&[0, 0, timescale, duration]);
    b.extend_from_slice(&language.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    full(b"mdhd", 0, &b)
}

fn hdlr(handler: &[u8; 4]) -> Vec<u8> {
    let mut b = u32s(&[0]);
    b.extend_from_slice(handler);
    b.extend_from_slice(&[0; 13]);
    full(b"hdlr", 0, &b)
}

fn avc1(width: u16, height: u16) -> Vec<u8> {
    let avcc = avcc_from_parameter_sets(
        &[Bytes::from_static(SPS_BASELINE)],
        &[Bytes::from_static(PPS)],
    )
    .unwrap();
    let mut b = vec![0u8; 6];
    b.extend_from_slice(&[0, 1]);
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&[0; 50]);
    b.extend_from_slice(&bx(b"avcC", &avcc));
    bx(b"avc1", &b)
}

fn esds(oti: u8, asc: &[u8]) -> Vec<u8> {
    // long-form (4-byte) descriptor lengths, as ffmpeg writes them
    let d = |tag: u8, body: &[u8]| {
        let n = body.len() as u8;
        let mut v = vec![tag, 0x80, 0x80, 0x80, n];
        v.extend_from_slice(body);
        v
    };
    let mut dc = vec![oti, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    dc.extend_from_slice(&d(5, asc));
    let mut es = vec![0, 1, 0];
    es.extend_from_slice(&d(4, &dc));
    es.extend_from_slice(&d(6, &[2]));
    full(b"esds", 0, &d(3, &es))
}

fn stbl(stsd_entry: &[u8], tables: &[Vec<u8>]) -> Vec<u8> {
    let mut stsd = u32s(&[1]);
    stsd.extend_from_slice(stsd_entry);
    let mut body = full(b"stsd", 0, &stsd);
    for t in tables {
        body.extend_from_slice(t);
    }
    bx(b"stbl", &body)
}

fn trak(
    tkhd: Vec<u8>,
    edts: Option<Vec<u8>>,
    mdhd: Vec<u8>,
    hdlr: Vec<u8>,
    stbl: Vec<u8>,
) -> Vec<u8> {
    let minf = bx(b"minf", &stbl);
    let mdia = bx(b"mdia", &cat(&[&mdhd, &hdlr, &minf]));
    bx(b"trak", &cat(&[&tkhd, &edts.unwrap_or_default(), &mdia]))
}

/// A table box: count, then the entries' u32 fields.
fn table(kind: &[u8; 4], version: u8, prefix: &[u32], entries: &[&[u32]]) -> Vec<u8> {
    let mut b = u32s(prefix);
    b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        b.extend_from_slice(&u32s(e));
    }
    full(kind, version, &b)
}

/// A video track: 11 samples of 10 bytes in 5 chunks via three stsc runs, ctts v0, no stss,
/// an empty edit of 0.5 s then media time 1200.
fn video_moov() -> Vec<u8> {
    let elst = full(
        b"elst",
        0,
        &u32s(&[2, 500, u32::MAX, 0x1_0000, 2000, 1200, 0x1_0000]),
    );
    let tables = vec![
        table(b"stts", 0, &[], &[&[4, 3600], &[7, 1800]]),
        table(b"ctts", 0, &[], &[&[1, 7200], &[2, 0], &[8, 3600]]),
        table(b"stsc", 0, &[], &[&[1, 2, 1], &[3, 1, 1], &[4, 3, 1]]),
        full(b"stsz", 0, &u32s(&[10, 11])),
        table(
            b"stco",
            0,
            &[],
            &[&[1000], &[2000], &[3000], &[4000], &[5000]],
        ),
    ];
    let t = trak(
        tkhd(1, 320, 240),
        Some(bx(b"edts", &elst)),
        mdhd(90000, 27000, pack_language(Some("deu"))),
        hdlr(b"vide"),
        stbl(&avc1(320, 240), &tables),
    );
    bx(b"moov", &cat(&[&mvhd(1000, 2500), &t]))
}

#[test]
fn hand_built_video_track() {
    let m = parse_moov(&video_moov(), &Limits::default()).unwrap();
    assert_eq!((m.timescale, m.duration, m.fragmented), (1000, 2500, false));
    let t = &m.tracks[0];
    assert_eq!(
        (t.id, t.kind, t.timescale, t.duration),
        (1, TrackKind::Video, 90000, 27000)
    );
    assert_eq!((t.width, t.height), (320, 240));
    assert_eq!(t.language.as_deref(), Some("deu"));
    assert_eq!(t.edit_media_start, 1200);
    assert_eq!(t.edit_empty_delay, 45000);
    match &t.codec {
        CodecConfig::H264 {
            nal_length_size,
            sps,
            pps,
            ..
        } => {
            assert_eq!(*nal_length_size, 4);
            assert_eq!((sps[0].as_ref(), pps[0].as_ref()), (SPS_BASELINE, PPS));
        }
        c => panic!("{c:?}"),
    }
    let offsets: Vec<u64> = t.samples.iter().map(|s| s.offset).collect();
    assert_eq!(
        offsets,
        [1000, 1010, 2000, 2010, 3000, 4000, 4010, 4020, 5000, 5010, 5020]
    );
    assert!(t.samples.iter().all(|s| s.size == 10 && s.sync));
    let dts: Vec<i64> = t.samples.iter().map(|s| s.dts).collect();
    assert_eq!(
        dts,
        [0, 3600, 7200, 10800, 14400, 16200, 18000, 19800, 21600, 23400, 25200]
    );
    assert_eq!(t.samples[3].duration, 3600);
    assert_eq!(t.samples[4].duration, 1800);
    let cts: Vec<i32> = t.samples.iter().map(|s| s.cts_offset).collect();
    assert_eq!(
        cts,
        [7200, 0, 0, 3600, 3600, 3600, 3600, 3600, 3600, 3600, 3600]
    );
}

#[test]
fn ctts_v1_stss_co64_stz2_elst_v1() {
    let mut elst = u32s(&[1]);
    elst.extend_from_slice(&5000u64.to_be_bytes());
    elst.extend_from_slice(&(-1i64 as u64).to_be_bytes()); // only an empty edit
    elst.extend_from_slice(&u32s(&[0x1_0000]));
    let mut co64 = u32s(&[2]);
    co64.extend_from_slice(&0x1_0000_0000u64.to_be_bytes());
    co64.extend_from_slice(&0x2_0000_0000u64.to_be_bytes());
    let mut stz2 = vec![0, 0, 0, 8];
    stz2.extend_from_slice(&u32s(&[4]));
    stz2.extend_from_slice(&[5, 6, 7, 8]);
    let tables = vec![
        table(b"stts", 0, &[], &[&[4, 1000]]),
        table(
            b"ctts",
            1,
            &[],
            &[&[1, 2000], &[1, (-1000i32) as u32], &[2, 0]],
        ),
        table(b"stss", 0, &[], &[&[1], &[3], &[99]]),
        table(b"stsc", 0, &[], &[&[1, 3, 1], &[2, 1, 1]]),
        full(b"stz2", 0, &stz2),
        full(b"co64", 0, &co64),
    ];
    let t = trak(
        tkhd(7, 640, 360),
        Some(bx(b"edts", &full(b"elst", 1, &elst))),
        mdhd(25000, 4000, 0x55c4),
        hdlr(b"vide"),
        stbl(&avc1(0, 0), &tables),
    );
    let moov = bx(b"moov", &cat(&[&mvhd(1000, 0), &t, &bx(b"mvex", &[])]));
    let m = parse_moov(&moov, &Limits::default()).unwrap();
    assert!(m.fragmented);
    let t = &m.tracks[0];
    assert_eq!(t.language, None);
    assert_eq!(
        (t.width, t.height),
        (640, 360),
        "tkhd size when the entry has none"
    );
    assert_eq!((t.edit_media_start, t.edit_empty_delay), (0, 125000));
    let s = &t.samples;
    assert_eq!(
        s.iter().map(|s| s.offset).collect::<Vec<_>>(),
        [0x1_0000_0000, 0x1_0000_0005, 0x1_0000_000b, 0x2_0000_0000]
    );
    assert_eq!(s.iter().map(|s| s.size).collect::<Vec<_>>(), [5, 6, 7, 8]);
    assert_eq!(
        s.iter().map(|s| s.cts_offset).collect::<Vec<_>>(),
        [2000, -1000, 0, 0]
    );
    assert_eq!(
        s.iter().map(|s| s.sync).collect::<Vec<_>>(),
        [true, false, true, false]
    );
}

/// A QuickTime sound description v1 (16 extra bytes) with `wave(frma, mp4a, esds, terminator)`,
/// language as a Macintosh code.
#[test]
fn mov_sound_v1_with_wave() {
    let mut entry = vec![0u8; 6];
    entry.extend_from_slice(&[0, 1]);
    entry.extend_from_slice(&[0, 1, 0, 0]); // version 1, revision 0
    entry.extend_from_slice(&[0; 4]); // vendor
    entry.extend_from_slice(&[0, 2, 0, 16, 0xff, 0xfe, 0, 0]); // 2 ch, 16 bit, compression -2
    entry.extend_from_slice(&u32s(&[48000 << 16]));
    entry.extend_from_slice(&u32s(&[1024, 0, 0, 2])); // v1 fields
    let wave = cat(&[
        &bx(b"frma", b"mp4a"),
        &bx(b"mp4a", &[0; 4]),
        &esds(0x40, &[0x11, 0x90]),
        &[0; 8],
    ]);
    entry.extend_from_slice(&bx(b"wave", &wave));
    let tables = vec![
        table(b"stts", 0, &[], &[&[3, 1024]]),
        table(b"stsc", 0, &[], &[&[1, 3, 1]]),
        full(b"stsz", 0, &u32s(&[0, 3, 100, 200, 300])),
        table(b"stco", 0, &[], &[&[48]]),
    ];
    let t = trak(
        tkhd(2, 0, 0),
        None,
        mdhd(48000, 3072, 1),
        hdlr(b"soun"),
        stbl(&bx(b"mp4a", &entry), &tables),
    );
    let moov = bx(b"moov", &cat(&[&mvhd(600, 0), &t]));
    let m = parse_moov(&moov, &Limits::default()).unwrap();
    let t = &m.tracks[0];
    assert_eq!(t.kind, TrackKind::Audio);
    assert_eq!(
        t.codec,
        CodecConfig::Aac {
            asc: Bytes::from_static(&[0x11, 0x90])
        }
    );
    assert_eq!((t.sample_rate, t.channels), (48000, 2));
    assert_eq!(t.language.as_deref(), Some("fra"), "Macintosh code 1");
    assert_eq!(
        t.samples.iter().map(|s| s.offset).collect::<Vec<_>>(),
        [48, 148, 348]
    );
    assert_eq!((t.edit_media_start, t.edit_empty_delay), (0, 0));
}

/// Sound description v2 (rate as f64) with an MP3 esds, 5.1 AAC channel count from the ASC.
#[test]
fn mov_sound_v2_and_mp3() {
    let entry = |oti: u8, asc: &[u8]| {
        let mut e = vec![0u8; 6];
        e.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 0, 0, 0]);
        e.extend_from_slice(&[0, 3, 0, 16, 0xff, 0xfe, 0, 0]);
        e.extend_from_slice(&u32s(&[0x1_0000, 72]));
        e.extend_from_slice(&96000f64.to_bits().to_be_bytes());
        e.extend_from_slice(&u32s(&[1, 0x7f00_0000, 16, 0, 0, 1024]));
        e.extend_from_slice(&esds(oti, asc));
        bx(b"mp4a", &e)
    };
    let tables = vec![
        table(b"stts", 0, &[], &[]),
        table(b"stsc", 0, &[], &[]),
        full(b"stsz", 0, &u32s(&[0, 0])),
        table(b"stco", 0, &[], &[]),
    ];
    for (oti, asc, codec, channels) in [
        (0x6b, &[][..], CodecConfig::Mp3, 1),
        (
            0x40,
            &[0x11, 0xb0][..],
            CodecConfig::Aac {
                asc: Bytes::from_static(&[0x11, 0xb0]),
            },
            6,
        ),
    ] {
        let t = trak(
            tkhd(1, 0, 0),
            None,
            mdhd(96000, 0, 0),
            hdlr(b"soun"),
            stbl(&entry(oti, asc), &tables),
        );
        let m = parse_moov(
            &bx(b"moov", &cat(&[&mvhd(1000, 0), &t])),
            &Limits::default(),
        )
        .unwrap();
        let t = &m.tracks[0];
        assert_eq!(t.codec, codec);
        assert_eq!((t.sample_rate, t.channels), (96000, channels));
        assert_eq!(t.language.as_deref(), Some("eng"), "Macintosh code 0");
        assert!(t.samples.is_empty());
    }
}

#[test]
fn unsupported_entries_and_subtitles() {
    let tables = vec![
        table(b"stts", 0, &[], &[&[1, 1000]]),
        table(b"stsc", 0, &[], &[&[1, 1, 1]]),
        full(b"stsz", 0, &u32s(&[0, 1, 9])),
        table(b"stco", 0, &[], &[&[77]]),
    ];
    let tx3g = bx(b"tx3g", &[0; 40]);
    let t = trak(
        tkhd(3, 0, 0),
        None,
        mdhd(1000, 1000, 0x55c4),
        hdlr(b"sbtl"),
        stbl(&tx3g, &tables),
    );
    let m = parse_moov(
        &bx(b"moov", &cat(&[&mvhd(1000, 0), &t])),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(m.tracks[0].kind, TrackKind::Subtitle);
    assert_eq!(
        m.tracks[0].codec,
        CodecConfig::Unsupported { fourcc: *b"tx3g" }
    );
    assert_eq!(m.tracks[0].samples.len(), 1);
}

#[test]
fn inconsistent_and_oversized_tables() {
    let moov = |tables: Vec<Vec<u8>>| {
        let t = trak(
            tkhd(1, 0, 0),
            None,
            mdhd(1000, 0, 0),
            hdlr(b"vide"),
            stbl(&avc1(16, 16), &tables),
        );
        bx(b"moov", &cat(&[&mvhd(1000, 0), &t]))
    };
    let stts = || table(b"stts", 0, &[], &[&[5, 1]]);
    // stsc/stco cover 2 of 5 samples
    let m = moov(vec![
        stts(),
        table(b"stsc", 0, &[], &[&[1, 1, 1]]),
        full(b"stsz", 0, &u32s(&[3, 5])),
        table(b"stco", 0, &[], &[&[0], &[9]]),
    ]);
    assert!(matches!(
        parse_moov(&m, &Limits::default()),
        Err(Error::Invalid { .. })
    ));
    // a huge fixed-size sample count is refused by the limit
    let m = moov(vec![
        stts(),
        table(b"stsc", 0, &[], &[&[1, 1, 1]]),
        full(b"stsz", 0, &u32s(&[3, u32::MAX])),
        table(b"stco", 0, &[], &[&[0]]),
    ]);
    let limits = Limits {
        max_samples: 1000,
        ..Limits::default()
    };
    assert!(matches!(
        parse_moov(&m, &limits),
        Err(Error::TooLarge { .. })
    ));
    // a table count beyond the bytes present
    let m = moov(vec![
        stts(),
        table(b"stsc", 0, &[], &[&[1, 1, 1]]),
        full(b"stsz", 0, &u32s(&[0, 1_000_000, 1])),
        table(b"stco", 0, &[], &[&[0]]),
    ]);
    assert!(matches!(
        parse_moov(&m, &Limits::default()),
        Err(Error::Truncated { .. })
    ));
    // stsc not starting at chunk 1
    let m = moov(vec![
        stts(),
        table(b"stsc", 0, &[], &[&[2, 5, 1]]),
        full(b"stsz", 0, &u32s(&[3, 5])),
        table(b"stco", 0, &[], &[&[0], &[9]]),
    ]);
    assert!(matches!(
        parse_moov(&m, &Limits::default()),
        Err(Error::Invalid { .. })
    ));
    // too many tracks
    let limits = Limits {
        max_tracks: 0,
        ..Limits::default()
    };
    assert!(matches!(
        parse_moov(&video_moov(), &limits),
        Err(Error::TooLarge { .. })
    ));
    // not a moov
    assert!(parse_moov(&bx(b"free", &[]), &Limits::default()).is_err());
}

// ---------------------------------------------------------------- writer round trips

/// The bytes of sample `s` of track `t`: (t, s) in the first 6 bytes, then a pattern.
fn sample_bytes(t: u16, s: u32, size: u32) -> Vec<u8> {
    let mut v: Vec<u8> = (0..size)
        .map(|i| {
            (i as u8)
                .wrapping_mul(7)
                .wrapping_add((t as u8).wrapping_mul(31).wrapping_add(s as u8))
        })
        .collect();
    let id = [&t.to_be_bytes()[..], &s.to_be_bytes()[..]].concat();
    let n = v.len().min(6);
    v[..n].copy_from_slice(&id[..n]);
    v
}

fn build_file(tracks: &[TrackOut], layout: &Layout) -> Vec<u8> {
    let mut file = layout.header.clone();
    for &(t, s) in &layout.order {
        file.extend_from_slice(&sample_bytes(
            t,
            s,
            tracks[t as usize].samples[s as usize].size,
        ));
    }
    file
}

/// Top-level boxes of a file: (type, offset, size).
fn top_level(file: &[u8]) -> Vec<([u8; 4], u64, u64)> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    while (pos as usize) < file.len() {
        let h = parse_box_header(&file[pos as usize..], pos)
            .unwrap()
            .unwrap();
        let size = h.size.unwrap_or(file.len() as u64 - pos);
        out.push((h.kind, pos, size));
        pos += size;
    }
    out
}

fn moov_of(file: &[u8]) -> &[u8] {
    let (_, off, size) = top_level(file)
        .into_iter()
        .find(|(k, _, _)| k == b"moov")
        .unwrap();
    &file[off as usize..(off + size) as usize]
}

/// Checks that `movie` describes `tracks` and that the bytes at every offset are the sample's.
fn check_round_trip(tracks: &[TrackOut], movie: &Movie, file: &[u8]) {
    assert_eq!(movie.tracks.len(), tracks.len());
    for (ti, (want, got)) in tracks.iter().zip(&movie.tracks).enumerate() {
        assert_eq!(got.id, ti as u32 + 1);
        assert_eq!(got.kind, want.kind);
        assert_eq!(got.codec, want.codec);
        assert_eq!(got.timescale, want.timescale);
        assert_eq!(got.language, want.language);
        assert_eq!(got.edit_media_start, want.edit_media_start);
        assert_eq!(got.edit_empty_delay, 0);
        assert_eq!(got.samples.len(), want.samples.len());
        let mut dts = 0i64;
        for (si, (w, g)) in want.samples.iter().zip(&got.samples).enumerate() {
            assert_eq!(
                (g.size, g.duration, g.cts_offset, g.sync, g.dts),
                (w.size, w.duration, w.cts_offset, w.sync, dts),
                "track {ti} sample {si}"
            );
            dts += i64::from(w.duration);
            let bytes = &file[g.offset as usize..g.offset as usize + g.size as usize];
            assert_eq!(
                bytes,
                sample_bytes(ti as u16, si as u32, w.size),
                "track {ti} sample {si} bytes"
            );
        }
        assert_eq!(got.duration, dts as u64);
    }
}

fn h264_codec() -> CodecConfig {
    let sps = vec![Bytes::from_static(SPS_BASELINE)];
    let pps = vec![Bytes::from_static(PPS)];
    let avcc = avcc_from_parameter_sets(&sps, &pps).unwrap();
    CodecConfig::H264 {
        avcc,
        nal_length_size: 4,
        sps,
        pps,
    }
}

fn video_track(n: u32) -> TrackOut {
    // I P B B pattern: presentation 0 3 1 2 ... shifted so that one offset is negative
    let pattern = [3600, 10800, -3600, 0];
    TrackOut {
        kind: TrackKind::Video,
        codec: h264_codec(),
        timescale: 90000,
        language: None,
        width: 320,
        height: 240,
        sample_rate: 0,
        channels: 0,
        edit_media_start: 3600,
        samples: (0..n)
            .map(|i| SampleOut {
                size: 100 + (i * 37) % 500,
                duration: 3600,
                cts_offset: pattern[i as usize % 4],
                sync: i % 12 == 0,
            })
            .collect(),
    }
}

fn aac_track(n: u32) -> TrackOut {
    TrackOut {
        kind: TrackKind::Audio,
        codec: CodecConfig::Aac {
            asc: Bytes::from_static(&[0x12, 0x10]),
        },
        timescale: 44100,
        language: Some("fra".into()),
        width: 0,
        height: 0,
        sample_rate: 44100,
        channels: 2,
        edit_media_start: 0,
        samples: (0..n)
            .map(|i| SampleOut {
                size: 200 + i % 50,
                duration: 1024,
                cts_offset: 0,
                sync: true,
            })
            .collect(),
    }
}

fn ac3_track(n: u32) -> TrackOut {
    let frame = [0x0b, 0x77, 0, 0, 0b0001_1100, 0b0100_0000, 0b1110_1011, 0];
    TrackOut {
        kind: TrackKind::Audio,
        codec: CodecConfig::Ac3 {
            dac3: codec::dac3_from_frame(&frame).unwrap(),
        },
        timescale: 48000,
        language: Some("eng".into()),
        width: 0,
        height: 0,
        sample_rate: 0,
        channels: 0,
        edit_media_start: 0,
        samples: (0..n)
            .map(|_| SampleOut {
                size: 1536,
                duration: 1536,
                cts_offset: 0,
                sync: true,
            })
            .collect(),
    }
}

#[test]
fn fast_start_round_trip() {
    let tracks = vec![video_track(250), aac_track(431), ac3_track(312)];
    let layout = fast_start(&tracks, 1000).unwrap();
    let file = build_file(&tracks, &layout);
    assert_eq!(file.len() as u64, layout.total_size);
    let boxes = top_level(&file);
    assert_eq!(
        boxes.iter().map(|b| b.0).collect::<Vec<_>>(),
        [*b"ftyp", *b"moov", *b"mdat"]
    );
    assert_eq!(
        boxes[2].1 + 8,
        layout.header.len() as u64,
        "mdat payload follows the header"
    );
    let movie = parse_moov(moov_of(&file), &Limits::default()).unwrap();
    assert_eq!(movie.timescale, 1000);
    // video: 250 * 40 ms minus the 40 ms edit = 9960; AAC: 431 * 1024 / 44.1 = 10007.2; AC-3 9984
    assert_eq!(movie.duration, 10_007);
    check_round_trip(&tracks, &movie, &file);
    let (v, a, ac3) = (&movie.tracks[0], &movie.tracks[1], &movie.tracks[2]);
    assert_eq!((v.width, v.height), (320, 240));
    assert_eq!((a.sample_rate, a.channels), (44100, 2));
    assert_eq!((ac3.sample_rate, ac3.channels), (48000, 6));
    let moov = moov_of(&file);
    let has = |k: &[u8]| moov.windows(4).any(|w| w == k);
    assert!(has(b"stco") && !has(b"co64"));
    // interleaving: no run of more than ~0.5 s of one track
    let mut longest = 0;
    let mut run = 0;
    for w in layout.order.windows(2) {
        run = if w[0].0 == w[1].0 { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    assert!(longest <= 24, "longest run {longest}");
    // the ctts is version 1 (a negative offset), stss lists every 12th sample
    let ctts = moov.windows(4).position(|w| w == b"ctts").unwrap();
    assert_eq!(moov[ctts + 4], 1);
}

#[test]
fn writer_without_edits_or_ctts() {
    let mut v = video_track(30);
    v.edit_media_start = 0;
    for s in &mut v.samples {
        s.cts_offset = 0;
        s.sync = true;
    }
    let tracks = vec![v];
    let layout = fast_start(&tracks, 600).unwrap();
    let file = build_file(&tracks, &layout);
    let moov = moov_of(&file);
    let has = |k: &[u8]| moov.windows(4).any(|w| w == k);
    assert!(!has(b"ctts") && !has(b"stss") && !has(b"elst"));
    let movie = parse_moov(moov, &Limits::default()).unwrap();
    check_round_trip(&tracks, &movie, &file);
    assert_eq!(movie.duration, 720);
}

#[test]
fn large_layout_uses_co64_and_64_bit_mdat() {
    let mut v = video_track(2000);
    for s in &mut v.samples {
        s.size = 3_000_000;
    }
    let tracks = vec![v, aac_track(100)];
    let layout = fast_start(&tracks, 1000).unwrap();
    let payload: u64 = 2000 * 3_000_000 + (0..100u64).map(|i| 200 + i % 50).sum::<u64>();
    assert_eq!(layout.total_size, layout.header.len() as u64 + payload);
    let boxes = top_level(&layout.header[..layout.header.len() - 16]);
    assert_eq!(
        boxes.iter().map(|b| b.0).collect::<Vec<_>>(),
        [*b"ftyp", *b"moov"]
    );
    let mdat = parse_box_header(&layout.header[layout.header.len() - 16..], 0)
        .unwrap()
        .unwrap();
    assert_eq!(
        (mdat.kind, mdat.header_len, mdat.size),
        (*b"mdat", 16, Some(payload + 16))
    );
    let moov = moov_of(&layout.header[..layout.header.len() - 16]);
    assert!(moov.windows(4).any(|w| w == b"co64"));
    assert!(!moov.windows(4).any(|w| w == b"stco"));
    let movie = parse_moov(moov, &Limits::default()).unwrap();
    // walk the file order and compare offsets
    let mut pos = layout.header.len() as u64;
    for &(t, s) in &layout.order {
        let sample = movie.tracks[t as usize].samples[s as usize];
        assert_eq!(sample.offset, pos);
        pos += u64::from(sample.size);
    }
    assert_eq!(pos, layout.total_size);
    assert!(movie.tracks[0].samples.last().unwrap().offset > u64::from(u32::MAX));
}

#[test]
fn writer_refuses_bad_tracks() {
    let mut t = video_track(3);
    t.codec = CodecConfig::Unsupported { fourcc: *b"vp09" };
    assert!(matches!(
        fast_start(&[t], 1000),
        Err(Error::Unsupported { .. })
    ));
    let mut t = aac_track(3);
    t.kind = TrackKind::Video;
    assert!(matches!(fast_start(&[t], 1000), Err(Error::Invalid { .. })));
    let mut t = aac_track(3);
    t.kind = TrackKind::Subtitle;
    assert!(fast_start(&[t], 1000).is_err());
    assert!(fast_start(&[aac_track(1)], 0).is_err());
    let mut t = aac_track(3);
    t.timescale = 0;
    assert!(fast_start(&[t], 1000).is_err());
    let layout = fast_start(&[], 1000).unwrap();
    assert_eq!(layout.total_size, layout.header.len() as u64);
}

#[test]
fn every_truncation_of_a_valid_moov_is_an_error_not_a_panic() {
    let tracks = vec![video_track(20), aac_track(30)];
    let layout = fast_start(&tracks, 1000).unwrap();
    let file = build_file(&tracks, &layout);
    let moov = moov_of(&file).to_vec();
    for cut in 0..moov.len() {
        assert!(
            parse_moov(&moov[..cut], &Limits::default()).is_err(),
            "cut {cut}"
        );
    }
    for moov in [video_moov()] {
        for cut in 0..moov.len() {
            assert!(parse_moov(&moov[..cut], &Limits::default()).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let _ = parse_moov(&data, &Limits::default());
        let _ = parse_box_header(&data, 0);
        let wrapped = bx(b"moov", &data);
        let _ = parse_moov(&wrapped, &Limits::default());
        let _ = codec::parse_avcc(&data);
        let _ = codec::parse_hvcc(&data);
        let _ = codec::dac3_from_frame(&data);
        let _ = codec::dec3_from_frame(&data);
        let _ = codec::asc_info(&data);
        let _ = codec::avcc_from_parameter_sets(&[Bytes::from(data.clone())], &[Bytes::from_static(PPS)]);
        let _ = codec::hvcc_from_parameter_sets(&[Bytes::from(data.clone())], &[Bytes::from(data.clone())], &[Bytes::from(data.clone())]);
    }

    #[test]
    fn corrupted_moov_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..20),
        cut in any::<prop::sample::Index>(),
    ) {
        for base in [video_moov(), {
            let tracks = vec![video_track(20), aac_track(30)];
            let layout = fast_start(&tracks, 1000).unwrap();
            moov_of(&layout.header).to_vec()
        }] {
            let mut m = base.clone();
            for (i, v) in &flips {
                let i = i.index(m.len());
                m[i] = *v;
            }
            let _ = parse_moov(&m, &Limits::default());
            let _ = parse_moov(&m[..cut.index(m.len() + 1)], &Limits::default());
        }
    }

    #[test]
    fn random_sample_lists_round_trip(
        video in proptest::collection::vec((1u32..5000, 0u32..10000, -20000i32..20000, any::<bool>()), 0..300),
        audio in proptest::collection::vec((1u32..2000, 0u32..3000), 0..300),
        edit in 0i64..10000,
        movie_timescale in 1u32..100_000,
    ) {
        let mut v = video_track(0);
        v.edit_media_start = edit;
        v.samples = video.iter().map(|&(size, duration, cts_offset, sync)| SampleOut { size, duration, cts_offset, sync }).collect();
        let mut a = aac_track(0);
        a.samples = audio.iter().map(|&(size, duration)| SampleOut { size, duration, cts_offset: 0, sync: true }).collect();
        let tracks = vec![v, a];
        let layout = fast_start(&tracks, movie_timescale).unwrap();
        let file = build_file(&tracks, &layout);
        prop_assert_eq!(file.len() as u64, layout.total_size);
        let movie = parse_moov(moov_of(&file), &Limits::default()).unwrap();
        check_round_trip(&tracks, &movie, &file);
    }
}

#[test]
fn groups_make_each_segment_one_byte_range() {
    let tracks = vec![video_track(60), aac_track(100)];
    // video in groups of 20 samples, audio in groups of 33/33/34, one after the other
    let groups: Vec<(u16, u32, u32)> = vec![
        (0, 0, 20),
        (1, 0, 33),
        (0, 20, 20),
        (1, 33, 33),
        (0, 40, 20),
        (1, 66, 34),
    ];
    let layout = crate::fast_start_in_groups(&tracks, 1000, &groups).unwrap();
    let file = build_file(&tracks, &layout);
    let movie = crate::parse_moov(moov_of(&file), &Limits::default()).unwrap();
    check_round_trip(&tracks, &movie, &file);
    // each group's samples are contiguous, and the groups are in the given order
    let mut last_end = 0;
    for &(t, first, count) in &groups {
        let s = &movie.tracks[t as usize].samples[first as usize..(first + count) as usize];
        for w in s.windows(2) {
            assert_eq!(w[0].offset + w[0].size as u64, w[1].offset);
        }
        assert!(s[0].offset >= last_end);
        last_end = s[count as usize - 1].offset + s[count as usize - 1].size as u64;
    }
    // groups that skip or repeat samples are refused
    assert!(crate::fast_start_in_groups(&tracks, 1000, &[(0, 0, 60), (1, 1, 99)]).is_err());
    assert!(crate::fast_start_in_groups(&tracks, 1000, &[(0, 0, 60), (1, 0, 50)]).is_err());
    assert!(
        crate::fast_start_in_groups(&tracks, 1000, &[(0, 0, 60), (1, 0, 100), (1, 0, 1)]).is_err()
    );
}

#[test]
fn init_segment_and_fragment_header() {
    let t = video_track(30);
    let init = crate::init_segment(&t).unwrap();
    assert_eq!(&init[4..8], b"ftyp");
    let moov = &init[top_level(&init)
        .iter()
        .find(|(k, _, _)| k == b"moov")
        .unwrap()
        .1 as usize..];
    let movie = crate::parse_moov(moov, &Limits::default()).unwrap();
    assert!(movie.fragmented, "mvex: a fragmented file");
    assert_eq!(movie.tracks.len(), 1);
    assert_eq!(movie.tracks[0].codec, t.codec);
    assert!(movie.tracks[0].samples.is_empty());

    let samples = &t.samples[..10];
    let h = crate::fragment_header(7, 123_456, samples).unwrap();
    assert_eq!(&h[4..8], b"moof");
    let moof_len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
    assert_eq!(h.len(), moof_len + 8, "moof then the mdat header");
    assert_eq!(&h[moof_len + 4..moof_len + 8], b"mdat");
    let payload: u32 = samples.iter().map(|s| s.size).sum();
    assert_eq!(
        u32::from_be_bytes([
            h[moof_len],
            h[moof_len + 1],
            h[moof_len + 2],
            h[moof_len + 3]
        ]),
        payload + 8
    );
    // trun's data offset points just past the mdat header
    let trun = h.windows(4).position(|w| w == b"trun").unwrap();
    let count = u32::from_be_bytes([h[trun + 8], h[trun + 9], h[trun + 10], h[trun + 11]]);
    let offset = u32::from_be_bytes([h[trun + 12], h[trun + 13], h[trun + 14], h[trun + 15]]);
    assert_eq!((count, offset as usize), (10, h.len()));
    let tfdt = h.windows(4).position(|w| w == b"tfdt").unwrap();
    assert_eq!(
        u64::from_be_bytes(h[tfdt + 8..tfdt + 16].try_into().unwrap()),
        123_456
    );
}
