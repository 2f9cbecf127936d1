use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use wharf_component::{build_wit_package, load_wit, print_wit};

use super::print_json;
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
}

impl WitCommand {
    /// Run the subcommand.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            WitCommand::Check { path, json } => {
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
