use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::ClientError;

/// A user name and password (or identity token) for a registry.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token; never printed (the `Debug` impl hides it).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Credentials {
    /// The `Authorization: Basic …` value.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    auths: HashMap<String, RawAuth>,
}

#[derive(Deserialize, Default)]
struct RawAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// Credentials read from a Docker `config.json` (`auths` entries only; credential
/// helpers are not run).
#[derive(Debug, Default, Clone)]
pub struct DockerConfig {
    auths: HashMap<String, Credentials>,
}

impl DockerConfig {
    /// The default location: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))
            .map(|d| d.join("config.json"))
    }

    /// Load `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ClientError::Io {
                    action: "read",
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let raw: RawConfig =
            serde_json::from_str(&text).map_err(|e| ClientError::DockerConfig {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        let mut auths = HashMap::new();
        for (host, a) in raw.auths {
            let creds = if let Some(encoded) = a.auth.filter(|s| !s.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok();
                let text = decoded.and_then(|d| String::from_utf8(d).ok());
                match text.as_deref().and_then(|t| t.split_once(':')) {
                    Some((u, p)) => Credentials {
                        username: u.to_owned(),
                        password: p.to_owned(),
                    },
                    None => {
                        return Err(ClientError::DockerConfig {
                            path: path.display().to_string(),
                            reason: format!(
                                "the `auth` of `{host}` is not base64 of `user:password`"
                            ),
                        });
                    }
                }
            } else if let Some(token) = a.identitytoken {
                Credentials {
                    username: "<token>".to_owned(),
                    password: token,
                }
            } else if let (Some(u), Some(p)) = (a.username, a.password) {
                Credentials {
                    username: u,
                    password: p,
                }
            } else {
                continue;
            };
            auths.insert(normalize_host(&host), creds);
        }
        Ok(DockerConfig { auths })
    }

    /// Credentials for `registry` (`host[:port]`), if any.
    pub fn credentials(&self, registry: &str) -> Option<&Credentials> {
        self.auths.get(&normalize_host(registry))
    }

    /// Add or replace credentials (e.g. from flags).
    pub fn insert(&mut self, registry: &str, creds: Credentials) {
        self.auths.insert(normalize_host(registry), creds);
    }
}

/// Set (`Some`) or remove (`None`) the credentials of `registry` in the Docker config file
/// at `path`, keeping everything else in it. The file is replaced atomically and made
/// readable by its owner only (it holds passwords).
pub fn write_docker_credentials(
    path: &Path,
    registry: &str,
    creds: Option<&Credentials>,
) -> Result<(), ClientError> {
    let io = |action, source| ClientError::Io {
        action,
        path: path.display().to_string(),
        source,
    };
    let mut doc: serde_json::Value = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| ClientError::DockerConfig {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(io("read", e)),
    };
    let Some(root) = doc.as_object_mut() else {
        return Err(ClientError::DockerConfig {
            path: path.display().to_string(),
            reason: "not a JSON object".into(),
        });
    };
    let auths = root.entry("auths").or_insert_with(|| serde_json::json!({}));
    let Some(auths) = auths.as_object_mut() else {
        return Err(ClientError::DockerConfig {
            path: path.display().to_string(),
            reason: "`auths` is not an object".into(),
        });
    };
    let key = normalize_host(registry);
    match creds {
        Some(c) => {
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", c.username, c.password));
            auths.insert(key, serde_json::json!({ "auth": auth }));
        }
        None => {
            auths.remove(&key);
        }
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("create directory for", e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io("write", e))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io("protect", e))?;
    }
    let text = serde_json::to_vec_pretty(&doc).map_err(|e| ClientError::DockerConfig {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    std::io::Write::write_all(&mut tmp, &text).map_err(|e| io("write", e))?;
    tmp.persist(path).map_err(|e| io("write", e.error))?;
    Ok(())
}

/// `https://host:port/v1/` and `host:port` name the same registry in Docker configs.
fn normalize_host(s: &str) -> String {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    s.split('/').next().unwrap_or(s).to_owned()
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut s = rest;
    while let Some(eq) = s.find('=') {
        let key = s[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        s = &s[eq + 1..];
        let value;
        if let Some(stripped) = s.strip_prefix('"') {
            let end = stripped.find('"')?;
            value = stripped[..end].to_owned();
            s = &stripped[end + 1..];
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim().to_owned();
            s = &s[end..];
        }
        params.insert(key, value);
        s = s.trim_start().trim_start_matches(',');
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn reads_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://localhost:5000/v1/":{"auth":"dXNlcjpwYXNz"}}}"#,
        )
        .unwrap();
        let cfg = DockerConfig::load(&path).unwrap();
        let c = cfg.credentials("localhost:5000").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("user", "pass"));
        assert!(!format!("{c:?}").contains("pass\""));
        // writing keeps other entries and fields, and hides the file from other users
        std::fs::write(
            &path,
            r#"{"auths":{"other:1":{"auth":"eDp5"}},"credsStore":"none"}"#,
        )
        .unwrap();
        let c = Credentials {
            username: "u".into(),
            password: "p:w".into(),
        };
        write_docker_credentials(&path, "localhost:5000", Some(&c)).unwrap();
        let cfg = DockerConfig::load(&path).unwrap();
        assert_eq!(cfg.credentials("localhost:5000").unwrap().password, "p:w");
        assert!(cfg.credentials("other:1").is_some());
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(raw["credsStore"], "none");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        write_docker_credentials(&path, "localhost:5000", None).unwrap();
        assert!(
            DockerConfig::load(&path)
                .unwrap()
                .credentials("localhost:5000")
                .is_none()
        );
        std::fs::write(&path, r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap();
        assert!(DockerConfig::load(&path).is_err());
        assert!(
            DockerConfig::load(&dir.path().join("missing.json"))
                .unwrap()
                .credentials("h")
                .is_none()
        );
    }
}
