//! `wharf`: the WebAssembly component toolchain and registry client.
//!
//! The binary is glue: each subcommand lives in `commands/<name>.rs` and calls into the
//! library crates (`wharf-component`, `wharf-client`, `wharf-runtime`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` for data on stdout: a closed stdout (`wharf inspect x | head`) ends the
/// output quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::write(&format!("{}\n", format_args!($($arg)*))) };
}

/// `print!` with the same treatment as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write(&format!($($arg)*)) };
}

mod commands;
mod config;
mod manpages;
mod output;
mod progress;
mod target;

use config::GlobalArgs;

/// WebAssembly components: WIT, bindings, componentize, inspect, push, pull, run.
#[derive(Parser)]
#[command(name = "wharf", version, about, long_about = None, after_help = "\
Examples:
  wharf wit check wit/
  wharf componentize target/wasm32-wasip1/release/app.wasm -o app.component.wasm
  wharf push app.component.wasm localhost:5000/demo/app:1.0.0
  wharf run localhost:5000/demo/app:1.0.0 -- --help
  wharf run demo:app@1.0.0 --registry localhost:5000")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse, check, print and encode WIT packages.
    #[command(
        subcommand,
        after_help = "\
Examples:
  wharf wit check wit/
  wharf wit print app.component.wasm
  wharf wit build wit/ -o package.wasm"
    )]
    Wit(commands::wit::WitCommand),
    /// Generate guest bindings (Rust, C, Markdown) from WIT.
    Bindgen(commands::bindgen::Args),
    /// Turn a core module into a component (with the WASI preview1 adapter).
    Componentize(commands::componentize::Args),
    /// Show what a wasm file or a pushed package is: kind, world, imports, exports, metadata.
    Inspect(commands::inspect::Args),
    /// Publish a wasm file to a registry as a CNCF Wasm OCI artifact.
    Push(commands::push::Args),
    /// Fetch a package from a registry, checking every digest.
    Pull(commands::pull::Args),
    /// Run a command component (a file or a package) with wasmtime and WASI 0.2 or 0.3.
    Run(commands::run::Args),
    /// Serve a wasi:http/proxy component (a file or a package) over HTTP.
    Serve(commands::serve::Args),
    /// Generate signing keys.
    #[command(subcommand)]
    Key(commands::sign::KeyCommand),
    /// Sign a pushed package (a Sigstore bundle as cosign v3 writes, or `--format legacy`),
    /// stored as an OCI referrer.
    Sign(commands::sign::SignArgs),
    /// Check that a trusted key or keyless identity signed exactly the manifest a
    /// reference resolves to (Sigstore bundles and legacy cosign signatures).
    Verify(commands::sign::VerifyArgs),
    /// Check a Sigstore bundle for a file or digest, as cosign verify-blob does: exit 0
    /// verified, 1 not verified, 2 error.
    VerifyBlob(commands::sign::VerifyBlobArgs),
    /// A registry's release log: `wharf log verify REGISTRY` audits it.
    #[command(subcommand)]
    Log(commands::log::LogCommand),
    /// Check a component against a policy (imports, exports, world, size, licences,
    /// signatures, SBOM) for CI: exit 0 pass, 1 violation, 2 error.
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
    /// Resolve the dependencies in wharf.toml and pin their digests in wharf.lock.
    Lock(commands::project::LockArgs),
    /// Pull the dependencies pinned in wharf.lock, by digest.
    Fetch(commands::project::FetchArgs),
    /// Check (WIT semver compatibility, signing, SBOM) and push the package of wharf.toml.
    Publish(commands::project::PublishArgs),
    /// Print the software bill of materials (CycloneDX) of a file or a pushed package.
    Sbom(commands::sbom::Args),
    /// Mark a version yanked (ranges skip it; exact pins still work, with a warning).
    Yank(commands::yank::Args),
    /// List the versions of a package with their digests, yanks and signatures.
    Tags(commands::tags::Args),
    /// Find packages in a registry by text or by an interface they export or import.
    Search(commands::search::Args),
    /// Delete a tag, or a manifest by digest, from a registry (asks first).
    Delete(commands::delete::Args),
    /// Copy an artifact to another repository or registry, with its signatures, SBOMs and
    /// other referrers.
    Copy(commands::copy::Args),
    /// Compose components (files, references or packages) into one.
    #[command(subcommand)]
    Compose(commands::compose::ComposeCommand),
    /// Check credentials for a registry and store them where Docker keeps them.
    Login(commands::login::LoginArgs),
    /// Remove stored credentials for a registry.
    Logout(commands::login::LogoutArgs),
    /// Print a shell completion script (clap_complete).
    #[command(after_help = "\
