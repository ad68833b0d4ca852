//! The one stream model every ingest produces and every output consumes.
//!
//! Pure: no IO, no tokio, no clocks read here. Time comes in as values
//! ([`time::Ts90k`], [`time::UtcMs`]) or through the [`time::Clock`] trait.
#![forbid(unsafe_code)]

pub mod aac;
pub mod bits;
pub mod frame;
pub mod h264;
pub mod time;

pub use frame::{
    AudioConfig, Codec, DataConfig, Frame, MediaEvent, StreamInfo, Track, VideoConfig,
    MAX_AUDIO_TRACKS, MAX_DATA_STREAMS,
};
pub use time::{Clock, SimulatedClock, Ts90k, UtcMs};
