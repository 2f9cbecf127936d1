//! Registry metadata: one `Store` trait, one method per spec operation, each one
//! transaction. Only here is SQL.

mod postgres;
mod sqlite;

use async_trait::async_trait;
use wharf_oci::{Descriptor, Digest, Reference, RepositoryName, Tag};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use crate::storage::UploadId;

/// Now, as the RFC 3339 UTC text both backends store (comparable as text).
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A size for a signed BIGINT/INTEGER column.
fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A digest read back from a row; a malformed one means corrupt metadata.
fn digest_of(s: &str) -> Result<Digest, StoreError> {
    s.parse()
        .map_err(|e: wharf_oci::DigestError| StoreError::Corrupt(e.to_string()))
}

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("metadata database error")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start.
    #[error("metadata database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value does not parse (corrupt row).
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
}

/// A manifest to store.
pub struct NewManifest<'a> {
    /// Its digest (verified by the caller).
    pub digest: &'a Digest,
    /// Its media type.
    pub media_type: &'a str,
    /// `artifactType`, else the config media type.
    pub artifact_type: Option<&'a str>,
    /// The `subject` digest, for referrers.
    pub subject: Option<&'a Digest>,
    /// The raw bytes.
    pub content: &'a [u8],
    /// Its annotations, served in referrers listings.
    pub annotations: Option<&'a std::collections::BTreeMap<String, String>>,
    /// Blobs it references (config, layers).
    pub blobs: Vec<Digest>,
    /// Manifests it references (index entries).
    pub manifests: Vec<Digest>,
    /// Index entry when it is a Wasm package.
    pub wasm: Option<WasmIndexEntry>,
    /// Signatures it carries, as judged at push (for signature manifests).
    pub signatures: Vec<SignatureRecord>,
}

/// What the registry learned from a Wasm layer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WasmIndexEntry {
    /// `core-module`, `component` or `wit-package`.
    pub kind: String,
    /// Target world, when known.
    pub target: Option<String>,
    /// WIT package name (for WIT packages).
    pub package: Option<String>,
    /// Imports (world keys).
    pub imports: Vec<String>,
    /// Exports (world keys).
    pub exports: Vec<String>,
    /// The wasm layer.
    pub layer_digest: String,
    /// Its size in bytes.
    pub layer_size: u64,
    /// `description` metadata section.
    pub description: Option<String>,
    /// `licenses` metadata section (SPDX expression).
    pub licenses: Option<String>,
    /// `source` metadata section (URL).
    pub source: Option<String>,
    /// `authors` metadata section.
    pub authors: Option<String>,
    /// The WIT it was built against (printed by wit-component), when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wit: Option<String>,
}

/// The interface name without its version: `wasi:http/types@0.2.0` → `wasi:http/types`.
pub fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(base, _)| base)
}

/// How the registry judged one signature (see `service::signatures`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SignatureRecord {
    /// The signature manifest.
    pub signature_digest: Digest,
    /// Index of the signature layer in it.
    pub layer: u32,
    /// The manifest the payload says is signed.
    pub subject: Digest,
    /// The operator key that verified it (`sha256:` + 16 hex digits), if one did.
    pub key_id: Option<String>,
    /// `verified` (by an operator key), `unverified` (well-formed, no operator key
    /// matches) or `invalid` (malformed, or the payload names another manifest).
    pub status: String,
    /// Why, for `unverified` and `invalid`.
    pub detail: Option<String>,
}

/// What to look for in the catalog; empty strings match everything.
#[derive(Clone, Debug, Default)]
pub struct CatalogFilter {
    /// Substring of the repository name or the description (case-insensitive).
    pub text: String,
    /// `import` or `export`, with `interface`.
    pub direction: String,
    /// Interface name or glob (`*` matches anything), compared with and without version.
    pub interface: String,
}

