//! Transport stream demultiplexer: bytes in, [`MediaEvent`]s out.

use bytes::{Bytes, BytesMut};
use media::time::Unwrapper;
use media::{
    aac, h264, AudioConfig, Codec, DataConfig, Frame, MediaEvent, StreamInfo, Track, Ts90k,
    VideoConfig, MAX_AUDIO_TRACKS, MAX_DATA_STREAMS,
};

use crate::codec::{self, HEVC_NAL_PPS, HEVC_NAL_SPS, HEVC_NAL_VPS};
use crate::pes::{self, parse_pes};
use crate::program::{language_code, Es, EsKind};
use crate::{crc32_mpeg2, NULL_PID, PACKET_SIZE, PAT_PID, SYNC_BYTE};

/// A PES larger than this (no unit start seen for too long) is dropped.
const MAX_PES_SIZE: usize = 16 << 20;
/// The least a new PES slab holds (a larger PES gets a slab of its own size).
const PES_SLAB: usize = 64 * 1024;
/// PSI sections are at most 1024 bytes (4096 for private sections); bound the assembly buffer.
const MAX_SECTION_BUF: usize = 4096 + PACKET_SIZE;

/// Something wrong with the input. Counted in [`DemuxStats`]; the most recent is kept in
/// [`DemuxStats::last_error`]. The demuxer always carries on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DemuxError {
    /// A packet did not start with the sync byte where one was expected.
    #[error("lost packet sync")]
    LostSync,
    /// The transport_error_indicator was set.
    #[error("transport error indicator set on pid {0:#x}")]
    TransportError(u16),
    /// The adaptation field length does not fit the packet.
    #[error("bad adaptation field on pid {0:#x}")]
    BadAdaptationField(u16),
    /// A continuity counter jump: packets were lost; the partial PES was dropped.
    #[error("continuity error on pid {pid:#x}: expected {expected}, got {got}")]
    Continuity { pid: u16, expected: u8, got: u8 },
    /// A PSI section with a bad CRC or layout.
    #[error("bad PSI section on pid {0:#x}")]
    BadSection(u16),
    /// A PES packet whose header could not be parsed.
    #[error("malformed PES on pid {0:#x}")]
    BadPes(u16),
    /// A PES packet without a PTS; its payload was dropped.
    #[error("PES without PTS on pid {0:#x}")]
    MissingPts(u16),
    /// A PES grew beyond the size limit without a new unit start.
    #[error("oversized PES on pid {0:#x}")]
    PesTooLarge(u16),
    /// An AAC PES whose ADTS framing is broken; the rest of that PES was dropped.
    #[error("bad ADTS framing on pid {0:#x}")]
    BadAdts(u16),
}

/// Counters describing what the demuxer has seen. Read with [`Demuxer::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DemuxStats {
    /// Packets accepted (188 bytes starting with the sync byte), including null packets.
    pub packets: u64,
    /// Bytes skipped while looking for sync.
    pub garbage_bytes: u64,
    /// Times sync was lost after having been established.
    pub resyncs: u64,
    /// Packets with the transport_error_indicator set (dropped).
    pub transport_errors: u64,
    /// Continuity counter jumps on the selected elementary streams.
    pub cc_errors: u64,
    /// Malformed, oversized or timestamp-less PES packets and broken ADTS framing.
    pub pes_errors: u64,
    /// PSI sections with a bad CRC or layout, and bad adaptation fields.
    pub psi_errors: u64,
    /// A valid PAT has been seen.
    pub has_pat: bool,
    /// A valid PMT for the first program of the PAT has been seen.
    pub has_pmt: bool,
    /// PID of the selected video stream, if the PMT has a supported one.
    pub video_pid: Option<u16>,
    /// PID of the first selected audio stream, if the PMT has a supported one.
    pub audio_pid: Option<u16>,
    /// Audio streams selected (at most [`MAX_AUDIO_TRACKS`]).
    pub audio_streams: u8,
    /// Teletext and DVB subtitle streams selected (at most [`MAX_DATA_STREAMS`]).
    pub data_streams: u8,
    /// Video frames emitted.
    pub video_frames: u64,
    /// Audio frames emitted (all tracks).
    pub audio_frames: u64,
    /// Teletext and subtitle PES emitted.
    pub data_frames: u64,
    /// The most recent problem.
    pub last_error: Option<DemuxError>,
}

