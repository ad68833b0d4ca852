//! Transport stream multiplexer: [`Frame`]s in, 188-byte packets out.

use bytes::{BufMut, BytesMut};
use media::aac::{self, Asc, SAMPLE_RATES};
use media::{h264, Codec, Frame, StreamInfo, Track};

use crate::codec::{hevc_nal_type, HEVC_NAL_AUD};
use crate::pes::{write_ts, TS_MASK};
use crate::program::descriptor;
use crate::{
    crc32_mpeg2, stream_type, stream_type_for, AUDIO_PID, DATA_PID, NULL_PID, PACKET_SIZE, PAT_PID,
    PMT_PID, SYNC_BYTE, VIDEO_PID,
};

/// Longest allowed gap between PCRs on the PCR pid, in 90 kHz ticks of DTS (40 ms).
const PCR_INTERVAL_90K: i64 = 3600;
/// Program number of the single program.
const PROGRAM_NUMBER: u16 = 1;
/// transport_stream_id written in the PAT.
const TRANSPORT_STREAM_ID: u16 = 1;
/// Access unit delimiters (NAL header + primary_pic_type "any" + stop bit).
const H264_AUD: [u8; 6] = [0, 0, 0, 1, h264::NAL_AUD, 0xf0];
const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, HEVC_NAL_AUD << 1, 0x01, 0x50];
/// Streams with their own continuity counter and discontinuity flag: video, the audio tracks,
/// the data streams.
const STREAMS: usize = 1 + media::MAX_AUDIO_TRACKS + media::MAX_DATA_STREAMS;
/// Longest PSI section (ISO 13818-1 2.4.4.11: section_length at most 1021).
const MAX_SECTION: usize = 1024;
/// EN 300 472 4.2: a teletext PES header has PES_header_data_length 0x24 (stuffed), so the
/// data field starts at a fixed offset for decoders that expect it.
const TELETEXT_HEADER_DATA_LEN: usize = 0x24;
/// A teletext data unit (data_unit_id, length and 44 bytes of data).
const TELETEXT_UNIT: usize = 46;

/// MPEG-TS multiplexer for one program: at most one video stream ([`VIDEO_PID`]), the audio
/// tracks of [`StreamInfo::audio`] (`AUDIO_PID + n`, each with its ISO 639 language descriptor)
/// and the teletext / DVB subtitle streams of [`StreamInfo::data`] (`DATA_PID + n`, with the
/// source's descriptors).
///
/// The muxer does not insert PAT/PMT by itself: call [`write_psi`](Muxer::write_psi) where a
/// decoder may start (e.g. at the start of each HLS segment). Continuity counters persist across
/// calls, so concatenated outputs form one valid stream.
#[derive(Debug, Clone)]
pub struct Muxer {
    info: StreamInfo,
    /// PMT version_number, bumped when the PMT content changes.
    pmt_version: u8,
    /// Continuity counters for PAT and PMT.
    psi_cc: [u8; 2],
    /// Continuity counters per stream ([`stream_slot`]).
    cc: [u8; STREAMS],
    /// DTS of the last frame that carried a PCR.
    last_pcr_dts: Option<i64>,
    /// Per stream: the next packet carries discontinuity_indicator (see
    /// [`mark_discontinuity`](Muxer::mark_discontinuity)).
    discontinuity: [bool; STREAMS],
}

impl Muxer {
    pub fn new(info: &media::StreamInfo) -> Muxer {
        Muxer {
            info: info.clone(),
            pmt_version: 0,
            psi_cc: [0; 2],
            cc: [0; STREAMS],
            last_pcr_dts: None,
            discontinuity: [false; STREAMS],
        }
    }

    /// The next packet of every stream says `discontinuity_indicator`
    /// (ISO 13818-1 2.4.3.5): for output that is not a continuation of earlier output from this
    /// muxer (a VOD segment cut on its own), so demuxers reading segments one after another
    /// expect the continuity counters and the time base to jump.
    pub fn mark_discontinuity(&mut self) {
        self.discontinuity = [true; STREAMS];
        self.last_pcr_dts = None;
    }

    /// Replace the stream description (e.g. new source). Next write_psi reflects it.
    pub fn set_info(&mut self, info: &media::StreamInfo) {
        if self.es_entries() != es_entries(info) {
            self.pmt_version = (self.pmt_version + 1) & 0x1f;
        }
        self.info = info.clone();
    }

    /// The current stream description.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The PID carrying the PCR: video if the stream has video, else the first audio track.
    pub fn pcr_pid(&self) -> u16 {
        if video_codec(&self.info).is_some() {
            VIDEO_PID
        } else {
            AUDIO_PID
        }
    }

