//! What a manifest is, for people: a Wasm package, a container image, an image index, an
//! SBOM, a signature, an attestation, a yank mark or some other OCI artifact; the details
//! each shows (platforms, layers, SBOM components, the subject) and the commands that fetch
//! it as what it is (`wharf pull` only for Wasm, `skopeo copy` for anything OCI).
//!
//! The class follows the manifest's media type, then its artifact type (`artifactType`, else
//! the config media type, as the referrers API reports it), then its layers (cosign's
//! `.sig` tags carry an image config and simple-signing layers).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use wharf_oci::{Descriptor, Digest, ImageIndex, ImageManifest, Reference, RepositoryName};

use super::Registry;
use crate::store::WasmKind;

/// Largest image config read to show a platform, in bytes.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// Largest SBOM document read to show its components, in bytes.
const MAX_SBOM_BYTES: u64 = 16 * 1024 * 1024;
/// Components listed from one SBOM; `SbomView::total` counts them all.
const MAX_SBOM_COMPONENTS: usize = 5000;

/// Artifact type of a Sigstore bundle (cosign v3 writes signatures as these).
pub const SIGSTORE_BUNDLE: &str = wharf_sign::bundle::BUNDLE_MEDIA_TYPE;
/// SPDX JSON documents.
pub const SPDX_JSON: &str = "application/spdx+json";
/// in-toto attestations (DSSE envelopes of in-toto statements).
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// Docker's image config media type.
const DOCKER_IMAGE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// The OCI image config media type.
const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// What kind of thing a manifest is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactClass {
    /// A Wasm component.
    Component,
    /// A Wasm core module.
    CoreModule,
    /// A WIT package encoded as Wasm.
    WitPackage,
    /// A container image (OCI or Docker image manifest with an image config).
    Image,
    /// An image index or Docker manifest list.
    Index,
    /// A software bill of materials (CycloneDX or SPDX JSON).
    Sbom,
    /// A signature: cosign simple signing or a Sigstore bundle.
    Signature,
    /// An in-toto attestation.
    Attestation,
    /// A wharf yank mark.
    Yank,
    /// Any other OCI artifact.
    Artifact,
}

impl ArtifactClass {
    /// The class as a word for people (`container image`, `SBOM`, …).
    pub fn label(self) -> &'static str {
        match self {
            ArtifactClass::Component => "component",
            ArtifactClass::CoreModule => "core module",
            ArtifactClass::WitPackage => "WIT package",
            ArtifactClass::Image => "container image",
            ArtifactClass::Index => "image index",
            ArtifactClass::Sbom => "SBOM",
            ArtifactClass::Signature => "signature",
            ArtifactClass::Attestation => "attestation",
            ArtifactClass::Yank => "yank mark",
            ArtifactClass::Artifact => "OCI artifact",
        }
    }

    /// True for the Wasm classes (`wharf pull` fetches them).
    pub fn is_wasm(self) -> bool {
        matches!(
            self,
            ArtifactClass::Component | ArtifactClass::CoreModule | ArtifactClass::WitPackage
        )
    }
}

/// A layer (or any blob) of an image or artifact.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LayerView {
    /// Media type.
    pub media_type: String,
    /// Blob digest.
    #[schema(value_type = String)]
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// `org.opencontainers.image.title`, when set.
    pub title: Option<String>,
}

/// One manifest of an image index.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IndexEntry {
    /// Its digest.
    #[schema(value_type = String)]
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// `os/architecture[/variant]`, when the index names one.
    pub platform: Option<String>,
    /// Its artifact type, when the index names one.
    pub artifact_type: Option<String>,
}

/// One component of an SBOM.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SbomComponent {
    /// Name.
    pub name: String,
    /// Version, when given.
    pub version: Option<String>,
    /// Licences (SPDX identifiers or expressions, else names).
    pub licenses: Vec<String>,
    /// Package URL, when given.
    pub purl: Option<String>,
}

/// An SBOM's contents.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SbomView {
    /// `CycloneDX 1.5`, `SPDX-2.3`, …
    pub format: String,
    /// What the SBOM describes (CycloneDX `metadata.component`, SPDX `name`).
    pub describes: Option<String>,
    /// Components (packages), at most 5,000.
    pub components: Vec<SbomComponent>,
    /// Components in the document.
    pub total: usize,
}

