//! The package catalog: what the JSON API (`/api/v1`) and the web UI show. One set of
//! methods for both, so a page and its JSON always agree. Every method takes the viewer's
//! pull permission and shows only repositories the viewer may pull, with the same
//! answer (not found) for hidden and missing repositories.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;
use wharf_oci::{Digest, ImageManifest, Reference, RepositoryName, Tag};

use super::{Registry, ServiceError};
pub use crate::store::YANK_ARTIFACT_TYPE;
use crate::store::{
    CatalogFilter, Direction, SignatureRecord, TagRow, Timestamp, Visibility, WasmKind, Window,
};

/// Artifact type of CycloneDX SBOM referrers.
pub const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
/// Largest page a listing returns.
pub const MAX_PER_PAGE: u32 = 100;

/// Who is looking, and how to name things for them.
pub struct Viewer<'a> {
    /// The repositories the viewer may pull, the only ones shown to them.
    pub visible: &'a Visibility,
    /// Registry host for fetch commands (`host[:port]`).
    pub host: &'a str,
    /// Repository prefix that package namespaces live under.
    pub namespace_prefix: &'a str,
    /// True when the viewer reaches the registry over plain HTTP (fetch commands say so).
    pub plain_http: bool,
}

impl Viewer<'_> {
    /// True when the viewer may pull repository `name`.
    pub fn may_pull(&self, name: &str) -> bool {
        self.visible.allows(name)
    }

    /// `ns:name` for a repository `<prefix>ns/name`, when it has that shape.
    pub fn package_name(&self, repository: &str) -> Option<String> {
        let rest = repository.strip_prefix(self.namespace_prefix)?;
        let (ns, name) = rest.split_once('/')?;
        let label = |s: &str| {
            !s.is_empty()
                && s.split('-').all(|w| {
                    !w.is_empty()
                        && w.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                })
        };
        (label(ns) && label(name)).then(|| format!("{ns}:{name}"))
    }
}

/// A search: text, or an interface a package exports or imports; one page of it.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// Substring of the name or description.
    pub text: String,
    /// Interface (glob) the package must export.
    pub exports: String,
    /// Interface (glob) the package must import.
    pub imports: String,
    /// 1-based page.
    pub page: u32,
    /// Items per page (1..=100).
    pub per_page: u32,
    /// Newest first instead of by name.
    pub recent: bool,
}

/// One package in a listing.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PackageSummary {
    /// Repository name.
    #[schema(value_type = String)]
    pub repository: RepositoryName,
    /// `ns:name` when the repository maps to a WIT package name.
    pub name: Option<String>,
    /// The latest version (tag): the highest semver tag not yanked, else the most recently
    /// set one ([`crate::store::latest_version`], as on the package's page).
    #[schema(value_type = String)]
    pub latest: Tag,
    /// Core module, component or WIT package.
    #[schema(schema_with = openapi::kind)]
    pub kind: WasmKind,
    /// Description metadata.
    pub description: Option<String>,
    /// Target world.
    pub target: Option<String>,
    /// When that tag was pushed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// A page of packages.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PackagePage {
    /// The packages on this page.
    pub packages: Vec<PackageSummary>,
    /// Matches in all pages.
    pub total: usize,
    /// This page (1-based).
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// One version of a package.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VersionSummary {
    /// The semver tag.
    pub version: String,
    /// Manifest digest.
    #[schema(value_type = String)]
    pub digest: Digest,
    /// When the tag was pushed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The yank reason when yanked.
    pub yanked: Option<String>,
    /// Signatures recorded for it.
    pub signatures: u64,
    /// Of those, the ones verified by an operator key.
    pub verified_signatures: u64,
}

/// How many packages import an interface this package exports.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Dependents {
    /// The exported interface, unversioned (`ns:pkg/iface`).
    pub interface: String,
    /// Packages (their latest versions) that import it, as the viewer may see them.
    pub packages: usize,
}

