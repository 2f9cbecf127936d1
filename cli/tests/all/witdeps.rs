//! `wharf wit fetch`: a WIT package that imports `wharf:greeter/greet` (pushed to the test
//! registry as a WIT package, with the WASI 0.2.12 packages it uses pushed there from the
//! copies under `wit/deps`) gets its `deps/` fetched and pinned, the fetch is idempotent,
//! `--locked` fetches by the pinned digests and refuses what the lock does not pin; then
//! `bindgen --fetch` generates bindings from it, a guest is built with them, composed with
//! the greeter and run.

use std::path::Path;

use serde_json::Value;

use crate::support::{Registry, Wharf, build_guest_in, files_under, guests, root, s};

/// Push every WASI package under `wit/deps` (each built with the others as its deps) and
/// the greeter's WIT package; returns (package, manifest digest) pairs.
fn push_wit_packages(w: &Wharf, reg: &Registry, work: &Path) -> Vec<(String, String)> {
    let registry = ["--registry", reg.addr.as_str()];
    let deps = root().join("wit/deps");
    let files: Vec<_> = std::fs::read_dir(&deps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wit"))
        .collect();
    let mut pushed = Vec::new();
    for f in &files {
        let stem = f.file_stem().unwrap().to_str().unwrap();
        let dir = work.join("wasi").join(stem);
        std::fs::create_dir_all(dir.join("deps")).unwrap();
        std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
        for g in files.iter().filter(|g| *g != f) {
            std::fs::copy(g, dir.join("deps").join(g.file_name().unwrap())).unwrap();
        }
        let wasm = work.join(format!("{stem}.wasm"));
        w.ok(&["wit", "build", s(&dir), "-o", s(&wasm)]);
        let name = format!("wasi:{stem}@0.2.12");
        let digest = w.ok(&[&["push", s(&wasm), &name][..], &registry[..]].concat());
        pushed.push((name, digest.trim().to_owned()));
    }
    let greeter = work.join("greeter-wit.wasm");
    w.ok(&["wit", "build", s(&root().join("wit")), "-o", s(&greeter)]);
    let digest = w.ok(&[
        &["push", s(&greeter), "wharf:greeter@0.1.0"][..],
        &registry[..],
    ]
    .concat());
    pushed.push(("wharf:greeter@0.1.0".into(), digest.trim().to_owned()));
    pushed
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in files_under(dir) {
        files.push((
            entry.strip_prefix(dir).unwrap().display().to_string(),
            std::fs::read(&entry).unwrap(),
        ));
    }
    files.sort();
    files
}

#[test]
fn wit_dependencies_are_fetched_locked_and_build_a_guest() {
    let w = Wharf::new();
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let pushed = push_wit_packages(&w, &reg, work.path());
    let app = work.path().join("app");
    let wit = app.join("wit");
    std::fs::create_dir_all(&wit).unwrap();
    std::fs::write(
        wit.join("app.wit"),
        "package demo:consumer;\n\nworld greet-cli {\n  import wharf:greeter/greet@0.1.0;\n}\n",
    )
    .unwrap();
    let registry = ["--registry", reg.addr.as_str()];

    // nothing in deps/: the check fails, naming the package
    let r = w.run(&["wit", "check", s(&wit)]);
    assert!(!r.status.success());
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("wharf:greeter"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );

    let report: Value = serde_json::from_str(
        &w.ok(&[&["wit", "fetch", s(&wit), "--json"][..], &registry[..]].concat()),
    )
    .unwrap();
    let fetched: Vec<&str> = report["fetched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["package"].as_str().unwrap())
        .collect();
    assert_eq!(fetched[0], "wharf:greeter@0.1.0");
    // the greeter's WIT uses wasi:cli, which uses the other five: every package pushed
    let mut names: Vec<&str> = fetched.clone();
    names.sort_unstable();
    let mut expected: Vec<&str> = pushed.iter().map(|(n, _)| n.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "{report}");
    for name in &fetched {
        let file = wit
            .join("deps")
            .join(name.replace([':', '@'], "-"))
            .join("package.wit");
        assert!(file.is_file(), "{name} in deps/: {report}");
    }
    // pinned by the digests the pushes printed
    let lock_path = app.join("wharf.lock");
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(&lock_path).unwrap()).unwrap();
    let entries = lock["wit"].as_array().unwrap();
    assert_eq!(entries.len(), fetched.len(), "{lock}");
    for e in entries {
        let full = format!(
            "{}@{}",
            e["name"].as_str().unwrap(),
            e["version"].as_str().unwrap()
        );
        let digest = &pushed.iter().find(|(n, _)| *n == full).unwrap().1;
        assert_eq!(e["digest"].as_str().unwrap(), digest, "{full}");
    }
    let check = w.ok(&["wit", "check", s(&wit)]);
    assert!(check.contains("world demo:consumer/greet-cli"), "{check}");

    // again: nothing to fetch, the lock unchanged
    let lock_before = std::fs::read(&lock_path).unwrap();
    let deps_before = tree(&wit.join("deps"));
    let again: Value = serde_json::from_str(
        &w.ok(&[&["wit", "fetch", s(&wit), "--json"][..], &registry[..]].concat()),
    )
    .unwrap();
    assert_eq!(again["fetched"], serde_json::json!([]));
    assert_eq!(std::fs::read(&lock_path).unwrap(), lock_before);

    // --locked, from nothing: by the pinned digests, the same files, no registry needed
    std::fs::remove_dir_all(wit.join("deps")).unwrap();
    w.ok(&["wit", "fetch", s(&wit), "--locked"]);
    assert_eq!(tree(&wit.join("deps")), deps_before);
    assert_eq!(std::fs::read(&lock_path).unwrap(), lock_before);

    // --locked refuses a package the lock does not pin
    std::fs::remove_dir_all(wit.join("deps")).unwrap();
    let text = String::from_utf8(lock_before.clone()).unwrap();
    let without_greeter: Vec<&str> = text
        .split("\n[[wit]]")
        .filter(|e| !e.contains("\"wharf:greeter\""))
        .collect();
    std::fs::write(&lock_path, without_greeter.join("\n[[wit]]")).unwrap();
    let r = w.run(&[&["wit", "fetch", s(&wit), "--locked"][..], &registry[..]].concat());
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("does not pin wharf:greeter@0.1.0"), "{err}");
    std::fs::write(&lock_path, &lock_before).unwrap();

    // bindgen fetches first, and a guest builds from the bindings
    let bindings = work.path().join("bindings");
    w.ok(&[
        &[
            "bindgen",
            "rust",
            s(&wit),
            "--world",
            "greet-cli",
            "--out-dir",
            s(&bindings),
            "--fetch",
        ][..],
        &registry[..],
    ]
    .concat());
    assert_eq!(tree(&wit.join("deps")), deps_before);
    let guest = build_guest_in(
        &root().join("target/guests-witdeps"),
        "greet-cli",
        "wasm32-wasip2",
        "greet-cli.wasm",
        &[("WHARF_BINDINGS", &bindings)],
    );
    let composed = work.path().join("composed.wasm");
    w.ok(&[
        "compose",
        "plug",
        s(&guest),
        "--plug",
        s(&guests().greeter),
        "-o",
        s(&composed),
    ]);
    let out = w.run(&["run", s(&composed), "--", "Ada"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello, Ada!\ngreetings given: 1\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // a registry that answers a name with another package is refused
    let greeter = work.path().join("greeter-wit.wasm");
    w.ok(&[
        &["push", s(&greeter), "wharf:impostor@0.1.0"][..],
        &registry[..],
    ]
    .concat());
    let other = work.path().join("other/wit");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("app.wit"),
        "package demo:other;\n\nworld w {\n  import wharf:impostor/greet@0.1.0;\n}\n",
    )
    .unwrap();
    let r = w.run(&[&["wit", "fetch", s(&other)][..], &registry[..]].concat());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains("holds WIT package wharf:greeter@0.1.0, not wharf:impostor@0.1.0"),
        "{err}"
    );
    assert!(!other.join("deps").exists(), "nothing written");
}

