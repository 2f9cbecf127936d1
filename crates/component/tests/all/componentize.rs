//! componentize, inspect, WIT and bindgen on real inputs written as WAT and WIT sources.

use std::path::{Path, PathBuf};

use wharf_component::{
    AdapterChoice, AdapterKind, ComponentError, ComponentizeOptions, Language, WasmKind,
    adapter_bytes, build_wit_package, componentize, generate_bindings, generate_rust_bindings_into,
    inspect, load_wit, print_wit,
};

/// A library module with the component ABI's export names for world `lib`.
const LIB_WAT: &str = r#"(module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (memory (export "memory") 1))"#;

const LIB_WIT: &str =
    "package test:lib@0.1.0;\n\nworld lib {\n  export add: func(a: u32, b: u32) -> u32;\n}\n";

fn wit_dir(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lib.wit"), text).unwrap();
    dir
}

/// The command component of `cli/tests/cli/command.wat`.
fn command_component() -> Vec<u8> {
    componentize(
        &wat::parse_file(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cli/tests/cli/command.wat"),
        )
        .unwrap(),
        "command.wasm",
        &ComponentizeOptions::default(),
    )
    .unwrap()
    .bytes
}

/// The library component of [`LIB_WAT`] for world `lib` of [`LIB_WIT`].
fn library_component() -> Vec<u8> {
    let dir = wit_dir(LIB_WIT);
    componentize(
        &wat::parse_str(LIB_WAT).unwrap(),
        "lib.wasm",
        &ComponentizeOptions {
            wit: Some(dir.path()),
            world: Some("lib"),
            adapter: AdapterChoice::Auto,
        },
    )
    .unwrap()
    .bytes
}

fn project_wit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit")
}

#[test]
fn library_without_wit_is_refused_and_names_the_exports() {
    let module = wat::parse_str(LIB_WAT).unwrap();
    let err = componentize(&module, "lib.wasm", &ComponentizeOptions::default()).unwrap_err();
    assert!(
        matches!(&err, ComponentError::NoWitMetadata { exports, .. } if exports == "add"),
        "{err}"
    );
    assert!(
        err.to_string().contains("--wit"),
        "the message says how to fix it: {err}"
    );
}

#[test]
fn library_with_wit_keeps_its_exports_and_records_the_world() {
    let module = wat::parse_str(LIB_WAT).unwrap();
    let dir = wit_dir(LIB_WIT);
    let opts = ComponentizeOptions {
        wit: Some(dir.path()),
        world: Some("lib"),
        adapter: AdapterChoice::Auto,
    };
    let out = componentize(&module, "lib.wasm", &opts).unwrap();
    assert_eq!(out.adapter, None, "no preview1 imports, so no adapter");
    let info = inspect(&out.bytes, "out").unwrap();
    assert_eq!(info.kind, WasmKind::Component);
    assert_eq!(info.exports, vec!["add".to_string()]);
    assert_eq!(info.target.as_deref(), Some("test:lib/lib@0.1.0"));
    // and a component is refused as input
    let err = componentize(&out.bytes, "out.wasm", &ComponentizeOptions::default()).unwrap_err();
    assert!(
        matches!(err, ComponentError::AlreadyComponent { .. }),
        "{err}"
    );
}

#[test]
fn the_adapter_itself_is_refused() {
    let err = componentize(
        adapter_bytes(AdapterKind::Command),
        "adapter.wasm",
        &ComponentizeOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ComponentError::IsAdapter { .. }), "{err}");
}

