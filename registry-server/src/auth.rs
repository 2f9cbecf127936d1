//! Authentication and authorisation: users from an htpasswd file (bcrypt), permissions
//! (pull, push, delete) per repository prefix for users and for anonymous clients, and
//! bearer tokens (HS256 JWTs) for the Docker/OCI token flow
//! (<https://distribution.github.io/distribution/spec/auth/token/>).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::store::Visibility;

/// What a client may do to a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Read manifests, blobs, tags, referrers.
    Pull,
    /// Upload blobs and manifests.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
}

impl Action {
    /// `pull`, `push` or `delete`, as in token scopes.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        match s {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" | "*" => Some(Action::Delete),
            _ => None,
        }
    }
}

/// One rule of the `[auth]` configuration: for repositories under `prefix`, what anonymous
/// clients and which users may do. The longest matching prefix decides; `*` as a user name
/// means any authenticated user.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Rule {
    /// Repository prefix (`""` for all, `team/` or `team` for `team/...`).
    #[serde(default)]
    pub prefix: String,
    /// Actions allowed without credentials.
    #[serde(default)]
    pub anonymous: Vec<Action>,
    /// Actions per user name (`*`: any authenticated user).
    #[serde(default)]
    pub users: BTreeMap<String, Vec<Action>>,
}

/// The `[auth]` section of the registry config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthConfig {
    /// htpasswd file with bcrypt hashes (`htpasswd -B`).
    pub htpasswd: PathBuf,
    /// Secret for signing tokens; several processes serving one registry must share it.
    /// When absent, a random one per process (tokens then end with the process).
    /// Redacted in `Debug`.
    pub token_secret: Option<secrecy::SecretString>,
    /// Token lifetime in seconds (default 300).
    pub token_ttl_secs: Option<u64>,
    /// The token endpoint clients are sent to; default `http://<Host>/token`.
    pub realm: Option<String>,
    /// The `service` named in challenges and tokens (default `wharf-registry`).
    pub service: Option<String>,
    /// Permission rules.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Failed password checks one client address may make per window before its
    /// further attempts are refused with 429 (default 10; 0 turns the limit off).
    pub max_failed_logins: Option<u32>,
    /// The window of `max-failed-logins`, in seconds (default 60).
    pub failed_login_window_secs: Option<u64>,
}

/// Access granted by a token to one repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name.
    pub name: String,
    /// Granted actions.
    pub actions: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    access: Vec<Access>,
}

/// A verified token.
#[derive(Debug, PartialEq, Eq)]
pub struct Token {
    /// The user it was issued to (empty for anonymous).
    pub subject: String,
    /// What it grants.
    pub access: Vec<Access>,
}

/// Failed password checks per client address, in fixed windows.
struct Failures {
    max: u32,
    window: Duration,
    seen: std::sync::Mutex<HashMap<std::net::IpAddr, (u32, std::time::Instant)>>,
}

/// Loaded users, rules and token key.
pub struct Auth {
    users: HashMap<String, String>,
    /// A bcrypt hash of a random password at the cost of the file's hashes: unknown users
    /// are checked against it, so the time of an answer does not tell who exists.
    dummy_hash: String,
    failures: Failures,
    rules: Vec<Rule>,
    key: Vec<u8>,
    ttl: Duration,
    /// The token endpoint, if configured.
    pub realm: Option<String>,
    /// The service name.
    pub service: String,
}

/// How long a web UI session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn parse_htpasswd(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read htpasswd file `{}`", path.display()))?;
    let mut users = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            bail!("{}:{}: expected `user:bcrypt-hash`", path.display(), n + 1);
        };
        if !(hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$")) {
            bail!(
                "{}:{}: user `{user}` has no bcrypt hash (create it with `htpasswd -B`)",
                path.display(),
                n + 1
            );
        }
        users.insert(user.to_owned(), hash.to_owned());
    }
    Ok(users)
}

