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
    #[error("in reference `{reference}`: {reason}")]
    Name {
        reference: String,
        reason: NameError,
    },
    /// The digest after `@` is not valid.
    #[error("in reference `{reference}`: {reason}")]
    Digest {
        reference: String,
        reason: crate::DigestError,
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

/// The host and port of a registry written `host[:port]`: a DNS name (letters, digits,
/// `-`, `.`, `_`), an IPv4 address or a bracketed IPv6 address, and a port of 1 to 65535.
/// Anything else (user info `a@b`, a path, dot segments, empty labels) is `None`.
pub fn parse_registry_host(registry: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        inner.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", inner.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return None;
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok().filter(|p| *p > 0)?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// `registry` written canonically (`host[:port]`, host in lower case), or `None` when it
/// is not `host[:port]` (see [`parse_registry_host`]).
pub fn canonical_registry_host(registry: &str) -> Option<String> {
    parse_registry_host(registry).map(|(host, port)| match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]` hosts (with or without a port):
/// the ones Docker talks to over plain HTTP by default. Decided on the parsed host, so
/// `127.0.0.1:1@example.com` (user info) or anything else that is not `host[:port]` is
/// not loopback.
pub fn is_loopback_host(registry: &str) -> bool {
    let Some((host, _)) = parse_registry_host(registry) else {
        return false;
    };
    host == "localhost"
        || host == "[::1]"
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
        if parse_registry_host(&registry).is_none() {
            return Err(ReferenceError::Malformed(s.to_owned()));
        }
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => {
                let digest = d.parse().map_err(|reason| ReferenceError::Digest {
                    reference: s.to_owned(),
                    reason,
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
                    .map_err(|reason| ReferenceError::Name {
                        reference: s.to_owned(),
                        reason,
                    })?;
                (&rest[..i], Some(tag))
            }
            None => (rest, None),
        };
        let repository = repo.parse().map_err(|reason| ReferenceError::Name {
            reference: s.to_owned(),
            reason,
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
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            // user info, paths and other tricks are not `host[:port]`, so not loopback
            "127.0.0.1:1@example.com:443",
            "127.0.0.1@example.com",
            "localhost:5000/x/../..",
            "127.0.0.1:99999",
            "127.0.0.1:",
            "[::1",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn registry_hosts() {
        assert_eq!(
            parse_registry_host("LocalHost:5000"),
            Some(("localhost".into(), Some(5000)))
        );
        assert_eq!(
            parse_registry_host("[::1]:80"),
            Some(("[::1]".into(), Some(80)))
        );
        for bad in [
            "",
            "a@b",
            "a/b",
            "a..b",
            ".a",
            "a:b",
            "a:0",
            "-a.com",
            "host:5000/x/../..",
        ] {
            assert_eq!(parse_registry_host(bad), None, "{bad}");
        }
        assert_eq!(
            canonical_registry_host("LocalHost:5000").as_deref(),
            Some("localhost:5000")
        );
        assert!(ImageReference::parse("127.0.0.1:1@evil:80/a/b:v1", None).is_err());
    }
}
