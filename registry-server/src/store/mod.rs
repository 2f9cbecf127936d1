//! Registry metadata: one `Store` trait, one method per spec operation, each one
//! transaction. Only here is SQL: written once in `sql.rs` for both databases; `sqlite.rs`
//! and `postgres.rs` only open the database, run its migrations and take its write lock.

mod postgres;
mod sql;
mod sqlite;

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use wharf_oci::{Descriptor, Digest, Reference, RepositoryName, Tag};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use wharf_component::WasmKind;
pub use wharf_sign::SignatureStatus;

use crate::storage::UploadId;

/// A point in time (UTC). Both databases store it as RFC 3339 text with milliseconds
/// (`2026-11-25T18:00:00.000Z`), which sorts as text in time order.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// `t` as the text both backends store.
fn text_of(t: &Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now, as the text both backends store.
fn now() -> String {
    text_of(&chrono::Utc::now())
}

/// A time read back from column `column`; a malformed one means corrupt metadata.
fn timestamp_of(column: &str, s: &str) -> Result<Timestamp, StoreError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| StoreError::Corrupt(format!("{column}: `{s}`: {e}")))
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

/// A repository name, tag or other value of `column` read back with its parser.
fn parsed<T: std::str::FromStr>(column: &str, s: &str) -> Result<T, StoreError>
where
    T::Err: fmt::Display,
{
    s.parse()
        .map_err(|e: T::Err| StoreError::Corrupt(format!("{column}: `{s}`: {e}")))
}

/// The Wasm kind of `column`.
fn kind_of(column: &str, s: &str) -> Result<WasmKind, StoreError> {
    WasmKind::from_name(s).ok_or_else(|| StoreError::Corrupt(format!("{column}: kind `{s}`")))
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
    /// Core module, component or WIT package.
    pub kind: WasmKind,
    /// Target world, when known.
    pub target: Option<String>,
    /// WIT package name (for WIT packages).
    pub package: Option<String>,
    /// Imports (world keys).
    pub imports: Vec<String>,
    /// Exports (world keys).
    pub exports: Vec<String>,
    /// The wasm layer.
    pub layer_digest: Digest,
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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Signature)]
pub struct SignatureRecord {
    /// The signature manifest.
    #[schema(value_type = String)]
    pub signature_digest: Digest,
    /// Index of the signature layer in it.
    pub layer: u32,
    /// The manifest the payload says is signed.
    #[schema(value_type = String)]
    pub subject: Digest,
    /// The operator key that verified it (`sha256:` + 16 hex digits), if one did.
    pub key_id: Option<String>,
    /// Verified (by an operator key), unverified (well-formed, no operator key matches) or
    /// invalid (malformed, or the payload names another manifest).
    #[schema(schema_with = crate::service::openapi::signature_status)]
    pub status: SignatureStatus,
    /// Why, for `unverified` and `invalid`.
    pub detail: Option<String>,
}

/// Which side of a component an interface is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The component imports it.
    Import,
    /// The component exports it.
    Export,
}

impl Direction {
    /// `import` or `export`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Import => "import",
            Direction::Export => "export",
        }
    }
}

/// Artifact type of yank marks (`wharf yank`): a referrer of this type marks its subject's
/// tags as yanked, and takes them out of the running for a package's latest version.
pub const YANK_ARTIFACT_TYPE: &str = wharf_oci::yank::ARTIFACT_TYPE;

/// Which repositories a listing may show a viewer: a show-or-hide decision per repository
/// prefix, the longest prefix matching at `/` boundaries deciding (as
/// [`crate::auth::Auth::permitted`] decides), no matching prefix meaning hidden.
///
/// The same value answers for one name ([`Visibility::allows`]) and becomes a condition of
/// the catalog's SQL, so a listing is filtered before it is paged and counted, and a page
/// shows exactly the packages a viewer could open.
///
/// A bearer token sees what anyone may pull and, besides, exactly the repositories it
/// grants `pull` on ([`Visibility::also`]), not everything its user may pull.
#[derive(Clone, Debug)]
pub struct Visibility {
    /// `(prefix without trailing '/', shown)`, the prefix that decides first: longest
    /// first, and of equal prefixes the one configured last. `None` shows everything.
    rules: Option<Vec<(String, bool)>>,
    /// Repositories shown besides what the rules show, by exact name (sorted).
    also: Vec<String>,
}

