use std::collections::BTreeMap;

use serde::Serialize;
use wasmparser::component_types::{ComponentAnyTypeId, ComponentEntityType};
use wasmparser::types::Types;
use wasmparser::{Parser, Payload, Validator, WasmFeatures};
use wharf_oci::Digest;
use wit_component::DecodedWasm;

use crate::wit::qualified;
use crate::{ComponentError, Result};

/// Name of the custom section in which `wharf componentize` records the target world
/// (`ns:pkg/world@version`), since the component encoding itself does not keep it.
pub(crate) const TARGET_WORLD_SECTION: &str = "wharf:target-world";

/// What kind of wasm binary something is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WasmKind {
    /// A core WebAssembly module.
    CoreModule,
    /// A component (component model).
    Component,
    /// A binary-encoded WIT package (a component that only carries types).
    WitPackage,
}

impl WasmKind {
    /// `core-module`, `component` or `wit-package`.
    pub fn as_str(self) -> &'static str {
        match self {
            WasmKind::CoreModule => "core-module",
            WasmKind::Component => "component",
            WasmKind::WitPackage => "wit-package",
        }
    }

    /// The kind named by `core-module`, `component` or `wit-package`.
    pub fn from_name(name: &str) -> Option<WasmKind> {
        [
            WasmKind::CoreModule,
            WasmKind::Component,
            WasmKind::WitPackage,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// The `os` of the CNCF Wasm config: `wasip1` for a core module, else `wasip2`.
    pub fn oci_os(self) -> &'static str {
        match self {
            WasmKind::CoreModule => "wasip1",
            WasmKind::Component | WasmKind::WitPackage => "wasip2",
        }
    }
}

/// Metadata from the wasm custom sections (`wasm-metadata`): producers, OCI-style fields.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WasmMetadata {
    /// `component-name` / `name` section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `description` section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `authors` section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authors: Option<String>,
    /// `licenses` section (SPDX expression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licenses: Option<String>,
    /// `source` section (URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `homepage` section (URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// `revision` section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `version` section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `producers` section: field (`language`, `processed-by`, `sdk`) → name → version.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub producers: BTreeMap<String, BTreeMap<String, String>>,
}

impl WasmMetadata {
    /// The OCI manifest annotations these fields map to (`org.opencontainers.image.*`),
    /// as oci-wasm and wkg set them.
    pub fn oci_annotations(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                a.insert(format!("org.opencontainers.image.{k}"), v.clone());
            }
        };
        put("description", &self.description);
        put("authors", &self.authors);
        put("licenses", &self.licenses);
        put("source", &self.source);
        put("url", &self.homepage);
        put("revision", &self.revision);
        put("version", &self.version);
        a
    }
}

/// Everything `wharf inspect` reports about a wasm binary.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    /// Core module, component or WIT package.
    pub kind: WasmKind,
    /// Size in bytes.
    pub size: u64,
    /// sha256 digest of the bytes (`wasm_digest` in JSON: a package's manifest digest is
    /// `digest` or `manifest_digest` wherever wharf prints one, never this).
    #[serde(rename = "wasm_digest")]
    pub digest: Digest,
    /// For a WIT package: its name, `ns:name@version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The world it was built for, `ns:pkg/world@version`, when it can be known.
    pub target: Option<String>,
    /// Imports: world keys for components (`wasi:cli/stdout@0.2.6`), `module::name` for core modules.
    pub imports: Vec<String>,
    /// Exports: world keys for components and WIT packages (every world and interface), names for core modules.
    pub exports: Vec<String>,
    /// Metadata custom sections.
    pub metadata: WasmMetadata,
    /// Names of all custom sections at the top level.
    pub custom_sections: Vec<String>,
}

/// Validate `bytes` with every wasm feature wasmparser knows. `what` names the input in
/// errors. Returns its kind.
pub fn validate(bytes: &[u8], what: &str) -> Result<WasmKind> {
    Ok(validate_with_surface(bytes, what)?.0)
}

/// The top-level imports and exports of a component, by name (world keys:
/// `wasi:cli/stdout@0.2.6`, `run`), and whether it holds core modules.
#[derive(Default)]
struct Surface {
    imports: Vec<String>,
    exports: Vec<String>,
    modules: bool,
}

