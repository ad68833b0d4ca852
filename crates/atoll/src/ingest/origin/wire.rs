//! What nodes of a cluster send each other as JSON (`/api/cluster/…`). The origin serialises,
//! the edge deserialises: one definition for both sides.

use serde::{Deserialize, Serialize};

/// The header every node-to-node request carries (the cluster key).
pub const KEY_HEADER: &str = "x-atoll-cluster-key";

/// Longest wait an edge may ask of a segment long-poll.
pub const MAX_WAIT_MS: u64 = 10_000;

/// `GET /api/cluster/live/{id}?after=SEQ&wait_ms=N`: the channel's live segments after `SEQ`
/// (all in the window without `after`), answered as soon as there is one or after `wait_ms`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LiveSegments {
    pub segments: Vec<SegmentMeta>,
}

/// One segment, as the origin's live playlist has it, plus what the archive needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SegmentMeta {
    pub seq: u64,
    /// Output-timeline DTS of its first frame (90 kHz).
    pub start_90k: i64,
    pub duration_90k: i64,
    /// `#EXT-X-PROGRAM-DATE-TIME`, ms since the epoch.
    pub start_utc_ms: i64,
    pub discontinuity: bool,
    pub clock_step: bool,
    /// Size of `GET /api/cluster/live/{id}/{seq}.ts`.
    pub bytes: u64,
}

/// `GET /api/cluster/lineup`: the channels an edge serves (no sources, no publish keys).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lineup {
    /// Changes whenever anything in `channels` changes.
    pub revision: String,
    pub channels: Vec<LineupChannel>,
    /// Changes whenever the origin's guide changed (`GET /api/cluster/guide` has it).
    #[serde(default)]
    pub guide_revision: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LineupChannel {
    pub id: String,
    pub name: String,
    pub number: Option<i64>,
    pub group: String,
    pub logo: String,
    pub record: bool,
    pub retention_hours: u32,
    pub epg_id: String,
    /// The preferred audio language (ISO 639-2, '' = none); absent from an older origin.
    #[serde(default)]
    pub audio_language: String,
}

/// `POST /api/cluster/report`: what a node tells every origin every [`REPORT_EVERY_MS`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub node: String,
    /// "edge" or "origin".
    pub role: String,
    /// Where viewers reach this node (`http://edge-deck1:8080`); None: not sent viewers.
    pub public_url: Option<String>,
    /// HLS sessions seen in the last 30 s plus open MPEG-TS streams.
    pub viewers: u64,
    /// HTTP bytes sent per second over the last interval, in Mbit/s.
    pub egress_mbps: f64,
    /// Busy share of all cores, 0–100.
    pub cpu_percent: f64,
    /// Free bytes on the archive's disk.
    pub disk_free_bytes: u64,
    /// Channels with their origin source running.
    pub channels_pulled: u64,
    /// Channels archiving.
    pub channels_recorded: u64,
    /// Seconds since the newest segment the node received, worst channel (None: no channel).
    pub archive_lag_s: Option<f64>,
    /// The origin the node takes its channels from now (edges).
    #[serde(default)]
    pub origin_in_use: Option<String>,
    /// The node's wall clock when it sent this (its offset from the origin is derived from it).
    pub sent_utc_ms: i64,
}

/// The origin's answer to a report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReportAck {
    /// The origin's wall clock when it received the report.
    pub origin_utc_ms: i64,
}

/// How often nodes report; a node missing 3 reports is unhealthy.
pub const REPORT_EVERY_MS: i64 = 2_000;
/// Largest report body accepted.
pub const MAX_REPORT_BYTES: usize = 16 << 10;

/// `GET /api/cluster/archive/{id}?from_ms=A&to_ms=B`: the origin's archived segments that start
/// in `[A, B)` (at most [`MAX_ARCHIVE_LIST`]); each one's bytes are
/// `GET /api/cluster/archive/{id}/{start_utc_ms}.ts`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArchiveList {
    pub segments: Vec<ArchivedSegment>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArchivedSegment {
    pub start_utc_ms: i64,
    pub duration_90k: i64,
    pub discontinuity: bool,
    pub bytes: u64,
}

/// Most segments one archive list holds.
pub const MAX_ARCHIVE_LIST: usize = 1_000;

/// `GET /api/cluster/config`: the whole channel configuration (sources and publish keys
/// included), for a backup origin that ingests the same sources itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OriginConfig {
    /// Changes whenever anything in `channels` changes.
    pub revision: String,
    pub channels: Vec<ConfigChannel>,
    /// As in [`Lineup`].
    #[serde(default)]
    pub guide_revision: String,
    /// The guide sources (part of `revision`): the backup keeps them, and syncs them itself
    /// once promoted. Absent (a primary of an older version): the backup's are left alone.
    #[serde(default)]
    pub guide_sources: Option<Vec<ConfigGuideSource>>,
    /// The operator's settings for each cluster node (part of `revision`): the backup's
    /// redirects and DNS answers send viewers where the primary's would (absent from an older
    /// primary: nothing changes).
    #[serde(default)]
    pub nodes: Option<Vec<ConfigNode>>,
}

/// `PUT /api/cluster/nodes/{name}` as set on the primary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigNode {
    pub name: String,
    pub max_viewers: Option<u64>,
    pub max_mbps: Option<f64>,
    pub subnets: Vec<String>,
}

/// A guide source of the primary, as configured (its sync state stays on each node).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfigGuideSource {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub refresh_minutes: i64,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfigChannel {
    pub id: String,
    pub name: String,
    pub number: Option<i64>,
    pub group: String,
    pub logo: String,
    pub sources: Vec<String>,
    pub publish_key: Option<String>,
    pub active: bool,
    pub record: bool,
    pub retention_hours: u32,
    pub epg_id: String,
    /// As in [`LineupChannel`].
    #[serde(default)]
    pub audio_language: String,
}