/// What one rule grants `user` (`None`: anonymous): its anonymous actions, plus those of
/// the user's name and of `*` for an authenticated user.
fn actions(rule: &Rule, user: Option<&str>) -> BTreeSet<Action> {
    let mut out: BTreeSet<Action> = rule.anonymous.iter().copied().collect();
    if let Some(user) = user {
        for key in [user, "*"] {
            out.extend(rule.users.get(key).into_iter().flatten().copied());
        }
    }
    out
}

fn matches(prefix: &str, repo: &str) -> bool {
    wharf_oci::under_prefix(prefix, repo)
}

impl Auth {
    /// Load the htpasswd file and rules of `config`.
    pub fn load(config: &AuthConfig) -> anyhow::Result<Auth> {
        let users = parse_htpasswd(&config.htpasswd)?;
        use secrecy::ExposeSecret as _;
        let key = match config.token_secret.as_ref().map(|s| s.expose_secret()) {
            Some(s) if s.len() >= 16 => s.as_bytes().to_vec(),
            Some(_) => bail!("auth.token-secret must be at least 16 characters"),
            None => uuid::Uuid::new_v4()
                .as_bytes()
                .iter()
                .chain(uuid::Uuid::new_v4().as_bytes())
                .copied()
                .collect(),
        };
        // the highest cost in the file (`$2y$NN$…`), so an unknown user costs as much as
        // the most expensive known one
        let cost = users
            .values()
            .filter_map(|h| h.get(4..6)?.parse::<u32>().ok())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST)
            .clamp(4, 31);
        let dummy_hash = bcrypt::hash(uuid::Uuid::new_v4().to_string(), cost)
            .context("failed to compute the dummy password hash")?;
        Ok(Auth {
            users,
            dummy_hash,
            failures: Failures {
                max: config.max_failed_logins.unwrap_or(10),
                window: Duration::from_secs(config.failed_login_window_secs.unwrap_or(60).max(1)),
                seen: Default::default(),
            },
            rules: config.rules.clone(),
            key,
            ttl: Duration::from_secs(config.token_ttl_secs.unwrap_or(300)),
            realm: config.realm.clone(),
            service: config
                .service
                .clone()
                .unwrap_or_else(|| "wharf-registry".to_owned()),
        })
    }

    /// Check a password against the htpasswd entry (bcrypt: deliberately slow, call it off
    /// the async threads). Unknown users and wrong passwords are both `false`.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        match self.users.get(user) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                // same work as for a known user, then no
                let _ = bcrypt::verify(password, &self.dummy_hash);
                false
            }
        }
    }

    /// True when `user` is in the htpasswd file (a token's subject must still be).
    pub fn has_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// `Err(seconds to wait)` when `client` has used up its failed password checks for
    /// the current window; checked before a password is, so guessing costs the guesser.
    pub fn login_allowed(&self, client: std::net::IpAddr) -> Result<(), u64> {
        let f = &self.failures;
        if f.max == 0 {
            return Ok(());
        }
        let Ok(seen) = f.seen.lock() else {
            return Ok(());
        };
        match seen.get(&client) {
            Some((n, since)) if *n >= f.max && since.elapsed() < f.window => {
                Err((f.window - since.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Count a failed password check by `client`.
    pub fn login_failed(&self, client: std::net::IpAddr) {
        let f = &self.failures;
        let Ok(mut seen) = f.seen.lock() else {
            return;
        };
        if seen.len() > 100_000 {
            seen.retain(|_, (_, since)| since.elapsed() < f.window);
        }
        let entry = seen.entry(client).or_insert((0, std::time::Instant::now()));
        if entry.1.elapsed() >= f.window {
            *entry = (0, std::time::Instant::now());
        }
        entry.0 += 1;
    }

    /// What `user` (`None`: anonymous) may do to `repo`, by the longest matching rule (of
    /// equal prefixes, the last configured).
    pub fn permitted(&self, user: Option<&str>, repo: &str) -> BTreeSet<Action> {
        match self
            .rules
            .iter()
            .filter(|r| matches(&r.prefix, repo))
            .max_by_key(|r| r.prefix.trim_end_matches('/').len())
        {
            Some(rule) => actions(rule, user),
            None => BTreeSet::new(),
        }
    }

    /// The repositories `user` may pull, as one [`Visibility`] for listings: each rule's
    /// prefix with whether that rule lets `user` pull, decided like [`Auth::permitted`].
    pub fn pull_visibility(&self, user: Option<&str>) -> Visibility {
        Visibility::by_prefix(
            self.rules
                .iter()
                .map(|r| (r.prefix.clone(), actions(r, user).contains(&Action::Pull))),
        )
    }

    /// A token for `user` granting, for each requested `repository:<name>:<actions>` scope,
    /// the actions both asked for and permitted.
    pub fn issue(&self, user: Option<&str>, scopes: &[String]) -> anyhow::Result<(String, u64)> {
        let mut access = Vec::new();
        for scope in scopes {
            let mut parts = scope.rsplitn(2, ':');
            let (Some(actions), Some(rest)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Some(name) = rest.strip_prefix("repository:") else {
                continue;
            };
            let permitted = self.permitted(user, name);
            let granted: Vec<String> = actions
                .split(',')
                .filter_map(Action::parse)
                .filter(|a| permitted.contains(a))
                .map(|a| a.as_str().to_owned())
                .collect();
            access.push(Access {
                kind: "repository".into(),
                name: name.to_owned(),
                actions: granted,
            });
        }
        let iat = now_secs();
        let claims = Claims {
            iss: self.service.clone(),
            sub: user.unwrap_or("").to_owned(),
            aud: self.service.clone(),
            exp: iat + self.ttl.as_secs(),
            iat,
            access,
        };
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
        let signing_input = format!("{header}.{payload}");
        Ok((
            format!(
                "{signing_input}.{}",
                URL_SAFE_NO_PAD.encode(self.sign(signing_input.as_bytes()))
            ),
            self.ttl.as_secs(),
        ))
    }

    /// A web UI session for `user` (the `wharf_session` cookie): an HS256 token like
    /// [`Auth::issue`]'s, for the audience `<service>/ui-session`, so it is never taken as a
    /// bearer token by [`Auth::verify`] (nor a bearer token as a session), valid for
    /// [`SESSION_TTL`].
    ///
    /// # Errors
    /// Only when the claims cannot be encoded.
    pub fn issue_session(&self, user: &str) -> anyhow::Result<String> {
        let iat = now_secs();
        let claims = Claims {
            iss: self.service.clone(),
            sub: user.to_owned(),
            aud: format!("{}/ui-session", self.service),
            exp: iat + SESSION_TTL.as_secs(),
            iat,
            access: Vec::new(),
        };
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
        let signing_input = format!("{header}.{payload}");
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(self.sign(signing_input.as_bytes()))
        ))
    }

    /// The user of a valid, unexpired UI session who is still in the htpasswd file.
    pub fn verify_session(&self, session: &str) -> Option<String> {
        let claims = self.verified_claims(session)?;
        (claims.aud == format!("{}/ui-session", self.service)
            && claims.exp > now_secs()
            && !claims.sub.is_empty()
            && self.has_user(&claims.sub))
        .then_some(claims.sub)
    }

    /// The claims of a token whose signature checks out (audience and expiry unchecked).
    fn verified_claims(&self, token: &str) -> Option<Claims> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let (_, payload) = signing_input.split_once('.')?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// Verify a token's signature, audience and expiry.
    pub fn verify(&self, token: &str) -> Option<Token> {
        let claims = self.verified_claims(token)?;
        (claims.aud == self.service && claims.exp > now_secs()).then_some(Token {
            subject: claims.sub,
            access: claims.access,
        })
    }
}

/// HMAC accepts keys of any length; this is never reached.
fn unreachable_hmac() -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(b"wharf").expect("HMAC takes any key length")
}

impl Token {
    /// True when the token grants `action` on `repo`.
    pub fn allows(&self, repo: &str, action: Action) -> bool {
        self.access.iter().any(|a| {
            a.kind == "repository"
                && a.name == repo
                && a.actions.iter().any(|x| x == action.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(dir: &Path) -> Auth {
        let path = dir.join("htpasswd");
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(&path, format!("# users\nalice:{hash}\n")).unwrap();
        let config: AuthConfig = toml::from_str(&format!(
            r#"htpasswd = {path:?}
               token-secret = "0123456789abcdef0123"
               [[rules]]
               prefix = ""
               anonymous = ["pull"]
               [[rules]]
               prefix = "team/"
               users = {{ alice = ["pull", "push", "delete"] }}
               [[rules]]
               prefix = "team/secret"
               users = {{ "*" = ["pull"] }}"#
        ))
        .unwrap();
        Auth::load(&config).unwrap()
    }

    #[test]
    fn passwords_rules_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let a = auth(dir.path());
        assert!(a.check_password("alice", "s3cret"));
        assert!(!a.check_password("alice", "wrong"));
        assert!(!a.check_password("bob", "s3cret"));
        assert_eq!(
            a.permitted(None, "public/app"),
            BTreeSet::from([Action::Pull])
        );
        assert_eq!(
            a.permitted(None, "team/app"),
            BTreeSet::new(),
            "the longer prefix replaces the root rule"
        );
        assert_eq!(a.permitted(Some("alice"), "team/app").len(), 3);
        assert_eq!(
            a.permitted(Some("alice"), "team/secret/x"),
            BTreeSet::from([Action::Pull])
        );
        assert_eq!(
            a.permitted(Some("alice"), "teamwork"),
            BTreeSet::from([Action::Pull]),
            "prefixes match whole path parts: `teamwork` falls under the root rule"
        );
        let (token, ttl) = a
            .issue(
                Some("alice"),
                &[
                    "repository:team/app:pull,push,delete".into(),
                    "repository:team/secret/x:push".into(),
                ],
            )
            .unwrap();
        assert_eq!(ttl, 300);
        let t = a.verify(&token).unwrap();
        assert_eq!(t.subject, "alice");
        assert!(t.allows("team/app", Action::Push) && t.allows("team/app", Action::Delete));
        assert!(
            !t.allows("team/secret/x", Action::Push),
            "only permitted actions are granted"
        );
        assert!(!t.allows("other", Action::Pull));
        let mut forged = token.clone();
        forged.insert(forged.len() - 3, 'A');
        assert!(a.verify(&forged).is_none());
        assert!(a.verify("not.a.token").is_none());
    }

    proptest::proptest! {
        /// The visibility a listing filters by says of every name what `permitted` says:
        /// any rules (overlapping, repeated, with or without a trailing `/`), any user.
        #[test]
        fn listings_see_what_pulls_are_permitted(
            rules in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["", "a", "a/", "a/b", "a/b/", "ab", "a_b", "b/c", "a/bc"]),
                    proptest::bool::ANY,
                    proptest::sample::select(vec![None, Some("alice"), Some("*")]),
                ),
                0..6,
            ),
            names in proptest::collection::vec(
                proptest::sample::select(vec!["a", "a/b", "a/b/c", "ab", "a_b", "a/bc", "b/c", "b", "abc/d"]),
                1..8,
            ),
            user in proptest::sample::select(vec![None, Some("alice"), Some("bob")]),
        ) {
            let mut a = auth(tempfile::tempdir().unwrap().path());
            a.rules = rules
                .into_iter()
                .map(|(prefix, anonymous, grantee)| Rule {
                    prefix: prefix.into(),
                    anonymous: if anonymous { vec![Action::Pull] } else { Vec::new() },
                    users: grantee
                        .map(|g| BTreeMap::from([(g.to_owned(), vec![Action::Pull])]))
                        .unwrap_or_default(),
                })
                .collect();
            let visible = a.pull_visibility(user);
            for name in names {
                proptest::prop_assert_eq!(
                    visible.allows(name),
                    a.permitted(user, name).contains(&Action::Pull),
                    "{} under {:?}", name, a.rules
                );
            }
        }
    }

    #[test]
    fn htpasswd_without_bcrypt_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n").unwrap();
        let err = Auth::load(&AuthConfig {
            htpasswd: path,
            ..Default::default()
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("htpasswd -B"), "{err}");
    }
}
