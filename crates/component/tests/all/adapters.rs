//! The built-in WASI preview1 adapters are exactly the pinned ones (adapters/preview1.toml).

use sha2::{Digest, Sha256};
use wharf_component::{ADAPTER_VERSION, AdapterKind, adapter_bytes};

fn pins() -> toml::Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../adapters/preview1.toml");
    toml::from_str(&std::fs::read_to_string(path).expect("adapters/preview1.toml"))
        .expect("valid TOML")
}

#[test]
fn adapters_match_their_pins() {
    let pins = pins();
    assert_eq!(
        pins["version"].as_str(),
        Some(ADAPTER_VERSION),
        "provider version drifted from the pin"
    );
    for kind in [
        AdapterKind::Command,
        AdapterKind::Reactor,
        AdapterKind::Proxy,
    ] {
        let bytes = adapter_bytes(kind);
        let pin = &pins["adapters"][kind.as_str()];
        assert_eq!(
            bytes.len() as i64,
            pin["size"].as_integer().unwrap(),
            "{} size",
            kind.as_str()
        );
        assert_eq!(
            hex::encode(Sha256::digest(bytes)),
            pin["sha256"].as_str().unwrap(),
            "{} sha256",
            kind.as_str()
        );
    }
}

#[test]
fn adapters_import_the_pinned_wasi_version() {
    let wasi = pins()["wasi"].as_str().unwrap().to_owned();
    for kind in [AdapterKind::Command, AdapterKind::Reactor] {
        let mut modules = std::collections::BTreeSet::new();
        for payload in wasmparser::Parser::new(0).parse_all(adapter_bytes(kind)) {
            if let Ok(wasmparser::Payload::ImportSection(s)) = payload {
                for imp in s.into_imports().flatten() {
                    modules.insert(imp.module.to_owned());
                }
            }
        }
        // the adapter mixes minor versions (e.g. 0.2.6 and 0.2.12); the runtime must provide
        // the highest one, which is what the pin records
        let versions: Vec<semver::Version> = modules
            .iter()
            .filter(|m| m.starts_with("wasi:"))
            .map(|m| semver::Version::parse(m.rsplit('@').next().unwrap()).unwrap())
            .collect();
        assert!(
            !versions.is_empty(),
            "{} imports no WASI interface",
            kind.as_str()
        );
        assert!(
            versions.iter().all(|v| v.major == 0 && v.minor == 2),
            "{}: {versions:?} leaves WASI 0.2",
            kind.as_str()
        );
        assert_eq!(
            versions.iter().max().unwrap().to_string(),
            wasi,
            "{} newest WASI import",
            kind.as_str()
        );
    }
}
