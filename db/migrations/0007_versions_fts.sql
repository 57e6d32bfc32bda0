-- Schema version 7: search every version. posts_fts holds only each post's current text, so a word an
-- edit removed could not be found; versions_fts indexes the title and text of every version (external
-- content: the text stays in versions, once). Versions are append-only, so rows arrive by the insert
-- trigger; the delete trigger serves a published copy that withholds versions.
CREATE VIRTUAL TABLE versions_fts USING fts5 (
    title, text,
    content = 'versions', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER versions_fts_insert AFTER INSERT ON versions BEGIN
    INSERT INTO versions_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
END;
CREATE TRIGGER versions_fts_delete AFTER DELETE ON versions BEGIN
    INSERT INTO versions_fts (versions_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
END;
INSERT INTO versions_fts (versions_fts) VALUES ('rebuild');

-- The public face hides unpublished posts (archiver/publication.py) on every table page: these few rows
-- are found in this small index instead of by reading every post.
CREATE INDEX posts_unpublished ON posts (id) WHERE publish = 0;
