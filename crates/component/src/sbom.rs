//! Software bills of materials from cargo-auditable's `.dep-v0` section.
//!
//! `cargo auditable build` embeds the crate dependency tree, zlib-compressed JSON in the
//! `auditable-serde` `VersionInfo` format, in a custom section named `.dep-v0` of the core
//! module (for a component: of the core module inside it). `wasm-metadata` finds and
//! decompresses it; this module turns it into CycloneDX 1.5 JSON the way
//! `auditable2cdx` (rust-secure-code/cargo-auditable) does: one component per crate with a
//! `pkg:cargo` package URL, the root crate as `metadata.component`, and the edges as
//! `dependencies`.

use auditable_serde::{DependencyKind, Source, VersionInfo};
use serde_json::{Value, json};

use crate::ComponentError;

/// Media type of a CycloneDX JSON document (also the artifact type of SBOM referrers).
pub const CYCLONEDX_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// The cargo-auditable dependency tree carried by `bytes` (a core module or a component,
/// searched depth first), or `None` when there is no `.dep-v0` section.
///
/// # Errors
/// [`ComponentError`] when the binary does not parse or the section is not valid
/// compressed `VersionInfo` JSON (`wasm-metadata` rejects it).
pub fn dependency_tree(bytes: &[u8]) -> Result<Option<VersionInfo>, ComponentError> {
    let payload = wasm_metadata::Payload::from_binary(bytes)
        .map_err(|e| ComponentError::upstream("failed to read the custom sections", e))?;
    Ok(find(&payload))
}

fn find(payload: &wasm_metadata::Payload) -> Option<VersionInfo> {
    if let Some(d) = &payload.metadata().dependencies {
        return Some(d.version_info().clone());
    }
    match payload {
        wasm_metadata::Payload::Component { children, .. } => children.iter().find_map(find),
        wasm_metadata::Payload::Module(_) => None,
    }
}

/// A package URL (purl spec, `pkg:cargo` type) for a crate; crates from a registry other
/// than crates.io, git and path crates carry no repository qualifier (cargo-auditable
/// does not record which).
fn purl(p: &auditable_serde::Package) -> String {
    format!("pkg:cargo/{}@{}", p.name, p.version)
}

fn bom_ref(p: &auditable_serde::Package) -> String {
    let source = match &p.source {
        Source::CratesIo => "crates.io".to_owned(),
        Source::Git => "git".to_owned(),
        Source::Local => "local".to_owned(),
        Source::Registry => "registry".to_owned(),
        Source::Other(s) => s.clone(),
        _ => "unknown".to_owned(),
    };
    format!("{} {} ({source})", p.name, p.version)
}

fn component(p: &auditable_serde::Package, kind: &str) -> Value {
    let mut c = json!({
        "type": kind,
        "bom-ref": bom_ref(p),
        "name": p.name,
        "version": p.version.to_string(),
        "purl": purl(p),
    });
    if p.kind == DependencyKind::Build {
        // needed to build, not shipped in the binary
        c["scope"] = json!("excluded");
    }
    c
}

/// CycloneDX 1.5 JSON for a dependency tree. No timestamp and no random serial number,
/// so the same binary always gives the same document (and the same referrer digest).
/// `tool_version` names the producing wharf version in `metadata.tools`.
pub fn cyclonedx_sbom(tree: &VersionInfo, tool_version: &str) -> Value {
    let root = tree.packages.iter().position(|p| p.root);
    let components: Vec<Value> = tree
        .packages
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != root)
        .map(|(_, p)| component(p, "library"))
        .collect();
    let dependencies: Vec<Value> = tree
        .packages
        .iter()
        .map(|p| {
            let depends_on: Vec<String> = p
                .dependencies
                .iter()
                .filter_map(|&i| tree.packages.get(i).map(bom_ref))
                .collect();
            json!({ "ref": bom_ref(p), "dependsOn": depends_on })
        })
        .collect();
    let mut metadata = json!({
        "tools": { "components": [{
            "type": "application",
            "name": "wharf",
            "version": tool_version,
        }]},
    });
    if let Some(r) = root {
        metadata["component"] = component(&tree.packages[r], "application");
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": dependencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyclonedx_from_a_version_info() {
        let tree: VersionInfo = serde_json::from_str(
            r#"{"packages":[
                {"name":"app","version":"1.2.3","source":"local","dependencies":[1,2],"root":true},
                {"name":"serde","version":"1.0.200","source":"crates.io"},
                {"name":"cc","version":"1.1.0","source":"crates.io","kind":"build"}
            ]}"#,
        )
        .unwrap();
        let bom = cyclonedx_sbom(&tree, "0.1.0");
        assert_eq!(bom["bomFormat"], "CycloneDX");
        assert_eq!(bom["metadata"]["component"]["name"], "app");
        assert_eq!(bom["metadata"]["component"]["type"], "application");
        let comps = bom["components"].as_array().unwrap();
        assert_eq!(comps.len(), 2);
        assert_eq!(comps[0]["purl"], "pkg:cargo/serde@1.0.200");
        assert_eq!(comps[1]["scope"], "excluded");
        let deps = bom["dependencies"].as_array().unwrap();
        assert_eq!(
            deps[0]["dependsOn"],
            json!(["serde 1.0.200 (crates.io)", "cc 1.1.0 (crates.io)"])
        );
        assert_eq!(cyclonedx_sbom(&tree, "0.1.0"), bom, "deterministic");
    }

    #[test]
    fn no_section_is_none() {
        let module = wat::parse_str("(module)").unwrap();
        assert!(dependency_tree(&module).unwrap().is_none());
    }
}
