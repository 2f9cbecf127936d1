-- One writer per upload session at a time, across every registry process sharing this
-- database: a request claims the session (writer, writer_since) before it touches the bytes
-- and releases it with the new size. A claim older than the lease is abandoned (a crashed
-- process) and may be taken over.
ALTER TABLE uploads ADD COLUMN writer TEXT;
ALTER TABLE uploads ADD COLUMN writer_since TEXT;

-- Readiness writes here: a database that cannot take a write is not ready.
CREATE TABLE health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT NOT NULL
);
