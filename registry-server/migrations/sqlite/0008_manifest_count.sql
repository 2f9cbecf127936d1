-- How many manifests each repository holds, kept by triggers on every insert and delete
-- of a manifest (an `INSERT ... ON CONFLICT DO NOTHING` that inserts nothing fires none),
-- so the repository listings (`/v2/_catalog`, `/api/v1/repositories`) read the repositories
-- holding content from one partial index instead of probing `manifests` once per
-- repository on every page and again for its count.
ALTER TABLE repositories ADD COLUMN manifest_count INTEGER NOT NULL DEFAULT 0;
UPDATE repositories SET manifest_count =
    (SELECT COUNT(*) FROM manifests m WHERE m.repository_id = repositories.id);
CREATE INDEX repositories_listed ON repositories(name) WHERE manifest_count > 0;

CREATE TRIGGER manifests_counted_on_insert AFTER INSERT ON manifests
BEGIN
    UPDATE repositories SET manifest_count = manifest_count + 1 WHERE id = NEW.repository_id;
END;

CREATE TRIGGER manifests_counted_on_delete AFTER DELETE ON manifests
BEGIN
    UPDATE repositories SET manifest_count = manifest_count - 1 WHERE id = OLD.repository_id;
END;
