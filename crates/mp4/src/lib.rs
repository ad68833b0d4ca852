//! ISO-BMFF (MP4 / QuickTime MOV) reading and fast-start MP4 writing, sans-IO: bytes in,
//! structures out.
//!
//! - [`parse_box_header`] finds boxes in a file the caller reads piecewise (to locate `moov`).
//! - [`read::parse_moov`] turns a complete `moov` box into a [`read::Movie`]: every track with
//!   its codec configuration and its sample table expanded to one [`read::Sample`] per sample
//!   (absolute file offset, size, decode time, composition offset, sync flag).
//! - [`write::fast_start`] lays out a fast-start MP4 (`ftyp`, `moov`, then `mdat`) for samples
//!   the caller copies in afterwards, in the order the [`write::Layout`] gives.
//! - [`codec`] builds decoder configuration records (`avcC`, `hvcC`, `dac3`, `dec3`) from
//!   parameter sets and syncframes, and converts `mdhd` language codes.
//!
//! Only non-fragmented files are read: a `moov` with an `mvex` box is reported as
//! [`read::Movie::fragmented`] and its (empty) sample tables are returned as they are.
//! No IO, no clocks, no panics on any input; every count is checked against the bytes present
//! and against [`Limits`] before anything is allocated from it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod read;
pub mod write;

mod bits;

#[cfg(test)]
mod tests;

pub use read::{parse_moov, Movie, Sample, Track};
pub use write::{
    fast_start, fast_start_in_groups, fragment_header, init_segment, Layout, SampleOut, TrackOut,
};

use bytes::Bytes;

/// Everything that can be wrong with the input (read side) or with the request (write side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data ends inside `what`.
    #[error("truncated {what}")]
    Truncated {
        /// The structure that is cut short (a box name or field).
        what: &'static str,
    },
    /// `what` has a value that makes no sense (a box smaller than its header, a zero
    /// timescale, a table index out of range, ...).
    #[error("invalid {what}")]
    Invalid {
        /// The structure or field that is wrong.
        what: &'static str,
    },
    /// `what` is larger than `limit` (a [`Limits`] value or a format limit).
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// What is too large (a count or a size).
        what: &'static str,
        /// The limit it exceeds.
        limit: u64,
    },
    /// A mandatory box or field is absent.
    #[error("missing {what}")]
    Missing {
        /// The absent box or field.
        what: &'static str,
    },
    /// The input is valid but uses something this crate does not handle.
    #[error("unsupported {what}")]
    Unsupported {
        /// What is not supported.
        what: &'static str,
    },
}

/// Shorthand for a [`Error::Truncated`].
pub(crate) fn truncated(what: &'static str) -> Error {
    Error::Truncated { what }
}

/// Shorthand for a [`Error::Invalid`].
pub(crate) fn invalid(what: &'static str) -> Error {
    Error::Invalid { what }
}

/// The header of one box (atom).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    /// The four-character box type, e.g. `*b"moov"`.
    pub kind: [u8; 4],
    /// Absolute offset of the box's first byte (its size field) in the file, in bytes.
    pub offset: u64,
    /// Length of the header in bytes: 8, or 16 with a 64-bit size. (A `uuid` box's 16-byte
    /// user type is not counted: it is part of the payload here.)
    pub header_len: u8,
    /// Total box size incl. header, in bytes; `None` = the box extends to the end of the file
    /// (size field 0).
    pub size: Option<u64>,
}

impl BoxHeader {
    /// Absolute offset of the first payload byte (`offset + header_len`), saturating.
    pub fn payload_offset(&self) -> u64 {
        self.offset.saturating_add(u64::from(self.header_len))
    }

    /// Absolute offset one past the box's last byte; `None` when the box extends to the end
    /// of the file or the sum overflows.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.size?)
    }
}

/// Parses a box header at `offset` from `buf` (the bytes at that offset; 8 are needed, 16 for
/// a 64-bit size). `Ok(None)` = need more bytes. A size smaller than the header is
/// [`Error::Invalid`].
pub fn parse_box_header(buf: &[u8], offset: u64) -> Result<Option<BoxHeader>, Error> {
    let Some(head) = buf.get(..8) else {
        return Ok(None);
    };
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let kind = [head[4], head[5], head[6], head[7]];
    let (header_len, size) = match size32 {
        0 => (8, None),
        1 => {
            let Some(large) = buf.get(8..16) else {
                return Ok(None);
            };
            let mut b = [0u8; 8];
            b.copy_from_slice(large);
            let size = u64::from_be_bytes(b);
            if size < 16 {
                return Err(invalid("64-bit box size"));
            }
            (16, Some(size))
        }
        s if s < 8 => return Err(invalid("box size")),
        s => (8, Some(u64::from(s))),
    };
    Ok(Some(BoxHeader {
        kind,
        offset,
        header_len,
        size,
    }))
}

