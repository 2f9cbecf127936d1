//! Semver compatibility of WIT between two versions of a package.
//!
//! Each binary (a component or a binary WIT package) is decoded with `wit-component` and
//! flattened to its *surface*: one entry per function and named type it exports or
//! imports (for a WIT package: per interface item and world item), each rendered
//! structurally. Versions in names are cut to their compatibility track (`@0.2.12` →
//! `@0.2`, `@1.4.0` → `@1`), so moving to a compatible dependency release is no change.
//!
//! The rules follow the component model's subtyping and `wit_component::semver_check`
//! (types must keep their exact structure):
//! - removing or changing a function or type a consumer can see is breaking;
//! - adding functions, types or exports is compatible;
//! - for a component, a new import is breaking (every host must now provide it), and
//!   dropping an import is compatible.

use std::collections::BTreeMap;

use serde::Serialize;
use wit_component::DecodedWasm;
use wit_parser::{
    Function, Handle, Resolve, Type, TypeDefKind, TypeId, TypeOwner, WorldItem, WorldKey,
};

use crate::ComponentError;

/// One difference between two versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WitChange {
    /// The item, e.g. `export wharf:greeter/greet@0.1 func greet`.
    pub item: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// True when consumers of the previous version can break.
    pub breaking: bool,
    /// For `changed`: the previous and the new rendering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl std::fmt::Display for WitChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.change, self.item)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

/// The differences between the WIT of `prev` and `new` (both components, or both WIT
/// packages), sorted by item. Empty when the surfaces are identical.
///
/// # Errors
/// [`ComponentError::Upstream`] when a binary has no decodable WIT (a core module), or
/// one is a component and the other a WIT package.
pub fn wit_changes(prev: &[u8], new: &[u8]) -> Result<Vec<WitChange>, ComponentError> {
    let decode = |bytes: &[u8], which: &str| {
        wit_component::decode(bytes).map_err(|e| {
            ComponentError::upstream(
                format!("failed to decode the WIT of the {which} version"),
                e,
            )
        })
    };
    let (prev, new) = (decode(prev, "previous")?, decode(new, "new")?);
    let component = match (&prev, &new) {
        (DecodedWasm::Component(..), DecodedWasm::Component(..)) => true,
        (DecodedWasm::WitPackage(..), DecodedWasm::WitPackage(..)) => false,
        _ => {
            return Err(ComponentError::upstream(
                "cannot compare versions",
                anyhow::anyhow!("one version is a component and the other a WIT package"),
            ));
        }
    };
    let (before, after) = (surface(&prev), surface(&new));
    let mut changes = Vec::new();
    for (item, old) in &before {
        let import = item.starts_with("import ");
        match after.get(item) {
            None => changes.push(WitChange {
                item: item.clone(),
                change: "removed",
                breaking: !(component && import),
                detail: None,
            }),
            Some(now) if now != old => changes.push(WitChange {
                item: item.clone(),
                change: "changed",
                breaking: true,
                detail: Some(format!("was `{old}`, now `{now}`")),
            }),
            Some(_) => {}
        }
    }
    for item in after.keys().filter(|k| !before.contains_key(*k)) {
        changes.push(WitChange {
            item: item.clone(),
            change: "added",
            breaking: component && item.starts_with("import "),
            detail: None,
        });
    }
    changes.sort_by(|a, b| a.item.cmp(&b.item));
    Ok(changes)
}

/// `@0.2.12` → `@0.2`, `@1.4.0` → `@1`; names without a version are kept.
fn track(name: &str) -> String {
    let Some((base, version)) = name.rsplit_once('@') else {
        return name.to_owned();
    };
    let Ok(v) = semver::Version::parse(version) else {
        return name.to_owned();
    };
    match (v.major, v.minor) {
        (0, 0) => format!("{base}@0.0.{}", v.patch),
        (0, minor) => format!("{base}@0.{minor}"),
        (major, _) => format!("{base}@{major}"),
    }
}

