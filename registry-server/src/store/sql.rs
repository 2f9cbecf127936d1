//! The one implementation of [`Store`](super::Store) over SQL, for SQLite and PostgreSQL.
//!
//! Every statement is written once, in portable SQL: `$n` placeholders numbered in order of
//! first use (SQLite binds them by position too), `CAST` instead of `::`, explicit
//! `ON CONFLICT` targets, and no `COLLATE` clause: names sort by bytes on both (SQLite's
//! default `BINARY`; PostgreSQL's columns are declared `COLLATE "C"`, migration 0004), so
//! pages of tags and repositories come in the same order whichever database serves them.
//! Rows decode into the `FromRow` records below. [`impl_store!`] expands the trait
//! implementation for a backend type, which provides only its pool, `write()` (a
//! transaction holding the backend's write lock) and `write_exclusive()` (the lock that
//! keeps writers out during a garbage-collection pass).

use wharf_oci::Descriptor;

use super::{
    CatalogRow, SignatureRecord, SignatureStatus, StoreError, StoredManifest, TagRow, Visibility,
    WasmIndexEntry, digest_of, kind_of, parsed, timestamp_of,
};

/// The statements (binds in the order of their `$n`).
/// The select list and joins of a tag with what it points at (`yank` left empty), shared by
/// `q::TAG_DETAILS_BY_ID` and `q::TAG_DETAIL_BY_NAME`, which add their `WHERE`.
macro_rules! tag_detail_select {
    () => {
        "SELECT t.name AS tag, t.manifest_digest AS digest, t.updated_at, m.media_type, \
        m.artifact_type, m.size, w.kind, \
        CAST(NULL AS TEXT) AS yank \
        FROM tags t \
        JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
        LEFT JOIN wasm_index w ON w.repository_id = t.repository_id AND w.manifest_digest = t.manifest_digest"
    };
}