#[test]
fn imports_nothing_provides_are_named() {
    let module = wat::parse_str(
        r#"(module
          (import "env" "host_log" (func (param i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
          (func (export "_start") i32.const 0 call 0)
          (memory (export "memory") 1))"#,
    )
    .unwrap();
    let err = componentize(&module, "app.wasm", &ComponentizeOptions::default()).unwrap_err();
    match &err {
        ComponentError::UnsatisfiedImports { imports, .. } => {
            assert_eq!(imports, "`env::host_log`")
        }
        other => panic!("expected UnsatisfiedImports, got {other}"),
    }
}

#[test]
fn command_adapter_is_picked_for_start() {
    let module = wat::parse_str(
        r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
          (func (export "_start") i32.const 0 call 0)
          (memory (export "memory") 1))"#,
    )
    .unwrap();
    let out = componentize(&module, "app.wasm", &ComponentizeOptions::default()).unwrap();
    assert_eq!(out.adapter.as_deref(), Some("command"));
    let info = inspect(&out.bytes, "app").unwrap();
    assert_eq!(info.exports.len(), 1);
    assert!(
        info.exports[0].starts_with("wasi:cli/run@0.2."),
        "{:?}",
        info.exports
    );
    assert!(
        info.target
            .as_deref()
            .is_some_and(|t| t.starts_with("wasi:cli/command@0.2.")),
        "{:?}",
        info.target
    );
}

#[test]
fn truncated_and_foreign_bytes_are_clear_errors() {
    let module = wat::parse_str(LIB_WAT).unwrap();
    let truncated = &module[..module.len() - 3];
    let err = inspect(truncated, "cut.wasm").unwrap_err();
    assert!(matches!(err, ComponentError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("cut.wasm"));
    let err = componentize(
        b"#!/bin/sh\necho hi\n",
        "script.sh",
        &ComponentizeOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ComponentError::NotWasm { .. }), "{err}");
}

#[test]
fn wit_errors_carry_file_line_and_column() {
    let dir =
        wit_dir("package test:lib@0.1.0;\n\nworld lib {\n  export add: func(a: u33) -> u32;\n}\n");
    let Err(err) = load_wit(dir.path()) else {
        panic!("bad WIT must not load")
    };
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(|s| format!("{s:?}"))
            .unwrap_or_default()
    );
    assert!(chain.contains("lib.wit:4:"), "{chain}");
}

#[test]
fn project_wit_resolves_with_wasi_deps_and_roundtrips_through_binary() {
    let wit = load_wit(&project_wit()).unwrap();
    let summary = wit.summary();
    assert_eq!(summary.package, "wharf:greeter@0.1.0");
    assert_eq!(
        summary.worlds,
        vec![
            "wharf:greeter/greeter@0.1.0".to_string(),
            "wharf:greeter/greet-cli@0.1.0".to_string()
        ]
    );
    assert!(
        summary.dependencies.iter().any(|d| d == "wasi:cli@0.2.12"),
        "{:?}",
        summary.dependencies
    );
    let binary = build_wit_package(&project_wit()).unwrap();
    let info = inspect(&binary, "greeter.wasm").unwrap();
    assert_eq!(info.kind, WasmKind::WitPackage);
    assert_eq!(info.package.as_deref(), Some("wharf:greeter@0.1.0"));
    assert!(
        info.exports
            .contains(&"wharf:greeter/greet@0.1.0".to_string())
    );
    let text = print_wit(Path::new("greeter.wasm"), Some(&binary)).unwrap();
    assert!(
        text.contains("interface greet") && text.contains("greet: func(name: string) -> string;"),
        "{text}"
    );
}

#[test]
fn bindings_in_every_language() {
    let wit = project_wit();
    let names = |l| {
        generate_bindings(l, &wit, Some("greeter"))
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(Language::Rust), vec!["greeter.rs"]);
    let c = names(Language::C);
    assert!(
        c.contains(&"greeter.h".to_string()) && c.contains(&"greeter.c".to_string()),
        "{c:?}"
    );
    assert!(names(Language::Markdown).iter().any(|n| n.ends_with(".md")));
    let out = tempfile::tempdir().unwrap();
    let (rs, sources) = generate_rust_bindings_into(&wit, Some("greeter"), out.path()).unwrap();
    let text = std::fs::read_to_string(rs).unwrap();
    assert!(
        text.contains("pub trait Guest") && text.contains("fn greet("),
        "generated Rust has the export trait"
    );
    assert!(
        sources.iter().any(|s| s.ends_with("greeter.wit"))
            && sources.iter().any(|s| s.ends_with("cli.wit"))
    );
    assert!(generate_bindings(Language::Rust, &wit, Some("nope")).is_err());
}

/// `wit/deps` is the WASI of the wasmtime-wasi crate that `wharf run` embeds.
#[test]
fn wasi_wit_matches_wasmtime_wasi() {
    let manifest = crate::crate_manifest("wasmtime-wasi");
    let upstream = Path::new(&manifest)
        .parent()
        .unwrap()
        .join("src/p2/wit/deps");
    let ours = project_wit().join("deps");
    let mut checked = 0;
    for entry in std::fs::read_dir(&upstream).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(ours.join(name)).unwrap_or_default(),
            "wit/deps/{} differs from wasmtime-wasi's",
            name.to_string_lossy()
        );
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} WASI packages found");
}

