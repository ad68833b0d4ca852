-- Atoll schema, migration 8: the preferred audio language of a channel (issue 18).

-- The ISO 639-2 code (lower-case) of the audio track HLS players get as the default of the
-- channel's master playlist (live and catch-up); '' = no preference: the first track that is not
-- audio description.
ALTER TABLE channel ADD COLUMN audio_language TEXT NOT NULL DEFAULT ''
    CHECK (audio_language = '' OR (length(audio_language) = 3 AND audio_language NOT GLOB '*[^a-z]*'));
