//! DVB teletext subtitles (EN 300 706 teletext carried in MPEG-TS per EN 300 472) decoded into
//! timed text cues, and those cues written as one HLS segment's WebVTT (RFC 8216 3.5).
//!
//! - [`Decoder`] takes the PES payloads of a teletext stream with their PTS and follows one page
//!   (magazine + two BCD digits, e.g. 888): Hamming 8/4 packet addresses and page header
//!   fields, odd-parity row text, the Latin G0 set with its national option subsets. A page is
//!   shown from the PTS of the PES that completes it — the next page header of the same
//!   magazine (parallel mode) or of any magazine (serial mode, C11) — until a different page
//!   replaces it or an empty page erases it. The page's own next header completes it too
//!   (EN 300 706 7.2.1; libzvbi, after 9.3.1.3, waits for a header with a different page
//!   number — encoders send one, a time filling header 8FF, so both agree on real streams).
//! - [`cues_from_ts`] reassembles one PID's PES packets from a transport stream buffer and
//!   decodes them.
//! - [`webvtt_segment`] writes the cues that overlap one segment, clipped to it, with the
//!   `X-TIMESTAMP-MAP` header HLS players use to place them.
//! - [`encode_page`] (and [`pes_packet`]) is the inverse, for tests and test streams.
//!
//! Pure and bounded: a page is 24 rows of 40 bytes, a PES being reassembled at most
//! [`MAX_PES`] bytes; no input panics.

use std::fmt::Write;

use crate::pes::{parse_pes, signed_33, write_ts, TS_MASK};
use crate::program::packets;

/// Most bytes of one PES packet kept while reassembling (the rest of a longer one is dropped).
pub const MAX_PES: usize = 65_536 + 6;
/// Columns of a teletext row.
pub const COLUMNS: usize = 40;
/// Rows of a page held (0 is the header; 1..=23 are shown as text).
const ROWS: usize = 24;
/// Size of one EN 300 472 data unit (id, length, 44 bytes).
const UNIT_SIZE: usize = 46;
/// `data_unit_length` of a teletext data unit.
const UNIT_LEN: u8 = 0x2c;
/// Framing code as it stands in the PES (EN 300 472 4.4; `0x27` in transmission bit order).
const FRAMING_CODE: u8 = 0xe4;
/// data_unit_id: EBU teletext non-subtitle data.
const UNIT_TELETEXT: u8 = 0x02;
/// data_unit_id: EBU teletext subtitle data.
const UNIT_SUBTITLE: u8 = 0x03;
/// data_unit_id: stuffing.
const UNIT_STUFFING: u8 = 0xff;
/// `data_identifier` written by [`encode_page`] (EBU data, EN 300 472).
const DATA_IDENTIFIER: u8 = 0x10;

/// One subtitle shown on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// When it appears (90 kHz, the PTS of the PES that completed its page, unwrapped).
    pub start_90k: i64,
    /// When it goes (90 kHz); `None`: still on screen when the input ended (an open cue, which
    /// [`webvtt_segment`] runs to the segment's end).
    pub end_90k: Option<i64>,
    /// The page's non-empty rows, top to bottom, each trimmed, joined with `'\n'`.
    pub text: String,
}

// ---------------------------------------------------------------------------------------------
// Hamming 8/4 and odd parity (EN 300 706 8.2, 8.1); bytes in transmission order (LSB first).

/// The Hamming 8/4 code of a nibble (D1 is its least significant bit; P1 D1 P2 D2 P3 D3 P4 D4
/// from bit 0 to bit 7).
const fn hamming_encode(d: u8) -> u8 {
    let d1 = d & 1;
    let d2 = (d >> 1) & 1;
    let d3 = (d >> 2) & 1;
    let d4 = (d >> 3) & 1;
    let p1 = 1 ^ d1 ^ d3 ^ d4;
    let p2 = 1 ^ d1 ^ d2 ^ d4;
    let p3 = 1 ^ d1 ^ d2 ^ d3;
    let p4 = 1 ^ p1 ^ d1 ^ p2 ^ d2 ^ p3 ^ d3 ^ d4;
    p1 | d1 << 1 | p2 << 2 | d2 << 3 | p3 << 4 | d3 << 5 | p4 << 6 | d4 << 7
}

