//! `wharf-registry`: serve the registry, or run one garbage-collection pass.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use wharf_registry::config::{Config, FileConfig, Overrides};

/// An OCI Distribution v1.1 registry that understands WebAssembly components.
#[derive(Parser)]
#[command(
    name = "wharf-registry",
    version,
    about,
    after_help = "\
Examples:
  wharf-registry --data-dir ./wharf-data                 # serve on http://127.0.0.1:5000
  wharf-registry --listen 0.0.0.0:5000 --data-dir /var/lib/wharf
  WHARF_REGISTRY_DATA_DIR=/srv/wharf wharf-registry --config /etc/wharf/registry.toml
  wharf-registry gc --dry-run --data-dir ./wharf-data   # what garbage collection would remove"
)]
struct Args {
    /// Address to listen on (default 127.0.0.1:5000; port 0 picks a free one).
    #[arg(long, global = true, env = "WHARF_REGISTRY_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory for metadata.db, blobs/ and uploads/ (default ./wharf-data).
    #[arg(long, global = true, env = "WHARF_REGISTRY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `postgres://…` to keep metadata in PostgreSQL (default: SQLite in the data dir).
    #[arg(
        long,
        global = true,
        env = "WHARF_REGISTRY_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,
    /// `s3://BUCKET[/PREFIX]` to keep blobs in S3-compatible object storage (default:
    /// the data dir); endpoint, region and credentials from AWS_ENDPOINT_URL, AWS_REGION,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_ALLOW_HTTP=true for plain HTTP).
    #[arg(
        long,
        global = true,
        env = "WHARF_REGISTRY_STORAGE_URL",
        value_name = "URL"
    )]
    storage_url: Option<String>,
    /// Prefix before `<namespace>/<name>` for wasm packages (discovery document).
    #[arg(long, global = true, env = "WHARF_REGISTRY_NAMESPACE_PREFIX")]
    namespace_prefix: Option<String>,
    /// `host[:port]` clients should use, announced in the discovery document.
    #[arg(long, global = true, env = "WHARF_REGISTRY_PUBLIC_REGISTRY")]
    public_registry: Option<String>,
    /// TOML config file.
    #[arg(long, global = true, env = "WHARF_REGISTRY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the registry (the default).
    Serve,
    /// Run one garbage-collection pass now, with the configured grace period, and print
    /// what was (or, with --dry-run, would be) removed.
    #[command(after_help = "\
Examples:
  wharf-registry gc --dry-run --data-dir ./wharf-data
  wharf-registry gc --data-dir ./wharf-data --json")]
    Gc {
        /// Only report; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    // plain text, coloured only on a terminal; JSON lines with WHARF_REGISTRY_LOG_FORMAT=json
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WHARF_REGISTRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match std::env::var("WHARF_REGISTRY_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        _ => logs.init(),
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let causes: Vec<String> = e.chain().skip(1).map(ToString::to_string).collect();
            if !causes.is_empty() {
                eprintln!("\nCaused by:");
                for c in causes {
                    eprintln!("    {c}");
                }
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    let config = Config::resolve(
        file,
        Overrides {
            listen: args.listen,
            data_dir: args.data_dir,
            database_url: args.database_url.map(Into::into),
            storage_url: args.storage_url,
            namespace_prefix: args.namespace_prefix,
            public_registry: args.public_registry,
        },
    );
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Gc { dry_run, json } => gc(config, dry_run, json).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let data_dir = config.data_dir.clone();
    let state = wharf_registry::open(config).await?;
    tracing::info!(%addr, data_dir = %data_dir.display(), "wharf-registry listening");
    eprintln!("wharf-registry listening on http://{addr}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    wharf_registry::serve(listener, state, shutdown).await
}

async fn gc(config: Config, dry_run: bool, json: bool) -> anyhow::Result<()> {
    let settings = config.gc.clone();
    let state = wharf_registry::open(config).await?;
    let outcome = state
        .registry
        .collect_garbage(&settings, dry_run)
        .await
        .map_err(|e| anyhow::anyhow!("garbage collection failed: {e}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(());
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    let r = &outcome.report;
    fn texts<T: ToString>(items: &[T]) -> Vec<String> {
        items.iter().map(ToString::to_string).collect()
    }
    let lines = [
        ("manifest", texts(&r.manifests)),
        ("blob link", texts(&r.links)),
        ("blob", texts(&r.blobs)),
        ("upload", texts(&r.uploads)),
        ("orphan blob file", texts(&outcome.orphan_blob_files)),
        ("orphan upload file", texts(&outcome.orphan_upload_files)),
    ];
    let mut total = 0;
    for (what, items) in lines {
        for item in items {
            println!("{verb} {what} {item}");
            total += 1;
        }
    }
    eprintln!(
        "garbage collection {verb} {total} items (grace {}s)",
        settings.grace.as_secs()
    );
    Ok(())
}
