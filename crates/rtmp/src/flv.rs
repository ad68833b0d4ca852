//! FLV audio/video tag bodies (as carried in RTMP type 8/9 messages) ↔ media frames.
//!
//! Demuxing:
//! * Video: AVC (codec id 7) and Enhanced RTMP `avc1` / `hvc1` (ex-header bit 0x80).
//!   Sequence headers become [`MediaEvent::Info`], NALU packets become Annex B
//!   [`Frame`]s with `dts` = tag time and `pts` = `dts` + composition offset. For
//!   HEVC, `VideoConfig::sps` holds VPS+SPS and width/height are left 0 (no HEVC SPS
//!   parser in `media`).
//! * Audio: AAC (sound format 10) → raw AAC frames; MP3 (sound format 2) is passed
//!   through as [`Codec::Mpeg1Audio`] frames (config from the FLV sound flags).
//! * Anything else is skipped; the first tag of each unknown codec yields an
//!   `Err(RtmpError::Unsupported)` the sessions turn into a warning event.
//!
//! Timestamps are 32-bit milliseconds (31-bit writers such as ffmpeg tolerated), unwrapped with one [`Unwrapper`] shared by
//! both tracks (they share the RTMP clock), then converted to 90 kHz.

use std::collections::HashSet;

use bytes::{BufMut, Bytes, BytesMut};
use media::aac::Asc;
use media::h264::{self, AvcDecoderConfig};
use media::time::Unwrapper;
use media::{AudioConfig, Codec, Frame, MediaEvent, StreamInfo, Track, Ts90k, VideoConfig};

use crate::RtmpError;

pub const VIDEO_CODEC_AVC: u8 = 7;
pub const SOUND_FORMAT_MP3: u8 = 2;
pub const SOUND_FORMAT_AAC: u8 = 10;

/// Turns FLV tag bodies into [`MediaEvent`]s.
#[derive(Debug)]
pub struct FlvDemuxer {
    ts: Unwrapper,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    length_size: usize,
    warned: HashSet<String>,
}

impl Default for FlvDemuxer {
    fn default() -> Self {
        Self::new()
    }
}

fn flv_err(s: impl Into<String>) -> RtmpError {
    RtmpError::Flv(s.into())
}

fn si24(b: &[u8]) -> i32 {
    let v = ((b[0] as i32) << 16) | ((b[1] as i32) << 8) | b[2] as i32;
    (v << 8) >> 8
}

impl FlvDemuxer {
    pub fn new() -> Self {
        FlvDemuxer {
            ts: Unwrapper::rtmp_ms(),
            video: None,
            audio: None,
            length_size: 4,
            warned: HashSet::new(),
        }
    }

    /// The current combined stream info.
    pub fn info(&self) -> StreamInfo {
        StreamInfo {
            video: self.video.clone(),
            audio: self.audio.clone().into_iter().collect(),
            data: Vec::new(),
        }
    }

    fn unsupported(&mut self, what: String) -> Result<(), RtmpError> {
        if self.warned.insert(what.clone()) {
            Err(RtmpError::Unsupported(what))
        } else {
            Ok(())
        }
    }

    fn set_video(&mut self, v: VideoConfig, out: &mut Vec<MediaEvent>) {
        if self.video.as_ref() != Some(&v) {
            self.video = Some(v);
            out.push(MediaEvent::Info(self.info()));
        }
    }

    fn set_audio(&mut self, a: AudioConfig, out: &mut Vec<MediaEvent>) {
        if self.audio.as_ref() != Some(&a) {
            self.audio = Some(a);
            out.push(MediaEvent::Info(self.info()));
        }
    }

    fn dts(&mut self, ts_ms: u32) -> Ts90k {
        Ts90k::from_ms(self.ts.unwrap(ts_ms as u64))
    }

