-- An upload session carries its whole state, so any registry instance can continue any
-- upload: the running hash (wharf_oci::DigestHasher::save, created with the session in the
-- algorithm it asked for) and the blob store's own state (object storage: the multipart
-- upload, its parts and the tail not yet a part), opaque text to the metadata store.
ALTER TABLE uploads ADD COLUMN hash_state BLOB;
ALTER TABLE uploads ADD COLUMN storage_state TEXT;
