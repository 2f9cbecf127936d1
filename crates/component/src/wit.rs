use std::path::{Path, PathBuf};

use serde::Serialize;
use wit_component::{DecodedWasm, WitPrinter};
use wit_parser::{PackageId, Resolve};

use crate::{ComponentError, Result};

/// A resolved WIT package with everything it depends on.
pub struct LoadedWit {
    /// All packages: the main one and its dependencies.
    pub resolve: Resolve,
    /// The package the path named.
    pub main: PackageId,
    /// Every file that was read, for build scripts' `rerun-if-changed`.
    pub sources: Vec<PathBuf>,
}

/// What a WIT package contains, for `wharf wit check`.
#[derive(Debug, Serialize)]
pub struct WitSummary {
    /// The main package, `ns:name@version`.
    pub package: String,
    /// Its worlds, fully qualified (`ns:name/world@version`).
    pub worlds: Vec<String>,
    /// Its interfaces, fully qualified.
    pub interfaces: Vec<String>,
    /// The other packages it was resolved against (from `deps/`).
    pub dependencies: Vec<String>,
}

/// Parse and resolve WIT at `path`: a `.wit` file, a directory with an optional `deps/`
/// (the layout WASI 0.2 ships), or a binary-encoded WIT package (`.wasm`). Parse errors
/// carry file, line and column (wit-parser's `--> file:line:col` form).
pub fn load_wit(path: &Path) -> Result<LoadedWit> {
    if !path.exists() {
        return Err(ComponentError::Io {
            action: "read WIT from",
            path: path.display().to_string(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let mut resolve = Resolve::default();
    let (main, map) = match resolve.push_path(path) {
        Ok(r) => r,
        Err(e) => {
            // render spans as `--> file:line:col` with the offending line
            let rendered = resolve.render_error(&e);
            return Err(ComponentError::Upstream {
                context: format!("failed to parse WIT at `{}`", path.display()),
                source: rendered.into(),
            });
        }
    };
    let sources = map.paths().map(Path::to_path_buf).collect();
    Ok(LoadedWit {
        resolve,
        main,
        sources,
    })
}

impl LoadedWit {
    /// Summarise the main package.
    pub fn summary(&self) -> WitSummary {
        let pkg = &self.resolve.packages[self.main];
        let worlds = pkg
            .worlds
            .values()
            .map(|w| qualified(&self.resolve, self.main, &self.resolve.worlds[*w].name))
            .collect();
        let interfaces = pkg
            .interfaces
            .values()
            .filter_map(|i| self.resolve.id_of(*i))
            .collect();
        let dependencies = self
            .resolve
            .packages
            .iter()
            .filter(|(id, _)| *id != self.main)
            .map(|(_, p)| p.name.to_string())
            .collect();
        WitSummary {
            package: pkg.name.to_string(),
            worlds,
            interfaces,
            dependencies,
        }
    }

    /// Print the main package as WIT text.
    pub fn print(&self) -> Result<String> {
        print_package(&self.resolve, self.main, &[])
    }
}

/// `ns:pkg/name@version` for an item of package `pkg`.
pub(crate) fn qualified(resolve: &Resolve, pkg: PackageId, name: &str) -> String {
    resolve.id_of_name(pkg, name)
}

pub(crate) fn print_package(
    resolve: &Resolve,
    main: PackageId,
    nested: &[PackageId],
) -> Result<String> {
    let mut printer = WitPrinter::default();
    printer
        .print(resolve, main, nested)
        .map_err(|e| ComponentError::upstream("failed to print WIT", e))?;
    Ok(printer.output.to_string())
}

/// WIT text of `bytes` (a binary WIT package or a component: the WIT it was built
/// against, with the packages it uses nested so the text stands alone), or of the WIT
/// sources at `path` when `bytes` is `None`.
pub fn print_wit(path: &Path, bytes: Option<&[u8]>) -> Result<String> {
    let Some(bytes) = bytes else {
        return load_wit(path)?.print();
    };
    let what = path.display().to_string();
    if crate::inspect::validate(bytes, &what)? == crate::inspect::WasmKind::CoreModule {
        return Err(ComponentError::Invalid {
            what,
            reason: "a core module has no WIT package of its own; componentize it first \
                     (`wharf inspect` shows the world it targets)"
                .into(),
        });
    }
    component_wit(bytes, &what)
}

/// WIT text of `bytes`, a component or binary WIT package that was validated already
/// (the registry after [`inspect_known`](crate::inspect_known)). The WIT is decoded from
/// the component's type skeleton (bodies and data dropped), so its cost follows the size
/// of the component's types, not of its code.
pub fn component_wit(bytes: &[u8], what: &str) -> Result<String> {
    let skeleton = crate::skeleton::of(bytes);
    let decoded = wit_component::decode(skeleton.as_deref().unwrap_or(bytes)).map_err(|e| {
        ComponentError::upstream(format!("failed to decode the WIT of `{what}`"), e)
    })?;
    let main = decoded.package();
    let resolve = decoded.resolve();
    let nested: Vec<PackageId> = resolve
        .packages
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != main)
        .collect();
    print_package(resolve, main, &nested)
}

/// Encode the WIT package at `path` in the binary form (`wasm-tools component wit --wasm`).
pub fn build_wit_package(path: &Path) -> Result<Vec<u8>> {
    let wit = load_wit(path)?;
    wit_component::encode(&wit.resolve, wit.main).map_err(|e| {
        ComponentError::upstream(
            format!("failed to encode WIT package `{}`", path.display()),
            e,
        )
    })
}

/// The decoded WIT of a component or WIT package.
pub(crate) fn decode(bytes: &[u8]) -> Option<DecodedWasm> {
    wit_component::decode(bytes).ok()
}
