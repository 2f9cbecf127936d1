//! Settings of the CLI: flags, then environment (`WHARF_*`), then the config file
//! `$XDG_CONFIG_HOME/wharf/config.toml` (or the path in `--config`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;
use wharf_client::{Client, ClientConfig, DockerConfig, PlainHttp};

/// Flags shared by every subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Registry used for package names (`ns:name@version`) and references without a host.
    #[arg(
        long,
        global = true,
        env = "WHARF_REGISTRY",
        value_name = "HOST[:PORT]"
    )]
    pub registry: Option<String>,
    /// Speak plain HTTP to every registry (loopback registries use it by default).
    #[arg(long, global = true, env = "WHARF_PLAIN_HTTP")]
    pub plain_http: bool,
    /// Config file (default: $XDG_CONFIG_HOME/wharf/config.toml).
    #[arg(long, global = true, env = "WHARF_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Trust policy file (default: `trust-policy` in the config file, else
    /// $XDG_CONFIG_HOME/wharf/trust.toml when it exists).
    #[arg(long, global = true, env = "WHARF_TRUST_POLICY", value_name = "FILE")]
    pub trust_policy: Option<PathBuf>,
    /// Cache directory for pulled blobs and compiled code (default: $XDG_CACHE_HOME/wharf).
    #[arg(long, global = true, env = "WHARF_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// Registry for package names and host-less references.
    pub default_registry: Option<String>,
    /// Registries to always speak plain HTTP to, e.g. `["registry.internal:5000"]`.
    #[serde(default)]
    pub plain_http_registries: Vec<String>,
    /// The trust policy file.
    pub trust_policy: Option<PathBuf>,
}

impl FileConfig {
    fn load(path: &Path, explicit: bool) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("invalid config file `{}`", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(Self::default()),
            Err(e) => {
                Err(e).with_context(|| format!("failed to read config file `{}`", path.display()))
            }
        }
    }
}

/// Settings resolved from flags, environment and file.
pub struct Settings {
    /// The default registry.
    pub registry: Option<String>,
    file: FileConfig,
    plain_http: bool,
    /// Cache root.
    pub cache_dir: PathBuf,
    /// The trust policy `pull` and `run` enforce.
    pub trust: wharf_core::TrustPolicy,
}

impl GlobalArgs {
    /// Resolve the settings.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let (path, explicit) = match &self.config {
            Some(p) => (p.clone(), true),
            None => (
                dirs::config_dir()
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join("wharf/config.toml"),
                false,
            ),
        };
        let file = FileConfig::load(&path, explicit)?;
        let trust = match (&self.trust_policy, &file.trust_policy) {
            (Some(p), _) | (None, Some(p)) => wharf_core::TrustPolicy::load(p, true)?,
            (None, None) => wharf_core::TrustPolicy::load(
                &dirs::config_dir()
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join("wharf/trust.toml"),
                false,
            )?,
        };
        Ok(Settings {
            registry: self
                .registry
                .clone()
                .or_else(|| file.default_registry.clone()),
            plain_http: self.plain_http,
            file,
            cache_dir: self
                .cache_dir
                .clone()
                .unwrap_or_else(wharf_core::BlobCache::default_root),
            trust,
        })
    }
}

impl Settings {
    /// A registry client with Docker credentials and the transport settings.
    pub fn client(&self, registry_hint: Option<&str>) -> anyhow::Result<Client> {
        let mut credentials = match DockerConfig::default_path() {
            Some(p) => DockerConfig::load(&p)?,
            None => DockerConfig::default(),
        };
        // CI: WHARF_REGISTRY_USERNAME and WHARF_REGISTRY_PASSWORD (as wkg and ORAS take
        // them from the environment), for the registry this command names only, so they
        // are never sent to a registry a discovery document or redirect points elsewhere
        let from_env = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
        match (
            registry_hint,
            from_env("WHARF_REGISTRY_USERNAME"),
            from_env("WHARF_REGISTRY_PASSWORD"),
        ) {
            (Some(registry), Some(username), Some(password)) => {
                credentials.insert(registry, wharf_client::Credentials { username, password })
            }
            (_, Some(_), None) | (_, None, Some(_)) => anyhow::bail!(
                "set both WHARF_REGISTRY_USERNAME and WHARF_REGISTRY_PASSWORD, or neither"
            ),
            _ => {}
        }
        let plain = self.plain_http
            || registry_hint
                .is_some_and(|r| self.file.plain_http_registries.iter().any(|p| p == r));
        let plain_http = if plain {
            PlainHttp::Always
        } else {
            PlainHttp::Loopback
        };
        let secs = |var| env_number(var, "seconds").map(|n| n.map(Duration::from_secs));
        Ok(Client::new(ClientConfig {
            plain_http,
            credentials,
            connect_timeout: secs("WHARF_CONNECT_TIMEOUT")?,
            read_timeout: secs("WHARF_READ_TIMEOUT")?,
            metadata_timeout: secs("WHARF_METADATA_TIMEOUT")?,
            max_blob_bytes: env_number("WHARF_MAX_BLOB_BYTES", "bytes")?,
        })?)
    }
}

impl wharf_core::Clients for Settings {
    fn client(&self, registry: &str) -> anyhow::Result<Client> {
        Settings::client(self, Some(registry))
    }
}

/// The whole number in environment variable `var`, if set; `unit` names it in the error.
fn env_number(var: &str, unit: &str) -> anyhow::Result<Option<u64>> {
    std::env::var(var)
        .ok()
        .map(|v| {
            v.parse::<u64>()
                .with_context(|| format!("{var}={v:?} is not a number of {unit}"))
        })
        .transpose()
}

/// The environment variable holding the passphrase of an encrypted private key (the
/// counterpart of cosign's `COSIGN_PASSWORD`). Never printed, never logged.
pub const PASSPHRASE_ENV: &str = "WHARF_KEY_PASSPHRASE";

/// The passphrase from [`PASSPHRASE_ENV`], if set and not empty.
pub fn passphrase() -> Option<String> {
    std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty())
}

/// Read a private key for signing, an encrypted one opened with the passphrase from
/// [`PASSPHRASE_ENV`]; checked now, so nothing is pushed with a key that cannot sign.
pub fn signing_key(path: &Path) -> anyhow::Result<wharf_core::SigningKey> {
    wharf_core::SigningKey::load(path, passphrase())
}