#[test]
fn metadata_sections_become_oci_annotations() {
    use wasm_metadata::{AddMetadata, AddMetadataField, Description, Licenses, Source, Version};
    let module = wat::parse_str(LIB_WAT).unwrap();
    let dir = wit_dir(LIB_WIT);
    let opts = ComponentizeOptions {
        wit: Some(dir.path()),
        world: Some("lib"),
        adapter: AdapterChoice::Auto,
    };
    let component = componentize(&module, "lib.wasm", &opts).unwrap().bytes;
    let mut add = AddMetadata::default();
    add.description = AddMetadataField::Set(Description::new("adds two numbers"));
    add.licenses = AddMetadataField::Set(Licenses::new("Apache-2.0 OR MIT").unwrap());
    add.source = AddMetadataField::Set(Source::new("https://example.com/lib").unwrap());
    add.version = AddMetadataField::Set(Version::new("0.1.0"));
    let with_metadata = add.to_wasm(&component).unwrap();
    let info = inspect(&with_metadata, "lib").unwrap();
    assert_eq!(
        info.metadata.description.as_deref(),
        Some("adds two numbers")
    );
    assert_eq!(info.metadata.licenses.as_deref(), Some("Apache-2.0 OR MIT"));
    assert!(info.metadata.producers.contains_key("processed-by"));
    let a = info.metadata.oci_annotations();
    assert_eq!(
        a["org.opencontainers.image.description"],
        "adds two numbers"
    );
    assert_eq!(a["org.opencontainers.image.licenses"], "Apache-2.0 OR MIT");
    assert_eq!(
        a["org.opencontainers.image.source"],
        "https://example.com/lib"
    );
    assert_eq!(a["org.opencontainers.image.version"], "0.1.0");
    assert!(!a.contains_key("org.opencontainers.image.authors"));
    // the target world survives adding metadata
    assert_eq!(info.target.as_deref(), Some("test:lib/lib@0.1.0"));
}

#[test]
fn claimed_lengths_are_checked_before_anything_is_allocated() {
    // a component header, then a custom section claiming 4 GiB in a 14-byte file: the
    // old path decoded before validating and allocated the claimed length
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.extend([0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(bytes.len(), 14);
    let err = print_wit(Path::new("claims.wasm"), Some(&bytes)).unwrap_err();
    assert!(err.to_string().contains("claims.wasm"), "{err}");
    // a core module has no WIT of its own: an error naming it, not an empty world
    let core = wat::parse_str("(module (func (export \"f\")))").unwrap();
    let err = print_wit(Path::new("core.wasm"), Some(&core)).unwrap_err();
    let text = format!("{err}");
    assert!(
        text.contains("core.wasm") && text.contains("core module"),
        "{text}"
    );
}

#[test]
fn a_bad_adapter_is_named_as_the_adapter() {
    let module = wat::parse_str("(module (func (export \"_start\")))").unwrap();
    let component = wat::parse_str("(component)").unwrap();
    for adapter in [
        b"not wasm at all".to_vec(),
        b"\0asm\x01\0\0\0\x01\xff".to_vec(),
        component,
    ] {
        let opts = ComponentizeOptions {
            adapter: AdapterChoice::Custom(adapter),
            ..ComponentizeOptions::default()
        };
        let err = componentize(&module, "app.wasm", &opts).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("adapter"), "{text}");
        assert!(!text.starts_with("failed to componentize"), "{text}");
    }
    // a valid core module without an adapter's metadata, for a module that needs one
    let needs_adapter = wat::parse_str(
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
            (memory (export "memory") 1)
            (func (export "_start")))"#,
    )
    .unwrap();
    let opts = ComponentizeOptions {
        adapter: AdapterChoice::Custom(wat::parse_str("(module)").unwrap()),
        ..ComponentizeOptions::default()
    };
    let text = format!(
        "{:#}",
        componentize(&needs_adapter, "app.wasm", &opts).unwrap_err()
    );
    assert!(
        text.contains("custom adapter") && text.contains("app.wasm"),
        "{text}"
    );
}

