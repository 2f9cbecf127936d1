use std::fmt;

use crate::{Digest, NameError, Reference, RepositoryName, Tag};

/// Why a string is not an image reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Nothing names the registry and no default registry was configured.
    #[error(
        "reference `{0}` names no registry: write `host[:port]/repository[:tag]`, or configure a default registry"
    )]
    MissingRegistry(String),
    /// The repository part is not a valid name.
    #[error("in reference `{reference}`: {source}")]
    Name {
        reference: String,
        source: NameError,
    },
    /// The digest after `@` is not valid.
    #[error("in reference `{reference}`: {source}")]
    Digest {
        reference: String,
        source: crate::DigestError,
    },
    /// Empty, or a registry host with characters that cannot be in one.
    #[error("invalid reference `{0}`")]
    Malformed(String),
}

/// A full image reference `registry/repository[:tag][@digest]`, as used by Docker,
/// skopeo and ORAS. When both a tag and a digest are given, the digest decides what
/// is fetched and the tag is informative (Docker's behaviour).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageReference {
    /// `host[:port]`, e.g. `localhost:5000` or `ghcr.io`.
    pub registry: String,
    /// The repository inside the registry.
    pub repository: RepositoryName,
    /// The tag, if one was written.
    pub tag: Option<Tag>,
    /// The digest, if one was written.
    pub digest: Option<Digest>,
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]` hosts (with or without a port):
/// the ones Docker talks to over plain HTTP by default.
pub fn is_loopback_host(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn looks_like_host(s: &str) -> bool {
    s.contains('.') || s.contains(':') || s == "localhost" || s.starts_with('[')
}

impl ImageReference {
    /// Parse `host[:port]/repository[:tag][@digest]`. When the first path part is not a
    /// host (no `.`, `:` and not `localhost`), `default_registry` is used; without one
    /// that is [`ReferenceError::MissingRegistry`].
    pub fn parse(s: &str, default_registry: Option<&str>) -> Result<Self, ReferenceError> {
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ReferenceError::Malformed(s.to_owned()));
        }
        let (registry, rest) = match s.split_once('/') {
            Some((first, rest)) if looks_like_host(first) => (first.to_owned(), rest),
            _ => match default_registry {
                Some(r) => (r.to_owned(), s),
                None => return Err(ReferenceError::MissingRegistry(s.to_owned())),
            },
        };
        if registry.is_empty()
            || !registry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
        {
            return Err(ReferenceError::Malformed(s.to_owned()));
        }
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => {
                let digest = d.parse().map_err(|source| ReferenceError::Digest {
                    reference: s.to_owned(),
                    source,
                })?;
                (r, Some(digest))
            }
            None => (rest, None),
        };
        // a tag is after the last `:` that comes after the last `/`
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                let tag = rest[i + 1..]
                    .parse()
                    .map_err(|source| ReferenceError::Name {
                        reference: s.to_owned(),
                        source,
                    })?;
                (&rest[..i], Some(tag))
            }
            None => (rest, None),
        };
        let repository = repo.parse().map_err(|source| ReferenceError::Name {
            reference: s.to_owned(),
            source,
        })?;
        Ok(ImageReference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest if given, else the tag, else `latest`.
    pub fn reference(&self) -> Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => Reference::Digest(d.clone()),
            (None, Some(t)) => Reference::Tag(t.clone()),
            (None, None) => Reference::Tag(Tag::latest()),
        }
    }

    /// The same reference pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Self {
        ImageReference {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let r = ImageReference::parse("localhost:5000/ns/hello:1.0.0", None).unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository.as_str(), "ns/hello");
        assert_eq!(r.reference().to_string(), "1.0.0");
        let d = Digest::sha256_of(b"x");
        let r = ImageReference::parse(&format!("ghcr.io/a/b:v1@{d}"), None).unwrap();
        assert_eq!(r.reference(), Reference::Digest(d));
        let r = ImageReference::parse("127.0.0.1:5000/a", None).unwrap();
        assert_eq!(r.reference().to_string(), "latest");
        assert_eq!(r.to_string(), "127.0.0.1:5000/a");
        let r = ImageReference::parse("a/b:1", Some("example.com")).unwrap();
        assert_eq!(r.registry, "example.com");
    }

    #[test]
    fn rejects_bad_references() {
        assert!(matches!(
            ImageReference::parse("hello", None),
            Err(ReferenceError::MissingRegistry(_))
        ));
        assert!(ImageReference::parse("localhost:5000/../etc", None).is_err());
        assert!(ImageReference::parse("localhost:5000/Upper", None).is_err());
        assert!(ImageReference::parse("localhost:5000/a@sha256:12", None).is_err());
        assert!(ImageReference::parse("localhost:5000/a:", None).is_err());
        assert!(ImageReference::parse("", None).is_err());
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:80",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["example.com", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