fn surface(decoded: &DecodedWasm) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match decoded {
        DecodedWasm::Component(resolve, world) => {
            world_surface(resolve, *world, "", &mut out);
        }
        DecodedWasm::WitPackage(resolve, pkg) => {
            let package = &resolve.packages[*pkg];
            let name = track(&package.name.to_string());
            for (iface_name, id) in &package.interfaces {
                interface_surface(
                    resolve,
                    *id,
                    &format!("interface {name}/{iface_name}"),
                    &mut out,
                );
            }
            for (world_name, id) in &package.worlds {
                world_surface(
                    resolve,
                    *id,
                    &format!("world {name}/{world_name} "),
                    &mut out,
                );
            }
        }
    }
    out
}

fn world_surface(
    resolve: &Resolve,
    world: wit_parser::WorldId,
    prefix: &str,
    out: &mut BTreeMap<String, String>,
) {
    let w = &resolve.worlds[world];
    for (direction, items) in [("import", &w.imports), ("export", &w.exports)] {
        for (key, item) in items {
            let key_name = match key {
                WorldKey::Name(n) => n.clone(),
                WorldKey::Interface(id) => interface_name(resolve, *id),
            };
            let at = format!("{prefix}{direction} {key_name}");
            match item {
                WorldItem::Interface { id, .. } => interface_surface(resolve, *id, &at, out),
                WorldItem::Function(f) => {
                    out.insert(format!("{at} func"), func(resolve, f));
                }
                WorldItem::Type { id, .. } => {
                    out.insert(format!("{at} type"), typedef(resolve, *id));
                }
            }
        }
    }
}

fn interface_surface(
    resolve: &Resolve,
    id: wit_parser::InterfaceId,
    prefix: &str,
    out: &mut BTreeMap<String, String>,
) {
    let iface = &resolve.interfaces[id];
    for (name, f) in &iface.functions {
        out.insert(format!("{prefix} func {name}"), func(resolve, f));
    }
    for (name, t) in &iface.types {
        out.insert(format!("{prefix} type {name}"), typedef(resolve, *t));
    }
}

fn interface_name(resolve: &Resolve, id: wit_parser::InterfaceId) -> String {
    match resolve.id_of(id) {
        Some(name) => track(&name),
        None => "<anonymous interface>".to_owned(),
    }
}

fn func(resolve: &Resolve, f: &Function) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, ty(resolve, &p.ty)))
        .collect();
    match &f.result {
        Some(r) => format!("func({}) -> {}", params.join(", "), ty(resolve, r)),
        None => format!("func({})", params.join(", ")),
    }
}

/// A type use: named types by owner and name (their structure is its own surface
/// entry), anonymous ones structurally.
fn ty(resolve: &Resolve, t: &Type) -> String {
    let Type::Id(id) = t else {
        return crate::witdoc::primitive_name(t)
            .unwrap_or_default()
            .to_owned();
    };
    let def = &resolve.types[*id];
    match &def.name {
        Some(name) => {
            let owner = match def.owner {
                TypeOwner::Interface(i) => interface_name(resolve, i),
                TypeOwner::World(w) => resolve.worlds[w].name.clone(),
                TypeOwner::None => String::new(),
            };
            format!("{owner}.{name}")
        }
        None => typedef(resolve, *id),
    }
}

fn opt(resolve: &Resolve, t: &Option<Type>) -> String {
    t.as_ref()
        .map_or_else(|| "_".to_owned(), |t| ty(resolve, t))
}

