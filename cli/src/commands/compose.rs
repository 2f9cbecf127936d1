//! `wharf compose`: compose components whose parts are files, references or package names.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use wharf_component::{Composed, Part};
use wharf_core::BlobCache;

use super::print_json;
use crate::config::{GlobalArgs, Settings};
use crate::output::warn;
use crate::target::{Target, VerifyFlags, write_output};

/// `wharf compose`
#[derive(clap::Subcommand)]
pub enum ComposeCommand {
    /// Plug components into the imports of a socket component, as `wac plug` does: each
    /// import of the socket that a plug exports is satisfied by it.
    #[command(after_help = "\
Each part is a file, a reference or a package name; references and packages are fetched
through the verified fetch (the trust policy, every digest checked), and a package that
`wharf.lock` in the current directory pins is fetched by its pinned digest. An import of the socket
is satisfied by the first plug that exports an item of the same name (an interface such as
`wharf:greeter/greet@0.1.0`); the plugs' own imports are wired the same way, and what no part
exports stays an import of the result. A plug that exports nothing the socket imports is an
error. The result is validated; its imports and exports are printed.

Composition uses wasm-compose of wasm-tools 0.254 (the WAC crates need another wasm-tools
line).

Examples:
  wharf compose plug app.wasm --plug greeter.wasm -o composed.wasm
  wharf compose plug localhost:5000/demo/app:1.0.0 --plug wharf:greeter@0.1.0 -o composed.wasm
  wharf compose plug app.wasm --plug a.wasm --plug b.wasm -o - | wharf inspect -")]
    Plug(PlugArgs),
    /// Compose a root component as a wasm-compose configuration document says
    /// (`wasm-tools compose -c`), its dependency paths may be references or package names.
    #[command(after_help = "\
The document is wasm-compose's YAML: `dependencies` maps an import name to a component
(`path:` a file relative to the document, or here also a reference or package name, fetched
through the verified fetch), `instantiations` gives explicit arguments, `search-paths` lists
directories searched for `<import name>.wasm`.

Example document (compose.yml):
  dependencies:
    wharf:greeter/greet@0.1.0:
      path: wharf:greeter@0.1.0

Examples:
  wharf compose config compose.yml app.wasm -o composed.wasm --registry localhost:5000")]
    Config(ConfigArgs),
}

/// `wharf compose plug`
#[derive(clap::Args)]
pub struct PlugArgs {
    /// The socket: a component file, a reference or a package name.
    socket: String,
    /// A component to plug in (repeatable).
    #[arg(long = "plug", required = true, value_name = "PLUG")]
    plugs: Vec<String>,
    #[command(flatten)]
    out: OutputFlags,
}

/// `wharf compose config`
#[derive(clap::Args)]
pub struct ConfigArgs {
    /// The wasm-compose configuration document (YAML).
    #[arg(value_name = "DOCUMENT")]
    document: PathBuf,
    /// The root component: a file, a reference or a package name.
    root: String,
    #[command(flatten)]
    out: OutputFlags,
}

/// Where both ways of composing write, and how parts are verified.
#[derive(clap::Args)]
pub struct OutputFlags {
    /// Output file (`-` for stdout).
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    verify: VerifyFlags,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    output: PathBuf,
    size: u64,
    digest: wharf_oci::Digest,
    imports: Vec<String>,
    exports: Vec<String>,
    plugged: Vec<Plugged>,
}

#[derive(Serialize)]
struct Plugged {
    import: String,
    plug: String,
}

/// Parts fetched from registries live here for the composition's length.
struct Fetched {
    dir: tempfile::TempDir,
    count: usize,
    /// `wharf.lock` of the current directory, when there is one.
    lock: Option<wharf_core::project::LockFile>,
}

impl Fetched {
    fn new() -> anyhow::Result<Self> {
        Ok(Fetched {
            dir: tempfile::tempdir().context("failed to create a temporary directory")?,
            count: 0,
            lock: wharf_core::project::LockFile::load(std::path::Path::new("wharf.lock"))?,
        })
    }

