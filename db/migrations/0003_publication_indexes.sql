-- Schema version 3: indexes for reading a large archive through Datasette.
-- The search page and the feeds sort statements by the date they claim, else by when they were seen.
CREATE INDEX IF NOT EXISTS posts_shown_at ON posts (coalesce(published_at, first_seen_at));
-- Facets by account are group-bys over every post: an index makes them a scan of the index alone.
CREATE INDEX IF NOT EXISTS posts_author_handle ON posts (author_handle);
