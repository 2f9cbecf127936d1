-- The package catalog behind the JSON API and the web UI: what a package says about
-- itself (wasm metadata sections, the WIT it was built against), one row per interface
-- it imports or exports (search by interface), and the signatures pushed for it with the
-- status the registry found when checking them against the operator's keys.

ALTER TABLE wasm_index ADD COLUMN description TEXT;
ALTER TABLE wasm_index ADD COLUMN licenses TEXT;
ALTER TABLE wasm_index ADD COLUMN source TEXT;
ALTER TABLE wasm_index ADD COLUMN authors TEXT;
ALTER TABLE wasm_index ADD COLUMN wit TEXT;

CREATE TABLE wasm_interfaces (
    repository_id   BIGINT NOT NULL,
    manifest_digest TEXT NOT NULL,
    direction       TEXT NOT NULL CHECK (direction IN ('import', 'export')),
    name            TEXT NOT NULL,  -- as in the world, e.g. wasi:http/incoming-handler@0.2.0
    base            TEXT NOT NULL,  -- without the version: wasi:http/incoming-handler
    PRIMARY KEY (repository_id, manifest_digest, direction, name),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES wasm_index(repository_id, manifest_digest) ON DELETE CASCADE
);
CREATE INDEX wasm_interfaces_by_base ON wasm_interfaces(direction, base);

-- One row per signature layer of a signature manifest (cosign referrer or .sig tag).
CREATE TABLE signatures (
    repository_id    BIGINT NOT NULL,
    signature_digest TEXT NOT NULL,   -- the signature manifest
    layer            BIGINT NOT NULL,
    subject          TEXT NOT NULL,   -- the signed manifest digest, from the payload
    key_id           TEXT,            -- the operator key that verified it, if any
    status           TEXT NOT NULL CHECK (status IN ('verified', 'unverified', 'invalid')),
    detail           TEXT,
    PRIMARY KEY (repository_id, signature_digest, layer),
    FOREIGN KEY (repository_id, signature_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX signatures_by_subject ON signatures(repository_id, subject);