/// Every byte's nibble: single bit errors corrected, `0xff` for a double error.
const HAMMING_DECODE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut d = 0;
    while d < 16 {
        let code = hamming_encode(d as u8);
        t[code as usize] = d as u8;
        let mut bit = 0;
        while bit < 8 {
            t[(code ^ (1 << bit)) as usize] = d as u8;
            bit += 1;
        }
        d += 1;
    }
    t
};

/// The nibble of a Hamming 8/4 byte, `None` when it cannot be corrected.
pub fn hamming_8_4(b: u8) -> Option<u8> {
    let v = HAMMING_DECODE[b as usize];
    (v != 0xff).then_some(v)
}

/// The Hamming 8/4 byte of a nibble (its low four bits).
pub fn hamming_8_4_encode(nibble: u8) -> u8 {
    hamming_encode(nibble & 0x0f)
}

/// The 7-bit character of an odd-parity byte, `None` when its parity is even.
pub fn odd_parity(b: u8) -> Option<u8> {
    (b.count_ones() % 2 == 1).then_some(b & 0x7f)
}

/// A 7-bit character with its odd parity bit set.
pub fn with_odd_parity(c: u8) -> u8 {
    let c = c & 0x7f;
    if c.count_ones().is_multiple_of(2) {
        c | 0x80
    } else {
        c
    }
}

// ---------------------------------------------------------------------------------------------
// Latin G0 and its national option subsets (EN 300 706 15.2, tables 32 and 36).

/// The G0 codes a national option subset replaces.
const NATIONAL_POSITIONS: [u8; 13] = [
    0x23, 0x24, 0x40, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x7b, 0x7c, 0x7d, 0x7e,
];

/// The national option subsets of the Latin G0 set, indexed by C12 + 2·C13 + 4·C14 (the
/// Western European designations; 7, unassigned there, reads as English).
const NATIONAL_SUBSETS: [[char; 13]; 8] = [
    // English
    [
        '£', '$', '@', '←', '½', '→', '↑', '#', '―', '¼', '‖', '¾', '÷',
    ],
    // French
    [
        'é', 'ï', 'à', 'ë', 'ê', 'ù', 'î', '#', 'è', 'â', 'ô', 'û', 'ç',
    ],
    // Swedish, Finnish, Hungarian
    [
        '#', '¤', 'É', 'Ä', 'Ö', 'Å', 'Ü', '_', 'é', 'ä', 'ö', 'å', 'ü',
    ],
    // Czech, Slovak
    [
        '#', 'ů', 'č', 'ť', 'ž', 'ý', 'í', 'ř', 'é', 'á', 'ě', 'ú', 'š',
    ],
    // German
    [
        '#', '$', '§', 'Ä', 'Ö', 'Ü', '^', '_', '°', 'ä', 'ö', 'ü', 'ß',
    ],
    // Portuguese, Spanish
    [
        'ç', '$', '¡', 'á', 'é', 'í', 'ó', 'ú', '¿', 'ü', 'ñ', 'è', 'à',
    ],
    // Italian
    [
        '£', '$', 'é', '°', 'ç', '→', '↑', '#', 'ù', 'à', 'ò', 'è', 'ì',
    ],
    // unassigned in the Western European group: English
    [
        '£', '$', '@', '←', '½', '→', '↑', '#', '―', '¼', '‖', '¾', '÷',
    ],
];

/// National option subset numbers (C12 + 2·C13 + 4·C14) of the languages [`encode_page`]
/// chooses from, in the order it tries them.
pub mod national {
    /// English.
    pub const ENGLISH: u8 = 0;
    /// French.
    pub const FRENCH: u8 = 1;
    /// Swedish, Finnish, Hungarian.
    pub const SWEDISH: u8 = 2;
    /// Czech, Slovak.
    pub const CZECH: u8 = 3;
    /// German.
    pub const GERMAN: u8 = 4;
    /// Portuguese, Spanish.
    pub const SPANISH: u8 = 5;
    /// Italian.
    pub const ITALIAN: u8 = 6;
}

/// The character of a 7-bit G0 code under national option subset `national` (0..=7): control
/// codes (spacing attributes: colours, box start/end, sizes) are spaces.
pub fn g0_char(code: u8, national: u8) -> char {
    let code = code & 0x7f;
    if code < 0x20 {
        return ' ';
    }
    if let Some(i) = NATIONAL_POSITIONS.iter().position(|&p| p == code) {
        return NATIONAL_SUBSETS[(national & 7) as usize][i];
    }
    if code == 0x7f {
        return '■';
    }
    code as char
}

