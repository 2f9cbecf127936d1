//! The release log: an append-only, tamper-evident record of what a registry published,
//! in the layout of Rekor v2, Go's checksum database and sigsum.
//!
//! - Entries: one JSON line per publication, tag move, tag deletion and yank
//!   ([`LogEntry`]), newline-terminated UTF-8.
//! - Tree: RFC 6962 Merkle tree of the entries (leaf hash `SHA-256(0x00 || entry)`), kept
//!   as the "stored hashes" of Go's `sumdb/tlog` (`tlog_tiles`, Cloudflare's port).
//! - Served as C2SP tlog-tiles (height 8): `tile/<L>/<N>[.p/<W>]` (hashes) and
//!   `tile/entries/<N>[.p/<W>]` (entry bundles: big-endian `u16` length, then the entry),
//!   and a C2SP tlog-checkpoint (`<origin>\n<size>\n<base64 root>\n`) signed as a C2SP
//!   signed note with Ed25519 (`signed_note`).
//! - Checked by replay ([`Replay`]): a client that reads every entry recomputes the root of
//!   every size itself, so an inclusion (the entry is in the tree the checkpoint signs) and a
//!   consistency (the tree it saw before is a prefix of this one) follow from recomputation,
//!   with no hash taken from the server.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::{Checkpoint, HashReader};

use crate::SignError;

/// Tile height of C2SP tlog-tiles: 256 hashes or entries per full tile.
pub const TILE_HEIGHT: u8 = 8;
/// Entries or hashes in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Largest entry accepted (bytes): the bundle encodes lengths in a `u16`.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// A SHA-256 tree hash.
pub type TreeHash = [u8; 32];

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A tag set for the first time.
    Publish,
    /// A tag moved from `previous` to `digest`.
    Move,
    /// A tag deleted.
    Delete,
    /// A version yanked (a yank mark pushed for `digest`, naming `tag`).
    Yank,
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// What happened.
    pub action: Action,
    /// The repository.
    pub repository: String,
    /// The tag (for a yank: the version the mark names).
    pub tag: String,
    /// The manifest the tag points at now (for a delete: pointed at).
    pub digest: String,
    /// The manifest it pointed at before, for a move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// When, RFC 3339 UTC.
    pub time: String,
}

impl LogEntry {
    /// The entry's bytes: one JSON line with a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec(self).unwrap_or_default();
        b.push(b'\n');
        b
    }

    /// Parse an entry's bytes.
    ///
    /// # Errors
    /// [`SignError::Log`] naming what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<LogEntry, SignError> {
        let line = bytes
            .strip_suffix(b"\n")
            .ok_or_else(|| SignError::Log("a log entry does not end in a newline".into()))?;
        serde_json::from_slice(line)
            .map_err(|e| SignError::Log(format!("a log entry is not one: {e}")))
    }
}

/// The stored-hash indexes [`hashes_to_store`] reads to append entry number `n`.
pub fn append_indexes(n: u64) -> Vec<u64> {
    let m = (n + 1).trailing_zeros();
    (0..m)
        .rev()
        .map(|i| tlog_tiles::stored_hash_index(i as u8, (n >> i) - 1))
        .collect()
}

/// The hashes to store when appending entry number `n`, as (stored-hash index, hash),
/// given the hashes at [`append_indexes`]`(n)` in `known`.
///
/// # Errors
/// [`SignError::Log`] when `known` lacks one of them.
pub fn hashes_to_store(
    n: u64,
    entry: &[u8],
    known: &HashMap<u64, TreeHash>,
) -> Result<Vec<(u64, TreeHash)>, SignError> {
    let hashes = tlog_tiles::stored_hashes(n, entry, &Known(known)).map_err(log_error)?;
    let first = tlog_tiles::stored_hash_index(0, n);
    Ok(hashes
        .into_iter()
        .enumerate()
        .map(|(i, h)| (first + i as u64, h.0))
        .collect())
}

