-- Atoll schema, migration 3: the programme guide (EPG).

-- The XMLTV channel id this channel's guide comes from; '' = match by exact display name.
ALTER TABLE channel ADD COLUMN epg_id TEXT NOT NULL DEFAULT '' CHECK (length(epg_id) <= 200);

-- Where guides come from. Synced on a schedule with retries (30 s × 5, then 30 min, forever).
CREATE TABLE epg_source (
    -- Stable id used in /api/epg/sources/{id}.
    id INTEGER PRIMARY KEY,
    -- Label shown in the console.
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- http:// URL or an absolute local file path; plain or gzip XMLTV.
    url TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- Minutes between successful syncs.
    refresh_minutes INTEGER NOT NULL DEFAULT 360 CHECK (refresh_minutes BETWEEN 5 AND 10080),
    -- 0 = not synced.
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- Outcome of the last attempts (NULL until the first).
    last_attempt_utc_ms INTEGER,
    last_success_utc_ms INTEGER,
    -- What went wrong at the last failed attempt (fetch error, or parse error with line/element).
    last_error TEXT,
    -- Failed attempts since the last success (drives the retry schedule).
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    -- When the next attempt is due.
    next_attempt_utc_ms INTEGER,
    -- From the last good import: XMLTV channels and programmes in the file, programmes imported,
    -- and the XMLTV channel ids that matched none of our channels (newline-separated).
    channels_seen INTEGER NOT NULL DEFAULT 0,
    programmes_seen INTEGER NOT NULL DEFAULT 0,
    programmes_imported INTEGER NOT NULL DEFAULT 0,
    unmatched_channels TEXT NOT NULL DEFAULT '',
    -- Warnings of the last import (bad elements skipped), newline-separated, at most 100.
    warnings TEXT NOT NULL DEFAULT '',
    created_utc_ms INTEGER NOT NULL
) STRICT;

-- The guide: one row per programme of one of our channels, times in UTC.
CREATE TABLE programme (
    -- Our channel id (not the XMLTV id); rows of a deleted channel are removed with it.
    channel_id TEXT NOT NULL REFERENCES channel (id) ON DELETE CASCADE,
    -- Start and stop, Unix ms UTC; stop > start; no two programmes of a channel overlap.
    start_utc_ms INTEGER NOT NULL,
    stop_utc_ms INTEGER NOT NULL CHECK (stop_utc_ms > start_utc_ms),
    -- The source that imported it (NULL when that source was deleted).
    source_id INTEGER REFERENCES epg_source (id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    sub_title TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    -- Categories, newline-separated.
    category TEXT NOT NULL DEFAULT '',
    -- Episode number as given (xmltv_ns or onscreen), '' when none.
    episode TEXT NOT NULL DEFAULT '',
    icon TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (channel_id, start_utc_ms)
) STRICT, WITHOUT ROWID;

-- Title search (GET /api/epg/search) scans titles; now/next reads by (channel, time) via the key.
CREATE INDEX programme_by_stop ON programme (stop_utc_ms);
