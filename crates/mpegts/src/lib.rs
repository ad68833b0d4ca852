//! MPEG-TS demux and mux (sans-IO). See the crate docs in README of the helper's work.
