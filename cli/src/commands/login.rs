use std::io::Read as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use wharf_client::{
    Client, ClientConfig, Credentials, DockerConfig, PlainHttp, write_docker_credentials,
};

use crate::config::GlobalArgs;

/// `wharf login`
#[derive(clap::Args)]
#[command(after_help = "\
Credentials are checked against the registry, then stored where Docker keeps them
($DOCKER_CONFIG/config.json, else ~/.docker/config.json), readable by you only.

Examples:
  echo \"$PASSWORD\" | wharf login localhost:5000 -u alice --password-stdin
  wharf login registry.example.com -u alice --password-stdin < token.txt")]
pub struct LoginArgs {
    /// The registry, `host[:port]`.
    registry: String,
    /// User name.
    #[arg(short, long)]
    username: String,
    /// Read the password from stdin (recommended: it stays out of shell history and `ps`).
    #[arg(long)]
    password_stdin: bool,
    /// The password (prefer --password-stdin).
    #[arg(short, long, conflicts_with = "password_stdin")]
    password: Option<String>,
}

/// `wharf logout`
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  wharf logout localhost:5000")]
pub struct LogoutArgs {
    /// The registry, `host[:port]`.
    registry: String,
}

fn docker_config_path() -> anyhow::Result<std::path::PathBuf> {
    DockerConfig::default_path()
        .context("cannot tell where the Docker config lives (no home directory, no DOCKER_CONFIG)")
}

impl LoginArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let password = match (self.password, self.password_stdin) {
            (Some(p), _) => p,
            (None, true) => {
                let mut p = String::new();
                std::io::stdin()
                    .read_to_string(&mut p)
                    .context("failed to read the password from stdin")?;
                p.trim_end_matches(['\n', '\r']).to_owned()
            }
            (None, false) => bail!("give the password with --password-stdin (or --password)"),
        };
        if password.is_empty() {
            bail!("the password is empty");
        }
        let creds = Credentials {
            username: self.username.clone(),
            password,
        };
        let mut credentials = DockerConfig::default();
        credentials.insert(&self.registry, creds.clone());
        let plain_http = if global.plain_http {
            PlainHttp::Always
        } else {
            PlainHttp::Loopback
        };
        let client = Client::new(ClientConfig {
            plain_http,
            credentials,
            ..ClientConfig::default()
        })?;
        client
            .check_login(&self.registry)
            .await
            .with_context(|| format!("login to {} as {} failed", self.registry, self.username))?;
        let path = docker_config_path()?;
        write_docker_credentials(&path, &self.registry, Some(&creds))?;
        eprintln!(
            "logged in to {} as {} (credentials in {})",
            self.registry,
            self.username,
            path.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

impl LogoutArgs {
    /// Run the subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let path = docker_config_path()?;
        write_docker_credentials(&path, &self.registry, None)?;
        eprintln!("logged out of {}", self.registry);
        Ok(ExitCode::SUCCESS)
    }
}
