//! Composing components (`wharf compose`), with `wasm-compose` of our wasm-tools line
//! (0.254; the WAC crates, `wac-graph`/`wac-parser`, need 0.247 or 0.258, so they would put
//! a second wasm-tools line in the build and their types could not meet ours).
//!
//! Two ways in, as `wac plug` and `wasm-tools compose` have them:
//! - [`plug`]: each import of the socket that a plug exports under the same name is
//!   satisfied by that plug (the first that exports it), and so are the plugs' own imports
//!   that another plug exports; what nobody exports stays an import of the result.
//! - [`compose_with_config`]: wasm-compose's configuration document (YAML: `dependencies`
//!   naming a component per import, `instantiations` with explicit arguments, search paths).
//!
//! The result is validated (wasm-compose validates what it writes) and its imports and
//! exports are what the parts leave open.

use std::path::{Path, PathBuf};

use wasm_compose::composer::ComponentComposer;
use wasm_compose::config::{Config, Dependency};

use crate::Result;
use crate::error::ComponentError;
use crate::inspect::{WasmKind, inspect};

/// A composition: the component's bytes and what it imports and exports (world keys).
#[derive(Clone, Debug)]
pub struct Composed {
    /// The composed component.
    pub bytes: Vec<u8>,
    /// Its imports: what no part satisfied.
    pub imports: Vec<String>,
    /// Its exports: the socket's (or root's).
    pub exports: Vec<String>,
    /// Which import was plugged with which part (`import`, part name), in the socket's
    /// order.
    pub plugged: Vec<(String, String)>,
}

/// One part of a composition: a name for messages (the file or reference given) and the
/// path of its component.
#[derive(Clone, Debug)]
pub struct Part {
    /// How the user named it.
    pub name: String,
    /// Where its bytes are.
    pub path: PathBuf,
}

fn read_component(part: &Part) -> Result<Vec<u8>> {
    let bytes = std::fs::read(&part.path).map_err(|source| ComponentError::Io {
        action: "read",
        path: part.path.display().to_string(),
        source,
    })?;
    match crate::inspect::validate(&bytes, &part.name)? {
        WasmKind::Component => Ok(bytes),
        other => Err(ComponentError::Invalid {
            what: part.name.clone(),
            reason: format!(
                "it is a {}, not a component: only components compose",
                other.as_str()
            ),
        }),
    }
}

/// Plug `plugs` into `socket`: each import of the socket (or of another plug) that a plug
/// exports is satisfied by the first plug that exports it.
///
/// # Errors
/// A part is not a valid component; a plug exports nothing the socket imports (named,
/// with the socket's imports, as `wac plug` refuses it); wasm-compose cannot wire the
/// parts (types that do not match, named by the import).
pub fn plug(socket: &Part, plugs: &[Part]) -> Result<Composed> {
    let socket_bytes = read_component(socket)?;
    let socket_imports = inspect(&socket_bytes, &socket.name)?.imports;
    let mut config = Config::default();
    let mut plugged = Vec::new();
    let mut exports_of = Vec::new();
    for p in plugs {
        let bytes = read_component(p)?;
        exports_of.push((p, inspect(&bytes, &p.name)?.exports));
    }
    // every import name some plug exports, wired to the first plug exporting it
    for (p, exports) in &exports_of {
        for e in exports {
            if !config.dependencies.contains_key(e.as_str()) {
                config.dependencies.insert(
                    e.clone(),
                    Dependency {
                        path: p.path.clone(),
                    },
                );
            }
        }
    }
    for (p, exports) in &exports_of {
        let used: Vec<&String> = socket_imports
            .iter()
            .filter(|i| exports.contains(i))
            .collect();
        if used.is_empty() {
            return Err(ComponentError::Invalid {
                what: p.name.clone(),
                reason: format!(
                    "it exports nothing `{}` imports (it exports: {}; the socket imports: {})",
                    socket.name,
                    list(exports),
                    list(&socket_imports)
                ),
            });
        }
    }
    for i in &socket_imports {
        if let Some((p, _)) = exports_of.iter().find(|(_, e)| e.contains(i)) {
            plugged.push((i.clone(), p.name.clone()));
        }
    }
    // nothing is looked up by file name in the working directory
    config.search_paths.clear();
    let mut composed = compose(socket, &config)?;
    composed.plugged = plugged;
    Ok(composed)
}

/// Compose `root` as wasm-compose's `config` says (its `dir` is where relative paths in
/// it start).
///
/// # Errors
/// The root is not a valid component; wasm-compose cannot find or wire a dependency (its
/// message names it).
pub fn compose_with_config(root: &Part, config: &Config) -> Result<Composed> {
    read_component(root)?;
    compose(root, config)
}

fn compose(root: &Part, config: &Config) -> Result<Composed> {
    let bytes = ComponentComposer::new(&root.path, config)
        .compose()
        .map_err(|e| ComponentError::upstream(format!("failed to compose `{}`", root.name), e))?;
    let inspected = inspect(&bytes, "the composition")?;
    Ok(Composed {
        bytes,
        imports: inspected.imports,
        exports: inspected.exports,
        plugged: Vec::new(),
    })
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".to_owned()
    } else {
        items.join(", ")
    }
}

/// wasm-compose's configuration document at `path` (YAML), its relative paths starting
/// at the file's directory.
///
/// # Errors
/// It cannot be read or parsed (wasm-compose's message).
pub fn read_compose_config(path: &Path) -> Result<Config> {
    Config::from_file(path).map_err(|e| {
        ComponentError::upstream(
            format!("failed to read the composition `{}`", path.display()),
            e,
        )
    })
}
