//! The pure half of `wharf wit fetch`: which packages a WIT directory uses from elsewhere,
//! which its `deps/` provides, and a fetched binary WIT package turned into the text
//! `deps/` holds, in the layout `wkg wit fetch` writes (`deps/<ns>-<name>-<version>/
//! package.wit`).

use std::collections::BTreeSet;
use std::path::Path;

use wit_parser::{PackageId, UnresolvedPackageGroup};

use crate::Result;
use crate::error::ComponentError;
use crate::wit::print_package;

/// The packages the WIT files at the top of `dir` (not `deps/`) use from other packages
/// (`use`, `import`, `export`, `include` naming `ns:name@version`), as `ns:name@version`.
///
/// # Errors
/// The files do not parse (rendered with file:line:col).
pub fn foreign_packages(dir: &Path) -> Result<BTreeSet<String>> {
    let group = parse_group(dir)?;
    let own: BTreeSet<String> = std::iter::once(&group.main)
        .chain(&group.nested)
        .map(|p| p.name.to_string())
        .collect();
    Ok(std::iter::once(&group.main)
        .chain(&group.nested)
        .flat_map(|p| p.foreign_deps.keys().map(ToString::to_string))
        .filter(|n| !own.contains(n))
        .collect())
}

fn parse_group(path: &Path) -> Result<UnresolvedPackageGroup> {
    let parsed = if path.is_dir() {
        UnresolvedPackageGroup::parse_dir(path)
    } else {
        std::fs::read_to_string(path)
            .map_err(anyhow::Error::from)
            .and_then(|text| {
                UnresolvedPackageGroup::parse(path, &text).map_err(|(map, e)| {
                    let rendered = e.render(&map);
                    anyhow::Error::from(e).context(rendered)
                })
            })
    };
    parsed.map_err(|e| {
        ComponentError::upstream(format!("failed to parse WIT at `{}`", path.display()), e)
    })
}

/// The packages `dir/deps/` provides (each `*.wit` file or directory of them, and nested
/// packages), as `ns:name@version`; empty when there is no `deps/`.
///
/// # Errors
/// An entry does not parse.
pub fn provided_packages(dir: &Path) -> Result<BTreeSet<String>> {
    let deps = dir.join("deps");
    let Ok(entries) = std::fs::read_dir(&deps) else {
        return Ok(BTreeSet::new());
    };
    let mut names = BTreeSet::new();
    for entry in entries {
        let path = entry
            .map_err(|source| ComponentError::Io {
                action: "read",
                path: deps.display().to_string(),
                source,
            })?
            .path();
        let is_wit = path.extension().is_some_and(|e| e == "wit");
        if !(path.is_dir() || is_wit) {
            continue;
        }
        let group = parse_group(&path)?;
        names.extend(
            std::iter::once(&group.main)
                .chain(&group.nested)
                .map(|p| p.name.to_string()),
        );
    }
    Ok(names)
}

/// A binary WIT package decoded for `deps/`.
#[derive(Clone, Debug)]
pub struct DecodedWitPackage {
    /// Its name, `ns:name@version`.
    pub name: String,
    /// Its WIT text, the package alone (the packages it uses are named, not nested).
    pub text: String,
    /// The packages it uses, with the text of what the binary carries of each (the parts
    /// it uses), for when no registry has the whole package.
    pub uses: Vec<(String, String)>,
}

/// Decode `bytes`, a binary WIT package (`wharf wit build`, `wkg wit build`). `what`
/// names it in errors.
///
/// # Errors
/// Not a binary WIT package (a component, a core module, invalid wasm).
pub fn decode_wit_package(bytes: &[u8], what: &str) -> Result<DecodedWitPackage> {
    let decoded = wit_component::decode(bytes).map_err(|e| {
        ComponentError::upstream(format!("failed to decode the WIT of `{what}`"), e)
    })?;
    let wit_component::DecodedWasm::WitPackage(resolve, main) = decoded else {
        return Err(ComponentError::Invalid {
            what: what.to_owned(),
            reason: "it is a component, not a WIT package (push WIT with `wharf wit build`)".into(),
        });
    };
    let text = print_package(&resolve, main, &[])?;
    let others: Vec<PackageId> = resolve
        .packages
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != main)
        .collect();
    let mut uses = Vec::new();
    for id in others {
        uses.push((
            resolve.packages[id].name.to_string(),
            print_package(&resolve, id, &[])?,
        ));
    }
    Ok(DecodedWitPackage {
        name: resolve.packages[main].name.to_string(),
        text,
        uses,
    })
}

/// The directory under `deps/` for package `name` (`ns:name@version`), as `wkg wit
/// fetch` names it: `:` and `@` become `-`.
pub fn deps_dir_name(name: &str) -> String {
    name.replace([':', '@'], "-")
}