/// One package (repository) in the catalog: its most recently tagged Wasm manifest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CatalogRow {
    /// Repository name.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The manifest digest.
    pub digest: String,
    /// When the tag was last set (RFC 3339).
    pub updated_at: String,
    /// `component`, `core-module` or `wit-package`.
    pub kind: String,
    /// Description, when the package has one.
    pub description: Option<String>,
    /// Target world, when known.
    pub target: Option<String>,
}

/// One tag of a repository with what it points at.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TagRow {
    /// The tag.
    pub tag: String,
    /// Manifest digest.
    pub digest: String,
    /// When the tag was last set (RFC 3339).
    pub updated_at: String,
    /// Manifest media type.
    pub media_type: String,
    /// Artifact type (or config media type).
    pub artifact_type: Option<String>,
    /// Manifest size in bytes.
    pub size: u64,
    /// Wasm kind when it is a Wasm package.
    pub kind: Option<String>,
    /// Annotations of the newest yank mark, when yanked (JSON object text).
    pub yank: Option<String>,
}

/// SQL shared by both backends (`$n` placeholders, in ascending order of first use,
/// which SQLite binds by position too).
mod shared_sql {
    /// Catalog rows; binds text flag, text pattern, direction, interface pattern.
    pub const CATALOG: &str = "SELECT r.name, t.name, t.manifest_digest, t.updated_at, w.kind, w.description, w.target \
        FROM repositories r \
        JOIN tags t ON t.repository_id = r.id \
        JOIN wasm_index w ON w.repository_id = t.repository_id AND w.manifest_digest = t.manifest_digest \
        WHERE t.name = (SELECT t2.name FROM tags t2 JOIN wasm_index w2 \
              ON w2.repository_id = t2.repository_id AND w2.manifest_digest = t2.manifest_digest \
              WHERE t2.repository_id = r.id ORDER BY t2.updated_at DESC, t2.name DESC LIMIT 1) \
        AND ($1 = '' OR LOWER(r.name) LIKE $2 OR LOWER(COALESCE(w.description, '')) LIKE $2) \
        AND ($3 = '' OR EXISTS (SELECT 1 FROM wasm_interfaces i WHERE i.repository_id = r.id \
              AND i.manifest_digest = t.manifest_digest AND i.direction = $3 \
              AND (i.base LIKE $4 OR i.name LIKE $4))) \
        ORDER BY r.name";
    /// Tags with their manifests; binds repository name, yank artifact type.
    pub const TAG_DETAILS: &str = "SELECT t.name, t.manifest_digest, t.updated_at, m.media_type, m.artifact_type, m.size, w.kind, \
        (SELECT y.annotations FROM manifests y WHERE y.repository_id = t.repository_id \
            AND y.subject = t.manifest_digest AND y.artifact_type = $2 \
            ORDER BY y.created_at DESC LIMIT 1) \
        FROM tags t JOIN repositories r ON r.id = t.repository_id \
        JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
        LEFT JOIN wasm_index w ON w.repository_id = t.repository_id AND w.manifest_digest = t.manifest_digest \
        WHERE r.name = $1 ORDER BY t.name";
    /// Signatures of a subject; binds repository name, subject digest.
    pub const SIGNATURES: &str = "SELECT s.signature_digest, s.layer, s.subject, s.key_id, s.status, s.detail \
        FROM signatures s JOIN repositories r ON r.id = s.repository_id \
        WHERE r.name = $1 AND s.subject = $2 ORDER BY s.signature_digest, s.layer";
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
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
    /// Referrers of a subject; binds repository name, subject, artifact type (or NULL).
    pub const REFERRERS: &str = "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations FROM manifests m \
        JOIN repositories r ON r.id = m.repository_id \
        WHERE r.name = $1 AND m.subject = $2 AND (CAST($3 AS TEXT) IS NULL OR m.artifact_type = $3) \
        ORDER BY m.created_at, m.digest";
    /// Delete a manifest; binds digest, repository name.
    pub const DELETE_MANIFEST: &str = "DELETE FROM manifests WHERE digest = $1 \
        AND repository_id = (SELECT id FROM repositories WHERE name = $2)";
    /// Delete a tag; binds tag, repository name.
    pub const DELETE_TAG: &str = "DELETE FROM tags WHERE name = $1 \
        AND repository_id = (SELECT id FROM repositories WHERE name = $2)";
    /// A repository's id; binds its name.
    pub const REPOSITORY_ID: &str = "SELECT id FROM repositories WHERE name = $1";
    pub const CLAIM_UPLOAD: &str = "UPDATE uploads SET writer = $1, writer_since = $2 \
        WHERE id = $3 AND repository_id = (SELECT id FROM repositories WHERE name = $4) \
        AND (writer IS NULL OR writer_since < $5) RETURNING size";
    pub const UPLOAD_SIZE: &str = "SELECT u.size FROM uploads u JOIN repositories r ON r.id = u.repository_id \
        WHERE u.id = $1 AND r.name = $2";
    pub const RELEASE_UPLOAD: &str = "UPDATE uploads SET writer = NULL, writer_since = NULL, size = $1, updated_at = $2 WHERE id = $3 AND writer = $4";
    pub const HEALTH: &str = "INSERT INTO health (id, checked_at) VALUES (1, $1) \
        ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at";
    /// A manifest referencing a blob; binds repository id, blob digest.
    pub const BLOB_USER: &str = "SELECT manifest_digest FROM manifest_references \
        WHERE repository_id = $1 AND child_digest = $2 AND kind = 'blob' LIMIT 1";
    /// Remove a blob link; binds repository id, blob digest.
    pub const UNLINK_BLOB: &str =
        "DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2";
    /// Insert a signature row; binds repository id, signature digest, layer, subject, key id, status, detail.
    pub const INSERT_SIGNATURE: &str = "INSERT INTO signatures (repository_id, signature_digest, layer, subject, key_id, status, detail) \
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
}

