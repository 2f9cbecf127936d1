-- One row per package with its latest version (see the SQLite migration). Names sort by
-- bytes, as everywhere else (0004).
CREATE TABLE package_summary (
    repository_id   BIGINT PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    name            TEXT COLLATE "C" NOT NULL,
    tag             TEXT COLLATE "C" NOT NULL,
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
    repository_id   BIGINT NOT NULL REFERENCES package_summary(repository_id) ON DELETE CASCADE,
    direction       TEXT NOT NULL CHECK (direction IN ('import', 'export')),
    name            TEXT COLLATE "C" NOT NULL,
    base            TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repository_id, direction, name)
);
CREATE INDEX package_interfaces_by_base ON package_interfaces(direction, base);
CREATE INDEX package_interfaces_by_name ON package_interfaces(direction, name);