/// Caps on what a hostile `moov` may make [`read::parse_moov`] allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of samples, all tracks together (default 50,000,000; one
    /// [`read::Sample`] is 32 bytes).
    pub max_samples: u64,
    /// Maximum number of tracks (default 64).
    pub max_tracks: usize,
    /// Maximum number of entries in any one table (`stts`, `stsc`, `stco`, ...; default
    /// 50,000,000).
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_samples: 50_000_000,
            max_tracks: 64,
            max_entries: 50_000_000,
        }
    }
}

/// What a track carries, from the `hdlr` handler type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// `vide`.
    Video,
    /// `soun`.
    Audio,
    /// `subt`, `text` or `sbtl`.
    Subtitle,
    /// Any other handler type (e.g. `tmcd`, `hint`, `meta`), given as is.
    Other([u8; 4]),
}

impl TrackKind {
    /// The kind for a `hdlr` handler type.
    pub fn from_handler(handler: [u8; 4]) -> TrackKind {
        match &handler {
            b"vide" => TrackKind::Video,
            b"soun" => TrackKind::Audio,
            b"subt" | b"text" | b"sbtl" => TrackKind::Subtitle,
            _ => TrackKind::Other(handler),
        }
    }
}

/// A track's codec and its decoder configuration, from the sample entry (`stsd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecConfig {
    /// H.264 (`avc1`/`avc3` with `avcC`).
    H264 {
        /// The `avcC` payload: an AVCDecoderConfigurationRecord.
        avcc: Bytes,
        /// Bytes in each sample's NAL unit length prefix (1, 2 or 4).
        nal_length_size: u8,
        /// Sequence parameter sets (NAL units with header, no start code).
        sps: Vec<Bytes>,
        /// Picture parameter sets (NAL units with header, no start code).
        pps: Vec<Bytes>,
    },
    /// H.265 (`hvc1`/`hev1` with `hvcC`).
    H265 {
        /// The `hvcC` payload: an HEVCDecoderConfigurationRecord.
        hvcc: Bytes,
        /// Bytes in each sample's NAL unit length prefix (1, 2 or 4).
        nal_length_size: u8,
        /// Video parameter sets (NAL units with header).
        vps: Vec<Bytes>,
        /// Sequence parameter sets (NAL units with header).
        sps: Vec<Bytes>,
        /// Picture parameter sets (NAL units with header).
        pps: Vec<Bytes>,
    },
    /// AAC (`mp4a` whose `esds` objectTypeIndication is 0x40 or 0x66..=0x68).
    Aac {
        /// The AudioSpecificConfig from the `esds` DecoderSpecificInfo.
        asc: Bytes,
    },
    /// AC-3 (`ac-3`).
    Ac3 {
        /// The `dac3` box payload (3 bytes).
        dac3: Bytes,
    },
    /// E-AC-3 (`ec-3`).
    Eac3 {
        /// The `dec3` box payload.
        dec3: Bytes,
    },
    /// MPEG-1/2 layer III audio: `mp4a` with objectTypeIndication 0x69 or 0x6B, or a `.mp3`
    /// sample entry.
    Mp3,
    /// Anything else (`vp09`, `av01`, `tx3g`, `Opus`, `mp4v`, `lpcm`, ...): the caller refuses
    /// the track with this name. The sample table is still read.
    Unsupported {
        /// The sample entry type (for `mp4a`, the entry type too).
        fourcc: [u8; 4],
    },
}

#[cfg(test)]
mod header_tests {
    use super::*;

    #[test]
    fn box_headers() {
        assert_eq!(parse_box_header(&[0, 0, 0], 0), Ok(None));
        let h = parse_box_header(b"\0\0\0\x10moovxxxxxxxx", 5)
            .unwrap()
            .unwrap();
        assert_eq!(h.kind, *b"moov");
        assert_eq!((h.offset, h.header_len, h.size), (5, 8, Some(16)));
        assert_eq!(h.end(), Some(21));
        assert_eq!(h.payload_offset(), 13);
        let h = parse_box_header(b"\0\0\0\0mdat", 0).unwrap().unwrap();
        assert_eq!(h.size, None);
        assert_eq!(parse_box_header(b"\0\0\0\x01mdat\0\0\0", 0), Ok(None));
        let h = parse_box_header(b"\0\0\0\x01mdat\0\0\0\x01\0\0\0\x10", 0)
            .unwrap()
            .unwrap();
        assert_eq!((h.header_len, h.size), (16, Some(0x1_0000_0010)));
        assert!(parse_box_header(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x08", 0).is_err());
        assert!(parse_box_header(b"\0\0\0\x07mdat", 0).is_err());
    }
}