/// The stored-hash indexes [`tree_root`] reads for a tree of `size` entries.
pub fn root_indexes(size: u64) -> Vec<u64> {
    match size {
        0 => Vec::new(),
        n => tlog_tiles::sub_tree_index(0, n, Vec::new()),
    }
}

/// The root of the tree of `size` entries, given the hashes at [`root_indexes`]`(size)`.
///
/// # Errors
/// [`SignError::Log`] when `known` lacks one of them.
pub fn tree_root(size: u64, known: &HashMap<u64, TreeHash>) -> Result<TreeHash, SignError> {
    Ok(tlog_tiles::tree_hash(size, &Known(known))
        .map_err(log_error)?
        .0)
}

/// The stored-hash indexes of hash tile `index` at `level`, `width` hashes wide.
pub fn tile_indexes(level: u8, index: u64, width: u64) -> Vec<u64> {
    (0..width)
        .map(|i| tlog_tiles::stored_hash_index(level * TILE_HEIGHT, index * TILE_WIDTH + i))
        .collect()
}

/// An entry bundle: each entry as a big-endian `u16` length and its bytes.
pub fn entry_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&e[..usize::from(len)]);
    }
    out
}

/// The entries of an entry bundle.
///
/// # Errors
/// [`SignError::Log`] for a bundle cut inside an entry.
pub fn parse_entry_bundle(mut bundle: &[u8]) -> Result<Vec<Vec<u8>>, SignError> {
    let mut out = Vec::new();
    while !bundle.is_empty() {
        let (len, rest) = bundle
            .split_first_chunk::<2>()
            .ok_or_else(|| SignError::Log("an entry bundle ends inside a length".into()))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return Err(SignError::Log(
                "an entry bundle ends inside an entry".into(),
            ));
        }
        out.push(rest[..len].to_vec());
        bundle = &rest[len..];
    }
    Ok(out)
}

/// A tile as C2SP tlog-tiles addresses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<level>/<index>[.p/<width>]`.
    Hashes {
        /// Level (0: leaf hashes).
        level: u8,
        /// Index within the level.
        index: u64,
        /// Hashes in it: [`TILE_WIDTH`] for a full tile.
        width: u64,
    },
    /// `tile/entries/<index>[.p/<width>]`.
    Entries {
        /// Index of the bundle.
        index: u64,
        /// Entries in it.
        width: u64,
    },
}

