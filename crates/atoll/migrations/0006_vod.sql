-- Atoll schema, migration 6: the VOD library (films, series episodes), its categories, imports in
-- progress and resumable uploads. A title's files live under `{vod_dir}/{id}/` (media.mp4, the
-- poster, subtitles as WebVTT); a row exists only once its files are complete.

-- A category of the library ("Films", "Documentaries"); titles refer to it by id (the Xtream Codes
-- API gives apps these ids).
CREATE TABLE vod_category (
    id INTEGER PRIMARY KEY,
    -- Shown to viewers; unique.
    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    -- Order in the player (lower first, then by name).
    position INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One playable title: a film, or one episode of a series.
CREATE TABLE vod_title (
    -- Stable number in every URL (/vod/{id}/…).
    id INTEGER PRIMARY KEY,
    -- Title in the library's main language (Chinese on most of our networks).
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    -- English title ('' = none).
    title_en TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    -- NULL = uncategorised.
    category_id INTEGER REFERENCES vod_category (id) ON DELETE SET NULL,
    -- Release year; NULL = unknown.
    year INTEGER CHECK (year IS NULL OR year BETWEEN 1880 AND 2200),
    -- Free text ("Drama, Comedy").
    genre TEXT NOT NULL DEFAULT '',
    -- Name of the series this is an episode of ('' = a film).
    series TEXT NOT NULL DEFAULT '',
    -- Season and episode numbers within the series; NULL for films.
    season INTEGER CHECK (season IS NULL OR season >= 0),
    episode INTEGER CHECK (episode IS NULL OR episode >= 0),
    -- Length of the longest track, milliseconds (read from the stored file).
    duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
    -- Tracks as read from the stored file, JSON: {"video": {codec, width, height},
    -- "audio": [{codec, language, channels}], "subtitles": [{language, file}]}.
    media TEXT NOT NULL,
    -- Size of media.mp4 in bytes.
    size_bytes INTEGER NOT NULL,
    -- Hex SHA-256 of media.mp4 (edges verify their mirrored copy against it).
    sha256 TEXT NOT NULL DEFAULT '',
    -- Times the title was started here (its master playlist or file asked from the start).
    plays INTEGER NOT NULL DEFAULT 0,
    -- Last start here; NULL = never (edges evict mirrored titles unwatched the longest first).
    last_played_utc_ms INTEGER,
    -- File name it was imported from (for the operator).
    source_name TEXT NOT NULL DEFAULT '',
    -- 'file' = poster.jpg uploaded or taken from a frame of the video; 'none'.
    poster TEXT NOT NULL DEFAULT 'none' CHECK (poster IN ('file', 'none')),
    added_utc_ms INTEGER NOT NULL,
    updated_utc_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX vod_title_by_category ON vod_title (category_id);
CREATE INDEX vod_title_by_series ON vod_title (series, season, episode) WHERE series != '';

-- An import: a file being remuxed into the library, or the outcome of one. Kept 30 days.
CREATE TABLE vod_import (
    -- Random id, shown in the console and returned by the upload API.
    id TEXT PRIMARY KEY NOT NULL,
    -- 'upload', 'watch' (vod_dir/incoming) or 'cli'.
    origin TEXT NOT NULL CHECK (origin IN ('upload', 'watch', 'cli')),
    -- The file's name as given.
    source_name TEXT NOT NULL,
    -- 'queued', 'importing', 'done' or 'failed'.
    state TEXT NOT NULL CHECK (state IN ('queued', 'importing', 'done', 'failed')),
    -- 0..1 of the remux done.
    progress REAL NOT NULL DEFAULT 0,
    -- The new title when done.
    title_id INTEGER,
    -- Why it failed (the file's problem, in words).
    error TEXT NOT NULL DEFAULT '',
    started_utc_ms INTEGER NOT NULL,
    finished_utc_ms INTEGER
) STRICT;

-- A resumable upload (tus 1.0). The bytes so far are in `{vod_dir}/.uploads/{id}`; the offset is
-- that file's length. Unfinished uploads expire a day after their last write.
CREATE TABLE vod_upload (
    id TEXT PRIMARY KEY NOT NULL,
    -- Upload-Length announced by the client, bytes.
    length INTEGER NOT NULL CHECK (length >= 0),
    -- Upload-Metadata, decoded, as JSON ({"filename": …, "title": …, "category": …}).
    metadata TEXT NOT NULL DEFAULT '{}',
    -- Staff account that started it.
    user_name TEXT NOT NULL,
    created_utc_ms INTEGER NOT NULL,
    -- Last PATCH (expiry runs from here).
    updated_utc_ms INTEGER NOT NULL,
    -- The import it became once complete.
    import_id TEXT
) STRICT;
