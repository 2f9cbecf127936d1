-- When each tag of a mirrored repository was last checked against its upstream: a tag is
-- served from here until it is older than the mirror's tag-ttl, then checked again.
CREATE TABLE mirror_tags (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    tag           TEXT NOT NULL,
    checked_at    TEXT NOT NULL,
    PRIMARY KEY (repository_id, tag)
);
