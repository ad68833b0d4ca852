//! Cross-check of `mpegts::teletext` against a real peer: ffmpeg's libzvbi teletext decoder
//! reads a transport stream written here (PAT, PMT with a teletext_descriptor, EN 300 472 PES)
//! and must find the same text at the same times as `cues_from_ts`. ffmpeg (with
//! `libzvbi_teletextdec`, as Debian's is built) is required: a missing one fails the test.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // an integration test: real tools and files

use std::path::PathBuf;
use std::process::Command;

use mpegts::teletext::{
    cues_from_ts, encode_page, hamming_8_4, hamming_8_4_encode, pes_packet, ts_packets, Cue,
};
use mpegts::{crc32_mpeg2, PACKET_SIZE, SYNC_BYTE};

const PMT_PID: u16 = 0x1000;
const PCR_PID: u16 = 0x100;
const TTX_PID: u16 = 0x102;

/// A temp file path that is removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        TempPath(std::env::temp_dir().join(format!("mpegts-ttx-{}-{name}", std::process::id())))
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

/// One PSI section in one packet (pointer_field 0, stuffing after it).
fn psi_packet(pid: u16, section: &[u8], cc: u8) -> [u8; PACKET_SIZE] {
    let mut p = [0xffu8; PACKET_SIZE];
    p[0] = SYNC_BYTE;
    p[1] = 0x40 | (pid >> 8) as u8;
    p[2] = pid as u8;
    p[3] = 0x10 | (cc & 0x0f);
    p[4] = 0;
    p[5..5 + section.len()].copy_from_slice(section);
    p
}