/// The queries both backends run the same way, written once: expands, inside a backend
/// module, to free functions over that backend's pool and transaction types (`$db` is
/// `sqlx::Sqlite` or `sqlx::Postgres`). The SQL is in [`shared_sql`].
macro_rules! shared_queries {
    ($db:ty) => {
        use super::{
            CatalogTuple, ReferrerTuple, SignatureTuple, TagTuple, WasmTuple, catalog_row,
            like_pattern, referrer_row, shared_sql, signature_row, tag_row, unversioned, wasm_row,
        };

        /// Insert what is derived from a manifest: its Wasm index entry with one row per
        /// interface, and the signatures it carries.
        async fn insert_derived(
            tx: &mut sqlx::Transaction<'static, $db>,
            repo_id: i64,
            digest: &str,
            m: &super::NewManifest<'_>,
        ) -> Result<(), StoreError> {
            if let Some(w) = &m.wasm {
                sqlx::query(shared_sql::INSERT_WASM)
                    .bind(repo_id)
                    .bind(digest)
                    .bind(&w.kind)
                    .bind(&w.target)
                    .bind(&w.package)
                    .bind(serde_json::to_string(&w.imports).unwrap_or_default())
                    .bind(serde_json::to_string(&w.exports).unwrap_or_default())
                    .bind(&w.layer_digest)
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
                        sqlx::query(shared_sql::INSERT_INTERFACE)
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
                sqlx::query(shared_sql::INSERT_SIGNATURE)
                    .bind(repo_id)
                    .bind(digest)
                    .bind(i64::from(sig.layer))
                    .bind(sig.subject.to_string())
                    .bind(&sig.key_id)
                    .bind(&sig.status)
                    .bind(&sig.detail)
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }

        async fn wasm_entry(
            pool: &sqlx::Pool<$db>,
            repo: &RepositoryName,
            digest: &Digest,
        ) -> Result<Option<WasmIndexEntry>, StoreError> {
            let row: Option<WasmTuple> = sqlx::query_as(shared_sql::WASM_ENTRY)
                .bind(repo.as_str())
                .bind(digest.to_string())
                .fetch_optional(pool)
                .await?;
            row.map(wasm_row).transpose()
        }

        async fn catalog(
            pool: &sqlx::Pool<$db>,
            filter: &CatalogFilter,
        ) -> Result<Vec<CatalogRow>, StoreError> {
            let direction = if filter.interface.is_empty() {
                ""
            } else {
                filter.direction.as_str()
            };
            let rows: Vec<CatalogTuple> = sqlx::query_as(shared_sql::CATALOG)
                .bind(&filter.text)
                .bind(like_pattern(&filter.text, true))
                .bind(direction)
                .bind(like_pattern(&filter.interface, false))
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(catalog_row).collect())
        }

        async fn tag_details(
            pool: &sqlx::Pool<$db>,
            repo: &RepositoryName,
            yank_type: &str,
        ) -> Result<Vec<TagRow>, StoreError> {
            let rows: Vec<TagTuple> = sqlx::query_as(shared_sql::TAG_DETAILS)
                .bind(repo.as_str())
                .bind(yank_type)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(tag_row).collect())
        }

        async fn referrers(
            pool: &sqlx::Pool<$db>,
            repo: &RepositoryName,
            subject: &Digest,
            artifact_type: Option<&str>,
        ) -> Result<Vec<Descriptor>, StoreError> {
            let rows: Vec<ReferrerTuple> = sqlx::query_as(shared_sql::REFERRERS)
                .bind(repo.as_str())
                .bind(subject.to_string())
                .bind(artifact_type)
                .fetch_all(pool)
                .await?;
            rows.into_iter().map(referrer_row).collect()
        }

        async fn delete_manifest(
            pool: &sqlx::Pool<$db>,
            repo: &RepositoryName,
            digest: &Digest,
        ) -> Result<bool, StoreError> {
            let deleted = sqlx::query(shared_sql::DELETE_MANIFEST)
                .bind(digest.to_string())
                .bind(repo.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted > 0)
        }

        async fn delete_tag(
            pool: &sqlx::Pool<$db>,
            repo: &RepositoryName,
            tag: &Tag,
        ) -> Result<bool, StoreError> {
            let deleted = sqlx::query(shared_sql::DELETE_TAG)
                .bind(tag.as_str())
                .bind(repo.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted > 0)
        }

        /// Remove a blob link unless a manifest of the repository references the blob,
        /// in the backend's write transaction `tx`.
        async fn unlink_blob(
            mut tx: sqlx::Transaction<'static, $db>,
            repo: &RepositoryName,
            digest: &Digest,
        ) -> Result<UnlinkOutcome, StoreError> {
            let Some(repo_id): Option<i64> = sqlx::query_scalar(shared_sql::REPOSITORY_ID)
                .bind(repo.as_str())
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(UnlinkOutcome::NotFound);
            };
            let user: Option<String> = sqlx::query_scalar(shared_sql::BLOB_USER)
                .bind(repo_id)
                .bind(digest.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(user) = user {
                return Ok(UnlinkOutcome::Referenced(digest_of(&user)?));
            }
            let deleted = sqlx::query(shared_sql::UNLINK_BLOB)
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

        async fn claim_upload(
            pool: &sqlx::Pool<$db>,
            repo: &RepositoryName,
            id: &UploadId,
            writer: &str,
            stale_before: &str,
        ) -> Result<super::UploadClaim, StoreError> {
            let claimed: Option<i64> = sqlx::query_scalar(shared_sql::CLAIM_UPLOAD)
                .bind(writer)
                .bind(now())
                .bind(id.as_str())
                .bind(repo.as_str())
                .bind(stale_before)
                .fetch_optional(pool)
                .await?;
            if let Some(size) = claimed {
                return Ok(super::UploadClaim::Claimed {
                    size: size.max(0) as u64,
                });
            }
            Ok(match upload(pool, repo, id).await? {
                Some(size) => super::UploadClaim::Busy { size },
                None => super::UploadClaim::Unknown,
            })
        }

        /// The recorded size of upload `id` of `repo`.
        async fn upload(
            pool: &sqlx::Pool<$db>,
            repo: &RepositoryName,
            id: &UploadId,
        ) -> Result<Option<u64>, StoreError> {
            let size: Option<i64> = sqlx::query_scalar(shared_sql::UPLOAD_SIZE)
                .bind(id.as_str())
                .bind(repo.as_str())
                .fetch_optional(pool)
                .await?;
            Ok(size.map(|s| s.max(0) as u64))
        }

        async fn release_upload(
            pool: &sqlx::Pool<$db>,
            id: &UploadId,
            writer: &str,
            size: u64,
        ) -> Result<bool, StoreError> {
            let n = sqlx::query(shared_sql::RELEASE_UPLOAD)
                .bind(i64_of(size))
                .bind(now())
                .bind(id.as_str())
                .bind(writer)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        }

        async fn check_writable(pool: &sqlx::Pool<$db>) -> Result<(), StoreError> {
            sqlx::query(shared_sql::HEALTH)
                .bind(now())
                .execute(pool)
                .await?;
            Ok(())
        }

        async fn signatures(
            pool: &sqlx::Pool<$db>,
            repo: &RepositoryName,
            subject: &Digest,
        ) -> Result<Vec<SignatureRecord>, StoreError> {
            let rows: Vec<SignatureTuple> = sqlx::query_as(shared_sql::SIGNATURES)
                .bind(repo.as_str())
                .bind(subject.to_string())
                .fetch_all(pool)
                .await?;
            rows.into_iter().map(signature_row).collect()
        }
    };
}
use shared_queries;