/// `inspect` reads a component's imports and exports from its top-level sections without
/// decoding its WIT: they must be exactly the world's items as wit-component decodes them.
#[test]
fn the_surface_read_without_decoding_matches_the_decoded_world() {
    let command = command_component();
    let library = library_component();
    for (name, bytes) in [("command", command), ("library", library)] {
        let info = inspect(&bytes, name).unwrap();
        let Ok(wit_component::DecodedWasm::Component(resolve, world)) =
            wit_component::decode(&bytes)
        else {
            panic!("{name} decodes as a component")
        };
        let names = |items: &wit_parser::IndexMap<wit_parser::WorldKey, wit_parser::WorldItem>| {
            items
                .iter()
                .filter(|(_, item)| !matches!(item, wit_parser::WorldItem::Type { .. }))
                .map(|(key, _)| resolve.name_world_key(key))
                .collect::<Vec<_>>()
        };
        let w = &resolve.worlds[world];
        assert_eq!(info.imports, names(&w.imports), "{name} imports");
        assert_eq!(info.exports, names(&w.exports), "{name} exports");
        assert!(!info.imports.is_empty() || !info.exports.is_empty());
    }
}

/// The WIT decoded from a component's type skeleton (what the registry shows) is the WIT
/// of the component itself.
#[test]
fn wit_from_the_skeleton_is_the_components_wit() {
    let command = command_component();
    let whole = wit_component::decode(&command).unwrap();
    let mut printer = wit_component::WitPrinter::default();
    let nested: Vec<_> = whole
        .resolve()
        .packages
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != whole.package())
        .collect();
    printer
        .print(whole.resolve(), whole.package(), &nested)
        .unwrap();
    let expected = printer.output.to_string();
    let from_skeleton = wharf_component::component_wit(&command, "command.wasm").unwrap();
    assert_eq!(from_skeleton, expected);
    assert!(from_skeleton.contains("wasi:cli/run"), "{from_skeleton}");
}

/// A binary fed to the streaming inspector in pieces is judged exactly as the whole binary
/// is: the same inspection (kind, target, imports, exports, metadata, custom sections) and
/// the same WIT, for components with metadata, a WIT package, and core modules (the WASI
/// adapters, with names and data); while it holds far less than the binary at once.
#[test]
fn streamed_inspection_is_the_whole_inspection() {
    use wasm_metadata::{AddMetadata, AddMetadataField, Description, Licenses};
    let command = command_component();
    let library = library_component();
    let mut add = AddMetadata::default();
    add.description = AddMetadataField::Set(Description::new("adds two numbers"));
    add.licenses = AddMetadataField::Set(Licenses::new("Apache-2.0 OR MIT").unwrap());
    let library = add.to_wasm(&library).unwrap();
    let wit_package = build_wit_package(&project_wit()).unwrap();
    let inputs = [
        ("command component", command),
        ("library component with metadata", library),
        ("WIT package", wit_package),
        (
            "command adapter",
            adapter_bytes(AdapterKind::Command).to_vec(),
        ),
        (
            "reactor adapter",
            adapter_bytes(AdapterKind::Reactor).to_vec(),
        ),
    ];
    for (name, bytes) in inputs {
        let whole = inspect(&bytes, name).unwrap();
        let whole_wit = match whole.kind {
            WasmKind::CoreModule => None,
            _ => Some(wharf_component::component_wit(&bytes, name).unwrap()),
        };
        for piece in [1000, 64 * 1024] {
            let mut s = wharf_component::StreamingInspector::new(name);
            for chunk in bytes.chunks(piece) {
                s.feed(chunk).unwrap();
            }
            let high_water = s.high_water();
            let (streamed, wit) = s.finish(whole.digest.clone()).unwrap();
            assert_eq!(
                format!("{streamed:#?}"),
                format!("{whole:#?}"),
                "{name} in pieces of {piece}"
            );
            assert_eq!(wit, whole_wit, "{name} WIT");
            if piece == 1000 && bytes.len() > 50_000 {
                assert!(
                    high_water < bytes.len() / 2,
                    "{name}: held {high_water} of {} bytes at once",
                    bytes.len()
                );
            }
        }
    }
}