/// [`validate`], also returning a component's surface. One validation pass and one scan
/// of the top-level sections; a component's WIT is not decoded (decoding copies the whole
/// binary and validates it again), so this costs the same for a component as for a core
/// module of its size.
fn validate_with_surface(bytes: &[u8], what: &str) -> Result<(WasmKind, Surface)> {
    // the header first (a clear "not wasm"), then the validator, and only then any
    // decoding: a length the input claims is checked against its real size before
    // anything is allocated for it
    if !(Parser::is_core_wasm(bytes) || Parser::is_component(bytes)) {
        return Err(not_wasm(bytes, what));
    }
    let types = Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .map_err(|e| ComponentError::Invalid {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    if Parser::is_core_wasm(bytes) {
        return Ok((WasmKind::CoreModule, Surface::default()));
    }
    let mut surface = component_surface(bytes);
    let kind = if is_wit_package(&surface, &types) {
        WasmKind::WitPackage
    } else {
        WasmKind::Component
    };
    // as a world lists them: interfaces and functions, not the types it names
    let is_type =
        |ty: Option<&ComponentEntityType>| matches!(ty, Some(ComponentEntityType::Type { .. }));
    if kind == WasmKind::Component {
        surface
            .imports
            .retain(|n| !is_type(types.component_item_for_import(n).map(|i| &i.ty)));
        surface
            .exports
            .retain(|n| !is_type(types.component_item_for_export(n).map(|i| &i.ty)));
    }
    Ok((kind, surface))
}

/// The names of the top-level component imports and exports (nested components and
/// modules left out).
fn component_surface(bytes: &[u8]) -> Surface {
    let mut out = Surface::default();
    let mut depth = 0u32;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else { break };
        match &payload {
            Payload::ModuleSection { .. } => {
                if depth == 0 {
                    out.modules = true;
                }
                depth += 1;
                continue;
            }
            Payload::ComponentSection { .. } => {
                depth += 1;
                continue;
            }
            Payload::End(_) => {
                depth = depth.saturating_sub(1);
                continue;
            }
            _ => {}
        }
        if depth > 0 {
            continue;
        }
        match payload {
            Payload::ComponentImportSection(s) => {
                out.imports
                    .extend(s.into_iter().flatten().map(|i| i.name.name.to_owned()));
            }
            Payload::ComponentExportSection(s) => {
                out.exports
                    .extend(s.into_iter().flatten().map(|e| e.name.name.to_owned()));
            }
            _ => {}
        }
    }
    out
}

/// A binary-encoded WIT package, as wit-parser tells one apart: a component with no
/// imports and no core modules whose exports are all component types, named as the
/// encoding names them (`ns:pkg/wit` in the first version, plain labels in the second).
fn is_wit_package(surface: &Surface, types: &Types) -> bool {
    !surface.exports.is_empty()
        && surface.imports.is_empty()
        && !surface.modules
        && surface.exports.iter().all(|name| {
            let named = name.ends_with("/wit") || !name.contains(':');
            let component_type = matches!(
                types.component_item_for_export(name).map(|i| &i.ty),
                Some(ComponentEntityType::Type {
                    created: ComponentAnyTypeId::Component(_),
                    ..
                })
            );
            named && component_type
        })
}

pub(crate) fn not_wasm(bytes: &[u8], what: &str) -> ComponentError {
    if bytes.starts_with(b"\0asm") {
        ComponentError::Invalid {
            what: what.to_owned(),
            reason: "unknown wasm version or layer".into(),
        }
    } else {
        ComponentError::NotWasm {
            what: what.to_owned(),
        }
    }
}

/// Inspect `bytes` (validated first). `what` names the input in errors.
pub fn inspect(bytes: &[u8], what: &str) -> Result<Inspection> {
    inspect_known(bytes, what, None)
}

/// [`inspect`], with the sha256 `digest` of `bytes` when the caller knows it already (a
/// registry that checked it at upload), so the bytes are not hashed again.
pub fn inspect_known(bytes: &[u8], what: &str, digest: Option<Digest>) -> Result<Inspection> {
    let (kind, surface) = validate_with_surface(bytes, what)?;
    let mut out = Inspection {
        kind,
        size: bytes.len() as u64,
        digest: digest.unwrap_or_else(|| Digest::sha256_of(bytes)),
        package: None,
        target: None,
        imports: Vec::new(),
        exports: Vec::new(),
        metadata: metadata(bytes),
        custom_sections: Vec::new(),
    };
    top_level_sections(bytes, &mut out);
    match kind {
        WasmKind::CoreModule => {
            // a module built with WIT bindings knows its world
            out.target = embedded_world(bytes);
        }
        WasmKind::Component => {
            // the top-level import and export names are the world's keys
            out.imports = surface.imports;
            out.exports = surface.exports;
            if out.target.is_none() {
                out.target = inferred_command_world(&out.imports, &out.exports);
            }
        }
        WasmKind::WitPackage => {
            if let Some(DecodedWasm::WitPackage(resolve, pkg)) = crate::wit::decode(bytes) {
                let p = &resolve.packages[pkg];
                out.package = Some(p.name.to_string());
                out.exports = p
                    .worlds
                    .values()
                    .map(|w| qualified(&resolve, pkg, &resolve.worlds[*w].name))
                    .chain(p.interfaces.values().filter_map(|i| resolve.id_of(*i)))
                    .collect();
            }
        }
    }
    Ok(out)
}

/// The world named by the first `component-type` custom section of a core module.
///
/// The section's content names the world, except that wit-bindgen encodes a synthesized
/// `root:root/root` world; its section name then carries the real one:
/// `component-type:wit-bindgen:<version>:<ns>:<pkg>[@<v>]:<world>:<suffix>`.
pub(crate) fn embedded_world(bytes: &[u8]) -> Option<String> {
    Parser::new(0)
        .parse_all(bytes)
        .flatten()
        .find_map(|payload| match payload {
            Payload::CustomSection(c) if c.name().starts_with("component-type") => {
                let decoded = wit_parser::decoding::decode_world(c.data()).ok().and_then(
                    |(resolve, world)| {
                        let w = &resolve.worlds[world];
                        w.package.map(|p| qualified(&resolve, p, &w.name))
                    },
                );
                match decoded {
                    Some(name) if !name.starts_with("root:root/") => Some(name),
                    other => world_from_section_name(c.name()).or(other),
                }
            }
            _ => None,
        })
}

fn world_from_section_name(name: &str) -> Option<String> {
    let rest = name.strip_prefix("component-type:wit-bindgen:")?;
    let mut parts = rest.splitn(5, ':');
    let (_version, ns, pkg, world) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let (pkg, version) = match pkg.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (pkg, None),
    };
    Some(match version {
        Some(v) => format!("{ns}:{pkg}/{world}@{v}"),
        None => format!("{ns}:{pkg}/{world}"),
    })
}

