//! The one description of a live HLS answer — `/live/{id}/index.m3u8` and `/live/{id}/{seq}.ts`:
//! which file a name means (one seq parser), and status, Content-Type, Cache-Control, CORS, body
//! and viewer counting of the answer. Both HTTP paths write what [`answer`] says:
//! `crate::fastpath` (in front of hyper; segment bodies by `sendfile` from [`Body::Segment`]'s
//! file) and `api::live::live_file` (axum). Nothing here does IO; the viewer is counted in the
//! hub's session table, at the time of the hub's clock.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use bytes::Bytes;

use hls::renditions::{Rendition, Tracks};

use crate::hub::live::{LiveOutput, SegmentBody};
use crate::hub::Hub;

pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
pub const TS_TYPE: &str = "video/mp2t";
pub const TEXT_TYPE: &str = "text/plain; charset=utf-8";
pub const VTT_TYPE: &str = "text/vtt; charset=utf-8";
pub const PLAYLIST_CACHE: &str = "max-age=1";
pub const SEGMENT_CACHE: &str = "public, max-age=86400, immutable";
pub const ERROR_CACHE: &str = "no-cache";
pub const STREAM_CACHE: &str = "no-cache, no-store";
/// Headers every live answer carries besides Content-Type and Cache-Control.
pub const EXTRA_HEADERS: [(&str, &str); 1] = [("access-control-allow-origin", "*")];

/// Response extension of an axum answer whose body is a long stream (live MPEG-TS, catch-up TS
/// from a time, an archive download): from its head on, the front door caps the connection's
/// kernel send buffer at `http_stream_send_buffer_bytes`, so a viewer that stops reading holds
/// that much, not the several MB TCP autotuning grows to, until the write timeout.
#[derive(Debug, Clone, Copy)]
pub struct Streamed;

/// Marks `r` as a [`Streamed`] answer.
pub fn streamed(r: &mut axum::response::Response) {
    r.extensions_mut().insert(Streamed);
}

/// What a file name under `/live/{id}/` asks for (catch-up forms are `api::archive`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveFile {
    /// `index.m3u8`
    Playlist,
    /// `{seq}.ts`, seq in its one written form (see [`parse_seq`])
    Segment(u64),
    /// `mpegts`: the endless stream (axum only)
    Stream,
    /// `v-index.m3u8`, `a{n}-index.m3u8`, `s{n}-index.m3u8`: a rendition's playlist, when the
    /// channel offers a master playlist (several audio languages, or subtitles)
    RenditionPlaylist(Rendition),
    /// `v-{seq}.ts`, `a{n}-{seq}.ts` (cut from segment seq by PID), `s{n}-{seq}.vtt` (its
    /// subtitles as WebVTT)
    RenditionSegment(Rendition, u64),
    /// anything else
    Unknown,
}

impl LiveFile {
    pub fn parse(file: &str) -> LiveFile {
        match file {
            "index.m3u8" => LiveFile::Playlist,
            "mpegts" => LiveFile::Stream,
            _ => {
                if let Some((r, name)) = Rendition::split(file) {
                    return match LiveFile::parse(&name) {
                        LiveFile::Playlist => LiveFile::RenditionPlaylist(r),
                        LiveFile::Segment(seq) => LiveFile::RenditionSegment(r, seq),
                        _ => LiveFile::Unknown,
                    };
                }
                parse_seq(file).map_or(LiveFile::Unknown, LiveFile::Segment)
            }
        }
    }
}

/// A segment name's sequence number: `{seq}.ts` with seq written as the playlist writes it —
/// decimal digits only, no sign, no leading zero (except `0` itself), fitting in u64.
/// `+1.ts`, `01.ts`, `-1.ts`, `.ts` and `18446744073709551616.ts` are not segment names.
pub fn parse_seq(file: &str) -> Option<u64> {
    let digits = file.strip_suffix(".ts")?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse().ok()
}

