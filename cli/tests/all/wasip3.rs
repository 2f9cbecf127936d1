//! WASI 0.3: the hello-p3 fixture (built from source with the wasip3 crate; an async
//! `wasi:cli/run@0.3.0` writing through a `stream<u8>`) is inspected as a 0.3 command, runs
//! from a file and by reference (its error return is exit code 1), and `policy check` sees
//! its 0.3 imports. WASI 0.2 commands keep running beside it (the other suites).

use serde_json::Value;

use crate::support::{Registry, Wharf, hello_p3, s};

#[test]
fn a_wasi_0_3_command_is_inspected_run_and_checked() {
    let w = Wharf::new();
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let guest = hello_p3();

    let inspected: Value = serde_json::from_str(&w.ok(&["inspect", s(guest), "--json"])).unwrap();
    assert_eq!(inspected["kind"], "component");
    assert_eq!(inspected["target"], "wasi:cli/command@0.3.0", "{inspected}");
    let imports: Vec<&str> = inspected["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(imports.contains(&"wasi:cli/stdout@0.3.0"), "{imports:?}");
    assert_eq!(
        inspected["exports"],
        serde_json::json!(["wasi:cli/run@0.3.0"])
    );

    let out = w.run(&["run", s(guest), "--", "Ada"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from WASI 0.3, Ada!\n"
    );
    let failed = w.run(&["run", s(guest), "--", "--fail"]);
    assert_eq!(failed.status.code(), Some(1));

    let reference = format!("{}/demo/hello-p3:0.1.0", reg.addr);
    w.ok(&["push", s(guest), &reference]);
    let out = w.run(&["run", &reference, "--", "Grace"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from WASI 0.3, Grace!\n"
    );

    let policy = work.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[imports]\ndeny = [\"wasi:cli/stdout@0.3.*\"]\n[exports]\nrequire = [\"wasi:cli/run@0.3.*\"]\n[world]\ntarget = \"wasi:cli/command@0.3.*\"\n",
    )
    .unwrap();
    let out = w.run(&["policy", "check", s(guest), "--policy", s(&policy)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("violation [imports-denied]: import `wasi:cli/stdout@0.3.0` is denied"),
        "{text}"
    );
    assert!(
        !text.contains("exports-required") && !text.contains("target-world"),
        "the 0.3 export and world pass: {text}"
    );
    assert!(text.contains("FAIL (3 rules checked)"), "{text}");
}