/// A component whose only export is `wasi:cli/run@V` and whose imports are all WASI
/// targets `wasi:cli/command@V` (that world imports all of `wasi:cli/imports`).
fn inferred_command_world(imports: &[String], exports: &[String]) -> Option<String> {
    let [only] = exports else { return None };
    let version = only.strip_prefix("wasi:cli/run@")?;
    imports
        .iter()
        .all(|i| i.starts_with("wasi:"))
        .then(|| format!("wasi:cli/command@{version}"))
}

/// Custom section names, core imports/exports and the recorded target world, from the
/// top level only (nested modules of a component are not walked).
fn top_level_sections(bytes: &[u8], out: &mut Inspection) {
    let core = out.kind == WasmKind::CoreModule;
    let mut depth = 0u32;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else { break };
        match &payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > 0 {
            continue;
        }
        match payload {
            Payload::CustomSection(c) => {
                if c.name() == TARGET_WORLD_SECTION
                    && let Ok(t) = std::str::from_utf8(c.data())
                {
                    out.target = Some(t.to_owned());
                }
                out.custom_sections.push(c.name().to_owned());
            }
            Payload::ImportSection(s) if core => {
                for imp in s.into_imports().flatten() {
                    out.imports.push(format!("{}::{}", imp.module, imp.name));
                }
            }
            Payload::ExportSection(s) if core => {
                for exp in s.into_iter().flatten() {
                    out.exports.push(exp.name.to_owned());
                }
            }
            _ => {}
        }
    }
}

fn metadata(bytes: &[u8]) -> WasmMetadata {
    let Ok(payload) = wasm_metadata::Payload::from_binary(bytes) else {
        return WasmMetadata::default();
    };
    let m = payload.metadata();
    let mut producers = BTreeMap::new();
    if let Some(p) = &m.producers {
        for (field, values) in p.iter() {
            let entry: &mut BTreeMap<String, String> = producers.entry(field.clone()).or_default();
            for (name, version) in values.iter() {
                entry.insert(name.clone(), version.clone());
            }
        }
    }
    WasmMetadata {
        name: m.name.clone(),
        description: m.description.as_ref().map(ToString::to_string),
        authors: m.authors.as_ref().map(ToString::to_string),
        licenses: m.licenses.as_ref().map(ToString::to_string),
        source: m.source.as_ref().map(ToString::to_string),
        homepage: m.homepage.as_ref().map(ToString::to_string),
        revision: m.revision.as_ref().map(ToString::to_string),
        version: m.version.as_ref().map(ToString::to_string),
        producers,
    }
}

#[cfg(test)]
mod tests {
    use super::world_from_section_name;

    #[test]
    fn world_from_wit_bindgen_section_names() {
        assert_eq!(
            world_from_section_name(
                "component-type:wit-bindgen:0.60.0:wharf:greeter@0.1.0:greeter:encoded world"
            )
            .as_deref(),
            Some("wharf:greeter/greeter@0.1.0")
        );
        assert_eq!(
            world_from_section_name("component-type:wit-bindgen:0.60.0:a:b:w:encoded world")
                .as_deref(),
            Some("a:b/w")
        );
        assert_eq!(world_from_section_name("component-type:other"), None);
    }
}