/// The structure of a type definition.
fn typedef(resolve: &Resolve, id: TypeId) -> String {
    let list = |items: Vec<String>| items.join(", ");
    match &resolve.types[id].kind {
        TypeDefKind::Record(r) => format!(
            "record {{ {} }}",
            list(
                r.fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, ty(resolve, &f.ty)))
                    .collect()
            )
        ),
        TypeDefKind::Resource => "resource".into(),
        TypeDefKind::Handle(Handle::Own(t)) => format!("own<{}>", ty(resolve, &Type::Id(*t))),
        TypeDefKind::Handle(Handle::Borrow(t)) => {
            format!("borrow<{}>", ty(resolve, &Type::Id(*t)))
        }
        TypeDefKind::Flags(f) => format!(
            "flags {{ {} }}",
            list(f.flags.iter().map(|f| f.name.clone()).collect())
        ),
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            list(t.types.iter().map(|t| ty(resolve, t)).collect())
        ),
        TypeDefKind::Variant(v) => format!(
            "variant {{ {} }}",
            list(
                v.cases
                    .iter()
                    .map(|c| match &c.ty {
                        Some(t) => format!("{}({})", c.name, ty(resolve, t)),
                        None => c.name.clone(),
                    })
                    .collect()
            )
        ),
        TypeDefKind::Enum(e) => format!(
            "enum {{ {} }}",
            list(e.cases.iter().map(|c| c.name.clone()).collect())
        ),
        TypeDefKind::Option(t) => format!("option<{}>", ty(resolve, t)),
        TypeDefKind::Result(r) => {
            format!("result<{}, {}>", opt(resolve, &r.ok), opt(resolve, &r.err))
        }
        TypeDefKind::List(t) => format!("list<{}>", ty(resolve, t)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", ty(resolve, k), ty(resolve, v)),
        TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", ty(resolve, t)),
        TypeDefKind::Future(t) => format!("future<{}>", opt(resolve, t)),
        TypeDefKind::Stream(t) => format!("stream<{}>", opt(resolve, t)),
        TypeDefKind::Type(t) => ty(resolve, t),
        TypeDefKind::Unknown => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(wit: &str) -> Vec<u8> {
        let mut resolve = Resolve::default();
        let pkg = resolve.push_str("test.wit", wit).unwrap();
        wit_component::encode(&resolve, pkg).unwrap()
    }

    const V1: &str = "package demo:api@1.0.0;
        interface greet {
            record person { name: string, age: u8 }
            greet: func(who: person) -> string;
        }
        world host { import greet; }";

    #[test]
    fn identical_and_additive_changes_are_compatible() {
        assert!(wit_changes(&package(V1), &package(V1)).unwrap().is_empty());
        let added = V1.replace(
            "greet: func(who: person) -> string;",
            "greet: func(who: person) -> string;\n wave: func();",
        );
        let changes = wit_changes(&package(V1), &package(&added)).unwrap();
        let items: Vec<&str> = changes.iter().map(|c| c.item.as_str()).collect();
        assert_eq!(
            items,
            [
                "interface demo:api@1/greet func wave",
                "world demo:api@1/host import demo:api/greet@1 func wave"
            ]
        );
        assert!(changes.iter().all(|c| c.change == "added" && !c.breaking));
    }

    #[test]
    fn removals_and_type_changes_are_breaking() {
        let changed = V1.replace("age: u8", "age: u16");
        let changes = wit_changes(&package(V1), &package(&changed)).unwrap();
        assert!(changes.iter().all(|c| c.breaking), "{changes:?}");
        assert!(
            changes
                .iter()
                .any(|c| c.item == "interface demo:api@1/greet type person"
                    && c.detail.as_deref()
                        == Some("was `record { name: string, age: u8 }`, now `record { name: string, age: u16 }`")),
            "{changes:?}"
        );
        let removed = V1.replace("greet: func(who: person) -> string;", "");
        let changes = wit_changes(&package(V1), &package(&removed)).unwrap();
        assert!(
            changes.iter().any(|c| c.change == "removed" && c.breaking),
            "{changes:?}"
        );
    }

    #[test]
    fn versions_compare_by_compatibility_track() {
        assert_eq!(track("wasi:cli/run@0.2.12"), "wasi:cli/run@0.2");
        assert_eq!(track("demo:api/x@1.4.0"), "demo:api/x@1");
        assert_eq!(track("demo:api/x@0.0.3"), "demo:api/x@0.0.3");
        assert_eq!(track("demo:api/x"), "demo:api/x");
        // a patch release of the package itself changes nothing
        let patch = V1.replace("@1.0.0", "@1.0.1");
        assert!(
            wit_changes(&package(V1), &package(&patch))
                .unwrap()
                .is_empty()
        );
    }
}