/// A LIKE pattern from a glob: `*` → `%`, and `%` around plain text for substring search.
pub fn like_pattern(glob: &str, substring: bool) -> String {
    let p = glob.to_lowercase().replace('*', "%");
    if substring { format!("%{p}%") } else { p }
}

/// Decode a catalog row tuple.
type CatalogTuple = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn catalog_row(t: CatalogTuple) -> CatalogRow {
    CatalogRow {
        repository: t.0,
        tag: t.1,
        digest: t.2,
        updated_at: t.3,
        kind: t.4,
        description: t.5,
        target: t.6,
    }
}

/// Decode a tag-details tuple.
type TagTuple = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
);

fn tag_row(t: TagTuple) -> TagRow {
    TagRow {
        tag: t.0,
        digest: t.1,
        updated_at: t.2,
        media_type: t.3,
        artifact_type: t.4,
        size: t.5.max(0) as u64,
        kind: t.6,
        yank: t.7,
    }
}

/// Decode a referrer tuple: digest, media type, size, artifact type, annotations (JSON).
type ReferrerTuple = (String, String, i64, Option<String>, Option<String>);

fn referrer_row(t: ReferrerTuple) -> Result<Descriptor, StoreError> {
    let mut d = Descriptor::new(&t.1, digest_of(&t.0)?, t.2.max(0) as u64);
    d.artifact_type = t.3;
    d.annotations = t.4.and_then(|a| serde_json::from_str(&a).ok());
    Ok(d)
}

