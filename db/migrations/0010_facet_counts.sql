-- Schema version 10: facet counts of a published copy. A snapshot is immutable, so the counts a reader's
-- `?_facet=` asks of a whole table can be counted once, when the copy is made (`archiver snapshot`), and be
-- exact for as long as it is served; the face reads them instead of grouping a million rows per page.
-- Empty in a live archive, whose counts change with every poll.
CREATE TABLE facet_counts (
    table_name   TEXT NOT NULL,
    column_name  TEXT NOT NULL,
    value        NOT NULL,              -- as the column holds it (no affinity: a text stays a text)
    count        INTEGER NOT NULL,
    PRIMARY KEY (table_name, column_name, value)
) WITHOUT ROWID;
