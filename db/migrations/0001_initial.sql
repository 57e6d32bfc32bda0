-- Schema version 1: the append-only evidence model (docs/evidence-model.md says what each table proves).
-- Times are UTC ISO 8601 strings with microseconds and a trailing Z, so they sort as text.

CREATE TABLE sources (
    id           TEXT PRIMARY KEY,           -- slug from config/sources.toml
    kind         TEXT NOT NULL,              -- platform module: feed, webpage, mastodon, ...
    locator      TEXT NOT NULL,              -- URL or handle
    name         TEXT,
    organisation TEXT,
    role         TEXT,
    country      TEXT,
    schedule     TEXT,
    options      TEXT,                       -- JSON, secrets never included
    enabled      INTEGER NOT NULL DEFAULT 1,
    publish      INTEGER NOT NULL DEFAULT 1, -- 0: archived but hidden from publication
    synced_at    TEXT
);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    source_id     TEXT,                      -- NULL for archive-wide runs (verify, import)
    kind          TEXT NOT NULL,             -- fetch, verify, import
    scheduled_at  TEXT,
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    outcome       TEXT,                      -- ok, not_modified, failed, missed, skipped (NULL while running)
    error         TEXT,
    n_captures    INTEGER NOT NULL DEFAULT 0,
    n_new         INTEGER NOT NULL DEFAULT 0,
    n_edited      INTEGER NOT NULL DEFAULT 0,
    n_deleted     INTEGER NOT NULL DEFAULT 0,
    details       TEXT                       -- JSON
);
CREATE INDEX runs_source_started ON runs (source_id, started_at);

CREATE TABLE payloads (
    sha256       TEXT PRIMARY KEY,           -- SHA-256 of the decoded body
    size         INTEGER NOT NULL,
    compression  TEXT NOT NULL,              -- 'zlib' or 'none'
    data         BLOB NOT NULL
);

CREATE TABLE captures (
    id                  INTEGER PRIMARY KEY,
    run_id              INTEGER REFERENCES runs (id),
    source_id           TEXT,
    kind                TEXT NOT NULL,       -- http, import
    method              TEXT NOT NULL,
    requested_url       TEXT NOT NULL,
    final_url           TEXT,
    redirects           TEXT,                -- JSON list of {url, status, location}
    http_version        TEXT,
    status              INTEGER,             -- NULL when no response was received
    request_headers     TEXT,                -- JSON list of [name, value], secrets redacted
    response_headers    TEXT,                -- JSON list of [name, value] as received
    started_at          TEXT NOT NULL,
    ended_at            TEXT,
    server_ip           TEXT,
    user_agent          TEXT,
    archiver_version    TEXT NOT NULL,
    transferred_sha256  TEXT,                -- body as it crossed the wire (before Content-Encoding)
    transferred_size    INTEGER,
    payload_sha256      TEXT REFERENCES payloads (sha256),
    size                INTEGER,             -- decoded body size
    content_type        TEXT,
    charset             TEXT,
    robots              TEXT,                -- allowed, disallowed, unavailable, not_checked
    revisit_of          INTEGER REFERENCES captures (id),  -- a 304 points at the capture it confirms
    error               TEXT,
    details             TEXT                 -- JSON: truncation, not-before, import file facts, ...
);
CREATE INDEX captures_url ON captures (requested_url, id);
CREATE INDEX captures_source ON captures (source_id, id);
CREATE INDEX captures_payload ON captures (payload_sha256);

CREATE TABLE posts (
    id               INTEGER PRIMARY KEY,
    platform         TEXT NOT NULL,
    native_id        TEXT NOT NULL,
    source_id        TEXT,
    url              TEXT,
    author_id        TEXT,
    author_handle    TEXT,
    author_name      TEXT,
    kind             TEXT NOT NULL DEFAULT 'post',
    published_at     TEXT,                   -- normalised UTC, as the source claims it
    published_raw    TEXT,                   -- the claim as found
    published_where  TEXT,                   -- where it was found (e.g. 'meta[property=article:published_time]')
    first_seen_at    TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'live',   -- live, missing, deleted
    title            TEXT,
    text             TEXT,
    language         TEXT,
    reply_to         TEXT,
    quote_of         TEXT,
    repost_of        TEXT,
    media            TEXT,                   -- JSON list
    tags             TEXT,                   -- JSON list
    version_count    INTEGER NOT NULL DEFAULT 0,
    current_version  INTEGER REFERENCES versions (id),
    publish          INTEGER NOT NULL DEFAULT 1,
    UNIQUE (platform, native_id)
);
CREATE INDEX posts_source_published ON posts (source_id, published_at);
CREATE INDEX posts_published ON posts (published_at);
CREATE INDEX posts_status ON posts (status);

