//! Matroska / WebM demux and subtitle text formats, sans-IO: bytes in, events out.
//!
//! - [`Demuxer`] reads a Matroska or WebM file sequentially, from start to end, pushed in
//!   chunks of any size. It buffers at most one element payload at a time (a Block, or a
//!   header element such as Tracks), bounded by [`Limits::max_element`]; everything it does not
//!   need (SeekHead, Cues, Tags, Chapters, Attachments, Void, CRC-32, ...) is skipped by
//!   counting bytes, never buffered. It emits [`Event`]s: the EBML header check, Segment Info,
//!   the track list and one [`Frame`] per coded frame (laced blocks are split).
//! - [`subtitle`] parses SRT and WebVTT, writes WebVTT and turns Matroska text subtitle frames
//!   into cues.
//!
//! No IO, no clocks, no threads, no panics on any input: every size and count read from the
//! input is checked against [`Limits`] before anything is allocated for it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod demux;
mod ebml;
pub mod subtitle;

#[cfg(test)]
mod tests;

pub use demux::{Demuxer, Event, Frame, TrackEntry, TrackKind};

/// Bounds on what the [`Demuxer`] accepts from (possibly hostile) input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest element payload the demuxer buffers, in bytes: a SimpleBlock or BlockGroup, the
    /// EBML header, Info, Tracks (which holds every CodecPrivate). Larger ones give
    /// [`Error::TooLarge`]. Skipped elements (Cues, Attachments, ...) may be any size.
    /// Default 64 MiB.
    pub max_element: u64,
    /// Most track entries accepted in Tracks. Default 64.
    pub max_tracks: usize,
    /// Most frames accepted in one laced block. Default 256 (the format's own maximum).
    pub max_lace_frames: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_element: 64 << 20,
            max_tracks: 64,
            max_lace_frames: 256,
        }
    }
}

/// What is wrong with the input. After the [`Demuxer`] returns an error it keeps returning it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not Matroska or WebM: it does not start with an EBML header, or the
    /// header's DocType is neither "matroska" nor "webm". `what` says which.
    #[error("not a Matroska/WebM file: {what}")]
    NotMatroska {
        /// What was found instead.
        what: String,
    },
    /// The input ended inside an element (a truncated file). `what` names the element.
    #[error("truncated input: it ends inside {what}")]
    Truncated {
        /// The element the input stopped in.
        what: String,
    },
    /// Malformed input: `what` describes the element or field.
    #[error("invalid {what}")]
    Invalid {
        /// What is malformed.
        what: String,
    },
    /// A size or count beyond the configured [`Limits`] (or the subtitle caps).
    #[error("{what} too large: {size} > limit {limit}")]
    TooLarge {
        /// What is too large.
        what: String,
        /// Its size (bytes) or count, as read from the input.
        size: u64,
        /// The limit it exceeds.
        limit: u64,
    },
    /// A valid feature this crate does not implement (zlib compression, encryption, ...).
    #[error("unsupported: {what}")]
    Unsupported {
        /// The feature.
        what: String,
    },
}

pub(crate) fn invalid(what: impl Into<String>) -> Error {
    Error::Invalid { what: what.into() }
}
