//! A finished transport stream read back as a program (its PAT/PMT: every elementary stream with
//! its descriptors), and the same stream cut down to some of its PIDs.
//!
//! HLS offers a channel's audio languages and subtitles as separate renditions (RFC 8216
//! `EXT-X-MEDIA`). They are cut, on request, from the one full segment every other output
//! shares: [`filter_pids`] keeps the PAT, a PMT rewritten to list only the kept streams, and the
//! kept streams' packets — the timestamps are untouched, so the renditions stay in sync.
//!
//! Pure: bytes in, bytes out; a malformed or truncated input gives `None` or drops packets,
//! never a panic.

use crate::pes::{parse_pes, TS_MASK};
use crate::{crc32_mpeg2, stream_type, PACKET_SIZE, PAT_PID, SYNC_BYTE};

/// An ISO 639-2 code as the API shows it: lower case, `None` for `und`, blanks or non-letters.
pub fn language_code(code: [u8; 3]) -> Option<String> {
    let s: String = code
        .iter()
        .map(|b| b.to_ascii_lowercase() as char)
        .collect();
    (s.bytes().all(|b| b.is_ascii_lowercase()) && s != "und" && s != "mis" && s != "zxx")
        .then_some(s)
}

/// How far into a segment the PAT and PMT are looked for.
const SCAN_PACKETS: usize = 64;
/// A PMT section is at most 1024 bytes (ISO 13818-1 2.4.4.8).
const MAX_SECTION: usize = 1024;

/// `descriptor_tag`s read here.
pub mod descriptor {
    /// registration_descriptor (format_identifier, e.g. `AC-3`).
    pub const REGISTRATION: u8 = 0x05;
    /// ISO_639_language_descriptor: language + audio_type per entry.
    pub const ISO_639_LANGUAGE: u8 = 0x0a;
    /// DVB teletext_descriptor (EN 300 468 6.2.43).
    pub const TELETEXT: u8 = 0x56;
    /// DVB subtitling_descriptor (bitmap subtitles, EN 300 468 6.2.41).
    pub const SUBTITLING: u8 = 0x59;
    /// DVB AC-3_descriptor.
    pub const AC3: u8 = 0x6a;
    /// DVB enhanced_AC-3_descriptor.
    pub const EAC3: u8 = 0x7a;
    /// DVB extension descriptor (supplementary_audio_descriptor is its tag extension 0x06).
    pub const EXTENSION: u8 = 0x7f;
}

/// `audio_type` of the ISO_639_language_descriptor.
pub mod audio_type {
    pub const UNDEFINED: u8 = 0;
    pub const CLEAN_EFFECTS: u8 = 1;
    pub const HEARING_IMPAIRED: u8 = 2;
    /// Visual impaired commentary: audio description.
    pub const VISUAL_IMPAIRED_COMMENTARY: u8 = 3;
}

/// What an elementary stream carries, as far as its stream_type and descriptors say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EsKind {
    Video(media::Codec),
    Audio(media::Codec),
    /// DVB teletext (pages listed in [`Es::teletext_pages`]).
    Teletext,
    /// DVB bitmap subtitles.
    DvbSubtitle,
    Other,
}

/// One elementary stream of the PMT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Es {
    pub pid: u16,
    pub stream_type: u8,
    /// The ES_info descriptors, as written.
    pub descriptors: Vec<u8>,
}

/// One page of a teletext_descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeletextPage {
    /// ISO 639-2 code as sent (three bytes, usually lower-case ASCII).
    pub language: [u8; 3],
    /// teletext_type: 1 initial page, 2 subtitle page, 3 additional information, 4 programme
    /// schedule, 5 subtitle page for the hearing impaired.
    pub kind: u8,
    /// Magazine 1..=8 (0 in the descriptor means 8).
    pub magazine: u8,
    /// Page number, two BCD digits (0x88 for page 888 with magazine 8).
    pub page: u8,
}

impl TeletextPage {
    /// A subtitle page (normal or for the hearing impaired).
    pub fn is_subtitle(&self) -> bool {
        self.kind == 2 || self.kind == 5
    }
}

impl Es {
    /// The descriptors as (tag, body) pairs; a truncated one ends the list.
    pub fn descriptors(&self) -> impl Iterator<Item = (u8, &[u8])> {
        let mut rest = self.descriptors.as_slice();
        std::iter::from_fn(move || {
            let (&tag, after) = rest.split_first()?;
            let (&len, after) = after.split_first()?;
            let body = after.get(..len as usize)?;
            rest = &after[len as usize..];
            Some((tag, body))
        })
    }

