//! The archive's public types: gap reasons, errors, rows, reports and the retention policy.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// Why a channel's recording has a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GapReason {
    /// Recording was on but no segments came (source down, or reported lost by the recorder).
    SourceLost,
    /// Recording was stopped on purpose (operator, graceful shutdown).
    RecordingStopped,
    /// The server died while recording (found at the next open: no stop was marked).
    Crash,
    /// Segments removed by retention inside the kept window. Reserved: this crate removes oldest
    /// first and records no such gaps today.
    Retention,
    /// The recorder's queue was full and it dropped segments (the archive writer was behind).
    RecorderOverflow,
    /// The wall clock stepped while recording: segments that would have overlapped earlier ones
    /// were refused, or the timeline jumped forward.
    ClockStep,
    /// The archive disk was full.
    DiskFull,
    /// A segment could not be written for another reason (I/O or index error).
    WriteError,
}

impl GapReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::SourceLost => "source_lost",
            GapReason::RecordingStopped => "recording_stopped",
            GapReason::Crash => "crash",
            GapReason::Retention => "retention",
            GapReason::RecorderOverflow => "recorder_overflow",
            GapReason::ClockStep => "clock_step",
            GapReason::DiskFull => "disk_full",
            GapReason::WriteError => "write_error",
        }
    }
    pub fn parse(s: &str) -> Option<GapReason> {
        Some(match s {
            "source_lost" => GapReason::SourceLost,
            "recording_stopped" => GapReason::RecordingStopped,
            "crash" => GapReason::Crash,
            "retention" => GapReason::Retention,
            "recorder_overflow" => GapReason::RecorderOverflow,
            "clock_step" => GapReason::ClockStep,
            "disk_full" => GapReason::DiskFull,
            "write_error" => GapReason::WriteError,
            _ => return None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    #[error("archive index ({context}): {source}")]
    Index {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("archive {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid channel id {0:?} (want [a-z0-9_-]{{1,64}})")]
    InvalidChannel(String),
    #[error("channel {channel}: invalid segment: {why}")]
    InvalidSegment { channel: String, why: &'static str },
    #[error("channel {channel}: segment at {start_utc_ms} ms does not start after the last one ({last_start_utc_ms} ms)")]
    OutOfOrder {
        channel: String,
        start_utc_ms: i64,
        last_start_utc_ms: i64,
    },
    #[error("channel {channel}: segment at {start_utc_ms} ms overlaps the previous one (ends {last_end_utc_ms} ms): the wall clock stepped back")]
    ClockStepBack {
        channel: String,
        start_utc_ms: i64,
        last_end_utc_ms: i64,
    },
    #[error("archive index {}: schema version {found} is newer than this build ({known})", path.display())]
    NewerSchema {
        path: PathBuf,
        found: usize,
        known: usize,
    },
}

impl ArchiveError {
    /// The disk (or the index's disk) is full: ENOSPC/EDQUOT from a file write, SQLITE_FULL from
    /// the index.
    pub fn is_disk_full(&self) -> bool {
        match self {
            ArchiveError::Io { source, .. } => matches!(source.raw_os_error(), Some(28 | 122)),
            ArchiveError::Index { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DiskFull)
            ),
            _ => false,
        }
    }
}

pub(crate) type Result<T, E = ArchiveError> = std::result::Result<T, E>;

pub(crate) trait IndexContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IndexContext<T> for rusqlite::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| ArchiveError::Index {
            context: context(),
            source,
        })
    }
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ArchiveError + 'a {
    move |source| ArchiveError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// One indexed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    pub id: i64,
    pub channel: String,
    pub start_utc_ms: i64,
    pub duration_90k: i64,
    pub end_utc_ms: i64,
    pub bytes: i64,
    pub discontinuity: bool,
    /// Absolute path of the file.
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub from_utc_ms: i64,
    pub to_utc_ms: i64,
    pub reason: GapReason,
}

/// What `open` (or [`Archive::verify`]) repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// `.tmp` files (segments being written at the crash) removed.
    pub tmp_removed: usize,
    /// Complete files without a row, indexed from their names.
    pub orphans_indexed: usize,
    /// Files without a row that are not a sane TS file (length % 188 != 0, first byte not 0x47), removed.
    pub orphans_removed: usize,
    /// Rows whose file is missing or has another size, dropped.
    pub rows_dropped: usize,
    /// Channels that were recording when the server stopped without `mark_stopped`: each records a
    /// 'crash' gap at its next segment.
    pub crash_gaps: usize,
    /// Deletes (retention, delete_channel) interrupted by the crash and finished now.
    pub deletes_finished: usize,
}

impl RecoveryReport {
    /// Whether anything had to be repaired (crash gaps are recorded, not repaired).
    pub fn repaired_anything(&self) -> bool {
        self.tmp_removed
            + self.orphans_indexed
            + self.orphans_removed
            + self.rows_dropped
            + self.deletes_finished
            > 0
    }
}

#[derive(Debug, Clone)]
pub struct RetentionPolicy {
    /// Hours kept for channels not in `per_channel_hours`.
    pub default_hours: u32,
    pub per_channel_hours: HashMap<String, u32>,
    /// Cap on the bytes of all segments; the oldest segments (all channels) go first.
    /// A minimum free-disk percentage is not implemented here (no statvfs without libc): the
    /// caller turns it into a byte cap (`usage total + free − wanted free`).
    pub max_bytes: Option<u64>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            default_hours: 72,
            per_channel_hours: HashMap::new(),
            max_bytes: None,
        }
    }
}

impl RetentionPolicy {
    pub fn hours_for(&self, channel: &str) -> u32 {
        self.per_channel_hours
            .get(channel)
            .copied()
            .unwrap_or(self.default_hours)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub segments_deleted: usize,
    pub bytes_freed: u64,
    /// Segments due for deletion but pinned by a reader; deleted by a later run once unpinned.
    pub pinned_skipped: usize,
    pub gaps_deleted: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    /// Channels with at least one segment.
    pub channels: usize,
    pub segments: i64,
    pub bytes: u64,
    /// Size of archive.db plus its WAL.
    pub index_bytes: u64,
    /// Segment ids currently pinned by readers.
    pub pinned: usize,
}
