//! Logging: one line per event on standard output (the journal, under systemd), the level
//! filter changeable while running (`ATOLL_LOG` at start, `PUT /api/log/level` after; a
//! tracing-subscriber reload layer), and the last warnings and errors kept in a bounded ring in
//! memory for the console's Log page (`GET /api/log`).
//!
//! Events name their channel in a `channel` field and say why in the message; secrets never go
//! into a message (source URLs are logged redacted: `ingest::http_client::redact`).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

/// Warnings and errors kept for the console (the oldest dropped first).
pub const RING_ENTRIES: usize = 500;
/// Longest message kept in the ring, bytes (a longer one is cut).
const MAX_MESSAGE_BYTES: usize = 2048;
/// Longest channel field kept, bytes (a name a client sent may be long).
const MAX_CHANNEL_BYTES: usize = 128;
/// Most entries one source (module) holds in the ring: beyond, its own oldest goes, so warnings
/// an unauthenticated client can cause at will (refused requests, refused RTMP plays) never push
/// out the others.
pub const RING_PER_TARGET: usize = RING_ENTRIES / 5;

/// The target of a message shown once on standard output and never kept in the ring (the
/// first admin password).
pub const SHOWN_ONCE: &str = "atoll::shown_once";

/// One warning or error.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its number since the start (rises by one per entry, dropped ones included).
    pub seq: u64,
    pub utc_ms: i64,
    /// "WARN" or "ERROR".
    pub level: &'static str,
    /// The `channel` field, when the event has one.
    pub channel: Option<String>,
    pub message: String,
    /// The other fields, `key=value` separated by spaces.
    pub fields: String,
    /// The module that wrote it (for the per-source share of the ring).
    pub target: String,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Entry>,
    next_seq: u64,
}

/// The running log configuration: the filter's reload handle and the ring.
pub struct Control {
    reload: reload::Handle<EnvFilter, Registry>,
    filter: Mutex<String>,
    ring: Mutex<Ring>,
}

static CONTROL: OnceLock<Control> = OnceLock::new();

/// The log control of this process (None before [`init`], e.g. in unit tests).
pub fn control() -> Option<&'static Control> {
    CONTROL.get()
}

/// Installs the subscriber: `filter` (an `EnvFilter` directive such as `info` or
/// `atoll=debug,info`; a bad one falls back to `info` with a warning), the line formatter, and
/// the ring of warnings.
pub fn init(filter: &str, ansi: bool) {
    let (parsed, bad) = match EnvFilter::try_new(filter) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(e.to_string())),
    };
    let (filter_layer, handle) = reload::Layer::new(parsed);
    let _ = CONTROL.set(Control {
        reload: handle,
        filter: Mutex::new(if bad.is_some() {
            "info".into()
        } else {
            filter.to_string()
        }),
        ring: Mutex::default(),
    });
    tracing_subscriber::registry()
        .with(filter_layer)
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(ansi),
        )
        .with(RingLayer)
        .init();
    if let Some(e) = bad {
        tracing::warn!("ATOLL_LOG '{filter}' is not a log filter ({e}); using info");
    }
}

impl Control {
    /// The filter in force.
    pub fn filter(&self) -> String {
        self.filter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the filter at run time; Err with the parser's message when it is not one.
    pub fn set_filter(&self, filter: &str) -> Result<(), String> {
        let f = filter.trim();
        if f.is_empty() || f.len() > 500 {
            return Err("must be 1 to 500 characters".into());
        }
        let parsed = EnvFilter::try_new(f).map_err(|e| e.to_string())?;
        self.reload.reload(parsed).map_err(|e| e.to_string())?;
        *self.filter.lock().unwrap_or_else(|e| e.into_inner()) = f.to_string();
        Ok(())
    }

    /// The last warnings and errors, newest first, at most `limit`; and how many were dropped
    /// from the ring since the start.
    pub fn recent(&self, limit: usize) -> (Vec<Entry>, u64) {
        let r = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = r.next_seq - r.entries.len() as u64;
        (
            r.entries.iter().rev().take(limit).cloned().collect(),
            dropped,
        )
    }

    fn push(&self, e: Entry) {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).push(e);
    }
}

impl Ring {
    /// Adds `e`: its source's own oldest entry goes when that source holds its share
    /// ([`RING_PER_TARGET`]), else the oldest of all when the ring is full.
    fn push(&mut self, mut e: Entry) {
        e.seq = self.next_seq;
        self.next_seq += 1;
        let mut same = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, x)| x.target == e.target);
        let first_same = same.next().map(|(i, _)| i);
        if first_same.is_some() && same.count() + 1 >= RING_PER_TARGET {
            self.entries.remove(first_same.unwrap_or(0));
        } else if self.entries.len() >= RING_ENTRIES {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
    }
}

/// Copies each warning and error into the ring.
struct RingLayer;

#[derive(Default)]
struct Fields {
    message: String,
    channel: Option<String>,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "channel" => self.channel = Some(value.to_string()),
            name => {
                let _ = write!(self.rest, "{}{name}={value}", sep(&self.rest));
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "channel" => self.channel = Some(format!("{value:?}").trim_matches('"').to_string()),
            name => {
                let _ = write!(self.rest, "{}{name}={value:?}", sep(&self.rest));
            }
        }
    }
}

fn sep(s: &str) -> &'static str {
    if s.is_empty() {
        ""
    } else {
        " "
    }
}

fn cut(s: String) -> String {
    cut_to(s, MAX_MESSAGE_BYTES)
}

fn cut_to(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        // tracing orders levels by verbosity: WARN and ERROR are the two least verbose
        if level > Level::WARN || event.metadata().target() == SHOWN_ONCE {
            return;
        }
        let Some(c) = control() else { return };
        let mut f = Fields::default();
        event.record(&mut f);
        let utc_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        c.push(Entry {
            seq: 0,
            utc_ms,
            level: if level == Level::ERROR {
                "ERROR"
            } else {
                "WARN"
            },
            channel: f.channel.map(|c| cut_to(c, MAX_CHANNEL_BYTES)),
            message: cut(f.message),
            fields: cut(f.rest),
            target: event.metadata().target().to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(target: &str, message: &str) -> Entry {
        Entry {
            seq: 0,
            utc_ms: 0,
            level: "WARN",
            channel: None,
            message: message.into(),
            fields: String::new(),
            target: target.into(),
        }
    }

    /// A flood from one source (refused requests a client causes at will) keeps only its share
    /// of the ring: the other sources' warnings stay.
    #[test]
    fn one_source_cannot_push_the_others_out() {
        let mut r = Ring::default();
        for i in 0..10 {
            r.push(entry("atoll::recorder", &format!("disk {i}")));
        }
        for i in 0..10_000 {
            r.push(entry("atoll::api", &format!("refused {i}")));
        }
        assert_eq!(r.entries.len(), 10 + RING_PER_TARGET);
        assert_eq!(
            r.entries
                .iter()
                .filter(|e| e.target == "atoll::recorder")
                .count(),
            10
        );
        // the newest of the flood are the ones kept
        assert_eq!(r.entries.back().unwrap().message, "refused 9999");
        assert_eq!(r.next_seq, 10_010);
        // the whole ring is still bounded with many sources
        for i in 0..5_000 {
            r.push(entry(&format!("t{}", i % 50), "x"));
        }
        assert!(r.entries.len() <= RING_ENTRIES);
    }

    #[test]
    fn long_fields_are_cut() {
        let s = cut_to("é".repeat(200), MAX_CHANNEL_BYTES);
        assert!(s.len() <= MAX_CHANNEL_BYTES + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }
}
