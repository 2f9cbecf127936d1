use std::borrow::Cow;
use std::path::Path;

use wasm_encoder::{CustomSection, Encode as _, Section as _};
use wasmparser::{ExternalKind, Parser, Payload};
use wit_component::{ComponentEncoder, StringEncoding};

use crate::adapter::{AdapterKind, adapter_bytes};
use crate::inspect::{TARGET_WORLD_SECTION, embedded_world, validate};
use crate::wit::{load_wit, qualified};
use crate::{ComponentError, Result};

/// Which WASI preview1 adapter to use.
#[derive(Clone, Debug, Default)]
pub enum AdapterChoice {
    /// `command` when the module exports `_start`, `reactor` otherwise (only when the
    /// module imports `wasi_snapshot_preview1` at all).
    #[default]
    Auto,
    /// One of the built-in adapters.
    Builtin(AdapterKind),
    /// An adapter module given by the user.
    Custom(Vec<u8>),
}

/// Options of [`componentize`].
#[derive(Clone, Debug, Default)]
pub struct ComponentizeOptions<'a> {
    /// WIT to embed before encoding (path to a file, a directory with `deps/`, or a
    /// binary WIT package); when `None`, the WIT already embedded in the module is used.
    pub wit: Option<&'a Path>,
    /// The world in `wit` (may be omitted when the package has one world).
    pub world: Option<&'a str>,
    /// The adapter.
    pub adapter: AdapterChoice,
}

/// The result of [`componentize`].
#[derive(Debug)]
pub struct Componentized {
    /// The component's bytes.
    pub bytes: Vec<u8>,
    /// The adapter that was used, if any (`command`, `reactor`, `proxy`, or `custom`).
    pub adapter: Option<String>,
    /// The world the component targets, when known.
    pub target: Option<String>,
}

/// Names of core exports that the toolchain adds and the component does not carry on.
fn is_toolchain_export(name: &str) -> bool {
    matches!(
        name,
        "_start"
            | "_initialize"
            | "memory"
            | "cabi_realloc"
            | "__data_end"
            | "__heap_base"
            | "__indirect_function_table"
    ) || name.starts_with("cabi_")
        || name.starts_with("__")
}

/// Exports of the WASI preview1 ABI: a module exporting these is an adapter.
const PREVIEW1_EXPORTS: &[&str] = &[
    "fd_write",
    "environ_get",
    "proc_exit",
    "args_get",
    "path_open",
];

struct ModuleFacts {
    imports: Vec<(String, String)>,
    func_exports: Vec<String>,
    has_component_type: bool,
}

