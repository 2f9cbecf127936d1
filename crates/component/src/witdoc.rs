//! What a package offers and asks for, for people: the interfaces it exports (or a WIT
//! package defines) as documentation, each function with its signature as WIT writes it
//! and its doc comments, each type with its members; and the WASI capabilities its imports
//! ask for, in plain words.
//!
//! The documentation is read from the WIT text wit-component prints for a component or a
//! WIT package (what the registry's index keeps), parsed with `wit-parser`.

use serde::Serialize;
use wit_parser::{
    Docs, Function, FunctionKind, Handle, InterfaceId, Resolve, Type, TypeDefKind, TypeId,
};

use crate::ComponentError;

/// One function of an interface (or a resource's method, static function or constructor).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FunctionDoc {
    /// Its name (a method's name without the resource).
    pub name: String,
    /// Its type as WIT writes it: `func(name: string) -> string`, `async func()`, …
    pub signature: String,
    /// Its doc comment.
    pub docs: Option<String>,
}

/// One type of an interface.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TypeDoc {
    /// Its name.
    pub name: String,
    /// `record`, `variant`, `enum`, `flags`, `resource` or `type` (an alias).
    pub kind: &'static str,
    /// Its members as WIT writes them (`name: string`, `closed`, `pending(u32)`), or the
    /// aliased type.
    pub members: Vec<String>,
    /// A resource's methods, static functions and constructor.
    pub functions: Vec<FunctionDoc>,
    /// Its doc comment.
    pub docs: Option<String>,
}

/// One interface, documented.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct InterfaceDoc {
    /// Its qualified name, `ns:pkg/name@version`.
    pub name: String,
    /// Its doc comment.
    pub docs: Option<String>,
    /// Its freestanding functions.
    pub functions: Vec<FunctionDoc>,
    /// Its types.
    pub types: Vec<TypeDoc>,
}

fn docs(d: &Docs) -> Option<String> {
    d.contents
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The WIT name of a built-in type; `None` for a type definition (`Type::Id`).
pub(crate) fn primitive_name(t: &Type) -> Option<&'static str> {
    Some(match t {
        Type::Bool => "bool",
        Type::U8 => "u8",
        Type::U16 => "u16",
        Type::U32 => "u32",
        Type::U64 => "u64",
        Type::S8 => "s8",
        Type::S16 => "s16",
        Type::S32 => "s32",
        Type::S64 => "s64",
        Type::F32 => "f32",
        Type::F64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::ErrorContext => "error-context",
        Type::Id(_) => return None,
    })
}

/// `t` as WIT writes it.
fn type_name(resolve: &Resolve, t: &Type) -> String {
    match (primitive_name(t), t) {
        (Some(name), _) => name.to_owned(),
        (None, Type::Id(id)) => typedef_name(resolve, *id),
        (None, _) => String::new(),
    }
}

fn typedef_name(resolve: &Resolve, id: TypeId) -> String {
    let def = &resolve.types[id];
    match &def.name {
        Some(name) => name.clone(),
        None => kind_name(resolve, &def.kind),
    }
}

/// A type definition's structure as WIT writes it (`list<string>`), whatever its name.
fn kind_name(resolve: &Resolve, kind: &TypeDefKind) -> String {
    let inner = |t: &Type| type_name(resolve, t);
    let maybe = |t: &Option<Type>| t.as_ref().map(inner);
    match kind {
        TypeDefKind::List(t) => format!("list<{}>", inner(t)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", inner(k), inner(v)),
        TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", inner(t)),
        TypeDefKind::Option(t) => format!("option<{}>", inner(t)),
        TypeDefKind::Result(r) => match (maybe(&r.ok), maybe(&r.err)) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{ok}>"),
            (None, Some(err)) => format!("result<_, {err}>"),
            (Some(ok), Some(err)) => format!("result<{ok}, {err}>"),
        },
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types.iter().map(inner).collect::<Vec<_>>().join(", ")
        ),
        TypeDefKind::Handle(Handle::Own(r)) => typedef_name(resolve, *r),
        TypeDefKind::Handle(Handle::Borrow(r)) => format!("borrow<{}>", typedef_name(resolve, *r)),
        TypeDefKind::Future(t) => match maybe(t) {
            Some(t) => format!("future<{t}>"),
            None => "future".into(),
        },
        TypeDefKind::Stream(t) => match maybe(t) {
            Some(t) => format!("stream<{t}>"),
            None => "stream".into(),
        },
        TypeDefKind::Type(t) => inner(t),
        other => other.as_str().to_owned(),
    }
}