    /// One video tag body (RTMP message type 9) with its timestamp in ms.
    /// An `Err` means the tag was skipped; it is not fatal for the connection.
    pub fn video(
        &mut self,
        ts_ms: u32,
        body: &[u8],
        out: &mut Vec<MediaEvent>,
    ) -> Result<(), RtmpError> {
        let Some(&b0) = body.first() else {
            return Ok(()); // empty tags are sent by some encoders as keep-alives
        };
        let frame_type = (b0 >> 4) & 7;
        if b0 & 0x80 != 0 {
            // Enhanced RTMP: [ex|frametype:3|packettype:4] fourcc ...
            let packet_type = b0 & 0x0f;
            let fourcc = body
                .get(1..5)
                .ok_or_else(|| flv_err("truncated enhanced video header"))?;
            let codec = match fourcc {
                b"avc1" => Codec::H264,
                b"hvc1" => Codec::H265,
                _ => {
                    return self.unsupported(format!(
                        "enhanced RTMP video codec {:?}",
                        String::from_utf8_lossy(fourcc)
                    ))
                }
            };
            if frame_type == 5 {
                return Ok(()); // command frame, no payload
            }
            let rest = &body[5..];
            return match packet_type {
                0 => self.sequence_header(codec, rest, out),
                1 => {
                    let cts = rest
                        .get(..3)
                        .map(si24)
                        .ok_or_else(|| flv_err("truncated CodedFrames"))?;
                    self.nalus(codec, ts_ms, cts, frame_type == 1, &rest[3..], out)
                }
                3 => self.nalus(codec, ts_ms, 0, frame_type == 1, rest, out),
                _ => Ok(()), // sequence end, metadata, ...
            };
        }
        let codec_id = b0 & 0x0f;
        if codec_id != VIDEO_CODEC_AVC {
            return self.unsupported(format!("FLV video codec id {codec_id}"));
        }
        if frame_type == 5 {
            return Ok(());
        }
        let h = body
            .get(1..5)
            .ok_or_else(|| flv_err("truncated AVC video tag"))?;
        let cts = si24(&h[1..4]);
        match h[0] {
            0 => self.sequence_header(Codec::H264, &body[5..], out),
            1 => self.nalus(Codec::H264, ts_ms, cts, frame_type == 1, &body[5..], out),
            _ => Ok(()),
        }
    }

    fn sequence_header(
        &mut self,
        codec: Codec,
        rec: &[u8],
        out: &mut Vec<MediaEvent>,
    ) -> Result<(), RtmpError> {
        match codec {
            Codec::H264 => {
                let c = AvcDecoderConfig::parse(rec)
                    .ok_or_else(|| flv_err("bad AVCDecoderConfigurationRecord"))?;
                self.length_size = c.length_size;
                self.set_video(h264::video_config(c.sps, c.pps), out);
            }
            _ => {
                let (length_size, vps_sps, pps) =
                    parse_hvcc(rec).ok_or_else(|| flv_err("bad HEVCDecoderConfigurationRecord"))?;
                self.length_size = length_size;
                self.set_video(
                    VideoConfig {
                        codec: Some(Codec::H265),
                        sps: vps_sps,
                        pps,
                        ..Default::default()
                    },
                    out,
                );
            }
        }
        Ok(())
    }

    fn nalus(
        &mut self,
        codec: Codec,
        ts_ms: u32,
        cts_ms: i32,
        keyframe: bool,
        data: &[u8],
        out: &mut Vec<MediaEvent>,
    ) -> Result<(), RtmpError> {
        if data.is_empty() {
            return Ok(());
        }
        let annexb = h264::avcc_to_annexb(data, self.length_size)
            .ok_or_else(|| flv_err("NAL unit length runs past the tag"))?;
        let dts = self.dts(ts_ms);
        out.push(MediaEvent::Frame(Frame {
            track: Track::Video,
            codec,
            pts_90k: dts + Ts90k::from_ms(cts_ms as i64),
            dts_90k: dts,
            keyframe,
            data: annexb.freeze(),
        }));
        Ok(())
    }

