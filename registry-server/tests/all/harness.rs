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

    /// The data directory the registry runs on.
    pub fn data_dir(&self) -> &Path {
        &self.state.config.data_dir
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
            .post(self.url(&format!(
                "/v2/{repo}/blobs/uploads/?digest={}",
                digest(bytes)
            )))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
            .status()
    }

    /// The body of `GET path`.
    pub async fn get_bytes(&self, path: &str) -> bytes::Bytes {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    }

    /// `GET path` answered as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// An image manifest with the config `{}` and one layer of `layer`, pushed with its
    /// blobs under `reference` (expecting 201): its digest and bytes.
    pub async fn put_image(
        &self,
        repo: &str,
        reference: &str,
        layer: &[u8],
    ) -> (wharf_oci::Digest, Vec<u8>) {
        let cd = self.push_blob(repo, b"{}").await;
        let ld = self.push_blob(repo, layer).await;
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": wharf_oci::media_types::OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2 },
            "layers": [{ "mediaType": "application/octet-stream", "digest": ld, "size": layer.len() }],
        });
        let bytes = serde_json::to_vec(&m).unwrap();
        let r = self
            .put_manifest(
                repo,
                reference,
                wharf_oci::media_types::OCI_MANIFEST,
                &bytes,
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "PUT {repo}:{reference}");
        (wharf_oci::Digest::sha256_of(&bytes), bytes)
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
        Self::start_with_env(data_dir, args, &[])
    }

    /// [`start`](Self::start) with environment variables (`AWS_*`, say).
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wharf-registry"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
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

/// A real S3 server for the tests: `s3s-fs` (crates.io, `.ci/run` installs it) on a free
/// loopback port over a temporary directory, checking SigV4 signatures with a test key.
/// Killed when dropped.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Where it keeps buckets (one directory each).
    pub root: tempfile::TempDir,
}

impl S3Server {
    /// The access key id it accepts.
    pub const ACCESS_KEY: &'static str = "wharf-test-access-key";
    /// The secret key it accepts.
    pub const SECRET_KEY: &'static str = "wharf-test-secret-key";

    /// Start `s3s-fs`; a missing binary fails the test with a message naming it.
    pub fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        let mut child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--access-key", Self::ACCESS_KEY, "--secret-key", Self::SECRET_KEY])
            .arg(root.path())
            .env("RUST_LOG", "s3s_fs=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `s3s-fs` ({e}): install it with \
                     `cargo install --locked s3s-fs --version 0.14.1 --features binary` (.ci/run does)"
                )
            });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let endpoint = loop {
            let line = lines
                .next()
                .expect("s3s-fs exited before listening")
                .unwrap();
            if let Some((_, addr)) = line.split_once("server is running at ") {
                break addr.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        S3Server {
            child,
            endpoint,
            root,
        }
    }

    /// Create bucket `name`; returns `s3://name`.
    pub fn bucket(&self, name: &str) -> String {
        std::fs::create_dir_all(self.root.path().join(name)).unwrap();
        format!("s3://{name}")
    }

    /// The `[s3]` table of a registry configuration that uses this server.
    pub fn toml(&self) -> String {
        format!(
            "[s3]\nendpoint = {:?}\nregion = \"us-east-1\"\naccess-key-id = {:?}\n\
             secret-access-key = {:?}\nallow-http = true\n",
            self.endpoint,
            Self::ACCESS_KEY,
            Self::SECRET_KEY
        )
    }

    /// The same settings as a value.
    pub fn settings(&self) -> wharf_registry::storage::s3::S3Settings {
        toml::from_str::<toml::Table>(&self.toml()).unwrap()["s3"]
            .clone()
            .try_into()
            .unwrap()
    }

    /// The AWS environment variables a registry process needs to use this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", Self::ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", Self::SECRET_KEY.into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Every object file under bucket `name` (s3s-fs keeps one file per object, plus its
    /// own bookkeeping files, which this leaves out).
    pub fn objects(&self, name: &str) -> Vec<String> {
        let root = self.root.path().join(name);
        let mut out: Vec<String> = files_under(&root)
            .into_iter()
            .filter_map(|p| {
                let rel = p.strip_prefix(&root).ok()?.to_string_lossy().into_owned();
                (!rel.contains(".s3s") && !rel.starts_with('.')).then_some(rel)
            })
            .collect();
        out.sort();
        out
    }
}

impl S3Server {
    /// How many multipart uploads are open (s3s-fs keeps a `.upload-<id>.json` per one).
    pub fn open_multiparts(&self) -> usize {
        std::fs::read_dir(self.root.path())
            .unwrap()
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(".upload-") && name.ends_with(".json")
            })
            .count()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
