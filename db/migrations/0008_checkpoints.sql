-- Schema version 8: the transparency log (docs/evidence-model.md, "The transparency log"). The Merkle
-- tree over the chain is derived from `chain`; what is recorded here is what was signed and when.
-- The three evidence tables are chained (archiver/archive.py CHAINED) and append-only.

-- A checkpoint signing key's public half, appended when the key first signs. The private key never
-- enters the archive: it is a file kept beside it (`archiver init --key`).
CREATE TABLE checkpoint_keys (
    id          INTEGER PRIMARY KEY,
    key_name    TEXT NOT NULL,               -- the signed-note key name, also the checkpoints' origin line
    key_id      TEXT NOT NULL,               -- 8 hex digits: SHA-256(name || 0x0A || 0x01 || public key)[:4]
    public_key  TEXT NOT NULL UNIQUE,        -- verifier key: <name>+<key id>+base64(0x01 || Ed25519 public key)
    created_at  TEXT NOT NULL
);

-- One signed checkpoint (C2SP tlog-checkpoint): the tree of the first `tree_size` chain entries.
CREATE TABLE checkpoints (
    id          INTEGER PRIMARY KEY,
    tree_size   INTEGER NOT NULL,
    root_hash   TEXT NOT NULL,               -- hex; the note carries it in base64
    note        TEXT NOT NULL,               -- the signed note exactly as written to the checkpoint file
    created_at  TEXT NOT NULL
);

-- An RFC 3161 timestamp over a checkpoint's note, as the timestamp authority answered it.
CREATE TABLE checkpoint_timestamps (
    id             INTEGER PRIMARY KEY,
    checkpoint_id  INTEGER NOT NULL REFERENCES checkpoints (id),
    tsa_url        TEXT NOT NULL,
    response       BLOB NOT NULL,            -- DER TimeStampResp (status and token)
    gen_time       TEXT NOT NULL,            -- the authority's time, UTC
    created_at     TEXT NOT NULL
);

-- Hashes of complete subtrees of 2^8 leaves and more: a cache derived from `chain`, filled when a
-- checkpoint is taken, so a proof reads O(log n) rows. Never evidence: verify recomputes it.
CREATE TABLE tree_nodes (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

CREATE TRIGGER checkpoint_keys_append_only_u BEFORE UPDATE ON checkpoint_keys BEGIN
    SELECT RAISE(ABORT, 'checkpoint_keys are append-only');
END;
CREATE TRIGGER checkpoint_keys_append_only_d BEFORE DELETE ON checkpoint_keys BEGIN
    SELECT RAISE(ABORT, 'checkpoint_keys are append-only');
END;
CREATE TRIGGER checkpoints_append_only_u BEFORE UPDATE ON checkpoints BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
CREATE TRIGGER checkpoints_append_only_d BEFORE DELETE ON checkpoints BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
CREATE TRIGGER checkpoint_timestamps_append_only_u BEFORE UPDATE ON checkpoint_timestamps BEGIN
    SELECT RAISE(ABORT, 'checkpoint_timestamps are append-only');
END;
CREATE TRIGGER checkpoint_timestamps_append_only_d BEFORE DELETE ON checkpoint_timestamps BEGIN
    SELECT RAISE(ABORT, 'checkpoint_timestamps are append-only');
END;