/// A package: its versions and what its latest version says about itself.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PackageDetail {
    /// Repository name.
    #[schema(value_type = String)]
    pub repository: RepositoryName,
    /// `ns:name`, when the repository maps to one.
    pub name: Option<String>,
    /// Highest non-yanked semver version (else the most recent tag).
    #[schema(value_type = Option<String>)]
    pub latest: Option<Tag>,
    /// From the latest version.
    #[schema(schema_with = openapi::optional_kind)]
    pub kind: Option<WasmKind>,
    /// From the latest version.
    pub description: Option<String>,
    /// From the latest version (SPDX).
    pub licenses: Option<String>,
    /// From the latest version (URL).
    pub source: Option<String>,
    /// From the latest version.
    pub authors: Option<String>,
    /// From the latest version: `org.opencontainers.image.documentation` (URL).
    pub documentation: Option<String>,
    /// From the latest version: `org.opencontainers.image.url` (URL).
    pub homepage: Option<String>,
    /// The latest version's Wasm layer size in bytes.
    pub size: Option<u64>,
    /// The latest version's target world.
    pub target: Option<String>,
    /// The latest version's exports.
    pub exports: Vec<String>,
    /// The latest version's imports.
    pub imports: Vec<String>,
    /// The interfaces the latest version exports (a WIT package: defines), documented from
    /// its WIT: `{name, docs, functions: [{name, signature, docs}], types: [{name, kind,
    /// members, functions, docs}]}` (`wharf_component::InterfaceDoc`).
    #[schema(value_type = Vec<Object>)]
    pub interfaces: Vec<wharf_component::InterfaceDoc>,
    /// What the latest version's imports ask of its host, in plain words: `{id,
    /// description, interfaces}` (`wharf_component::Capability`; ids `filesystem`,
    /// `network`, `dns`, `http-client`, `environment`, `stdio`, `terminal`, `exit`, `clock`,
    /// `random`, `other`).
    #[schema(value_type = Vec<Object>)]
    pub capabilities: Vec<wharf_component::Capability>,
    /// For each exported interface, how many packages import it.
    pub dependents: Vec<Dependents>,
    /// Semver versions, highest first.
    pub versions: Vec<VersionSummary>,
    /// Other tags (`latest`, cosign `.sig` tags, …).
    pub tags: Vec<TagRow>,
}

/// A referrer of a version (signature, SBOM, yank mark, anything else).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Referrer)]
pub struct ReferrerSummary {
    /// Its manifest digest.
    #[schema(value_type = String)]
    pub digest: Digest,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Everything about one version.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VersionDetail {
    /// Repository name.
    #[schema(value_type = String)]
    pub repository: RepositoryName,
    /// `ns:name`, when the repository maps to one.
    pub name: Option<String>,
    /// The tag or digest asked for.
    pub reference: String,
    /// Manifest digest.
    #[schema(value_type = String)]
    pub digest: Digest,
    /// Manifest media type.
    pub media_type: String,
    /// Artifact type (or config media type).
    pub artifact_type: Option<String>,
    /// What it is (Wasm, container image, index, SBOM, signature, …) and what it holds.
    pub artifact: super::ArtifactView,
    /// Core module, component or WIT package; `None` for non-Wasm artifacts.
    #[schema(schema_with = openapi::optional_kind)]
    pub kind: Option<WasmKind>,
    /// Target world.
    pub target: Option<String>,
    /// Imported interfaces.
    pub imports: Vec<String>,
    /// Exported interfaces.
    pub exports: Vec<String>,
    /// The WIT it was built against.
    pub wit: Option<String>,
    /// Wasm layer size in bytes (else the sum of the layers).
    pub size: u64,
    /// `org.opencontainers.image.created`.
    pub created: Option<String>,
    /// Description metadata.
    pub description: Option<String>,
    /// Licences (SPDX).
    pub licenses: Option<String>,
    /// Source URL.
    pub source: Option<String>,
    /// Authors.
    pub authors: Option<String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Signatures, with the status the registry found.
    pub signatures: Vec<SignatureRecord>,
    /// The digest of the newest CycloneDX referrer, if any (its own version page shows
    /// its components).
    #[schema(value_type = Option<String>)]
    pub sbom: Option<Digest>,
    /// The yank reason when yanked.
    pub yanked: Option<String>,
    /// All referrers.
    pub referrers: Vec<ReferrerSummary>,
    /// How to fetch it as what it is, each command working when pasted into a shell in an
    /// empty directory.
    pub commands: Vec<super::FetchCommand>,
}

/// Where a qualified WIT name (`ns:pkg`, `ns:pkg/interface`) leads in this registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WitTarget {
    /// Packages here export the interface: the search for them.
    Exporters(String),
    /// The package that defines it is here.
    Package(RepositoryName),
}

