//! wharf-component's integration tests, in one binary so they link once.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod adapters;
mod componentize;
mod witfmt;

/// The `Cargo.toml` of dependency `name` in the workspace's dependency graph (`cargo
/// metadata`): where its sources (and the WIT it ships) are.
pub fn crate_manifest(name: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
            "--manifest-path",
        ])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap_or_else(|| panic!("{name} in the dependency graph"))
        .to_owned()
}
