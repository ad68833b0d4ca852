//! HLS packaging (sans-IO): frames in, MPEG-TS segments and playlists out.
//!
//! - [`timeline::WallClock`] maps a channel's output media time to wall-clock time (docs/time.md).
//! - [`segmenter::Segmenter`] cuts keyframe-aligned MPEG-TS segments and emits the same bytes as a
//!   continuous chunk stream for HTTP-MPEG-TS viewers.
//! - [`playlist`] renders live (sliding window), EVENT and VOD media playlists.
//! - [`renditions`] offers a channel's audio languages and subtitles as renditions of a master
//!   playlist, cut from its full segments by PID.
//! - [`vod`] cuts a stored film into keyframe-aligned segments on the fly (the plan, the
//!   renditions' shares of each segment, the master and media playlists).
#![forbid(unsafe_code)]

pub mod playlist;
pub mod renditions;
pub mod segmenter;
pub mod timeline;
pub mod vod;

pub use playlist::{render_media_playlist, PlaylistKind, PlaylistSegment};
pub use segmenter::{Segment, SegmentEvent, Segmenter, SegmenterConfig};
pub use timeline::WallClock;