/// A repository of any artifacts, with its tags.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RepositoryDetail {
    /// Repository name.
    #[schema(value_type = String)]
    pub repository: RepositoryName,
    /// Its tags with what they point at.
    pub tags: Vec<TagRow>,
}

/// A page of repository names (Wasm or not).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RepositoryPage {
    /// The names on this page, in byte order.
    #[schema(value_type = Vec<String>)]
    pub repositories: Vec<RepositoryName>,
    /// Repositories in all pages.
    pub total: usize,
    /// This page (1-based).
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// Schemas of the values whose types live in crates that know nothing of OpenAPI.
pub mod openapi {
    use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

    use crate::store::{SignatureStatus, WasmKind};

    fn text_enum(values: &[&str], nullable: bool) -> Object {
        let ty = if nullable {
            SchemaType::from_iter([Type::String, Type::Null])
        } else {
            SchemaType::Type(Type::String)
        };
        let mut values: Vec<Option<&str>> = values.iter().copied().map(Some).collect();
        if nullable {
            values.push(None);
        }
        ObjectBuilder::new()
            .schema_type(ty)
            .enum_values(Some(values))
            .build()
    }

    const KINDS: [WasmKind; 3] = [
        WasmKind::Component,
        WasmKind::CoreModule,
        WasmKind::WitPackage,
    ];

    /// A [`WasmKind`]: `component`, `core-module` or `wit-package`.
    pub fn kind() -> Object {
        text_enum(&KINDS.map(WasmKind::as_str), false)
    }

    /// An optional [`WasmKind`].
    pub fn optional_kind() -> Object {
        text_enum(&KINDS.map(WasmKind::as_str), true)
    }

    /// A [`SignatureStatus`]: `verified`, `unverified` or `invalid`.
    pub fn signature_status() -> Object {
        text_enum(
            &[
                SignatureStatus::Verified,
                SignatureStatus::Unverified,
                SignatureStatus::Invalid,
            ]
            .map(SignatureStatus::as_str),
            false,
        )
    }
}

fn yank_reason(annotations: &BTreeMap<String, String>) -> String {
    wharf_oci::yank::reason(Some(annotations))
}

/// Page `page` (1-based, at least 1) of `per_page` items (1..=[`MAX_PER_PAGE`]), as those
/// two numbers and the rows the store skips and returns.
fn page_window(page: u32, per_page: u32) -> (u32, u32, Window) {
    let (page, per_page) = (page.max(1), per_page.clamp(1, MAX_PER_PAGE));
    let window = Window {
        offset: u64::from(page - 1) * u64::from(per_page),
        limit: per_page,
    };
    (page, per_page, window)
}

fn visible(viewer: &Viewer<'_>, repo: &RepositoryName) -> Result<(), ServiceError> {
    match viewer.may_pull(repo.as_str()) {
        true => Ok(()),
        false => Err(ServiceError::NameUnknown(repo.clone())),
    }
}

