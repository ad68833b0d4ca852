-- Atoll schema, migration 1: channels and accounts.
-- The schema version is kept in `PRAGMA user_version`; migrations are numbered files applied in order.
-- Times are Unix milliseconds UTC (suffix _utc_ms).

-- A TV channel in the lineup. Its live state (live/offline, bitrate, viewers) is in memory, not here.
CREATE TABLE channel (
    -- URL-safe id used in /live/{id}/… and rtmp://host/live/{id}: [a-z0-9_-]{1,64}.
    id TEXT PRIMARY KEY NOT NULL
        CHECK (length(id) BETWEEN 1 AND 64 AND id NOT GLOB '*[^a-z0-9_-]*'),
    -- Display name shown to viewers ("News 24").
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Channel number (LCN) shown to viewers and used for number entry; NULL when unnumbered. Unique.
    number INTEGER UNIQUE CHECK (number IS NULL OR number BETWEEN 1 AND 99999),
    -- Group title in playlists and the player ("News", "Sports"); '' when ungrouped.
    group_title TEXT NOT NULL DEFAULT '',
    -- Logo URL (absolute, or a path on this server); '' when none.
    logo TEXT NOT NULL DEFAULT '',
    -- Key an RTMP publisher must send as ?key=…; NULL when publishing needs no key.
    publish_key TEXT,
    -- 1 = the channel runs (ingest, packaging, listing); 0 = kept in the lineup but stopped.
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    -- When the row was created and last changed.
    created_utc_ms INTEGER NOT NULL,
    updated_utc_ms INTEGER NOT NULL
) STRICT;

-- A channel's sources in failover order (position 0 is the primary). A channel with no rows here
-- takes RTMP publish at rtmp://host/live/{id}.
CREATE TABLE channel_source (
    -- The channel this source feeds.
    channel_id TEXT NOT NULL REFERENCES channel (id) ON DELETE CASCADE,
    -- 0-based failover order.
    position INTEGER NOT NULL CHECK (position >= 0),
    -- Source URL: udp://, rtmp://, http(s)://….m3u8, http(s)://….ts, testsrc://.
    url TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    PRIMARY KEY (channel_id, position)
) STRICT;

-- Console and API accounts.
CREATE TABLE user (
    -- Login name.
    name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    -- Argon2id PHC string ($argon2id$v=19$…); never the password itself.
    password_hash TEXT NOT NULL,
    -- 'admin' may do everything; 'operator' manages channels and recording, not accounts.
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
    -- 1 = may not sign in.
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_utc_ms INTEGER NOT NULL
) STRICT;
