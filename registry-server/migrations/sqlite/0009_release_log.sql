-- The release log (wharf_sign::log): one entry per tag publication, move, deletion and
-- yank, appended in the transaction that makes the change, numbered from 0 without gaps;
-- the Merkle tree's stored hashes (Go sumdb/tlog's layout: stored_hash_index) beside it;
-- and the log's signing key (a C2SP signed-note Ed25519 key), created once and shared by
-- every instance of the registry.
CREATE TABLE release_log (
    idx     INTEGER PRIMARY KEY,
    entry   BLOB NOT NULL
);
CREATE TABLE release_log_hashes (
    idx     INTEGER PRIMARY KEY,
    hash    BLOB NOT NULL
);
CREATE TABLE release_log_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    private_key TEXT NOT NULL,
    verifier    TEXT NOT NULL
);