Examples:
  wharf completions bash > ~/.local/share/bash-completion/completions/wharf
  wharf completions zsh > ~/.zfunc/_wharf
  wharf completions fish > ~/.config/fish/completions/wharf.fish")]
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (roff, clap_mangen): `wharf.1` on stdout, or one page per
    /// command into a directory.
    #[command(after_help = "\
Examples:
  wharf man | man -l -
  wharf man --out-dir ~/.local/share/man/man1 && man wharf-push")]
    Man {
        /// Write `wharf.1` and `wharf-<command>.1` for every command into this directory.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("WHARF_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return report(anyhow::Error::new(e).context("failed to start the async runtime"));
        }
    };
    let handles_ctrl_c = matches!(cli.command, Command::Serve(_));
    let result = runtime.block_on(async {
        let work = async {
            match cli.command {
                Command::Wit(c) => c.run(&cli.global).await,
                Command::Bindgen(a) => a.run(&cli.global).await,
                Command::Componentize(a) => a.run(),
                Command::Inspect(a) => a.run(&cli.global).await,
                Command::Push(a) => a.run(&cli.global).await,
                Command::Pull(a) => a.run(&cli.global).await,
                Command::Run(a) => a.run(&cli.global).await,
                Command::Serve(a) => a.run(&cli.global).await,
                Command::Key(c) => c.run(),
                Command::Yank(a) => a.run(&cli.global).await,
                Command::Tags(a) => a.run(&cli.global).await,
                Command::Search(a) => a.run(&cli.global).await,
                Command::Delete(a) => a.run(&cli.global).await,
                Command::Copy(a) => a.run(&cli.global).await,
                Command::Compose(c) => c.run(&cli.global).await,
                Command::Sbom(a) => a.run(&cli.global).await,
                Command::Lock(a) => a.run(&cli.global).await,
                Command::Fetch(a) => a.run(&cli.global).await,
                Command::Publish(a) => a.run(&cli.global).await,
                Command::Policy(c) => Ok(c.run(&cli.global).await),
                Command::Sign(a) => a.run(&cli.global).await,
                Command::Verify(a) => a.run(&cli.global).await,
                Command::VerifyBlob(a) => Ok(a.run()),
                Command::Log(c) => c.run(&cli.global).await,
                Command::Login(a) => a.run(&cli.global).await,
                Command::Logout(a) => a.run().await,
                Command::Completions { shell } => {
                    use clap::CommandFactory as _;
                    clap_complete::generate(
                        shell,
                        &mut Cli::command(),
                        "wharf",
                        &mut std::io::stdout(),
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Command::Man { out_dir } => man_pages(out_dir.as_deref()),
            }
        };
        // Ctrl-C drops the running command, so its temporary files (a half-downloaded
        // layer) are removed by their destructors instead of left behind; `serve` takes
        // Ctrl-C itself, as its way to stop (requests in flight finish)
        if handles_ctrl_c {
            return work.await;
        }
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => report(e),
    }
}

/// Print `error: …` and the `Caused by:` chain on stderr (the wasm-tools form), then a
/// `hint:` where the cause is one a person can act on; exit 1. A failed request's
/// transport chain (hyper, sockets) is cut to its innermost cause.
fn report(e: anyhow::Error) -> ExitCode {
    // messages may carry what a registry said: escape control characters
    // (arguments after `--` are a guest's, not wharf's)
    let json = std::env::args()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if !json {
        eprintln!("error: {}", output::sanitize(&e.to_string()));
    }
    let mut causes: Vec<String> = Vec::new();
    let mut hint = None;
    for c in e.chain().skip(1) {
        let text = output::sanitize(&c.to_string()).into_owned();
        match c.downcast_ref::<wharf_client::ClientError>() {
            Some(client @ wharf_client::ClientError::Transport { .. }) => {
                let innermost =
                    std::iter::successors(std::error::Error::source(client), |e| e.source())
                        .last()
                        .map(|e| output::sanitize(&e.to_string()).into_owned());
                causes.push(match innermost {
                    Some(why) => format!("{text}: {why}"),
                    None => text,
                });
                hint = hint.or_else(|| client_hint(client));
                break;
            }
            Some(client) => {
                hint = hint.or_else(|| client_hint(client));
                causes.push(text);
            }
            None => causes.push(text),
        }
    }
    if let Some(client) = e.downcast_ref::<wharf_client::ClientError>() {
        hint = hint.or_else(|| client_hint(client));
    }
    causes.dedup();
    if json {
        // with --json an error is one JSON object on stderr, with a stable `code`
        let doc = serde_json::json!({
            "error": {
                "code": error_code(&e),
                "message": e.to_string(),
                "causes": causes,
                "hint": hint,
            }
        });
        eprintln!("{doc}");
        return ExitCode::FAILURE;
    }
    if !causes.is_empty() {
        eprintln!("\nCaused by:");
        for (i, c) in causes.iter().enumerate() {
            if causes.len() == 1 {
                eprintln!("    {c}");
            } else {
                eprintln!("    {i}: {c}");
            }
        }
    }
    if let Some(h) = hint {
        eprintln!("\nhint: {h}");
    }
    ExitCode::FAILURE
}

/// The stable `code` of an error under `--json`, from the first registry-client error in
/// its chain: `connection-failed`, `timeout`, `unauthorized` (401), `denied` (403),
/// `not-found` (404), `registry-error` (another status), `digest-mismatch`,
/// `size-mismatch`, `too-large`, `protocol`, `no-matching-version`, `io`; else `error`.
fn error_code(e: &anyhow::Error) -> &'static str {
    use wharf_client::ClientError;
    let Some(client) = e.chain().find_map(|c| c.downcast_ref::<ClientError>()) else {
        return "error";
    };
    match client {
        ClientError::Transport { source, .. } if source.is_timeout() => "timeout",
        ClientError::Transport { .. } => "connection-failed",
        ClientError::Status { status: 401, .. } => "unauthorized",
        ClientError::Status { status: 403, .. } => "denied",
        ClientError::Status { status: 404, .. } => "not-found",
        ClientError::Status { .. } => "registry-error",
        ClientError::DigestMismatch { .. } => "digest-mismatch",
        ClientError::SizeMismatch { .. } => "size-mismatch",
        ClientError::ManifestTooLarge { .. } => "too-large",
        ClientError::Protocol { .. } => "protocol",
        ClientError::NoMatchingVersion { .. } => "no-matching-version",
        ClientError::Io { .. } => "io",
        ClientError::CredentialHelper { .. } => "credential-helper",
        _ => "error",
    }
}

/// `wharf man`: the top page on stdout, or every page into `dir` (created when missing).
fn man_pages(dir: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    use clap::CommandFactory as _;
    match dir {
        None => {
            let mut cmd = Cli::command().disable_help_subcommand(true);
            cmd.build();
            output::write(&String::from_utf8_lossy(&manpages::render(&cmd)?));
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create `{}`", dir.display()))?;
            manpages::generate_to(Cli::command(), dir).with_context(|| {
                format!("failed to write the manual pages into `{}`", dir.display())
            })?;
            eprintln!("wrote the manual pages into {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a person can do about `e`, when the cause is theirs to act on.
fn client_hint(e: &wharf_client::ClientError) -> Option<String> {
    use wharf_client::ClientError;
    let host = |url: &str| {
        url.split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or(url)
            .to_owned()
    };
    match e {
        ClientError::Transport { url, source } if source.is_connect() => Some(format!(
            "nothing answers at {}: is the registry running (`wharf-registry --data-dir DIR`), \
             and is the host and port right?",
            host(url)
        )),
        ClientError::Transport { url, source } if source.is_timeout() => Some(format!(
            "{} did not answer in time: check the host, the network, or a proxy in between",
            host(url)
        )),
        ClientError::Status {
            url, status: 401, ..
        } => Some(format!(
            "log in first: `wharf login {}` (or set credentials in the Docker config)",
            host(url)
        )),
        ClientError::Status {
            url, status: 403, ..
        } => Some(format!(
            "{} knows who you are, but your account may not do this here: ask its operator for access",
            host(url)
        )),
        ClientError::CredentialHelper { helper, .. } => Some(format!(
            "the Docker config (`credHelpers`, else `credsStore`) names `{helper}`: install              `docker-credential-{helper}` on PATH, or remove it from the config"
        )),
        _ => None,
    }
}
