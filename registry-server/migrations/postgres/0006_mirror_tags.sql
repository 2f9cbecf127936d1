-- When each tag of a mirrored repository was last checked (see the SQLite migration).
CREATE TABLE mirror_tags (
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    tag           TEXT COLLATE "C" NOT NULL,
    checked_at    TEXT NOT NULL,
    PRIMARY KEY (repository_id, tag)
);
