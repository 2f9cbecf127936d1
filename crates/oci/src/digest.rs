use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// A content digest `algorithm:encoded`, as in the OCI Image Specification, "Digests".
///
/// Only the registered algorithms `sha256` (64 lowercase hex characters) and `sha512`
/// (128) are accepted; anything else is a [`DigestError`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    encoded: String,
}

/// A registered digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256, the default everywhere.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's name as written before the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 64,
            DigestAlgorithm::Sha512 => 128,
        }
    }
}

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// No `:` between algorithm and encoded part.
    #[error(
        "invalid digest `{0}`: expected `algorithm:hex`, e.g. `sha256:` followed by 64 hex digits"
    )]
    Malformed(String),
    /// An algorithm other than sha256 or sha512.
    #[error("unsupported digest algorithm `{algorithm}` in `{digest}` (supported: sha256, sha512)")]
    UnsupportedAlgorithm { algorithm: String, digest: String },
    /// Wrong length or a character that is not lowercase hex.
    #[error("invalid digest `{digest}`: {algorithm} needs {expected} lowercase hex digits")]
    BadEncoding {
        algorithm: &'static str,
        expected: usize,
        digest: String,
    },
}

impl Digest {
    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest {
            algorithm: DigestAlgorithm::Sha256,
            encoded: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// The digest of `bytes` with this digest's algorithm; used to check content against it.
    pub fn compute_same(&self, bytes: &[u8]) -> Digest {
        match self.algorithm {
            DigestAlgorithm::Sha256 => Digest::sha256_of(bytes),
            DigestAlgorithm::Sha512 => Digest {
                algorithm: DigestAlgorithm::Sha512,
                encoded: hex::encode(Sha512::digest(bytes)),
            },
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lowercase hex part after the colon.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// A streaming hasher of this digest's algorithm, to check content as it arrives.
    pub fn hasher(&self) -> DigestHasher {
        DigestHasher::new_for(self.algorithm)
    }

    /// The tag of the referrers tag schema for a subject with this digest:
    /// `<alg>-<ref>`, the algorithm cut to 32 characters and the encoded part to 64
    /// (distribution-spec, "Referrers Tag Schema"), so a sha512 digest still yields a valid
    /// tag (`sha512-` and the first 64 hex characters). Always a valid tag of at most 97
    /// characters.
    pub fn referrers_tag(&self) -> String {
        let alg = self.algorithm.as_str();
        let alg = &alg[..alg.len().min(32)];
        let encoded = &self.encoded[..self.encoded.len().min(64)];
        format!("{alg}-{encoded}")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.encoded)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, enc) = s
            .split_once(':')
            .ok_or_else(|| DigestError::Malformed(s.to_owned()))?;
        let algorithm = match alg {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            other => {
                return Err(DigestError::UnsupportedAlgorithm {
                    algorithm: other.to_owned(),
                    digest: s.to_owned(),
                });
            }
        };
        let ok = enc.len() == algorithm.hex_len()
            && enc
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(DigestError::BadEncoding {
                algorithm: algorithm.as_str(),
                expected: algorithm.hex_len(),
                digest: s.to_owned(),
            });
        }
        Ok(Digest {
            algorithm,
            encoded: enc.to_owned(),
        })
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher for either registered algorithm that also counts bytes.
///
/// Feed it with [`update`](Self::update) (or as an `std::io::Write`) and call
/// [`finish`](Self::finish) for the [`Digest`] and the byte count.
#[derive(Clone)]
pub struct DigestHasher {
    inner: HasherInner,
    len: u64,
}

#[derive(Clone)]
enum HasherInner {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Default for DigestHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl DigestHasher {
    /// A SHA-256 hasher.
    pub fn new() -> Self {
        Self::new_for(DigestAlgorithm::Sha256)
    }

    /// A hasher for `algorithm`.
    pub fn new_for(algorithm: DigestAlgorithm) -> Self {
        let inner = match algorithm {
            DigestAlgorithm::Sha256 => HasherInner::Sha256(Sha256::new()),
            DigestAlgorithm::Sha512 => HasherInner::Sha512(Sha512::new()),
        };
        DigestHasher { inner, len: 0 }
    }

    /// Hash `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        match &mut self.inner {
            HasherInner::Sha256(h) => h.update(data),
            HasherInner::Sha512(h) => h.update(data),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> DigestAlgorithm {
        match self.inner {
            HasherInner::Sha256(_) => DigestAlgorithm::Sha256,
            HasherInner::Sha512(_) => DigestAlgorithm::Sha512,
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was hashed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hasher's state as bytes, to continue it later in another request or process
    /// ([`restore`](Self::restore)): one byte for the algorithm (1 = sha256, 2 = sha512),
    /// the byte count (8 bytes, little-endian), then the hash function's own serialized
    /// state (RustCrypto's `SerializableState`: the chaining values and the partial
    /// block). The format is wharf's; it holds no secret, only a prefix of a blob.
    pub fn save(&self) -> Vec<u8> {
        use sha2::digest::common::hazmat::SerializableState as _;
        let (tag, state): (u8, Vec<u8>) = match &self.inner {
            HasherInner::Sha256(h) => (1, h.serialize().to_vec()),
            HasherInner::Sha512(h) => (2, h.serialize().to_vec()),
        };
        let mut out = Vec::with_capacity(9 + state.len());
        out.push(tag);
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&state);
        out
    }

    /// A hasher continued from [`save`](Self::save)'s bytes; `None` when they are not a
    /// saved state (wrong length, unknown algorithm, corrupt state).
    pub fn restore(bytes: &[u8]) -> Option<DigestHasher> {
        use sha2::digest::common::hazmat::SerializableState;
        fn state<H: SerializableState>(bytes: &[u8]) -> Option<H> {
            let array = bytes.try_into().ok()?;
            H::deserialize(array).ok()
        }
        let (&tag, rest) = bytes.split_first()?;
        let (len, state_bytes) = rest.split_at_checked(8)?;
        let len = u64::from_le_bytes(len.try_into().ok()?);
        let inner = match tag {
            1 => HasherInner::Sha256(state(state_bytes)?),
            2 => HasherInner::Sha512(state(state_bytes)?),
            _ => return None,
        };
        Some(DigestHasher { inner, len })
    }

    /// The digest of everything hashed, and its length in bytes.
    pub fn finish(self) -> (Digest, u64) {
        let digest = match self.inner {
            HasherInner::Sha256(h) => Digest {
                algorithm: DigestAlgorithm::Sha256,
                encoded: hex::encode(h.finalize()),
            },
            HasherInner::Sha512(h) => Digest {
                algorithm: DigestAlgorithm::Sha512,
                encoded: hex::encode(h.finalize()),
            },
        };
        (digest, self.len)
    }
}

impl std::io::Write for DigestHasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_hasher_continues_where_it_stopped() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
            for cut in [0, 1, 63, 64, 65, 127, 128, 129, 5000, 10_000] {
                let mut first = DigestHasher::new_for(algorithm);
                first.update(&data[..cut]);
                let saved = first.save();
                let mut resumed = DigestHasher::restore(&saved).unwrap();
                assert_eq!(resumed.len(), cut as u64);
                assert_eq!(resumed.algorithm(), algorithm);
                resumed.update(&data[cut..]);
                let mut whole = DigestHasher::new_for(algorithm);
                whole.update(&data);
                assert_eq!(
                    resumed.finish(),
                    whole.finish(),
                    "{algorithm:?} cut at {cut}"
                );
            }
        }
        let saved = DigestHasher::new().save();
        assert!(DigestHasher::restore(&saved[..saved.len() - 1]).is_none());
        assert!(DigestHasher::restore(&[9; 60]).is_none());
        assert!(DigestHasher::restore(&[]).is_none());
    }

    #[test]
    fn parses_and_prints_sha256() {
        let d = Digest::sha256_of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Digest>(), Ok(d));
    }

    #[test]
    fn rejects_bad_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:abc",
            "md5:00",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "../../etc/passwd",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn streaming_hasher_matches_one_shot() {
        let mut h = DigestHasher::new();
        h.update(b"hello ");
        h.update(b"world");
        let (d, n) = h.finish();
        assert_eq!(n, 11);
        assert_eq!(d, Digest::sha256_of(b"hello world"));
        let d512: Digest = format!("sha512:{}", "0".repeat(128)).parse().unwrap();
        let mut h = d512.hasher();
        h.update(b"x");
        assert_eq!(h.finish().0, d512.compute_same(b"x"));
    }

    #[test]
    fn referrers_tags_are_truncated_as_the_spec_says() {
        let d = Digest::sha256_of(b"");
        assert_eq!(d.referrers_tag(), format!("sha256-{}", d.encoded()));
        let hex: String = (0..128)
            .map(|i| char::from(b"0123456789abcdef"[i % 16]))
            .collect();
        let d512: Digest = format!("sha512:{hex}").parse().unwrap();
        let tag = d512.referrers_tag();
        assert_eq!(tag, format!("sha512-{}", &hex[..64]));
        assert!(tag.parse::<crate::Tag>().is_ok(), "{tag} is a valid tag");
    }
}
