-- Schema version 4: what a published copy leaves out. `archiver snapshot --published-only` and
-- `--without-payloads` remove rows from the copy and name each one here, so that `archiver verify` on the
-- copy tells a declared omission from a missing row (and says how many rows were withheld, and why).
-- The chain entries of withheld rows stay: the copy's chain head is the archive's. Empty in a live archive.
CREATE TABLE withheld (
    table_name  TEXT NOT NULL,               -- captures, versions, events (chained rows) or payloads
    row_key     TEXT NOT NULL,               -- the row's id, or a payload's sha256
    reason      TEXT NOT NULL,
    PRIMARY KEY (table_name, row_key)
);