    fn has(&self, tag: u8) -> bool {
        self.descriptors().any(|(t, _)| t == tag)
    }

    /// A registration_descriptor with this format_identifier.
    fn registered(&self, format: &[u8; 4]) -> bool {
        self.descriptors()
            .any(|(t, b)| t == descriptor::REGISTRATION && b.get(..4) == Some(&format[..]))
    }

    pub fn kind(&self) -> EsKind {
        use media::Codec;
        match self.stream_type {
            stream_type::H264 => EsKind::Video(Codec::H264),
            stream_type::H265 => EsKind::Video(Codec::H265),
            stream_type::AAC_ADTS => EsKind::Audio(Codec::Aac),
            stream_type::MPEG1_AUDIO | stream_type::MPEG2_AUDIO => EsKind::Audio(Codec::Mpeg1Audio),
            stream_type::AC3 => EsKind::Audio(Codec::Ac3),
            stream_type::EAC3 => EsKind::Audio(Codec::Eac3),
            stream_type::PRIVATE_PES if self.has(descriptor::AC3) || self.registered(b"AC-3") => {
                EsKind::Audio(Codec::Ac3)
            }
            stream_type::PRIVATE_PES if self.has(descriptor::EAC3) || self.registered(b"EAC3") => {
                EsKind::Audio(Codec::Eac3)
            }
            stream_type::PRIVATE_PES if self.has(descriptor::TELETEXT) => EsKind::Teletext,
            stream_type::PRIVATE_PES if self.has(descriptor::SUBTITLING) => EsKind::DvbSubtitle,
            _ => EsKind::Other,
        }
    }

    /// The language of the ISO_639_language_descriptor's first entry, else of the first
    /// teletext or subtitling entry.
    pub fn language(&self) -> Option<[u8; 3]> {
        self.descriptors().find_map(|(tag, b)| match tag {
            descriptor::ISO_639_LANGUAGE | descriptor::TELETEXT | descriptor::SUBTITLING
                if b.len() >= 3 =>
            {
                Some([b[0], b[1], b[2]])
            }
            _ => None,
        })
    }

    /// The ISO_639_language_descriptor's audio_type (0 when there is none).
    pub fn audio_type(&self) -> u8 {
        self.descriptors()
            .find_map(|(tag, b)| (tag == descriptor::ISO_639_LANGUAGE).then(|| b.get(3).copied()))
            .flatten()
            .unwrap_or(audio_type::UNDEFINED)
    }

    /// Audio description: audio_type 3, or DVB's supplementary_audio_descriptor saying
    /// "audio description for the visually impaired" (editorial_classification 1).
    pub fn is_audio_description(&self) -> bool {
        self.audio_type() == audio_type::VISUAL_IMPAIRED_COMMENTARY
            || self.descriptors().any(|(tag, b)| {
                tag == descriptor::EXTENSION
                    && b.first() == Some(&0x06)
                    && b.get(1).is_some_and(|f| (f >> 2) & 0x1f == 1)
            })
    }

    /// The pages of its teletext_descriptors.
    pub fn teletext_pages(&self) -> Vec<TeletextPage> {
        let mut pages = Vec::new();
        for (tag, b) in self.descriptors() {
            if tag != descriptor::TELETEXT {
                continue;
            }
            for e in b.chunks_exact(5) {
                let magazine = e[3] & 7;
                pages.push(TeletextPage {
                    language: [e[0], e[1], e[2]],
                    kind: e[3] >> 3,
                    magazine: if magazine == 0 { 8 } else { magazine },
                    page: e[4],
                });
            }
        }
        pages
    }
}

/// The program of a transport stream: the first program of its PAT and that program's PMT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub program_number: u16,
    pub pmt_pid: u16,
    pub pcr_pid: u16,
    pub version: u8,
    /// The program_info descriptors, as written.
    pub program_info: Vec<u8>,
    /// In PMT order.
    pub streams: Vec<Es>,
}

/// The 188-byte packets of `ts` that start with the sync byte, with their PID and payload
/// (after the adaptation field) and whether a unit starts in them.
pub(crate) fn packets(ts: &[u8]) -> impl Iterator<Item = (&[u8], u16, bool, &[u8])> {
    ts.chunks_exact(PACKET_SIZE).filter_map(|p| {
        if p[0] != SYNC_BYTE {
            return None;
        }
        let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
        let pusi = p[1] & 0x40 != 0;
        let afc = (p[3] >> 4) & 3;
        let start = match afc {
            1 => 4,
            3 => 5 + p[4] as usize,
            _ => return Some((p, pid, pusi, &p[..0])),
        };
        Some((p, pid, pusi, p.get(start..).unwrap_or(&[])))
    })
}