/// A section with its length and CRC filled in (`s` holds everything before the CRC).
fn finish_section(mut s: Vec<u8>) -> Vec<u8> {
    let len = (s.len() - 3 + 4) as u16;
    s[1] = 0xb0 | (len >> 8) as u8;
    s[2] = len as u8;
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

fn pat() -> Vec<u8> {
    finish_section(vec![
        0x00,
        0,
        0,
        0x00,
        0x01, // transport_stream_id
        0xc1,
        0x00,
        0x00,
        0x00,
        0x01, // program 1
        0xe0 | (PMT_PID >> 8) as u8,
        PMT_PID as u8,
    ])
}

fn pmt() -> Vec<u8> {
    let mut s = vec![
        0x02,
        0,
        0,
        0x00,
        0x01, // program 1
        0xc1,
        0x00,
        0x00,
        0xe0 | (PCR_PID >> 8) as u8,
        PCR_PID as u8,
        0xf0,
        0x00,
    ];
    let descriptors = [
        // teletext_descriptor: eng, subtitle page (type 2), magazine 8 (0), page 88
        0x56,
        5,
        b'e',
        b'n',
        b'g',
        0x02 << 3,
        0x88, // ISO_639_language_descriptor
        0x0a,
        4,
        b'e',
        b'n',
        b'g',
        0,
    ];
    s.push(0x06); // PES private data
    s.extend_from_slice(&(0xe000 | TTX_PID).to_be_bytes());
    s.extend_from_slice(&(0xf000 | descriptors.len() as u16).to_be_bytes());
    s.extend_from_slice(&descriptors);
    finish_section(s)
}

/// An adaptation-field-only packet carrying a PCR on [`PCR_PID`].
fn pcr_packet(pcr_90k: i64) -> [u8; PACKET_SIZE] {
    let mut p = [0xffu8; PACKET_SIZE];
    p[0] = SYNC_BYTE;
    p[1] = (PCR_PID >> 8) as u8;
    p[2] = PCR_PID as u8;
    p[3] = 0x20; // adaptation field only (CC does not count)
    p[4] = 183;
    p[5] = 0x10; // PCR_flag
    let base = pcr_90k.rem_euclid(1 << 33) as u64;
    p[6] = (base >> 25) as u8;
    p[7] = (base >> 17) as u8;
    p[8] = (base >> 9) as u8;
    p[9] = (base >> 1) as u8;
    p[10] = ((base & 1) << 7) as u8 | 0x7e;
    p[11] = 0;
    p
}

/// The stream: PAT/PMT and a PCR every 100 ms from `pages[0]` - 1 s to the last + 2 s, and one
/// teletext PES per (pts, page of magazine 8, lines).
fn stream(pages: &[(i64, u8, &[&str])]) -> Vec<u8> {
    let pes: Vec<(i64, Vec<u8>)> = pages
        .iter()
        .map(|(pts, page, lines)| (*pts, encode_page(8, *page, lines, true)))
        .collect();
    stream_of(&pes)
}

/// [`stream`] of given PES data fields.
fn stream_of(pes: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let first = pes[0].0 - 90_000;
    let last = pes[pes.len() - 1].0 + 180_000;
    let (pat, pmt) = (pat(), pmt());
    let mut ts = Vec::new();
    let (mut psi_cc, mut ttx_cc) = (0u8, 0u8);
    let mut next = pes.iter().peekable();
    let mut t = first;
    while t <= last {
        ts.extend_from_slice(&psi_packet(0, &pat, psi_cc));
        ts.extend_from_slice(&psi_packet(PMT_PID, &pmt, psi_cc));
        psi_cc = psi_cc.wrapping_add(1);
        ts.extend_from_slice(&pcr_packet(t));
        while let Some((pts, data)) = next.next_if(|(pts, _)| *pts <= t + 9_000) {
            ts.extend(ts_packets(TTX_PID, &pes_packet(*pts, data), &mut ttx_cc));
        }
        t += 9_000;
    }
    ts
}

/// Rewrites the teletext packet of data unit `unit` of a PES data field from
/// [`encode_page`] (in transmission bit order, as the decoder sees it).
fn edit_packet(data: &mut [u8], unit: usize, f: impl Fn(&mut [u8])) {
    let at = 1 + 46 * unit + 4;
    let mut packet: Vec<u8> = data[at..at + 42].iter().map(|b| b.reverse_bits()).collect();
    f(&mut packet);
    for (d, p) in data[at..at + 42].iter_mut().zip(packet) {
        *d = p.reverse_bits();
    }
}

/// Sets C11 (serial mode) in a header packet.
fn set_serial(p: &mut [u8]) {
    let c = hamming_8_4(p[9]).expect("C11..C14");
    p[9] = hamming_8_4_encode(c | 1);
}

/// `HH:MM:SS.mmm` or `MM:SS.mmm` in 90 kHz.
fn parse_time(s: &str) -> i64 {
    let mut ms = 0i64;
    let (hms, frac) = s.trim().split_once('.').expect("time with millis");
    for part in hms.split(':') {
        ms = ms * 60 + part.parse::<i64>().expect("number");
    }
    (ms * 1000 + frac.parse::<i64>().expect("millis")) * 90
}

/// The cues of a WebVTT file as (start, end, text).
fn parse_vtt(vtt: &str) -> Vec<(i64, i64, String)> {
    let mut cues = Vec::new();
    let mut lines = vtt.lines();
    while let Some(line) = lines.next() {
        if let Some((a, b)) = line.split_once(" --> ") {
            let b = b.split_whitespace().next().unwrap_or(b);
            let mut text = Vec::new();
            for l in lines.by_ref() {
                if l.trim().is_empty() {
                    break;
                }
                text.push(l.trim().to_string());
            }
            cues.push((parse_time(a), parse_time(b), text.join("\n")));
        }
    }
    cues
}

/// ffmpeg's cues for page 888 of `ts` (timestamps as in the stream: `-copyts`).
fn ffmpeg_cues(ts: &[u8], name: &str) -> Vec<(i64, i64, String)> {
    let decoders = Command::new("ffmpeg")
        .args(["-hide_banner", "-decoders"])
        .output()
        .expect("ffmpeg is required for this test (apt-get install -y ffmpeg)");
    assert!(
        String::from_utf8_lossy(&decoders.stdout).contains("libzvbi_teletextdec"),
        "this ffmpeg has no libzvbi_teletextdec (Debian's ffmpeg has it)"
    );
    let input = TempPath::new(&format!("{name}.ts"));
    let output = TempPath::new(&format!("{name}.vtt"));
    std::fs::write(&input.0, ts).expect("write ts");
    let o = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            // the decoder's pages last until replaced; this ends each at the next one (an
            // empty page included), as a player shows them
            "-fix_sub_duration",
            "-txt_format",
            "text",
            "-txt_page",
            "888",
            "-copyts",
            "-i",
            input.as_str(),
            "-map",
            "0:s",
            "-c:s",
            "webvtt",
            output.as_str(),
        ])
        .output()
        .expect("run ffmpeg");
    assert!(
        o.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let vtt = std::fs::read_to_string(&output.0).expect("read vtt");
    eprintln!("ffmpeg's WebVTT:\n{vtt}");
    parse_vtt(&vtt)
}