/// Decode a signature tuple.
type SignatureTuple = (String, i64, String, Option<String>, String, Option<String>);

fn signature_row(t: SignatureTuple) -> Result<SignatureRecord, StoreError> {
    Ok(SignatureRecord {
        signature_digest: digest_of(&t.0)?,
        layer: u32::try_from(t.1).unwrap_or(0),
        subject: digest_of(&t.2)?,
        key_id: t.3,
        status: t.4,
        detail: t.5,
    })
}

/// Decode a wasm index tuple.
type WasmTuple = (
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn wasm_row(t: WasmTuple) -> Result<WasmIndexEntry, StoreError> {
    let list = |col: &str, text: &str| -> Result<Vec<String>, StoreError> {
        serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("wasm_index.{col}: {e}")))
    };
    Ok(WasmIndexEntry {
        kind: t.0,
        target: t.1,
        package: t.2,
        imports: list("imports", &t.3)?,
        exports: list("exports", &t.4)?,
        layer_digest: t.5,
        layer_size: t.6.max(0) as u64,
        description: t.7,
        licenses: t.8,
        source: t.9,
        authors: t.10,
        wit: t.11,
    })
}

/// A stored manifest.
#[derive(Clone, Debug)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The raw bytes.
    pub content: Vec<u8>,
}

