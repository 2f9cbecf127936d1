//! Configuration of `wharf-registry`, resolved in the order defaults → config file →
//! environment (`WHARF_REGISTRY_*`) → flags. See `docs/configuration.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use secrecy::SecretString;
use serde::Deserialize;

use std::time::Duration;

use crate::service::{GcSettings, Limits};

/// The registry's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory holding `metadata.db`, `blobs/` and `uploads/`.
    pub data_dir: PathBuf,
    /// `postgres://…` to keep metadata in PostgreSQL instead of `metadata.db`; several
    /// registry processes may share it (with a shared blob directory or bucket). It
    /// carries the database password: `Debug` prints it redacted.
    pub database_url: Option<SecretString>,
    /// `s3://BUCKET[/PREFIX]` to keep blobs in S3-compatible object storage instead of
    /// `data_dir` (endpoint, region and credentials from the AWS environment variables).
    pub storage_url: Option<String>,
    /// Answer blob GETs with `307` to a pre-signed object-storage URL (S3 only); `None`
    /// means on whenever the store can sign URLs.
    pub blob_redirect: Option<bool>,
    /// How long a pre-signed blob URL stays valid.
    pub blob_redirect_expiry: Duration,
    /// Part size of multipart uploads to object storage, in bytes (at least 5 MiB).
    pub s3_part_size: u64,
    /// Endpoint, region and credentials of the object storage (`[s3]`).
    pub s3: crate::storage::s3::S3Settings,
    /// Prefix before `<namespace>/<name>` in the wasm-pkg discovery document.
    pub namespace_prefix: String,
    /// `host[:port]` clients should use (in the discovery document); default: the
    /// request's `Host`.
    pub public_registry: Option<String>,
    /// Size limits.
    pub limits: Limits,
    /// Garbage collection rules.
    pub gc: GcSettings,
    /// Time between background garbage-collection passes; zero disables them.
    pub gc_interval: Duration,
    /// Authentication and permissions; `None` is an open registry.
    pub auth: Option<crate::auth::AuthConfig>,
    /// Where pulls require signatures by which key files.
    pub signature_rules: Vec<SignatureRuleConfig>,
    /// Public key files whose signatures the catalog reports as verified.
    pub trusted_keys: Vec<PathBuf>,
    /// Keyless signers whose Sigstore bundles the catalog reports as verified.
    pub trusted_identities: Vec<wharf_sign::bundle::IdentitySpec>,
    /// A Sigstore `trusted_root.json` keyless bundles are checked against; `None`: the
    /// public-good root built in.
    pub trusted_root: Option<PathBuf>,
    /// Storage quotas per repository prefix.
    pub quotas: Vec<QuotaConfig>,
    /// Pull-through mirrors of upstream registries.
    pub mirrors: Vec<MirrorConfig>,
    /// How long a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// Requests per second allowed per client address (token bucket); 0 disables the limit.
    pub rate_limit_per_second: f64,
    /// Bucket size of the rate limit: the burst a client may send at once.
    pub rate_limit_burst: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("wharf-data"),
            database_url: None,
            storage_url: None,
            blob_redirect: None,
            blob_redirect_expiry: Duration::from_secs(300),
            s3_part_size: crate::storage::s3::DEFAULT_PART_SIZE,
            s3: Default::default(),
            namespace_prefix: String::new(),
            public_registry: None,
            limits: Limits::default(),
            gc: GcSettings::default(),
            gc_interval: Duration::from_secs(3600),
            rate_limit_per_second: 0.0,
            rate_limit_burst: 100.0,
            auth: None,
            signature_rules: Vec::new(),
            trusted_keys: Vec::new(),
            trusted_identities: Vec::new(),
            trusted_root: None,
            quotas: Vec::new(),
            mirrors: Vec::new(),
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

