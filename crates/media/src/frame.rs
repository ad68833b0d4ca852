//! The internal frame model: one access unit of one track, with unwrapped 90 kHz times.

use bytes::Bytes;

use crate::time::Ts90k;

/// Most audio tracks a channel carries (the rest of a source's audio streams are dropped).
pub const MAX_AUDIO_TRACKS: usize = 8;
/// Most subtitle/data streams (teletext, DVB subtitles) a channel carries.
pub const MAX_DATA_STREAMS: usize = 8;

/// Which elementary stream a frame belongs to: the channel's one video track, its n-th audio
/// track ([`StreamInfo::audio`]`[n]`) or its n-th data stream ([`StreamInfo::data`]`[n]`:
/// teletext, DVB subtitles, passed through to the TS outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Video,
    Audio(u8),
    Data(u8),
}

impl Track {
    pub fn is_audio(self) -> bool {
        matches!(self, Track::Audio(_))
    }
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
    /// DVB teletext (EN 300 472). Frame data: the PES data field as received (data_identifier
    /// and data units), passthrough.
    Teletext,
    /// DVB bitmap subtitles (EN 300 743). Frame data: the PES data field, passthrough.
    DvbSubtitle,
}

impl Codec {
    pub fn is_video(self) -> bool {
        matches!(self, Codec::H264 | Codec::H265)
    }
    pub fn is_audio(self) -> bool {
        matches!(
            self,
            Codec::Aac | Codec::Mpeg1Audio | Codec::Ac3 | Codec::Eac3
        )
    }
    /// Teletext or DVB subtitles.
    pub fn is_data(self) -> bool {
        matches!(self, Codec::Teletext | Codec::DvbSubtitle)
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
            Codec::Teletext => "teletext",
            Codec::DvbSubtitle => "dvbsub",
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
    /// ISO 639-2 language as the source declared it (lower case; `None` when undeclared or
    /// `und`).
    pub language: Option<String>,
    /// Audio description for the visually impaired (ISO 639 audio_type 3, or DVB's
    /// supplementary audio descriptor).
    pub description: bool,
}

/// A teletext or DVB subtitle stream, carried through to the TS outputs as received.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataConfig {
    /// [`Codec::Teletext`] or [`Codec::DvbSubtitle`].
    pub codec: Option<Codec>,
    /// ISO 639-2 language of its first page or subtitle entry (lower case).
    pub language: Option<String>,
    /// The source's ES_info descriptors (teletext_descriptor with its pages, subtitling_descriptor
    /// with its composition ids, ISO 639), written back unchanged in every PMT.
    pub descriptors: Bytes,
}

/// What a source carries. Sent whenever it changes (new source, new SPS, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamInfo {
    pub video: Option<VideoConfig>,
    /// Audio tracks in the source's order (at most [`MAX_AUDIO_TRACKS`]); a frame of
    /// `Track::Audio(n)` belongs to `audio[n]`.
    pub audio: Vec<AudioConfig>,
    /// Teletext and DVB subtitle streams (at most [`MAX_DATA_STREAMS`]); `Track::Data(n)`.
    pub data: Vec<DataConfig>,
}

impl StreamInfo {
    /// The first audio track (the one single-track outputs such as RTMP carry).
    pub fn first_audio(&self) -> Option<&AudioConfig> {
        self.audio.first()
    }
}

/// What every ingest adapter emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Info(StreamInfo),
    Frame(Frame),
}