/// The stream's cues as ours: (start, end, text), an open cue ending at `end`.
fn our_cues(cues: &[Cue], end: i64) -> Vec<(i64, i64, String)> {
    cues.iter()
        .map(|c| (c.start_90k, c.end_90k.unwrap_or(end), c.text.clone()))
        .collect()
}

/// Times agree to the millisecond WebVTT writes. ffmpeg's cues of one page sent again
/// unchanged are merged first (ffmpeg starts a new cue for each transmission; we keep one).
fn assert_same(ours: &[(i64, i64, String)], theirs: &[(i64, i64, String)]) {
    let mut merged: Vec<(i64, i64, String)> = Vec::new();
    for c in theirs {
        match merged.last_mut() {
            Some(last) if last.2 == c.2 && (last.1 - c.0).abs() <= 90 => last.1 = c.1,
            _ => merged.push(c.clone()),
        }
    }
    let theirs = &merged;
    assert_eq!(
        ours.iter().map(|c| &c.2).collect::<Vec<_>>(),
        theirs.iter().map(|c| &c.2).collect::<Vec<_>>(),
        "text differs: ours {ours:?}, ffmpeg {theirs:?}"
    );
    for (a, b) in ours.iter().zip(theirs) {
        assert!(
            (a.0 - b.0).abs() <= 90 && (a.1 - b.1).abs() <= 90,
            "times differ: ours {a:?}, ffmpeg {b:?}"
        );
    }
}

#[test]
fn ffmpeg_decodes_the_same_cues() {
    let s = 10 * 90_000; // the first page at 10 s
    let pages: &[(i64, u8, &[&str])] = &[
        (s, 0x88, &["Hello, teletext!"]),
        (s + 90_000, 0x89, &["another page"]),
        (s + 2 * 90_000, 0x88, &["Two lines,", "centred in boxes."]),
        (s + 3 * 90_000, 0x88, &["Two lines,", "centred in boxes."]),
        (s + 4 * 90_000, 0x88, &[]),
        (s + 5 * 90_000, 0x88, &["Grüße aus Köln, Straße"]),
        (s + 7 * 90_000 + 3_003, 0x88, &["Très élégant, garçon!"]),
        (s + 9 * 90_000, 0x88, &["¿Qué año? Mañana", "a & b < c > d"]),
        (s + 10 * 90_000, 0x89, &["another page"]),
        (s + 11 * 90_000 + 45_000, 0x88, &[]),
    ];
    let ts = stream(pages);
    let ours = cues_from_ts(&ts, TTX_PID, 8, 0x88);
    let ours = our_cues(&ours, i64::MAX);
    let theirs = ffmpeg_cues(&ts, "pages");
    assert_same(&ours, &theirs);
}