    /// Append PAT + PMT to `out` (one packet each, the PMT more when many streams are described).
    pub fn write_psi(&mut self, out: &mut BytesMut) {
        let mut pat = vec![
            0x00,
            0xb0,
            0x00,
            (TRANSPORT_STREAM_ID >> 8) as u8,
            TRANSPORT_STREAM_ID as u8,
            0xc1,
            0x00,
            0x00,
        ];
        pat.put_u16(PROGRAM_NUMBER);
        pat.put_u16(0xe000 | PMT_PID);
        finish_section(&mut pat);
        self.psi_packets(PAT_PID, &pat, out);

        let mut pmt = vec![
            0x02,
            0xb0,
            0x00,
            (PROGRAM_NUMBER >> 8) as u8,
            PROGRAM_NUMBER as u8,
            0xc1 | (self.pmt_version << 1),
            0x00,
            0x00,
        ];
        pmt.put_u16(0xe000 | self.pcr_pid());
        pmt.put_u16(0xf000); // program_info_length 0
        for (st, pid, desc) in self.es_entries() {
            if pmt.len() + 5 + desc.len() + 4 > MAX_SECTION {
                break; // what does not fit one section is left out (never the video or audio)
            }
            pmt.put_u8(st);
            pmt.put_u16(0xe000 | pid);
            pmt.put_u16(0xf000 | desc.len() as u16);
            pmt.put_slice(&desc);
        }
        finish_section(&mut pmt);
        self.psi_packets(PMT_PID, &pmt, out);
    }

    /// Append one frame as PES packets. Adds ADTS headers to raw AAC using the AudioConfig ASC;
    /// for H.264 keyframes, inserts an AUD and the SPS/PPS from the VideoConfig when the access
    /// unit lacks them (so every segment starting on a keyframe decodes on its own); inserts an
    /// AUD (NAL 9) at the start of every H.264 AU that lacks one (HEVC likewise: AUD NAL 35 and
    /// VPS/SPS/PPS on IRAP frames). Writes PCR in the adaptation field of the PCR pid (video pid
    /// if there is video, else audio) on every video keyframe and at least every 40 ms of dts;
    /// random_access_indicator set on keyframes. PTS always, DTS when != PTS. PCR = dts.
    /// Video PES use PES_packet_length 0 (unbounded) when > 65535. Stuffing via adaptation
    /// field so every packet is exactly 188 bytes.
    pub fn write_frame(&mut self, frame: &media::Frame, out: &mut BytesMut) {
        self.write(frame, out, false)
    }

    /// As [`write_frame`](Muxer::write_frame) for a video access unit the caller already made
    /// complete: it starts with an AUD and a keyframe carries its parameter sets, so nothing is
    /// inserted and the access unit is not scanned (a stored film's frames, converted once).
    pub fn write_prepared_frame(&mut self, frame: &media::Frame, out: &mut BytesMut) {
        self.write(frame, out, true)
    }