fn module_facts(bytes: &[u8]) -> std::result::Result<ModuleFacts, wasmparser::BinaryReaderError> {
    let mut facts = ModuleFacts {
        imports: Vec::new(),
        func_exports: Vec::new(),
        has_component_type: false,
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ImportSection(s) => {
                for imp in s.into_imports().flatten() {
                    facts
                        .imports
                        .push((imp.module.to_owned(), imp.name.to_owned()));
                }
            }
            Payload::ExportSection(s) => {
                for exp in s.into_iter().flatten() {
                    if exp.kind == ExternalKind::Func {
                        facts.func_exports.push(exp.name.to_owned());
                    }
                }
            }
            Payload::CustomSection(c) if c.name().starts_with("component-type") => {
                facts.has_component_type = true
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// Turn a core module into a component, like `wasm-tools component new` with the checks
/// that tool lacks: refuses a component, an adapter, a library module whose exports would
/// vanish for want of WIT metadata, and names the imports nothing can satisfy.
///
/// `what` names the input in error messages.
pub fn componentize(
    module: &[u8],
    what: &str,
    opts: &ComponentizeOptions<'_>,
) -> Result<Componentized> {
    // the structure here, for errors that name the input; full validation is the
    // encoder's (it validates the component it builds, module included), as in
    // `wasm-tools component new`, so the module is not validated twice
    if Parser::is_component(module) {
        return Err(ComponentError::AlreadyComponent {
            what: what.to_owned(),
        });
    }
    if !Parser::is_core_wasm(module) {
        // not wasm at all, or an unknown version: `validate` says which
        validate(module, what)?;
    }
    let facts = module_facts(module).map_err(|e| ComponentError::Invalid {
        what: what.to_owned(),
        reason: e.to_string(),
    })?;
    let preview1_exported: Vec<&str> = PREVIEW1_EXPORTS
        .iter()
        .copied()
        .filter(|e| facts.func_exports.iter().any(|f| f == e))
        .collect();
    if preview1_exported.len() >= 2 {
        return Err(ComponentError::IsAdapter {
            what: what.to_owned(),
            examples: preview1_exported.join(", "),
        });
    }

    // copied only when WIT metadata is embedded into it
    let mut bytes = Cow::Borrowed(module);
    let mut target = None;
    if let Some(wit_path) = opts.wit {
        let wit = load_wit(wit_path)?;
        let world = wit
            .resolve
            .select_world(&[wit.main], opts.world)
            .map_err(|e| {
                ComponentError::upstream(
                    format!("failed to select a world in `{}`", wit_path.display()),
                    e,
                )
            })?;
        let w = &wit.resolve.worlds[world];
        target = w.package.map(|p| qualified(&wit.resolve, p, &w.name));
        wit_component::embed_component_metadata(
            bytes.to_mut(),
            &wit.resolve,
            world,
            StringEncoding::UTF8,
        )
        .map_err(|e| ComponentError::upstream("failed to embed WIT metadata", e))?;
    } else if facts.has_component_type {
        target = embedded_world(module);
    } else {
        let lost: Vec<&str> = facts
            .func_exports
            .iter()
            .map(String::as_str)
            .filter(|e| !is_toolchain_export(e))
            .collect();
        if !lost.is_empty() {
            return Err(ComponentError::NoWitMetadata {
                what: what.to_owned(),
                exports: lost.join(", "),
            });
        }
    }

    let uses_preview1 = facts
        .imports
        .iter()
        .any(|(m, _)| m == wit_component_adapter_name());
    let is_command = facts.func_exports.iter().any(|e| e == "_start");
    let adapter: Option<(String, Cow<'_, [u8]>)> = match &opts.adapter {
        AdapterChoice::Auto if !uses_preview1 => None,
        AdapterChoice::Auto => {
            let kind = if is_command {
                AdapterKind::Command
            } else {
                AdapterKind::Reactor
            };
            Some((kind.as_str().to_owned(), Cow::Borrowed(adapter_bytes(kind))))
        }
        AdapterChoice::Builtin(kind) => Some((
            kind.as_str().to_owned(),
            Cow::Borrowed(adapter_bytes(*kind)),
        )),
        AdapterChoice::Custom(b) => Some(("custom".to_owned(), Cow::Borrowed(b.as_slice()))),
    };

    // a custom adapter that is not a valid core module is named as the adapter; the encoder
    // is still fed in the same order (module, then adapter), which the output bytes depend on
    if let AdapterChoice::Custom(b) = &opts.adapter {
        let what = format!("the adapter given for `{what}`");
        if crate::inspect::validate(b, &what)? != crate::inspect::WasmKind::CoreModule {
            return Err(ComponentError::Invalid {
                what,
                reason: "an adapter must be a core module".into(),
            });
        }
    }
    let mut adapter_refused = false;
    let encoded = (|| {
        let mut encoder = ComponentEncoder::default().validate(true).module(&bytes)?;
        if let Some((_, adapter)) = &adapter {
            encoder = encoder
                .adapter(wit_component_adapter_name(), adapter)
                .inspect_err(|_| adapter_refused = true)?;
        }
        encoder.encode()
    })();
    let mut component = match encoded {
        Ok(c) => c,
        Err(e) if adapter_refused => {
            let kind = adapter.as_ref().map_or("", |(k, _)| k.as_str());
            return Err(ComponentError::upstream(
                format!("the {kind} adapter for `{what}` is not usable"),
                e,
            ));
        }
        Err(e) => {
            let unsatisfied = unsatisfied_imports(&facts, adapter.is_some());
            return Err(if unsatisfied.is_empty() {
                let with = match &opts.adapter {
                    AdapterChoice::Custom(_) => " with the custom adapter",
                    _ => "",
                };
                ComponentError::upstream(format!("failed to componentize `{what}`{with}"), e)
            } else {
                ComponentError::UnsatisfiedImports {
                    what: what.to_owned(),
                    imports: unsatisfied.join(", "),
                    source: e.into(),
                }
            });
        }
    };
    if let Some(t) = &target {
        let section = CustomSection {
            name: Cow::Borrowed(TARGET_WORLD_SECTION),
            data: Cow::Borrowed(t.as_bytes()),
        };
        component.push(section.id());
        section.encode(&mut component);
    }
    Ok(Componentized {
        bytes: component,
        adapter: adapter.map(|(k, _)| k),
        target,
    })
}

fn wit_component_adapter_name() -> &'static str {
    wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME
}

/// Imports that come from neither the preview1 adapter nor a component-model name
/// (`$root`, `[export]…`, `ns:pkg/iface`, `cm32p2…`). Only consulted once encoding has
/// failed, to name the culprits.
fn unsatisfied_imports(facts: &ModuleFacts, has_adapter: bool) -> Vec<String> {
    facts
        .imports
        .iter()
        .filter(|(m, _)| {
            let component_model = m == "$root"
                || m.starts_with("[export]")
                || m.starts_with("cm32p2")
                || m.contains(':');
            let adapter = has_adapter && m == wit_component_adapter_name();
            !(component_model || adapter)
        })
        .map(|(m, n)| format!("`{m}::{n}`"))
        .collect()
}
