//! The one test harness of the registry tests: a registry served in-process on a free
//! loopback port ([`TestApp`]), the real binary as a child process ([`RegistryProcess`]),
//! fresh PostgreSQL databases, and the small helpers every test needs (digests, manifests,
//! htpasswd files, spec error codes).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use wharf_registry::{AppState, Config};

/// A registry served in-process: its address, data directory, state and an HTTP client.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Holds the data directory (and whatever else a test puts there).
    pub dir: tempfile::TempDir,
    /// The state the router serves.
    pub state: Arc<AppState>,
    /// A client without credentials.
    pub http: reqwest::Client,
}

impl TestApp {
    /// The default registry (SQLite and a blob directory in a fresh temporary directory).
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// The default registry with `configure` applied to its configuration first; the data
    /// directory is the temporary directory itself.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        configure(&mut config);
        Self::start_in(dir, config).await
    }

    /// A registry configured by a configuration file's text (as `--config` reads it), with
    /// its data under `<dir>/data` and no background GC.
    pub async fn from_toml(dir: tempfile::TempDir, toml_text: &str) -> Self {
        let file: wharf_registry::config::FileConfig = toml::from_str(toml_text).unwrap();
        let mut config = Config::resolve(file, Default::default());
        config.data_dir = dir.path().join("data");
        config.gc_interval = Duration::ZERO;
        Self::start_in(dir, config).await
    }

    /// Open the default state of `config` and serve it; `dir` is kept alive with it.
    pub async fn start_in(dir: tempfile::TempDir, config: Config) -> Self {
        let state = wharf_registry::open(config).await.unwrap();
        Self::serve_state(dir, state).await
    }

    /// Serve a state the test assembled itself (another blob store, say).
    pub async fn serve_state(dir: tempfile::TempDir, state: Arc<AppState>) -> Self {
        TestApp {
            base: serve(state.clone()).await,
            dir,
            state,
            http: reqwest::Client::new(),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Push `bytes` as a blob of `repo` in one request and expect 201; returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let d = digest(bytes);
        assert_eq!(
            self.try_push_blob(repo, bytes).await,
            StatusCode::CREATED,
            "pushing blob {d} to {repo}"
        );
        d
    }

    /// Push `bytes` as a blob of `repo` in one request; returns the status.
    pub async fn try_push_blob(&self, repo: &str, bytes: &[u8]) -> StatusCode {
        self.http
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", digest(bytes))))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
            .status()
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with `body` as `media_type`.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> reqwest::Response {
        self.http
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }
}

/// Serve `state` on a free loopback port; returns `http://127.0.0.1:<port>`.
pub async fn serve(state: Arc<AppState>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(wharf_registry::serve(
        listener,
        state,
        std::future::pending(),
    ));
    base
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The spec error code of an error answer (`errors[0].code`), or "" when there is none.
pub async fn error_code(resp: reqwest::Response) -> String {
    let v: serde_json::Value = resp.json().await.unwrap_or_default();
    v["errors"][0]["code"].as_str().unwrap_or("").to_owned()
}

/// An htpasswd file's text for `users` (bcrypt, cost 4: fast enough for tests).
pub fn htpasswd(users: &[(&str, &str)]) -> String {
    users
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap()))
        .collect()
}

/// The real `wharf-registry` binary as a child process, killed (SIGKILL) when dropped so
/// no test leaves one behind.
pub struct RegistryProcess {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
}

impl RegistryProcess {
    /// Start the binary on a free port with `--data-dir data_dir` and `args`; returns once
    /// it says where it listens.
    pub fn start(data_dir: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wharf-registry"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("WHARF_REGISTRY_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("registry exited before listening")
                .unwrap();
            if let Some(a) = line.strip_prefix("wharf-registry listening on http://") {
                break a.to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        RegistryProcess { child, addr }
    }

    /// SIGKILL it and wait for it to end.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The PostgreSQL server of `WHARF_TEST_POSTGRES_URL`, or `None` outside CI when it is not
/// set (the caller says what it skipped). Under CI (`CI` set) a missing URL is a failure:
/// `.ci/run` starts PostgreSQL.
pub fn postgres_url() -> Option<String> {
    match std::env::var("WHARF_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set WHARF_TEST_POSTGRES_URL (.ci/run starts PostgreSQL)"
            );
            None
        }
    }
}

/// A fresh database on the server of `url`; returns its URL.
pub async fn fresh_database(url: &str) -> String {
    use sqlx::Connection as _;
    let name = format!("wharf_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// Every file below `dir`, recursively (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