/// One selected elementary stream.
#[derive(Debug)]
struct EsState {
    pid: u16,
    codec: Codec,
    /// The track its frames are emitted as.
    track: Track,
    last_cc: Option<u8>,
    /// Bytes of the PES being assembled, at the front of a slab that later PES of this
    /// stream fill too (each finished PES is split off as its own `Bytes`: one allocation
    /// serves many frames).
    pes: BytesMut,
    /// The size of the last PES finished: a new PES's buffer starts with room for a little
    /// more, so a video frame is not grown through a dozen reallocations and copies.
    pes_hint: usize,
    /// Whether `pes` holds a PES started by a unit start (and not since broken).
    active: bool,
    /// Unwraps DTS (PTS is taken relative to the DTS).
    clock: Unwrapper,
}

impl EsState {
    fn new(pid: u16, codec: Codec, track: Track) -> Self {
        EsState {
            pid,
            codec,
            track,
            last_cc: None,
            pes: BytesMut::new(),
            pes_hint: 0,
            active: false,
            clock: Unwrapper::new(33),
        }
    }
}

/// Reassembly buffer for PSI sections on one pid.
#[derive(Debug, Default)]
struct SectionBuf {
    buf: Vec<u8>,
    active: bool,
}

/// MPEG-TS demultiplexer for the first program of a transport stream: its first video stream,
/// every audio stream (up to [`MAX_AUDIO_TRACKS`], each with its ISO 639 language and whether it
/// is audio description) and every teletext or DVB subtitle stream (up to [`MAX_DATA_STREAMS`]).
///
/// Feed it bytes with [`push`](Demuxer::push) in chunks of any size; it emits
/// [`MediaEvent::Info`] whenever the stream description changes (always before the first
/// frame that depends on it) and one [`MediaEvent::Frame`] per access unit:
///
/// - H.264 / HEVC: one Annex B access unit per PES, `keyframe` for IDR / IRAP pictures.
/// - AAC: one raw AAC frame (ADTS header stripped) per ADTS frame; the k-th frame of a PES gets
///   the PES PTS plus k frame durations.
/// - MPEG audio, AC-3, E-AC-3: the PES payload, passthrough.
/// - Teletext, DVB subtitles: the PES data field, passthrough (`Track::Data(n)`).
///
/// Timestamps are unwrapped from 33 bits, so they keep increasing across the 26.5 h wrap.
#[derive(Debug)]
pub struct Demuxer {
    /// Unconsumed input (less than two packets between calls).
    buf: Vec<u8>,
    in_sync: bool,
    pat: SectionBuf,
    pmt: SectionBuf,
    pmt_pid: Option<u16>,
    /// The selected elementary streams, in PMT order.
    streams: Vec<EsState>,
    /// The current stream description.
    info: StreamInfo,
    /// The description last emitted as [`MediaEvent::Info`].
    emitted: Option<StreamInfo>,
    stats: DemuxStats,
}