    fn write(&mut self, frame: &media::Frame, out: &mut BytesMut, prepared: bool) {
        let data = &frame.data[..];
        // a frame of a track the stream description does not have is not written
        let (pid, stream_id) = match (frame.track, frame.codec) {
            (Track::Video, _) => (VIDEO_PID, 0xe0),
            (Track::Audio(n), _) if n as usize >= self.info.audio.len() => return,
            (Track::Data(n), _) if n as usize >= self.info.data.len() => return,
            (Track::Audio(n), Codec::Ac3 | Codec::Eac3) => (AUDIO_PID + n as u16, 0xbd),
            (Track::Audio(n), _) => (AUDIO_PID + n as u16, 0xc0 + n),
            (Track::Data(n), _) => (DATA_PID + n as u16, 0xbd),
        };
        let teletext = frame.codec == Codec::Teletext;

        // elementary stream payload = data[..split] + prefix + data[split..]
        let (split, prefix) = match frame.codec {
            Codec::H264 | Codec::H265 if prepared => (0, Vec::new()),
            Codec::H264 | Codec::H265 => self.video_prefix(frame),
            Codec::Aac => (0, self.adts_header(frame.track, data)),
            Codec::Mpeg1Audio | Codec::Ac3 | Codec::Eac3 | Codec::DvbSubtitle => (0, Vec::new()),
            // stuffing units so the PES is a whole number of packets (EN 300 472 4.3)
            Codec::Teletext => (data.len(), teletext_stuffing(data.len())),
        };
        let (head, tail) = data.split_at(split.min(data.len()));

        // PES header
        let pts = frame.pts_90k.to_33bit();
        let dts = frame.dts_90k.to_33bit();
        let with_dts = frame.dts_90k != frame.pts_90k && !frame.codec.is_data();
        let hdl: usize = match (teletext, with_dts) {
            (true, _) => TELETEXT_HEADER_DATA_LEN,
            (false, true) => 10,
            (false, false) => 5,
        };
        let es_len = data.len() + prefix.len();
        let pes_len = 3 + hdl + es_len;
        let pes_len = if pes_len > 0xffff { 0 } else { pes_len as u16 };
        let mut hdr = Vec::with_capacity(19);
        hdr.extend_from_slice(&[0, 0, 1, stream_id]);
        hdr.put_u16(pes_len);
        hdr.put_u8(0x84); // '10', data_alignment_indicator
        hdr.put_u8(if with_dts { 0xc0 } else { 0x80 });
        hdr.put_u8(hdl as u8);
        if with_dts {
            hdr.extend_from_slice(&write_ts(0b0011, pts));
            hdr.extend_from_slice(&write_ts(0b0001, dts));
        } else {
            hdr.extend_from_slice(&write_ts(0b0010, pts));
        }
        hdr.resize(9 + hdl, 0xff);

        // PCR and random access
        let pcr_pid = self.pcr_pid();
        let dts_i = frame.dts_90k.0;
        let mut pcr = None;
        if pid == pcr_pid {
            let due = match self.last_pcr_dts {
                None => true,
                Some(last) => dts_i < last || dts_i.saturating_sub(last) >= PCR_INTERVAL_90K,
            };
            if due || (frame.keyframe && frame.track == Track::Video) {
                pcr = Some(frame.dts_90k.to_33bit() & TS_MASK);
                self.last_pcr_dts = Some(dts_i);
            }
        }
        let rai = frame.keyframe && (frame.track == Track::Video || pcr_pid == pid);

        let slot = stream_slot(frame.track);
        let disc = std::mem::take(&mut self.discontinuity[slot]);
        let cc = &mut self.cc[slot];
        write_packets(out, pid, cc, &[&hdr, head, &prefix, tail], pcr, rai, disc);
    }

    /// For video: where to insert (after a leading AUD, else at 0) and what (AUD if missing,
    /// parameter sets the keyframe lacks).
    fn video_prefix(&self, frame: &Frame) -> (usize, Vec<u8>) {
        let data = &frame.data[..];
        let hevc = frame.codec == Codec::H265;
        let nal_type = |n: &[u8]| {
            if hevc {
                hevc_nal_type(n)
            } else {
                h264::nal_type(n)
            }
        };
        let aud_type = if hevc { HEVC_NAL_AUD } else { h264::NAL_AUD };
        let mut types = Vec::new();
        let mut aud_end = None;
        for nal in h264::annexb_nals(data) {
            let t = nal_type(nal);
            if types.is_empty() && t == aud_type {
                let start = nal.as_ptr() as usize - data.as_ptr() as usize;
                aud_end = Some(start + nal.len());
            }
            types.push(t);
        }
        let mut prefix = Vec::new();
        let split = match aud_end {
            Some(end) => end,
            None => {
                prefix.extend_from_slice(if hevc { &HEVC_AUD[..] } else { &H264_AUD[..] });
                0
            }
        };
        if frame.keyframe {
            if let Some(cfg) = self
                .info
                .video
                .as_ref()
                .filter(|v| v.codec == Some(frame.codec))
            {
                for ps in cfg.sps.iter().chain(cfg.pps.iter()) {
                    if !ps.is_empty() && !types.contains(&nal_type(ps)) {
                        prefix.extend_from_slice(&[0, 0, 0, 1]);
                        prefix.extend_from_slice(ps);
                    }
                }
            }
        }
        (split, prefix)
    }

    /// The ADTS header for a raw AAC frame of `track`, or nothing if `data` already is an ADTS
    /// frame.
    fn adts_header(&self, track: Track, data: &[u8]) -> Vec<u8> {
        if aac::parse_adts(data).is_some_and(|a| a.frame_len == data.len()) {
            return Vec::new();
        }
        let n = match track {
            Track::Audio(n) => n as usize,
            _ => 0,
        };
        let cfg = self.info.audio.get(n).cloned().unwrap_or_default();
        let mut asc = cfg.asc.as_deref().and_then(Asc::parse).unwrap_or_else(|| {
            let idx = SAMPLE_RATES
                .iter()
                .position(|&r| r == cfg.sample_rate)
                .unwrap_or(4);
            Asc {
                object_type: 2,
                sample_rate_index: idx as u8,
                sample_rate: SAMPLE_RATES[idx],
                channels: if cfg.channels == 0 { 2 } else { cfg.channels },
            }
        });
        if matches!(asc.object_type, 5 | 29) {
            // HE-AAC (v2): ADTS signals the AAC-LC core
            asc.object_type = 2;
        }
        asc.adts_header(data.len()).to_vec()
    }

