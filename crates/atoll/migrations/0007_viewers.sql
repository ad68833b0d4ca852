-- Atoll schema, migration 7: viewer accounts (IPTV apps log in with them through the Xtream Codes
-- API: cabins, rooms, households) and the channels' numeric ids those apps need. Viewer accounts
-- are separate from the staff accounts in `user` and can never use the admin API.

-- One viewer account.
CREATE TABLE viewer_account (
    -- Login name: 1..64 of A-Z a-z 0-9 . _ - @ (never ':', apps cut at it).
    username TEXT PRIMARY KEY NOT NULL
        CHECK (length(username) BETWEEN 1 AND 64 AND username NOT GLOB '*[^A-Za-z0-9._@-]*'),
    -- Argon2id PHC string; never the password itself.
    password_hash TEXT NOT NULL,
    -- 0 = may not log in or watch (apps are told "Disabled").
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- Last day the account may watch, 'YYYY-MM-DD' (through the end of that day in `xc_timezone`);
    -- NULL = never expires.
    expires TEXT CHECK (expires IS NULL OR expires GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    -- Devices (address + app) that may watch at once; over it the newest is refused.
    max_connections INTEGER NOT NULL DEFAULT 1 CHECK (max_connections BETWEEN 1 AND 100),
    -- JSON array of the channel groups (group_title) it may watch; [] = every group.
    groups_json TEXT NOT NULL DEFAULT '[]',
    -- JSON array of the VOD category names it may watch; [] = every category.
    vod_categories_json TEXT NOT NULL DEFAULT '[]',
    -- For the operator ("cabin 12, deck 3").
    note TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    created_utc_ms INTEGER NOT NULL,
    updated_utc_ms INTEGER NOT NULL,
    -- When an app last logged in or watched with it (written at most once a minute); NULL = never.
    last_seen_utc_ms INTEGER
) STRICT;

-- The channel's number in the Xtream Codes API (`stream_id`): given when the channel is made and
-- kept while it exists, so apps' favourites survive renames and renumbering.
ALTER TABLE channel ADD COLUMN stream_id INTEGER;
UPDATE channel SET stream_id = rowid;
CREATE UNIQUE INDEX channel_by_stream_id ON channel (stream_id);