pub(super) mod q {
    /// Create repository `$1` at time `$2` unless it exists.
    pub const UPSERT_REPOSITORY: &str =
        "INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
    /// A repository's id; binds its name.
    pub const REPOSITORY_ID: &str = "SELECT id FROM repositories WHERE name = $1";
    /// Record a committed blob: digest, size, time.
    pub const INSERT_BLOB: &str = "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) \
        ON CONFLICT (digest) DO NOTHING";
    /// Link a blob to a repository: repository id, digest, time.
    pub const LINK_BLOB: &str = "INSERT INTO repository_blobs (repository_id, digest, created_at, last_used_at) \
        VALUES ($1, $2, $3, $3) \
        ON CONFLICT (repository_id, digest) DO UPDATE SET last_used_at = excluded.last_used_at";
    /// Size of a blob a repository may serve: repository name, digest.
    pub const REPOSITORY_BLOB: &str = "SELECT b.size FROM repository_blobs rb \
        JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest \
        WHERE r.name = $1 AND rb.digest = $2";
    /// Whether a repository holds a blob: repository id, digest.
    pub const IS_LINKED: &str =
        "SELECT CAST(1 AS BIGINT) FROM repository_blobs WHERE repository_id = $1 AND digest = $2";
    /// Open an upload session: id, repository id, time, hash state.
    pub const CREATE_UPLOAD: &str = "INSERT INTO uploads (id, repository_id, size, created_at, updated_at, hash_state) \
        VALUES ($1, $2, 0, $3, $3, $4)";
    /// Close an upload session: id.
    pub const DELETE_UPLOAD: &str = "DELETE FROM uploads WHERE id = $1";
    /// Claim an upload session: writer, time, id, repository name, stale-before time.
    pub const CLAIM_UPLOAD: &str = "UPDATE uploads SET writer = $1, writer_since = $2 \
        WHERE id = $3 AND repository_id = (SELECT id FROM repositories WHERE name = $4) \
        AND (writer IS NULL OR writer_since < $5) RETURNING size, hash_state, storage_state";
    /// The recorded size of an upload session: id, repository name.
    pub const UPLOAD_SIZE: &str = "SELECT u.size FROM uploads u JOIN repositories r ON r.id = u.repository_id \
        WHERE u.id = $1 AND r.name = $2";
    /// Release a claim: size reached, time, id, writer, hash state, storage state.
    pub const RELEASE_UPLOAD: &str = "UPDATE uploads SET writer = NULL, writer_since = NULL, size = $1, updated_at = $2, \
        hash_state = $5, storage_state = $6 WHERE id = $3 AND writer = $4";
    /// One write, for readiness: time.
    pub const HEALTH: &str = "INSERT INTO health (id, checked_at) VALUES (1, $1) \
        ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at";
    /// Store a manifest: repository id, digest, media type, artifact type, subject, size,
    /// content, annotations (JSON), time.
    pub const INSERT_MANIFEST: &str = "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject, size, content, annotations, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (repository_id, digest) DO NOTHING";
    /// A manifest's reference to a blob or manifest: repository id, digest, child, kind.
    pub const INSERT_REFERENCE: &str = "INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind) \
        VALUES ($1, $2, $3, $4) ON CONFLICT (repository_id, manifest_digest, child_digest) DO NOTHING";
    /// Point a tag at a manifest: repository id, tag, digest, time.
    pub const SET_TAG: &str = "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES ($1, $2, $3, $4) \
        ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at";
    /// A manifest by digest: repository name, digest.
    pub const MANIFEST_BY_DIGEST: &str = "SELECT m.digest, m.media_type, m.content FROM manifests m \
        JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2";
    /// A manifest by tag: repository name, tag.
    pub const MANIFEST_BY_TAG: &str = "SELECT m.digest, m.media_type, m.content FROM tags t \
        JOIN repositories r ON r.id = t.repository_id \
        JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
        WHERE r.name = $1 AND t.name = $2";
    /// Whether a manifest exists: repository name, digest.
    pub const HAS_MANIFEST: &str = "SELECT CAST(1 AS BIGINT) FROM manifests m \
        JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2";
    /// A page of tags: repository id, last, n.
    pub const TAGS: &str =
        "SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3";
    /// Repositories holding a manifest after `$1`, before the visibility condition, order
    /// and limit.
    /// (`manifest_count` is kept by triggers; see migration 0008.)
    pub const REPOSITORIES: &str =
        "SELECT r.name FROM repositories r WHERE r.name > $1 AND r.manifest_count > 0";
    /// Mark a blob link used: time, digest, stale-before time, repository name.
    pub const TOUCH_BLOB: &str = "UPDATE repository_blobs SET last_used_at = $1 WHERE digest = $2 AND last_used_at < $3 \
        AND repository_id = (SELECT id FROM repositories WHERE name = $4)";
    /// The columns of a catalog row (see [`CATALOG_FROM`]).
    pub const CATALOG_COLUMNS: &str = "s.name AS repository, s.tag, s.manifest_digest AS digest, \
        s.updated_at, s.kind, s.description, s.target";
    /// Catalog rows (one per package, from its summary) matching the text search, before
    /// the interface and visibility conditions; binds text flag, text pattern. Both the page
    /// and its count select from it.
    pub const CATALOG_FROM: &str = "FROM package_summary s WHERE \
        ($1 = '' OR LOWER(s.name) LIKE $2 OR LOWER(COALESCE(s.description, '')) LIKE $2)";
    /// Repositories holding a manifest, before the visibility condition (read from the
    /// partial index `repositories_listed`).
    pub const REPOSITORY_FROM: &str = "FROM repositories r WHERE r.manifest_count > 0";
    /// Tags of a repository with what they point at, by name (`yank` left empty: see
    /// [`YANK_MARKS`] and [`super::attach_yanks`]); binds repository id.
    pub const TAG_DETAILS_BY_ID: &str = concat!(
        tag_detail_select!(),
        " WHERE t.repository_id = $1 ORDER BY t.name"
    );
    /// One tag of a repository with what it points at, as [`TAG_DETAILS_BY_ID`] lists
    /// them; binds repository id, tag.
    pub const TAG_DETAIL_BY_NAME: &str = concat!(
        tag_detail_select!(),
        " WHERE t.repository_id = $1 AND t.name = $2"
    );
    /// The tag a package's summary names as its latest version; binds repository id.
    pub const SUMMARY_TAG: &str = "SELECT tag FROM package_summary WHERE repository_id = $1";
    /// The yank marks of a repository, newest first: subject and annotations; binds
    /// repository id, yank artifact type.
    pub const YANK_MARKS: &str = "SELECT y.subject, y.annotations FROM manifests y \
        WHERE y.repository_id = $1 AND y.artifact_type = $2 AND y.subject IS NOT NULL \
        ORDER BY y.created_at DESC, y.digest";
    /// Point a package's summary at its latest version; binds repository id, tag.
    pub const SET_SUMMARY: &str = "INSERT INTO package_summary \
        (repository_id, name, tag, manifest_digest, updated_at, kind, description, target) \
        SELECT r.id, r.name, t.name, t.manifest_digest, t.updated_at, w.kind, w.description, w.target \
        FROM repositories r JOIN tags t ON t.repository_id = r.id \
        JOIN wasm_index w ON w.repository_id = t.repository_id AND w.manifest_digest = t.manifest_digest \
        WHERE r.id = $1 AND t.name = $2 \
        ON CONFLICT (repository_id) DO UPDATE SET name = excluded.name, tag = excluded.tag, \
        manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at, kind = excluded.kind, \
        description = excluded.description, target = excluded.target";
    /// The manifest a tag points at; binds repository id, tag.
    pub const TAG_TARGET: &str =
        "SELECT manifest_digest FROM tags WHERE repository_id = $1 AND name = $2";
    /// Entries in the release log (its next index).
    pub const LOG_SIZE: &str = "SELECT COALESCE(MAX(idx) + 1, 0) FROM release_log";
    /// Append a release log entry: index, bytes.
    pub const INSERT_LOG_ENTRY: &str = "INSERT INTO release_log (idx, entry) VALUES ($1, $2)";
    /// Store a release log tree hash: stored-hash index, hash.
    pub const INSERT_LOG_HASH: &str = "INSERT INTO release_log_hashes (idx, hash) VALUES ($1, $2)";
    /// A release log tree hash by stored-hash index.
    pub const LOG_HASH: &str = "SELECT hash FROM release_log_hashes WHERE idx = $1";
    /// Release log entries in `[$1, $2)`.
    pub const LOG_ENTRIES: &str =
        "SELECT entry FROM release_log WHERE idx >= $1 AND idx < $2 ORDER BY idx";
    /// The release log's key.
    pub const LOG_KEY: &str = "SELECT private_key, verifier FROM release_log_key WHERE id = 1";
    /// Create the release log's key unless one exists: private key, verifier key.
    pub const INSERT_LOG_KEY: &str = "INSERT INTO release_log_key (id, private_key, verifier) VALUES (1, $1, $2) \
        ON CONFLICT (id) DO NOTHING";
    /// Forget the interfaces of a package's latest version; binds repository id.
    pub const DELETE_SUMMARY_INTERFACES: &str =
        "DELETE FROM package_interfaces WHERE repository_id = $1";
    /// Copy the interfaces of a package's latest version from its index; binds repository
    /// id.
    pub const SET_SUMMARY_INTERFACES: &str = "INSERT INTO package_interfaces (repository_id, direction, name, base) \
        SELECT i.repository_id, i.direction, i.name, i.base FROM wasm_interfaces i \
        JOIN package_summary s ON s.repository_id = i.repository_id AND s.manifest_digest = i.manifest_digest \
        WHERE s.repository_id = $1";
    /// Drop a package's summary (no Wasm tag left); binds repository id.
    pub const DELETE_SUMMARY: &str = "DELETE FROM package_summary WHERE repository_id = $1";
    /// Repositories with a Wasm tag but no summary (databases from before the summary).
    pub const MISSING_SUMMARIES: &str = "SELECT DISTINCT t.repository_id FROM tags t \
        JOIN wasm_index w ON w.repository_id = t.repository_id AND w.manifest_digest = t.manifest_digest \
        WHERE NOT EXISTS (SELECT 1 FROM package_summary s WHERE s.repository_id = t.repository_id)";
    /// Signatures of a subject; binds repository name, subject digest.
    pub const SIGNATURES: &str = "SELECT s.signature_digest, s.layer, s.subject, s.key_id, s.status, s.detail \
        FROM signatures s JOIN repositories r ON r.id = s.repository_id \
        WHERE r.name = $1 AND s.subject = $2 ORDER BY s.signature_digest, s.layer";
    /// Per subject of a repository: its signatures and how many are verified; binds
    /// repository name.
    pub const SIGNATURE_COUNTS: &str = "SELECT s.subject, COUNT(*) AS total, \
        SUM(CASE WHEN s.status = 'verified' THEN 1 ELSE 0 END) AS verified \
        FROM signatures s JOIN repositories r ON r.id = s.repository_id \
        WHERE r.name = $1 GROUP BY s.subject";
    /// The wasm index entry of a manifest; binds repository name, digest.
    pub const WASM_ENTRY: &str = "SELECT w.kind, w.target, w.package, w.imports, w.exports, w.layer_digest, w.layer_size, \
        w.description, w.licenses, w.source, w.authors, w.wit FROM wasm_index w \
        JOIN repositories r ON r.id = w.repository_id WHERE r.name = $1 AND w.manifest_digest = $2";
    /// Insert an index entry; binds 14 values.
    pub const INSERT_WASM: &str = "INSERT INTO wasm_index (repository_id, manifest_digest, kind, target, package, imports, exports, \
        layer_digest, layer_size, description, licenses, source, authors, wit) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
    /// Insert an interface row; binds repository id, digest, direction, name, base.
    pub const INSERT_INTERFACE: &str = "INSERT INTO wasm_interfaces (repository_id, manifest_digest, direction, name, base) \
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repository_id, manifest_digest, direction, name) DO NOTHING";
    /// Insert a signature row; binds repository id, signature digest, layer, subject, key id, status, detail.
    pub const INSERT_SIGNATURE: &str = "INSERT INTO signatures (repository_id, signature_digest, layer, subject, key_id, status, detail) \
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (repository_id, signature_digest, layer) DO NOTHING";
    /// Referrers of a subject; binds repository name, subject, artifact type (or NULL).
    pub const REFERRERS: &str = "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations FROM manifests m \
        JOIN repositories r ON r.id = m.repository_id \
        WHERE r.name = $1 AND m.subject = $2 AND (CAST($3 AS TEXT) IS NULL OR m.artifact_type = $3) \
        ORDER BY m.created_at, m.digest";
    /// Delete a tag; binds repository id, tag.
    pub const DELETE_TAG_BY_ID: &str = "DELETE FROM tags WHERE repository_id = $1 AND name = $2";
    /// A manifest referencing a blob; binds repository id, blob digest.
    pub const BLOB_USER: &str = "SELECT manifest_digest FROM manifest_references \
        WHERE repository_id = $1 AND child_digest = $2 AND kind = 'blob' LIMIT 1";
    /// Remove a blob link; binds repository id, blob digest.
    pub const UNLINK_BLOB: &str =
        "DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2";
    /// Manifests no tag, index or present subject keeps, created before `$1`.
    pub const GC_UNKEPT_MANIFESTS: &str = "SELECT m.repository_id, r.name, m.digest FROM manifests m \
        JOIN repositories r ON r.id = m.repository_id \
        WHERE m.created_at < $1 \
        AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest) \
        AND NOT EXISTS (SELECT 1 FROM manifest_references x WHERE x.repository_id = m.repository_id \
                        AND x.child_digest = m.digest AND x.kind = 'manifest') \
        AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s \
                        WHERE s.repository_id = m.repository_id AND s.digest = m.subject))";
    /// Delete a manifest by repository id and digest.
    pub const GC_DELETE_MANIFEST: &str =
        "DELETE FROM manifests WHERE repository_id = $1 AND digest = $2";
    /// Blob links no manifest of the repository references, unused since `$1`.
    pub const GC_UNUSED_LINKS: &str = "SELECT rb.repository_id, r.name, rb.digest FROM repository_blobs rb \
        JOIN repositories r ON r.id = rb.repository_id \
        WHERE COALESCE(rb.last_used_at, rb.created_at) < $1 \
        AND NOT EXISTS (SELECT 1 FROM manifest_references x WHERE x.repository_id = rb.repository_id \
                        AND x.child_digest = rb.digest AND x.kind = 'blob')";
    /// Blobs no repository holds, created before `$1`.
    pub const GC_UNHELD_BLOBS: &str = "SELECT b.digest FROM blobs b WHERE b.created_at < $1 AND NOT EXISTS \
        (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)";
    /// How many repositories hold a blob: digest.
    pub const COUNT_LINKS: &str = "SELECT COUNT(*) FROM repository_blobs WHERE digest = $1";
    /// Delete a blob row: digest.
    pub const DELETE_BLOB: &str = "DELETE FROM blobs WHERE digest = $1";
    /// Upload sessions not written to since `$1`, with their storage state.
    pub const EXPIRED_UPLOADS: &str = "SELECT id, storage_state FROM uploads WHERE updated_at < $1";
    /// Delete them.
    pub const DELETE_EXPIRED_UPLOADS: &str = "DELETE FROM uploads WHERE updated_at < $1";
    /// Counts for metrics.
    pub const USAGE: &str = "SELECT (SELECT COUNT(DISTINCT repository_id) FROM manifests) AS repositories, \
        (SELECT COUNT(*) FROM manifests) AS manifests, (SELECT COUNT(*) FROM blobs) AS blobs, \
        (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs) AS blob_bytes, \
        (SELECT COUNT(*) FROM uploads) AS uploads";
    /// When a mirrored tag was checked: repository name, tag.
    pub const MIRROR_CHECKED: &str = "SELECT m.checked_at FROM mirror_tags m \
        JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.tag = $2";
    /// Record a check of a mirrored tag: repository id, tag, time.
    pub const SET_MIRROR_CHECKED: &str = "INSERT INTO mirror_tags (repository_id, tag, checked_at) \
        VALUES ($1, $2, $3) ON CONFLICT (repository_id, tag) DO UPDATE SET checked_at = excluded.checked_at";
    /// Bytes of the blobs held under a prefix: prefix, its length + 1, prefix + `/`.
    pub const PREFIX_USAGE: &str = "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b \
        WHERE EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id \
        WHERE rb.digest = b.digest AND ($1 = '' OR r.name = $1 OR substr(r.name, 1, CAST($2 AS INTEGER)) = $3))";
    /// Whether a repository under a prefix holds a blob: prefix, its length + 1, prefix +
    /// `/`, digest.
    pub const PREFIX_HOLDS: &str = "SELECT CAST(1 AS BIGINT) FROM repository_blobs rb \
        JOIN repositories r ON r.id = rb.repository_id WHERE rb.digest = $4 \
        AND ($1 = '' OR r.name = $1 OR substr(r.name, 1, CAST($2 AS INTEGER)) = $3) LIMIT 1";
    /// Prefix of the batched lookups of [`super::Store::known`]: `… IN (` + binds + `)`.
    pub const KNOWN_BLOBS: &str = "SELECT digest FROM blobs WHERE digest IN (";
    /// See [`KNOWN_BLOBS`].
    pub const KNOWN_UPLOADS: &str = "SELECT id FROM uploads WHERE id IN (";
}

