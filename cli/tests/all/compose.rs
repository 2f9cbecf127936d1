//! `wharf compose`: a command component importing `wharf:greeter/greet` (the greet-cli
//! fixture) plugged with the greeter library exporting it, both from the registry (by
//! reference and by package name) and from files, by plug and by a wasm-compose document;
//! the composition runs. Parts that cannot compose are refused by name.

use serde_json::Value;

use crate::support::{Registry, Wharf, greet_cli, guests, hello_component, s};

#[test]
fn compose_plugs_registry_packages_and_the_result_runs() {
    let w = Wharf::new();
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let registry = ["--registry", reg.addr.as_str()];
    let with_registry = |args: &[&str]| w.ok(&[args, &registry[..]].concat());
    with_registry(&["push", s(&guests().greeter), "wharf:greeter@0.1.0"]);
    let socket = format!("{}/demo/greet-cli:1.0.0", reg.addr);
    w.ok(&["push", s(greet_cli()), &socket]);

    // alone, the socket cannot run: nothing provides greet
    let alone = w.run(&["run", s(greet_cli()), "--", "Ada"]);
    assert!(!alone.status.success());
    let err = String::from_utf8_lossy(&alone.stderr);
    assert!(
        err.contains("imports `wharf:greeter/greet@0.1.0`") && err.contains("wharf compose plug"),
        "{err}"
    );

    let composed = work.path().join("composed.wasm");
    let report: Value = serde_json::from_str(&with_registry(&[
        "compose",
        "plug",
        &socket,
        "--plug",
        "wharf:greeter@0.1.0",
        "-o",
        s(&composed),
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["plugged"][0]["import"], "wharf:greeter/greet@0.1.0");
    assert_eq!(report["plugged"][0]["plug"], "wharf:greeter@0.1.0");
    let imports: Vec<&str> = report["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        !imports.iter().any(|i| i.starts_with("wharf:greeter")),
        "the plugged import is gone: {report}"
    );
    assert!(imports.iter().all(|i| i.starts_with("wasi:")), "{report}");
    assert!(
        report["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("wasi:cli/run@")),
        "{report}"
    );
    // the composition is valid and what inspect sees matches the report
    let inspected: Value =
        serde_json::from_str(&w.ok(&["inspect", s(&composed), "--json"])).unwrap();
    assert_eq!(inspected["imports"], report["imports"]);
    assert_eq!(inspected["wasm_digest"], report["digest"]);

    let out = w
        .cmd()
        .args([
            "run",
            s(&composed),
            "--env",
            "SALUTATION=Hi",
            "--",
            "Ada",
            "Grace",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hi, Ada!\nHi, Grace!\ngreetings given: 2\n"
    );

    // the same from a wasm-compose document naming the package, and from files
    let doc = work.path().join("compose.yml");
    std::fs::write(
        &doc,
        "dependencies:\n  wharf:greeter/greet@0.1.0:\n    path: wharf:greeter@0.1.0\n",
    )
    .unwrap();
    let by_doc = work.path().join("by-doc.wasm");
    with_registry(&["compose", "config", s(&doc), &socket, "-o", s(&by_doc)]);
    let out = w.run(&["run", s(&by_doc), "--", "Ada"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello, Ada!\ngreetings given: 1\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_files = work.path().join("from-files.wasm");
    w.ok(&[
        "compose",
        "plug",
        s(greet_cli()),
        "--plug",
        s(&guests().greeter),
        "-o",
        s(&from_files),
    ]);
    assert_eq!(
        std::fs::read(&from_files).unwrap().len(),
        std::fs::read(&composed).unwrap().len(),
        "the same parts compose alike wherever they came from"
    );
}

#[test]
fn parts_that_cannot_compose_are_refused_by_name() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let out = work.path().join("out.wasm");

    // a plug that exports nothing the socket imports
    let r = w.run(&[
        "compose",
        "plug",
        s(greet_cli()),
        "--plug",
        s(&hello),
        "-o",
        s(&out),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains(s(&hello))
            && err.contains("exports nothing")
            && err.contains("wharf:greeter/greet@0.1.0"),
        "{err}"
    );
    // a core module is no part
    let r = w.run(&[
        "compose",
        "plug",
        s(&guests().hello_core),
        "--plug",
        s(&guests().greeter),
        "-o",
        s(&out),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(err.contains("not a component"), "{err}");
    // a document naming what is neither a file nor a package
    let doc = work.path().join("compose.yml");
    std::fs::write(
        &doc,
        "dependencies:\n  wharf:greeter/greet@0.1.0:\n    path: missing.wasm\n",
    )
    .unwrap();
    let r = w.run(&["compose", "config", s(&doc), s(greet_cli()), "-o", s(&out)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(err.contains("missing.wasm"), "{err}");
    assert!(!out.exists(), "nothing written");
}

/// A package `wharf.lock` pins is composed by its pinned digest, even after its tag moved
/// to a component that would not fit; without the lock, the moved tag is what arrives.
#[test]
fn compose_takes_packages_as_wharf_lock_pins_them() {
    let w = Wharf::new();
    // versions under wharf/ may move here, so a tag can change under the lock file
    let reg = Registry::start_with("mutable-version-prefixes = [\"wharf/\"]\n");
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let registry = ["--registry", reg.addr.as_str()];
    w.ok(&[
        &["push", s(&guests().greeter), "wharf:greeter@0.1.0"][..],
        &registry[..],
    ]
    .concat());
    std::fs::write(
        project.join("wharf.toml"),
        "[dependencies]\n\"wharf:greeter\" = \"^0.1\"\n",
    )
    .unwrap();
    w.ok(&[&["lock", "--manifest-path", s(&project)][..], &registry[..]].concat());
    // the tag moves to a command component, which exports nothing greet-cli imports
    let hello = hello_component(&w, work.path());
    w.ok(&[
        &["push", s(&hello), "wharf:greeter@0.1.0"][..],
        &registry[..],
    ]
    .concat());

    let compose = |dir: &std::path::Path| {
        w.cmd()
            .current_dir(dir)
            .args(
                [
                    &[
                        "compose",
                        "plug",
                        s(greet_cli()),
                        "--plug",
                        "wharf:greeter@0.1.0",
                        "-o",
                        "out.wasm",
                    ][..],
                    &registry[..],
                ]
                .concat(),
            )
            .output()
            .unwrap()
    };
    let pinned = compose(&project);
    assert!(
        pinned.status.success(),
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );
    let out = w.run(&["run", s(&project.join("out.wasm")), "--", "Ada"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello, Ada!\ngreetings given: 1\n"
    );

    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let moved = compose(&elsewhere);
    assert!(!moved.status.success());
    assert!(
        String::from_utf8_lossy(&moved.stderr).contains("exports nothing"),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
}