    /// `arg` as a part: an existing file as it is, a reference or package name fetched
    /// (trust policy, digests) into the temporary directory.
    async fn part(
        &mut self,
        arg: &str,
        settings: &Settings,
        verify: VerifyFlags,
    ) -> anyhow::Result<Part> {
        let path = match Target::parse(arg, settings)? {
            Target::File(path) => path,
            Target::Remote(remote) => {
                // a package wharf.lock pins is fetched by its pinned digest
                let remote = wharf_core::lock::pinned(self.lock.as_ref(), remote);
                let client = settings.client(Some(remote.registry()))?;
                let cache = BlobCache::new(&settings.cache_dir);
                let fetched = wharf_core::fetch_verified(
                    &client,
                    &remote,
                    &verify.policy(&settings.trust),
                    verify.mode(),
                    &cache,
                    &warn,
                )
                .await?;
                self.count += 1;
                let path = self.dir.path().join(format!("part{}.wasm", self.count));
                std::fs::write(&path, &fetched.package.wasm)
                    .with_context(|| format!("failed to write `{}`", path.display()))?;
                path
            }
        };
        Ok(Part {
            name: arg.to_owned(),
            path,
        })
    }
}

impl ComposeCommand {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let mut fetched = Fetched::new()?;
        let (composed, out) = match self {
            ComposeCommand::Plug(a) => {
                let verify = a.out.verify;
                let socket = fetched.part(&a.socket, &settings, verify).await?;
                let mut plugs = Vec::new();
                for p in &a.plugs {
                    plugs.push(fetched.part(p, &settings, verify).await?);
                }
                (wharf_component::plug(&socket, &plugs)?, a.out)
            }
            ComposeCommand::Config(a) => {
                let verify = a.out.verify;
                let mut config = wharf_component::read_compose_config(&a.document)?;
                let dir = config.dir.clone();
                for dep in config.dependencies.values_mut() {
                    dep.path = resolve_dependency(&dir, &dep.path, &mut fetched, &settings, verify)
                        .await?;
                }
                let root = fetched.part(&a.root, &settings, verify).await?;
                (wharf_component::compose_with_config(&root, &config)?, a.out)
            }
        };
        write_output(&out.output, &composed.bytes)?;
        report(&composed, out.output, out.json)
    }
}

/// A dependency path of a configuration document: a file relative to `dir` as it is,
/// else a reference or package name fetched.
async fn resolve_dependency(
    dir: &Path,
    path: &Path,
    fetched: &mut Fetched,
    settings: &Settings,
    verify: VerifyFlags,
) -> anyhow::Result<PathBuf> {
    let local = dir.join(path);
    if local.exists() {
        return Ok(local);
    }
    let arg = path.to_string_lossy();
    Ok(fetched
        .part(&arg, settings, verify)
        .await
        .with_context(|| {
            format!("dependency `{arg}` is neither a file next to the document nor a package")
        })?
        .path)
}

fn report(composed: &Composed, output: PathBuf, json: bool) -> anyhow::Result<ExitCode> {
    let r = Report {
        size: composed.bytes.len() as u64,
        digest: wharf_oci::Digest::sha256_of(&composed.bytes),
        imports: composed.imports.clone(),
        exports: composed.exports.clone(),
        plugged: composed
            .plugged
            .iter()
            .map(|(import, plug)| Plugged {
                import: import.clone(),
                plug: plug.clone(),
            })
            .collect(),
        output,
    };
    if json {
        return print_json(&r);
    }
    for p in &r.plugged {
        eprintln!("plugged {} with {}", p.import, p.plug);
    }
    eprintln!(
        "composed {} bytes ({}) -> {}\n  imports: {}\n  exports: {}",
        r.size,
        r.digest,
        r.output.display(),
        if r.imports.is_empty() {
            "none".to_owned()
        } else {
            r.imports.join(", ")
        },
        r.exports.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