impl TilePath {
    /// The path below the log's prefix, as C2SP tlog-tiles writes it (`N` in 3-digit
    /// elements, all but the last prefixed with `x`).
    pub fn path(&self) -> String {
        let (kind, index, width) = match *self {
            TilePath::Hashes {
                level,
                index,
                width,
            } => (level.to_string(), index, width),
            TilePath::Entries { index, width } => ("entries".to_owned(), index, width),
        };
        let mut n = index;
        let mut digits = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            digits = format!("x{:03}/{digits}", n % 1000);
        }
        let partial = match width {
            TILE_WIDTH => String::new(),
            w => format!(".p/{w}"),
        };
        format!("tile/{kind}/{digits}{partial}")
    }

    /// Parse a path below the log's prefix.
    ///
    /// # Errors
    /// [`SignError::Log`] naming the path.
    pub fn parse(path: &str) -> Result<TilePath, SignError> {
        let bad = || SignError::Log(format!("not a tile path: `{path}`"));
        if path.len() > 80 {
            return Err(bad());
        }
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (kind, rest) = rest.split_once('/').ok_or_else(bad)?;
        let (digits, width) = match rest.split_once(".p/") {
            Some((d, w)) => {
                let w: u64 = w.parse().map_err(|_| bad())?;
                if w == 0 || w >= TILE_WIDTH || w.to_string().len() != rest.len() - d.len() - 3 {
                    return Err(bad());
                }
                (d, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let parts: Vec<&str> = digits.split('/').collect();
        let mut index: u64 = 0;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let number = match last {
                true => *part,
                false => part.strip_prefix('x').ok_or_else(bad)?,
            };
            if number.len() != 3 || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: u64 = number.parse().map_err(|_| bad())?;
            index = index
                .checked_mul(1000)
                .and_then(|v| v.checked_add(n))
                .ok_or_else(bad)?;
        }
        let tile = match kind {
            "entries" => TilePath::Entries { index, width },
            level => {
                let level: u8 = level.parse().map_err(|_| bad())?;
                if level > 7 || level.to_string() != kind {
                    return Err(bad());
                }
                TilePath::Hashes {
                    level,
                    index,
                    width,
                }
            }
        };
        // the canonical form only: one path per tile
        match tile.path() == path {
            true => Ok(tile),
            false => Err(bad()),
        }
    }
}

/// A log signing key: the C2SP signed-note private key (kept secret) and verifier key.
pub struct LogKey {
    private: String,
    /// The verifier key, `<name>+<id>+<base64 key>`: what clients pin.
    pub verifier: String,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl LogKey {
    /// A new Ed25519 key for the log named `origin`.
    ///
    /// # Errors
    /// [`SignError::Log`] for a name signed notes do not allow (empty, spaces, `+`), or no
    /// randomness.
    pub fn generate(origin: &str) -> Result<LogKey, SignError> {
        if !signed_note::is_key_name_valid(origin) {
            return Err(SignError::Log(format!(
                "`{origin}` cannot name a log key (no spaces or `+`)"
            )));
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| SignError::Random(e.to_string()))?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let verifier = signed_note::new_ed25519_verifier_key(origin, &signing.verifying_key());
        let public = [&[1u8][..], signing.verifying_key().as_bytes()].concat();
        let private = format!(
            "PRIVATE+KEY+{origin}+{:08x}+{}",
            signed_note::key_id(origin, &public),
            STANDARD.encode([&[1u8][..], &seed[..]].concat())
        );
        Ok(LogKey { private, verifier })
    }

    /// A key from its stored private and verifier forms, checked to belong together.
    ///
    /// # Errors
    /// [`SignError::Log`] when they do not parse or do not match.
    pub fn from_parts(private: String, verifier: String) -> Result<LogKey, SignError> {
        let key = LogKey { private, verifier };
        let probe = key.sign_checkpoint(key.origin(), 0, &[0; 32])?;
        verify_checkpoint(&probe, &key.verifier)?;
        Ok(key)
    }

    /// The private key, for storing.
    pub fn private(&self) -> &str {
        &self.private
    }

    /// The log's origin (the key's name).
    pub fn origin(&self) -> &str {
        self.verifier.split('+').next().unwrap_or_default()
    }

    /// The signed checkpoint of the tree of `size` entries with root `root`.
    ///
    /// # Errors
    /// [`SignError::Log`] when the key does not sign.
    pub fn sign_checkpoint(
        &self,
        origin: &str,
        size: u64,
        root: &TreeHash,
    ) -> Result<Vec<u8>, SignError> {
        let body = Checkpoint::new(origin, size, tlog_tiles::Hash(*root), "")
            .map_err(|e| SignError::Log(e.to_string()))?
            .to_bytes();
        let signer = StandardSigner::new(&self.private)
            .map_err(|e| SignError::Log(format!("unusable log key: {e}")))?;
        let mut note = Note::new(&body, &[]).map_err(|e| SignError::Log(e.to_string()))?;
        note.add_sigs(&[&signer])
            .map_err(|e| SignError::Log(e.to_string()))?;
        Ok(note.to_bytes())
    }
}

/// A checkpoint whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTree {
    /// The log's origin.
    pub origin: String,
    /// Entries in the tree.
    pub size: u64,
    /// Its root hash.
    pub root: TreeHash,
}

/// Verify a signed checkpoint against the verifier key `vkey`; its origin must be the
/// key's name.
///
/// # Errors
/// [`SignError::Log`] saying what is wrong.
pub fn verify_checkpoint(note: &[u8], vkey: &str) -> Result<SignedTree, SignError> {
    let verifier = StandardVerifier::new(vkey)
        .map_err(|e| SignError::Log(format!("not a log verifier key `{vkey}`: {e}")))?;
    let origin_name = vkey.split('+').next().unwrap_or_default().to_owned();
    let note = Note::from_bytes(note)
        .map_err(|e| SignError::Log(format!("the checkpoint is not a signed note: {e}")))?;
    note.verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map_err(|e| SignError::Log(format!("the checkpoint's signature: {e}")))?;
    let checkpoint = Checkpoint::from_bytes(note.text())
        .map_err(|e| SignError::Log(format!("not a checkpoint: {e}")))?;
    if checkpoint.origin() != origin_name {
        return Err(SignError::Log(format!(
            "the checkpoint is for log `{}`, not `{origin_name}`",
            checkpoint.origin()
        )));
    }
    Ok(SignedTree {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: checkpoint.hash().0,
    })
}

/// A log recomputed from its entries: every stored hash, so the root of any size.
#[derive(Default)]
pub struct Replay {
    hashes: HashMap<u64, TreeHash>,
    size: u64,
}

impl Replay {
    /// An empty log.
    pub fn new() -> Replay {
        Replay::default()
    }

    /// Entries replayed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append the next entry.
    pub fn push(&mut self, entry: &[u8]) -> Result<(), SignError> {
        let new = hashes_to_store(self.size, entry, &self.hashes)?;
        self.hashes.extend(new);
        self.size += 1;
        Ok(())
    }

    /// The root of the tree of the first `size` entries.
    ///
    /// # Errors
    /// [`SignError::Log`] for a size past the entries replayed.
    pub fn root(&self, size: u64) -> Result<TreeHash, SignError> {
        if size > self.size {
            return Err(SignError::Log(format!(
                "a tree of {size} entries, but only {} were read",
                self.size
            )));
        }
        tree_root(size, &self.hashes)
    }

    /// The hashes of tile `index` at `level`, `width` wide, as the log should serve them.
    ///
    /// # Errors
    /// [`SignError::Log`] for a tile past the entries replayed.
    pub fn tile(&self, level: u8, index: u64, width: u64) -> Result<Vec<u8>, SignError> {
        let mut out = Vec::new();
        for i in tile_indexes(level, index, width) {
            let h = self
                .hashes
                .get(&i)
                .ok_or_else(|| SignError::Log("a tile past the log's end".into()))?;
            out.extend_from_slice(h);
        }
        Ok(out)
    }
}

/// Reads stored hashes from a map, failing on a missing one.
struct Known<'a>(&'a HashMap<u64, TreeHash>);

