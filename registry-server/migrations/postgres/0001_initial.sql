-- wharf-registry metadata, PostgreSQL. The same model as migrations/sqlite (0001 + 0002):
-- the database is the one source of truth for repositories, manifests, tags, upload
-- sessions and blob membership. Times are RFC 3339 UTC text, as in SQLite, so garbage
-- collection compares them the same way on both.

CREATE TABLE repositories (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE blobs (
    digest      TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest        TEXT NOT NULL REFERENCES blobs(digest),
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    PRIMARY KEY (repository_id, digest)
);

CREATE TABLE manifests (
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    artifact_type TEXT,
    subject       TEXT,
    size          BIGINT NOT NULL,
    content       BYTEA NOT NULL,
    annotations   TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX manifests_by_subject ON manifests(repository_id, subject);

CREATE TABLE manifest_references (
    repository_id   BIGINT NOT NULL,
    manifest_digest TEXT NOT NULL,
    child_digest    TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
    PRIMARY KEY (repository_id, manifest_digest, child_digest),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_references_by_child ON manifest_references(repository_id, child_digest);

CREATE TABLE tags (
    repository_id   BIGINT NOT NULL,
    name            TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);

CREATE TABLE uploads (
    id            TEXT PRIMARY KEY,
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    size          BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE wasm_index (
    repository_id   BIGINT NOT NULL,
    manifest_digest TEXT NOT NULL,
    kind            TEXT NOT NULL,
    target          TEXT,
    package         TEXT,
    imports         TEXT NOT NULL,
    exports         TEXT NOT NULL,
    layer_digest    TEXT NOT NULL,
    layer_size      BIGINT NOT NULL,
    PRIMARY KEY (repository_id, manifest_digest),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
