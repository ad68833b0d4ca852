//! Demuxer tests on hand-built Matroska files, and subtitle tests.

use bytes::Bytes;
use proptest::prelude::*;

use crate::ebml::id;
use crate::subtitle::{self, Cue};
use crate::*;

// ---- a small EBML writer ----

/// An element size as the shortest vint (never the all-ones pattern).
fn vsize(n: u64) -> Vec<u8> {
    for len in 1..=8usize {
        if n < (1u64 << (7 * len)) - 1 {
            let v = n | (1u64 << (7 * len));
            return v.to_be_bytes()[8 - len..].to_vec();
        }
    }
    panic!("size too large");
}

fn id_bytes(element: u32) -> Vec<u8> {
    let b = element.to_be_bytes();
    let zeros = b.iter().take_while(|&&x| x == 0).count();
    b[zeros..].to_vec()
}

fn el(element: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = id_bytes(element);
    v.extend(vsize(payload.len() as u64));
    v.extend_from_slice(payload);
    v
}

/// The header of an unknown-size element (8-byte all-ones size, as ffmpeg writes).
fn unknown(element: u32) -> Vec<u8> {
    let mut v = id_bytes(element);
    v.extend([0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    v
}

fn master(element: u32, children: &[Vec<u8>]) -> Vec<u8> {
    el(element, &children.concat())
}

fn uint(element: u32, v: u64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let zeros = b.iter().take_while(|&&x| x == 0).count().min(7);
    el(element, &b[zeros..])
}

fn int(element: u32, v: i64) -> Vec<u8> {
    el(element, &v.to_be_bytes()[6..])
}

fn float8(element: u32, v: f64) -> Vec<u8> {
    el(element, &v.to_be_bytes())
}

fn float4(element: u32, v: f32) -> Vec<u8> {
    el(element, &v.to_be_bytes())
}

fn string(element: u32, s: &str) -> Vec<u8> {
    el(element, s.as_bytes())
}

/// Block payload: track vint, relative timestamp, flags, then `body`.
fn block(track: u64, rel: i16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vsize(track);
    v.extend(rel.to_be_bytes());
    v.push(flags);
    v.extend_from_slice(body);
    v
}

fn simple(track: u64, rel: i16, flags: u8, body: &[u8]) -> Vec<u8> {
    el(id::SIMPLE_BLOCK, &block(track, rel, flags, body))
}

fn ebml_header(doc_type: &str) -> Vec<u8> {
    master(
        id::EBML,
        &[
            uint(0x4286, 1),
            uint(id::EBML_READ_VERSION, 1),
            uint(id::EBML_MAX_ID_LENGTH, 4),
            uint(id::EBML_MAX_SIZE_LENGTH, 8),
            string(id::DOC_TYPE, doc_type),
            uint(0x4287, 4),
            uint(0x4285, 2),
        ],
    )
}

const AVCC: [u8; 8] = [0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x00];
const ASC: [u8; 2] = [0x12, 0x10];

fn info() -> Vec<u8> {
    master(
        id::INFO,
        &[
            uint(id::TIMESTAMP_SCALE, 1_000_000),
            float8(id::DURATION, 2000.0),
            string(id::TITLE, "Test"),
            string(0x4D80, "hand"),
        ],
    )
}

fn content_encoding(algo: u64, settings: &[u8]) -> Vec<u8> {
    master(
        id::CONTENT_ENCODINGS,
        &[master(
            id::CONTENT_ENCODING,
            &[
                uint(0x5031, 0),
                uint(id::CONTENT_ENCODING_SCOPE, 1),
                uint(id::CONTENT_ENCODING_TYPE, 0),
                master(
                    id::CONTENT_COMPRESSION,
                    &[
                        uint(id::CONTENT_COMP_ALGO, algo),
                        el(id::CONTENT_COMP_SETTINGS, settings),
                    ],
                ),
            ],
        )],
    )
}

fn tracks() -> Vec<u8> {
    master(
        id::TRACKS,
        &[
            master(
                id::TRACK_ENTRY,
                &[
                    uint(id::TRACK_NUMBER, 1),
                    uint(0x73C5, 0x1234),
                    uint(id::TRACK_TYPE, 1),
                    string(id::CODEC_ID, "V_MPEG4/ISO/AVC"),
                    el(id::CODEC_PRIVATE, &AVCC),
                    uint(id::DEFAULT_DURATION, 40_000_000),
                    master(
                        id::VIDEO,
                        &[uint(id::PIXEL_WIDTH, 160), uint(id::PIXEL_HEIGHT, 120)],
                    ),
                ],
            ),
            master(
                id::TRACK_ENTRY,
                &[
                    uint(id::TRACK_NUMBER, 2),
                    uint(id::TRACK_TYPE, 2),
                    string(id::CODEC_ID, "A_AAC"),
                    el(id::CODEC_PRIVATE, &ASC),
                    string(id::LANGUAGE, "fre"),
                    uint(id::FLAG_DEFAULT, 0),
                    uint(id::DEFAULT_DURATION, 20_000_000),
                    uint(id::CODEC_DELAY, 6_500_000),
                    master(
                        id::AUDIO,
                        &[
                            float4(id::SAMPLING_FREQUENCY, 48000.0),
                            uint(id::CHANNELS, 2),
                        ],
                    ),
                ],
            ),
            el(id::VOID, &[0; 5]),
            master(
                id::TRACK_ENTRY,
                &[
                    uint(id::TRACK_NUMBER, 3),
                    uint(id::TRACK_TYPE, 0x11),
                    string(id::CODEC_ID, "S_TEXT/UTF8"),
                    string(id::LANGUAGE, "por"),
                    string(id::LANGUAGE_BCP47, "pt-BR"),
                    string(id::NAME, "Forced"),
                    uint(id::FLAG_FORCED, 1),
                ],
            ),
            master(
                id::TRACK_ENTRY,
                &[
                    uint(id::TRACK_NUMBER, 4),
                    uint(id::TRACK_TYPE, 1),
                    string(id::CODEC_ID, "V_MPEGH/ISO/HEVC"),
                    content_encoding(3, &[0, 0, 0, 1]),
                ],
            ),
        ],
    )
}

/// A Xiph-laced body: 3 frames of 300, 2 and 5 bytes.
fn xiph_body() -> Vec<u8> {
    let mut v = vec![2, 255, 45, 2];
    v.extend(vec![b'a'; 300]);
    v.extend(b"bb");
    v.extend(b"ccccc");
    v
}

/// An EBML-laced body: 4 frames of 10, 7, 9 and 3 bytes.
fn ebml_lace_body() -> Vec<u8> {
    let mut v = vec![3];
    v.extend(vsize(10));
    // signed differences -3 and +2, 1-byte signed vints: value + 63
    v.push(0x80 | (63 - 3));
    v.push(0x80 | (63 + 2));
    v.extend(vec![b'p'; 10]);
    v.extend(vec![b'q'; 7]);
    v.extend(vec![b'r'; 9]);
    v.extend(vec![b's'; 3]);
    v
}

/// Cluster 1, known size.
fn cluster1() -> Vec<u8> {
    master(
        id::CLUSTER,
        &[
            uint(id::TIMESTAMP, 0),
            el(id::CRC32, &[1, 2, 3, 4]),
            simple(1, 0, 0x80, b"V0"),
            simple(2, 0, 0x80, b"A0"),
            simple(2, 20, 0x80 | 0x02, &xiph_body()),
            master(
                id::BLOCK_GROUP,
                &[
                    el(id::BLOCK, &block(1, 40, 0, b"V1")),
                    uint(id::BLOCK_DURATION, 40),
                    int(id::REFERENCE_BLOCK, -40),
                ],
            ),
            master(
                id::BLOCK_GROUP,
                &[
                    el(id::BLOCK, &block(3, 100, 0, b"hello")),
                    uint(id::BLOCK_DURATION, 1500),
                ],
            ),
            el(id::VOID, &[0; 3]),
        ],
    )
}

/// Cluster 2, unknown size (it ends at the Cues that follow).
fn cluster2() -> Vec<u8> {
    [
        unknown(id::CLUSTER),
        uint(id::TIMESTAMP, 1000),
        simple(2, 0, 0x80 | 0x06, &ebml_lace_body()),
        simple(2, 100, 0x80 | 0x04, b"\x01wwwwzzzz"),
        simple(4, 0, 0x80, b"XY"),
        simple(1, -5, 0, b"V2"),
        master(id::BLOCK_GROUP, &[el(id::BLOCK, &block(1, 40, 0, b"V3"))]),
    ]
    .concat()
}

/// Cluster 3, unknown size, with a negative time.
fn cluster3() -> Vec<u8> {
    [
        unknown(id::CLUSTER),
        uint(id::TIMESTAMP, 0),
        simple(1, -100, 0x80, b"V4"),
    ]
    .concat()
}

/// Big Cues element (skipped by counting).
fn big_cues() -> Vec<u8> {
    el(id::CUES, &vec![0xAB; 3 << 20])
}

/// Segment body shared by the known and unknown-size segment files.
fn segment_body() -> Vec<u8> {
    [
        master(
            id::SEEK_HEAD,
            &[el(0x4DBB, &[0x53, 0xAB, 0x84, 1, 2, 3, 4])],
        ),
        el(id::VOID, &[0; 100]),
        info(),
        tracks(),
        el(id::TAGS, &[0x55; 1000]),
        cluster1(),
        big_cues(),
        cluster2(),
        el(id::CHAPTERS, &[0x11; 50]),
        cluster3(),
    ]
    .concat()
}

fn file_known() -> Vec<u8> {
    [ebml_header("matroska"), el(id::SEGMENT, &segment_body())].concat()
}

fn file_unknown() -> Vec<u8> {
    [ebml_header("webm"), unknown(id::SEGMENT), segment_body()].concat()
}

/// Pushes `data` in chunks of `chunk` bytes (cycling through `chunk` sizes), polling after
/// each push; returns the events and the final result (first error or `finish`).
fn demux_with(data: &[u8], chunks: &[usize], limits: Limits) -> (Vec<Event>, Result<(), Error>) {
    let mut d = Demuxer::new(limits);
    let mut events = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let n = chunks[i % chunks.len()].max(1).min(data.len() - at);
        i += 1;
        d.push(&data[at..at + n]);
        at += n;
        loop {
            match d.poll() {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => break,
                Err(e) => return (events, Err(e)),
            }
        }
    }
    (events, d.finish())
}

fn demux(data: &[u8], chunk: usize) -> (Vec<Event>, Result<(), Error>) {
    demux_with(data, &[chunk], Limits::default())
}

fn frames(events: &[Event]) -> Vec<Frame> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

fn frame(track: u64, pts_ms: i64, duration_ms: Option<u64>, keyframe: bool, data: &[u8]) -> Frame {
    Frame {
        track,
        pts_ns: pts_ms * 1_000_000,
        duration_ns: duration_ms.map(|d| d * 1_000_000),
        keyframe,
        data: Bytes::copy_from_slice(data),
    }
}

fn expected_frames() -> Vec<Frame> {
    vec![
        frame(1, 0, None, true, b"V0"),
        frame(2, 0, None, true, b"A0"),
        // Xiph lacing, DefaultDuration 20 ms
        frame(2, 20, None, true, &[b'a'; 300]),
        frame(2, 40, None, true, b"bb"),
        frame(2, 60, None, true, b"ccccc"),
        frame(1, 40, Some(40), false, b"V1"),
        frame(3, 100, Some(1500), true, b"hello"),
        // EBML lacing
        frame(2, 1000, None, true, &[b'p'; 10]),
        frame(2, 1020, None, true, &[b'q'; 7]),
        frame(2, 1040, None, true, &[b'r'; 9]),
        frame(2, 1060, None, true, &[b's'; 3]),
        // fixed-size lacing
        frame(2, 1100, None, true, b"wwww"),
        frame(2, 1120, None, true, b"zzzz"),
        // header stripping
        frame(4, 1000, None, true, &[0, 0, 0, 1, b'X', b'Y']),
        frame(1, 995, None, false, b"V2"),
        frame(1, 1040, None, true, b"V3"),
        frame(1, -100, None, true, b"V4"),
    ]
}

#[test]
fn full_file() {
    let (events, end) = demux(&file_known(), 1 << 20);
    assert_eq!(end, Ok(()));
    assert_eq!(
        events[0],
        Event::Header {
            doc_type: "matroska".into()
        }
    );
    assert_eq!(
        events[1],
        Event::Info {
            timestamp_scale_ns: 1_000_000,
            duration_ns: Some(2e9),
            title: Some("Test".into())
        }
    );
    let Event::Tracks(tracks) = &events[2] else {
        panic!("no tracks: {:?}", events[2]);
    };
    assert_eq!(tracks.len(), 4);
    let v = &tracks[0];
    assert_eq!(
        (v.number, v.kind, v.codec_id.as_str()),
        (1, TrackKind::Video, "V_MPEG4/ISO/AVC")
    );
    assert_eq!(v.codec_private.as_deref(), Some(&AVCC[..]));
    assert_eq!((v.width, v.height), (160, 120));
    assert_eq!(v.default_duration_ns, Some(40_000_000));
    assert_eq!(v.language.as_deref(), Some("eng"), "default language");
    assert!(v.default && !v.forced);
    assert_eq!((v.sample_rate, v.channels), (0.0, 0));
    let a = &tracks[1];
    assert_eq!(
        (a.number, a.kind, a.codec_id.as_str()),
        (2, TrackKind::Audio, "A_AAC")
    );
    assert_eq!(a.codec_private.as_deref(), Some(&ASC[..]));
    assert_eq!(a.language.as_deref(), Some("fre"));
    assert_eq!((a.sample_rate, a.channels), (48000.0, 2));
    assert_eq!(a.codec_delay_ns, 6_500_000);
    assert!(!a.default);
    let s = &tracks[2];
    assert_eq!(
        (s.number, s.kind, s.codec_id.as_str()),
        (3, TrackKind::Subtitle, "S_TEXT/UTF8")
    );
    assert_eq!(s.language.as_deref(), Some("pt-BR"));
    assert_eq!(s.name.as_deref(), Some("Forced"));
    assert!(s.forced);
    assert_eq!(s.codec_private, None);
    assert_eq!(tracks[3].codec_id, "V_MPEGH/ISO/HEVC");
    assert_eq!(frames(&events), expected_frames());
    assert_eq!(events.len(), 3 + expected_frames().len());
}

#[test]
fn unknown_size_segment() {
    let (events, end) = demux(&file_unknown(), 4096);
    assert_eq!(end, Ok(()));
    assert_eq!(
        events[0],
        Event::Header {
            doc_type: "webm".into()
        }
    );
    assert_eq!(frames(&events), expected_frames());
}

#[test]
fn chunking_does_not_matter() {
    for file in [file_known(), file_unknown()] {
        let whole = demux(&file, file.len());
        assert_eq!(whole.1, Ok(()));
        assert_eq!(demux(&file, 1), whole);
        assert_eq!(
            demux_with(&file, &[3, 1, 700, 13, 65536], Limits::default()),
            whole
        );
    }
}

#[test]
fn skipped_elements_are_not_buffered() {
    // a 3 MiB Cues with a 1 MiB element limit: skipped by counting, never buffered
    let limits = Limits {
        max_element: 1 << 20,
        ..Limits::default()
    };
    let (events, end) = demux_with(&file_known(), &[100_000], limits);
    assert_eq!(end, Ok(()));
    assert_eq!(frames(&events), expected_frames());
}

#[test]
fn memory_stays_bounded() {
    // 4 KiB chunks: never more than a chunk plus the largest element (Tracks, < 1 KiB) held,
    // although the file has a 3 MiB Cues element
    for chunk in [1, 4096] {
        let file = file_known();
        let mut d = Demuxer::default();
        let mut n = 0;
        let mut most = 0;
        for part in file.chunks(chunk) {
            d.push(part);
            most = most.max(d.buffered());
            while let Some(ev) = d.poll().expect("valid") {
                n += usize::from(matches!(ev, Event::Frame(_)));
            }
            most = most.max(d.buffered());
        }
        assert_eq!(d.finish(), Ok(()));
        assert_eq!(n, expected_frames().len());
        assert!(most <= chunk + 1024, "held {most} bytes");
    }
}

#[test]
fn trailing_bytes_after_segment_are_ignored() {
    let mut file = file_known();
    file.extend([0u8; 100]);
    file.extend(file_known());
    let (events, end) = demux(&file, 1000);
    assert_eq!(end, Ok(()));
    assert_eq!(frames(&events), expected_frames());
}

#[test]
fn not_matroska() {
    let mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2mp41";
    let (events, end) = demux(mp4, 1);
    assert!(events.is_empty());
    assert!(matches!(end, Err(Error::NotMatroska { .. })), "{end:?}");
    let foo = [ebml_header("foo"), el(id::SEGMENT, &segment_body())].concat();
    let (events, end) = demux(&foo, 100);
    assert!(events.is_empty());
    assert_eq!(
        end,
        Err(Error::NotMatroska {
            what: "DocType \"foo\"".into()
        })
    );
    // the error is final
    let mut d = Demuxer::default();
    d.push(b"\x1A\x45\xDF\x00");
    assert!(matches!(d.poll(), Err(Error::NotMatroska { .. })));
    assert!(matches!(d.poll(), Err(Error::NotMatroska { .. })));
    assert!(matches!(d.finish(), Err(Error::NotMatroska { .. })));
}

#[test]
fn truncated() {
    let file = file_known();
    // inside the first SimpleBlock of cluster 1 ("V0")
    let at = file
        .windows(3)
        .position(|w| w == [0x00, 0x80, b'V'])
        .expect("block");
    let (events, end) = demux(&file[..at + 2], 1);
    assert_eq!(
        end,
        Err(Error::Truncated {
            what: "SimpleBlock".into()
        })
    );
    assert!(frames(&events).is_empty());
    // inside the big Cues: skipped, but still truncated
    let cues_at = file.len() - cluster3().len() - 55 - cluster2().len() - 1000;
    let (_, end) = demux(&file[..cues_at], 65536);
    assert_eq!(
        end,
        Err(Error::Truncated {
            what: "Cues".into()
        })
    );
    // between elements of a known-size Segment
    let (_, end) = demux(&file[..file.len() - cluster3().len()], 65536);
    assert_eq!(
        end,
        Err(Error::Truncated {
            what: "Segment".into()
        })
    );
    // inside an element header
    let (_, end) = demux(&file[..ebml_header("matroska").len() + 2], 1);
    assert!(matches!(end, Err(Error::Truncated { .. })), "{end:?}");
    // nothing at all, or only the EBML header
    assert!(matches!(demux(&[], 1).1, Err(Error::Truncated { .. })));
    assert!(matches!(
        demux(&ebml_header("webm"), 1).1,
        Err(Error::Truncated { .. })
    ));
    // an unknown-size segment may end anywhere between elements
    let file = file_unknown();
    let (_, end) = demux(&file[..file.len() - cluster3().len()], 65536);
    assert_eq!(end, Ok(()));
}

#[test]
fn too_large() {
    let limits = Limits {
        max_element: 100,
        ..Limits::default()
    };
    let (events, end) = demux_with(&file_known(), &[4096], limits);
    assert_eq!(events.len(), 2, "header and info fit");
    let Err(Error::TooLarge { what, size, limit }) = end else {
        panic!("{end:?}");
    };
    assert_eq!((what.as_str(), limit), ("Tracks", 100));
    assert!(size > 100);
    // a huge declared block size is refused before anything is buffered
    let file = [
        ebml_header("matroska"),
        unknown(id::SEGMENT),
        unknown(id::CLUSTER),
        vec![0xA3, 0x01, 0, 0, 0x10, 0, 0, 0, 0], // SimpleBlock of 2^36 bytes
    ]
    .concat();
    let (_, end) = demux(&file, 1);
    assert!(
        matches!(&end, Err(Error::TooLarge { what, size, .. }) if what == "SimpleBlock" && *size == 1 << 36),
        "{end:?}"
    );
    // too many tracks
    let limits = Limits {
        max_tracks: 3,
        ..Limits::default()
    };
    let (_, end) = demux_with(&file_known(), &[4096], limits);
    assert!(
        matches!(
            &end,
            Err(Error::TooLarge {
                size: 4,
                limit: 3,
                ..
            })
        ),
        "{end:?}"
    );
    // too many laced frames
    let limits = Limits {
        max_lace_frames: 3,
        ..Limits::default()
    };
    let (events, end) = demux_with(&file_known(), &[4096], limits);
    assert!(
        matches!(
            &end,
            Err(Error::TooLarge {
                size: 4,
                limit: 3,
                ..
            })
        ),
        "{end:?}"
    );
    assert_eq!(
        frames(&events).len(),
        7,
        "frames before the EBML-laced block"
    );
}

/// A file with one track using `encodings` and one SimpleBlock on it.
fn file_with_encoding(encodings: Vec<u8>) -> Vec<u8> {
    let tracks = master(
        id::TRACKS,
        &[master(
            id::TRACK_ENTRY,
            &[
                uint(id::TRACK_NUMBER, 5),
                uint(id::TRACK_TYPE, 0x11),
                string(id::CODEC_ID, "S_HDMV/PGS"),
                encodings,
            ],
        )],
    );
    [
        ebml_header("matroska"),
        unknown(id::SEGMENT),
        info(),
        tracks,
        unknown(id::CLUSTER),
        uint(id::TIMESTAMP, 0),
        simple(5, 0, 0x80, b"x"),
    ]
    .concat()
}

#[test]
fn unsupported_encodings() {
    let (events, end) = demux(&file_with_encoding(content_encoding(0, &[])), 7);
    assert_eq!(events.len(), 3, "tracks are reported; the block is refused");
    assert_eq!(
        end,
        Err(Error::Unsupported {
            what: "track 5: zlib compression (ContentCompAlgo 0)".into()
        })
    );
    let encrypted = master(
        id::CONTENT_ENCODINGS,
        &[master(
            id::CONTENT_ENCODING,
            &[
                uint(id::CONTENT_ENCODING_TYPE, 1),
                master(id::CONTENT_ENCRYPTION, &[uint(0x47E1, 5)]),
            ],
        )],
    );
    let (_, end) = demux(&file_with_encoding(encrypted), 7);
    assert!(
        matches!(&end, Err(Error::Unsupported { what }) if what.contains("encrypted")),
        "{end:?}"
    );
    // an ignored track's blocks are dropped
    let mut d = Demuxer::default();
    d.ignore_track(5);
    d.push(&file_with_encoding(content_encoding(0, &[])));
    let mut n = 0;
    while let Some(ev) = d.poll().expect("ignored") {
        assert!(!matches!(ev, Event::Frame(_)));
        n += 1;
    }
    assert_eq!(n, 3);
    assert_eq!(d.finish(), Ok(()));
}

#[test]
fn malformed_blocks() {
    let with_block = |body: Vec<u8>| {
        [
            ebml_header("matroska"),
            unknown(id::SEGMENT),
            unknown(id::CLUSTER),
            el(id::SIMPLE_BLOCK, &body),
        ]
        .concat()
    };
    // EBML lacing whose sizes exceed the block
    let mut body = block(1, 0, 0x06, &[1]);
    body.extend(vsize(100));
    body.extend(b"short");
    assert!(matches!(
        demux(&with_block(body), 5).1,
        Err(Error::Invalid { .. })
    ));
    // fixed lacing not dividing evenly
    let body = block(1, 0, 0x04, &[1, 1, 2, 3]);
    assert!(matches!(
        demux(&with_block(body), 5).1,
        Err(Error::Invalid { .. })
    ));
    // a block shorter than its header
    assert!(matches!(
        demux(&with_block(vec![0x81, 0]), 5).1,
        Err(Error::Invalid { .. })
    ));
    // a child overrunning its known-size parent
    let file = [
        ebml_header("matroska"),
        el(id::SEGMENT, &el(id::VOID, &[0; 10])[..5]),
    ]
    .concat();
    assert!(matches!(demux(&file, 5).1, Err(Error::Invalid { .. })));
}

#[test]
fn timestamp_scale_and_block_duration() {
    let file = [
        ebml_header("matroska"),
        unknown(id::SEGMENT),
        master(id::INFO, &[uint(id::TIMESTAMP_SCALE, 100_000)]),
        unknown(id::CLUSTER),
        uint(id::TIMESTAMP, 50),
        master(
            id::BLOCK_GROUP,
            &[
                el(id::BLOCK, &block(1, -60, 0, b"x")),
                uint(id::BLOCK_DURATION, 3),
            ],
        ),
    ]
    .concat();
    let (events, end) = demux(&file, 3);
    assert_eq!(end, Ok(()));
    assert_eq!(
        events[1],
        Event::Info {
            timestamp_scale_ns: 100_000,
            duration_ns: None,
            title: None
        }
    );
    assert_eq!(
        frames(&events),
        vec![Frame {
            track: 1,
            pts_ns: -1_000_000,
            duration_ns: Some(300_000),
            keyframe: true,
            data: Bytes::from_static(b"x"),
        }]
    );
}

/// An element with its size written on `len` bytes (1..=8), as some muxers do.
fn el_sized(element: u32, payload: &[u8], len: usize) -> Vec<u8> {
    let mut v = id_bytes(element);
    let size = payload.len() as u64 | (1u64 << (7 * len));
    v.extend(&size.to_be_bytes()[8 - len..]);
    v.extend_from_slice(payload);
    v
}

#[test]
fn size_encodings() {
    // 8-byte known sizes, a 1-byte unknown size (0xFF) on a Cluster, 4- and 2-byte sizes
    let file = [
        ebml_header("matroska"),
        el_sized(id::SEGMENT, &[], 8)[..4].to_vec(),
        vec![0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        el_sized(id::INFO, &uint(id::TIMESTAMP_SCALE, 1_000_000), 8),
        id_bytes(id::CLUSTER),
        vec![0xFF],
        el_sized(id::TIMESTAMP, &[0x01, 0x00], 4),
        el_sized(id::SIMPLE_BLOCK, &block(1, 1, 0x80, b"a"), 8),
        el_sized(id::SIMPLE_BLOCK, &block(1, 2, 0x00, b"b"), 2),
        id_bytes(id::CLUSTER),
        vec![0x7F, 0xFF],
        el_sized(id::SIMPLE_BLOCK, &block(1, 3, 0x00, b"c"), 3),
    ]
    .concat();
    let (events, end) = demux(&file, 1);
    assert_eq!(end, Ok(()));
    let got: Vec<(i64, bool, Bytes)> = frames(&events)
        .into_iter()
        .map(|f| (f.pts_ns / 1_000_000, f.keyframe, f.data))
        .collect();
    assert_eq!(
        got,
        vec![
            (257, true, Bytes::from_static(b"a")),
            (258, false, Bytes::from_static(b"b")),
            (3, false, Bytes::from_static(b"c")),
        ]
    );
}

fn check_no_panic(data: &[u8], chunks: &[usize]) {
    let limits = Limits {
        max_element: 1 << 16,
        ..Limits::default()
    };
    let (events, _end) = demux_with(data, chunks, limits);
    // events come in a sensible order
    if let Some(first) = events.first() {
        assert!(matches!(first, Event::Header { .. }));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        chunks in proptest::collection::vec(1usize..300, 1..5),
    ) {
        check_no_panic(&data, &chunks);
        // the same behind a valid header, so that the random part reaches the segment parser
        let mut d = [ebml_header("matroska"), unknown(id::SEGMENT)].concat();
        d.extend_from_slice(&data);
        check_no_panic(&d, &chunks);
        // and inside an unknown-size cluster
        let mut d = [ebml_header("matroska"), unknown(id::SEGMENT), tracks(), unknown(id::CLUSTER)].concat();
        d.extend_from_slice(&data);
        check_no_panic(&d, &chunks);
    }

    #[test]
    fn truncated_and_corrupted_files_never_panic(
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        chunks in proptest::collection::vec(1usize..5000, 1..5),
    ) {
        // without the big Cues, to keep each case fast
        let body = [info(), tracks(), cluster1(), cluster2(), cluster3()].concat();
        let file = [ebml_header("matroska"), el(id::SEGMENT, &body)].concat();
        let n = cut.index(file.len() + 1);
        let (events, end) = demux_with(&file[..n], &chunks, Limits::default());
        if n < file.len() {
            prop_assert!(end.is_err(), "cut at {} of {}: {:?}", n, file.len(), end);
        } else {
            prop_assert_eq!(end, Ok(()));
        }
        // a truncated file gives a prefix of the full file's events
        let (all, _) = demux(&file, file.len());
        prop_assert!(events.len() <= all.len());
        prop_assert_eq!(&events[..], &all[..events.len()]);
        let mut bad = file.clone();
        for (i, v) in &flips {
            let i = i.index(bad.len());
            bad[i] = *v;
        }
        check_no_panic(&bad[..n.min(bad.len())], &chunks);
    }
}

// ---- subtitles ----

#[test]
fn srt_tolerant() {
    let srt = "\u{feff}1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\n<i>world</i>\r\n\r\n\
               2\r\n00:00:03.000 --> 00:00:04,000 X1:10 X2:20\r\nSecond\r\n\r\n\
               3\r\nnot a timing line\r\nskipped\r\n\r\n\
               4\r\n00:00:05,000 --> 00:00:04,000\r\nend before start\r\n\r\n\
               5\r\n01:02:03,4 --> 01:02:04,056\r\nlast";
    let cues = subtitle::parse_srt(srt).expect("srt");
    assert_eq!(
        cues,
        vec![
            Cue {
                start_ms: 1000,
                end_ms: 2500,
                text: "Hello\n<i>world</i>".into()
            },
            Cue {
                start_ms: 3000,
                end_ms: 4000,
                text: "Second".into()
            },
            Cue {
                start_ms: 3_723_400,
                end_ms: 3_724_056,
                text: "last".into()
            },
        ]
    );
    // no blank line between cues: the counter is not part of the text
    let cues = subtitle::parse_srt(
        "1\n00:00:01,000 --> 00:00:02,000\nA\n2\n00:00:03,000 --> 00:00:04,000\nB\n",
    )
    .expect("srt");
    assert_eq!(cues.len(), 2);
    assert_eq!(cues[0].text, "A");
    assert!(matches!(
        subtitle::parse_srt("garbage\nmore"),
        Err(Error::Invalid { .. })
    ));
    assert_eq!(subtitle::parse_srt(" \n\r\n"), Ok(vec![]));
}

#[test]
fn webvtt_parse() {
    let vtt = "\u{feff}WEBVTT - some title\r\nKind: captions\r\n\r\n\
               NOTE this is a comment\r\nspanning lines --> with arrows\r\n\r\n\
               STYLE\r\n::cue { color: red }\r\n\r\n\
               REGION\r\nid:fred\r\n\r\n\
               intro\r\n00:01.000 --> 00:02.000 align:start position:10%\r\nHi\r\nthere\r\n\r\n\
               00:00:03.500 --> 00:00:04.000\r\n- Yes\r\n\r\n\
               bad\r\n00:00:05 --> 00:00:06\r\nno millis: skipped\r\n\r\n\
               1:00:00.000 --> 1:00:01.000\r\nan hour";
    let cues = subtitle::parse_webvtt(vtt).expect("vtt");
    assert_eq!(
        cues,
        vec![
            Cue {
                start_ms: 1000,
                end_ms: 2000,
                text: "Hi\nthere".into()
            },
            Cue {
                start_ms: 3500,
                end_ms: 4000,
                text: "- Yes".into()
            },
            Cue {
                start_ms: 3_600_000,
                end_ms: 3_601_000,
                text: "an hour".into()
            },
        ]
    );
    assert!(matches!(
        subtitle::parse_webvtt("1\n00:01.000 --> 00:02.000\nx"),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        subtitle::parse_webvtt("WEBVTTX\n"),
        Err(Error::Invalid { .. })
    ));
    assert_eq!(subtitle::parse_webvtt("WEBVTT"), Ok(vec![]));
}

#[test]
fn webvtt_write_round_trip() {
    let cues = vec![
        Cue {
            start_ms: 0,
            end_ms: 1234,
            text: "one\ntwo".into(),
        },
        Cue {
            start_ms: 3_600_000 * 101 + 61_001,
            end_ms: 3_600_000 * 101 + 62_000,
            text: "late".into(),
        },
        Cue {
            start_ms: 5000,
            end_ms: 6000,
            text: "arrow --> inside ---> and".into(),
        },
        Cue {
            start_ms: 7000,
            end_ms: 8000,
            text: "blank\n\nline\r\n".into(),
        },
    ];
    let vtt = subtitle::write_webvtt(&cues);
    assert!(
        vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.234\none\ntwo\n\n101:01:01.001 --> ")
    );
    let back = subtitle::parse_webvtt(&vtt).expect("parse");
    assert_eq!(back.len(), 4);
    assert_eq!(back[..2], cues[..2]);
    assert_eq!(back[2].text, "arrow -> inside -> and");
    assert_eq!(back[3].text, "blank\nline");
    // and SRT -> WebVTT -> cues
    let srt = "1\n00:00:01,000 --> 00:00:02,000\nA\n\n2\n00:00:02,000 --> 00:00:03,000\nB\n";
    let cues = subtitle::parse_srt(srt).expect("srt");
    assert_eq!(
        subtitle::parse_webvtt(&subtitle::write_webvtt(&cues)),
        Ok(cues)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn webvtt_round_trip_any_cues(
        raw in proptest::collection::vec((0i64..400_000_000, 0i64..100_000, "[a-z<>/ -]{1,20}(\n[a-z -]{1,10})?"), 0..20),
    ) {
        let cues: Vec<Cue> = raw
            .into_iter()
            .map(|(s, d, t)| Cue { start_ms: s, end_ms: s + d, text: t })
            .filter(|c| c.text.lines().all(|l| !l.trim().is_empty()))
            .collect();
        let back = subtitle::parse_webvtt(&subtitle::write_webvtt(&cues)).expect("parse");
        let expect: Vec<Cue> = cues
            .iter()
            .map(|c| {
                let mut t = c.text.clone();
                while t.contains("-->") {
                    t = t.replace("-->", "->");
                }
                Cue { text: t, ..c.clone() }
            })
            .collect();
        prop_assert_eq!(back, expect);
    }

    #[test]
    fn subtitle_parsers_never_panic(text in "\\PC{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = subtitle::parse_srt(&text);
        let _ = subtitle::parse_webvtt(&text);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = subtitle::parse_srt(&lossy);
        let _ = subtitle::parse_webvtt(&format!("WEBVTT\n\n{lossy}"));
        let _ = subtitle::cues_from_frames(&[(0, None, Bytes::from(bytes.clone())), (-5, Some(u64::MAX), Bytes::from(bytes))], "S_TEXT/UTF8");
    }
}

#[test]
fn cues_from_matroska_frames() {
    let frames = vec![
        (1000, Some(1500), Bytes::from_static(b"first\r\nline\0")),
        (3000, None, Bytes::from_static(b"no duration, next at 4000")),
        (4000, None, Bytes::from_static(b"last, 5 s")),
        (9500, Some(10), Bytes::from_static(b"")),
    ];
    let cues = subtitle::cues_from_frames(&frames, "S_TEXT/UTF8");
    assert_eq!(
        cues,
        vec![
            Cue {
                start_ms: 1000,
                end_ms: 2500,
                text: "first\nline".into()
            },
            Cue {
                start_ms: 3000,
                end_ms: 4000,
                text: "no duration, next at 4000".into()
            },
            Cue {
                start_ms: 4000,
                end_ms: 9000,
                text: "last, 5 s".into()
            },
        ]
    );
    assert_eq!(
        subtitle::cues_from_frames(&frames, "S_TEXT/WEBVTT").len(),
        3
    );
    assert!(subtitle::cues_from_frames(&frames, "S_HDMV/PGS").is_empty());
}