/// What a manifest is and what it holds.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ArtifactView {
    /// Its class.
    pub class: ArtifactClass,
    /// The manifest it refers to (`subject`), for referrers.
    #[schema(value_type = Option<String>)]
    pub subject: Option<Digest>,
    /// Container image: `os/architecture[/variant]` from its config.
    pub platform: Option<String>,
    /// Image or artifact layers (empty for an index).
    pub layers: Vec<LayerView>,
    /// Image index: its manifests.
    pub manifests: Vec<IndexEntry>,
    /// SBOM: its contents, when the document could be read (at most 16 MiB of JSON).
    pub sbom: Option<SbomView>,
    /// Attestation: the in-toto predicate type, when the manifest names it.
    pub predicate_type: Option<String>,
    /// Attestation in a Sigstore bundle: how it verified against the operator's trusted
    /// keys and identities (as a signature is judged).
    pub attestation: Option<AttestationView>,
}

/// The verification of an attestation bundle.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AttestationView {
    /// `verified`, `unverified` or `invalid`.
    #[schema(value_type = String)]
    pub status: wharf_sign::SignatureStatus,
    /// Who signed it, when verified: a trusted key's id or `<identity> (<issuer>)`.
    pub signer: Option<String>,
    /// Why not, when not.
    pub detail: Option<String>,
}

/// A command that fetches a version as what it is.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FetchCommand {
    /// The tool: `wharf`, `wkg` or `skopeo`.
    pub tool: String,
    /// The command line, to paste into a POSIX shell in an empty directory.
    pub command: String,
}

/// `os/architecture[/variant]` from an OCI platform object (or an image config).
fn platform(v: &Value) -> Option<String> {
    let os = v.get("os")?.as_str()?;
    let arch = v.get("architecture")?.as_str()?;
    Some(match v.get("variant").and_then(Value::as_str) {
        Some(variant) => format!("{os}/{arch}/{variant}"),
        None => format!("{os}/{arch}"),
    })
}

fn layer_view(d: &Descriptor) -> LayerView {
    LayerView {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        title: d
            .annotations
            .as_ref()
            .and_then(|a| a.get(wharf_oci::ANNOTATION_TITLE))
            .cloned(),
    }
}

/// The class of a manifest from its media type and content; `kind` is the Wasm index's
/// verdict on it.
pub fn classify(
    media_type: &str,
    manifest: Option<&ImageManifest>,
    kind: Option<WasmKind>,
) -> ArtifactClass {
    if let Some(kind) = kind {
        return match kind {
            WasmKind::Component => ArtifactClass::Component,
            WasmKind::CoreModule => ArtifactClass::CoreModule,
            WasmKind::WitPackage => ArtifactClass::WitPackage,
        };
    }
    if media_type == wharf_oci::media_types::OCI_INDEX
        || media_type == wharf_oci::media_types::DOCKER_MANIFEST_LIST
    {
        return ArtifactClass::Index;
    }
    let Some(m) = manifest else {
        return ArtifactClass::Artifact;
    };
    let artifact_type = m.effective_artifact_type();
    let layer_is = |t: &str| m.layers.iter().any(|l| l.media_type == t);
    if artifact_type == super::catalog::CYCLONEDX
        || artifact_type == SPDX_JSON
        || artifact_type.starts_with("application/vnd.cyclonedx")
    {
        ArtifactClass::Sbom
    } else if wharf_sign::bundle::is_signature(Some(artifact_type), m.annotations.as_ref())
        || layer_is(wharf_sign::SIMPLE_SIGNING)
    {
        ArtifactClass::Signature
    } else if artifact_type == SIGSTORE_BUNDLE
        || artifact_type == IN_TOTO
        || artifact_type.starts_with("application/vnd.in-toto")
        || layer_is(IN_TOTO)
        || layer_is("application/vnd.dsse.envelope.v1+json")
    {
        ArtifactClass::Attestation
    } else if artifact_type == wharf_oci::yank::ARTIFACT_TYPE {
        ArtifactClass::Yank
    } else if m.config.media_type == OCI_IMAGE_CONFIG || m.config.media_type == DOCKER_IMAGE_CONFIG
    {
        ArtifactClass::Image
    } else {
        ArtifactClass::Artifact
    }
}

