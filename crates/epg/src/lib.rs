//! The pure EPG core of Atoll: XMLTV in, schedules normalised and merged, XMLTV and M3U out, and
//! the source retry schedule.
//!
//! Sans-IO like the other pure crates: no tokio, no files, no sockets, no clock reads. Bytes
//! (already decompressed) and times come in; data, warnings and next-attempt times go out.
//!
//! # Parsing ([`parse`], [`parse_reader`])
//! Streaming over `quick_xml::Reader` (no DOM): memory is the largest element plus the result.
//! - **Tolerant:** one bad element becomes a [`Warning`] `{ line, element, message }` and is
//!   skipped, the rest is imported. A programme with a missing `channel`/`start` or a bad `start`
//!   is skipped; a bad `stop` is ignored (the programme then ends at the next start); a text
//!   element (`title`, `desc`, …) with an unknown entity such as `&nbsp;` is skipped, its
//!   programme kept. At most [`MAX_WARNINGS`] are kept, the rest counted.
//! - **Fatal** ([`ParseError`] `{ line, message }`, keep the last good guide): not XML, no `<tv>`
//!   root, a truncated document (an unclosed `<tv>`: the message names the open element and the
//!   line it was opened on), malformed markup, gzip data, UTF-16, a declared encoding other than
//!   UTF-8/US-ASCII/ISO-8859-1/windows-1252, or bytes that are not UTF-8 where UTF-8 is expected.
//!   ISO-8859-1 and windows-1252 are transcoded here.
//! - **Times** ([`parse_xmltv_time`]): `YYYYMMDDhhmmss ±hhmm` and its shorter forms; every
//!   offset honoured (`20261124190000 +0800` = 11:00Z); no zone means UTC (as the DTD says).
//! - Text is trimmed (the DTD says surrounding whitespace is not significant); entities and
//!   character references are decoded; `lang=""` reads as no language.
//!
//! # Normalising ([`normalise`]) — the overlap rule
//! Per channel: sort by start; **same start twice: the later one in the file wins**; explicit
//! `stop <= start`: dropped; missing `stop`: ends at the next programme's start, and **the last
//! programme without a stop is dropped** (no honest end exists); **overlap: the later-starting
//! programme truncates the earlier one's stop** to its own start. Each repair or drop is a
//! warning. Idempotent.
//!
//! # Re-imports ([`merge`])
//! Per channel in the new import, `cutoff = max(first incoming start, now)`: stored programmes
//! starting before the cutoff are kept (catch-up keeps its titles), stored ones from the cutoff
//! on are replaced by the import's; the import's programmes before the cutoff only fill holes
//! (so a first import brings its past). Programmes that ended at or before `keep_past_from` (the
//! archive window) are dropped. Re-importing the same file changes nothing.
//!
//! # Exports
//! [`write_xmltv`] writes `epg.xml`, valid against the XMLTV DTD (checked with `xmllint
//! --dtdvalid` in the tests). [`write_m3u`] writes `playlist.m3u`; [`parse_m3u`] reads one back as
//! an app would.
//!
//! ## Which catch-up attributes to put in `playlist.m3u`
//! Our catch-up URLs are Flussonic-style (`/live/{id}/index-{from}-{duration}.m3u8`,
//! `/live/{id}/timeshift_abs-{from}.m3u8`, `/live/{id}/archive-{from}-{duration}.ts`). The form
//! that works in the most apps is an explicit template ([`Catchup::recommended`]):
//!
//! ```text
//! #EXTINF:-1 tvg-id="cctv1" … catchup="default" catchup-days="7" catchup-source="http://host:8080/live/cctv1/index-{utc}-{duration}.m3u8",CCTV-1
//! http://host:8080/live/cctv1/index.m3u8
//! ```
//!
//! Why: in `default` mode the app does no URL surgery, it only substitutes placeholders into
//! `catchup-source`. `{utc}` (programme start, Unix seconds) and `{duration}` (seconds) are the
//! oldest and most widely implemented placeholders: Kodi IPTV Simple documents them (its README's
//! "Channel F" example is exactly this Flussonic shape with `catchup="default"`), and TiviMate,
//! OTT Navigator and the other catch-up-capable M3U players implement the same Kodi/SIPTV
//! placeholder set. Epoch seconds avoid the device-local-time trap of `{Y}{m}{d}{H}{M}{S}`. The
//! URL is absolute, so it does not depend on the live URL's shape.
//!
//! `catchup="flussonic"` (or `fs`) instead makes each app rewrite the live URL by its own rules
//! (Kodi: `…/index.m3u8` → `…/timeshift_rel-{offset:1}.m3u8`, `…/mpegts` →
//! `…/timeshift_abs-{utc}.ts`; other apps differ), so it only works where our server answers every
//! variant an app might produce (issue 7) and where the live URL has a shape the app recognises;
//! keep it as a per-app fallback, not the default. `shift` appends `?utc=&lutc=` to the live URL,
//! which works for SIPTV-style servers (also issue 7). IPTV Smarters reaches catch-up mainly
//! through the Xtream Codes API rather than M3U attributes, and VLC has no catch-up at all: both
//! ignore these attributes and still list and play the live channels, which is why the
//! attributes are safe to always write. (App behaviour other than Kodi's is from the apps'
//! public documentation and common practice, not tested here.)
//!
//! # Retry schedule ([`SyncSchedule`])
//! Failed fetch or parse: retry every 30 s; after the 5th consecutive failure wait 30 min, then
//! start a new round; never stop. Success: next sync after the source's refresh interval
//! (default 6 h).

pub mod m3u;
pub mod model;
pub mod normalise;
pub mod parse;
pub mod sync;
pub mod time;
pub mod write;

pub use m3u::{parse_m3u, parse_m3u_header, write_m3u, Catchup, M3uEntry, M3uHeader};
pub use model::{EpisodeNum, Guide, LangText, Programme, Rating, Warning, XChannel};
pub use normalise::{merge, normalise};
pub use parse::{
    parse, parse_reader, parse_reader_with, ParseError, ParseLimit, ParseLimits, MAX_WARNINGS,
};
pub use sync::{
    SyncSchedule, DEFAULT_REFRESH_MS, FAILURES_PER_ROUND, RETRY_DELAY_MS, ROUND_BACKOFF_MS,
};
pub use time::{format_xmltv_time, parse_xmltv_time};
pub use write::{write_xmltv, ExportChannel};

/// Re-exported for convenience.
pub use media::UtcMs;