/// The body of a live answer.
pub enum Body {
    /// A short text (errors).
    Text(&'static str),
    /// The playlist.
    Playlist(Bytes),
    /// A segment: its bytes, or the file holding them (sent with `sendfile` by the fast path,
    /// read back by axum).
    Segment(SegmentBody),
    /// The endless MPEG-TS stream of this output (`mpegts`; written by axum only).
    Stream(Arc<LiveOutput>),
}

/// A live answer: status, the headers that vary, the body. Every answer also carries
/// [`EXTRA_HEADERS`]; Content-Length is the body's length (streams are chunked).
pub struct LiveAnswer {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub cache_control: &'static str,
    pub body: Body,
}

impl LiveAnswer {
    fn not_found(msg: &'static str) -> Self {
        LiveAnswer {
            status: StatusCode::NOT_FOUND,
            content_type: TEXT_TYPE,
            cache_control: ERROR_CACHE,
            body: Body::Text(msg),
        }
    }

    /// The body as bytes, a segment's file read back (None for a stream).
    pub fn bytes(&self) -> Option<std::io::Result<Bytes>> {
        match &self.body {
            Body::Text(t) => Some(Ok(Bytes::from_static(t.as_bytes()))),
            Body::Playlist(b) => Some(Ok(b.clone())),
            Body::Segment(s) => Some(s.bytes()),
            Body::Stream(_) => None,
        }
    }
}

pub const NO_CHANNEL: &str = "no such channel, or it is not active\n";
pub const STARTING: &str = "channel is starting; no segment yet\n";
pub const NO_SEGMENT: &str = "segment is not (or no longer) available\n";
pub const UNKNOWN: &str = "unknown live resource\n";
pub const NO_RENDITION: &str = "this channel has no such audio or subtitle rendition\n";

/// Who asks: a segment served counts this viewer (address and User-Agent hash) as watching.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub ip: IpAddr,
    pub ua_hash: u64,
}

/// The answer to `/live/{id}/{what}` of the running channels in `hub`.
pub fn answer(hub: &Hub, id: &str, what: LiveFile, viewer: Viewer) -> LiveAnswer {
    let Some(ch) = hub.get(id) else {
        return LiveAnswer::not_found(NO_CHANNEL);
    };
    let live = &ch.live;
    match what {
        LiveFile::Playlist => {
            live.asked(hub.settings.clock.now_mono_ms());
            let snap = live.snapshot();
            if snap.playlist.is_empty() {
                return LiveAnswer::not_found(STARTING);
            }
            let playlist = match &snap.renditions {
                Some(r) => r.master.clone(),
                None => snap.playlist.clone(),
            };
            LiveAnswer {
                status: StatusCode::OK,
                content_type: PLAYLIST_TYPE,
                cache_control: PLAYLIST_CACHE,
                body: Body::Playlist(playlist),
            }
        }
        LiveFile::RenditionPlaylist(r) => {
            live.asked(hub.settings.clock.now_mono_ms());
            let snap = live.snapshot();
            if snap.playlist.is_empty() {
                return LiveAnswer::not_found(STARTING);
            }
            match snap.renditions.as_ref().and_then(|x| x.playlist(r)) {
                Some(playlist) => LiveAnswer {
                    status: StatusCode::OK,
                    content_type: PLAYLIST_TYPE,
                    cache_control: PLAYLIST_CACHE,
                    body: Body::Playlist(playlist),
                },
                None => LiveAnswer::not_found(NO_RENDITION),
            }
        }
        LiveFile::RenditionSegment(r, seq) => {
            let snap = live.snapshot();
            let Some(seg) = snap.segment(seq) else {
                return LiveAnswer::not_found(NO_SEGMENT);
            };
            let oldest = snap.segments.front().map_or(seq, |s| s.seq);
            let made = live.cuts.get_or_make(seq, r, oldest, || {
                let data = seg.bytes().ok()?;
                let tracks = Tracks::read(&data).filter(|t| offers(t, r))?;
                match r {
                    Rendition::Subtitles(n) => {
                        let prev = seq
                            .checked_sub(1)
                            .and_then(|p| snap.segment(p))
                            .and_then(|s| s.bytes().ok());
                        Some(Bytes::from(hls::renditions::webvtt(
                            &tracks,
                            n,
                            prev.as_deref(),
                            &data,
                            seg.duration_90k,
                        )))
                    }
                    _ => tracks.cut(&data, r).map(Bytes::from),
                }
            });
            let Some(data) = made else {
                return LiveAnswer::not_found(NO_RENDITION);
            };
            live.hls_sessions
                .touch(viewer.ip, viewer.ua_hash, hub.settings.clock.now_mono_ms());
            let subtitles = matches!(r, Rendition::Subtitles(_));
            LiveAnswer {
                status: StatusCode::OK,
                content_type: if subtitles { VTT_TYPE } else { TS_TYPE },
                cache_control: SEGMENT_CACHE,
                body: Body::Segment(SegmentBody::Memory(data)),
            }
        }
        LiveFile::Segment(seq) => {
            let found = live.snapshot().segment(seq).map(|s| s.body.clone());
            let Some(body) = found else {
                return LiveAnswer::not_found(NO_SEGMENT);
            };
            live.segment_requested();
            live.hls_sessions
                .touch(viewer.ip, viewer.ua_hash, hub.settings.clock.now_mono_ms());
            LiveAnswer {
                status: StatusCode::OK,
                content_type: TS_TYPE,
                cache_control: SEGMENT_CACHE,
                body: Body::Segment(body),
            }
        }
        LiveFile::Stream => {
            live.asked(hub.settings.clock.now_mono_ms());
            LiveAnswer {
                status: StatusCode::OK,
                content_type: TS_TYPE,
                cache_control: STREAM_CACHE,
                body: Body::Stream(live.clone()),
            }
        }
        LiveFile::Unknown => LiveAnswer::not_found(UNKNOWN),
    }
}

