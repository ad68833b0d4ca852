-- More gap reasons: 'recorder_overflow' (segments dropped because the archive writer was behind),
-- 'clock_step' (the wall clock stepped while recording), 'disk_full' (the archive disk was full),
-- 'write_error' (any other failed segment write). SQLite cannot change a CHECK in place: the two
-- tables are rebuilt (their triggers with them).

CREATE TABLE gap_new (
    -- Channel id.
    channel TEXT NOT NULL,
    -- End of the last segment before the hole.
    from_utc_ms INTEGER NOT NULL,
    -- Start of the first segment after the hole.
    to_utc_ms INTEGER NOT NULL CHECK (to_utc_ms > from_utc_ms),
    -- 'source_lost': no segments while recording (source down); 'recording_stopped': stopped on
    -- purpose (operator, shutdown); 'crash': the server died while recording; 'retention':
    -- segments removed by retention inside the kept window (reserved); 'recorder_overflow': the
    -- archive writer was behind and segments were dropped; 'clock_step': the wall clock stepped
    -- (segments that would have overlapped earlier ones were refused); 'disk_full': the archive
    -- disk was full; 'write_error': a segment could not be written for another reason.
    reason TEXT NOT NULL CHECK (reason IN ('source_lost', 'recording_stopped', 'crash', 'retention',
        'recorder_overflow', 'clock_step', 'disk_full', 'write_error')),
    PRIMARY KEY (channel, from_utc_ms)
) STRICT, WITHOUT ROWID;
INSERT INTO gap_new SELECT channel, from_utc_ms, to_utc_ms, reason FROM gap;
DROP TABLE gap;
ALTER TABLE gap_new RENAME TO gap;

DROP TRIGGER segment_counted;
DROP TRIGGER segment_uncounted;
CREATE TABLE channel_state_new (
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
    stopped_reason TEXT CHECK (stopped_reason IN ('source_lost', 'recording_stopped', 'crash',
        'retention', 'recorder_overflow', 'clock_step', 'disk_full', 'write_error')),
    CHECK ((stopped_utc_ms IS NULL) = (stopped_reason IS NULL))
) STRICT, WITHOUT ROWID;
INSERT INTO channel_state_new
    SELECT channel, segments, bytes, max_segment_id, stopped_utc_ms, stopped_reason FROM channel_state;
DROP TABLE channel_state;
ALTER TABLE channel_state_new RENAME TO channel_state;

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