/// The config file (TOML); every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// `listen = "0.0.0.0:5000"`
    pub listen: Option<SocketAddr>,
    /// `data-dir = "/var/lib/wharf"`
    pub data_dir: Option<PathBuf>,
    /// `database-url = "postgres://wharf@db/wharf"` (redacted in `Debug`)
    pub database_url: Option<SecretString>,
    /// `storage-url = "s3://wharf-blobs/prod"` (default: blobs under `data-dir`)
    pub storage_url: Option<String>,
    /// `blob-redirect = true` (default: on for object storage)
    pub blob_redirect: Option<bool>,
    /// `blob-redirect-expiry-secs = 300`
    pub blob_redirect_expiry_secs: Option<u64>,
    /// `s3-part-size = 8388608` (bytes; at least 5 MiB)
    pub s3_part_size: Option<u64>,
    /// `[s3]`: endpoint, region and credentials of the object storage (each overridden by
    /// its AWS environment variable).
    pub s3: Option<crate::storage::s3::S3Settings>,
    /// `namespace-prefix = "wasm/"`
    pub namespace_prefix: Option<String>,
    /// `public-registry = "registry.example.com"`
    pub public_registry: Option<String>,
    /// `max-manifest-bytes = 4194304`
    pub max_manifest_bytes: Option<u64>,
    /// `max-index-bytes = 268435456`
    pub max_index_bytes: Option<u64>,
    /// `max-concurrent-index = 2`
    pub max_concurrent_index: Option<usize>,
    /// `mutable-version-prefixes = ["dev/"]` (where semver tags may move)
    pub mutable_version_prefixes: Option<Vec<String>>,
    /// `max-blob-bytes = 0` (0: no limit)
    pub max_blob_bytes: Option<u64>,
    /// `rate-limit-per-second = 0` (requests per client address; 0: no limit)
    pub rate_limit_per_second: Option<f64>,
    /// `rate-limit-burst = 100`
    pub rate_limit_burst: Option<f64>,
    /// `gc-interval-secs = 3600` (0 disables background passes)
    pub gc_interval_secs: Option<u64>,
    /// `gc-grace-secs = 3600`
    pub gc_grace_secs: Option<u64>,
    /// `upload-expiry-secs = 86400`
    pub upload_expiry_secs: Option<u64>,
    /// `gc-untagged = false`
    pub gc_untagged: Option<bool>,
    /// `[auth]`: see `docs/configuration.md`.
    pub auth: Option<crate::auth::AuthConfig>,
    /// `header-read-timeout-secs = 30`
    pub header_read_timeout_secs: Option<u64>,
    /// `[[signature-rules]] prefix = "secure" keys = ["/etc/wharf/release.pub"]`
    #[serde(default)]
    pub signature_rules: Vec<SignatureRuleConfig>,
    /// `trusted-keys = ["/etc/wharf/release.pub"]`: signatures by these keys show as
    /// verified in the JSON API and web UI (signature-rule keys count too).
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// `trusted-identities = [{ identity = "…", issuer = "…" }]`: keyless Sigstore bundles
    /// by these signers show as verified (signature-rule identities count too).
    #[serde(default)]
    pub trusted_identities: Vec<wharf_sign::bundle::IdentitySpec>,
    /// `trusted-root = "/etc/wharf/trusted_root.json"`: the Sigstore trusted root for
    /// keyless bundles (default: the public-good root built in).
    pub trusted_root: Option<PathBuf>,
    /// `[[quotas]] prefix = "team" bytes = 10737418240`
    #[serde(default)]
    pub quotas: Vec<QuotaConfig>,
    /// `[[mirrors]] prefix = "wasi" upstream = "ghcr.io" upstream-prefix = "webassembly/wasi"`
    #[serde(default)]
    pub mirrors: Vec<MirrorConfig>,
}

/// One `[[mirrors]]` entry: local repositories under `prefix` are pull-through copies of
/// `upstream`'s under `upstream-prefix`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MirrorConfig {
    /// Local repository prefix (`wasi`).
    pub prefix: String,
    /// The upstream registry, `host[:port]` (`ghcr.io`).
    pub upstream: String,
    /// What `prefix` stands for upstream (`webassembly/wasi`; default: the same names).
    #[serde(default)]
    pub upstream_prefix: String,
    /// Speak plain HTTP to the upstream (default: only to a loopback address).
    pub plain_http: Option<bool>,
    /// Credentials for the upstream, if it needs them.
    pub username: Option<String>,
    /// The password or token (redacted in `Debug`).
    pub password: Option<SecretString>,
    /// Seconds a mirrored tag is served before it is checked upstream again (300).
    pub tag_ttl_secs: Option<u64>,
    /// Seconds an upstream may stay silent before a request to it fails (30).
    pub timeout_secs: Option<u64>,
}

/// One `[[quotas]]` entry: repositories under `prefix` may hold at most `bytes` of blobs
/// (each distinct blob counted once).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Repository prefix.
    pub prefix: String,
    /// The limit in bytes.
    pub bytes: u64,
}

/// One `[[signature-rules]]` entry: pulls under `prefix` need a signature by one of `keys`
/// or `identities`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRuleConfig {
    /// Repository prefix.
    pub prefix: String,
    /// Public key files (SPKI PEM).
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    /// Keyless signers (certificate identity and OIDC issuer).
    #[serde(default)]
    pub identities: Vec<wharf_sign::bundle::IdentitySpec>,
}

