use std::fmt;
use std::str::FromStr;

use crate::Digest;

/// Why a repository name, tag or reference is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    /// Not in the spec grammar `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
    #[error(
        "invalid repository name `{0}`: use lowercase letters, digits and single separators (`.`, `_`, `__`, `-`) between `/`-separated parts"
    )]
    InvalidRepository(String),
    /// Longer than 255 characters (the limit Docker and distribution apply).
    #[error("invalid repository name: {0} characters is more than the 255 allowed")]
    RepositoryTooLong(usize),
    /// Not in the tag grammar `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    #[error(
        "invalid tag `{0}`: a tag is 1 to 128 characters of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
    )]
    InvalidTag(String),
}

/// A repository name, validated against the OCI Distribution Specification grammar
/// (section "Pulling manifests", `<name>`), at most 255 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when this repository is `prefix` or under it ([`under_prefix`]).
    pub fn is_under(&self, prefix: &str) -> bool {
        under_prefix(prefix, &self.0)
    }
}

/// True when `name` is `prefix` or lies under it at a `/` boundary (`team` covers `team`
/// and `team/app`, not `teams/app`); a trailing `/` on the prefix is ignored and an empty
/// prefix covers everything. The one rule wharf uses for "repository under this prefix":
/// registry permissions, required signatures, mutable versions, and trust-policy scopes
/// (there over `registry/repository`).
pub fn under_prefix(prefix: &str, name: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || name == prefix
        || name
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    // first alnum run
    if !alnum(b[0]) {
        return false;
    }
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator: `.`, `_`, `__` or one or more `-`, then an alnum must follow
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

impl FromStr for RepositoryName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > 255 {
            return Err(NameError::RepositoryTooLong(s.len()));
        }
        if s.split('/').all(valid_component) {
            Ok(RepositoryName(s.to_owned()))
        } else {
            Err(NameError::InvalidRepository(s.to_owned()))
        }
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag, validated against `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// The default tag, `latest`.
    pub fn latest() -> Tag {
        Tag("latest".to_owned())
    }

    /// The tag as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag parsed as a semantic version, when it is one (`1.2.3`, `1.0.0-rc.1`).
    pub fn semver(&self) -> Option<semver::Version> {
        semver::Version::parse(&self.0).ok()
    }
}

impl FromStr for Tag {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if ok {
            Ok(Tag(s.to_owned()))
        } else {
            Err(NameError::InvalidTag(s.to_owned()))
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names and tags serialize as their text and deserialize through [`FromStr`], so a
/// malformed one never gets into a value.
macro_rules! serde_as_text {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_as_text!(RepositoryName, Tag);

/// Names and tags compare with their text (`tags == ["1.0.0", "latest"]`).
macro_rules! eq_text {
    ($($t:ty),*) => {$(
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    )*};
}

eq_text!(RepositoryName, Tag);

/// The `<reference>` of a manifest request: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reference {
    /// By tag.
    Tag(Tag),
    /// By digest.
    Digest(Digest),
}

impl Reference {
    /// The digest, when the reference is one.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            Reference::Digest(d) => Some(d),
            Reference::Tag(_) => None,
        }
    }
}

/// Why a `<reference>` path segment is neither a tag nor a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceParseError {
    /// It contains `:` so it was read as a digest, and is not a valid one.
    #[error(transparent)]
    Digest(#[from] crate::DigestError),
    /// It is not a valid tag.
    #[error(transparent)]
    Tag(#[from] NameError),
}

impl FromStr for Reference {
    type Err = ReferenceParseError;

    /// A string with `:` is a digest (and must be a valid one); anything else is a tag.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            Ok(Reference::Tag(s.parse()?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn under_prefix_is_at_slash_boundaries() {
        for (prefix, name, expected) in [
            ("team", "team", true),
            ("team", "team/app", true),
            ("team/", "team/app", true),
            ("team", "teams/app", false),
            ("team/app", "team", false),
            ("", "anything/at/all", true),
            ("localhost:5000/demo", "localhost:5000/demo/x", true),
            ("localhost:5000/demo", "localhost:5000/demonic", false),
        ] {
            assert_eq!(under_prefix(prefix, name), expected, "{prefix} / {name}");
        }
    }
    use super::*;

    #[test]
    fn repository_grammar() {
        for ok in [
            "a",
            "library/hello",
            "a.b_c__d---e/f0",
            "ns/name/blobs",
            "0",
        ] {
            assert!(ok.parse::<RepositoryName>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "a/",
            "/a",
            "a//b",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "../etc",
            "a/../b",
            "a b",
            "a:b",
            "Hello/world",
        ] {
            assert!(bad.parse::<RepositoryName>().is_err(), "{bad}");
        }
        assert_eq!(
            "a".repeat(256).parse::<RepositoryName>(),
            Err(NameError::RepositoryTooLong(256))
        );
    }

    #[test]
    fn tag_grammar() {
        for ok in ["latest", "1.2.3", "_x", "1.0.0-rc.1", &"a".repeat(128)] {
            assert!(ok.parse::<Tag>().is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "1.0.0+build", &"a".repeat(129)] {
            assert!(bad.parse::<Tag>().is_err(), "{bad}");
        }
        assert_eq!(
            "1.2.3".parse::<Tag>().unwrap().semver(),
            Some(semver::Version::new(1, 2, 3))
        );
    }

    #[test]
    fn reference_is_digest_when_it_has_a_colon() {
        assert!(matches!("v1".parse::<Reference>(), Ok(Reference::Tag(_))));
        assert!(matches!(
            "sha256:zz".parse::<Reference>(),
            Err(ReferenceParseError::Digest(_))
        ));
    }
}