/// Licences of a CycloneDX component: `licenses[].license.id|name` and
/// `licenses[].expression`.
fn cyclonedx_licenses(c: &Value) -> Vec<String> {
    c.get("licenses")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(|l| {
                    l.get("expression")
                        .or_else(|| l.get("license").and_then(|x| x.get("id")))
                        .or_else(|| l.get("license").and_then(|x| x.get("name")))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The components of a CycloneDX or SPDX JSON document, or `None` when it is neither.
pub fn read_sbom(bytes: &[u8]) -> Option<SbomView> {
    let doc: Value = serde_json::from_slice(bytes).ok()?;
    if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        let all = doc
            .get("components")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let components = all
            .iter()
            .take(MAX_SBOM_COMPONENTS)
            .map(|c| SbomComponent {
                name: text(c, "name").unwrap_or_default(),
                version: text(c, "version"),
                licenses: cyclonedx_licenses(c),
                purl: text(c, "purl"),
            })
            .collect();
        let describes = doc.pointer("/metadata/component").map(|c| {
            match (text(c, "name"), text(c, "version")) {
                (Some(n), Some(v)) => format!("{n} {v}"),
                (n, _) => n.unwrap_or_default(),
            }
        });
        return Some(SbomView {
            format: format!(
                "CycloneDX {}",
                text(&doc, "specVersion").unwrap_or_default()
            )
            .trim_end()
            .to_owned(),
            describes,
            components,
            total: all.len(),
        });
    }
    let version = text(&doc, "spdxVersion")?;
    let all = doc
        .get("packages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let licence = |p: &Value| {
        ["licenseConcluded", "licenseDeclared"]
            .iter()
            .filter_map(|k| text(p, k))
            .find(|l| l != "NOASSERTION" && l != "NONE")
            .into_iter()
            .collect()
    };
    let purl = |p: &Value| {
        p.get("externalRefs")
            .and_then(Value::as_array)?
            .iter()
            .find(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
            .and_then(|r| text(r, "referenceLocator"))
    };
    Some(SbomView {
        format: version,
        describes: text(&doc, "name"),
        components: all
            .iter()
            .take(MAX_SBOM_COMPONENTS)
            .map(|p| SbomComponent {
                name: text(p, "name").unwrap_or_default(),
                version: text(p, "versionInfo"),
                licenses: licence(p),
                purl: purl(p),
            })
            .collect(),
        total: all.len(),
    })
}

/// Single-quote `s` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@=+".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// True when `host` (`name[:port]`) is a loopback name or address, which wharf speaks to
/// over plain HTTP without being told.
fn loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where the commands point and how to reach it.
pub struct Target<'a> {
    /// Registry host (`host[:port]`).
    pub host: &'a str,
    /// True when clients reach the registry over plain HTTP.
    pub plain_http: bool,
    /// The repository.
    pub repository: &'a RepositoryName,
    /// The tag or digest.
    pub reference: &'a Reference,
    /// `ns:name`, when the repository maps to a package name.
    pub package: Option<&'a str>,
    /// The subject of a referrer (an SBOM's package).
    pub subject: Option<&'a Digest>,
    /// The artifact type (`wharf sbom` reads CycloneDX referrers).
    pub artifact_type: Option<&'a str>,
}

/// Commands that fetch `target` as what it is (`class`), each working when pasted into a
/// shell in an empty directory: `wharf pull` for Wasm, `wkg get` for a package version
/// (with the one-line config a plain-HTTP registry needs), `wharf sbom` for an SBOM's
/// package, and `skopeo copy` to an OCI layout directory for anything else (`--all` for an
/// index; `--src-tls-verify=false` for plain HTTP).
pub fn fetch_commands(class: ArtifactClass, t: &Target<'_>) -> Vec<FetchCommand> {
    let at = match t.reference {
        Reference::Tag(tag) => format!(":{tag}"),
        Reference::Digest(d) => format!("@{d}"),
    };
    let image = format!("{}/{}{at}", t.host, t.repository);
    let last = t
        .repository
        .as_str()
        .rsplit('/')
        .next()
        .unwrap_or(t.repository.as_str());
    let plain_flag = if t.plain_http && !loopback(t.host) {
        " --plain-http"
    } else {
        ""
    };
    let mut out = Vec::new();
    let mut push = |tool: &str, command: String| {
        out.push(FetchCommand {
            tool: tool.to_owned(),
            command,
        })
    };
    if class.is_wasm() {
        push(
            "wharf",
            format!("wharf pull {image} -o {last}.wasm{plain_flag}"),
        );
        if let (Some(name), Reference::Tag(tag)) = (t.package, t.reference)
            && tag.semver().is_some()
        {
            let get = format!("wkg get {name}@{tag} --registry {}", t.host);
            let command = if t.plain_http {
                // wkg speaks HTTPS unless its config says otherwise
                let config = format!(
                    "[registry.\"{h}\"]\\ntype = \"oci\"\\n[registry.\"{h}\".oci]\\nprotocol = \"http\"\\n",
                    h = t.host
                );
                format!(
                    "printf {} > wkg.toml && {get} --config wkg.toml -o ./",
                    shell_quote(&config)
                )
            } else {
                format!("{get} -o ./")
            };
            push("wkg", command);
        }
    }
    if class == ArtifactClass::Sbom
        && t.artifact_type == Some(super::catalog::CYCLONEDX)
        && let Some(subject) = t.subject
    {
        push(
            "wharf",
            format!(
                "wharf sbom {}/{}@{subject}{plain_flag}",
                t.host, t.repository
            ),
        );
    }
    let tls = if t.plain_http {
        " --src-tls-verify=false"
    } else {
        ""
    };
    let all = if class == ArtifactClass::Index {
        " --all"
    } else {
        ""
    };
    let layout = match t.reference {
        Reference::Tag(tag) => format!("oci:{last}:{tag}"),
        Reference::Digest(_) => format!("oci:{last}"),
    };
    push(
        "skopeo",
        format!("skopeo copy{all}{tls} docker://{image} {layout}"),
    );
    out
}

impl Registry {
    /// What the manifest `content` (of `media_type`; `manifest` is `content` already parsed
    /// as an image manifest, when it is one) is, with the details its class shows; `kind`
    /// is the Wasm index's verdict on it. Reads the image
    /// config (≤ 1 MiB) of an image and the document (≤ 16 MiB) of an SBOM; a blob that is
    /// larger, missing or unreadable leaves that detail out.
    pub(crate) async fn artifact_view(
        &self,
        media_type: &str,
        content: &[u8],
        manifest: Option<&ImageManifest>,
        kind: Option<WasmKind>,
    ) -> ArtifactView {
        let class = classify(media_type, manifest, kind);
        let mut view = ArtifactView {
            class,
            subject: None,
            platform: None,
            layers: Vec::new(),
            manifests: Vec::new(),
            sbom: None,
            predicate_type: None,
            attestation: None,
        };
        if class == ArtifactClass::Index {
            if let Ok(index) = serde_json::from_slice::<ImageIndex>(content) {
                view.subject = index.subject.map(|s| s.digest);
                view.manifests = index
                    .manifests
                    .iter()
                    .map(|d| IndexEntry {
                        digest: d.digest.clone(),
                        media_type: d.media_type.clone(),
                        size: d.size,
                        platform: d.platform.as_ref().and_then(platform),
                        artifact_type: d.artifact_type.clone(),
                    })
                    .collect();
            }
            return view;
        }
        let Some(m) = manifest else {
            return view;
        };
        view.subject = m.subject.as_ref().map(|s| s.digest.clone());
        view.layers = m.layers.iter().map(layer_view).collect();
        let annotations = m.annotations.clone().unwrap_or_default();
        match class {
            ArtifactClass::Image if m.config.size <= MAX_CONFIG_BYTES => {
                if let Ok(bytes) = self.small_blob(&m.config.digest, MAX_CONFIG_BYTES).await {
                    view.platform = serde_json::from_slice::<Value>(&bytes)
                        .ok()
                        .as_ref()
                        .and_then(platform);
                }
            }
            ArtifactClass::Sbom => {
                if let Some(layer) = m.layers.first().filter(|l| l.size <= MAX_SBOM_BYTES)
                    && let Ok(bytes) = self.small_blob(&layer.digest, MAX_SBOM_BYTES).await
                {
                    view.sbom = read_sbom(&bytes);
                }
            }
            ArtifactClass::Attestation => {
                view.predicate_type = predicate_type(&annotations, &m.layers);
                view.attestation = self.attestation_verdict(m).await.map(|v| AttestationView {
                    status: v.status(),
                    signer: v.key_id().map(str::to_owned),
                    detail: v.reason().map(str::to_owned),
                });
            }
            _ => {}
        }
        view
    }
}

/// The predicate type an attestation manifest names (cosign's and the Sigstore bundle's
/// annotations, on the manifest or its layers).
fn predicate_type(annotations: &BTreeMap<String, String>, layers: &[Descriptor]) -> Option<String> {
    const KEYS: [&str; 2] = ["dev.sigstore.bundle.predicateType", "predicateType"];
    let find = |a: &BTreeMap<String, String>| KEYS.iter().find_map(|k| a.get(*k).cloned());
    find(annotations).or_else(|| {
        layers
            .iter()
            .find_map(|l| l.annotations.as_ref().and_then(find))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sboms_in_both_formats() {
        let cdx = br#"{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"component":{"name":"greeter","version":"0.1.0"}},
            "components":[{"name":"serde","version":"1.0.0","purl":"pkg:cargo/serde@1.0.0","licenses":[{"expression":"MIT OR Apache-2.0"}]},
                          {"name":"x","licenses":[{"license":{"id":"MIT"}},{"license":{"name":"Custom"}}]}]}"#;
        let v = read_sbom(cdx).unwrap();
        assert_eq!(v.format, "CycloneDX 1.5");
        assert_eq!(v.describes.as_deref(), Some("greeter 0.1.0"));
        assert_eq!(v.total, 2);
        assert_eq!(v.components[0].licenses, ["MIT OR Apache-2.0"]);
        assert_eq!(
            v.components[0].purl.as_deref(),
            Some("pkg:cargo/serde@1.0.0")
        );
        assert_eq!(v.components[1].licenses, ["MIT", "Custom"]);
        assert_eq!(v.components[1].version, None);

        let spdx = br#"{"spdxVersion":"SPDX-2.3","name":"img","packages":[
            {"name":"musl","versionInfo":"1.2.4","licenseConcluded":"NOASSERTION","licenseDeclared":"MIT",
             "externalRefs":[{"referenceType":"cpe23Type","referenceLocator":"cpe"},{"referenceType":"purl","referenceLocator":"pkg:apk/alpine/musl@1.2.4"}]}]}"#;
        let v = read_sbom(spdx).unwrap();
        assert_eq!(v.format, "SPDX-2.3");
        assert_eq!(v.components[0].licenses, ["MIT"]);
        assert_eq!(
            v.components[0].purl.as_deref(),
            Some("pkg:apk/alpine/musl@1.2.4")
        );
        assert!(read_sbom(b"{\"a\":1}").is_none());
        assert!(read_sbom(b"not json").is_none());
    }

    #[test]
    fn commands_follow_the_class_and_the_transport() {
        let repo: RepositoryName = "demo/greeter".parse().unwrap();
        let tag: Reference = "0.1.0".parse().unwrap();
        let t = Target {
            host: "127.0.0.1:5000",
            plain_http: true,
            repository: &repo,
            reference: &tag,
            package: Some("demo:greeter"),
            subject: None,
            artifact_type: None,
        };
        let c = fetch_commands(ArtifactClass::Component, &t);
        assert_eq!(
            c[0].command,
            "wharf pull 127.0.0.1:5000/demo/greeter:0.1.0 -o greeter.wasm"
        );
        assert!(
            c[1].command
                .starts_with("printf '[registry.\"127.0.0.1:5000\"]\\ntype"),
            "{}",
            c[1].command
        );
        assert!(c[1].command.ends_with(
            "wkg get demo:greeter@0.1.0 --registry 127.0.0.1:5000 --config wkg.toml -o ./"
        ));
        assert_eq!(
            c[2].command,
            "skopeo copy --src-tls-verify=false docker://127.0.0.1:5000/demo/greeter:0.1.0 oci:greeter:0.1.0"
        );
        let remote = Target {
            host: "reg.example:5000",
            ..t
        };
        let c = fetch_commands(ArtifactClass::Index, &remote);
        assert_eq!(c.len(), 1, "no wharf pull for an image index");
        assert_eq!(
            c[0].command,
            "skopeo copy --all --src-tls-verify=false docker://reg.example:5000/demo/greeter:0.1.0 oci:greeter:0.1.0"
        );
        let c = fetch_commands(ArtifactClass::CoreModule, &remote);
        assert!(c[0].command.ends_with(" --plain-http"), "{}", c[0].command);
        let https = Target {
            plain_http: false,
            ..remote
        };
        let c = fetch_commands(ArtifactClass::Component, &https);
        assert_eq!(
            c[1].command,
            "wkg get demo:greeter@0.1.0 --registry reg.example:5000 -o ./"
        );
        assert!(loopback("[::1]:5000") && loopback("localhost") && !loopback("10.0.0.1:80"));
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