/// Assembles the first complete PSI section with `table_id` on `pid` from the first
/// [`SCAN_PACKETS`] packets of `ts` (CRC checked).
fn section(ts: &[u8], pid: u16, table_id: u8) -> Option<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    let mut active = false;
    for (_, p, pusi, payload) in packets(ts).take(SCAN_PACKETS) {
        if p != pid || payload.is_empty() {
            continue;
        }
        if pusi {
            let pointer = payload[0] as usize;
            let Some(start) = payload.get(1 + pointer..) else {
                active = false;
                continue;
            };
            buf.clear();
            buf.extend_from_slice(start);
            active = true;
        } else if active {
            buf.extend_from_slice(payload);
        } else {
            continue;
        }
        if buf.len() >= 3 {
            let len = 3 + (u16::from_be_bytes([buf[1] & 0x0f, buf[2]]) as usize);
            if len > MAX_SECTION + 3 || buf[0] != table_id {
                active = false;
                continue;
            }
            if buf.len() >= len {
                buf.truncate(len);
                if len < 12 || crc32_mpeg2(&buf) != 0 {
                    active = false;
                    continue;
                }
                return Some(buf);
            }
        }
    }
    None
}

/// Reads the program from the PAT and PMT near the start of `ts` (a segment starts with them).
pub fn read_program(ts: &[u8]) -> Option<Program> {
    let pat = section(ts, PAT_PID, 0x00)?;
    // the first program that is not the network PID
    let (program_number, pmt_pid) = pat[8..pat.len() - 4].chunks_exact(4).find_map(|e| {
        let number = u16::from_be_bytes([e[0], e[1]]);
        (number != 0).then(|| (number, u16::from_be_bytes([e[2] & 0x1f, e[3]])))
    })?;
    let pmt = section(ts, pmt_pid, 0x02)?;
    if u16::from_be_bytes([pmt[3], pmt[4]]) != program_number {
        return None;
    }
    let version = (pmt[5] >> 1) & 0x1f;
    let pcr_pid = u16::from_be_bytes([pmt[8] & 0x1f, pmt[9]]);
    let info_len = (u16::from_be_bytes([pmt[10] & 0x0f, pmt[11]])) as usize;
    let end = pmt.len() - 4;
    let program_info = pmt.get(12..12 + info_len)?.to_vec();
    let mut pos = 12 + info_len;
    let mut streams = Vec::new();
    while pos + 5 <= end {
        let st = pmt[pos];
        let pid = u16::from_be_bytes([pmt[pos + 1] & 0x1f, pmt[pos + 2]]);
        let dlen = (u16::from_be_bytes([pmt[pos + 3] & 0x0f, pmt[pos + 4]])) as usize;
        let descriptors = pmt.get(pos + 5..pos + 5 + dlen)?;
        if pos + 5 + dlen > end {
            return None;
        }
        streams.push(Es {
            pid,
            stream_type: st,
            descriptors: descriptors.to_vec(),
        });
        pos += 5 + dlen;
    }
    Some(Program {
        program_number,
        pmt_pid,
        pcr_pid,
        version,
        program_info,
        streams,
    })
}