impl Visibility {
    /// Everything is shown (a registry without `[auth]`).
    pub fn all() -> Self {
        Visibility {
            rules: None,
            also: Vec::new(),
        }
    }

    /// Decisions by prefix, in configuration order (`""` is every repository; `team` and
    /// `team/` are `team` and `team/…`). Where two rules name the same prefix, the later
    /// one decides.
    pub fn by_prefix(rules: impl IntoIterator<Item = (String, bool)>) -> Self {
        let mut rules: Vec<(usize, String, bool)> = rules
            .into_iter()
            .enumerate()
            .map(|(i, (p, shown))| (i, p.trim_end_matches('/').to_owned(), shown))
            .collect();
        rules.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(b.0.cmp(&a.0)));
        Visibility {
            rules: Some(rules.into_iter().map(|(_, p, s)| (p, s)).collect()),
            also: Vec::new(),
        }
    }

    /// This visibility, and besides it exactly the repositories `names` (not the ones under
    /// them).
    pub fn also(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.also.extend(names);
        self.also.sort();
        self.also.dedup();
        self
    }

    /// Whether repository `name` is shown.
    pub fn allows(&self, name: &str) -> bool {
        let by_rules = match &self.rules {
            None => true,
            Some(rules) => rules
                .iter()
                .find(|(p, _)| wharf_oci::under_prefix(p, name))
                .is_some_and(|(_, shown)| *shown),
        };
        by_rules || self.also.binary_search_by(|n| n.as_str().cmp(name)).is_ok()
    }

    /// Whether every repository is shown, whatever its name: no rules, or a shown `""`
    /// rule and no hidden prefix.
    pub fn is_everything(&self) -> bool {
        match &self.rules {
            None => true,
            Some(rules) => {
                rules.iter().all(|(_, shown)| *shown) && rules.iter().any(|(p, _)| p.is_empty())
            }
        }
    }

    /// The decisions, deciding one first; `None` for everything shown.
    fn rules(&self) -> Option<&[(String, bool)]> {
        self.rules.as_deref()
    }

    /// The repositories shown besides the rules, by exact name.
    fn also_names(&self) -> &[String] {
        &self.also
    }
}

/// What to look for in the catalog; empty text and no interface match everything.
#[derive(Clone, Debug)]
pub struct CatalogFilter {
    /// Substring of the repository name or the description (case-insensitive).
    pub text: String,
    /// An interface the package imports or exports: a name or glob (`*` matches
    /// anything), compared with and without version.
    pub interface: Option<(Direction, String)>,
    /// The repositories the viewer may see; others are neither listed nor counted.
    pub visible: Visibility,
}

/// One page of a listing: rows after skipping `offset`, at most `limit` of them.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Rows skipped.
    pub offset: u64,
    /// Most rows returned.
    pub limit: u32,
}

/// One package (repository) in the catalog: its latest version by [`latest_version`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CatalogRow {
    /// Repository name.
    pub repository: RepositoryName,
    /// The tag.
    pub tag: Tag,
    /// The manifest digest.
    pub digest: Digest,
    /// When the tag was last set.
    pub updated_at: Timestamp,
    /// Core module, component or WIT package.
    pub kind: WasmKind,
    /// Description, when the package has one.
    pub description: Option<String>,
    /// Target world, when known.
    pub target: Option<String>,
}

/// One tag of a repository with what it points at.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Tag)]
pub struct TagRow {
    /// The tag.
    #[schema(value_type = String)]
    pub tag: Tag,
    /// Manifest digest.
    #[schema(value_type = String)]
    pub digest: Digest,
    /// When the tag was last set.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Manifest media type.
    pub media_type: String,
    /// Artifact type (or config media type).
    pub artifact_type: Option<String>,
    /// Manifest size in bytes.
    pub size: u64,
    /// Wasm kind when it is a Wasm package.
    #[schema(schema_with = crate::service::openapi::optional_kind)]
    pub kind: Option<WasmKind>,
    /// Annotations of the newest yank mark, when yanked.
    pub yank: Option<BTreeMap<String, String>>,
}

