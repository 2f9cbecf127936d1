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
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Deserialize, Default)]
struct RawAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// Credentials as Docker finds them: given explicitly ([`DockerConfig::insert`]: flags,
/// CI variables), else from the credential helper `config.json` names for the registry
/// (`credHelpers`, else `credsStore`; the `docker-credential-<name>` program on PATH, run
/// as Docker runs it), else from its `auths` entries.
#[derive(Debug, Default, Clone)]
pub struct DockerConfig {
    auths: HashMap<String, Credentials>,
    given: HashMap<String, Credentials>,
    creds_store: Option<String>,
    cred_helpers: HashMap<String, String>,
    /// What helpers answered, per registry: each is run at most once per process.
    asked: std::sync::Arc<std::sync::Mutex<HashMap<String, Option<Credentials>>>>,
}

/// How long a credential helper may take to answer.
const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The most a credential helper may print.
const MAX_HELPER_OUTPUT: u64 = 64 * 1024;

/// The helper `name` names, when it is a program name (Docker runs `docker-credential-`
/// followed by it; a name with a path separator is refused rather than run from elsewhere).
fn helper_program(name: &str) -> Result<String, String> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(format!(
            "credential helper name `{name}` is not a program name"
        ));
    }
    Ok(format!("docker-credential-{name}"))
}