impl Registry {
    /// Search packages: text in the name or description, or by interface, one page.
    ///
    /// # Errors
    /// [`ServiceError::BadRequest`] for both `exports` and `imports` at once.
    pub async fn search_packages(
        &self,
        q: &SearchQuery,
        viewer: &Viewer<'_>,
    ) -> Result<PackagePage, ServiceError> {
        let (exports, imports) = (q.exports.trim(), q.imports.trim());
        let interface = match (exports.is_empty(), imports.is_empty()) {
            (true, true) => None,
            (false, true) => Some((Direction::Export, exports.to_owned())),
            (true, false) => Some((Direction::Import, imports.to_owned())),
            (false, false) => {
                return Err(ServiceError::BadRequest(
                    "search by `exports` or by `imports`, not both".into(),
                ));
            }
        };
        let filter = CatalogFilter {
            text: q.text.trim().to_owned(),
            interface,
            visible: viewer.visible.clone(),
        };
        let (page, per_page, window) = page_window(q.page, q.per_page);
        let (rows, total) = self.store.catalog(&filter, q.recent, window).await?;
        let packages = rows
            .into_iter()
            .map(|r| PackageSummary {
                name: viewer.package_name(r.repository.as_str()),
                repository: r.repository,
                latest: r.tag,
                kind: r.kind,
                description: r.description,
                target: r.target,
                updated_at: r.updated_at,
            })
            .collect();
        Ok(PackagePage {
            packages,
            total: usize::try_from(total).unwrap_or(usize::MAX),
            page,
            per_page,
        })
    }

