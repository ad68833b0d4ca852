//! MPEG-TS demux and mux, sans-IO: bytes in, [`media::MediaEvent`]s out, and back.
//!
//! - [`Demuxer`] accepts arbitrary byte chunks (UDP datagrams, HTTP chunks split anywhere),
//!   finds the 0x47 sync, follows PAT → PMT, and reassembles the first video stream, every audio
//!   track (with its ISO 639 language) and every teletext / DVB subtitle stream into
//!   [`media::Frame`]s with unwrapped 90 kHz timestamps.
//! - [`Muxer`] writes [`media::Frame`]s back as 188-byte packets (PAT/PMT on request, PES with
//!   PCR, ADTS headers for AAC, AUD + parameter sets for H.264/HEVC keyframes, language
//!   descriptors, teletext PES headers per EN 300 472).
//!
//! No IO, no clocks, no panics on any input.
#![forbid(unsafe_code)]

mod codec;
mod crc;
mod demux;
mod mux;
mod pes;
pub mod program;
pub mod teletext;

#[cfg(test)]
mod tests;

pub use crc::crc32_mpeg2;
pub use demux::{DemuxError, DemuxStats, Demuxer};
pub use mux::Muxer;

/// Size of one transport stream packet.
pub const PACKET_SIZE: usize = 188;
/// The sync byte every packet starts with.
pub const SYNC_BYTE: u8 = 0x47;
/// PID of the program association table.
pub const PAT_PID: u16 = 0x0000;
/// PID the [`Muxer`] writes its program map table on.
pub const PMT_PID: u16 = 0x1000;
/// PID the [`Muxer`] writes video on.
pub const VIDEO_PID: u16 = 0x100;
/// PID the [`Muxer`] writes the first audio track on (track n on `AUDIO_PID + n`).
pub const AUDIO_PID: u16 = 0x101;
/// PID the [`Muxer`] writes the first teletext / subtitle stream on (n-th on `DATA_PID + n`).
pub const DATA_PID: u16 = 0x120;
/// The null packet PID.
pub const NULL_PID: u16 = 0x1fff;

/// MPEG-TS `stream_type` values this crate reads and writes.
pub mod stream_type {
    /// MPEG-1 audio (layer I/II/III).
    pub const MPEG1_AUDIO: u8 = 0x03;
    /// MPEG-2 audio (layer I/II/III).
    pub const MPEG2_AUDIO: u8 = 0x04;
    /// PES private data (DVB AC-3/E-AC-3 signalled by descriptor).
    pub const PRIVATE_PES: u8 = 0x06;
    /// AAC with ADTS framing.
    pub const AAC_ADTS: u8 = 0x0f;
    /// H.264 / AVC.
    pub const H264: u8 = 0x1b;
    /// H.265 / HEVC.
    pub const H265: u8 = 0x24;
    /// AC-3 (ATSC).
    pub const AC3: u8 = 0x81;
    /// E-AC-3 (ATSC).
    pub const EAC3: u8 = 0x87;
}

/// The `stream_type` the [`Muxer`] writes for `codec`.
pub fn stream_type_for(codec: media::Codec) -> u8 {
    use media::Codec;
    match codec {
        Codec::H264 => stream_type::H264,
        Codec::H265 => stream_type::H265,
        Codec::Aac => stream_type::AAC_ADTS,
        Codec::Mpeg1Audio => stream_type::MPEG1_AUDIO,
        Codec::Ac3 => stream_type::AC3,
        Codec::Eac3 => stream_type::EAC3,
        Codec::Teletext | Codec::DvbSubtitle => stream_type::PRIVATE_PES,
    }
}