/// `wharf wit fmt`: `--check` exits 1 with a diff and writes nothing; without it the files
/// are rewritten (comments kept), `deps/` left alone, and a second `--check` passes; text
/// that is not WIT is refused with its line.
#[test]
fn wit_fmt_checks_and_rewrites_in_place() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let wit = work.path().join("wit");
    std::fs::create_dir_all(wit.join("deps/x")).unwrap();
    let sloppy = "package demo:fmt@0.1.0;\n\n\n// note\ninterface i{\n    f : func(a:u32 ,b : list< u8 >)->u32; // trailing\n}\n";
    std::fs::write(wit.join("a.wit"), sloppy).unwrap();
    let dep = "package dep:x;\ninterface  j{}\n";
    std::fs::write(wit.join("deps/x/x.wit"), dep).unwrap();

    let r = w.run(&["wit", "fmt", "--check", s(&wit)]);
    assert_eq!(r.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&r.stdout);
    assert!(
        diff.contains("-interface i{") && diff.contains("+interface i {"),
        "{diff}"
    );
    assert_eq!(std::fs::read_to_string(wit.join("a.wit")).unwrap(), sloppy);

    w.ok(&["wit", "fmt", s(&wit)]);
    assert_eq!(
        std::fs::read_to_string(wit.join("a.wit")).unwrap(),
        "package demo:fmt@0.1.0;\n\n// note\ninterface i {\n  f: func(a:u32, b: list<u8>) -> u32; // trailing\n}\n"
    );
    assert_eq!(
        std::fs::read_to_string(wit.join("deps/x/x.wit")).unwrap(),
        dep
    );
    let r = w.run(&["wit", "fmt", "--check", s(&wit)]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );

    std::fs::write(
        wit.join("bad.wit"),
        "package a:b;\ninterface i {\n  f: func(); $\n}\n",
    )
    .unwrap();
    let r = w.run(&["wit", "fmt", s(&wit)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains("bad.wit") && err.contains("unexpected character `$` on line 3"),
        "{err}"
    );
}
