-- Schema version 5 (integrity): everything a reader sees is either a chained row or rebuilt from chained
-- rows by `archiver verify` (docs/evidence-model.md, "What verify rebuilds").

-- The post-level facts a version was seen with (URL, author, published_at and where it was found, kind,
-- reply/quote/repost, media, tags, publish flag, and the identity owner): JSON, chained with the version,
-- so `posts` can be rebuilt from `versions` and `events`. NULL in versions written before schema 5.
ALTER TABLE versions ADD COLUMN facts TEXT;
-- who may add to this post: the origin (scheme://host) for web kinds, the account for social kinds and
-- imports (docs/evidence-model.md, "Identity"). A current view: the first version's facts hold it.
ALTER TABLE posts ADD COLUMN owner TEXT;

-- Every definition a source has had: appended by each configuration sync that changes it (chained);
-- `sources` is the current view, rebuilt from the latest row per source.
CREATE TABLE source_versions (
    id            INTEGER PRIMARY KEY,
    source_id     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    locator       TEXT NOT NULL,
    name          TEXT,
    organisation  TEXT,
    role          TEXT,
    country       TEXT,
    schedule      TEXT,
    options       TEXT,
    enabled       INTEGER NOT NULL,
    publish       INTEGER NOT NULL,
    at            TEXT NOT NULL
);
CREATE INDEX source_versions_source ON source_versions (source_id, id);

-- How each run ended, appended when it ends (chained): deleting a run or erasing the chain head a
-- verify run recorded is a difference between `runs` and these rows.
CREATE TABLE run_outcomes (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL,
    source_id   TEXT,
    kind        TEXT NOT NULL,
    scheduled_at TEXT,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    outcome     TEXT NOT NULL,
    error       TEXT,
    n_captures  INTEGER NOT NULL,
    n_new       INTEGER NOT NULL,
    n_edited    INTEGER NOT NULL,
    n_deleted   INTEGER NOT NULL,
    details     TEXT
);
CREATE INDEX run_outcomes_run ON run_outcomes (run_id, id);

-- Which posts one capture showed (one row per parsed page, chained): `post_seen` is rebuilt from these.
CREATE TABLE sightings (
    id          INTEGER PRIMARY KEY,
    capture_id  INTEGER NOT NULL REFERENCES captures (id),
    at          TEXT NOT NULL,
    post_ids    TEXT NOT NULL               -- JSON list of posts.id, in page order
);

-- A source showed an item under an identity another owner holds: recorded here, archived as a separate
-- post (native_id qualified by its owner), never as an edit of the other post.
CREATE TABLE identity_conflicts (
    id             INTEGER PRIMARY KEY,
    platform       TEXT NOT NULL,
    native_id      TEXT NOT NULL,           -- the identity both claim
    post_id        INTEGER NOT NULL REFERENCES posts (id),   -- the post that holds it
    owner          TEXT,                    -- its owner
    other_post_id  INTEGER NOT NULL REFERENCES posts (id),   -- the separate post made for the claimant
    other_owner    TEXT,
    source_id      TEXT,                    -- the claimant's source
    capture_id     INTEGER REFERENCES captures (id),
    at             TEXT NOT NULL
);
CREATE INDEX identity_conflicts_post ON identity_conflicts (post_id);

-- A published copy, recorded in the archive it was taken from (chained, the copy's last chain entry):
-- what it withholds (digest of the sorted withheld list), why, and at which chain head.
CREATE TABLE publications (
    id              INTEGER PRIMARY KEY,
    at              TEXT NOT NULL,
    head_seq        INTEGER NOT NULL,
    head_sha256     TEXT NOT NULL,
    options         TEXT NOT NULL,          -- JSON: published_only, without_payloads
    withheld_count  INTEGER NOT NULL,
    withheld_sha256 TEXT NOT NULL,
    reasons         TEXT                    -- JSON list of the reasons given
);

CREATE TRIGGER source_versions_append_only_u BEFORE UPDATE ON source_versions BEGIN
    SELECT RAISE(ABORT, 'source_versions are append-only');
END;
CREATE TRIGGER source_versions_append_only_d BEFORE DELETE ON source_versions BEGIN
    SELECT RAISE(ABORT, 'source_versions are append-only');
END;
CREATE TRIGGER run_outcomes_append_only_u BEFORE UPDATE ON run_outcomes BEGIN
    SELECT RAISE(ABORT, 'run_outcomes are append-only');
END;
CREATE TRIGGER run_outcomes_append_only_d BEFORE DELETE ON run_outcomes BEGIN
    SELECT RAISE(ABORT, 'run_outcomes are append-only');
END;
CREATE TRIGGER sightings_append_only_u BEFORE UPDATE ON sightings BEGIN
    SELECT RAISE(ABORT, 'sightings are append-only');
END;
CREATE TRIGGER sightings_append_only_d BEFORE DELETE ON sightings BEGIN
    SELECT RAISE(ABORT, 'sightings are append-only');
END;
CREATE TRIGGER identity_conflicts_append_only_u BEFORE UPDATE ON identity_conflicts BEGIN
    SELECT RAISE(ABORT, 'identity_conflicts are append-only');
END;
CREATE TRIGGER identity_conflicts_append_only_d BEFORE DELETE ON identity_conflicts BEGIN
    SELECT RAISE(ABORT, 'identity_conflicts are append-only');
END;
CREATE TRIGGER publications_append_only_u BEFORE UPDATE ON publications BEGIN
    SELECT RAISE(ABORT, 'publications are append-only');
END;
CREATE TRIGGER publications_append_only_d BEFORE DELETE ON publications BEGIN
    SELECT RAISE(ABORT, 'publications are append-only');
END;