/// The latest version among a repository's tags: the highest semver tag of a Wasm
/// manifest that is not yanked; when there is none, the most recently set tag of a Wasm
/// manifest (yanked, or not semver); `None` without Wasm tags. The one rule behind the
/// catalog's listings, a package's page and its JSON (`latest`).
pub fn latest_version(rows: &[TagRow]) -> Option<&TagRow> {
    rows.iter()
        .filter(|r| r.kind.is_some() && r.yank.is_none())
        .filter_map(|r| Some((r.tag.semver()?, r)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r)
        .or_else(|| {
            rows.iter()
                .filter(|r| r.kind.is_some())
                .max_by(|a, b| a.updated_at.cmp(&b.updated_at))
        })
}

/// A LIKE pattern from a glob: `*` → `%`, and `%` around plain text for substring search.
pub fn like_pattern(glob: &str, substring: bool) -> String {
    let p = glob.to_lowercase().replace('*', "%");
    if substring { format!("%{p}%") } else { p }
}

/// A stored manifest.
#[derive(Clone, Debug)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The raw bytes.
    pub content: bytes::Bytes,
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
    /// Content last used before then, and unreferenced, goes.
    pub grace_before: Timestamp,
    /// Upload sessions not written to since then go.
    pub uploads_before: Timestamp,
    /// Also remove manifests that no tag, index or subject keeps.
    pub untagged: bool,
}

/// What a garbage-collection pass removed from the metadata (or would, in a dry run).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Manifests removed.
    pub manifests: Vec<InRepository>,
    /// Blob links removed from repositories.
    pub links: Vec<InRepository>,
    /// Blobs no repository holds any more: their files are to be deleted.
    pub blobs: Vec<Digest>,
    /// Expired upload sessions: what the blob store holds of them is to be deleted.
    pub uploads: Vec<ExpiredUpload>,
}

/// A manifest or blob of one repository; printed and serialized as `repository@digest`,
/// and equal to that text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InRepository {
    /// The repository.
    pub repository: RepositoryName,
    /// The manifest or blob.
    pub digest: Digest,
}

impl fmt::Display for InRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.repository, self.digest)
    }
}

impl PartialEq<String> for InRepository {
    fn eq(&self, other: &String) -> bool {
        other
            .rsplit_once('@')
            .is_some_and(|(r, d)| self.repository == r && self.digest.to_string() == d)
    }
}

impl serde::Serialize for InRepository {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
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

/// Where an upload session stands, as the metadata database keeps it: enough for any
/// registry instance to continue it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadState {
    /// Bytes received and acknowledged so far.
    pub size: u64,
    /// The running hash over those bytes (`DigestHasher::save`); `None` for a session whose
    /// hash was lost (it is then hashed again from the stored bytes at commit).
    pub hash_state: Option<Vec<u8>>,
    /// The blob store's own state of the upload (opaque here).
    pub storage_state: Option<String>,
}

/// A change to manifests or tags, as other registry instances sharing the database learn
/// of it ([`Store::manifest_changes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestChange {
    /// Manifests or tags of this repository changed.
    Repository(RepositoryName),
    /// Anything may have changed (a garbage-collection pass, a notification missed).
    All,
}

/// An upload session garbage collection expired, with the blob store's state of it (to
/// abort what the store holds, such as a multipart upload). Shown as its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredUpload {
    /// The session.
    pub id: UploadId,
    /// The blob store's state of it.
    pub storage_state: Option<String>,
}

impl fmt::Display for ExpiredUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.id.fmt(f)
    }
}

impl PartialEq<UploadId> for ExpiredUpload {
    fn eq(&self, other: &UploadId) -> bool {
        self.id == *other
    }
}

impl serde::Serialize for ExpiredUpload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.id.serialize(s)
    }
}