impl FileConfig {
    /// Read and parse `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read config file `{}`", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file `{}`", path.display()))
    }
}

/// Values from flags or environment (already merged by clap); `None` = not given.
#[derive(Debug, Default)]
pub struct Overrides {
    /// `--listen`
    pub listen: Option<SocketAddr>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--database-url` (redacted in `Debug`)
    pub database_url: Option<SecretString>,
    /// `--storage-url`
    pub storage_url: Option<String>,
    /// `--namespace-prefix`
    pub namespace_prefix: Option<String>,
    /// `--public-registry`
    pub public_registry: Option<String>,
}

impl Config {
    /// Defaults, then `file`, then `overrides`.
    pub fn resolve(file: FileConfig, overrides: Overrides) -> Self {
        let d = Config::default();
        Config {
            listen: overrides.listen.or(file.listen).unwrap_or(d.listen),
            data_dir: overrides.data_dir.or(file.data_dir).unwrap_or(d.data_dir),
            database_url: overrides.database_url.or(file.database_url),
            storage_url: overrides.storage_url.or(file.storage_url),
            blob_redirect: file.blob_redirect,
            blob_redirect_expiry: file
                .blob_redirect_expiry_secs
                .map_or(d.blob_redirect_expiry, Duration::from_secs),
            s3_part_size: file.s3_part_size.unwrap_or(d.s3_part_size),
            s3: file.s3.unwrap_or_default(),
            namespace_prefix: overrides
                .namespace_prefix
                .or(file.namespace_prefix)
                .unwrap_or(d.namespace_prefix),
            public_registry: overrides.public_registry.or(file.public_registry),
            limits: Limits {
                max_manifest_bytes: file
                    .max_manifest_bytes
                    .unwrap_or(d.limits.max_manifest_bytes),
                max_index_bytes: file.max_index_bytes.unwrap_or(d.limits.max_index_bytes),
                max_concurrent_index: file
                    .max_concurrent_index
                    .unwrap_or(d.limits.max_concurrent_index),
                max_blob_bytes: file.max_blob_bytes.unwrap_or(d.limits.max_blob_bytes),
                mutable_version_prefixes: file.mutable_version_prefixes.unwrap_or_default(),
            },
            gc: GcSettings {
                grace: file.gc_grace_secs.map_or(d.gc.grace, Duration::from_secs),
                upload_expiry: file
                    .upload_expiry_secs
                    .map_or(d.gc.upload_expiry, Duration::from_secs),
                untagged: file.gc_untagged.unwrap_or(d.gc.untagged),
            },
            gc_interval: file
                .gc_interval_secs
                .map_or(d.gc_interval, Duration::from_secs),
            rate_limit_per_second: file
                .rate_limit_per_second
                .unwrap_or(d.rate_limit_per_second),
            rate_limit_burst: file.rate_limit_burst.unwrap_or(d.rate_limit_burst),
            auth: file.auth,
            signature_rules: file.signature_rules,
            trusted_keys: file.trusted_keys,
            trusted_identities: file.trusted_identities,
            trusted_root: file.trusted_root,
            quotas: file.quotas,
            mirrors: file.mirrors,
            header_read_timeout: file
                .header_read_timeout_secs
                .map_or(d.header_read_timeout, Duration::from_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        let file: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:6000\"\ndata-dir = \"/srv/w\"\nmax-index-bytes = 10",
        )
        .unwrap();
        let c = Config::resolve(
            file,
            Overrides {
                data_dir: Some("/tmp/x".into()),
                ..Default::default()
            },
        );
        assert_eq!(c.listen.port(), 6000);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.limits.max_index_bytes, 10);
        assert_eq!(c.namespace_prefix, "");
        assert!(toml::from_str::<FileConfig>("bogus = 1").is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let file: FileConfig = toml::from_str(
            "database-url = \"postgres://wharf:hunter2-db@db/wharf\"\n\
             [s3]\nsecret-access-key = \"hunter2-s3\"\n\
             [[mirrors]]\nprefix = \"m\"\nupstream = \"ghcr.io\"\npassword = \"hunter2-mirror\"\n\
             [auth]\nhtpasswd = \"/etc/wharf/htpasswd\"\ntoken-secret = \"hunter2-token-secret\"",
        )
        .unwrap();
        let c = Config::resolve(file, Overrides::default());
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("REDACTED"), "{printed}");
        use secrecy::ExposeSecret as _;
        assert_eq!(
            c.database_url.unwrap().expose_secret(),
            "postgres://wharf:hunter2-db@db/wharf"
        );
    }
}