/// Run `docker-credential-<helper> <action>` with `input` on stdin (the credential helper
/// protocol, docker/docker-credential-helpers): its stdout, `Ok(None)` when it exits
/// non-zero saying the credentials are not found, `Err` with the reason otherwise. Bounded
/// to [`HELPER_TIMEOUT`] and [`MAX_HELPER_OUTPUT`].
fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<Option<Vec<u8>>, String> {
    use std::io::{Read as _, Write as _};
    let program = helper_program(helper)?;
    let mut child = std::process::Command::new(&program)
        .arg(action)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // a helper that does not read its input gets a broken pipe, not a hang
        let _ = stdin.write_all(input);
    }
    let mut stdout = child.stdout.take().map(|o| o.take(MAX_HELPER_OUTPUT));
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_end(&mut out);
        }
        out
    });
    let deadline = std::time::Instant::now() + HELPER_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{program} {action}` did not answer within {} s",
                    HELPER_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("`{program} {action}` failed: {e}")),
        }
    };
    let out = reader.join().unwrap_or_default();
    if status.success() {
        return Ok(Some(out));
    }
    let said = String::from_utf8_lossy(&out).trim().to_owned();
    if said.contains("credentials not found") {
        return Ok(None);
    }
    Err(format!("`{program} {action}` failed ({status}): {said}"))
}

/// What `docker-credential-* get` prints.
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
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
        let cred_helpers = raw
            .cred_helpers
            .into_iter()
            .map(|(host, helper)| (normalize_host(&host), helper))
            .collect();
        Ok(DockerConfig {
            auths,
            given: HashMap::new(),
            creds_store: raw.creds_store.filter(|s| !s.is_empty()),
            cred_helpers,
            asked: Default::default(),
        })
    }

    /// The credential helper for `registry`: its `credHelpers` entry, else `credsStore`.
    fn helper_for(&self, registry: &str) -> Option<&str> {
        self.cred_helpers
            .get(&normalize_host(registry))
            .or(self.creds_store.as_ref())
            .map(String::as_str)
    }

    /// Credentials for `registry` (`host[:port]`), if any: those given, else the
    /// credential helper's (run once per registry), else the `auths` entry.
    ///
    /// # Errors
    /// [`ClientError::CredentialHelper`] when the helper cannot be run, fails (other than
    /// "credentials not found"), times out or answers something that is not its JSON.
    pub fn credentials(&self, registry: &str) -> Result<Option<Credentials>, ClientError> {
        let host = normalize_host(registry);
        if let Some(c) = self.given.get(&host) {
            return Ok(Some(c.clone()));
        }
        if let Some(helper) = self.helper_for(&host) {
            if let Some(answer) = self.asked.lock().ok().and_then(|m| m.get(&host).cloned()) {
                return Ok(answer.or_else(|| self.auths.get(&host).cloned()));
            }
            let failed = |reason: String| ClientError::CredentialHelper {
                helper: helper.to_owned(),
                registry: host.clone(),
                reason,
            };
            let answer = match run_helper(helper, "get", host.as_bytes()).map_err(failed)? {
                None => None,
                Some(out) => {
                    let a: HelperAnswer = serde_json::from_slice(&out)
                        .map_err(|e| failed(format!("its answer is not credentials JSON: {e}")))?;
                    Some(Credentials {
                        username: a.username,
                        password: a.secret,
                    })
                }
            };
            if let Ok(mut m) = self.asked.lock() {
                m.insert(host.clone(), answer.clone());
            }
            return Ok(answer.or_else(|| self.auths.get(&host).cloned()));
        }
        Ok(self.auths.get(&host).cloned())
    }

    /// Add or replace credentials (flags, CI variables): they win over helpers and files.
    pub fn insert(&mut self, registry: &str, creds: Credentials) {
        self.given.insert(normalize_host(registry), creds);
    }
}

/// Set (`Some`) or remove (`None`) the credentials of `registry` in the Docker config file
/// at `path`, keeping everything else in it. Where the file names a credential helper for
/// the registry (`credHelpers`, else `credsStore`), the secret goes to the helper (`store`,
/// `erase`) and the file keeps an empty `auths` entry, as `docker login` does. The file is replaced atomically and made
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
    let key = normalize_host(registry);
    // the helper Docker would store them with: `credHelpers`, else `credsStore`
    let helper = root
        .get("credHelpers")
        .and_then(|h| h.as_object())
        .and_then(|h| {
            h.iter()
                .find(|(host, _)| normalize_host(host) == key)
                .and_then(|(_, v)| v.as_str())
        })
        .or_else(|| root.get("credsStore").and_then(|s| s.as_str()))
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let auths = root.entry("auths").or_insert_with(|| serde_json::json!({}));
    let Some(auths) = auths.as_object_mut() else {
        return Err(ClientError::DockerConfig {
            path: path.display().to_string(),
            reason: "`auths` is not an object".into(),
        });
    };
    let failed = |helper: &str, reason: String| ClientError::CredentialHelper {
        helper: helper.to_owned(),
        registry: key.clone(),
        reason,
    };
    match (creds, &helper) {
        (Some(c), Some(helper)) => {
            let input = serde_json::json!({
                "ServerURL": key, "Username": c.username, "Secret": c.password,
            });
            run_helper(helper, "store", input.to_string().as_bytes())
                .map_err(|e| failed(helper, e))?;
            // Docker keeps an empty entry, so the registry is listed as logged in
            auths.insert(key.clone(), serde_json::json!({}));
        }
        (Some(c), None) => {
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", c.username, c.password));
            auths.insert(key.clone(), serde_json::json!({ "auth": auth }));
        }
        (None, helper) => {
            if let Some(helper) = helper {
                run_helper(helper, "erase", key.as_bytes()).map_err(|e| failed(helper, e))?;
            }
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
        let c = cfg.credentials("localhost:5000").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("user", "pass"));
        assert!(!format!("{c:?}").contains("pass\""));
        // writing keeps other entries and fields, and hides the file from other users
        std::fs::write(
            &path,
            r#"{"auths":{"other:1":{"auth":"eDp5"}},"psFormat":"table"}"#,
        )
        .unwrap();
        let c = Credentials {
            username: "u".into(),
            password: "p:w".into(),
        };
        write_docker_credentials(&path, "localhost:5000", Some(&c)).unwrap();
        let cfg = DockerConfig::load(&path).unwrap();
        assert_eq!(
            cfg.credentials("localhost:5000").unwrap().unwrap().password,
            "p:w"
        );
        assert!(cfg.credentials("other:1").unwrap().is_some());
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(raw["psFormat"], "table");
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
                .unwrap()
                .is_none()
        );
        std::fs::write(&path, r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap();
        assert!(DockerConfig::load(&path).is_err());
        assert!(
            DockerConfig::load(&dir.path().join("missing.json"))
                .unwrap()
                .credentials("h")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn given_credentials_win_and_helper_names_are_program_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        // a helper that would fail if run: given credentials are used without running it
        std::fs::write(&path, r#"{"credsStore":"no-such-helper-here"}"#).unwrap();
        let mut cfg = DockerConfig::load(&path).unwrap();
        let err = cfg.credentials("h:1").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-no-such-helper-here"),
            "{err}"
        );
        cfg.insert(
            "h:1",
            Credentials {
                username: "ci".into(),
                password: "x".into(),
            },
        );
        assert_eq!(cfg.credentials("h:1").unwrap().unwrap().username, "ci");
        for bad in ["../evil", "/bin/sh", "", ".hidden"] {
            assert!(helper_program(bad).is_err(), "{bad}");
        }
        assert_eq!(helper_program("pass").unwrap(), "docker-credential-pass");
    }
}