impl HashReader for Known<'_> {
    fn read_hashes(
        &self,
        indexes: &[u64],
    ) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::tlog::Error> {
        indexes
            .iter()
            .map(|i| {
                self.0
                    .get(i)
                    .map(|h| tlog_tiles::Hash(*h))
                    .ok_or(tlog_tiles::tlog::Error::IndexesNotInTree)
            })
            .collect()
    }
}

fn log_error(e: tlog_tiles::tlog::Error) -> SignError {
    SignError::Log(format!("log tree: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> Vec<u8> {
        LogEntry {
            action: Action::Publish,
            repository: format!("demo/app{}", i % 3),
            tag: format!("1.{i}.0"),
            digest: format!("sha256:{:064x}", i),
            previous: None,
            time: "2026-12-04T00:00:00Z".into(),
        }
        .to_bytes()
    }

    #[test]
    fn appends_agree_with_a_replay_and_with_rfc6962() {
        // the store's way: read append_indexes, store hashes_to_store; then roots
        let mut stored: HashMap<u64, TreeHash> = HashMap::new();
        let mut replay = Replay::new();
        let mut roots = Vec::new();
        for n in 0..600 {
            let e = entry(n);
            let need: HashMap<u64, TreeHash> = append_indexes(n)
                .into_iter()
                .map(|i| (i, stored[&i]))
                .collect();
            stored.extend(hashes_to_store(n, &e, &need).unwrap());
            replay.push(&e).unwrap();
            let need: HashMap<u64, TreeHash> = root_indexes(n + 1)
                .into_iter()
                .map(|i| (i, stored[&i]))
                .collect();
            roots.push(tree_root(n + 1, &need).unwrap());
        }
        for (n, root) in roots.iter().enumerate() {
            assert_eq!(replay.root(n as u64 + 1).unwrap(), *root);
        }
        // RFC 6962 by hand for three leaves: MTH = H(1 || H(1 || L0 || L1) || L2)
        use sha2::{Digest as _, Sha256};
        let leaf = |e: &[u8]| -> [u8; 32] {
            Sha256::new_with_prefix([0u8])
                .chain_update(e)
                .finalize()
                .into()
        };
        let node = |l: &[u8], r: &[u8]| -> [u8; 32] {
            Sha256::new_with_prefix([1u8])
                .chain_update(l)
                .chain_update(r)
                .finalize()
                .into()
        };
        let expected = node(&node(&leaf(&entry(0)), &leaf(&entry(1))), &leaf(&entry(2)));
        assert_eq!(roots[2], expected);
        // a full tile at level 0 is the 256 leaf hashes
        let tile = replay.tile(0, 1, TILE_WIDTH).unwrap();
        assert_eq!(&tile[..32], &leaf(&entry(256)));
    }

    #[test]
    fn tile_paths_round_trip_and_only_the_canonical_form_parses() {
        for t in [
            TilePath::Hashes {
                level: 0,
                index: 0,
                width: 256,
            },
            TilePath::Hashes {
                level: 1,
                index: 1_234_067,
                width: 5,
            },
            TilePath::Entries {
                index: 999,
                width: 256,
            },
            TilePath::Entries {
                index: 1000,
                width: 1,
            },
        ] {
            assert_eq!(TilePath::parse(&t.path()).unwrap(), t, "{}", t.path());
        }
        assert_eq!(
            TilePath::Hashes {
                level: 1,
                index: 1_234_067,
                width: 5
            }
            .path(),
            "tile/1/x001/x234/067.p/5"
        );
        for bad in [
            "tile/0/1",
            "tile/0/001.p/256",
            "tile/0/001.p/0",
            "tile/0/001.p/05",
            "tile/00/001",
            "tile/8/001",
            "tile/entries/x000/001",
            "tile/0/001/",
            "tile/0/-01",
            "tile/entries/x999/x999/x999/x999/x999/x999/x999/999",
            "../tile/0/000",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checkpoints_verify_only_with_their_key_and_unchanged() {
        let key = LogKey::generate("registry.example/log").unwrap();
        let other = LogKey::generate("registry.example/log").unwrap();
        let note = key
            .sign_checkpoint("registry.example/log", 3, &[7; 32])
            .unwrap();
        let tree = verify_checkpoint(&note, &key.verifier).unwrap();
        assert_eq!((tree.size, tree.root), (3, [7; 32]));
        assert!(verify_checkpoint(&note, &other.verifier).is_err());
        let forged = String::from_utf8(note.clone())
            .unwrap()
            .replacen("\n3\n", "\n4\n", 1);
        assert!(verify_checkpoint(forged.as_bytes(), &key.verifier).is_err());
        let again = LogKey::from_parts(key.private().to_owned(), key.verifier.clone()).unwrap();
        assert_eq!(again.verifier, key.verifier);
        assert!(LogKey::from_parts(key.private().to_owned(), other.verifier.clone()).is_err());
        assert!(LogKey::generate("has space").is_err());
    }

    #[test]
    fn entry_bundles_round_trip_and_cut_ones_are_refused() {
        let entries = [entry(1), entry(2)];
        let bundle = entry_bundle(entries.iter().map(Vec::as_slice));
        assert_eq!(parse_entry_bundle(&bundle).unwrap(), entries);
        assert!(parse_entry_bundle(&bundle[..bundle.len() - 1]).is_err());
        assert!(parse_entry_bundle(&[0]).is_err());
        assert_eq!(LogEntry::parse(&entries[0]).unwrap().tag, "1.1.0");
    }
}
