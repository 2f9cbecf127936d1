use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{NameError, RepositoryName};

/// Why a string is not a package reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackageError {
    /// Not `namespace:name[@version]`.
    #[error(
        "invalid package reference `{0}`: expected `namespace:name[@version]`, e.g. `wasi:http@0.2.0`"
    )]
    Malformed(String),
    /// The version after `@` is neither a version nor a version requirement.
    #[error("invalid version `{version}` in package reference `{reference}`: {reason}")]
    Version {
        reference: String,
        version: String,
        reason: String,
    },
    /// The package maps to a repository name outside the OCI grammar.
    #[error(transparent)]
    Name(#[from] NameError),
}

/// A WIT/wkg package reference `namespace:name[@version]`, following wasm-pkg-tools:
/// the version is exact (`1.2.3`) or a requirement (`^1.2`, `>=1, <2`); none means the
/// newest release version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageRef {
    /// The namespace, e.g. `wasi`.
    pub namespace: String,
    /// The name, e.g. `http`.
    pub name: String,
    /// The requested version, if any.
    pub version: Option<semver::VersionReq>,
    /// The exact version when one was written (`@1.2.3`), for direct tag lookups.
    pub exact: Option<semver::Version>,
}

fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl PackageRef {
    /// Quick test used to tell package references from image references: a package
    /// reference has no `/`.
    pub fn looks_like(s: &str) -> bool {
        !s.contains('/') && s.contains(':')
    }

    /// The repository holding the package: `<namespace_prefix><namespace>/<name>`
    /// (wasm-pkg-tools OCI mapping).
    pub fn repository(&self, namespace_prefix: &str) -> Result<RepositoryName, NameError> {
        format!("{namespace_prefix}{}/{}", self.namespace, self.name).parse()
    }

    /// `namespace:name` without version.
    pub fn package_name(&self) -> String {
        format!("{}:{}", self.namespace, self.name)
    }
}

impl FromStr for PackageRef {
    type Err = PackageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (pkg, version) = match s.split_once('@') {
            Some((p, v)) => (p, Some(v)),
            None => (s, None),
        };
        let (namespace, name) = pkg
            .split_once(':')
            .ok_or_else(|| PackageError::Malformed(s.to_owned()))?;
        if !valid_label(namespace) || !valid_label(name) {
            return Err(PackageError::Malformed(s.to_owned()));
        }
        let (version, exact) = match version {
            None => (None, None),
            Some(v) => match semver::Version::parse(v) {
                Ok(exact) => (
                    Some(
                        semver::VersionReq::parse(&format!("={exact}")).map_err(|e| {
                            PackageError::Version {
                                reference: s.to_owned(),
                                version: v.to_owned(),
                                reason: e.to_string(),
                            }
                        })?,
                    ),
                    Some(exact),
                ),
                Err(_) => match semver::VersionReq::parse(v) {
                    Ok(req) => (Some(req), None),
                    Err(e) => {
                        return Err(PackageError::Version {
                            reference: s.to_owned(),
                            version: v.to_owned(),
                            reason: e.to_string(),
                        });
                    }
                },
            },
        };
        Ok(PackageRef {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            version,
            exact,
        })
    }
}

impl fmt::Display for PackageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)?;
        match (&self.exact, &self.version) {
            (Some(v), _) => write!(f, "@{v}"),
            (None, Some(r)) => write!(f, "@{r}"),
            (None, None) => Ok(()),
        }
    }
}

/// The registry discovery document served at `/.well-known/wasm-pkg/registry.json`
/// (wasm-pkg-tools). Serialises as
/// `{"preferredProtocol":"oci","oci":{"registry":"host:port","namespacePrefix":"prefix/"}}`;
/// also reads the older flat fields `ociRegistry` / `ociNamespacePrefix`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryMetadata {
    /// `"oci"` for an OCI registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_protocol: Option<String>,
    /// OCI settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<OciRegistryMetadata>,
    /// Legacy flat form of `oci.registry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_registry: Option<String>,
    /// Legacy flat form of `oci.namespacePrefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_namespace_prefix: Option<String>,
}

/// The `oci` object of [`RegistryMetadata`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciRegistryMetadata {
    /// `host[:port]` of the OCI registry holding the packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Prefix put before `<namespace>/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_prefix: Option<String>,
}

impl RegistryMetadata {
    /// The document for an OCI registry at `registry` with `namespace_prefix`.
    pub fn oci(registry: &str, namespace_prefix: &str) -> Self {
        RegistryMetadata {
            preferred_protocol: Some("oci".to_owned()),
            oci: Some(OciRegistryMetadata {
                registry: Some(registry.to_owned()),
                namespace_prefix: Some(namespace_prefix.to_owned()),
            }),
            oci_registry: None,
            oci_namespace_prefix: None,
        }
    }

    /// The OCI registry (`host[:port]`), or `fallback` (the host the document came from).
    pub fn oci_registry_or<'a>(&'a self, fallback: &'a str) -> &'a str {
        self.oci
            .as_ref()
            .and_then(|o| o.registry.as_deref())
            .or(self.oci_registry.as_deref())
            .unwrap_or(fallback)
    }

    /// The namespace prefix, empty when none is set.
    pub fn namespace_prefix(&self) -> &str {
        self.oci
            .as_ref()
            .and_then(|o| o.namespace_prefix.as_deref())
            .or(self.oci_namespace_prefix.as_deref())
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_package_refs() {
        let p: PackageRef = "wasi:http@0.2.0".parse().unwrap();
        assert_eq!(p.repository("wasm/").unwrap().as_str(), "wasm/wasi/http");
        assert_eq!(p.exact, Some(semver::Version::new(0, 2, 0)));
        let p: PackageRef = "my-ns:hello-world@^1.2".parse().unwrap();
        assert!(p.exact.is_none());
        assert!(p.version.unwrap().matches(&semver::Version::new(1, 3, 0)));
        let p: PackageRef = "a:b".parse().unwrap();
        assert_eq!(p.to_string(), "a:b");
        for bad in ["a", "A:b", "a:b@x.y", ":b", "a:-b", "a:b/c"] {
            assert!(bad.parse::<PackageRef>().is_err(), "{bad}");
        }
        assert!(PackageRef::looks_like("wasi:http@0.2.0"));
        assert!(!PackageRef::looks_like("localhost:5000/a"));
    }

    #[test]
    fn registry_metadata_roundtrip() {
        let m = RegistryMetadata::oci("localhost:5000", "");
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"preferredProtocol":"oci","oci":{"registry":"localhost:5000","namespacePrefix":""}}"#
        );
        let legacy: RegistryMetadata =
            serde_json::from_str(r#"{"ociRegistry":"r.example","ociNamespacePrefix":"p/"}"#)
                .unwrap();
        assert_eq!(legacy.oci_registry_or("x"), "r.example");
        assert_eq!(legacy.namespace_prefix(), "p/");
    }
}
