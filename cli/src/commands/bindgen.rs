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
  wharf bindgen markdown wit/ --out-dir docs/
  wharf bindgen rust wit/ --world greeter --out-dir src/bindings --check   # in CI")]
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
    /// Write nothing: exit 1, with a unified diff, when the files in `--out-dir` are not
    /// what the WIT generates now (exit 0 when they are).
    #[arg(long)]
    check: bool,
    /// Fetch the packages the WIT directory uses that its `deps/` lacks first (`wharf wit
    /// fetch`, with `--registry`); with `--locked`, only as the lock file pins them.
    #[arg(long)]
    fetch: bool,
    #[command(flatten)]
    lock: super::FetchLock,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &crate::config::GlobalArgs) -> anyhow::Result<ExitCode> {
        if self.fetch {
            super::fetch_deps(&self.wit, &self.lock, &global.settings()?, false).await?;
        }
        let language = match self.language {
            Lang::Rust => Language::Rust,
            Lang::C => Language::C,
            Lang::Markdown => Language::Markdown,
        };
        let files = generate_bindings(language, &self.wit, self.world.as_deref())?;
        if self.check {
            let mut stale = 0;
            for f in &files {
                let path = self.out_dir.join(&f.name);
                let on_disk = std::fs::read(&path).unwrap_or_default();
                if on_disk == f.contents {
                    continue;
                }
                stale += 1;
                let (old, new) = (
                    String::from_utf8_lossy(&on_disk),
                    String::from_utf8_lossy(&f.contents),
                );
                let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
                outln!(
                    "{}",
                    diff.unified_diff().context_radius(3).header(
                        &format!("{} (on disk)", path.display()),
                        &format!("{} (generated)", path.display())
                    )
                );
            }
            if stale > 0 {
                eprintln!(
                    "error: {stale} of {} bindings files in `{}` are not what `{}` generates now; run without `--check` to write them",
                    files.len(),
                    self.out_dir.display(),
                    self.wit.display()
                );
                return Ok(ExitCode::FAILURE);
            }
            eprintln!(
                "{} bindings files in `{}` are up to date",
                files.len(),
                self.out_dir.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        for path in write_bindings(&files, &self.out_dir)? {
            outln!("{}", path.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}
