-- Referrers need each manifest's annotations; garbage collection needs to know when a
-- blob link was last relied upon (a HEAD by a client that then skips the upload).

ALTER TABLE manifests ADD COLUMN annotations TEXT;  -- JSON object, or NULL
UPDATE manifests SET annotations = json_extract(CAST(content AS TEXT), '$.annotations')
    WHERE json_valid(CAST(content AS TEXT));

ALTER TABLE repository_blobs ADD COLUMN last_used_at TEXT;
UPDATE repository_blobs SET last_used_at = created_at;

CREATE INDEX manifest_references_by_child ON manifest_references(repository_id, child_digest);