/// The G0 code of `c` under national option subset `national`, if it has one there.
fn g0_code(c: char, national: u8) -> Option<u8> {
    let subset = &NATIONAL_SUBSETS[(national & 7) as usize];
    if let Some(i) = subset.iter().position(|&s| s == c) {
        return Some(NATIONAL_POSITIONS[i]);
    }
    let b = u8::try_from(c).ok()?;
    ((0x20..0x7f).contains(&b) && !NATIONAL_POSITIONS.contains(&b)).then_some(b)
}

// ---------------------------------------------------------------------------------------------
// The decoder.

/// A page header's fields (EN 300 706 9.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    /// Two hex digits (tens, units); `None` when a digit's Hamming code failed.
    page: Option<u8>,
    /// C4: erase page.
    erase: bool,
    /// C5: newsflash.
    #[cfg_attr(not(test), allow(dead_code))]
    newsflash: bool,
    /// C6: subtitle.
    #[cfg_attr(not(test), allow(dead_code))]
    subtitle: bool,
    /// C11: serial mode (`None` when its byte failed).
    serial: Option<bool>,
    /// C12–C14 as C12 + 2·C13 + 4·C14.
    national: u8,
}

fn parse_header(b: &[u8; 42]) -> Header {
    let h = |i: usize| hamming_8_4(b[i]);
    let page = match (h(3), h(2)) {
        (Some(tens), Some(units)) => Some(tens << 4 | units),
        _ => None,
    };
    let s2 = h(5).unwrap_or(0);
    let s4 = h(7).unwrap_or(0);
    let c11 = h(9);
    Header {
        page,
        erase: s2 & 8 != 0,
        newsflash: s4 & 4 != 0,
        subtitle: s4 & 8 != 0,
        serial: c11.map(|c| c & 1 != 0),
        national: c11.map_or(0, |c| (c >> 1) & 7),
    }
}

/// Follows one teletext page through a stream's PES payloads and emits its [`Cue`]s.
///
/// Feed every PES payload of the teletext PID in order with [`Decoder::push_pes`], then call
/// [`Decoder::finish`] (close the cue on screen at a given time) or [`Decoder::finish_open`]
/// (emit it with `end_90k: None`). Holds one page (24 × 40 bytes) and the cue on screen.
#[derive(Debug, Clone)]
pub struct Decoder {
    magazine: u8,
    page: u8,
    /// The last C11 seen (parallel mode until a header says otherwise).
    serial: bool,
    /// Whether packets of `magazine` currently belong to the selected page.
    receiving: bool,
    national: u8,
    rows: [[u8; COLUMNS]; ROWS],
    /// The cue on screen: (start, text).
    shown: Option<(i64, String)>,
}

impl Decoder {
    /// A decoder for page `page` (two BCD digits, `0x88` for 888) of magazine `magazine`
    /// (1..=8; 0 is taken as 8, as in the teletext_descriptor).
    pub fn new(magazine: u8, page: u8) -> Decoder {
        let magazine = match magazine & 7 {
            0 => 8,
            m => m,
        };
        Decoder {
            magazine,
            page,
            serial: false,
            receiving: false,
            national: 0,
            rows: [[b' '; COLUMNS]; ROWS],
            shown: None,
        }
    }

    /// Decodes one PES payload (the PES data field: data_identifier, then data units) whose
    /// PES carried `pts_90k`; cues the page replaced or erased go to `out`. A payload whose
    /// data_identifier is not EBU data (0x10..=0x1F) is ignored; units other than teletext
    /// (0x02, 0x03) are skipped by their length.
    pub fn push_pes(&mut self, pts_90k: i64, data: &[u8], out: &mut Vec<Cue>) {
        let Some((&id, mut rest)) = data.split_first() else {
            return;
        };
        if !(0x10..=0x1f).contains(&id) {
            return;
        }
        while rest.len() >= 2 {
            let unit_id = rest[0];
            let len = rest[1] as usize;
            let Some(body) = rest.get(2..2 + len) else {
                break;
            };
            rest = &rest[2 + len..];
            if unit_id == UNIT_STUFFING {
                continue;
            }
            if (unit_id == UNIT_TELETEXT || unit_id == UNIT_SUBTITLE)
                && len >= UNIT_LEN as usize
                && body[1] == FRAMING_CODE
            {
                let mut packet = [0u8; 42];
                for (p, b) in packet.iter_mut().zip(&body[2..44]) {
                    *p = b.reverse_bits();
                }
                self.packet(pts_90k, &packet, out);
            }
        }
    }