impl Default for Demuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl Demuxer {
    pub fn new() -> Self {
        Demuxer {
            buf: Vec::new(),
            in_sync: false,
            pat: SectionBuf::default(),
            pmt: SectionBuf::default(),
            pmt_pid: None,
            streams: Vec::new(),
            info: StreamInfo::default(),
            emitted: None,
            stats: DemuxStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> DemuxStats {
        self.stats
    }

    /// The current stream description (what the next [`MediaEvent::Info`] would carry).
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// Feeds a chunk of the transport stream. Chunks may split packets anywhere.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<MediaEvent>) {
        self.buf.extend_from_slice(data);
        self.consume(false, out);
    }

    /// Processes whatever is buffered and emits the PES packets still being assembled
    /// (call at end of stream).
    pub fn flush(&mut self, out: &mut Vec<MediaEvent>) {
        self.consume(true, out);
        for slot in 0..self.streams.len() {
            self.finish_pes(slot, out);
        }
    }

    fn error(&mut self, e: DemuxError) {
        self.stats.last_error = Some(e);
    }

    /// Splits the buffer into packets. At the end of a chunk, an unconfirmed candidate packet
    /// (out of sync, no following sync byte visible yet) waits for more data unless `last`.
    fn consume(&mut self, last: bool, out: &mut Vec<MediaEvent>) {
        let mut pos = 0;
        let mut pkt = [0u8; PACKET_SIZE];
        while self.buf.len() - pos >= PACKET_SIZE {
            let rem = self.buf.len() - pos;
            if self.buf[pos] == SYNC_BYTE {
                let accept = if self.in_sync {
                    true
                } else if rem > PACKET_SIZE {
                    self.buf[pos + PACKET_SIZE] == SYNC_BYTE
                } else if last {
                    true
                } else {
                    break; // wait for the next chunk to confirm
                };
                if accept {
                    self.in_sync = true;
                    pkt.copy_from_slice(&self.buf[pos..pos + PACKET_SIZE]);
                    pos += PACKET_SIZE;
                    self.packet(&pkt, out);
                    continue;
                }
            } else if self.in_sync {
                self.in_sync = false;
                self.stats.resyncs += 1;
                self.error(DemuxError::LostSync);
            }
            // skip to the next candidate sync byte
            let skip = self.buf[pos + 1..]
                .iter()
                .position(|&b| b == SYNC_BYTE)
                .map_or(rem, |p| p + 1);
            self.stats.garbage_bytes += skip as u64;
            pos += skip;
        }
        if last && pos < self.buf.len() {
            self.stats.garbage_bytes += (self.buf.len() - pos) as u64;
            pos = self.buf.len();
        }
        self.buf.drain(..pos);
    }

    fn packet(&mut self, p: &[u8; PACKET_SIZE], out: &mut Vec<MediaEvent>) {
        self.stats.packets += 1;
        let tei = p[1] & 0x80 != 0;
        let pusi = p[1] & 0x40 != 0;
        let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
        let afc = (p[3] >> 4) & 3;
        let cc = p[3] & 0xf;
        if pid == NULL_PID {
            return;
        }
        let slot = self.slot_of(pid);
        if tei {
            self.stats.transport_errors += 1;
            self.error(DemuxError::TransportError(pid));
            if let Some(es) = slot.and_then(|s| self.streams.get_mut(s)) {
                es.active = false;
                es.pes.clear();
            }
            return;
        }
        let mut off = 4;
        let mut discontinuity = false;
        if afc & 2 != 0 {
            let len = p[4] as usize;
            let max = if afc == 3 { 182 } else { 183 };
            if len > max {
                self.stats.psi_errors += 1;
                self.error(DemuxError::BadAdaptationField(pid));
                return;
            }
            if len > 0 {
                discontinuity = p[5] & 0x80 != 0;
            }
            off = 5 + len;
        }
        if afc & 1 == 0 {
            return; // no payload; the continuity counter does not advance
        }
        let payload = &p[off..];
        if pid == PAT_PID {
            self.psi(true, pusi, payload);
        } else if Some(pid) == self.pmt_pid {
            self.psi(false, pusi, payload);
        } else if let Some(slot) = slot {
            self.es_packet(slot, pid, pusi, cc, discontinuity, payload, out);
        }
    }

    fn slot_of(&self, pid: u16) -> Option<usize> {
        self.streams.iter().position(|e| e.pid == pid)
    }

    #[allow(clippy::too_many_arguments)]
    fn es_packet(
        &mut self,
        slot: usize,
        pid: u16,
        pusi: bool,
        cc: u8,
        discontinuity: bool,
        payload: &[u8],
        out: &mut Vec<MediaEvent>,
    ) {
        let Some(es) = self.streams.get_mut(slot) else {
            return;
        };
        let mut cc_error = None;
        if let Some(last) = es.last_cc {
            let expected = (last + 1) & 0xf;
            if !discontinuity && cc == last {
                return; // duplicate packet
            }
            if !discontinuity && cc != expected {
                cc_error = Some(expected);
                es.active = false;
                es.pes.clear();
            }
        }
        es.last_cc = Some(cc);
        if let Some(expected) = cc_error {
            self.stats.cc_errors += 1;
            self.error(DemuxError::Continuity {
                pid,
                expected,
                got: cc,
            });
        }
        if pusi {
            self.finish_pes(slot, out);
            let Some(es) = self.streams.get_mut(slot) else {
                return;
            };
            es.pes.clear();
            let want = es.pes_hint.clamp(PACKET_SIZE, MAX_PES_SIZE);
            if es.pes.capacity() < want {
                es.pes = BytesMut::with_capacity(want.max(PES_SLAB));
            }
            es.active = true;
        }
        let Some(es) = self.streams.get_mut(slot) else {
            return;
        };
        if !es.active {
            return;
        }
        es.pes.extend_from_slice(payload);
        if es.pes.len() > MAX_PES_SIZE {
            es.pes = BytesMut::new();
            es.active = false;
            self.stats.pes_errors += 1;
            self.error(DemuxError::PesTooLarge(pid));
            return;
        }
        if es.pes.len() >= 6 {
            let declared = u16::from_be_bytes([es.pes[4], es.pes[5]]) as usize;
            if declared != 0 && es.pes.len() >= 6 + declared {
                es.pes.truncate(6 + declared);
                self.finish_pes(slot, out);
            }
        }
    }

    /// Parses the PES assembled in `slot` (if any) and emits its frames.
    fn finish_pes(&mut self, slot: usize, out: &mut Vec<MediaEvent>) {
        let Some(es) = self.streams.get_mut(slot) else {
            return;
        };
        if !es.active {
            return;
        }
        es.active = false;
        es.pes_hint = es.pes.len() + es.pes.len() / 4 + 2 * 184;
        let data = es.pes.split().freeze();
        let (pid, codec, track) = (es.pid, es.codec, es.track);
        let Some(hdr) = parse_pes(&data) else {
            self.stats.pes_errors += 1;
            self.error(DemuxError::BadPes(pid));
            return;
        };
        let Some(pts_raw) = hdr.pts else {
            self.stats.pes_errors += 1;
            self.error(DemuxError::MissingPts(pid));
            return;
        };
        let dts_raw = hdr.dts.unwrap_or(pts_raw);
        let dts = es.clock.unwrap(dts_raw);
        let pts = dts + pes::signed_33(pts_raw.wrapping_sub(dts_raw));
        let payload = data.slice(hdr.payload_offset.min(data.len())..);
        if payload.is_empty() {
            return;
        }
        let n = match track {
            Track::Audio(n) | Track::Data(n) => n,
            Track::Video => 0,
        };
        match codec {
            Codec::H264 | Codec::H265 => self.video_frame(codec, pts, dts, payload, out),
            Codec::Aac => self.aac_frames(pid, n, pts, dts, payload, out),
            Codec::Mpeg1Audio | Codec::Ac3 | Codec::Eac3 => {
                self.passthrough_audio(codec, n, pts, dts, payload, out)
            }
            Codec::Teletext | Codec::DvbSubtitle => {
                self.stats.data_frames += 1;
                self.emit(
                    Frame {
                        track,
                        codec,
                        pts_90k: Ts90k(pts),
                        dts_90k: Ts90k(pts),
                        keyframe: true,
                        data: payload,
                    },
                    out,
                );
            }
        }
    }

    fn video_frame(
        &mut self,
        codec: Codec,
        pts: i64,
        dts: i64,
        au: Bytes,
        out: &mut Vec<MediaEvent>,
    ) {
        let (mut sps, mut pps) = (Vec::new(), Vec::new());
        let mut vps = Vec::new();
        let mut keyframe = false;
        // parameter sets are copied out: a slice of the access unit would keep the whole
        // keyframe's buffer alive in the stream info for as long as the channel runs
        let own = Bytes::copy_from_slice;
        for nal in h264::annexb_nals(&au) {
            if codec == Codec::H264 {
                match h264::nal_type(nal) {
                    h264::NAL_IDR => keyframe = true,
                    h264::NAL_SPS => sps.push(own(nal)),
                    h264::NAL_PPS => pps.push(own(nal)),
                    _ => {}
                }
            } else {
                match codec::hevc_nal_type(nal) {
                    t if codec::hevc_is_irap(t) => keyframe = true,
                    HEVC_NAL_VPS => vps.push(own(nal)),
                    HEVC_NAL_SPS => sps.push(own(nal)),
                    HEVC_NAL_PPS => pps.push(own(nal)),
                    _ => {}
                }
            }
        }
        let cur = self.info.video.clone().unwrap_or_default();
        let new_sps = if codec == Codec::H264 {
            sps
        } else if sps.is_empty() && vps.is_empty() {
            Vec::new()
        } else {
            // keep the VPS / SPS the AU lacks from the current config
            let keep = |t: u8| -> Vec<Bytes> {
                cur.sps
                    .iter()
                    .filter(|n| codec::hevc_nal_type(n) == t)
                    .cloned()
                    .collect()
            };
            let vps = if vps.is_empty() {
                keep(HEVC_NAL_VPS)
            } else {
                vps
            };
            let sps = if sps.is_empty() {
                keep(HEVC_NAL_SPS)
            } else {
                sps
            };
            vps.into_iter().chain(sps).collect()
        };
        let new_sps = if new_sps.is_empty() {
            cur.sps.clone()
        } else {
            new_sps
        };
        let new_pps = if pps.is_empty() { cur.pps.clone() } else { pps };
        if cur.codec != Some(codec) || new_sps != cur.sps || new_pps != cur.pps {
            let cfg = if codec == Codec::H264 {
                h264::video_config(new_sps, new_pps)
            } else {
                let (width, height) = new_sps
                    .iter()
                    .find(|n| codec::hevc_nal_type(n) == HEVC_NAL_SPS)
                    .and_then(|n| codec::hevc_sps_dimensions(n).ok())
                    .unwrap_or((0, 0));
                VideoConfig {
                    codec: Some(codec),
                    width,
                    height,
                    fps_milli: 0,
                    sps: new_sps,
                    pps: new_pps,
                }
            };
            self.info.video = Some(cfg);
        }
        self.stats.video_frames += 1;
        self.emit(
            Frame {
                track: Track::Video,
                codec,
                pts_90k: Ts90k(pts),
                dts_90k: Ts90k(dts),
                keyframe,
                data: au,
            },
            out,
        );
    }

    /// Sets what a frame of audio track `n` says about its format, keeping what the PMT said
    /// (language, audio description).
    fn set_audio_format(
        &mut self,
        n: u8,
        codec: Codec,
        sample_rate: u32,
        channels: u8,
        asc: Option<&[u8]>,
    ) {
        let Some(a) = self.info.audio.get_mut(n as usize) else {
            return;
        };
        if a.codec != Some(codec)
            || a.sample_rate != sample_rate
            || a.channels != channels
            || a.asc.as_deref() != asc
        {
            a.codec = Some(codec);
            a.sample_rate = sample_rate;
            a.channels = channels;
            a.asc = asc.map(Bytes::copy_from_slice);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn aac_frames(
        &mut self,
        pid: u16,
        n: u8,
        pts: i64,
        dts: i64,
        payload: Bytes,
        out: &mut Vec<MediaEvent>,
    ) {
        let mut p = 0;
        let mut k = 0i64;
        while p < payload.len() {
            let rest = &payload[p..];
            let adts = match aac::parse_adts(rest) {
                Some(a) if a.frame_len <= rest.len() => a,
                _ => {
                    self.stats.pes_errors += 1;
                    self.error(DemuxError::BadAdts(pid));
                    return;
                }
            };
            let asc = adts.asc;
            let asc_bytes = asc.serialize();
            self.set_audio_format(
                n,
                Codec::Aac,
                asc.sample_rate,
                asc.channels,
                Some(&asc_bytes[..]),
            );
            let step = k * aac::frame_duration_90k(asc.sample_rate);
            self.stats.audio_frames += 1;
            self.emit(
                Frame {
                    track: Track::Audio(n),
                    codec: Codec::Aac,
                    pts_90k: Ts90k(pts + step),
                    dts_90k: Ts90k(dts + step),
                    keyframe: true,
                    data: payload.slice(p + adts.header_len..p + adts.frame_len),
                },
                out,
            );
            p += adts.frame_len;
            k += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn passthrough_audio(
        &mut self,
        codec: Codec,
        n: u8,
        pts: i64,
        dts: i64,
        payload: Bytes,
        out: &mut Vec<MediaEvent>,
    ) {
        let cur = self
            .info
            .audio
            .get(n as usize)
            .map_or((0, 0), |a| (a.sample_rate, a.channels));
        let (sample_rate, channels) = match codec {
            Codec::Mpeg1Audio => codec::mpeg_audio_header(&payload),
            _ => codec::ac3_header(&payload).map(|h| (h.sample_rate, h.channels)),
        }
        .unwrap_or(cur);
        self.set_audio_format(n, codec, sample_rate, channels, None);
        self.stats.audio_frames += 1;
        self.emit(
            Frame {
                track: Track::Audio(n),
                codec,
                pts_90k: Ts90k(pts),
                dts_90k: Ts90k(dts),
                keyframe: true,
                data: payload,
            },
            out,
        );
    }

    /// Emits `frame`, preceded by the stream description when it changed since last emitted.
    fn emit(&mut self, frame: Frame, out: &mut Vec<MediaEvent>) {
        if self.emitted.as_ref() != Some(&self.info) {
            self.emitted = Some(self.info.clone());
            out.push(MediaEvent::Info(self.info.clone()));
        }
        out.push(MediaEvent::Frame(frame));
    }

    /// Assembles PSI sections on the PAT (`is_pat`) or PMT pid.
    fn psi(&mut self, is_pat: bool, pusi: bool, payload: &[u8]) {
        let mut sections = Vec::new();
        {
            let sb = if is_pat { &mut self.pat } else { &mut self.pmt };
            let mut data = payload;
            if pusi {
                let Some((&pointer, rest)) = data.split_first() else {
                    return;
                };
                let pointer = (pointer as usize).min(rest.len());
                if sb.active {
                    sb.buf.extend_from_slice(&rest[..pointer]);
                    take_sections(&mut sb.buf, &mut sections);
                }
                sb.buf.clear();
                sb.active = true;
                data = &rest[pointer..];
            }
            if !sb.active {
                return;
            }
            sb.buf.extend_from_slice(data);
            take_sections(&mut sb.buf, &mut sections);
            if sb.buf.len() > MAX_SECTION_BUF {
                sb.buf.clear();
                sb.active = false;
            }
        }
        for s in sections {
            let pid = if is_pat {
                PAT_PID
            } else {
                self.pmt_pid.unwrap_or(NULL_PID)
            };
            if s.len() < 12 || crc32_mpeg2(&s) != 0 {
                self.stats.psi_errors += 1;
                self.error(DemuxError::BadSection(pid));
                continue;
            }
            let ok = if is_pat {
                self.on_pat(&s)
            } else {
                self.on_pmt(&s)
            };
            if !ok {
                self.stats.psi_errors += 1;
                self.error(DemuxError::BadSection(pid));
            }
        }
    }

    /// Handles a CRC-checked PAT section. Returns false when malformed.
    fn on_pat(&mut self, s: &[u8]) -> bool {
        if s[0] != 0x00 {
            return true; // not a PAT; ignore
        }
        if s[5] & 1 == 0 {
            return true; // not yet applicable
        }
        let entries = &s[8..s.len() - 4];
        let pmt_pid = entries
            .chunks_exact(4)
            .find(|e| u16::from_be_bytes([e[0], e[1]]) != 0)
            .map(|e| u16::from_be_bytes([e[2] & 0x1f, e[3]]));
        self.stats.has_pat = true;
        if let Some(pid) = pmt_pid {
            if self.pmt_pid != Some(pid) {
                self.pmt_pid = Some(pid);
                self.pmt = SectionBuf::default();
                self.stats.has_pmt = false;
            }
        }
        true
    }

    /// Handles a CRC-checked PMT section. Returns false when malformed.
    fn on_pmt(&mut self, s: &[u8]) -> bool {
        if s[0] != 0x02 {
            return true; // other tables may share the pid
        }
        if s[5] & 1 == 0 {
            return true;
        }
        let end = s.len() - 4;
        let pinfo_len = (u16::from_be_bytes([s[10], s[11]]) & 0x0fff) as usize;
        let mut p = 12 + pinfo_len;
        let mut wanted: Vec<(Es, Codec, Track)> = Vec::new();
        let (mut audio, mut data) = (0u8, 0u8);
        while p + 5 <= end {
            let st = s[p];
            let pid = u16::from_be_bytes([s[p + 1] & 0x1f, s[p + 2]]);
            let es_len = (u16::from_be_bytes([s[p + 3], s[p + 4]]) & 0x0fff) as usize;
            let Some(desc) = s.get(p + 5..p + 5 + es_len) else {
                return false;
            };
            if desc.len() + p + 5 > end {
                return false;
            }
            p += 5 + es_len;
            if wanted.iter().any(|(e, _, _)| e.pid == pid) {
                continue; // a pid listed twice: the first entry counts
            }
            let es = Es {
                pid,
                stream_type: st,
                descriptors: desc.to_vec(),
            };
            let (codec, track) = match es.kind() {
                EsKind::Video(c) if !wanted.iter().any(|w| w.2 == Track::Video) => {
                    (c, Track::Video)
                }
                EsKind::Audio(c) if (audio as usize) < MAX_AUDIO_TRACKS => {
                    audio += 1;
                    (c, Track::Audio(audio - 1))
                }
                EsKind::Teletext if (data as usize) < MAX_DATA_STREAMS => {
                    data += 1;
                    (Codec::Teletext, Track::Data(data - 1))
                }
                EsKind::DvbSubtitle if (data as usize) < MAX_DATA_STREAMS => {
                    data += 1;
                    (Codec::DvbSubtitle, Track::Data(data - 1))
                }
                _ => continue,
            };
            wanted.push((es, codec, track));
        }
        self.stats.has_pmt = true;
        let pid_of = |t: Track| wanted.iter().find(|w| w.2 == t).map(|w| w.0.pid);
        self.stats.video_pid = pid_of(Track::Video);
        self.stats.audio_pid = pid_of(Track::Audio(0));
        self.stats.audio_streams = audio;
        self.stats.data_streams = data;

        // Streams that stay (same pid, codec and track) keep their state: a repeated or
        // re-versioned PMT loses no partial PES.
        let mut old = std::mem::take(&mut self.streams);
        for (es, codec, track) in &wanted {
            let kept = old
                .iter()
                .position(|o| o.pid == es.pid && o.codec == *codec && o.track == *track)
                .map(|i| old.swap_remove(i));
            self.streams
                .push(kept.unwrap_or_else(|| EsState::new(es.pid, *codec, *track)));
        }

        let video = wanted.iter().find(|w| w.2 == Track::Video).map(|w| w.1);
        if self.info.video.as_ref().and_then(|v| v.codec) != video {
            self.info.video = video.map(|c| VideoConfig {
                codec: Some(c),
                ..Default::default()
            });
        }
        let prev_audio = std::mem::take(&mut self.info.audio);
        self.info.audio = wanted
            .iter()
            .filter(|w| w.2.is_audio())
            .enumerate()
            .map(|(i, (es, codec, _))| {
                let mut a = prev_audio
                    .get(i)
                    .filter(|a| a.codec == Some(*codec))
                    .cloned()
                    .unwrap_or_else(|| AudioConfig {
                        codec: Some(*codec),
                        ..Default::default()
                    });
                a.language = es.language().and_then(language_code);
                a.description = es.is_audio_description();
                a
            })
            .collect();
        self.info.data = wanted
            .iter()
            .filter(|w| matches!(w.2, Track::Data(_)))
            .map(|(es, codec, _)| DataConfig {
                codec: Some(*codec),
                language: es.language().and_then(language_code),
                descriptors: Bytes::from(es.descriptors.clone()),
            })
            .collect();
        true
    }
}

/// Moves the complete sections at the front of `buf` to `out` (stopping at stuffing).
fn take_sections(buf: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
    let mut p = 0;
    while p + 3 <= buf.len() && buf[p] != 0xff {
        let len = 3 + (u16::from_be_bytes([buf[p + 1], buf[p + 2]]) & 0x0fff) as usize;
        if p + len > buf.len() {
            break;
        }
        out.push(buf[p..p + len].to_vec());
        p += len;
    }
    if p < buf.len() && buf[p] == 0xff {
        // stuffing: the rest of the packet carries nothing
        p = buf.len();
    }
    buf.drain(..p);
}