/// Most values bound in one `IN (…)` lookup (SQLite allows 32,766 parameters, PostgreSQL
/// 65,535; a smaller batch keeps each statement cheap).
pub(super) const BATCH: usize = 500;

/// A test on column `c` of `package_interfaces` with binds `$a` (and `$b`).
type ColumnTest = fn(c: &str, a: usize, b: usize) -> String;

/// The SQL condition ` AND …` that keeps the packages whose latest version has an
/// interface on side `direction` matching `glob` (`*` matches anything; compared with the
/// name with and without version), with its text binds numbered from `$first`. A glob
/// without `*` is an equality and one ending in its only `*` a byte range, both answered
/// from the `(direction, base)` and `(direction, name)` indexes; any other glob is a LIKE.
pub(super) fn interface_condition(
    direction: &str,
    glob: &str,
    first: usize,
) -> (String, Vec<String>) {
    let glob = glob.to_lowercase();
    let d = first;
    let stars = glob.matches('*').count();
    let prefix = glob
        .strip_suffix('*')
        .filter(|p| stars == 1 && !p.is_empty());
    let upper = prefix.and_then(|p| {
        let last = *p.as_bytes().last()?;
        (last < 0x7f).then(|| format!("{}{}", &p[..p.len() - 1], char::from(last + 1)))
    });
    // one SELECT per column, so each is answered from its own index
    let select = |test: &str| {
        format!(
            "SELECT i.repository_id FROM package_interfaces i \
             WHERE i.direction = CAST(${d} AS TEXT) AND {test}"
        )
    };
    let (a, b) = (first + 1, first + 2);
    let (test, binds): (ColumnTest, Vec<String>) = match (stars, prefix, upper) {
        (0, _, _) => (
            |c, a, _| format!("i.{c} = CAST(${a} AS TEXT)"),
            vec![glob.clone()],
        ),
        (_, Some(p), Some(upper)) => (
            |c, a, b| format!("i.{c} >= CAST(${a} AS TEXT) AND i.{c} < CAST(${b} AS TEXT)"),
            vec![p.to_owned(), upper],
        ),
        _ => (
            |c, a, _| format!("i.{c} LIKE CAST(${a} AS TEXT)"),
            vec![super::like_pattern(&glob, false)],
        ),
    };
    let test = |c: &str| test(c, a, b);
    let sql = format!(
        " AND s.repository_id IN ({} UNION {})",
        select(&test("base")),
        select(&test("name"))
    );
    let mut all = vec![direction.to_owned()];
    all.extend(binds);
    (sql, all)
}

/// The SQL condition ` AND …` that keeps the rows whose `column` (a repository name)
/// `visible` shows, with its text binds numbered from `$first`; empty when everything is
/// shown. A `CASE` over the prefixes, deciding one first, as [`Visibility::allows`] reads
/// them: `column = prefix OR substr(column, 1, length(prefix/)) = prefix/`.
pub(super) fn visibility_condition(
    visible: &Visibility,
    column: &str,
    first: usize,
) -> (String, Vec<String>) {
    let Some(rules) = visible.rules() else {
        return (String::new(), Vec::new());
    };
    let also = visible.also_names();
    if rules.is_empty() && also.is_empty() {
        return (" AND 1 = 0".into(), Vec::new());
    }
    let mut sql = String::from(if rules.is_empty() {
        " AND (1 = 0"
    } else {
        " AND (CASE"
    });
    let mut binds = Vec::new();
    for (prefix, shown) in rules {
        if prefix.is_empty() {
            sql.push_str(" WHEN 1 = 1");
        } else {
            let (a, b) = (first + binds.len(), first + binds.len() + 1);
            sql.push_str(&format!(
                " WHEN ({column} = CAST(${a} AS TEXT) OR substr({column}, 1, length(CAST(${b} AS TEXT))) = CAST(${b} AS TEXT))"
            ));
            binds.push(prefix.clone());
            binds.push(format!("{prefix}/"));
        }
        sql.push_str(if *shown { " THEN 1" } else { " THEN 0" });
    }
    if !rules.is_empty() {
        sql.push_str(" ELSE 0 END = 1");
    }
    if !also.is_empty() {
        let list: Vec<String> = (0..also.len())
            .map(|i| format!("CAST(${} AS TEXT)", first + binds.len() + i))
            .collect();
        sql.push_str(&format!(" OR {column} IN ({})", list.join(", ")));
        binds.extend(also.iter().cloned());
    }
    sql.push(')');
    (sql, binds)
}

/// Mark each of `rows` with the newest of `marks` (subject digest, annotations as JSON
/// text; newest first) that yanks its version ([`wharf_oci::yank::applies`]).
pub(super) fn attach_yanks(
    rows: &mut [TagRow],
    marks: &[(String, Option<String>)],
) -> Result<(), StoreError> {
    let marks = marks
        .iter()
        .map(|(subject, annotations)| {
            let a: Option<std::collections::BTreeMap<String, String>> = annotations
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("manifests.annotations: {e}")))?;
            Ok((subject.as_str(), a))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    for row in rows {
        let digest = row.digest.to_string();
        row.yank = marks
            .iter()
            .find(|(subject, a)| {
                *subject == digest && wharf_oci::yank::applies(a.as_ref(), Some(row.tag.as_str()))
            })
            .map(|(_, a)| a.clone().unwrap_or_default());
    }
    Ok(())
}

/// A stored manifest row.
#[derive(sqlx::FromRow)]
pub(super) struct ManifestRecord {
    digest: String,
    media_type: String,
    content: Vec<u8>,
}

impl TryFrom<ManifestRecord> for StoredManifest {
    type Error = StoreError;
    fn try_from(r: ManifestRecord) -> Result<Self, StoreError> {
        Ok(StoredManifest {
            digest: digest_of(&r.digest)?,
            media_type: r.media_type,
            content: r.content.into(),
        })
    }
}

/// A catalog row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct CatalogRecord {
    repository: String,
    tag: String,
    digest: String,
    updated_at: String,
    kind: String,
    description: Option<String>,
    target: Option<String>,
}

