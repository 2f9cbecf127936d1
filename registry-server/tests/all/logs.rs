//! The registry's log as an operator reads it: one access line per request (method, path,
//! status, bytes, duration, user), plain text without colour escapes when stderr is a file,
//! JSON lines with `WHARF_REGISTRY_LOG_FORMAT=json`.

use std::process::{Command, Stdio};
use std::time::Duration;

/// The registry process, killed and reaped when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the binary with stderr into a file and `env`; returns the process, its address
/// and the log file.
fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> (Running, String, std::path::PathBuf) {
    let log = dir.join("registry.log");
    let child = Running(
        Command::new(env!("CARGO_BIN_EXE_wharf-registry"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("data"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    for _ in 0..200 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .find_map(|l| l.strip_prefix("wharf-registry listening on http://"))
        {
            return (child, addr.to_owned(), log);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the registry did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// The log once it holds `lines` access lines (or after 5 s).
fn access_lines(log: &std::path::Path, lines: usize) -> Vec<String> {
    for _ in 0..100 {
        let found: Vec<String> = std::fs::read_to_string(log)
            .unwrap()
            .lines()
            .filter(|l| l.contains("wharf_registry::access"))
            .map(str::to_owned)
            .collect();
        if found.len() >= lines {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{}", std::fs::read_to_string(log).unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_plain_line_per_request_and_json_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, log) = start(dir.path(), &[("WHARF_REGISTRY_LOG", "info")]);
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("http://{addr}/v2/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let missing = http
        .get(format!("http://{addr}/v2/demo/app/manifests/1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let lines = access_lines(&log, 2);
    drop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains('\u{1b}'),
        "colour escapes in a file: {text:?}"
    );
    let line = lines
        .iter()
        .find(|l| l.contains("/v2/demo/app/manifests/1.0.0"))
        .unwrap();
    for part in ["method=GET", "status=404", "bytes=", "ms=", "user=-"] {
        assert!(line.contains(part), "`{part}` in {line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("path=/v2/ ") && l.contains("status=200")),
        "{lines:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let (child, addr, log) = start(
        dir.path(),
        &[
            ("WHARF_REGISTRY_LOG", "info"),
            ("WHARF_REGISTRY_LOG_FORMAT", "json"),
        ],
    );
    http.get(format!("http://{addr}/v2/")).send().await.unwrap();
    let lines = access_lines(&log, 1);
    drop(child);
    let entry: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(entry["fields"]["method"], "GET", "{entry}");
    assert_eq!(entry["fields"]["status"], 200, "{entry}");
    assert_eq!(entry["fields"]["path"], "/v2/", "{entry}");
    assert_eq!(entry["target"], "wharf_registry::access");
}
