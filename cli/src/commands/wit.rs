use std::path::{Path, PathBuf};

use anyhow::Context as _;
use std::process::ExitCode;

use clap::Subcommand;
use wharf_component::{build_wit_package, load_wit, print_wit};

use super::{FetchLock, fetch_deps, print_json};
use crate::config::GlobalArgs;
use crate::target::{read_input, write_output};

/// `wharf wit …`
#[derive(Subcommand)]
pub enum WitCommand {
    /// Parse and resolve a WIT package; print its packages and worlds.
    #[command(after_help = "\
Examples:
  wharf wit check wit/                 # a directory with deps/, as WASI ships it
  wharf wit check world.wit --json
  wharf wit check package.wasm         # a binary WIT package")]
    Check {
        /// A `.wit` file, a directory (with an optional `deps/`), or a binary WIT package.
        path: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Fetch the packages the directory uses that `deps/` lacks first (`wharf wit
        /// fetch`).
        #[arg(long)]
        fetch: bool,
    },
    /// Print WIT text from WIT sources, a binary WIT package or a component.
    #[command(after_help = "\
Examples:
  wharf wit print wit/
  wharf wit print app.component.wasm   # the WIT the component was built against
  wharf wit print package.wasm")]
    Print {
        /// A `.wit` file or directory, or a `.wasm` WIT package or component (`-` for stdin).
        path: PathBuf,
    },
    /// Encode a WIT package in its binary form.
    #[command(after_help = "\
Examples:
  wharf wit build wit/ -o greeter.wasm
  wharf push greeter.wasm localhost:5000/wharf/greeter:0.1.0")]
    Build {
        /// A `.wit` file or a directory with an optional `deps/`.
        path: PathBuf,
        /// Output file (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Fetch the WIT packages a WIT directory uses that its `deps/` lacks from a registry,
    /// and pin them in the lock file.
    #[command(after_help = "\
Reads the `use`, `import`, `export` and `include` statements of the WIT files at the top of
DIR, and for each package they name that `deps/` does not provide, resolves the package
name on the registry (`--registry`, through its discovery document), fetches the WIT package
pushed there through the verified fetch (trust policy, every digest checked) and writes it
as `deps/<ns>-<name>-<version>/package.wit` (the layout `wkg wit fetch` writes). Packages
the fetched ones use are fetched the same way. Each is pinned by manifest digest in the
lock file's `[[wit]]` entries, and fetched by that digest from then on; `--locked` refuses
to change the lock (CI). The directory must resolve afterwards.

Examples:
  wharf wit fetch --registry localhost:5000                 # wit/, lock in ./wharf.lock
  wharf wit fetch app/wit --locked
  wharf wit check wit/ --fetch && wharf bindgen rust wit/ --world app --out-dir src/bindings")]
    Fetch(FetchArgs),
    /// Format WIT files: indentation, spacing and blank lines, keeping every comment.
    #[command(after_help = "\
Changes whitespace only: every token and every comment (doc comments included) stays in
order, so the files resolve to the same packages; formatting twice changes nothing. Two
spaces per level; one space after `,` and around `->` and `=`; none inside `<…>`, `(…)` and
`use path.{…}`; `name: type` and `ns:pkg` keep their colon as written; the author's line
breaks stay, runs of blank lines become one. A directory is formatted recursively, except
its `deps/` (fetched packages) unless the path is inside one.

Examples:
  wharf wit fmt wit/
  wharf wit fmt --check wit/          # CI: exit 1 with a diff when a file is not formatted
  wharf wit fmt - < api.wit           # stdin to stdout")]
    Fmt {
        /// `.wit` files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write nothing: exit 1, with a unified diff, when a file is not formatted.
        #[arg(long)]
        check: bool,
    },
}

/// `wharf wit fetch`
#[derive(clap::Args)]
pub struct FetchArgs {
    /// The WIT directory.
    #[arg(default_value = "wit")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub lock: FetchLock,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The `.wit` files under `path` (itself when a file), skipping `deps/` directories below
/// it.
fn wit_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("failed to read `{}`", path.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "deps") {
                continue;
            }
            files.extend(wit_files(&p)?);
        } else if p.extension().is_some_and(|e| e == "wit") {
            files.push(p);
        }
    }
    Ok(files)
}

fn format_files(paths: &[PathBuf], check: bool) -> anyhow::Result<ExitCode> {
    let mut stale = 0;
    for root in paths {
        if root.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("failed to read stdin")?;
            out!("{}", wharf_component::format_wit(&text, "stdin")?);
            continue;
        }
        for file in wit_files(root)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("failed to read `{}`", file.display()))?;
            let formatted = wharf_component::format_wit(&text, &file.display().to_string())?;
            if formatted == text {
                continue;
            }
            if check {
                stale += 1;
                let name = file.display().to_string();
                let diff = similar::TextDiff::from_lines(&text, &formatted);
                out!(
                    "{}",
                    diff.unified_diff().context_radius(3).header(&name, &name)
                );
            } else {
                write_output(&file, formatted.as_bytes())?;
                eprintln!("formatted {}", file.display());
            }
        }
    }
    if stale > 0 {
        eprintln!("{stale} file(s) not formatted");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

impl WitCommand {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        match self {
            WitCommand::Fmt { paths, check } => format_files(&paths, check),
            WitCommand::Fetch(a) => {
                let settings = global.settings()?;
                let report = fetch_deps(&a.dir, &a.lock, &settings, a.json).await?;
                if a.json {
                    return print_json(&report);
                }
                Ok(ExitCode::SUCCESS)
            }
            WitCommand::Check { path, json, fetch } => {
                if fetch {
                    let settings = global.settings()?;
                    fetch_deps(
                        &path,
                        &FetchLock {
                            file: None,
                            locked: false,
                        },
                        &settings,
                        json,
                    )
                    .await?;
                }
                let summary = load_wit(&path)?.summary();
                if json {
                    return print_json(&summary);
                }
                outln!("package {}", summary.package);
                for w in &summary.worlds {
                    outln!("  world {w}");
                }
                for i in &summary.interfaces {
                    outln!("  interface {i}");
                }
                for d in &summary.dependencies {
                    outln!("  dependency {d}");
                }
                Ok(ExitCode::SUCCESS)
            }
            WitCommand::Print { path } => {
                let is_wasm = path.as_os_str() == "-"
                    || (path.is_file() && path.extension().is_some_and(|e| e == "wasm"));
                let text = if is_wasm {
                    let bytes = read_input(&path)?;
                    print_wit(&path, Some(&bytes))?
                } else {
                    print_wit(&path, None)?
                };
                out!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            WitCommand::Build { path, output } => {
                let bytes = build_wit_package(&path)?;
                write_output(&output, &bytes)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