fn function_doc(resolve: &Resolve, f: &Function) -> FunctionDoc {
    let is_async = matches!(
        f.kind,
        FunctionKind::AsyncFreestanding
            | FunctionKind::AsyncMethod(_)
            | FunctionKind::AsyncStatic(_)
    );
    // a method's first parameter is `self`, which WIT does not write
    let skip = usize::from(matches!(
        f.kind,
        FunctionKind::Method(_) | FunctionKind::AsyncMethod(_)
    ));
    let params: Vec<String> = f
        .params
        .iter()
        .skip(skip)
        .map(|p| format!("{}: {}", p.name, type_name(resolve, &p.ty)))
        .collect();
    let result = match (&f.kind, &f.result) {
        (FunctionKind::Constructor(_), _) | (_, None) => String::new(),
        (_, Some(t)) => format!(" -> {}", type_name(resolve, t)),
    };
    let prefix = match f.kind {
        FunctionKind::Static(_) | FunctionKind::AsyncStatic(_) => "static ",
        _ => "",
    };
    let signature = match f.kind {
        FunctionKind::Constructor(_) => format!("constructor({})", params.join(", ")),
        _ => format!(
            "{prefix}{}func({}){result}",
            if is_async { "async " } else { "" },
            params.join(", ")
        ),
    };
    FunctionDoc {
        name: f.item_name().to_owned(),
        signature,
        docs: docs(&f.docs),
    }
}

fn resource_of(f: &Function) -> Option<TypeId> {
    match f.kind {
        FunctionKind::Method(id)
        | FunctionKind::AsyncMethod(id)
        | FunctionKind::Static(id)
        | FunctionKind::AsyncStatic(id)
        | FunctionKind::Constructor(id) => Some(id),
        FunctionKind::Freestanding | FunctionKind::AsyncFreestanding => None,
    }
}

fn interface_doc(resolve: &Resolve, id: InterfaceId, name: String) -> InterfaceDoc {
    let iface = &resolve.interfaces[id];
    let mut types = Vec::new();
    for (type_name_, &tid) in &iface.types {
        let def = &resolve.types[tid];
        // `use`d types are documented where they are defined
        if let TypeDefKind::Type(Type::Id(other)) = def.kind
            && resolve.types[other].owner != def.owner
        {
            continue;
        }
        let (kind, members): (&'static str, Vec<String>) = match &def.kind {
            TypeDefKind::Record(r) => (
                "record",
                r.fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, type_name(resolve, &f.ty)))
                    .collect(),
            ),
            TypeDefKind::Variant(v) => (
                "variant",
                v.cases
                    .iter()
                    .map(|c| match &c.ty {
                        Some(t) => format!("{}({})", c.name, type_name(resolve, t)),
                        None => c.name.clone(),
                    })
                    .collect(),
            ),
            TypeDefKind::Enum(e) => ("enum", e.cases.iter().map(|c| c.name.clone()).collect()),
            TypeDefKind::Flags(f) => ("flags", f.flags.iter().map(|c| c.name.clone()).collect()),
            TypeDefKind::Resource => ("resource", Vec::new()),
            other => ("type", vec![kind_name(resolve, other)]),
        };
        let functions = iface
            .functions
            .values()
            .filter(|f| resource_of(f) == Some(tid))
            .map(|f| function_doc(resolve, f))
            .collect();
        types.push(TypeDoc {
            name: type_name_.clone(),
            kind,
            members,
            functions,
            docs: docs(&def.docs),
        });
    }
    InterfaceDoc {
        name,
        docs: docs(&iface.docs),
        functions: iface
            .functions
            .values()
            .filter(|f| resource_of(f).is_none())
            .map(|f| function_doc(resolve, f))
            .collect(),
        types,
    }
}

