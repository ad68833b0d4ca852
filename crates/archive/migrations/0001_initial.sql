-- Archive index, migration 1: segments, gaps, per-channel totals, deletes in flight.
-- Lives in {root}/archive.db, apart from the configuration database: it is large, written all the
-- time, and can be rebuilt from the segment files alone (docs/archive.md).
-- The schema version is kept in `PRAGMA user_version`; migrations are numbered files applied in order.
-- Wall times are Unix milliseconds UTC (suffix _utc_ms); media durations are 90 kHz ticks (_90k).

-- One recorded segment: a self-contained MPEG-TS file (PAT/PMT + keyframe first) at
-- {root}/{channel}/{YYYYMMDD}/{HH}/{start_utc_ms}_{duration_ms}[_d].ts (UTC date and hour of the start).
-- The path is not stored: it is a function of (channel, start_utc_ms, duration_90k, discontinuity),
-- which keeps rows small (4.3 M of them) and index and file names from ever disagreeing.
-- WITHOUT ROWID, keyed by (channel, start_utc_ms): the table is its own covering index, so a range
-- query is one contiguous b-tree scan and no column is stored twice.
-- Invariant: a row exists only while its file exists complete, with exactly `bytes` bytes.
CREATE TABLE segment (
    -- Channel id ([a-z0-9_-]{1,64}, as in the configuration database); also the top directory.
    channel TEXT NOT NULL,
    -- Wall-clock start: when its first frame was received, reconciled with media time (docs/time.md).
    -- Strictly increasing per channel.
    start_utc_ms INTEGER NOT NULL CHECK (start_utc_ms >= 0),
    -- Store-wide id used to pin a segment while it is served; never reused (channel_state.max_segment_id).
    id INTEGER NOT NULL,
    -- Media duration in 90 kHz ticks (what #EXTINF shows).
    duration_90k INTEGER NOT NULL CHECK (duration_90k > 0),
    -- start_utc_ms + duration in ms, rounded as in the file name; kept to filter ranges without arithmetic.
    end_utc_ms INTEGER NOT NULL CHECK (end_utc_ms > start_utc_ms),
    -- File size in bytes: a whole number of 188-byte TS packets.
    bytes INTEGER NOT NULL CHECK (bytes > 0 AND bytes % 188 = 0),
    -- 1 = a discontinuity precedes this segment (#EXT-X-DISCONTINUITY); the file name ends in _d.
    discontinuity INTEGER NOT NULL CHECK (discontinuity IN (0, 1)),
    PRIMARY KEY (channel, start_utc_ms)
) STRICT, WITHOUT ROWID;

-- A hole in a channel's recording and why it is there. Holes of up to 1 s between segments are
-- jitter, not gaps. Gaps older than the channel's oldest segment are removed by retention.
CREATE TABLE gap (
    -- Channel id.
    channel TEXT NOT NULL,
    -- End of the last segment before the hole.
    from_utc_ms INTEGER NOT NULL,
    -- Start of the first segment after the hole.
    to_utc_ms INTEGER NOT NULL CHECK (to_utc_ms > from_utc_ms),
    -- 'source_lost': no segments while recording (source down or reported lost);
    -- 'recording_stopped': stopped on purpose (operator, shutdown); 'crash': the server died while
    -- recording; 'retention': segments removed by retention inside the kept window (reserved).
    reason TEXT NOT NULL CHECK (reason IN ('source_lost', 'recording_stopped', 'crash', 'retention')),
    PRIMARY KEY (channel, from_utc_ms)
) STRICT, WITHOUT ROWID;

-- Per-channel running totals (kept by the triggers below, so usage is O(channels)) and the
-- recording-stopped marker. A row outlives its channel's segments so ids are never reused.
CREATE TABLE channel_state (
    -- Channel id.
    channel TEXT PRIMARY KEY NOT NULL,
    -- Number of rows in `segment` for this channel.
    segments INTEGER NOT NULL DEFAULT 0 CHECK (segments >= 0),
    -- Sum of `segment.bytes` for this channel.
    bytes INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    -- Highest segment id ever given to this channel; new ids start above the maximum over channels.
    max_segment_id INTEGER NOT NULL DEFAULT 0,
    -- Set by mark_stopped: recording stopped at this time; the next segment records a gap with
    -- `stopped_reason` instead of 'crash'. Cleared by that next segment. NULL while recording.
    stopped_utc_ms INTEGER,
    -- Reason given to mark_stopped (a gap reason). NULL exactly when stopped_utc_ms is NULL.
    stopped_reason TEXT CHECK (stopped_reason IN ('source_lost', 'recording_stopped', 'crash', 'retention')),
    CHECK ((stopped_utc_ms IS NULL) = (stopped_reason IS NULL))
) STRICT, WITHOUT ROWID;

CREATE TRIGGER segment_counted AFTER INSERT ON segment BEGIN
    INSERT OR IGNORE INTO channel_state (channel) VALUES (NEW.channel);
    UPDATE channel_state
       SET segments = segments + 1, bytes = bytes + NEW.bytes,
           max_segment_id = max(max_segment_id, NEW.id)
     WHERE channel = NEW.channel;
END;

CREATE TRIGGER segment_uncounted AFTER DELETE ON segment BEGIN
    UPDATE channel_state SET segments = segments - 1, bytes = bytes - OLD.bytes
     WHERE channel = OLD.channel;
END;

-- Files whose rows were deleted (retention) in the same transaction, not yet unlinked. Unlinked
-- and cleared right after the commit, or at the next open after a crash: no orphan is left behind.
CREATE TABLE pending_delete (
    -- Path relative to the archive root.
    path TEXT PRIMARY KEY NOT NULL
) STRICT, WITHOUT ROWID;
