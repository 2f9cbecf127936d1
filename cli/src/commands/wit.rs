use std::path::PathBuf;
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

impl WitCommand {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        match self {
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