    /// One audio tag body (RTMP message type 8) with its timestamp in ms.
    /// An `Err` means the tag was skipped; it is not fatal for the connection.
    pub fn audio(
        &mut self,
        ts_ms: u32,
        body: &[u8],
        out: &mut Vec<MediaEvent>,
    ) -> Result<(), RtmpError> {
        let Some(&b0) = body.first() else {
            return Ok(());
        };
        let format = b0 >> 4;
        match format {
            SOUND_FORMAT_AAC => {
                let pt = *body.get(1).ok_or_else(|| flv_err("truncated AAC tag"))?;
                let data = &body[2..];
                if pt == 0 {
                    let asc = Asc::parse(data).ok_or_else(|| flv_err("bad AudioSpecificConfig"))?;
                    self.set_audio(
                        AudioConfig {
                            codec: Some(Codec::Aac),
                            sample_rate: asc.sample_rate,
                            channels: asc.channels,
                            asc: Some(Bytes::copy_from_slice(data)),
                            ..Default::default()
                        },
                        out,
                    );
                } else if !data.is_empty() {
                    self.audio_frame(Codec::Aac, ts_ms, data, out);
                }
                Ok(())
            }
            SOUND_FORMAT_MP3 => {
                let rate = [5512, 11025, 22050, 44100][((b0 >> 2) & 3) as usize];
                let cfg = AudioConfig {
                    codec: Some(Codec::Mpeg1Audio),
                    sample_rate: rate,
                    channels: (b0 & 1) + 1,
                    asc: None,
                    ..Default::default()
                };
                self.set_audio(cfg, out);
                if body.len() > 1 {
                    self.audio_frame(Codec::Mpeg1Audio, ts_ms, &body[1..], out);
                }
                Ok(())
            }
            f => self.unsupported(format!("FLV sound format {f}")),
        }
    }

    fn audio_frame(&mut self, codec: Codec, ts_ms: u32, data: &[u8], out: &mut Vec<MediaEvent>) {
        let dts = self.dts(ts_ms);
        out.push(MediaEvent::Frame(Frame {
            track: Track::Audio(0),
            codec,
            pts_90k: dts,
            dts_90k: dts,
            keyframe: true,
            data: Bytes::copy_from_slice(data),
        }));
    }
}

/// (length size, VPS+SPS, PPS) from an HEVCDecoderConfigurationRecord.
fn parse_hvcc(d: &[u8]) -> Option<(usize, Vec<Bytes>, Vec<Bytes>)> {
    if d.len() < 23 {
        return None;
    }
    let length_size = (d[21] & 3) as usize + 1;
    let n = d[22] as usize;
    let mut p = 23;
    let (mut ps, mut pps) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = *d.get(p)? & 0x3f;
        let cnt = u16::from_be_bytes([*d.get(p + 1)?, *d.get(p + 2)?]);
        p += 3;
        for _ in 0..cnt {
            let len = u16::from_be_bytes([*d.get(p)?, *d.get(p + 1)?]) as usize;
            p += 2;
            let nal = Bytes::copy_from_slice(d.get(p..p + len)?);
            p += len;
            match t {
                32 | 33 => ps.push(nal),
                34 => pps.push(nal),
                _ => {}
            }
        }
    }
    Some((length_size, ps, pps))
}

/// Which RTMP message type a tag goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Audio,
    Video,
}

/// One FLV tag body ready to be sent as an RTMP audio (8) / video (9) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    pub kind: TagKind,
    /// Milliseconds (the low 32 bits of the frame's dts in ms).
    pub timestamp: u32,
    pub body: Bytes,
}

/// Turns [`StreamInfo`] / [`Frame`]s into FLV tag bodies.
///
/// Supports H.264 video, AAC and MPEG audio; other codecs (H.265 included) are
/// skipped (`None`).
#[derive(Debug, Default)]
pub struct FlvMuxer {
    audio: Option<AudioConfig>,
    last_ts: u32,
}