    /// (stream_type, pid, descriptors) for each elementary stream of the PMT.
    fn es_entries(&self) -> Vec<(u8, u16, Vec<u8>)> {
        es_entries(&self.info)
    }

    /// One section as packets: pointer_field 0 in the first, the rest stuffed with 0xff.
    fn psi_packets(&mut self, pid: u16, section: &[u8], out: &mut BytesMut) {
        let cc = &mut self.psi_cc[usize::from(pid != PAT_PID)];
        let mut rest = section;
        let mut first = true;
        while first || !rest.is_empty() {
            out.reserve(PACKET_SIZE);
            out.put_u8(SYNC_BYTE);
            out.put_u16(if first { 0x4000 } else { 0 } | pid);
            out.put_u8(0x10 | *cc);
            *cc = (*cc + 1) & 0xf;
            let room = if first {
                out.put_u8(0); // pointer_field
                PACKET_SIZE - 5
            } else {
                PACKET_SIZE - 4
            };
            let n = rest.len().min(room);
            out.put_slice(&rest[..n]);
            out.put_bytes(0xff, room - n);
            rest = &rest[n..];
            first = false;
        }
    }
}

fn video_codec(info: &StreamInfo) -> Option<Codec> {
    info.video.as_ref().and_then(|v| v.codec)
}

fn es_entries(info: &StreamInfo) -> Vec<(u8, u16, Vec<u8>)> {
    let mut v = Vec::new();
    if let Some(c) = video_codec(info) {
        v.push((stream_type_for(c), VIDEO_PID, Vec::new()));
    }
    for (n, a) in info.audio.iter().enumerate().take(media::MAX_AUDIO_TRACKS) {
        let Some(c) = a.codec else { continue };
        let mut desc = match c {
            Codec::Ac3 => b"\x05\x04AC-3".to_vec(),
            Codec::Eac3 => b"\x05\x04EAC3".to_vec(),
            _ => Vec::new(),
        };
        if a.language.is_some() || a.description {
            let lang = a.language.as_deref().map_or(*b"und", |l| {
                let b = l.as_bytes();
                [
                    b[0],
                    b.get(1).copied().unwrap_or(b' '),
                    b.get(2).copied().unwrap_or(b' '),
                ]
            });
            desc.extend_from_slice(&[descriptor::ISO_639_LANGUAGE, 4]);
            desc.extend_from_slice(&lang);
            desc.push(if a.description { 3 } else { 0 });
        }
        v.push((stream_type_for(c), AUDIO_PID + n as u16, desc));
    }
    for (n, d) in info.data.iter().enumerate().take(media::MAX_DATA_STREAMS) {
        if d.codec.is_some() {
            let desc = d.descriptors.to_vec();
            v.push((stream_type::PRIVATE_PES, DATA_PID + n as u16, desc));
        }
    }
    v
}

/// 0xFF stuffing data units after a teletext PES data field of `len` bytes so that the PES
/// (header of 9 + 0x24 bytes) fills whole packets; none when the data is not teletext-shaped.
fn teletext_stuffing(len: usize) -> Vec<u8> {
    if len == 0 || !(len - 1).is_multiple_of(TELETEXT_UNIT) {
        return Vec::new();
    }
    let pes = 9 + TELETEXT_HEADER_DATA_LEN + len;
    let pad = (184 - pes % 184) % 184;
    let mut v = Vec::with_capacity(pad);
    for _ in 0..pad / TELETEXT_UNIT {
        v.extend_from_slice(&[0xff, 0x2c]);
        v.extend_from_slice(&[0xff; TELETEXT_UNIT - 2]);
    }
    v
}

/// Fills in section_length and appends the CRC.
fn finish_section(s: &mut Vec<u8>) {
    let len = (s.len() - 3 + 4) as u16;
    s[1] = (s[1] & 0xf0) | ((len >> 8) as u8 & 0x0f);
    s[2] = len as u8;
    let crc = crc32_mpeg2(s);
    s.put_u32(crc);
}

/// The index of a track's continuity counter and discontinuity flag.
fn stream_slot(track: Track) -> usize {
    match track {
        Track::Video => 0,
        Track::Audio(n) => 1 + (n as usize).min(media::MAX_AUDIO_TRACKS - 1),
        Track::Data(n) => {
            1 + media::MAX_AUDIO_TRACKS + (n as usize).min(media::MAX_DATA_STREAMS - 1)
        }
    }
}

