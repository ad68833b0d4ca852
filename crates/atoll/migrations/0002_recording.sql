-- Atoll schema, migration 2: catch-up recording settings per channel.

-- 1 = the channel's live output is archived continuously for catch-up; 0 = not recorded.
-- The operator's choice; it survives restarts.
ALTER TABLE channel ADD COLUMN record INTEGER NOT NULL DEFAULT 1 CHECK (record IN (0, 1));

-- Hours of archive kept for this channel (the oldest segments are removed first).
ALTER TABLE channel ADD COLUMN retention_hours INTEGER NOT NULL DEFAULT 72
    CHECK (retention_hours BETWEEN 1 AND 8760);
