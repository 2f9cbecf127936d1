//! Warm starts: `wharf run` loads the compilation cached under the wasm's digest (a file
//! unchanged since is not even read; a package's layer is not fetched again), and never
//! runs stale code: a file rewritten in place (same size, modification time put back), a
//! tag moved to other content, or a damaged cache file each lead to a fresh compilation.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Registry, Wharf, guests, hello_component, s};

/// `wharf run <target> --json -- Ada`: (stdout, whether it compiled).
fn run(w: &Wharf, target: &str) -> (String, bool) {
    let out = w
        .cmd()
        .args(["run", target, "--json", "--", "Ada"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "wharf run {target}: {stderr}");
    let report: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        report["compiled"].as_bool().unwrap(),
    )
}

fn compiled_files(w: &Wharf) -> Vec<PathBuf> {
    let dir = w.home.path().join("cache/wharf/compiled");
    std::fs::read_dir(&dir)
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

/// The hello component with its greeting `hello, ` turned into `HELLO, `: same size,
/// still valid, and a guest whose output tells which bytes ran.
fn shouting(hello: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(hello).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"hello, ")
        .expect("the greeting is in the data segment");
    bytes[at..at + 5].copy_from_slice(b"HELLO");
    bytes
}

#[test]
fn a_warm_run_loads_the_compilation_and_never_runs_stale_code() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let app = work.path().join("app.wasm");
    std::fs::copy(&hello, &app).unwrap();

    assert_eq!(run(&w, s(&app)), ("hello, Ada!\n".into(), true));
    let cached = compiled_files(&w);
    assert_eq!(cached.len(), 1, "{cached:?}");
    let name = cached[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let digest = crate::support::file_digest(&app);
    assert!(
        name.starts_with(&digest.replace(':', "-")),
        "named by the wasm's digest: {name}"
    );
    assert_eq!(run(&w, s(&app)), ("hello, Ada!\n".into(), false));

    // rewritten in place: same size, modification time set back
    let mtime = std::fs::metadata(&app).unwrap().modified().unwrap();
    std::fs::write(&app, shouting(&hello)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&app)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(run(&w, s(&app)), ("HELLO, Ada!\n".into(), true));
    assert_eq!(run(&w, s(&app)), ("HELLO, Ada!\n".into(), false));

    // a core module in the file: componentized, compiled, cached under the module's digest
    std::fs::copy(&guests().hello_core, &app).unwrap();
    assert_eq!(run(&w, s(&app)), ("hello, Ada!\n".into(), true));
    assert_eq!(run(&w, s(&app)), ("hello, Ada!\n".into(), false));

    // a library component now: refused, whatever ran from that path before
    std::fs::copy(&guests().greeter, &app).unwrap();
    let out = w.run(&["run", s(&app)]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wasi:cli/run"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // damaged cache files are compiled again, not loaded
    for f in compiled_files(&w) {
        let len = std::fs::metadata(&f).unwrap().len();
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
    }
    assert_eq!(run(&w, s(&hello)), ("hello, Ada!\n".into(), true));
    assert_eq!(run(&w, s(&hello)), ("hello, Ada!\n".into(), false));
}

#[test]
fn a_warm_run_of_a_reference_fetches_no_layer_and_follows_a_moved_tag() {
    let w = Wharf::new();
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    // a tag that may move (versions are immutable)
    let reference = format!("{}/demo/hello:edge", reg.addr);
    w.ok(&["push", s(&hello), &reference]);
    // a second home, so the push's componentize left nothing cached
    let w = Wharf::new();
    assert_eq!(run(&w, &reference), ("hello, Ada!\n".into(), true));

    // without the blob cache, the layer would have to be fetched: it is not needed
    let cache = w.home.path().join("cache/wharf");
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "compiled" {
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
    assert_eq!(run(&w, &reference), ("hello, Ada!\n".into(), false));

    // the tag moves to other content: that content runs
    let loud = work.path().join("loud.wasm");
    std::fs::write(&loud, shouting(&hello)).unwrap();
    w.ok(&["push", s(&loud), &reference]);
    assert_eq!(run(&w, &reference), ("HELLO, Ada!\n".into(), true));
}