/// The PMT section of `program` listing only the streams in `keep` (PCR_PID moved to the first
/// kept stream when its own is not kept).
fn pmt_section(program: &Program, keep: &[u16]) -> Vec<u8> {
    let kept: Vec<&Es> = program
        .streams
        .iter()
        .filter(|e| keep.contains(&e.pid))
        .collect();
    let pcr_pid = if kept.iter().any(|e| e.pid == program.pcr_pid) {
        program.pcr_pid
    } else {
        kept.first().map_or(0x1fff, |e| e.pid)
    };
    let mut s = vec![
        0x02,
        0xb0,
        0x00,
        (program.program_number >> 8) as u8,
        program.program_number as u8,
        0xc1 | (program.version << 1),
        0x00,
        0x00,
    ];
    s.extend_from_slice(&(0xe000 | pcr_pid).to_be_bytes());
    s.extend_from_slice(&(0xf000 | program.program_info.len() as u16).to_be_bytes());
    s.extend_from_slice(&program.program_info);
    for e in kept {
        s.push(e.stream_type);
        s.extend_from_slice(&(0xe000 | e.pid).to_be_bytes());
        s.extend_from_slice(&(0xf000 | e.descriptors.len() as u16).to_be_bytes());
        s.extend_from_slice(&e.descriptors);
    }
    let len = (s.len() - 3 + 4) as u16;
    s[1] = 0xb0 | (len >> 8) as u8;
    s[2] = len as u8;
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// `ts` with only the PAT, the program's PMT (rewritten to list the streams in `keep`) and the
/// packets of the PIDs in `keep`. A PMT sent over several packets becomes one (the rewritten
/// section is shorter than [`PACKET_SIZE`] for any stream a rendition keeps); its continuity
/// counter is the first packet's.
pub fn filter_pids(ts: &[u8], program: &Program, keep: &[u16]) -> Vec<u8> {
    let section = pmt_section(program, keep);
    let mut out = Vec::with_capacity(ts.len() / 2);
    for (p, pid, pusi, _) in packets(ts) {
        if pid == PAT_PID || keep.contains(&pid) {
            out.extend_from_slice(p);
        } else if pid == program.pmt_pid && pusi && section.len() < PACKET_SIZE - 4 {
            let mut pkt = [0xffu8; PACKET_SIZE];
            pkt[0] = SYNC_BYTE;
            pkt[1] = 0x40 | (pid >> 8) as u8 & 0x1f;
            pkt[2] = pid as u8;
            pkt[3] = 0x10 | (p[3] & 0x0f);
            pkt[4] = 0; // pointer_field
            pkt[5..5 + section.len()].copy_from_slice(&section);
            out.extend_from_slice(&pkt);
        }
    }
    out
}

/// The PTS of the first PES on `pid` in `ts` that carries one (33-bit, as written).
pub fn first_pts(ts: &[u8], pid: u16) -> Option<u64> {
    packets(ts)
        .filter(|(_, p, pusi, _)| *p == pid && *pusi)
        .find_map(|(_, _, _, payload)| parse_pes(payload).and_then(|h| h.pts))
        .map(|pts| pts & TS_MASK)
}

/// The PTS of the first PES of any PID in `ts` that carries one (33-bit, as written).
pub fn first_pts_any(ts: &[u8]) -> Option<u64> {
    packets(ts)
        .filter(|(_, p, pusi, _)| *pusi && *p != PAT_PID && *p != crate::NULL_PID)
        .find_map(|(_, _, _, payload)| parse_pes(payload).and_then(|h| h.pts))
        .map(|pts| pts & TS_MASK)
}

/// The start of the first PES payload on `pid` (what its first packet holds: for video the
/// access unit delimiter and parameter sets of a segment's first keyframe).
pub fn first_payload(ts: &[u8], pid: u16) -> Option<&[u8]> {
    packets(ts)
        .filter(|(_, p, pusi, _)| *p == pid && *pusi)
        .find_map(|(_, _, _, payload)| {
            let h = parse_pes(payload)?;
            payload.get(h.payload_offset..)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use media::{AudioConfig, Codec, Frame, StreamInfo, Track, Ts90k, VideoConfig};

    fn sample_ts() -> Vec<u8> {
        let info = StreamInfo {
            video: Some(VideoConfig {
                codec: Some(Codec::H264),
                width: 64,
                height: 64,
                fps_milli: 25_000,
                sps: vec![Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e, 0x8c])],
                pps: vec![Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80])],
            }),
            audio: vec![AudioConfig {
                codec: Some(Codec::Aac),
                sample_rate: 48_000,
                channels: 2,
                asc: Some(Bytes::from_static(&[0x11, 0x90])),
                ..Default::default()
            }],
            data: Vec::new(),
        };
        let mut mux = crate::Muxer::new(&info);
        let mut out = BytesMut::new();
        mux.write_psi(&mut out);
        for i in 0..10i64 {
            mux.write_frame(
                &Frame {
                    track: Track::Video,
                    codec: Codec::H264,
                    pts_90k: Ts90k(90_000 + i * 3600),
                    dts_90k: Ts90k(90_000 + i * 3600),
                    keyframe: i == 0,
                    data: Bytes::from(vec![0, 0, 0, 1, 0x65, 0x88, 0x80, i as u8]),
                },
                &mut out,
            );
            mux.write_frame(
                &Frame {
                    track: Track::Audio(0),
                    codec: Codec::Aac,
                    pts_90k: Ts90k(90_000 + i * 1920),
                    dts_90k: Ts90k(90_000 + i * 1920),
                    keyframe: true,
                    data: Bytes::from(vec![0x21, 0x10, 0x04, i as u8]),
                },
                &mut out,
            );
        }
        out.to_vec()
    }

    #[test]
    fn reads_the_program_and_cuts_one_stream_out() {
        let ts = sample_ts();
        let p = read_program(&ts).expect("program");
        assert_eq!(p.pmt_pid, crate::PMT_PID);
        let kinds: Vec<EsKind> = p.streams.iter().map(Es::kind).collect();
        assert_eq!(
            kinds,
            [EsKind::Video(Codec::H264), EsKind::Audio(Codec::Aac)]
        );
        assert_eq!(first_pts(&ts, crate::AUDIO_PID), Some(90_000));
        assert_eq!(first_pts_any(&ts), Some(90_000));
        assert_eq!(first_pts_any(&ts[..2 * PACKET_SIZE]), None); // PAT and PMT only
        assert!(first_payload(&ts, crate::VIDEO_PID)
            .is_some_and(|p| p.windows(2).any(|w| w == [0x67, 0x42])));

        let audio = filter_pids(&ts, &p, &[crate::AUDIO_PID]);
        let q = read_program(&audio).expect("rewritten program");
        assert_eq!(q.streams.len(), 1);
        assert_eq!(q.streams[0].pid, crate::AUDIO_PID);
        assert_eq!(q.pcr_pid, crate::AUDIO_PID);
        // the demuxer reads the cut stream back: audio frames only, same timestamps
        let mut d = crate::Demuxer::new();
        let mut ev = Vec::new();
        d.push(&audio, &mut ev);
        d.flush(&mut ev);
        let frames: Vec<&Frame> = ev
            .iter()
            .filter_map(|e| match e {
                media::MediaEvent::Frame(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(frames.len(), 10);
        assert!(frames.iter().all(|f| f.track.is_audio()));
        assert_eq!(frames[0].pts_90k.0 % (1 << 33), 90_000);

        let video = filter_pids(&ts, &p, &[crate::VIDEO_PID]);
        let v = read_program(&video).unwrap();
        assert_eq!(v.streams.len(), 1);
        assert_eq!(v.pcr_pid, crate::VIDEO_PID);
        assert!(video.len() < ts.len() && video.len().is_multiple_of(PACKET_SIZE));
    }

    #[test]
    fn descriptors_language_kind_and_teletext_pages() {
        let es = Es {
            pid: 0x102,
            stream_type: stream_type::MPEG1_AUDIO,
            descriptors: vec![0x0a, 4, b'e', b'n', b'g', 3],
        };
        assert_eq!(es.language(), Some(*b"eng"));
        assert!(es.is_audio_description());
        let ac3 = Es {
            pid: 0x103,
            stream_type: stream_type::PRIVATE_PES,
            descriptors: vec![0x6a, 1, 0, 0x0a, 4, b'c', b'h', b'i', 0],
        };
        assert_eq!(ac3.kind(), EsKind::Audio(Codec::Ac3));
        assert!(!ac3.is_audio_description());
        let ttx = Es {
            pid: 0x120,
            stream_type: stream_type::PRIVATE_PES,
            descriptors: vec![
                0x56,
                10,
                b'e',
                b'n',
                b'g',
                0x10,
                0x88,
                b'd',
                b'e',
                b'u',
                0x2 << 3 | 1,
                0x50,
            ],
        };
        assert_eq!(ttx.kind(), EsKind::Teletext);
        let pages = ttx.teletext_pages();
        assert_eq!(pages.len(), 2);
        assert_eq!(
            (pages[0].magazine, pages[0].page, pages[0].kind),
            (8, 0x88, 2)
        );
        assert!(pages[0].is_subtitle());
        assert_eq!((pages[1].magazine, pages[1].page), (1, 0x50));
        assert_eq!(pages[1].language, *b"deu");
    }

    #[test]
    fn hostile_input_never_panics() {
        let ts = sample_ts();
        let p = read_program(&ts).unwrap();
        let mut seed = 0x1234_5678_u64;
        for len in [0, 1, 187, 188, 189, 376, 1000] {
            let cut = &ts[..len.min(ts.len())];
            let _ = read_program(cut);
            let _ = filter_pids(cut, &p, &[crate::AUDIO_PID]);
        }
        for _ in 0..300 {
            let mut m = ts.clone();
            for _ in 0..20 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % m.len();
                m[i] = (seed >> 32) as u8;
            }
            if let Some(q) = read_program(&m) {
                let keep: Vec<u16> = q.streams.iter().map(|e| e.pid).collect();
                let _ = filter_pids(&m, &q, &keep);
                for e in &q.streams {
                    let _ = (
                        e.kind(),
                        e.language(),
                        e.teletext_pages(),
                        e.is_audio_description(),
                    );
                }
            }
            let _ = first_pts(&m, crate::VIDEO_PID);
            let _ = first_pts_any(&m);
            let _ = first_payload(&m, crate::VIDEO_PID);
        }
    }
}
