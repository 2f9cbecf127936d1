//! The main job, end to end on the real guests: WIT → bindings → build → componentize →
//! push → pull → run → inspect.

use serde_json::Value;

use crate::support::{Registry, Wharf, build_guest, file_digest, root, s};

#[test]
fn wit_bindgen_build_componentize_push_pull_run_inspect() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let wit = root().join("wit");

    // WIT: check, then generate the Rust bindings the library guest includes
    let check = w.ok(&["wit", "check", s(&wit)]);
    assert!(check.contains("package wharf:greeter@0.1.0"), "{check}");
    assert!(
        check.contains("world wharf:greeter/greeter@0.1.0"),
        "{check}"
    );
    assert!(check.contains("dependency wasi:cli@0.2.12"), "{check}");
    let bindings = work.path().join("bindings");
    let written = w.ok(&[
        "bindgen",
        "rust",
        s(&wit),
        "--world",
        "greeter",
        "--out-dir",
        s(&bindings),
    ]);
    assert!(written.trim().ends_with("greeter.rs"), "{written}");

    // build both guests with cargo
    let greeter = build_guest(
        "greeter",
        "wasm32-wasip2",
        "greeter.wasm",
        &[("WHARF_BINDINGS", &bindings)],
    );
    let hello_core = build_guest("hello-cli", "wasm32-wasip1", "hello-cli.wasm", &[]);

    // componentize the wasip1 command with the built-in adapter
    let hello = work.path().join("hello.component.wasm");
    let out = w
        .cmd()
        .args(["componentize", s(&hello_core), "-o", s(&hello)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("command adapter"));

    // push, pull (byte-identical), run from the registry
    let reg = Registry::start();
    let reference = format!("{}/demo/hello:1.0.0", reg.addr);
    let digest = w.ok(&["push", s(&hello), &reference]);
    assert!(
        digest.trim().starts_with("sha256:") && digest.trim().len() == 71,
        "{digest}"
    );
    let pulled = work.path().join("pulled.wasm");
    w.ok(&["pull", &reference, "-o", s(&pulled)]);
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&hello).unwrap()
    );

    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("input.txt"), "some text\n").unwrap();
    let dir_arg = format!("{}::/data", s(&data));
    let run = w
        .cmd()
        .args([
            "run",
            &reference,
            "--dir",
            &dir_arg,
            "--env",
            "GREETING=hi",
            "--",
            "--read",
            "/data/input.txt",
            "Ada",
        ])
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8(run.stdout).unwrap(),
        "/data/input.txt: some text\nhello, Ada!\nGREETING=hi\n"
    );
    // the layer went through the content-addressed cache
    let layer_hex = file_digest(&hello).trim_start_matches("sha256:").to_owned();
    assert!(
        w.home
            .path()
            .join("cache/wharf/blobs/sha256")
            .join(&layer_hex)
            .is_file(),
        "layer cached by digest"
    );
    // a failing guest fails the command (the preview1 adapter reports every non-zero exit as 1)
    let failing = w
        .cmd()
        .args(["run", s(&hello), "--", "--exit", "3"])
        .output()
        .unwrap();
    assert_eq!(failing.status.code(), Some(1));
    let missing_file = w
        .cmd()
        .args([
            "run",
            s(&hello),
            "--dir",
            &dir_arg,
            "--",
            "--read",
            "/data/nope",
        ])
        .output()
        .unwrap();
    assert_eq!(missing_file.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing_file.stderr).contains("cannot read /data/nope"));

    // inspect the pushed package: manifest, config and the component's world
    let report: Value = serde_json::from_str(&w.ok(&["inspect", &reference, "--json"])).unwrap();
    assert_eq!(report["manifest_digest"], digest.trim());
    assert_eq!(report["kind"], "component");
    assert_eq!(
        report["exports"],
        serde_json::json!(["wasi:cli/run@0.2.12"])
    );
    let imports: Vec<&str> = report["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    for expected in [
        "wasi:cli/environment@0.2.12",
        "wasi:filesystem/preopens@0.2.12",
        "wasi:cli/stdout@0.2.12",
    ] {
        assert!(imports.contains(&expected), "{expected} in {imports:?}");
    }
    assert_eq!(report["target"], "wasi:cli/command@0.2.12");
    let manifest = &report["manifest"];
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/wasm");
    assert_eq!(layer["digest"], file_digest(&hello).as_str());
    assert_eq!(
        layer["annotations"]["org.opencontainers.image.title"],
        "hello.component.wasm"
    );
    assert!(manifest["annotations"]["org.opencontainers.image.created"].is_string());
    let config = &report["config"];
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(
        config["layerDigests"],
        serde_json::json!([file_digest(&hello)])
    );
    assert_eq!(config["component"]["exports"], report["exports"]);
    assert_eq!(config["component"]["target"], "wasi:cli/command@0.2.12");

    // the library component, pushed by package name through the discovery document
    let registry_flag = ["--registry", reg.addr.as_str()];
    let greeter_digest = w.ok(&[
        &["push", s(&greeter), "wharf:greeter@0.1.0"][..],
        &registry_flag[..],
    ]
    .concat());
    let report: Value = serde_json::from_str(
        &w.ok(&[
            &["inspect", "wharf:greeter@0.1.0", "--json"][..],
            &registry_flag[..],
        ]
        .concat()),
    )
    .unwrap();
    assert_eq!(report["manifest_digest"], greeter_digest.trim());
    assert_eq!(
        report["exports"],
        serde_json::json!(["wharf:greeter/greet@0.1.0"])
    );
    assert!(
        report["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "wasi:cli/environment@0.2.12")
    );
    assert_eq!(
        report["reference"]
            .as_str()
            .unwrap()
            .split('@')
            .next()
            .unwrap(),
        format!("{}/wharf/greeter:0.1.0", reg.addr)
    );
    // a reproducible push (SOURCE_DATE_EPOCH) sends no blob twice and gives the same digest
    let push_at_epoch = || {
        w.cmd()
            .args(
                [
                    &["push", s(&greeter), "wharf:greeter@0.1.1"][..],
                    &registry_flag[..],
                ]
                .concat(),
            )
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap()
    };
    let (first, again) = (push_at_epoch(), push_at_epoch());
    assert_eq!(
        first.stdout, again.stdout,
        "same file, same time: same manifest digest"
    );
    assert!(
        String::from_utf8_lossy(&first.stderr).contains("(1 new blobs)"),
        "only the config is new: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds this component"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // the same file at another time (no SOURCE_DATE_EPOCH: another `created`) is the same
    // artifact: the version already holds it, so the push succeeds with its digest (the
    // README quick start after `scripts/main-job`, or a push retried after a lost answer)
    let later = w
        .cmd()
        .args(
            [
                &["push", s(&greeter), "wharf:greeter@0.1.1"][..],
                &registry_flag[..],
            ]
            .concat(),
        )
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(
        later.status.success(),
        "{}",
        String::from_utf8_lossy(&later.stderr)
    );
    assert_eq!(later.stdout, first.stdout, "the existing manifest's digest");
    assert!(
        String::from_utf8_lossy(&later.stderr).contains("nothing pushed"),
        "{}",
        String::from_utf8_lossy(&later.stderr)
    );
    // other annotations are other content: an immutable version refuses it
    let other = w
        .cmd()
        .args(
            [
                &[
                    "push",
                    s(&greeter),
                    "wharf:greeter@0.1.1",
                    "--annotation",
                    "a=b",
                ][..],
                &registry_flag[..],
            ]
            .concat(),
        )
        .output()
        .unwrap();
    assert!(!other.status.success());
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );

    // a binary WIT package is a package too
    let wit_pkg = work.path().join("greeter-wit.wasm");
    w.ok(&["wit", "build", s(&wit), "-o", s(&wit_pkg)]);
    w.ok(&[
        "push",
        s(&wit_pkg),
        &format!("{}/wharf/greeter-wit:0.1.0", reg.addr),
    ]);
    let report: Value = serde_json::from_str(&w.ok(&[
        "inspect",
        &format!("{}/wharf/greeter-wit:0.1.0", reg.addr),
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["kind"], "wit-package");
    assert_eq!(report["package"], "wharf:greeter@0.1.0");
    assert_eq!(report["config"]["os"], "wasip2");
    let printed = w.ok(&["wit", "print", s(&wit_pkg)]);
    assert!(
        printed.contains("package wharf:greeter@0.1.0") && printed.contains("interface greet"),
        "{printed}"
    );
    // and the WIT a component was built against
    let printed = w.ok(&["wit", "print", s(&greeter)]);
    assert!(
        printed.contains("export wharf:greeter/greet@0.1.0;"),
        "{printed}"
    );
}

#[test]
fn library_core_module_componentizes_with_its_wit() {
    // the greeter as a wasip1 core module: bindings embed the world, the reactor adapter is picked
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let bindings = work.path().join("b");
    let wit = root().join("wit");
    w.ok(&[
        "bindgen",
        "rust",
        s(&wit),
        "--world",
        "greeter",
        "--out-dir",
        s(&bindings),
    ]);
    let core = build_guest(
        "greeter",
        "wasm32-wasip1",
        "greeter.wasm",
        &[("WHARF_BINDINGS", &bindings)],
    );
    let info: Value = serde_json::from_str(&w.ok(&["inspect", s(&core), "--json"])).unwrap();
    assert_eq!(info["kind"], "core-module");
    assert_eq!(info["target"], "wharf:greeter/greeter@0.1.0");
    let out = work.path().join("greeter.component.wasm");
    let res = w
        .cmd()
        .args(["componentize", s(&core), "-o", s(&out)])
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(String::from_utf8_lossy(&res.stderr).contains("reactor adapter"));
    let info: Value = serde_json::from_str(&w.ok(&["inspect", s(&out), "--json"])).unwrap();
    assert_eq!(
        info["exports"],
        serde_json::json!(["wharf:greeter/greet@0.1.0"])
    );
    assert_eq!(info["target"], "wharf:greeter/greeter@0.1.0");
    let err = w.fails(&["run", s(&out)]);
    assert!(
        err.contains("wasi:cli/run"),
        "running a library says what is missing: {err}"
    );
}

/// `wharf man` writes a page per visible command that groff renders without a warning, with
/// the examples of `--help` kept line for line; without `--out-dir`, `wharf.1` on stdout.
#[test]
fn manual_pages_render_cleanly_with_their_examples() {
    let groff = crate::support::require_tool("groff");
    let w = Wharf::new();
    let dir = tempfile::tempdir().unwrap();
    w.ok(&["man", "--out-dir", s(dir.path())]);
    let pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in [
        "wharf.1",
        "wharf-push.1",
        "wharf-copy.1",
        "wharf-wit-check.1",
        "wharf-key-generate.1",
    ] {
        assert!(pages.iter().any(|p| p == name), "{name} in {pages:?}");
    }
    for page in &pages {
        let out = std::process::Command::new(&groff)
            .args(["-k", "-man", "-Tutf8", "-ww", "-P-cbou"])
            .arg(dir.path().join(page))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("NAME") && text.contains("SYNOPSIS"),
            "{page}: {text}"
        );
    }
    let copy = std::process::Command::new(&groff)
        .args(["-k", "-man", "-Tutf8", "-P-cbou"])
        .arg(dir.path().join("wharf-copy.1"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&copy.stdout);
    assert!(
        text.contains(
            "       wharf copy localhost:5000/demo/app:1.0.0 registry.example.com/demo/app\n"
        ),
        "an example line as written: {text}"
    );
    assert!(text.contains("--no-referrers"), "{text}");
    let top = w.ok(&["man"]);
    assert!(
        top.starts_with(".ie") && top.contains(".TH wharf 1"),
        "{top}"
    );
}

/// `--json` on `run` (a report on stderr once the guest is done; stdout stays the guest's),
/// `sbom` (where the document came from, with it) and `inspect` (`wasm_digest` is the
/// bytes' digest, `manifest_digest` the package's); a failing `run --json` is one JSON error.
#[test]
fn json_reports_of_run_sbom_and_inspect_name_their_digests() {
    let w = Wharf::new();
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let hello = crate::support::hello_component(&w, work.path());
    let reference = format!("{}/demo/hello:1.0.0", reg.addr);
    let digest = w.ok(&["push", s(&hello), &reference]).trim().to_owned();

    let out = w
        .cmd()
        .args(["run", &reference, "--json", "--", "Ada"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello, Ada!"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(report["wasm_digest"], file_digest(&hello).as_str());
    assert_eq!(report["exit_code"], 0);
    assert!(
        report["reference"].as_str().unwrap().contains(&digest),
        "{report}"
    );

    let err = w
        .cmd()
        .args(["run", &format!("{}/demo/nothing:1", reg.addr), "--json"])
        .output()
        .unwrap();
    assert_eq!(err.status.code(), Some(1));
    let e: Value = serde_json::from_slice(&err.stderr)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&err.stderr)));
    assert_eq!(e["error"]["code"], "not-found", "{e}");

    let inspected: Value = serde_json::from_str(&w.ok(&["inspect", &reference, "--json"])).unwrap();
    assert_eq!(inspected["manifest_digest"], digest.as_str());
    assert_eq!(inspected["wasm_digest"], file_digest(&hello).as_str());
    assert!(
        inspected.get("digest").is_none(),
        "no field named digest to confuse: {inspected}"
    );

    let greeter = &crate::support::guests().greeter;
    let g = format!("{}/demo/greeter:0.1.0", reg.addr);
    w.ok(&["push", s(greeter), &g, "--sbom", "auto"]);
    let sbom: Value = serde_json::from_str(&w.ok(&["sbom", &g, "--json"])).unwrap();
    assert_eq!(sbom["source"], "referrer");
    assert!(sbom["sbom_digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(sbom["document"]["bomFormat"], "CycloneDX");
    let from_file: Value = serde_json::from_str(&w.ok(&["sbom", s(greeter), "--json"])).unwrap();
    assert_eq!(from_file["source"], "section");
    assert!(from_file["sbom_digest"].is_null());
}
