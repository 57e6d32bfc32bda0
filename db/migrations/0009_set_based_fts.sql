-- Schema version 9: the full-text indexes are filled once per transaction, not row by row. A trigger
-- inserted each post and version into its FTS5 index as it was written, and FTS5 writes what it holds to
-- disk at every savepoint (one per recorded page), so the index grew by many small segments to merge.
-- The writer (archiver/archive.py, Archive.transaction) now indexes the rows its transaction added with
-- one INSERT … SELECT per index just before COMMIT, in the same transaction (a crash leaves both or
-- neither), and re-indexes a post whose indexed columns it changes. The delete triggers stay: a published
-- copy withholds rows by deleting them.
DROP TRIGGER IF EXISTS posts_fts_insert;
DROP TRIGGER IF EXISTS posts_fts_update;
DROP TRIGGER IF EXISTS versions_fts_insert;