/// Writes one PES (given as consecutive `parts`) as packets on `pid`. The first packet has
/// payload_unit_start_indicator set and carries the PCR / random_access_indicator.
fn write_packets(
    out: &mut BytesMut,
    pid: u16,
    cc: &mut u8,
    parts: &[&[u8]],
    pcr: Option<u64>,
    rai: bool,
    discontinuity: bool,
) {
    debug_assert!(pid < NULL_PID);
    let total: usize = parts.iter().map(|p| p.len()).sum();
    out.reserve((total / 184 + 2) * PACKET_SIZE);
    let mut reader = Parts {
        parts,
        idx: 0,
        off: 0,
        remaining: total,
    };
    let mut first = true;
    loop {
        let flags_needed = first && (pcr.is_some() || rai || discontinuity);
        let pcr_here = if first { pcr } else { None };
        let af_min = if flags_needed {
            2 + if pcr_here.is_some() { 6 } else { 0 }
        } else {
            0
        };
        let n = reader.remaining.min(184 - af_min);
        let af_total = 184 - n;
        out.put_u8(SYNC_BYTE);
        out.put_u16(if first { 0x4000 } else { 0 } | pid);
        out.put_u8(if af_total > 0 { 0x30 } else { 0x10 } | *cc);
        *cc = (*cc + 1) & 0xf;
        if af_total > 0 {
            out.put_u8((af_total - 1) as u8);
            if af_total > 1 {
                let mut flags = 0;
                if flags_needed && discontinuity {
                    flags |= 0x80;
                }
                if flags_needed && rai {
                    flags |= 0x40;
                }
                if pcr_here.is_some() {
                    flags |= 0x10;
                }
                out.put_u8(flags);
                let mut used = 2;
                if let Some(base) = pcr_here {
                    out.put_slice(&pcr_bytes(base));
                    used += 6;
                }
                out.put_bytes(0xff, af_total - used);
            }
        }
        reader.copy_to(n, out);
        first = false;
        if reader.remaining == 0 {
            break;
        }
    }
}

/// PCR field: 33-bit base (90 kHz), 6 reserved bits, 9-bit extension 0.
fn pcr_bytes(base: u64) -> [u8; 6] {
    let base = base & TS_MASK;
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        ((base & 1) as u8) << 7 | 0x7e,
        0x00,
    ]
}

/// A cursor over consecutive byte slices.
struct Parts<'a, 'b> {
    parts: &'b [&'a [u8]],
    idx: usize,
    off: usize,
    remaining: usize,
}

impl Parts<'_, '_> {
    fn copy_to(&mut self, mut n: usize, out: &mut BytesMut) {
        self.remaining -= n;
        while n > 0 {
            let Some(part) = self.parts.get(self.idx) else {
                return;
            };
            let take = (part.len() - self.off).min(n);
            out.put_slice(&part[self.off..self.off + take]);
            n -= take;
            self.off += take;
            if self.off == part.len() {
                self.idx += 1;
                self.off = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use media::{AudioConfig, Ts90k};

    #[test]
    fn a_marked_discontinuity_flags_the_next_packet_of_each_stream_once() {
        let info = StreamInfo {
            video: None,
            audio: vec![AudioConfig {
                codec: Some(Codec::Mpeg1Audio),
                sample_rate: 48_000,
                channels: 2,
                asc: None,
                ..Default::default()
            }],
            data: Vec::new(),
        };
        let mut m = Muxer::new(&info);
        let frame = Frame {
            track: Track::Audio(0),
            codec: Codec::Mpeg1Audio,
            pts_90k: Ts90k(0),
            dts_90k: Ts90k(0),
            keyframe: true,
            data: Bytes::from_static(&[0xff, 0xfd, 0x94, 0x00, 1, 2, 3]),
        };
        let flags = |out: &BytesMut| {
            // adaptation field flags of the first packet
            assert_eq!(out[3] & 0x20, 0x20);
            out[5]
        };
        let mut out = BytesMut::new();
        m.write_frame(&frame, &mut out);
        assert_eq!(flags(&out) & 0x80, 0, "no discontinuity unless asked");
        m.mark_discontinuity();
        let mut out = BytesMut::new();
        m.write_frame(&frame, &mut out);
        assert_eq!(flags(&out) & 0x80, 0x80);
        assert_eq!(
            out[3] & 0x0f,
            1,
            "the counter goes on; the flag says it may jump"
        );
        let mut out = BytesMut::new();
        m.write_frame(&frame, &mut out);
        assert_eq!(out[5] & 0x80, 0, "once");
    }
}
