-- An upload session carries its whole state (see the SQLite migration of the same name).
ALTER TABLE uploads ADD COLUMN hash_state BYTEA;
ALTER TABLE uploads ADD COLUMN storage_state TEXT;
