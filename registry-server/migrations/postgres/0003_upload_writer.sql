-- One writer per upload session at a time (see the SQLite migration of the same name).
ALTER TABLE uploads ADD COLUMN writer TEXT;
ALTER TABLE uploads ADD COLUMN writer_since TEXT;

-- Readiness writes here: a database that cannot take a write is not ready.
CREATE TABLE health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT NOT NULL
);