/// The outcome of [`Store::put_manifest`].
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored (or already there) and tagged.
    Stored,
    /// A referenced blob is no longer linked to the repository (collected meanwhile).
    BlobMissing(Digest),
}

/// The outcome of [`Store::unlink_blob`].
#[derive(Debug, PartialEq, Eq)]
pub enum UnlinkOutcome {
    /// The repository no longer holds the blob.
    Unlinked,
    /// The repository does not hold that blob.
    NotFound,
    /// A manifest of the repository still references it.
    Referenced(Digest),
}

/// What one garbage-collection pass may remove (see `service::gc`).
#[derive(Clone, Debug)]
pub struct GcPolicy {
    /// RFC 3339 time: content last used before it, and unreferenced, goes.
    pub grace_before: String,
    /// RFC 3339 time: upload sessions not written to since then go.
    pub uploads_before: String,
    /// Also remove manifests that no tag, index or subject keeps.
    pub untagged: bool,
}

/// What a garbage-collection pass removed from the metadata (or would, in a dry run).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Manifests removed, as `repository@digest`.
    pub manifests: Vec<String>,
    /// Blob links removed from repositories, as `repository@digest`.
    pub links: Vec<String>,
    /// Blobs no repository holds any more: their files are to be deleted.
    pub blobs: Vec<Digest>,
    /// Expired upload sessions: their files are to be deleted.
    pub uploads: Vec<String>,
}

/// Totals for the metrics endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Repositories with at least one manifest.
    pub repositories: u64,
    /// Manifests.
    pub manifests: u64,
    /// Committed blobs.
    pub blobs: u64,
    /// Their total size in bytes.
    pub blob_bytes: u64,
    /// Open upload sessions.
    pub uploads: u64,
}

/// The answer to [`Store::claim_upload`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadClaim {
    /// The caller holds the session, which has `size` bytes.
    Claimed { size: u64 },
    /// Another request holds it.
    Busy { size: u64 },
    /// No such session in that repository.
    Unknown,
}

/// One page of a listing: at most `n` items after `last` (lexical order).
#[derive(Clone, Copy, Debug)]
pub struct Page<'a> {
    /// Maximum number of items.
    pub n: u32,
    /// Exclusive lower bound.
    pub last: Option<&'a str>,
}