impl TryFrom<CatalogRecord> for CatalogRow {
    type Error = StoreError;
    fn try_from(r: CatalogRecord) -> Result<Self, StoreError> {
        Ok(CatalogRow {
            repository: parsed("repositories.name", &r.repository)?,
            tag: parsed("tags.name", &r.tag)?,
            digest: digest_of(&r.digest)?,
            updated_at: timestamp_of("tags.updated_at", &r.updated_at)?,
            kind: kind_of("wasm_index.kind", &r.kind)?,
            description: r.description,
            target: r.target,
        })
    }
}

/// A tag row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct TagRecord {
    tag: String,
    digest: String,
    updated_at: String,
    media_type: String,
    artifact_type: Option<String>,
    size: i64,
    kind: Option<String>,
    yank: Option<String>,
}

impl TryFrom<TagRecord> for TagRow {
    type Error = StoreError;
    fn try_from(r: TagRecord) -> Result<Self, StoreError> {
        Ok(TagRow {
            tag: parsed("tags.name", &r.tag)?,
            digest: digest_of(&r.digest)?,
            updated_at: timestamp_of("tags.updated_at", &r.updated_at)?,
            media_type: r.media_type,
            artifact_type: r.artifact_type,
            size: size_of(r.size),
            kind: r.kind.map(|k| kind_of("wasm_index.kind", &k)).transpose()?,
            yank: r
                .yank
                .map(|a| serde_json::from_str(&a))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("manifests.annotations: {e}")))?,
        })
    }
}

/// A referrer row as stored: annotations are JSON text.
#[derive(sqlx::FromRow)]
pub(super) struct ReferrerRecord {
    digest: String,
    media_type: String,
    size: i64,
    artifact_type: Option<String>,
    annotations: Option<String>,
}

impl TryFrom<ReferrerRecord> for Descriptor {
    type Error = StoreError;
    fn try_from(r: ReferrerRecord) -> Result<Self, StoreError> {
        let mut d = Descriptor::new(&r.media_type, digest_of(&r.digest)?, size_of(r.size));
        d.artifact_type = r.artifact_type;
        d.annotations = r
            .annotations
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("manifests.annotations: {e}")))?;
        Ok(d)
    }
}

/// A signature row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct SignatureRow {
    signature_digest: String,
    layer: i64,
    subject: String,
    key_id: Option<String>,
    status: String,
    detail: Option<String>,
}

impl TryFrom<SignatureRow> for SignatureRecord {
    type Error = StoreError;
    fn try_from(r: SignatureRow) -> Result<Self, StoreError> {
        Ok(SignatureRecord {
            signature_digest: digest_of(&r.signature_digest)?,
            layer: u32::try_from(r.layer)
                .map_err(|_| StoreError::Corrupt(format!("signatures.layer: {}", r.layer)))?,
            subject: digest_of(&r.subject)?,
            key_id: r.key_id,
            status: SignatureStatus::from_name(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("signatures.status: `{}`", r.status)))?,
            detail: r.detail,
        })
    }
}

/// A wasm index row as stored: imports and exports are JSON arrays of text.
#[derive(sqlx::FromRow)]
pub(super) struct WasmRecord {
    kind: String,
    target: Option<String>,
    package: Option<String>,
    imports: String,
    exports: String,
    layer_digest: String,
    layer_size: i64,
    description: Option<String>,
    licenses: Option<String>,
    source: Option<String>,
    authors: Option<String>,
    wit: Option<String>,
}

impl TryFrom<WasmRecord> for WasmIndexEntry {
    type Error = StoreError;
    fn try_from(r: WasmRecord) -> Result<Self, StoreError> {
        let list = |col: &str, text: &str| -> Result<Vec<String>, StoreError> {
            serde_json::from_str(text)
                .map_err(|e| StoreError::Corrupt(format!("wasm_index.{col}: {e}")))
        };
        Ok(WasmIndexEntry {
            kind: kind_of("wasm_index.kind", &r.kind)?,
            target: r.target,
            package: r.package,
            imports: list("imports", &r.imports)?,
            exports: list("exports", &r.exports)?,
            layer_digest: digest_of(&r.layer_digest)?,
            layer_size: size_of(r.layer_size),
            description: r.description,
            licenses: r.licenses,
            source: r.source,
            authors: r.authors,
            wit: r.wit,
        })
    }
}

/// The totals row of [`q::USAGE`].
#[derive(sqlx::FromRow)]
pub(super) struct UsageRecord {
    pub repositories: i64,
    pub manifests: i64,
    pub blobs: i64,
    pub blob_bytes: i64,
    pub uploads: i64,
}