    /// One 42-byte teletext packet (address + 40 bytes, in transmission bit order).
    fn packet(&mut self, pts_90k: i64, p: &[u8; 42], out: &mut Vec<Cue>) {
        let (Some(lo), Some(hi)) = (hamming_8_4(p[0]), hamming_8_4(p[1])) else {
            return;
        };
        let address = lo | hi << 4;
        let magazine = match address & 7 {
            0 => 8,
            m => m,
        };
        let row = (address >> 3) as usize;
        if row == 0 {
            let h = parse_header(p);
            if let Some(serial) = h.serial {
                self.serial = serial;
            }
            if self.receiving && (self.serial || magazine == self.magazine) {
                self.receiving = false;
                self.complete(pts_90k, out);
            }
            if magazine == self.magazine && h.page == Some(self.page) {
                self.receiving = true;
                self.national = h.national;
                if h.erase {
                    self.rows = [[b' '; COLUMNS]; ROWS];
                }
            }
        } else if row < ROWS && self.receiving && magazine == self.magazine {
            for (c, &b) in self.rows[row].iter_mut().zip(&p[2..]) {
                *c = odd_parity(b).unwrap_or(b' ');
            }
        }
    }

    /// The received page's text.
    fn text(&self) -> String {
        let mut text = String::new();
        for row in &self.rows[1..] {
            let line: String = row.iter().map(|&c| g0_char(c, self.national)).collect();
            let line = line.trim();
            if !line.is_empty() {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(line);
            }
        }
        text
    }

    /// The selected page was completed at `pts_90k`: it replaces what is on screen.
    fn complete(&mut self, pts_90k: i64, out: &mut Vec<Cue>) {
        let text = self.text();
        if self.shown.as_ref().is_some_and(|(_, s)| *s == text) {
            return;
        }
        if let Some((start_90k, old)) = self.shown.take() {
            if pts_90k > start_90k {
                out.push(Cue {
                    start_90k,
                    end_90k: Some(pts_90k),
                    text: old,
                });
            }
        }
        if !text.is_empty() {
            self.shown = Some((pts_90k, text));
        }
    }

    /// Ends the input: the cue on screen, if any, goes to `out` ending at `end_90k` (dropped
    /// when that is not after its start). A page still being received is not shown (its
    /// transmission was never completed).
    pub fn finish(&mut self, end_90k: i64, out: &mut Vec<Cue>) {
        self.receiving = false;
        if let Some((start_90k, text)) = self.shown.take() {
            if end_90k > start_90k {
                out.push(Cue {
                    start_90k,
                    end_90k: Some(end_90k),
                    text,
                });
            }
        }
    }