/// Registry metadata; one method = one spec operation = one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Record that blob `digest` of `size` bytes is committed and belongs to `repo`.
    async fn link_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
    ) -> Result<(), StoreError>;
    /// Size of `digest` if `repo` may serve it.
    async fn repository_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>, StoreError>;
    /// Open an upload session in `repo`.
    async fn create_upload(&self, repo: &RepositoryName, id: &UploadId) -> Result<(), StoreError>;
    /// The recorded size of upload `id` of `repo`, or `None` when there is no such session.
    async fn upload(&self, repo: &RepositoryName, id: &UploadId)
    -> Result<Option<u64>, StoreError>;
    /// Claim upload `id` of `repo` for `writer` (a fresh id per request): succeeds when no
    /// one holds it, or the holder's claim is older than `stale_before` (RFC 3339). One
    /// statement, so two requests on any instances sharing the database never both win.
    async fn claim_upload(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        writer: &str,
        stale_before: &str,
    ) -> Result<UploadClaim, StoreError>;
    /// Release `writer`'s claim on upload `id`, recording the size it reached. `false`
    /// when the claim was no longer `writer`'s (taken over as abandoned, or the session
    /// ended): the caller must then not report success.
    async fn release_upload(
        &self,
        id: &UploadId,
        writer: &str,
        size: u64,
    ) -> Result<bool, StoreError>;
    /// A write to the database (readiness): fails when the database cannot take one.
    async fn check_writable(&self) -> Result<(), StoreError>;
    /// Close an upload session.
    async fn delete_upload(&self, id: &UploadId) -> Result<(), StoreError>;
    /// Store a manifest (idempotent) and point `tags` at it, with its references and index
    /// entry. Every blob in `m.blobs` must still be linked to `repo` when the transaction
    /// commits (garbage collection may run concurrently), else [`PutOutcome::BlobMissing`].
    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        m: &NewManifest<'_>,
        tags: &[Tag],
    ) -> Result<PutOutcome, StoreError>;
    /// A manifest by tag or digest.
    async fn manifest(
        &self,
        repo: &RepositoryName,
        r: &Reference,
    ) -> Result<Option<StoredManifest>, StoreError>;
    /// True when `repo` has a manifest `digest`.
    async fn has_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StoreError>;
    /// Tags of `repo` in lexical order, or `None` when the repository is unknown.
    async fn tags(
        &self,
        repo: &RepositoryName,
        page: Page<'_>,
    ) -> Result<Option<Vec<String>>, StoreError>;
    /// Repositories that hold at least one manifest, in lexical order.
    async fn repositories(&self, page: Page<'_>) -> Result<Vec<String>, StoreError>;
    /// The Wasm index entry of a manifest.
    async fn wasm_entry(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<WasmIndexEntry>, StoreError>;
    /// Descriptors of the manifests of `repo` whose subject is `subject`, optionally only
    /// those of `artifact_type` (OCI Distribution v1.1, "Listing Referrers").
    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError>;
    /// Delete manifest `digest` of `repo` with its tags, references and index entry.
    /// Returns false when there was none.
    async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StoreError>;
    /// Delete tag `tag` of `repo` (the manifest stays). Returns false when there was none.
    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> Result<bool, StoreError>;
    /// Remove blob `digest` from `repo`, unless a manifest of `repo` references it.
    async fn unlink_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<UnlinkOutcome, StoreError>;
    /// Note that a client relied on blob `digest` of `repo` (a HEAD before skipping an
    /// upload), so garbage collection keeps it for another grace period.
    /// Only links last used before `stale_before` (RFC 3339) are written, to bound writes.
    async fn touch_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        stale_before: &str,
    ) -> Result<(), StoreError>;
    /// One garbage-collection pass over the metadata, in one transaction; with `dry_run`
    /// nothing is changed and the report says what would go.
    async fn collect_garbage(
        &self,
        policy: &GcPolicy,
        dry_run: bool,
    ) -> Result<GcReport, StoreError>;
    /// Which of `blobs` have a row, and which of `uploads` are open sessions (to find files
    /// that a crash left without metadata).
    async fn known(
        &self,
        blobs: &[Digest],
        uploads: &[String],
    ) -> Result<(Vec<bool>, Vec<bool>), StoreError>;
    /// Counts for metrics; also a cheap liveness probe of the database.
    async fn usage(&self) -> Result<Usage, StoreError>;
    /// Every package (repository with a tagged Wasm manifest) matching `filter`, by name.
    async fn catalog(&self, filter: &CatalogFilter) -> Result<Vec<CatalogRow>, StoreError>;
    /// The tags of `repo` with what they point at, by tag name; `yank_type` is the
    /// artifact type of yank marks.
    async fn tag_details(
        &self,
        repo: &RepositoryName,
        yank_type: &str,
    ) -> Result<Vec<TagRow>, StoreError>;
    /// The signatures recorded for manifest `subject` of `repo`.
    async fn signatures(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<SignatureRecord>, StoreError>;
}