/// The documentation of the interfaces `names` (qualified, `ns:pkg/iface@version`; a
/// name without a version matches any) in the WIT text `wit`, in the order given; with no
/// names, every named interface of the text's main package. Names the text does not define
/// are left out.
///
/// # Errors
/// [`ComponentError`] when `wit` does not parse.
pub fn interface_docs(wit: &str, names: &[String]) -> Result<Vec<InterfaceDoc>, ComponentError> {
    let mut resolve = Resolve::default();
    let main = resolve
        .push_str("package.wit", wit)
        .map_err(|e| ComponentError::upstream("the WIT does not parse", e))?;
    let named: Vec<(InterfaceId, String)> = resolve
        .interfaces
        .iter()
        .filter_map(|(id, _)| Some((id, resolve.id_of(id)?)))
        .collect();
    let mut out = Vec::new();
    if names.is_empty() {
        // in the package's order (dependencies first, as wit-parser sorts them)
        for &id in resolve.packages[main].interfaces.values() {
            if let Some(name) = resolve.id_of(id) {
                out.push(interface_doc(&resolve, id, name));
            }
        }
        return Ok(out);
    }
    for want in names {
        let found = named.iter().find(|(_, name)| {
            name == want || (!want.contains('@') && name.split('@').next() == Some(want.as_str()))
        });
        if let Some((id, name)) = found {
            out.push(interface_doc(&resolve, *id, name.clone()));
        }
    }
    Ok(out)
}

/// A capability a component asks its host for, in plain words.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Capability {
    /// A stable name: `filesystem`, `network`, `dns`, `http-client`, `environment`,
    /// `stdio`, `terminal`, `exit`, `clock`, `random`, `other`.
    pub id: &'static str,
    /// What it means, for people.
    pub description: String,
    /// The imports that ask for it (versions kept).
    pub interfaces: Vec<String>,
}

/// What WASI interface `base` (`ns:pkg/iface`, unversioned) asks for; `None` for plumbing
/// that grants nothing by itself (`wasi:io/*`, `wasi:http/types`, `wasi:sockets/network`
/// and the like).
fn capability_of(base: &str) -> Option<(&'static str, &'static str)> {
    Some(match base {
        b if b.starts_with("wasi:filesystem/") => (
            "filesystem",
            "Reads and writes files, in the directories the host gives it",
        ),
        "wasi:sockets/tcp"
        | "wasi:sockets/tcp-create-socket"
        | "wasi:sockets/udp"
        | "wasi:sockets/udp-create-socket"
        | "wasi:sockets/types" => (
            "network",
            "Opens network connections (TCP or UDP sockets), where the host allows it",
        ),
        "wasi:sockets/ip-name-lookup" => ("dns", "Looks up host names (DNS)"),
        "wasi:http/outgoing-handler" | "wasi:http/client" => {
            ("http-client", "Makes outgoing HTTP requests")
        }
        "wasi:cli/environment" => (
            "environment",
            "Reads its environment variables, arguments and working directory",
        ),
        "wasi:cli/stdin" | "wasi:cli/stdout" | "wasi:cli/stderr" => (
            "stdio",
            "Reads standard input and writes standard output and error",
        ),
        b if b.starts_with("wasi:cli/terminal-") => {
            ("terminal", "Checks whether it runs in a terminal")
        }
        "wasi:cli/exit" => ("exit", "Ends its process with an exit status"),
        b if b.starts_with("wasi:clocks/") => ("clock", "Reads the time and measures durations"),
        b if b.starts_with("wasi:random/") => ("random", "Uses random numbers"),
        b if b.starts_with("wasi:") => return None,
        _ => return None,
    })
}

