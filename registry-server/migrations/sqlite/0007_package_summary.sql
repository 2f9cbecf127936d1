-- One row per package (a repository with at least one tagged Wasm manifest): its latest
-- version by the one rule of `store::latest_version` (the highest semver tag not yanked,
-- else the most recently set Wasm tag) and what that version says about itself. The store
-- rewrites a repository's row in the same transaction as every change to its manifests or
-- tags, so listing and searching the catalog read one row per package instead of ranking
-- every tag of every repository on each request. Filled for existing databases at open.
CREATE TABLE package_summary (
    repository_id   INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    tag             TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    description     TEXT,
    target          TEXT
);
CREATE INDEX package_summary_by_name ON package_summary(name);
CREATE INDEX package_summary_by_update ON package_summary(updated_at, name);

-- The interfaces the latest version of each package imports and exports (its rows of
-- wasm_interfaces), so a search by interface reads one small table once.
CREATE TABLE package_interfaces (
    repository_id   INTEGER NOT NULL REFERENCES package_summary(repository_id) ON DELETE CASCADE,
    direction       TEXT NOT NULL CHECK (direction IN ('import', 'export')),
    name            TEXT NOT NULL,
    base            TEXT NOT NULL,
    PRIMARY KEY (repository_id, direction, name)
);
CREATE INDEX package_interfaces_by_base ON package_interfaces(direction, base);
CREATE INDEX package_interfaces_by_name ON package_interfaces(direction, name);
