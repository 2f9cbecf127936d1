//! The README's quick start, run exactly as written after `scripts/main-job`.
//!
//! Its own test target: `main-job` builds the release binaries, and cargo runs test targets
//! one after another, so that build does not compete with the other suites for the CPU.
//! The registry listens on 127.0.0.1:5000, as the README says; the test fails with a
//! message when that port is taken (a developer's own `scripts/main-job`, for instance).
//!
//! The fenced `sh` blocks of the README's "Quick start" section run one after another in one
//! `bash -euo pipefail` in a scratch directory whose `target`, `fixtures` and `wit` are the
//! repository's (the commands name those paths relative to the repository root), with
//! HOME, the XDG directories and the Docker config in a temp dir.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The ```sh blocks between "## Quick start" and the next "## " heading.
fn quick_start_blocks(readme: &str) -> Vec<String> {
    let start = readme
        .find("\n## Quick start\n")
        .expect("README has a \"## Quick start\" section");
    let rest = &readme[start + 1..];
    let section = match rest[3..].find("\n## ") {
        Some(end) => &rest[..end + 3],
        None => rest,
    };
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(
        current.is_none(),
        "an unclosed code block in the quick start"
    );
    blocks
}

/// Every process of `main-job` (its registry too) is in one process group; kill them all.
struct Job(std::process::Child);

impl Drop for Job {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// The user's environment with HOME and the tools' configuration moved to `home`; cargo and
/// rustup keep finding their installations.
fn isolated(cmd: &mut Command, home: &Path) {
    let user_home = std::env::var_os("HOME").map(PathBuf::from).unwrap();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| user_home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| user_home.join(".rustup"));
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("HOME", home)
        .env("CARGO_HOME", &cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .env(
            "PATH",
            format!("{}:{path}", cargo_home.join("bin").display()),
        )
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .env_remove("WHARF_REGISTRY")
        .env_remove("WHARF_CONFIG")
        .env_remove("WHARF_CACHE_DIR")
        .env_remove("WHARF_PLAIN_HTTP")
        .env_remove("WHARF_REGISTRY_USERNAME")
        .env_remove("WHARF_REGISTRY_PASSWORD")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("WHARF_REGISTRY_LISTEN")
        .stdin(Stdio::null());
}

#[test]
fn readme_quick_start_passes_as_written_after_main_job() {
    let root = root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = quick_start_blocks(&readme);
    assert!(
        blocks.len() >= 3,
        "the quick start has its three blocks: {blocks:?}"
    );
    if let Err(e) = std::net::TcpListener::bind("127.0.0.1:5000") {
        panic!(
            "the quick start needs 127.0.0.1:5000 and it is taken ({e}); stop whatever serves it \
             (a scripts/main-job of your own?) and run the test again"
        );
    }
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();

    // scripts/main-job, serving: its walk-through pushes demo/hello:1.0.0 first, which the
    // quick start then pushes again at another time
    let mut cmd = Command::new(root.join("scripts/main-job"));
    isolated(&mut cmd, home.path());
    cmd.current_dir(&root)
        .env("WHARF_REGISTRY_DATA_DIR", data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0);
    let mut job = Job(cmd.spawn().expect("scripts/main-job starts"));
    let stdout = job.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut transcript = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            eprintln!("main-job: {line}");
            transcript.push_str(&line);
            transcript.push('\n');
            if line.contains("is serving on") {
                let _ = tx.send(Ok(transcript.clone()));
            }
        }
        let _ = tx.send(Err(transcript));
    });
    // a release build from scratch takes minutes on a small machine
    let transcript = match rx.recv_timeout(Duration::from_secs(40 * 60)) {
        Ok(Ok(transcript)) => transcript,
        Ok(Err(transcript)) => panic!(
            "scripts/main-job ended before serving ({:?}):\n{transcript}",
            job.0.wait()
        ),
        Err(e) => panic!("scripts/main-job did not come up: {e}"),
    };
    assert!(
        transcript.contains("pulled bytes are identical"),
        "{transcript}"
    );

    // the quick start, block by block, in a scratch directory that looks like the checkout
    let work = tempfile::tempdir().unwrap();
    for dir in ["target", "fixtures", "wit"] {
        std::os::unix::fs::symlink(root.join(dir), work.path().join(dir)).unwrap();
    }
    // one shell, as in the user's second terminal: `export PATH=…` of the first block holds
    // for the others
    let script: String = blocks
        .iter()
        .enumerate()
        .map(|(i, block)| format!("echo '>>> quick start block {}' >&2\n{block}", i + 1))
        .collect();
    let started = Instant::now();
    let mut cmd = Command::new("bash");
    isolated(&mut cmd, home.path());
    let out = cmd
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(work.path())
        .output()
        .unwrap();
    eprintln!(
        "--- quick start ({:.1} s):\n{script}--- stdout:\n{}--- stderr:\n{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the quick start failed ({}); stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // what the blocks say they do, checked from outside
    let w = work.path();
    assert_eq!(
        std::fs::read(w.join("hello.wasm")).unwrap(),
        std::fs::read(w.join("pulled.wasm")).unwrap()
    );
    assert!(w.join("bindings").read_dir().unwrap().next().is_some());
    assert!(w.join("hello.wasm").exists() && w.join("greeter-wit.wasm").exists());
    // `wkg get` names its output after the package and version
    assert_eq!(
        std::fs::read(w.join("demo_hello@1.0.0.wasm")).expect("wkg get wrote the package"),
        std::fs::read(w.join("hello.wasm")).unwrap(),
        "wkg fetched the bytes wharf pushed"
    );
}
