use std::path::{Path, PathBuf};

use wit_bindgen_core::{Files, WorldGenerator};

use crate::wit::load_wit;
use crate::{ComponentError, Result};

/// Target language of generated guest bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Rust, through `wit-bindgen-rust`; the output needs the `wit-bindgen` crate.
    Rust,
    /// C, through `wit-bindgen-c`: a header, a source file and a component-type object.
    C,
    /// Markdown documentation of the world, through `wit-bindgen-markdown`.
    Markdown,
}

impl Language {
    /// `rust`, `c` or `markdown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::C => "c",
            Language::Markdown => "markdown",
        }
    }
}

/// One generated file: a name relative to the output directory and its contents.
#[derive(Debug, Clone)]
pub struct BindingsFile {
    /// Relative file name, e.g. `greeter.rs`.
    pub name: String,
    /// Contents.
    pub contents: Vec<u8>,
}

fn generator(language: Language) -> Box<dyn WorldGenerator> {
    match language {
        Language::Rust => {
            let opts = wit_bindgen_rust::Opts {
                // bindings for every interface the world uses, also those from deps/
                generate_all: true,
                format: true,
                ..Default::default()
            };
            Box::new(opts.build())
        }
        Language::C => wit_bindgen_c::Opts::default().build(),
        Language::Markdown => wit_bindgen_markdown::Opts::default().build(),
    }
}

/// Generate guest bindings in `language` for `world` (a name or `ns:pkg/world`; may be
/// omitted when the package has exactly one world) of the WIT at `wit_path` (file,
/// directory with `deps/`, or binary WIT package).
///
/// Errors: the WIT does not parse or resolve, the world is ambiguous or unknown, or the
/// generator refuses the world.
pub fn generate_bindings(
    language: Language,
    wit_path: &Path,
    world: Option<&str>,
) -> Result<Vec<BindingsFile>> {
    let mut wit = load_wit(wit_path)?;
    let world_id = wit.resolve.select_world(&[wit.main], world).map_err(|e| {
        ComponentError::upstream(
            format!("failed to select a world in `{}`", wit_path.display()),
            e,
        )
    })?;
    let mut files = Files::default();
    generator(language)
        .generate(&mut wit.resolve, world_id, &mut files)
        .map_err(|e| {
            ComponentError::upstream(
                format!("failed to generate {} bindings", language.as_str()),
                e,
            )
        })?;
    Ok(files
        .iter()
        .map(|(name, contents)| BindingsFile {
            name: name.to_owned(),
            contents: contents.to_vec(),
        })
        .collect())
}

/// Write `files` under `out_dir`, creating it. Returns the paths written.
pub fn write_bindings(files: &[BindingsFile], out_dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |action, path: &Path, source| ComponentError::Io {
        action,
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(out_dir).map_err(|e| io("create directory", out_dir, e))?;
    let mut written = Vec::new();
    for f in files {
        let path = out_dir.join(&f.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("create directory", parent, e))?;
        }
        std::fs::write(&path, &f.contents).map_err(|e| io("write", &path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// For a `build.rs`: generate Rust bindings of `world` from the WIT at `wit_path` into
/// `$OUT_DIR` and tell cargo to rerun when any WIT file read changes. Returns the path
/// of the generated `.rs` file, to `include!` from the crate:
///
/// ```no_run
/// // build.rs
/// wharf_component::generate_rust_bindings_for_build("wit".as_ref(), Some("greeter"))
///     .expect("WIT bindings");
/// // src/lib.rs: include!(concat!(env!("OUT_DIR"), "/greeter.rs"));
/// ```
///
/// Errors as [`generate_bindings`], plus `OUT_DIR` not set (not run by cargo).
pub fn generate_rust_bindings_for_build(wit_path: &Path, world: Option<&str>) -> Result<PathBuf> {
    let out_dir = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| ComponentError::Io {
            action: "find OUT_DIR (is this running from a build script?) for",
            path: wit_path.display().to_string(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
    let (rs, sources) = generate_rust_bindings_into(wit_path, world, &out_dir)?;
    for source in sources {
        println!("cargo:rerun-if-changed={}", source.display());
    }
    Ok(rs)
}

/// What [`generate_rust_bindings_for_build`] does, with an explicit output directory:
/// returns the generated `.rs` file and every WIT file that was read.
pub fn generate_rust_bindings_into(
    wit_path: &Path,
    world: Option<&str>,
    out_dir: &Path,
) -> Result<(PathBuf, Vec<PathBuf>)> {
    let sources = load_wit(wit_path)?.sources;
    let files = generate_bindings(Language::Rust, wit_path, world)?;
    let written = write_bindings(&files, out_dir)?;
    let rs = written
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "rs"))
        .ok_or_else(|| ComponentError::Upstream {
            context: "the Rust generator wrote no .rs file".into(),
            source: "no output".into(),
        })?;
    Ok((rs, sources))
}
