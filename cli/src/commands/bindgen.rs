use std::path::PathBuf;
use std::process::ExitCode;

use wharf_component::{Language, generate_bindings, write_bindings};

/// Target languages.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Lang {
    /// Rust (needs the `wit-bindgen` crate at build time).
    Rust,
    /// C: header, source and component-type object.
    C,
    /// Markdown documentation.
    Markdown,
}

/// `wharf bindgen`
#[derive(clap::Args)]
#[command(after_help = "\
From a build script, call `wharf_component::generate_rust_bindings_for_build` instead.

Examples:
  wharf bindgen rust wit/ --world greeter --out-dir src/bindings
  wharf bindgen c wit/ --out-dir bindings/
  wharf bindgen markdown wit/ --out-dir docs/")]
pub struct Args {
    /// Language to generate.
    #[arg(value_enum)]
    language: Lang,
    /// WIT: a file, a directory with `deps/`, or a binary WIT package.
    wit: PathBuf,
    /// The world (name or `ns:pkg/world`); optional when the package has one.
    #[arg(long)]
    world: Option<String>,
    /// Directory to write into (created).
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
}

impl Args {
    /// Run the subcommand.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let language = match self.language {
            Lang::Rust => Language::Rust,
            Lang::C => Language::C,
            Lang::Markdown => Language::Markdown,
        };
        let files = generate_bindings(language, &self.wit, self.world.as_deref())?;
        for path in write_bindings(&files, &self.out_dir)? {
            outln!("{}", path.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}