-- When, and in which capture, each post was last seen live. Kept apart from `posts` because it changes
-- on every poll: rewriting a narrow row is cheap, rewriting a post's row (its text spills onto overflow
-- pages) is not. A current view like `posts`; the captures and events behind it are append-only.
CREATE TABLE post_seen (
    post_id          INTEGER PRIMARY KEY REFERENCES posts (id),
    last_seen_at     TEXT NOT NULL,
    last_capture_id  INTEGER REFERENCES captures (id)
);
CREATE INDEX posts_platform ON posts (platform, published_at);

CREATE TABLE versions (
    id                 INTEGER PRIMARY KEY,
    post_id            INTEGER NOT NULL REFERENCES posts (id),
    number             INTEGER NOT NULL,
    canonical_rule     INTEGER NOT NULL,     -- version of the canonicalisation rule (archiver/canonical.py)
    title              TEXT,
    text               TEXT,
    extra              TEXT,                 -- JSON: other content that counts (e.g. Bluesky cid)
    content_sha256     TEXT NOT NULL,
    raw                TEXT,                 -- the post's raw fragment (JSON or HTML) as received
    capture_id         INTEGER REFERENCES captures (id),
    observed_at        TEXT NOT NULL,        -- when the archive saw this content
    claimed_at         TEXT,                 -- when the platform says this version was made
    extractor          TEXT NOT NULL,
    extractor_version  TEXT NOT NULL,
    UNIQUE (post_id, number)
);
CREATE INDEX versions_capture ON versions (capture_id);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    post_id     INTEGER NOT NULL REFERENCES posts (id),
    type        TEXT NOT NULL,               -- first_seen, edited, missing, deleted, restored
    at          TEXT NOT NULL,
    capture_id  INTEGER REFERENCES captures (id),
    version_id  INTEGER REFERENCES versions (id),
    details     TEXT                         -- JSON
);
CREATE INDEX events_post ON events (post_id, id);
CREATE INDEX events_type_at ON events (type, at);

-- One entry per appended row of captures, versions and events, in the order written.
CREATE TABLE chain (
    seq           INTEGER PRIMARY KEY,
    table_name    TEXT NOT NULL,
    row_id        INTEGER NOT NULL,
    row_sha256    TEXT NOT NULL,             -- digest of the row's canonical JSON
    prev_sha256   TEXT NOT NULL,             -- entry_sha256 of the previous entry (64 zeros first)
    entry_sha256  TEXT NOT NULL,
    UNIQUE (table_name, row_id)
);

-- Per-source state the platforms need between runs (cursors, validators); a current view only.
CREATE TABLE source_state (
    source_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (source_id, key)
);

CREATE VIRTUAL TABLE posts_fts USING fts5 (
    title, text, author_handle, author_name,
    content = 'posts', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (rowid, title, text, author_handle, author_name)
    VALUES (new.id, new.title, new.text, new.author_handle, new.author_name);
END;
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, title, text, author_handle, author_name)
    VALUES ('delete', old.id, old.title, old.text, old.author_handle, old.author_name);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF title, text, author_handle, author_name ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, title, text, author_handle, author_name)
    VALUES ('delete', old.id, old.title, old.text, old.author_handle, old.author_name);
    INSERT INTO posts_fts (rowid, title, text, author_handle, author_name)
    VALUES (new.id, new.title, new.text, new.author_handle, new.author_name);
END;

-- Append-only tables refuse UPDATE and DELETE at the SQL level: a bug cannot rewrite evidence.
CREATE TRIGGER captures_append_only_u BEFORE UPDATE ON captures BEGIN
    SELECT RAISE(ABORT, 'captures are append-only');
END;
CREATE TRIGGER captures_append_only_d BEFORE DELETE ON captures BEGIN
    SELECT RAISE(ABORT, 'captures are append-only');
END;
CREATE TRIGGER versions_append_only_u BEFORE UPDATE ON versions BEGIN
    SELECT RAISE(ABORT, 'versions are append-only');
END;
CREATE TRIGGER versions_append_only_d BEFORE DELETE ON versions BEGIN
    SELECT RAISE(ABORT, 'versions are append-only');
END;
CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_append_only_d BEFORE DELETE ON events BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER chain_append_only_u BEFORE UPDATE ON chain BEGIN
    SELECT RAISE(ABORT, 'chain is append-only');
END;
CREATE TRIGGER chain_append_only_d BEFORE DELETE ON chain BEGIN
    SELECT RAISE(ABORT, 'chain is append-only');
END;
CREATE TRIGGER payloads_append_only_u BEFORE UPDATE ON payloads BEGIN
    SELECT RAISE(ABORT, 'payloads are append-only');
END;
CREATE TRIGGER payloads_append_only_d BEFORE DELETE ON payloads BEGIN
    SELECT RAISE(ABORT, 'payloads are append-only');
END;