/// Whether `tracks` has rendition `r`.
pub fn offers(tracks: &Tracks, r: Rendition) -> bool {
    match r {
        Rendition::Video => tracks.video.is_some(),
        Rendition::Audio(n) => (n as usize) < tracks.audio.len(),
        Rendition::Subtitles(n) => (n as usize) < tracks.subtitles.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_written_form_of_a_segment_name() {
        for (file, want) in [
            ("0.ts", Some(0)),
            ("7.ts", Some(7)),
            ("1795000012.ts", Some(1795000012)),
            ("18446744073709551615.ts", Some(u64::MAX)),
            ("18446744073709551616.ts", None),
            ("99999999999999999999999999.ts", None),
            ("+1.ts", None),
            ("-1.ts", None),
            ("01.ts", None),
            ("00.ts", None),
            (".ts", None),
            ("1.TS", None),
            ("1.ts.ts", None),
            ("1 .ts", None),
            ("abc.ts", None),
            ("1", None),
            ("index.m3u8", None),
        ] {
            assert_eq!(parse_seq(file), want, "{file}");
        }
        assert_eq!(LiveFile::parse("index.m3u8"), LiveFile::Playlist);
        assert_eq!(LiveFile::parse("mpegts"), LiveFile::Stream);
        assert_eq!(LiveFile::parse("12.ts"), LiveFile::Segment(12));
        assert_eq!(LiveFile::parse("+12.ts"), LiveFile::Unknown);
        assert_eq!(LiveFile::parse("index.M3U8"), LiveFile::Unknown);
        assert_eq!(
            LiveFile::parse("a1-index.m3u8"),
            LiveFile::RenditionPlaylist(Rendition::Audio(1))
        );
        assert_eq!(
            LiveFile::parse("s0-12.vtt"),
            LiveFile::RenditionSegment(Rendition::Subtitles(0), 12)
        );
        assert_eq!(
            LiveFile::parse("v-12.ts"),
            LiveFile::RenditionSegment(Rendition::Video, 12)
        );
        for bad in [
            "a1-01.ts",
            "a1-mpegts",
            "s0-12.ts",
            "a1-a1-12.ts",
            "v-rec-1.ts",
        ] {
            assert_eq!(LiveFile::parse(bad), LiveFile::Unknown, "{bad}");
        }
    }
}