/// The answer to [`Store::claim_upload`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadClaim {
    /// The caller holds the session, which stands at `state`.
    Claimed(UploadState),
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
    /// Open an upload session in `repo` whose running hash starts at `hash_state`.
    async fn create_upload(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        hash_state: &[u8],
    ) -> Result<(), StoreError>;
    /// The recorded size of upload `id` of `repo`, or `None` when there is no such session.
    async fn upload(&self, repo: &RepositoryName, id: &UploadId)
    -> Result<Option<u64>, StoreError>;
    /// Claim upload `id` of `repo` for `writer` (a fresh id per request): succeeds when no
    /// one holds it, or the holder's claim is older than `stale_before`. One
    /// statement, so two requests on any instances sharing the database never both win.
    async fn claim_upload(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        writer: &str,
        stale_before: Timestamp,
    ) -> Result<UploadClaim, StoreError>;
    /// Release `writer`'s claim on upload `id`, recording the state it reached. `false`
    /// when the claim was no longer `writer`'s (taken over as abandoned, or the session
    /// ended): the caller must then not report success.
    async fn release_upload(
        &self,
        id: &UploadId,
        writer: &str,
        state: &UploadState,
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
    ) -> Result<Option<Vec<Tag>>, StoreError>;
    /// Repositories that hold at least one manifest and that `visible` shows, in lexical
    /// order (filtered before the page is cut).
    async fn repositories(
        &self,
        page: Page<'_>,
        visible: &Visibility,
    ) -> Result<Vec<RepositoryName>, StoreError>;
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
    /// Only links last used before `stale_before` are written, to bound writes.
    async fn touch_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        stale_before: Timestamp,
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
        uploads: &[UploadId],
    ) -> Result<(Vec<bool>, Vec<bool>), StoreError>;
    /// Counts for metrics; also a cheap liveness probe of the database.
    async fn usage(&self) -> Result<Usage, StoreError>;
    /// The changes other processes make to manifests and tags, as they commit them
    /// (PostgreSQL `LISTEN`); `None` where the database has no such channel (SQLite, whose
    /// registry is one process).
    async fn manifest_changes(
        &self,
    ) -> Option<futures_util::stream::BoxStream<'static, ManifestChange>>;
    /// When tag `tag` of mirrored repository `repo` was last checked upstream.
    async fn mirror_checked(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Timestamp>, StoreError>;
    /// Record that tag `tag` of mirrored repository `repo` was checked upstream `at`.
    async fn set_mirror_checked(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Bytes of the distinct blobs held by repositories under `prefix` (each blob counted
    /// once however many of them hold it), and whether blob `digest` is among them.
    async fn prefix_usage(
        &self,
        prefix: &str,
        digest: Option<&Digest>,
    ) -> Result<(u64, bool), StoreError>;
    /// One page of the packages (repositories with a tagged Wasm manifest) matching
    /// `filter`, by name (or newest first with `recent`), and how many match in all.
    async fn catalog(
        &self,
        filter: &CatalogFilter,
        recent: bool,
        window: Window,
    ) -> Result<(Vec<CatalogRow>, u64), StoreError>;
    /// One page of the repositories holding a manifest (any artifact) that `visible`
    /// shows, by name, and how many it shows in all.
    async fn repository_page(
        &self,
        visible: &Visibility,
        window: Window,
    ) -> Result<(Vec<RepositoryName>, u64), StoreError>;
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
    /// Per signed manifest of `repo`: (subject, signatures, verified signatures), in one
    /// query (a package page's versions).
    async fn signature_counts(
        &self,
        repo: &RepositoryName,
    ) -> Result<Vec<(Digest, u64, u64)>, StoreError>;

    /// The release log's signing key as (private key, verifier key), creating it from
    /// `generate` when there is none yet; every instance of a registry reads the same one.
    async fn log_key(
        &self,
        generate: &(dyn Fn() -> Result<(String, String), StoreError> + Send + Sync),
    ) -> Result<(String, String), StoreError>;
    /// Entries in the release log.
    async fn log_size(&self) -> Result<u64, StoreError>;
    /// Release log entries `start..end` (as many as exist), in order.
    async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// The release log's stored hashes at `indexes` (`wharf_sign::log`), those that exist.
    async fn log_hashes(
        &self,
        indexes: &[u64],
    ) -> Result<std::collections::HashMap<u64, wharf_sign::log::TreeHash>, StoreError>;
}
