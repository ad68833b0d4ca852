-- Atoll schema, migration 4: console sessions, API tokens, the audit log, the channel event log and
-- server secrets.

-- Values the server makes once and keeps (secrets, never shown through the API).
CREATE TABLE setting (
    -- 'viewer_token_key': hex HMAC key that signs viewer tokens (made on first start).
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- When the account last signed in (console or HTTP Basic); NULL = never.
ALTER TABLE user ADD COLUMN last_login_utc_ms INTEGER;

-- A signed-in console session. The browser holds a random value in the `atoll_session` cookie; only
-- its SHA-256 is kept here, so a copy of the database cannot be used to sign in.
CREATE TABLE session (
    -- Hex SHA-256 of the cookie value.
    id_hash TEXT PRIMARY KEY NOT NULL,
    -- Whose session; signing out, disabling the account or changing its password deletes it.
    user_name TEXT NOT NULL REFERENCES user (name) ON DELETE CASCADE,
    -- Anti-CSRF token: state-changing requests made with this cookie must echo it in X-CSRF-Token.
    csrf TEXT NOT NULL,
    -- Client address at sign-in (for the audit log).
    ip TEXT NOT NULL DEFAULT '',
    created_utc_ms INTEGER NOT NULL,
    -- After this the cookie is refused and the row is deleted.
    expires_utc_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX session_by_user ON session (user_name);

-- API tokens for scripts (`Authorization: Bearer atk_…`). A token acts as the account that made it.
CREATE TABLE api_token (
    -- Number shown in lists and used to revoke (DELETE /api/tokens/{id}).
    id INTEGER PRIMARY KEY,
    -- What the token is for ("backup script").
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The account the token acts as.
    user_name TEXT NOT NULL REFERENCES user (name) ON DELETE CASCADE,
    -- Hex SHA-256 of the token; the token itself is shown once at creation and never stored.
    token_hash TEXT NOT NULL UNIQUE,
    created_utc_ms INTEGER NOT NULL,
    -- Last request made with it (updated at most once a minute); NULL = never used.
    last_used_utc_ms INTEGER
) STRICT;

-- Who changed what, when: one row per state change made through the API, the console or the CLI.
-- Kept for 400 days.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at_utc_ms INTEGER NOT NULL,
    -- Account name ('cli' for the command line); not a foreign key: the log outlives accounts.
    user_name TEXT NOT NULL,
    -- Client address ('' for the command line).
    ip TEXT NOT NULL DEFAULT '',
    -- What was done, as noun.verb: channel.create, channel.update, recording.start, user.disable, …
    action TEXT NOT NULL,
    -- What it was done to (a channel id, an account name, a token id, …).
    target TEXT NOT NULL DEFAULT '',
    -- The change itself as JSON (fields sent; never passwords or tokens).
    detail TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_log_by_time ON audit_log (at_utc_ms);

-- A channel's status history: source lost/restored, failovers, publishers, recording errors. Kept
-- for 30 days and at most 5,000 rows a channel; not a foreign key, so it is readable after a delete.
CREATE TABLE channel_event (
    id INTEGER PRIMARY KEY,
    channel_id TEXT NOT NULL,
    at_utc_ms INTEGER NOT NULL,
    -- source_lost, source_restored, failover, publisher_connected, publisher_disconnected,
    -- recording_started, recording_stopped, recording_error, created, updated, deleted.
    kind TEXT NOT NULL,
    -- Human-readable detail ("udp://239.1.1.1:1234: no data for 5 s").
    message TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX channel_event_by_channel ON channel_event (channel_id, id);