#[test]
fn ffmpeg_reads_our_webvtt_segment() {
    let s = 10 * 90_000;
    let ts = stream(&[
        (s, 0x88, &["before the segment", "<i>not a tag</i> & more"]),
        (s + 3 * 90_000, 0x88, &["inside"]),
        (s + 5 * 90_000, 0x88, &["open at the end"]),
    ]);
    let cues = cues_from_ts(&ts, TTX_PID, 8, 0x88);
    let (seg_start, seg_end) = (s + 2 * 90_000, s + 6 * 90_000);
    let vtt = mpegts::teletext::webvtt_segment(&cues, seg_start, seg_end);
    let file = TempPath::new("segment.vtt");
    let out = TempPath::new("segment-out.vtt");
    std::fs::write(&file.0, &vtt).expect("write vtt");
    let o = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .args([file.as_str(), "-c:s", "webvtt", out.as_str()])
        .output()
        .expect("ffmpeg is required for this test (apt-get install -y ffmpeg)");
    assert!(
        o.status.success(),
        "ffmpeg failed on {vtt}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // ffmpeg reads the entities back as the characters (and writes them unescaped)
    let back = parse_vtt(&std::fs::read_to_string(&out.0).expect("read vtt"));
    assert_eq!(
        back,
        [
            (
                0,
                90_000,
                "before the segment\n<i>not a tag</i> & more".to_string()
            ),
            (90_000, 3 * 90_000, "inside".to_string()),
            (3 * 90_000, 4 * 90_000, "open at the end".to_string()),
        ],
        "{vtt}"
    );
}

/// Serial and parallel transmission (C11): page 888's closing header is one of magazine 1.
/// In serial mode it completes the page at once; in parallel mode it does not, and the page is
/// completed 1 s later by a header of another page of magazine 8 (801). ffmpeg (libzvbi) and
/// we must agree on both.
///
/// (libzvbi completes a page in parallel mode only at a header of the same magazine with a
/// *different* page number, EN 300 706 9.3.1.3; we also take the page's own next header as
/// completing it, as 7.2.1 reads. Encoders follow a page with another page's header — time
/// filling 8FF, as `encode_page` does — so the two agree on real streams.)
#[test]
fn ffmpeg_agrees_on_serial_and_parallel_mode() {
    let s = 10 * 90_000;
    for serial in [true, false] {
        let mut pes = Vec::new();
        for (i, text) in ["first", "second", "third"].iter().enumerate() {
            let pts = s + 2 * 90_000 * i as i64;
            let mut data = encode_page(8, 0x88, &[text], true);
            // unit 0: our header; unit 2: the closing header, moved to magazine 1, page 00
            edit_packet(&mut data, 2, |p| {
                p[0] = hamming_8_4_encode(1);
                p[2] = hamming_8_4_encode(0);
                p[3] = hamming_8_4_encode(0);
            });
            if serial {
                edit_packet(&mut data, 0, set_serial);
                edit_packet(&mut data, 2, set_serial);
                pes.push((pts, data));
            } else {
                pes.push((pts, data));
                pes.push((pts + 90_000, encode_page(8, 0x01, &[], true)));
            }
        }
        let mut clear = encode_page(8, 0x88, &[], true);
        if serial {
            edit_packet(&mut clear, 0, set_serial);
            edit_packet(&mut clear, 1, set_serial);
        }
        pes.push((s + 7 * 90_000, clear));
        let ts = stream_of(&pes);
        let ours = our_cues(&cues_from_ts(&ts, TTX_PID, 8, 0x88), i64::MAX);
        let want: &[(i64, i64, &str)] = if serial {
            &[
                (s, s + 180_000, "first"),
                (s + 180_000, s + 360_000, "second"),
                (s + 360_000, s + 630_000, "third"),
            ]
        } else {
            &[
                (s + 90_000, s + 270_000, "first"),
                (s + 270_000, s + 450_000, "second"),
                (s + 450_000, s + 630_000, "third"),
            ]
        };
        let want: Vec<(i64, i64, String)> = want
            .iter()
            .map(|(a, b, t)| (*a, *b, t.to_string()))
            .collect();
        assert_eq!(ours, want, "serial {serial}");
        let theirs = ffmpeg_cues(&ts, &format!("serial-{serial}"));
        assert_same(&ours, &theirs);
    }
}
