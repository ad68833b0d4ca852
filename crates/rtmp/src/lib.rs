//! Sans-IO RTMP: handshake, chunk stream, AMF0, FLV tag bodies and the
//! server / client session state machines.
//!
//! Nothing in here touches sockets, clocks or randomness: callers push the
//! bytes they read, poll events, and write whatever `poll_transmit` hands
//! back. Random handshake bytes are passed in by the caller.
//!
//! ```no_run
//! use rtmp::{RejectReason, ServerConfig, ServerEvent, ServerSession};
//! # fn read_socket() -> Vec<u8> { vec![] }
//! # fn write_socket(_: &[u8]) {}
//! let random = [0u8; rtmp::HANDSHAKE_RANDOM_LEN]; // fill from an RNG
//! let mut s = ServerSession::new(ServerConfig::default(), random);
//! loop {
//!     let bytes = read_socket();
//!     if bytes.is_empty() {
//!         s.handle_eof();
//!     } else if s.push(&bytes).is_err() {
//!         break; // protocol violation: drop the connection
//!     }
//!     while let Some(ev) = s.poll_event() {
//!         match ev {
//!             ServerEvent::PublishRequest { query, .. } if query == "key=SECRET" => {
//!                 s.accept_publish().unwrap()
//!             }
//!             ServerEvent::PublishRequest { .. } => s.reject(RejectReason::Unauthorized).unwrap(),
//!             ServerEvent::Media(_m) => { /* hand to the channel */ }
//!             ServerEvent::Closed => return,
//!             _ => {}
//!         }
//!     }
//!     while let Some(out) = s.poll_transmit() {
//!         write_socket(&out);
//!     }
//! }
//! ```
#![forbid(unsafe_code)]

pub mod amf0;
pub mod chunk;
pub mod client;
mod error;
pub mod flv;
pub mod handshake;
pub mod message;
pub mod server;

pub use amf0::Amf0Value;
pub use chunk::{ChunkDecoder, ChunkEncoder, ChunkLimits, Message};
pub use client::{ClientConfig, ClientEvent, ClientSession, RtmpUrl};
pub use error::RtmpError;
pub use flv::{FlvDemuxer, FlvMuxer};
pub use handshake::{Handshake, HANDSHAKE_RANDOM_LEN};
pub use server::{RejectReason, ServerConfig, ServerEvent, ServerSession};

/// Default limit for one reassembled chunk-stream message (16 MiB).
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

#[cfg(test)]
mod session_tests;