    /// Ends the input: the cue on screen, if any, goes to `out` with `end_90k: None`.
    pub fn finish_open(&mut self, out: &mut Vec<Cue>) {
        self.receiving = false;
        if let Some((start_90k, text)) = self.shown.take() {
            out.push(Cue {
                start_90k,
                end_90k: None,
                text,
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// From a transport stream.

/// Reassembles one PID's PES packets from transport stream buffers and decodes them.
struct TsTeletext {
    pid: u16,
    decoder: Decoder,
    pes: Vec<u8>,
    /// Whether `pes` holds the start of a PES (packets before the first PUSI are skipped).
    active: bool,
    last_cc: Option<u8>,
    /// The first raw PTS (the unwrapping base) and the last one (raw, unwrapped).
    first_raw: Option<u64>,
    last: Option<(u64, i64)>,
    cues: Vec<Cue>,
}

impl TsTeletext {
    fn new(pid: u16, magazine: u8, page: u8) -> Self {
        TsTeletext {
            pid,
            decoder: Decoder::new(magazine, page),
            pes: Vec::new(),
            active: false,
            last_cc: None,
            first_raw: None,
            last: None,
            cues: Vec::new(),
        }
    }

    fn push(&mut self, ts: &[u8]) {
        for (p, pid, pusi, payload) in packets(ts) {
            if pid != self.pid {
                continue;
            }
            let has_payload = p[3] & 0x10 != 0;
            let cc = p[3] & 0x0f;
            if has_payload {
                if let Some(last) = self.last_cc {
                    if cc != (last + 1) & 0x0f && cc != last {
                        // a lost packet: the PES being reassembled is incomplete
                        self.active = false;
                        self.pes.clear();
                    } else if cc == last && !pusi {
                        // a duplicate packet
                        continue;
                    }
                }
                self.last_cc = Some(cc);
            }
            if pusi {
                self.flush_pes();
                self.active = true;
            }
            if !self.active {
                continue;
            }
            let room = MAX_PES.saturating_sub(self.pes.len());
            self.pes
                .extend_from_slice(&payload[..payload.len().min(room)]);
            if self.pes.len() >= 6 {
                let len = u16::from_be_bytes([self.pes[4], self.pes[5]]) as usize;
                if len != 0 && self.pes.len() >= 6 + len {
                    self.pes.truncate(6 + len);
                    self.flush_pes();
                }
            }
        }
    }

    /// Decodes the PES held, if any and complete (a PES_packet_length of 0, unbounded, counts
    /// as complete).
    fn flush_pes(&mut self) {
        if !self.active {
            return;
        }
        self.active = false;
        let pes = std::mem::take(&mut self.pes);
        let complete = pes.len() >= 6 && {
            let len = u16::from_be_bytes([pes[4], pes[5]]) as usize;
            len == 0 || pes.len() == 6 + len
        };
        if let Some(h) = parse_pes(&pes).filter(|_| complete) {
            let pts = match (h.pts, self.last) {
                (Some(raw), Some((last_raw, last))) => {
                    let raw = raw & TS_MASK;
                    let pts = last + signed_33(raw.wrapping_sub(last_raw));
                    self.last = Some((raw, pts));
                    Some(pts)
                }
                (Some(raw), None) => {
                    let raw = raw & TS_MASK;
                    self.first_raw = Some(raw);
                    self.last = Some((raw, raw as i64));
                    Some(raw as i64)
                }
                (None, last) => last.map(|(_, pts)| pts),
            };
            if let (Some(pts), Some(data)) = (pts, pes.get(h.payload_offset..)) {
                self.decoder.push_pes(pts, data, &mut self.cues);
            }
        }
        self.pes = pes;
        self.pes.clear();
    }

    fn finish(mut self) -> (Vec<Cue>, Option<u64>) {
        // a PES cut short by the end of the input is dropped; an unbounded one is decoded
        self.flush_pes();
        self.decoder.finish_open(&mut self.cues);
        (self.cues, self.first_raw)
    }
}

/// The cues of teletext page `page` (two BCD digits) of magazine `magazine` (1..=8) carried on
/// `pid` in the transport stream `ts` (188-byte packets). Times are the PES PTS unwrapped from
/// the first one (which is taken as it stands, 0..2^33); the cue still on screen at the end
/// has `end_90k: None`.
pub fn cues_from_ts(ts: &[u8], pid: u16, magazine: u8, page: u8) -> Vec<Cue> {
    cues_from_ts_parts(&[ts], pid, magazine, page).0
}

/// [`cues_from_ts`] over consecutive buffers of one stream, each a whole number of packets
/// (e.g. the previous segment and this one; a PES may straddle them), also giving the first PES PTS as it stands (33-bit): the base the times are unwrapped
/// from (see [`unwrap_near`]).
pub fn cues_from_ts_parts(
    parts: &[&[u8]],
    pid: u16,
    magazine: u8,
    page: u8,
) -> (Vec<Cue>, Option<u64>) {
    let mut t = TsTeletext::new(pid, magazine, page);
    for part in parts {
        t.push(part);
    }
    t.finish()
}

/// A 33-bit timestamp `raw` unwrapped to lie within 2^32 of `base_raw` (itself taken as it
/// stands): how a segment's start is placed on the timeline of [`cues_from_ts_parts`].
pub fn unwrap_near(raw: u64, base_raw: u64) -> i64 {
    let base = (base_raw & TS_MASK) as i64;
    base + signed_33((raw & TS_MASK).wrapping_sub(base_raw & TS_MASK))
}

// ---------------------------------------------------------------------------------------------
// WebVTT.

/// `HH:MM:SS.mmm` of a non-negative 90 kHz duration (rounded to the millisecond).
fn vtt_time(t_90k: i64) -> String {
    let ms = t_90k.max(0).saturating_add(45) / 90;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Text escaped for a WebVTT cue payload (`&`, `<`, `>`); a line that would read as the cue's
/// end (empty) cannot occur, as cue text lines are trimmed and non-empty.
fn vtt_escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            c => s.push(c),
        }
    }
    s
}

/// The WebVTT file of one HLS segment spanning [`seg_start_90k`, `seg_end_90k`) on the cues'
/// timeline: `X-TIMESTAMP-MAP` maps its local zero to the segment start's 33-bit MPEG-TS time,
/// and every cue overlapping the segment is written clipped to it, with times relative to its
/// start (an open cue runs to the segment's end).
pub fn webvtt_segment(cues: &[Cue], seg_start_90k: i64, seg_end_90k: i64) -> String {
    let mut s = String::from("WEBVTT\n");
    let _ = write!(
        s,
        "X-TIMESTAMP-MAP=MPEGTS:{},LOCAL:00:00:00.000\n\n",
        seg_start_90k.rem_euclid(1 << 33)
    );
    for cue in cues {
        let end = cue.end_90k.unwrap_or(seg_end_90k).min(seg_end_90k);
        let start = cue.start_90k.max(seg_start_90k);
        if start >= end || cue.text.is_empty() {
            continue;
        }
        let from = vtt_time(start.saturating_sub(seg_start_90k));
        let to = vtt_time(end.saturating_sub(seg_start_90k));
        if from == to {
            continue;
        }
        let _ = write!(s, "{from} --> {to}\n{}\n\n", vtt_escape(&cue.text));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Encoding (tests and test streams).

/// One teletext data unit (subtitle data) carrying `packet` on VBI line offset `line`.
fn data_unit(packet: &[u8; 42], line: u8, out: &mut Vec<u8>) {
    out.push(UNIT_SUBTITLE);
    out.push(UNIT_LEN);
    // reserved '11', field_parity 1 (first field), line_offset
    out.push(0xc0 | 0x20 | (line & 0x1f));
    out.push(FRAMING_CODE);
    out.extend(packet.iter().map(|b| b.reverse_bits()));
}

/// The packet address bytes of `row` in `magazine`.
fn address(magazine: u8, row: u8) -> [u8; 2] {
    let x = (magazine & 7) | (row << 3);
    [hamming_8_4_encode(x & 0x0f), hamming_8_4_encode(x >> 4)]
}

/// A page header packet (subcode 0, empty header text, parallel mode).
fn header_packet(magazine: u8, page: u8, erase: bool, subtitle: bool, national: u8) -> [u8; 42] {
    let mut p = [with_odd_parity(b' '); 42];
    p[..2].copy_from_slice(&address(magazine, 0));
    p[2] = hamming_8_4_encode(page & 0x0f);
    p[3] = hamming_8_4_encode(page >> 4);
    p[4] = hamming_8_4_encode(0); // S1
    p[5] = hamming_8_4_encode(if erase { 8 } else { 0 }); // S2, C4
    p[6] = hamming_8_4_encode(0); // S3
    p[7] = hamming_8_4_encode(if subtitle { 8 } else { 0 }); // S4, C5, C6
    p[8] = hamming_8_4_encode(0); // C7..C10
    p[9] = hamming_8_4_encode((national & 7) << 1); // C11 = 0 (parallel), C12..C14
    p
}

/// The national option subset all of `lines` can be written in (English, German, French,
/// Swedish, Italian, Spanish/Portuguese, Czech tried in that order; English when none can: the
/// characters it lacks become `?`).
fn choose_national(lines: &[&str]) -> u8 {
    use national::*;
    [ENGLISH, GERMAN, FRENCH, SWEDISH, ITALIAN, SPANISH, CZECH]
        .into_iter()
        .find(|&n| {
            lines
                .iter()
                .all(|l| l.chars().all(|c| g0_code(c, n).is_some()))
        })
        .unwrap_or(ENGLISH)
}

/// The PES data field of one subtitle page: data_identifier 0x10, then EBU teletext subtitle
/// data units — the page header of page `page` (two BCD digits) in `magazine` (1..=8) with C6
/// (subtitle) and, when `erase`, C4 (erase page) set; one row per line, the last on row 23 (four
/// lines on rows 20..=23; at most 23 lines), each centred in boxes (start box twice, end box
/// twice, at most 36 characters kept); then a time filling header (page FF) of the same
/// magazine, which completes the page so that it is shown from this PES's PTS; then stuffing
/// units up to 4n + 3 units, so that with the 45-byte PES header EN 300 472 asks for the
/// whole PES packet is a multiple of 184 bytes. The national option subset is the first that
/// writes every character (see [`national`]); characters none has become `?`. An empty
/// `lines` with `erase` clears the page (ends the cue on screen).
pub fn encode_page(magazine: u8, page: u8, lines: &[&str], erase: bool) -> Vec<u8> {
    let lines = &lines[lines.len().saturating_sub(23)..];
    let national = choose_national(lines);
    let mut units: Vec<[u8; 42]> = vec![header_packet(magazine, page, erase, true, national)];
    let first_row = 24 - lines.len() as u8;
    for (i, line) in lines.iter().enumerate() {
        let mut p = [with_odd_parity(b' '); 42];
        p[..2].copy_from_slice(&address(magazine, first_row + i as u8));
        let text: Vec<u8> = line
            .trim()
            .chars()
            .map(|c| g0_code(c, national).unwrap_or(b'?'))
            .take(36)
            .collect();
        let mut row = Vec::with_capacity(COLUMNS);
        row.extend_from_slice(&[0x0b, 0x0b]);
        row.extend_from_slice(&text);
        row.extend_from_slice(&[0x0a, 0x0a]);
        let left = (COLUMNS - row.len()) / 2;
        for (j, &c) in row.iter().enumerate() {
            p[2 + left + j] = with_odd_parity(c);
        }
        units.push(p);
    }
    units.push(header_packet(magazine, 0xff, false, false, national));
    let mut out = Vec::with_capacity(1 + UNIT_SIZE * (units.len() + 4));
    out.push(DATA_IDENTIFIER);
    for (i, p) in units.iter().enumerate() {
        data_unit(p, 7 + i as u8, &mut out);
    }
    let mut n = units.len();
    while n % 4 != 3 {
        out.push(UNIT_STUFFING);
        out.push(UNIT_LEN);
        out.extend_from_slice(&[0xff; UNIT_LEN as usize]);
        n += 1;
    }
    out
}

/// The 188-byte transport stream packets carrying one PES packet on `pid` (the last one
/// filled with adaptation field stuffing), continuity counters from `*cc` on.
pub fn ts_packets(pid: u16, pes: &[u8], cc: &mut u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(pes.len().div_ceil(184) * crate::PACKET_SIZE);
    for (i, chunk) in pes.chunks(184).enumerate() {
        let mut p = [0xffu8; crate::PACKET_SIZE];
        p[0] = crate::SYNC_BYTE;
        p[1] = if i == 0 { 0x40 } else { 0 } | ((pid >> 8) as u8 & 0x1f);
        p[2] = pid as u8;
        let stuffing = 184 - chunk.len();
        if stuffing == 0 {
            p[3] = 0x10 | (*cc & 0x0f);
        } else {
            p[3] = 0x30 | (*cc & 0x0f);
            p[4] = (stuffing - 1) as u8;
            if stuffing > 1 {
                p[5] = 0x00;
            }
        }
        p[4 + stuffing..].copy_from_slice(chunk);
        *cc = cc.wrapping_add(1) & 0x0f;
        out.extend_from_slice(&p);
    }
    out
}

/// A whole PES packet (stream_id 0xBD, private_stream_1) carrying the PES data field `data`
/// (as [`encode_page`] writes it) at `pts_90k`, with the header EN 300 472 asks for:
/// PES_header_data_length 0x24 (the PTS, then stuffing bytes), data_alignment_indicator set.
/// `data` longer than a PES can hold is cut to fit.
pub fn pes_packet(pts_90k: i64, data: &[u8]) -> Vec<u8> {
    let data = &data[..data.len().min(0xffff - 3 - 0x24)];
    let len = 3 + 0x24 + data.len();
    let mut p = Vec::with_capacity(6 + len);
    p.extend_from_slice(&[0, 0, 1, 0xbd]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p.extend_from_slice(&[0x84, 0x80, 0x24]);
    p.extend_from_slice(&write_ts(2, pts_90k.rem_euclid(1 << 33) as u64));
    p.extend_from_slice(&[0xff; 0x24 - 5]);
    p.extend_from_slice(data);
    p
}

#[cfg(test)]
mod tests;