/// The capabilities the imports `imports` (world keys, `ns:pkg/iface@version`) ask for,
/// in a fixed order, each with the imports behind it; imports that are not WASI are one
/// `other` capability ("needs … from its host or another component").
pub fn capabilities(imports: &[String]) -> Vec<Capability> {
    const ORDER: [&str; 10] = [
        "filesystem",
        "network",
        "dns",
        "http-client",
        "environment",
        "stdio",
        "terminal",
        "exit",
        "clock",
        "random",
    ];
    let mut found: Vec<Capability> = Vec::new();
    let mut other = Vec::new();
    for import in imports {
        let base = import.split('@').next().unwrap_or(import);
        match capability_of(base) {
            Some((id, description)) => match found.iter_mut().find(|c| c.id == id) {
                Some(c) => c.interfaces.push(import.clone()),
                None => found.push(Capability {
                    id,
                    description: description.to_owned(),
                    interfaces: vec![import.clone()],
                }),
            },
            None if !base.starts_with("wasi:") => other.push(import.clone()),
            None => {}
        }
    }
    found.sort_by_key(|c| ORDER.iter().position(|o| *o == c.id));
    if !other.is_empty() {
        found.push(Capability {
            id: "other",
            description: "Needs interfaces that are not WASI, from its host or another component"
                .to_owned(),
            interfaces: other,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIT: &str = r#"package demo:api@1.0.0;

/// Says hello.
interface greet {
  use types.{mood};
  /// Greets `name`.
  greet: func(name: string, times: option<u32>) -> result<list<string>, mood>;
  ping: async func();
  resource greeter {
    constructor(prefix: string);
    /// Says it.
    say: func(to: borrow<greeter>) -> string;
    make: static func() -> greeter;
  }
}

interface types {
  /// How it feels.
  enum mood { happy, sad }
  record entry { key: string, value: tuple<u8, f64> }
  variant outcome { done, failed(string) }
  flags perms { read, write }
  type names = list<string>;
}
"#;

    #[test]
    fn functions_types_and_docs() {
        let docs = interface_docs(WIT, &[]).unwrap();
        let names: Vec<&str> = docs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["demo:api/types@1.0.0", "demo:api/greet@1.0.0"]);
        let greet = &docs[1];
        assert_eq!(greet.docs.as_deref(), Some("Says hello."));
        assert_eq!(
            greet.functions[0],
            FunctionDoc {
                name: "greet".into(),
                signature: "func(name: string, times: option<u32>) -> result<list<string>, mood>"
                    .into(),
                docs: Some("Greets `name`.".into()),
            }
        );
        assert_eq!(greet.functions[1].signature, "async func()");
        // the used type is documented where it is defined, not here
        assert_eq!(greet.types.len(), 1);
        let r = &greet.types[0];
        assert_eq!((r.name.as_str(), r.kind), ("greeter", "resource"));
        let sigs: Vec<(&str, &str)> = r
            .functions
            .iter()
            .map(|f| (f.name.as_str(), f.signature.as_str()))
            .collect();
        assert_eq!(
            sigs,
            [
                ("constructor", "constructor(prefix: string)"),
                ("say", "func(to: borrow<greeter>) -> string"),
                ("make", "static func() -> greeter"),
            ]
        );
        let types = &docs[0];
        let kinds: Vec<(&str, &str, Vec<String>)> = types
            .types
            .iter()
            .map(|t| (t.name.as_str(), t.kind, t.members.clone()))
            .collect();
        assert_eq!(
            kinds[0],
            ("mood", "enum", vec!["happy".into(), "sad".into()])
        );
        assert_eq!(
            kinds[1],
            (
                "entry",
                "record",
                vec!["key: string".into(), "value: tuple<u8, f64>".into()]
            )
        );
        assert_eq!(
            kinds[2],
            (
                "outcome",
                "variant",
                vec!["done".into(), "failed(string)".into()]
            )
        );
        assert_eq!(
            kinds[3],
            ("perms", "flags", vec!["read".into(), "write".into()])
        );
        assert_eq!(kinds[4], ("names", "type", vec!["list<string>".into()]));
        assert_eq!(types.types[0].docs.as_deref(), Some("How it feels."));
        // by name, with or without the version; unknown names left out
        let picked = interface_docs(
            WIT,
            &[
                "demo:api/types".into(),
                "nope:x/y".into(),
                "demo:api/greet@1.0.0".into(),
            ],
        )
        .unwrap();
        let names: Vec<&str> = picked.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["demo:api/types@1.0.0", "demo:api/greet@1.0.0"]);
        assert!(interface_docs("package broken", &[]).is_err());
    }

    #[test]
    fn capabilities_in_plain_words() {
        let imports: Vec<String> = [
            "wasi:io/streams@0.2.6",
            "wasi:random/random@0.2.6",
            "wasi:filesystem/types@0.2.6",
            "wasi:filesystem/preopens@0.2.6",
            "wasi:cli/environment@0.2.6",
            "wasi:sockets/tcp@0.2.6",
            "wasi:sockets/network@0.2.6",
            "acme:db/query@1.0.0",
            "wasi:http/outgoing-handler@0.2.6",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let caps = capabilities(&imports);
        let ids: Vec<&str> = caps.iter().map(|c| c.id).collect();
        assert_eq!(
            ids,
            [
                "filesystem",
                "network",
                "http-client",
                "environment",
                "random",
                "other"
            ]
        );
        assert_eq!(caps[0].interfaces.len(), 2);
        assert_eq!(caps[5].interfaces, ["acme:db/query@1.0.0"]);
        assert!(capabilities(&["wasi:io/poll@0.2.0".to_owned()]).is_empty());
    }
}