impl FlvMuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sequence headers for the configs in `info` (AVC decoder config, AAC ASC),
    /// stamped with the last frame time.
    pub fn info(&mut self, info: &StreamInfo) -> Vec<FlvTag> {
        let mut v = Vec::new();
        if let Some(vc) = &info.video {
            if let Some(body) = avc_sequence_header(vc) {
                v.push(FlvTag {
                    kind: TagKind::Video,
                    timestamp: self.last_ts,
                    body,
                });
            }
        }
        self.audio = info.audio.first().cloned();
        if let Some(ac) = info.audio.first() {
            if let Some(body) = aac_sequence_header(ac) {
                v.push(FlvTag {
                    kind: TagKind::Audio,
                    timestamp: self.last_ts,
                    body,
                });
            }
        }
        v
    }

    /// The FLV tag of a frame; `None` for what FLV cannot carry (a second audio track, data
    /// streams, codecs other than H.264, AAC and MP3).
    pub fn frame(&mut self, f: &Frame) -> Option<FlvTag> {
        if matches!(f.track, Track::Audio(1..) | Track::Data(_)) {
            return None;
        }
        let ts = f.dts_90k.as_ms() as u32;
        let (kind, body) = match f.codec {
            Codec::H264 => {
                let cts = (f.pts_90k - f.dts_90k).as_ms().clamp(-0x80_0000, 0x7f_ffff) as i32;
                let avcc = h264::annexb_to_avcc(&f.data);
                let mut b = BytesMut::with_capacity(avcc.len() + 5);
                b.put_u8(if f.keyframe { 0x17 } else { 0x27 });
                b.put_u8(1);
                b.put_slice(&cts.to_be_bytes()[1..]);
                b.put_slice(&avcc);
                (TagKind::Video, b.freeze())
            }
            Codec::Aac => {
                let mut b = BytesMut::with_capacity(f.data.len() + 2);
                b.put_u8(0xaf);
                b.put_u8(1);
                b.put_slice(&f.data);
                (TagKind::Audio, b.freeze())
            }
            Codec::Mpeg1Audio => {
                let (rate, ch) = self
                    .audio
                    .as_ref()
                    .map(|a| (a.sample_rate, a.channels))
                    .unwrap_or((44100, 2));
                let rate_bits = match rate {
                    0..=8000 => 0,
                    8001..=16000 => 1,
                    16001..=24000 => 2,
                    _ => 3,
                };
                let mut b = BytesMut::with_capacity(f.data.len() + 1);
                b.put_u8(0x22 | (rate_bits << 2) | u8::from(ch >= 2));
                b.put_slice(&f.data);
                (TagKind::Audio, b.freeze())
            }
            _ => return None,
        };
        self.last_ts = ts;
        Some(FlvTag {
            kind,
            timestamp: ts,
            body,
        })
    }
}

/// The AVC sequence header tag body (`0x17 0x00 0 0 0` + AVCDecoderConfigurationRecord).
pub fn avc_sequence_header(vc: &VideoConfig) -> Option<Bytes> {
    if vc.codec != Some(Codec::H264) || vc.sps.is_empty() {
        return None;
    }
    let rec = AvcDecoderConfig {
        length_size: 4,
        sps: vc.sps.clone(),
        pps: vc.pps.clone(),
    }
    .serialize();
    let mut b = BytesMut::with_capacity(rec.len() + 5);
    b.put_slice(&[0x17, 0, 0, 0, 0]);
    b.put_slice(&rec);
    Some(b.freeze())
}

