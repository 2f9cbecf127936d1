//! Shared helpers: the registry, the `wharf` binary in an isolated home, the guests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A `wharf-registry` served in-process on a free loopback port with a fresh data dir.
pub struct Registry {
    /// `127.0.0.1:<port>`
    pub addr: String,
    /// The data directory.
    pub dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with("")
    }

    /// A registry configured by `toml` (the config file's format), its data in `dir`.
    pub fn start_with(toml: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let file: wharf_registry::config::FileConfig = toml::from_str(toml).unwrap();
        let mut config = wharf_registry::Config::resolve(file, Default::default());
        config.data_dir = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let state = wharf_registry::open(config).await.unwrap();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap().to_string()).unwrap();
                wharf_registry::serve(listener, state, std::future::pending())
                    .await
                    .unwrap();
            });
        });
        let addr = rx.recv().expect("registry started");
        Registry { addr, dir }
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the real `wharf` binary with HOME, config, cache and Docker config in a temp dir.
pub struct Wharf {
    pub home: tempfile::TempDir,
}

impl Wharf {
    pub fn new() -> Wharf {
        Wharf {
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wharf"));
        c.stdin(std::process::Stdio::null());
        let h = self.home.path();
        c.env("HOME", h)
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env("XDG_CACHE_HOME", h.join("cache"))
            .env("XDG_STATE_HOME", h.join("state"))
            .env("DOCKER_CONFIG", h.join("docker"))
            .env_remove("WHARF_REGISTRY")
            .env_remove("WHARF_CONFIG")
            .env_remove("WHARF_CACHE_DIR")
            .env_remove("WHARF_PLAIN_HTTP")
            .env_remove("WHARF_KEY_PASSPHRASE")
            .env_remove("WHARF_REGISTRY_USERNAME")
            .env_remove("WHARF_REGISTRY_PASSWORD");
        c
    }

    /// Run with `args` and `SOURCE_DATE_EPOCH` fixed (a reproducible push: the same file
    /// gives the same manifest digest); require success and return stdout, trimmed.
    pub fn ok_at_epoch(&self, args: &[&str]) -> String {
        let out = self
            .cmd()
            .args(args)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .expect("run wharf");
        assert!(
            out.status.success(),
            "wharf {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Run `script` with `bash -euo pipefail` in `dir`, in this isolated home, with this
    /// `wharf` first on PATH: a command as a user pastes it.
    pub fn shell(&self, script: &str, dir: &Path) -> Output {
        let cmd = self.cmd();
        let bin = Path::new(env!("CARGO_BIN_EXE_wharf")).parent().unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        let mut sh = Command::new("bash");
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        sh.env("PATH", format!("{}:{path}", bin.display()))
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run bash")
    }

    /// Run with `args`; returns the output (not checked).
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run wharf")
    }

    /// Run with `args` and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "wharf {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run with `args`, require exit code 1 and an `error:` line; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "wharf {args:?} should fail with 1:\n{stderr}"
        );
        assert!(
            stderr.starts_with("error: "),
            "errors start with `error: `: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "no panic: {stderr}");
        stderr
    }
}

/// Build fixture guest `name` with cargo for `target`; returns the `artifact` it writes.
///
/// The greeter is built with `cargo auditable build`, so it carries a real cargo-auditable
/// `.dep-v0` section (its dependency tree: wit-bindgen and what that pulls in); hello-cli
/// is built plainly, so the tests have a binary without one.
///
/// Builds are serialized (several cargo processes probing a fresh target directory at once
/// failed once in CI), get no stdin, and do not inherit the outer cargo's jobserver.
pub fn build_guest(name: &str, target: &str, artifact: &str, env: &[(&str, &Path)]) -> PathBuf {
    build_guest_in(&root().join("target/guests"), name, target, artifact, env)
}

/// [`build_guest`] into another cargo target directory (a variant that must not replace
/// the shared build's artifact).
pub fn build_guest_in(
    target_dir: &Path,
    name: &str,
    target: &str,
    artifact: &str,
    env: &[(&str, &Path)],
) -> PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = target_dir.to_path_buf();
    let mut c = Command::new(cargo);
    if name == "greeter" {
        require_tool("cargo-auditable");
        c.arg("auditable");
    }
    c.args([
        "build",
        "--release",
        "--locked",
        "--target",
        target,
        "--manifest-path",
    ])
    .arg(root().join(format!("fixtures/guests/{name}/Cargo.toml")))
    .env("CARGO_TARGET_DIR", &target_dir)
    .env_remove("CARGO_MAKEFLAGS")
    .env_remove("MAKEFLAGS")
    .env_remove("MFLAGS")
    .env_remove("RUSTFLAGS")
    .env_remove("CARGO_ENCODED_RUSTFLAGS")
    .stdin(std::process::Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run cargo");
    if !out.status.success() {
        let inherited: Vec<String> = std::env::vars()
            .filter(|(k, _)| {
                k.starts_with("CARGO") || k.starts_with("RUST") || k.contains("MAKEFLAGS")
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        panic!(
            "building guest {name} failed:\n{}\n(test environment: {})",
            String::from_utf8_lossy(&out.stderr),
            inherited.join(" ")
        );
    }
    target_dir.join(target).join("release").join(artifact)
}

/// The guests, built once per test run: the wasip1 command's core module, and the
/// greeter library component (bindings from `wharf bindgen rust`).
pub struct Guests {
    pub hello_core: PathBuf,
    pub greeter: PathBuf,
    _bindings: tempfile::TempDir,
}

pub fn guests() -> &'static Guests {
    static GUESTS: OnceLock<Guests> = OnceLock::new();
    GUESTS.get_or_init(|| {
        let bindings = tempfile::tempdir().unwrap();
        let wit = root().join("wit");
        Wharf::new().ok(&[
            "bindgen",
            "rust",
            wit.to_str().unwrap(),
            "--world",
            "greeter",
            "--out-dir",
            bindings.path().to_str().unwrap(),
        ]);
        let greeter = build_guest(
            "greeter",
            "wasm32-wasip2",
            "greeter.wasm",
            &[("WHARF_BINDINGS", bindings.path())],
        );
        let hello_core = build_guest("hello-cli", "wasm32-wasip1", "hello-cli.wasm", &[]);
        Guests {
            hello_core,
            greeter,
            _bindings: bindings,
        }
    })
}

/// The `greet-cli` fixture (`fixtures/guests/greet-cli`): a wasm32-wasip2 command that
/// imports `wharf:greeter/greet` (bindings from `wharf bindgen rust wit --world greet-cli`),
/// built once per test run.
pub fn greet_cli() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let bindings = tempfile::tempdir().unwrap();
        Wharf::new().ok(&[
            "bindgen",
            "rust",
            root().join("wit").to_str().unwrap(),
            "--world",
            "greet-cli",
            "--out-dir",
            bindings.path().to_str().unwrap(),
        ]);
        build_guest(
            "greet-cli",
            "wasm32-wasip2",
            "greet-cli.wasm",
            &[("WHARF_BINDINGS", bindings.path())],
        )
    })
}

