-- How many manifests each repository holds, kept by a trigger on every insert and delete
-- of a manifest (an `INSERT ... ON CONFLICT DO NOTHING` that inserts nothing fires none),
-- so the repository listings (`/v2/_catalog`, `/api/v1/repositories`) read the repositories
-- holding content from one partial index instead of probing `manifests` once per
-- repository on every page and again for its count. The increment takes the repository's
-- row lock; writers change one repository each, and garbage collection runs alone under
-- its exclusive advisory lock, so no two transactions take two such locks in opposite order.
ALTER TABLE repositories ADD COLUMN manifest_count BIGINT NOT NULL DEFAULT 0;
UPDATE repositories SET manifest_count =
    (SELECT COUNT(*) FROM manifests m WHERE m.repository_id = repositories.id);
CREATE INDEX repositories_listed ON repositories(name) WHERE manifest_count > 0;

CREATE FUNCTION count_manifests() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE repositories SET manifest_count = manifest_count + 1 WHERE id = NEW.repository_id;
    ELSE
        UPDATE repositories SET manifest_count = manifest_count - 1 WHERE id = OLD.repository_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER manifests_counted AFTER INSERT OR DELETE ON manifests
    FOR EACH ROW EXECUTE FUNCTION count_manifests();