/// The AAC sequence header tag body (`0xaf 0x00` + AudioSpecificConfig).
pub fn aac_sequence_header(ac: &AudioConfig) -> Option<Bytes> {
    if ac.codec != Some(Codec::Aac) {
        return None;
    }
    let asc = ac.asc.clone()?;
    let mut b = BytesMut::with_capacity(asc.len() + 2);
    b.put_slice(&[0xaf, 0]);
    b.put_slice(&asc);
    Some(b.freeze())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const SPS: [u8; 25] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19,
    ];
    pub const PPS: [u8; 4] = [0x68, 0xeb, 0xe3, 0xcb];

    pub fn info() -> StreamInfo {
        StreamInfo {
            video: Some(h264::video_config(
                vec![Bytes::from_static(&SPS)],
                vec![Bytes::from_static(&PPS)],
            )),
            audio: vec![AudioConfig {
                codec: Some(Codec::Aac),
                sample_rate: 44100,
                channels: 2,
                asc: Some(Bytes::from_static(&[0x12, 0x10])),
                ..Default::default()
            }],
            data: Vec::new(),
        }
    }

    pub fn frames() -> Vec<Frame> {
        let mut v = Vec::new();
        for i in 0..10i64 {
            let dts = Ts90k::from_ms(1000 + i * 40);
            let key = i % 5 == 0;
            v.push(Frame {
                track: Track::Video,
                codec: Codec::H264,
                pts_90k: dts + Ts90k::from_ms(if i % 2 == 0 { 80 } else { 0 }),
                dts_90k: dts,
                keyframe: key,
                data: Bytes::from(vec![
                    0,
                    0,
                    0,
                    1,
                    if key { 0x65 } else { 0x41 },
                    i as u8,
                    7,
                    7,
                ]),
            });
            v.push(Frame {
                track: Track::Audio(0),
                codec: Codec::Aac,
                pts_90k: dts + Ts90k::from_ms(3),
                dts_90k: dts + Ts90k::from_ms(3),
                keyframe: true,
                data: Bytes::from(vec![0x21, i as u8, 3]),
            });
        }
        v
    }

    #[test]
    fn mux_demux_round_trip() {
        let mut mux = FlvMuxer::new();
        let mut demux = FlvDemuxer::new();
        let mut ev = Vec::new();
        for t in mux.info(&info()) {
            match t.kind {
                TagKind::Video => demux.video(t.timestamp, &t.body, &mut ev).unwrap(),
                TagKind::Audio => demux.audio(t.timestamp, &t.body, &mut ev).unwrap(),
            }
        }
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1], MediaEvent::Info(info()));
        let vc = info().video.unwrap();
        assert_eq!((vc.width, vc.height), (1280, 720));
        ev.clear();
        for f in frames() {
            let t = mux.frame(&f).unwrap();
            match t.kind {
                TagKind::Video => demux.video(t.timestamp, &t.body, &mut ev).unwrap(),
                TagKind::Audio => demux.audio(t.timestamp, &t.body, &mut ev).unwrap(),
            }
        }
        let got: Vec<_> = ev
            .into_iter()
            .map(|e| match e {
                MediaEvent::Frame(f) => f,
                e => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(got, frames());
    }

    #[test]
    fn unknown_codecs_warn_once_and_garbage_is_an_error() {
        let mut d = FlvDemuxer::new();
        let mut ev = Vec::new();
        assert!(matches!(
            d.video(0, &[0x12, 0, 0], &mut ev),
            Err(RtmpError::Unsupported(_))
        ));
        assert!(d.video(0, &[0x12, 0, 0], &mut ev).is_ok());
        assert!(d.video(0, b"\x90av01xx", &mut ev).is_err());
        assert!(d.audio(0, &[0x60, 1], &mut ev).is_err());
        assert!(d.audio(0, &[0xaf], &mut ev).is_err());
        assert!(d.video(0, &[0x17, 0, 0, 0, 0, 9], &mut ev).is_err());
        assert!(d
            .video(0, &[0x17, 1, 0, 0, 0, 0, 0, 0, 9, 1], &mut ev)
            .is_err());
        assert!(ev.is_empty());
        // MP3 passthrough
        d.audio(5, &[0x2f, 0xff, 0xfb, 1], &mut ev).unwrap();
        assert_eq!(ev.len(), 2);
        assert!(
            matches!(&ev[1], MediaEvent::Frame(f) if f.codec == Codec::Mpeg1Audio && f.dts_90k.0 == 450)
        );
    }

    #[test]
    fn enhanced_hevc() {
        // hvcC with VPS, SPS, PPS
        let mut rec = vec![1u8; 21];
        rec.push(0xf3);
        rec.push(3);
        for (t, nal) in [(32u8, &[0x40u8, 1][..]), (33, &[0x42, 1]), (34, &[0x44, 1])] {
            rec.push(t);
            rec.extend_from_slice(&[0, 1, 0, nal.len() as u8]);
            rec.extend_from_slice(nal);
        }
        let mut d = FlvDemuxer::new();
        let mut ev = Vec::new();
        let mut tag = vec![0x90, b'h', b'v', b'c', b'1'];
        tag.extend_from_slice(&rec);
        d.video(0, &tag, &mut ev).unwrap();
        let mut tag = vec![0x91, b'h', b'v', b'c', b'1', 0, 0, 40, 0, 0, 0, 2, 0x26, 1];
        d.video(40, &tag, &mut ev).unwrap();
        tag[0] = 0x93;
        let _ = d.video(80, &tag[..9], &mut ev);
        match &ev[0] {
            MediaEvent::Info(i) => {
                let v = i.video.as_ref().unwrap();
                assert_eq!(v.codec, Some(Codec::H265));
                assert_eq!(v.sps.len(), 2);
                assert_eq!(v.pps.len(), 1);
            }
            e => panic!("{e:?}"),
        }
        match &ev[1] {
            MediaEvent::Frame(f) => {
                assert_eq!(f.codec, Codec::H265);
                assert!(f.keyframe);
                assert_eq!(f.pts_90k.0 - f.dts_90k.0, 40 * 90);
                assert_eq!(&f.data[..], &[0, 0, 0, 1, 0x26, 1]);
            }
            e => panic!("{e:?}"),
        }
    }
}