/// The WASI 0.3 command fixture (`fixtures/guests/hello-p3`, the wasip3 crate), built once
/// per test run.
pub fn hello_p3() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_guest("hello-p3", "wasm32-wasip2", "hello_p3.wasm", &[]))
}

/// The WASI 0.3 `wasi:http/handler` fixture (`fixtures/guests/hello-http-p3`), built once
/// per test run.
pub fn hello_http_p3() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_guest("hello-http-p3", "wasm32-wasip2", "hello_http_p3.wasm", &[]))
}

/// The `wasi:http/proxy` fixture (`fixtures/guests/hello-http`, a wasm32-wasip2 component),
/// built once per test run.
pub fn hello_http() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_guest("hello-http", "wasm32-wasip2", "hello_http.wasm", &[]))
}

/// The hello-cli guest componentized into `dir`.
pub fn hello_component(w: &Wharf, dir: &Path) -> PathBuf {
    let out = dir.join("hello.component.wasm");
    w.ok(&[
        "componentize",
        guests().hello_core.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    out
}

/// `sha256:<hex>` of a file.
pub fn file_digest(path: &Path) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
    )
}

/// GET `url` accepting OCI manifests and indexes; the body of a success.
pub fn get_bytes(url: &str) -> Vec<u8> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .get(url)
            .header(
                "accept",
                "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
            )
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
        resp.bytes().await.unwrap().to_vec()
    })
}

/// [`get_bytes`], parsed as JSON.
pub fn get_json(url: &str) -> serde_json::Value {
    serde_json::from_slice(&get_bytes(url)).unwrap()
}

/// Push `bytes` as a blob of `repo` at `registry` (`host:port`) in one request.
pub fn push_blob(registry: &str, repo: &str, bytes: &[u8]) {
    use sha2::Digest as _;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!(
                "http://{registry}/v2/{repo}/blobs/uploads/?digest={digest}"
            ))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "blob {digest}");
    })
}

/// PUT an OCI image manifest at `url`; panics unless it is created.
pub fn put_manifest(url: &str, body: &[u8]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .put(url)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "PUT {url}");
    })
}

/// Assert that `openssl dgst -sha256 -verify` accepts the DER signature in `signature`
/// over the bytes in `message` with the public key in `public` (an independent check).
pub fn assert_openssl_verifies(public: &Path, signature: &Path, message: &Path) {
    let out = Command::new(require_tool("openssl"))
        .args(["dgst", "-sha256", "-verify", s(public), "-signature"])
        .arg(signature)
        .arg(message)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Verified OK",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file below `dir`, recursively (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Require a tool that `.ci/run` installs.
pub fn require_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{name}` is not installed; .ci/run installs it (see README.md, Testing)")
    })
}

/// An htpasswd file in `dir` with `user` and `password` (bcrypt, by Apache's `htpasswd`).
pub fn htpasswd_file(dir: &Path, user: &str, password: &str) -> PathBuf {
    let users = dir.join("htpasswd");
    let out = Command::new(require_tool("htpasswd"))
        .args(["-Bbc", s(&users), user, password])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    users
}

/// The reference registry (CNCF Distribution, Debian's `docker-registry`) on a free
/// loopback port, storing under `dir`; `extra` is appended to its YAML config. Killed on drop.
pub struct DockerRegistry {
    pub addr: String,
    child: std::process::Child,
}

impl DockerRegistry {
    pub fn start(dir: &Path, extra: &str) -> DockerRegistry {
        let binary = require_tool("docker-registry");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("docker-registry.yml");
        let storage = dir.join("docker-registry-storage");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{extra}",
                s(&storage)
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return DockerRegistry { addr, child };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        panic!("docker-registry at {addr} did not come up");
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
