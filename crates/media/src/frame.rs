//! The internal frame model: one access unit of one track, with unwrapped 90 kHz times.

use bytes::Bytes;

use crate::time::Ts90k;

/// Which elementary stream a frame belongs to. Atoll carries one video and one audio track per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Video,
    Audio,
}

/// Codecs we carry. HLS-TS and HTTP-TS outputs write the matching MPEG-TS `stream_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264/AVC. Frame data: one Annex B access unit (start-code prefixed NAL units).
    H264,
    /// H.265/HEVC. Frame data: one Annex B access unit.
    H265,
    /// AAC. Frame data: one raw AAC frame (no ADTS header); the config is in [`AudioConfig::asc`].
    Aac,
    /// MPEG-1/2 audio layer I/II/III. Frame data: the elementary stream as received (passthrough).
    Mpeg1Audio,
    /// AC-3. Passthrough.
    Ac3,
    /// E-AC-3. Passthrough.
    Eac3,
}

impl Codec {
    pub fn track(self) -> Track {
        match self {
            Codec::H264 | Codec::H265 => Track::Video,
            _ => Track::Audio,
        }
    }
    /// Short lower-case name used in the API and metrics (`h264`, `aac`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "hevc",
            Codec::Aac => "aac",
            Codec::Mpeg1Audio => "mp2",
            Codec::Ac3 => "ac3",
            Codec::Eac3 => "eac3",
        }
    }
}

/// One access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub track: Track,
    pub codec: Codec,
    /// Presentation time, 90 kHz, unwrapped.
    pub pts_90k: Ts90k,
    /// Decode time, 90 kHz, unwrapped. Equal to `pts_90k` when the source has no B-frames.
    pub dts_90k: Ts90k,
    /// For video: an IDR / random access point. Always true for audio.
    pub keyframe: bool,
    pub data: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoConfig {
    pub codec: Option<Codec>,
    pub width: u32,
    pub height: u32,
    /// Frames per second ×1000 when the SPS declares it (0 = unknown).
    pub fps_milli: u32,
    /// H.264 SPS NAL units (without start codes); for HEVC VPS+SPS.
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AudioConfig {
    pub codec: Option<Codec>,
    pub sample_rate: u32,
    pub channels: u8,
    /// AAC AudioSpecificConfig (needed to write ADTS headers).
    pub asc: Option<Bytes>,
}

/// What a source carries. Sent whenever it changes (new source, new SPS, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamInfo {
    pub video: Option<VideoConfig>,
    pub audio: Option<AudioConfig>,
}

/// What every ingest adapter emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Info(StreamInfo),
    Frame(Frame),
}