    /// A package: versions in semver order (yanked marked), other tags, and what the
    /// latest version says about itself.
    ///
    /// # Errors
    /// [`ServiceError::NameUnknown`] when the repository does not exist, holds no tags,
    /// or the viewer may not pull it.
    pub async fn package(
        &self,
        repo: &RepositoryName,
        viewer: &Viewer<'_>,
    ) -> Result<PackageDetail, ServiceError> {
        visible(viewer, repo)?;
        let rows = self.store.tag_details(repo, YANK_ARTIFACT_TYPE).await?;
        if rows.is_empty() {
            return Err(ServiceError::NameUnknown(repo.clone()));
        }
        let mut versions: Vec<(semver::Version, &TagRow)> = Vec::new();
        let mut tags = Vec::new();
        for r in &rows {
            match r.tag.semver() {
                Some(v) if r.kind.is_some() => versions.push((v, r)),
                _ => tags.push(r.clone()),
            }
        }
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        let latest_row = crate::store::latest_version(&rows);
        let entry = match latest_row {
            Some(r) => self.store.wasm_entry(repo, &r.digest).await?,
            None => None,
        };
        let annotations = match latest_row {
            Some(r) => self
                .store
                .manifest(repo, &Reference::Digest(r.digest.clone()))
                .await?
                .and_then(|m| ImageManifest::from_slice(&m.content).ok())
                .and_then(|m| m.annotations)
                .unwrap_or_default(),
            None => BTreeMap::new(),
        };
        let signed: std::collections::HashMap<Digest, (u64, u64)> = self
            .store
            .signature_counts(repo)
            .await?
            .into_iter()
            .map(|(d, total, verified)| (d, (total, verified)))
            .collect();
        let (interfaces, capabilities) = match &entry {
            Some(e) => {
                // a WIT package documents what it defines; a component, what it exports
                let names: Vec<String> = if e.kind == WasmKind::WitPackage {
                    Vec::new()
                } else {
                    e.exports.clone()
                };
                let docs = match (&e.wit, e.kind == WasmKind::WitPackage || !names.is_empty()) {
                    (Some(wit), true) => {
                        wharf_component::interface_docs(wit, &names).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                (docs, wharf_component::capabilities(&e.imports))
            }
            None => (Vec::new(), Vec::new()),
        };
        let mut dependents = Vec::new();
        let exported: std::collections::BTreeSet<&str> = match &entry {
            Some(e) if e.kind == WasmKind::WitPackage => interfaces
                .iter()
                .map(|d| crate::store::unversioned(&d.name))
                .collect(),
            Some(e) => e
                .exports
                .iter()
                .filter(|x| x.contains('/'))
                .map(|x| crate::store::unversioned(x))
                .collect(),
            None => Default::default(),
        };
        for interface in exported {
            let q = SearchQuery {
                imports: interface.to_owned(),
                page: 1,
                per_page: 1,
                ..Default::default()
            };
            dependents.push(Dependents {
                interface: interface.to_owned(),
                packages: self.search_packages(&q, viewer).await?.total,
            });
        }
        let annotation = |k: &str| annotations.get(k).filter(|v| !v.is_empty()).cloned();
        Ok(PackageDetail {
            repository: repo.clone(),
            name: viewer.package_name(repo.as_str()),
            latest: latest_row.map(|r| r.tag.clone()),
            kind: entry.as_ref().map(|e| e.kind),
            description: entry.as_ref().and_then(|e| e.description.clone()),
            licenses: entry.as_ref().and_then(|e| e.licenses.clone()),
            source: entry.as_ref().and_then(|e| e.source.clone()),
            authors: entry.as_ref().and_then(|e| e.authors.clone()),
            documentation: annotation("org.opencontainers.image.documentation"),
            homepage: annotation("org.opencontainers.image.url"),
            size: entry.as_ref().map(|e| e.layer_size),
            target: entry.as_ref().and_then(|e| e.target.clone()),
            exports: entry
                .as_ref()
                .map(|e| e.exports.clone())
                .unwrap_or_default(),
            imports: entry
                .as_ref()
                .map(|e| e.imports.clone())
                .unwrap_or_default(),
            interfaces,
            capabilities,
            dependents,
            versions: versions
                .iter()
                .map(|(v, r)| {
                    let (signatures, verified_signatures) =
                        signed.get(&r.digest).copied().unwrap_or((0, 0));
                    VersionSummary {
                        version: v.to_string(),
                        digest: r.digest.clone(),
                        updated_at: r.updated_at,
                        yanked: r.yank.as_ref().map(yank_reason),
                        signatures,
                        verified_signatures,
                    }
                })
                .collect(),
            tags,
        })
    }

    /// One version (a tag or a digest) with its WIT, signatures, SBOM and referrers.
    ///
    /// # Errors
    /// [`ServiceError::NameUnknown`] for a hidden or missing repository,
    /// [`ServiceError::ManifestUnknown`] for a missing version.
    pub async fn version(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        viewer: &Viewer<'_>,
    ) -> Result<VersionDetail, ServiceError> {
        visible(viewer, repo)?;
        let stored = self
            .store
            .manifest(repo, reference)
            .await?
            .ok_or_else(|| ServiceError::ManifestUnknown(reference.to_string()))?;
        let manifest = ImageManifest::from_slice(&stored.content).ok();
        let entry = self.store.wasm_entry(repo, &stored.digest).await?;
        let referrers = self.store.referrers(repo, &stored.digest, None).await?;
        let signatures = self.store.signatures(repo, &stored.digest).await?;
        let annotations = manifest
            .as_ref()
            .and_then(|m| m.annotations.clone())
            .unwrap_or_default();
        let referrers: Vec<ReferrerSummary> = referrers
            .into_iter()
            .map(|d| ReferrerSummary {
                digest: d.digest,
                artifact_type: d.artifact_type,
                annotations: d.annotations.unwrap_or_default(),
            })
            .collect();
        // a yank mark yanks the version it names (wharf_oci::yank::applies)
        let version = match reference {
            Reference::Tag(t) => Some(t.as_str()),
            Reference::Digest(_) => None,
        };
        let newest = |t: &str| {
            referrers
                .iter()
                .filter(|r| r.artifact_type.as_deref() == Some(t))
                .filter(|r| {
                    t != YANK_ARTIFACT_TYPE
                        || wharf_oci::yank::applies(Some(&r.annotations), version)
                })
                .max_by(|a, b| {
                    let created = |r: &ReferrerSummary| {
                        r.annotations
                            .get("org.opencontainers.image.created")
                            .cloned()
                    };
                    created(a).cmp(&created(b))
                })
        };
        let sbom = newest(CYCLONEDX).map(|r| r.digest.clone());
        let yanked = newest(YANK_ARTIFACT_TYPE).map(|r| yank_reason(&r.annotations));
        let size = match (&entry, &manifest) {
            (Some(e), _) => e.layer_size,
            (None, Some(m)) => m.layers.iter().map(|l| l.size).sum(),
            (None, None) => stored.content.len() as u64,
        };
        let name = viewer.package_name(repo.as_str());
        let artifact = self
            .artifact_view(
                &stored.media_type,
                &stored.content,
                manifest.as_ref(),
                entry.as_ref().map(|e| e.kind),
            )
            .await;
        let commands = super::artifacts::fetch_commands(
            artifact.class,
            &super::artifacts::Target {
                host: viewer.host,
                plain_http: viewer.plain_http,
                repository: repo,
                reference,
                package: name.as_deref(),
                subject: artifact.subject.as_ref(),
                artifact_type: manifest.as_ref().map(|m| m.effective_artifact_type()),
            },
        );
        Ok(VersionDetail {
            repository: repo.clone(),
            name,
            reference: reference.to_string(),
            digest: stored.digest,
            media_type: stored.media_type,
            artifact_type: manifest
                .as_ref()
                .map(|m| m.effective_artifact_type().to_owned()),
            artifact,
            kind: entry.as_ref().map(|e| e.kind),
            target: entry.as_ref().and_then(|e| e.target.clone()),
            imports: entry
                .as_ref()
                .map(|e| e.imports.clone())
                .unwrap_or_default(),
            exports: entry
                .as_ref()
                .map(|e| e.exports.clone())
                .unwrap_or_default(),
            wit: entry.as_ref().and_then(|e| e.wit.clone()),
            size,
            created: annotations.get("org.opencontainers.image.created").cloned(),
            description: entry.as_ref().and_then(|e| e.description.clone()),
            licenses: entry.as_ref().and_then(|e| e.licenses.clone()),
            source: entry.as_ref().and_then(|e| e.source.clone()),
            authors: entry.as_ref().and_then(|e| e.authors.clone()),
            annotations,
            signatures,
            sbom,
            yanked,
            referrers,
            commands,
        })
    }

    /// Where each of the qualified WIT names `names` (versions ignored) leads for this
    /// viewer: the packages exporting an interface when there are any, else the package
    /// defining it when this registry holds it (and the viewer may see it); names with
    /// neither are left out, so a page links nothing that leads nowhere.
    pub async fn wit_targets(
        &self,
        names: impl IntoIterator<Item = &str>,
        viewer: &Viewer<'_>,
    ) -> Result<BTreeMap<String, WitTarget>, ServiceError> {
        let mut out = BTreeMap::new();
        let bases: std::collections::BTreeSet<&str> =
            names.into_iter().map(crate::store::unversioned).collect();
        for base in bases {
            if base.contains('/') {
                let q = SearchQuery {
                    exports: base.to_owned(),
                    page: 1,
                    per_page: 1,
                    ..Default::default()
                };
                if self.search_packages(&q, viewer).await?.total > 0 {
                    out.insert(base.to_owned(), WitTarget::Exporters(base.to_owned()));
                    continue;
                }
            }
            let package = base.split('/').next().unwrap_or(base);
            let Some((ns, name)) = package.split_once(':') else {
                continue;
            };
            let Ok(repo) =
                format!("{}{ns}/{name}", viewer.namespace_prefix).parse::<RepositoryName>()
            else {
                continue;
            };
            if self.package(&repo, viewer).await.is_ok() {
                out.insert(base.to_owned(), WitTarget::Package(repo));
            }
        }
        Ok(out)
    }

    /// Every repository the viewer may pull (Wasm or not), one page.
    pub async fn repository_page(
        &self,
        page: u32,
        per_page: u32,
        viewer: &Viewer<'_>,
    ) -> Result<RepositoryPage, ServiceError> {
        let (page, per_page, window) = page_window(page, per_page);
        let (repositories, total) = self.store.repository_page(viewer.visible, window).await?;
        Ok(RepositoryPage {
            repositories,
            total: usize::try_from(total).unwrap_or(usize::MAX),
            page,
            per_page,
        })
    }

    /// A repository's tags with what they point at (any artifact type).
    ///
    /// # Errors
    /// [`ServiceError::NameUnknown`] for a hidden, missing or empty repository.
    pub async fn repository_detail(
        &self,
        repo: &RepositoryName,
        viewer: &Viewer<'_>,
    ) -> Result<RepositoryDetail, ServiceError> {
        visible(viewer, repo)?;
        let tags = self.store.tag_details(repo, YANK_ARTIFACT_TYPE).await?;
        if tags.is_empty() {
            return Err(ServiceError::NameUnknown(repo.clone()));
        }
        Ok(RepositoryDetail {
            repository: repo.clone(),
            tags,
        })
    }
}
