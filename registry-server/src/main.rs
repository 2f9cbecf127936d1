//! `wharf-registry`: serve the registry.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use wharf_registry::config::{Config, FileConfig, Overrides};

/// An OCI Distribution v1.1 registry that understands WebAssembly components.
#[derive(Parser)]
#[command(
    name = "wharf-registry",
    version,
    about,
    after_help = "\
Examples:
  wharf-registry --data-dir ./wharf-data                 # http://127.0.0.1:5000
  wharf-registry --listen 0.0.0.0:5000 --data-dir /var/lib/wharf
  WHARF_REGISTRY_DATA_DIR=/srv/wharf wharf-registry --config /etc/wharf/registry.toml"
)]
struct Args {
    /// Address to listen on (default 127.0.0.1:5000; port 0 picks a free one).
    #[arg(long, env = "WHARF_REGISTRY_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory for metadata.db, blobs/ and uploads/ (default ./wharf-data).
    #[arg(long, env = "WHARF_REGISTRY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Prefix before `<namespace>/<name>` for wasm packages (discovery document).
    #[arg(long, env = "WHARF_REGISTRY_NAMESPACE_PREFIX")]
    namespace_prefix: Option<String>,
    /// `host[:port]` clients should use, announced in the discovery document.
    #[arg(long, env = "WHARF_REGISTRY_PUBLIC_REGISTRY")]
    public_registry: Option<String>,
    /// TOML config file.
    #[arg(long, env = "WHARF_REGISTRY_CONFIG")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WHARF_REGISTRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info")),
        )
        .with_writer(std::io::stderr)
        .init();
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
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
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
            namespace_prefix: args.namespace_prefix,
            public_registry: args.public_registry,
        },
    );
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
