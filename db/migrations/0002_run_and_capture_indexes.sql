-- Schema version 2: indexes for source health (last outcome per source) and for time-bounded exports.
CREATE INDEX runs_source_outcome ON runs (source_id, outcome, started_at);
CREATE INDEX captures_started ON captures (started_at);
CREATE INDEX posts_first_seen ON posts (first_seen_at);
