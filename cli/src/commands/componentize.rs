use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use wharf_component::{AdapterChoice, AdapterKind, ComponentizeOptions, componentize};

use crate::target::{read_input, write_output};

/// `wharf componentize`
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  wharf componentize target/wasm32-wasip1/release/app.wasm -o app.component.wasm
  wharf componentize lib.wasm --wit wit/ --world greeter -o greeter.component.wasm
  wharf componentize lib.wasm --adapter reactor -o lib.component.wasm
  wharf componentize app.wasm --adapter my-adapter.wasm -o app.component.wasm")]
pub struct Args {
    /// The core module (`-` for stdin).
    input: PathBuf,
    /// WIT to embed: a file, a directory with `deps/`, or a binary WIT package.
    #[arg(long)]
    wit: Option<PathBuf>,
    /// The world in --wit.
    #[arg(long, requires = "wit")]
    world: Option<String>,
    /// `command`, `reactor`, `proxy`, or the path of an adapter module. Default: `command`
    /// when the module exports `_start`, else `reactor`.
    #[arg(long)]
    adapter: Option<String>,
    /// Output file (`-` for stdout).
    #[arg(short, long)]
    output: PathBuf,
}

impl Args {
    /// Run the subcommand.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let module = read_input(&self.input)?;
        let adapter = match self.adapter.as_deref() {
            None => AdapterChoice::Auto,
            Some("command") => AdapterChoice::Builtin(AdapterKind::Command),
            Some("reactor") => AdapterChoice::Builtin(AdapterKind::Reactor),
            Some("proxy") => AdapterChoice::Builtin(AdapterKind::Proxy),
            Some(path) => AdapterChoice::Custom(std::fs::read(path).with_context(|| {
                format!(
                    "failed to read adapter `{path}` (built-in adapters: command, reactor, proxy)"
                )
            })?),
        };
        let opts = ComponentizeOptions {
            wit: self.wit.as_deref(),
            world: self.world.as_deref(),
            adapter,
        };
        let what = self.input.display().to_string();
        let out = componentize(&module, &what, &opts)?;
        write_output(&self.output, &out.bytes)?;
        if self.output.as_os_str() != "-" {
            eprintln!(
                "componentized `{what}` ({} adapter{}) -> `{}` ({} bytes)",
                out.adapter.as_deref().unwrap_or("no"),
                out.target
                    .as_deref()
                    .map(|t| format!(", world {t}"))
                    .unwrap_or_default(),
                self.output.display(),
                out.bytes.len()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