/// A size column (BIGINT) as bytes; a negative value cannot be written and reads as 0.
pub(super) fn size_of(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Convert each decoded record into its public type.
pub(super) fn convert<R, T: TryFrom<R, Error = StoreError>>(
    rows: Vec<R>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

/// The `Store` implementation for a backend `$store` over database `$db`: the backend has
/// a field `pool: sqlx::Pool<$db>` and async methods `write()` and `write_exclusive()`
/// returning a `sqlx::Transaction<'static, $db>`.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use wharf_oci::{Descriptor, Digest, Reference, RepositoryName, Tag};

        use super::sql::{
            BATCH, CatalogRecord, ManifestRecord, ReferrerRecord, SignatureRow, TagRecord,
            UsageRecord, WasmRecord, attach_yanks, convert, interface_condition, q, size_of,
            visibility_condition,
        };
        use super::{
            CatalogFilter, CatalogRow, ExpiredUpload, GcPolicy, GcReport, InRepository,
            NewManifest, Page, PutOutcome, SignatureRecord, Store, StoreError, StoredManifest,
            TagRow, Timestamp, UnlinkOutcome, UploadClaim, UploadState, Usage, Visibility,
            WasmIndexEntry, Window, YANK_ARTIFACT_TYPE, digest_of, i64_of, latest_version,
            like_pattern, now, parsed, text_of, timestamp_of, unversioned,
        };
        use crate::storage::UploadId;

        /// The id of `repo`, creating the row.
        async fn repository_id(
            conn: &mut <$db as sqlx::Database>::Connection,
            repo: &RepositoryName,
        ) -> Result<i64, StoreError> {
            sqlx::query(q::UPSERT_REPOSITORY)
                .bind(repo.as_str())
                .bind(now())
                .execute(&mut *conn)
                .await?;
            Ok(sqlx::query_scalar(q::REPOSITORY_ID)
                .bind(repo.as_str())
                .fetch_one(&mut *conn)
                .await?)
        }

        /// Insert what is derived from a manifest: its Wasm index entry with one row per
        /// interface, and the signatures it carries.
        async fn insert_derived(
            tx: &mut sqlx::Transaction<'static, $db>,
            repo_id: i64,
            digest: &str,
            m: &NewManifest<'_>,
        ) -> Result<(), StoreError> {
            if let Some(w) = &m.wasm {
                sqlx::query(q::INSERT_WASM)
                    .bind(repo_id)
                    .bind(digest)
                    .bind(w.kind.as_str())
                    .bind(&w.target)
                    .bind(&w.package)
                    .bind(serde_json::to_string(&w.imports).unwrap_or_default())
                    .bind(serde_json::to_string(&w.exports).unwrap_or_default())
                    .bind(w.layer_digest.to_string())
                    .bind(i64_of(w.layer_size))
                    .bind(&w.description)
                    .bind(&w.licenses)
                    .bind(&w.source)
                    .bind(&w.authors)
                    .bind(&w.wit)
                    .execute(&mut **tx)
                    .await?;
                for (direction, names) in [("import", &w.imports), ("export", &w.exports)] {
                    for name in names {
                        sqlx::query(q::INSERT_INTERFACE)
                            .bind(repo_id)
                            .bind(digest)
                            .bind(direction)
                            .bind(name)
                            .bind(unversioned(name))
                            .execute(&mut **tx)
                            .await?;
                    }
                }
            }
            for sig in &m.signatures {
                sqlx::query(q::INSERT_SIGNATURE)
                    .bind(repo_id)
                    .bind(digest)
                    .bind(i64::from(sig.layer))
                    .bind(sig.subject.to_string())
                    .bind(&sig.key_id)
                    .bind(sig.status.as_str())
                    .bind(&sig.detail)
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }

        /// The tags of repository `repo_id` with what they point at and the yank mark
        /// (artifact type `yank_type`) of each version.
        async fn tags_with_yanks(
            conn: &mut <$db as sqlx::Database>::Connection,
            repo_id: i64,
            yank_type: &str,
        ) -> Result<Vec<TagRow>, StoreError> {
            let rows: Vec<TagRecord> = sqlx::query_as(q::TAG_DETAILS_BY_ID)
                .bind(repo_id)
                .fetch_all(&mut *conn)
                .await?;
            let mut rows: Vec<TagRow> = convert(rows)?;
            let marks: Vec<(String, Option<String>)> = sqlx::query_as(q::YANK_MARKS)
                .bind(repo_id)
                .bind(yank_type)
                .fetch_all(&mut *conn)
                .await?;
            attach_yanks(&mut rows, &marks)?;
            Ok(rows)
        }

        /// Rewrite the package summary of repository `repo_id` from its tags (the one
        /// [`latest_version`] rule), within the caller's write transaction.
        async fn refresh_summary(
            conn: &mut <$db as sqlx::Database>::Connection,
            repo_id: i64,
        ) -> Result<(), StoreError> {
            let rows = tags_with_yanks(conn, repo_id, YANK_ARTIFACT_TYPE).await?;
            sqlx::query(q::DELETE_SUMMARY_INTERFACES)
                .bind(repo_id)
                .execute(&mut *conn)
                .await?;
            match latest_version(&rows) {
                Some(latest) => {
                    sqlx::query(q::SET_SUMMARY)
                        .bind(repo_id)
                        .bind(latest.tag.as_str())
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(q::SET_SUMMARY_INTERFACES)
                        .bind(repo_id)
                        .execute(&mut *conn)
                        .await?
                }
                None => {
                    sqlx::query(q::DELETE_SUMMARY)
                        .bind(repo_id)
                        .execute(&mut *conn)
                        .await?
                }
            };
            Ok(())
        }

        /// [`refresh_summary`] after `tags` were set (and nothing else changed: no yank mark,
        /// no deletion), reading only those tags and the current latest instead of every
        /// tag of the repository: the latest of the repository is the latest of {its latest
        /// before, the tags set now} by the same [`latest_version`] rule, unless one of the
        /// tags set is the latest itself (then every tag is read again).
        async fn refresh_summary_for_tags(
            conn: &mut <$db as sqlx::Database>::Connection,
            repo_id: i64,
            tags: &[Tag],
        ) -> Result<(), StoreError> {
            let current: Option<String> = sqlx::query_scalar(q::SUMMARY_TAG)
                .bind(repo_id)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(c) = &current
                && tags.iter().any(|t| t.as_str() == c)
            {
                return refresh_summary(conn, repo_id).await;
            }
            let mut records: Vec<TagRecord> = Vec::new();
            for name in tags.iter().map(Tag::as_str).chain(current.as_deref()) {
                let row: Option<TagRecord> = sqlx::query_as(q::TAG_DETAIL_BY_NAME)
                    .bind(repo_id)
                    .bind(name)
                    .fetch_optional(&mut *conn)
                    .await?;
                records.extend(row);
            }
            let mut rows: Vec<TagRow> = convert(records)?;
            // in the order a full reading lists them (by name, bytewise), so ties break alike
            rows.sort_by(|a, b| a.tag.as_str().cmp(b.tag.as_str()));
            rows.dedup_by(|a, b| a.tag == b.tag);
            let marks: Vec<(String, Option<String>)> = sqlx::query_as(q::YANK_MARKS)
                .bind(repo_id)
                .bind(YANK_ARTIFACT_TYPE)
                .fetch_all(&mut *conn)
                .await?;
            attach_yanks(&mut rows, &marks)?;
            let latest = latest_version(&rows).map(|r| r.tag.as_str().to_owned());
            if latest == current {
                return Ok(());
            }
            let Some(latest) = latest else {
                // the latest before is gone from view: only a full reading decides
                return refresh_summary(conn, repo_id).await;
            };
            sqlx::query(q::DELETE_SUMMARY_INTERFACES)
                .bind(repo_id)
                .execute(&mut *conn)
                .await?;
            sqlx::query(q::SET_SUMMARY)
                .bind(repo_id)
                .bind(latest)
                .execute(&mut *conn)
                .await?;
            sqlx::query(q::SET_SUMMARY_INTERFACES)
                .bind(repo_id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        impl $store {
            /// Write the summaries a database from before them lacks (and any lost),
            /// 500 repositories per transaction; called at open.
            async fn fill_summaries(&self) -> Result<(), StoreError> {
                let missing: Vec<i64> = sqlx::query_scalar(q::MISSING_SUMMARIES)
                    .fetch_all(&self.pool)
                    .await?;
                for chunk in missing.chunks(BATCH) {
                    let mut tx = self.write().await?;
                    for id in chunk {
                        refresh_summary(&mut tx, *id).await?;
                    }
                    tx.commit().await?;
                }
                Ok(())
            }
        }

        /// A page of `SELECT columns from_where` (`from_where` a `FROM … WHERE …` with
        /// `$1`…`$n` bound to `binds`) keeping the rows `visible` shows in `column`, ordered
        /// by `order`, and how many there are in all (`SELECT COUNT(*) from_where`, the same
        /// conditions).
        async fn visible_page<R>(
            pool: &sqlx::Pool<$db>,
            (columns, from_where): (&str, &str),
            binds: &[String],
            visible: &Visibility,
            column: &str,
            order: &str,
            window: Window,
        ) -> Result<(Vec<R>, u64), StoreError>
        where
            R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
        {
            let (condition, vis_binds) = visibility_condition(visible, column, binds.len() + 1);
            let n = binds.len() + vis_binds.len();
            let page_sql = format!(
                "SELECT {columns} {from_where}{condition} {order} LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            );
            let mut page = sqlx::query_as::<_, R>(sqlx::AssertSqlSafe(page_sql));
            for b in binds.iter().chain(&vis_binds) {
                page = page.bind(b.as_str());
            }
            let rows = page
                .bind(i64::from(window.limit))
                .bind(i64_of(window.offset))
                .fetch_all(pool)
                .await?;
            let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) {from_where}{condition}"
            )));
            for b in binds.iter().chain(&vis_binds) {
                count = count.bind(b.as_str());
            }
            let total = count.fetch_one(pool).await?;
            Ok((rows, size_of(total)))
        }

        /// Which of `values` are in the table `prefix` reads (`… IN (`), in batches.
        async fn present(
            pool: &sqlx::Pool<$db>,
            prefix: &str,
            values: &[String],
        ) -> Result<Vec<bool>, StoreError> {
            let mut found = std::collections::HashSet::new();
            for chunk in values.chunks(BATCH) {
                let mut query = sqlx::QueryBuilder::<$db>::new(prefix);
                let mut list = query.separated(", ");
                for v in chunk {
                    list.push_bind(v.as_str());
                }
                query.push(")");
                let rows: Vec<String> = query.build_query_scalar().fetch_all(pool).await?;
                found.extend(rows);
            }
            Ok(values.iter().map(|v| found.contains(v)).collect())
        }

        /// Append `entries` to the release log inside `tx`, which holds the log's lock
        /// (`lock_log`): each gets the next index, and the tree's new stored hashes are
        /// written beside it (`wharf_sign::log::hashes_to_store`), so the log and the change
        /// it records commit together or not at all.
        async fn append_log(
            tx: &mut sqlx::Transaction<'static, $db>,
            entries: &[wharf_sign::log::LogEntry],
        ) -> Result<(), StoreError> {
            if entries.is_empty() {
                return Ok(());
            }
            <$store>::lock_log(tx).await?;
            let mut n: i64 = sqlx::query_scalar(q::LOG_SIZE).fetch_one(&mut **tx).await?;
            for entry in entries {
                let bytes = entry.to_bytes();
                let index = u64::try_from(n).unwrap_or(0);
                let mut known = std::collections::HashMap::new();
                for i in wharf_sign::log::append_indexes(index) {
                    let h: Vec<u8> = sqlx::query_scalar(q::LOG_HASH)
                        .bind(i64_of(i))
                        .fetch_one(&mut **tx)
                        .await?;
                    let h: wharf_sign::log::TreeHash = h.try_into().map_err(|_| {
                        StoreError::Corrupt(format!("release log hash {i} is not 32 bytes"))
                    })?;
                    known.insert(i, h);
                }
                let hashes = wharf_sign::log::hashes_to_store(index, &bytes, &known)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query(q::INSERT_LOG_ENTRY)
                    .bind(n)
                    .bind(bytes)
                    .execute(&mut **tx)
                    .await?;
                for (i, h) in hashes {
                    sqlx::query(q::INSERT_LOG_HASH)
                        .bind(i64_of(i))
                        .bind(h.to_vec())
                        .execute(&mut **tx)
                        .await?;
                }
                n += 1;
            }
            Ok(())
        }

        /// The release log entry of a tag set to `digest` from `previous` (`None`: nothing
        /// to record, the tag already pointed there).
        fn tag_entry(
            repo: &RepositoryName,
            tag: &str,
            digest: &str,
            previous: Option<String>,
            time: &str,
        ) -> Option<wharf_sign::log::LogEntry> {
            use wharf_sign::log::{Action, LogEntry};
            let action = match &previous {
                Some(p) if p == digest => return None,
                Some(_) => Action::Move,
                None => Action::Publish,
            };
            Some(LogEntry {
                action,
                repository: repo.as_str().to_owned(),
                tag: tag.to_owned(),
                digest: digest.to_owned(),
                previous: previous.filter(|_| action == Action::Move),
                time: time.to_owned(),
            })
        }

        #[async_trait]
        impl Store for $store {
            #[tracing::instrument(skip(self), err)]
            async fn link_blob(
                &self,
                repo: &RepositoryName,
                digest: &Digest,
                size: u64,
            ) -> Result<(), StoreError> {
                let mut tx = self.write().await?;
                let id = repository_id(&mut tx, repo).await?;
                let t = now();
                sqlx::query(q::INSERT_BLOB)
                    .bind(digest.to_string())
                    .bind(i64_of(size))
                    .bind(&t)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(q::LINK_BLOB)
                    .bind(id)
                    .bind(digest.to_string())
                    .bind(&t)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn repository_blob(
                &self,
                repo: &RepositoryName,
                digest: &Digest,
            ) -> Result<Option<u64>, StoreError> {
                let size: Option<i64> = sqlx::query_scalar(q::REPOSITORY_BLOB)
                    .bind(repo.as_str())
                    .bind(digest.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(size.map(size_of))
            }

            async fn create_upload(
                &self,
                repo: &RepositoryName,
                id: &UploadId,
                hash_state: &[u8],
            ) -> Result<(), StoreError> {
                let mut tx = self.write().await?;
                let repo_id = repository_id(&mut tx, repo).await?;
                sqlx::query(q::CREATE_UPLOAD)
                    .bind(id.as_str())
                    .bind(repo_id)
                    .bind(now())
                    .bind(hash_state)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn upload(
                &self,
                repo: &RepositoryName,
                id: &UploadId,
            ) -> Result<Option<u64>, StoreError> {
                let size: Option<i64> = sqlx::query_scalar(q::UPLOAD_SIZE)
                    .bind(id.as_str())
                    .bind(repo.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(size.map(size_of))
            }

            async fn claim_upload(
                &self,
                repo: &RepositoryName,
                id: &UploadId,
                writer: &str,
                stale_before: Timestamp,
            ) -> Result<UploadClaim, StoreError> {
                let claimed: Option<(i64, Option<Vec<u8>>, Option<String>)> =
                    sqlx::query_as(q::CLAIM_UPLOAD)
                        .bind(writer)
                        .bind(now())
                        .bind(id.as_str())
                        .bind(repo.as_str())
                        .bind(text_of(&stale_before))
                        .fetch_optional(&self.pool)
                        .await?;
                if let Some((size, hash_state, storage_state)) = claimed {
                    return Ok(UploadClaim::Claimed(UploadState {
                        size: size_of(size),
                        hash_state,
                        storage_state,
                    }));
                }
                Ok(match self.upload(repo, id).await? {
                    Some(size) => UploadClaim::Busy { size },
                    None => UploadClaim::Unknown,
                })
            }

            async fn release_upload(
                &self,
                id: &UploadId,
                writer: &str,
                state: &UploadState,
            ) -> Result<bool, StoreError> {
                let n = sqlx::query(q::RELEASE_UPLOAD)
                    .bind(i64_of(state.size))
                    .bind(now())
                    .bind(id.as_str())
                    .bind(writer)
                    .bind(state.hash_state.as_deref())
                    .bind(state.storage_state.as_deref())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn check_writable(&self) -> Result<(), StoreError> {
                sqlx::query(q::HEALTH)
                    .bind(now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_upload(&self, id: &UploadId) -> Result<(), StoreError> {
                sqlx::query(q::DELETE_UPLOAD)
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip(self, m), fields(digest = %m.digest), err)]
            async fn put_manifest(
                &self,
                repo: &RepositoryName,
                m: &NewManifest<'_>,
                tags: &[Tag],
            ) -> Result<PutOutcome, StoreError> {
                let mut tx = self.write().await?;
                let repo_id = repository_id(&mut tx, repo).await?;
                let t = now();
                // within the write transaction, so a concurrent garbage collection cannot
                // unlink a blob between this check and the commit
                for blob in &m.blobs {
                    let linked: Option<i64> = sqlx::query_scalar(q::IS_LINKED)
                        .bind(repo_id)
                        .bind(blob.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if linked.is_none() {
                        return Ok(PutOutcome::BlobMissing(blob.clone()));
                    }
                }
                let digest = m.digest.to_string();
                let annotations = m
                    .annotations
                    .map(|a| serde_json::to_string(a).unwrap_or_default());
                let inserted = sqlx::query(q::INSERT_MANIFEST)
                    .bind(repo_id)
                    .bind(&digest)
                    .bind(m.media_type)
                    .bind(m.artifact_type)
                    .bind(m.subject.map(ToString::to_string))
                    .bind(i64_of(m.content.len() as u64))
                    .bind(m.content)
                    .bind(annotations)
                    .bind(&t)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if inserted > 0 {
                    let children = m
                        .blobs
                        .iter()
                        .map(|d| (d, "blob"))
                        .chain(m.manifests.iter().map(|d| (d, "manifest")));
                    for (child, kind) in children {
                        sqlx::query(q::INSERT_REFERENCE)
                            .bind(repo_id)
                            .bind(&digest)
                            .bind(child.to_string())
                            .bind(kind)
                            .execute(&mut *tx)
                            .await?;
                    }
                    insert_derived(&mut tx, repo_id, &digest, m).await?;
                }
                let mut log = Vec::new();
                for tag in tags {
                    let previous: Option<String> = sqlx::query_scalar(q::TAG_TARGET)
                        .bind(repo_id)
                        .bind(tag.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    log.extend(tag_entry(repo, tag.as_str(), &digest, previous, &t));
                    sqlx::query(q::SET_TAG)
                        .bind(repo_id)
                        .bind(tag.as_str())
                        .bind(&digest)
                        .bind(&t)
                        .execute(&mut *tx)
                        .await?;
                }
                if inserted > 0
                    && m.artifact_type == Some(YANK_ARTIFACT_TYPE)
                    && let Some(subject) = m.subject
                    && let Some(version) = m
                        .annotations
                        .and_then(|a| a.get(wharf_oci::yank::VERSION_ANNOTATION))
                {
                    log.push(wharf_sign::log::LogEntry {
                        action: wharf_sign::log::Action::Yank,
                        repository: repo.as_str().to_owned(),
                        tag: version.clone(),
                        digest: subject.to_string(),
                        previous: None,
                        time: t.clone(),
                    });
                }
                append_log(&mut tx, &log).await?;
                match m.artifact_type == Some(YANK_ARTIFACT_TYPE) {
                    // a yank mark can take the latest version out of the running
                    true => refresh_summary(&mut tx, repo_id).await?,
                    false => refresh_summary_for_tags(&mut tx, repo_id, tags).await?,
                }
                tx.commit().await?;
                self.announce(repo.as_str()).await?;
                Ok(PutOutcome::Stored)
            }

            async fn manifest(
                &self,
                repo: &RepositoryName,
                r: &Reference,
            ) -> Result<Option<StoredManifest>, StoreError> {
                let (sql, value) = match r {
                    Reference::Digest(d) => (q::MANIFEST_BY_DIGEST, d.to_string()),
                    Reference::Tag(t) => (q::MANIFEST_BY_TAG, t.as_str().to_owned()),
                };
                let row: Option<ManifestRecord> = sqlx::query_as(sql)
                    .bind(repo.as_str())
                    .bind(value)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(StoredManifest::try_from).transpose()
            }

            async fn has_manifest(
                &self,
                repo: &RepositoryName,
                digest: &Digest,
            ) -> Result<bool, StoreError> {
                let row: Option<i64> = sqlx::query_scalar(q::HAS_MANIFEST)
                    .bind(repo.as_str())
                    .bind(digest.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }

            async fn tags(
                &self,
                repo: &RepositoryName,
                page: Page<'_>,
            ) -> Result<Option<Vec<Tag>>, StoreError> {
                let Some(repo_id): Option<i64> = sqlx::query_scalar(q::REPOSITORY_ID)
                    .bind(repo.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(None);
                };
                let tags: Vec<String> = sqlx::query_scalar(q::TAGS)
                    .bind(repo_id)
                    .bind(page.last.unwrap_or(""))
                    .bind(i64::from(page.n))
                    .fetch_all(&self.pool)
                    .await?;
                tags.iter()
                    .map(|t| parsed("tags.name", t))
                    .collect::<Result<_, _>>()
                    .map(Some)
            }

            async fn repositories(
                &self,
                page: Page<'_>,
                visible: &Visibility,
            ) -> Result<Vec<RepositoryName>, StoreError> {
                let (condition, binds) = visibility_condition(visible, "r.name", 2);
                let sql = format!(
                    "{}{condition} ORDER BY r.name LIMIT ${}",
                    q::REPOSITORIES,
                    binds.len() + 2
                );
                let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                    .bind(page.last.unwrap_or(""));
                for b in &binds {
                    query = query.bind(b.as_str());
                }
                let names: Vec<String> =
                    query.bind(i64::from(page.n)).fetch_all(&self.pool).await?;
                names
                    .iter()
                    .map(|n| parsed("repositories.name", n))
                    .collect()
            }

            async fn wasm_entry(
                &self,
                repo: &RepositoryName,
                digest: &Digest,
            ) -> Result<Option<WasmIndexEntry>, StoreError> {
                let row: Option<WasmRecord> = sqlx::query_as(q::WASM_ENTRY)
                    .bind(repo.as_str())
                    .bind(digest.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(WasmIndexEntry::try_from).transpose()
            }

            async fn referrers(
                &self,
                repo: &RepositoryName,
                subject: &Digest,
                artifact_type: Option<&str>,
            ) -> Result<Vec<Descriptor>, StoreError> {
                let rows: Vec<ReferrerRecord> = sqlx::query_as(q::REFERRERS)
                    .bind(repo.as_str())
                    .bind(subject.to_string())
                    .bind(artifact_type)
                    .fetch_all(&self.pool)
                    .await?;
                convert(rows)
            }

            #[tracing::instrument(skip(self), err)]
            async fn delete_manifest(
                &self,
                repo: &RepositoryName,
                digest: &Digest,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write().await?;
                let Some(repo_id): Option<i64> = sqlx::query_scalar(q::REPOSITORY_ID)
                    .bind(repo.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(false);
                };
                let deleted = sqlx::query(q::GC_DELETE_MANIFEST)
                    .bind(repo_id)
                    .bind(digest.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                refresh_summary(&mut tx, repo_id).await?;
                tx.commit().await?;
                self.announce(repo.as_str()).await?;
                Ok(deleted > 0)
            }

            #[tracing::instrument(skip(self), err)]
            async fn delete_tag(
                &self,
                repo: &RepositoryName,
                tag: &Tag,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write().await?;
                let Some(repo_id): Option<i64> = sqlx::query_scalar(q::REPOSITORY_ID)
                    .bind(repo.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(false);
                };
                let previous: Option<String> = sqlx::query_scalar(q::TAG_TARGET)
                    .bind(repo_id)
                    .bind(tag.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                let deleted = sqlx::query(q::DELETE_TAG_BY_ID)
                    .bind(repo_id)
                    .bind(tag.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if let Some(previous) = previous {
                    let entry = wharf_sign::log::LogEntry {
                        action: wharf_sign::log::Action::Delete,
                        repository: repo.as_str().to_owned(),
                        tag: tag.as_str().to_owned(),
                        digest: previous,
                        previous: None,
                        time: now(),
                    };
                    append_log(&mut tx, &[entry]).await?;
                }
                refresh_summary(&mut tx, repo_id).await?;
                tx.commit().await?;
                self.announce(repo.as_str()).await?;
                Ok(deleted > 0)
            }

            #[tracing::instrument(skip(self), err)]
            async fn unlink_blob(
                &self,
                repo: &RepositoryName,
                digest: &Digest,
            ) -> Result<UnlinkOutcome, StoreError> {
                let mut tx = self.write().await?;
                let Some(repo_id): Option<i64> = sqlx::query_scalar(q::REPOSITORY_ID)
                    .bind(repo.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(UnlinkOutcome::NotFound);
                };
                let user: Option<String> = sqlx::query_scalar(q::BLOB_USER)
                    .bind(repo_id)
                    .bind(digest.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(user) = user {
                    return Ok(UnlinkOutcome::Referenced(digest_of(&user)?));
                }
                let deleted = sqlx::query(q::UNLINK_BLOB)
                    .bind(repo_id)
                    .bind(digest.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(if deleted > 0 {
                    UnlinkOutcome::Unlinked
                } else {
                    UnlinkOutcome::NotFound
                })
            }

            async fn touch_blob(
                &self,
                repo: &RepositoryName,
                digest: &Digest,
                stale_before: Timestamp,
            ) -> Result<(), StoreError> {
                sqlx::query(q::TOUCH_BLOB)
                    .bind(now())
                    .bind(digest.to_string())
                    .bind(text_of(&stale_before))
                    .bind(repo.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip(self), err)]
            async fn collect_garbage(
                &self,
                policy: &GcPolicy,
                dry_run: bool,
            ) -> Result<GcReport, StoreError> {
                let mut tx = self.write_exclusive().await?;
                let mut report = GcReport::default();
                let grace_before = text_of(&policy.grace_before);
                let uploads_before = text_of(&policy.uploads_before);
                let in_repository =
                    |name: &str, digest: &str| -> Result<InRepository, StoreError> {
                        Ok(InRepository {
                            repository: parsed("repositories.name", name)?,
                            digest: digest_of(digest)?,
                        })
                    };
                // 1. manifests no tag, index or present subject keeps, repeated until none
                //    is left (removing an index can free its children)
                let mut changed = std::collections::BTreeSet::new();
                if policy.untagged {
                    loop {
                        let rows: Vec<(i64, String, String)> =
                            sqlx::query_as(q::GC_UNKEPT_MANIFESTS)
                                .bind(&grace_before)
                                .fetch_all(&mut *tx)
                                .await?;
                        let mut fresh = Vec::new();
                        for (repo_id, name, digest) in rows {
                            let m = in_repository(&name, &digest)?;
                            if !report.manifests.contains(&m) {
                                fresh.push((repo_id, m));
                            }
                        }
                        if fresh.is_empty() {
                            break;
                        }
                        for (repo_id, m) in fresh {
                            if !dry_run {
                                sqlx::query(q::GC_DELETE_MANIFEST)
                                    .bind(repo_id)
                                    .bind(m.digest.to_string())
                                    .execute(&mut *tx)
                                    .await?;
                                changed.insert(repo_id);
                            }
                            report.manifests.push(m);
                        }
                        if dry_run {
                            // without deleting, one round is all a dry run can see
                            break;
                        }
                    }
                }
                for repo_id in changed {
                    // a collected yank mark can change a package's latest version
                    refresh_summary(&mut tx, repo_id).await?;
                }
                // 2. blob links no manifest of the repository references, unused for the
                //    grace period
                let links: Vec<(i64, String, String)> = sqlx::query_as(q::GC_UNUSED_LINKS)
                    .bind(&grace_before)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut freed = std::collections::HashSet::new();
                for (repo_id, name, digest) in links {
                    if !dry_run {
                        sqlx::query(q::UNLINK_BLOB)
                            .bind(repo_id)
                            .bind(&digest)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let link = in_repository(&name, &digest)?;
                    freed.insert(link.digest.clone());
                    report.links.push(link);
                }
                // 3. blobs no repository holds any more
                let held: Vec<String> = sqlx::query_scalar(q::GC_UNHELD_BLOBS)
                    .bind(&grace_before)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut blobs = held
                    .iter()
                    .map(|d| digest_of(d))
                    .collect::<Result<Vec<Digest>, _>>()?;
                if dry_run {
                    // in a dry run the links above are still there: count blobs whose
                    // every link would go
                    for digest in freed {
                        let remaining: i64 = sqlx::query_scalar(q::COUNT_LINKS)
                            .bind(digest.to_string())
                            .fetch_one(&mut *tx)
                            .await?;
                        let going =
                            report.links.iter().filter(|l| l.digest == digest).count() as i64;
                        if remaining == going && !blobs.contains(&digest) {
                            blobs.push(digest);
                        }
                    }
                }
                for digest in blobs {
                    if !dry_run {
                        sqlx::query(q::DELETE_BLOB)
                            .bind(digest.to_string())
                            .execute(&mut *tx)
                            .await?;
                    }
                    report.blobs.push(digest);
                }
                // 4. upload sessions not written to since `uploads_before`
                let expired: Vec<(String, Option<String>)> = sqlx::query_as(q::EXPIRED_UPLOADS)
                    .bind(&uploads_before)
                    .fetch_all(&mut *tx)
                    .await?;
                report.uploads = expired
                    .into_iter()
                    .map(|(id, storage_state)| {
                        Ok(ExpiredUpload {
                            id: UploadId::parse(&id).ok_or_else(|| {
                                StoreError::Corrupt(format!("uploads.id: `{id}`"))
                            })?,
                            storage_state,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?;
                if dry_run {
                    tx.rollback().await?;
                } else {
                    sqlx::query(q::DELETE_EXPIRED_UPLOADS)
                        .bind(&uploads_before)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    if !report.manifests.is_empty() {
                        self.announce("*").await?;
                    }
                }
                Ok(report)
            }

            async fn known(
                &self,
                blobs: &[Digest],
                uploads: &[UploadId],
            ) -> Result<(Vec<bool>, Vec<bool>), StoreError> {
                let blobs: Vec<String> = blobs.iter().map(ToString::to_string).collect();
                let uploads: Vec<String> = uploads.iter().map(|u| u.as_str().to_owned()).collect();
                Ok((
                    present(&self.pool, q::KNOWN_BLOBS, &blobs).await?,
                    present(&self.pool, q::KNOWN_UPLOADS, &uploads).await?,
                ))
            }

            async fn usage(&self) -> Result<Usage, StoreError> {
                let u: UsageRecord = sqlx::query_as(q::USAGE).fetch_one(&self.pool).await?;
                Ok(Usage {
                    repositories: size_of(u.repositories),
                    manifests: size_of(u.manifests),
                    blobs: size_of(u.blobs),
                    blob_bytes: size_of(u.blob_bytes),
                    uploads: size_of(u.uploads),
                })
            }

            async fn mirror_checked(
                &self,
                repo: &RepositoryName,
                tag: &Tag,
            ) -> Result<Option<Timestamp>, StoreError> {
                let at: Option<String> = sqlx::query_scalar(q::MIRROR_CHECKED)
                    .bind(repo.as_str())
                    .bind(tag.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                at.map(|t| timestamp_of("mirror_tags.checked_at", &t))
                    .transpose()
            }

            async fn set_mirror_checked(
                &self,
                repo: &RepositoryName,
                tag: &Tag,
                at: Timestamp,
            ) -> Result<(), StoreError> {
                let mut tx = self.write().await?;
                let repo_id = repository_id(&mut tx, repo).await?;
                sqlx::query(q::SET_MIRROR_CHECKED)
                    .bind(repo_id)
                    .bind(tag.as_str())
                    .bind(text_of(&at))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn manifest_changes(
                &self,
            ) -> Option<futures_util::stream::BoxStream<'static, super::ManifestChange>> {
                self.listen_changes().await
            }

            async fn prefix_usage(
                &self,
                prefix: &str,
                digest: Option<&Digest>,
            ) -> Result<(u64, bool), StoreError> {
                let prefix = prefix.trim_end_matches('/');
                let under = format!("{prefix}/");
                let len = i64_of(under.len() as u64);
                let used: i64 = sqlx::query_scalar(q::PREFIX_USAGE)
                    .bind(prefix)
                    .bind(len)
                    .bind(&under)
                    .fetch_one(&self.pool)
                    .await?;
                let holds = match digest {
                    None => false,
                    Some(d) => {
                        let row: Option<i64> = sqlx::query_scalar(q::PREFIX_HOLDS)
                            .bind(prefix)
                            .bind(len)
                            .bind(&under)
                            .bind(d.to_string())
                            .fetch_optional(&self.pool)
                            .await?;
                        row.is_some()
                    }
                };
                Ok((size_of(used), holds))
            }

            async fn catalog(
                &self,
                filter: &CatalogFilter,
                recent: bool,
                window: Window,
            ) -> Result<(Vec<CatalogRow>, u64), StoreError> {
                let (direction, interface) = match &filter.interface {
                    Some((direction, name)) => (direction.as_str(), name.as_str()),
                    None => ("", ""),
                };
                let mut binds = vec![filter.text.clone(), like_pattern(&filter.text, true)];
                let (interface_sql, interface_binds) = match direction {
                    "" => (String::new(), Vec::new()),
                    d => interface_condition(d, interface, binds.len() + 1),
                };
                binds.extend(interface_binds);
                let from_where = format!("{}{interface_sql}", q::CATALOG_FROM);
                let order = match recent {
                    true => "ORDER BY s.updated_at DESC, s.name",
                    false => "ORDER BY s.name",
                };
                let (rows, total) = visible_page::<CatalogRecord>(
                    &self.pool,
                    (q::CATALOG_COLUMNS, &from_where),
                    &binds,
                    &filter.visible,
                    "s.name",
                    order,
                    window,
                )
                .await?;
                Ok((convert(rows)?, total))
            }

            async fn repository_page(
                &self,
                visible: &Visibility,
                window: Window,
            ) -> Result<(Vec<RepositoryName>, u64), StoreError> {
                let (rows, total) = visible_page::<(String,)>(
                    &self.pool,
                    ("r.name", q::REPOSITORY_FROM),
                    &[],
                    visible,
                    "r.name",
                    "ORDER BY r.name",
                    window,
                )
                .await?;
                let names = rows
                    .iter()
                    .map(|(n,)| parsed("repositories.name", n))
                    .collect::<Result<_, _>>()?;
                Ok((names, total))
            }

            async fn tag_details(
                &self,
                repo: &RepositoryName,
                yank_type: &str,
            ) -> Result<Vec<TagRow>, StoreError> {
                let Some(repo_id): Option<i64> = sqlx::query_scalar(q::REPOSITORY_ID)
                    .bind(repo.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(Vec::new());
                };
                let mut conn = self.pool.acquire().await?;
                tags_with_yanks(&mut conn, repo_id, yank_type).await
            }

            async fn signatures(
                &self,
                repo: &RepositoryName,
                subject: &Digest,
            ) -> Result<Vec<SignatureRecord>, StoreError> {
                let rows: Vec<SignatureRow> = sqlx::query_as(q::SIGNATURES)
                    .bind(repo.as_str())
                    .bind(subject.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                convert(rows)
            }

            async fn signature_counts(
                &self,
                repo: &RepositoryName,
            ) -> Result<Vec<(Digest, u64, u64)>, StoreError> {
                let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(q::SIGNATURE_COUNTS)
                    .bind(repo.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|(subject, total, verified)| {
                        Ok((
                            digest_of(&subject)?,
                            u64::try_from(total).unwrap_or(0),
                            u64::try_from(verified.unwrap_or(0)).unwrap_or(0),
                        ))
                    })
                    .collect()
            }

            async fn log_key(
                &self,
                generate: &(dyn Fn() -> Result<(String, String), StoreError> + Send + Sync),
            ) -> Result<(String, String), StoreError> {
                let existing: Option<(String, String)> = sqlx::query_as(q::LOG_KEY)
                    .fetch_optional(&self.pool)
                    .await?;
                if let Some(key) = existing {
                    return Ok(key);
                }
                let (private, verifier) = generate()?;
                // another instance may create it first: the one stored is the one used
                sqlx::query(q::INSERT_LOG_KEY)
                    .bind(&private)
                    .bind(&verifier)
                    .execute(&self.pool)
                    .await?;
                Ok(sqlx::query_as(q::LOG_KEY).fetch_one(&self.pool).await?)
            }

            async fn log_size(&self) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar(q::LOG_SIZE)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(size_of(n))
            }

            async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
                Ok(sqlx::query_scalar(q::LOG_ENTRIES)
                    .bind(i64_of(start))
                    .bind(i64_of(end))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn log_hashes(
                &self,
                indexes: &[u64],
            ) -> Result<std::collections::HashMap<u64, wharf_sign::log::TreeHash>, StoreError> {
                let mut out = std::collections::HashMap::new();
                for &i in indexes {
                    let h: Option<Vec<u8>> = sqlx::query_scalar(q::LOG_HASH)
                        .bind(i64_of(i))
                        .fetch_optional(&self.pool)
                        .await?;
                    if let Some(h) = h {
                        let h = h.try_into().map_err(|_| {
                            StoreError::Corrupt(format!("release log hash {i} is not 32 bytes"))
                        })?;
                        out.insert(i, h);
                    }
                }
                Ok(out)
            }
        }
    };
}
pub(super) use impl_store;
