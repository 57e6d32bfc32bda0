-- Schema version 6: an index on every foreign-key column that had none. SQLite checks a foreign key by
-- searching the child table for rows that point at a parent; without an index that search is a full
-- scan, so deferred checks (and any future deletion of a parent, e.g. in a snapshot) grow quadratically.
CREATE INDEX IF NOT EXISTS captures_run ON captures (run_id);
CREATE INDEX IF NOT EXISTS captures_revisit_of ON captures (revisit_of) WHERE revisit_of IS NOT NULL;
CREATE INDEX IF NOT EXISTS posts_current_version ON posts (current_version);
CREATE INDEX IF NOT EXISTS post_seen_capture ON post_seen (last_capture_id);
CREATE INDEX IF NOT EXISTS events_capture ON events (capture_id);
CREATE INDEX IF NOT EXISTS events_version ON events (version_id) WHERE version_id IS NOT NULL;
