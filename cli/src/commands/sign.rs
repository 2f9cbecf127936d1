//! `wharf key generate`, `wharf sign`, `wharf verify`: cosign-format signatures stored as
//! OCI 1.1 referrers (and under cosign's `sha256-<hex>.sig` tag where a registry has no
//! referrers API).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use wharf_core::{check_signatures, load_keys, sign_manifest, subject_of};

use super::print_json;
use crate::config::{GlobalArgs, PASSPHRASE_ENV, passphrase, signing_key};
use crate::output::warn;
use crate::target::{parse_remote, resolve};

/// `wharf key …`
#[derive(clap::Subcommand)]
pub enum KeyCommand {
    /// Generate an ECDSA P-256 key pair: NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM).
    #[command(after_help = "\
Examples:
  wharf key generate                 # wharf.key, wharf.pub
  wharf key generate -o release      # release.key, release.pub")]
    Generate {
        /// Base name of the files.
        #[arg(short, long, default_value = "wharf")]
        output: PathBuf,
        /// Encrypt the private key (PKCS#8 PBES2, scrypt + AES-256-CBC) with the passphrase
        /// in the environment variable WHARF_KEY_PASSPHRASE.
        #[arg(long)]
        encrypt: bool,
        /// Print JSON: `{key_id, private_key, public_key}` (the files' paths).
        #[arg(long)]
        json: bool,
    },
}

impl KeyCommand {
    /// Run the subcommand.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let KeyCommand::Generate {
            output,
            encrypt,
            json,
        } = self;
        let passphrase = match (encrypt, passphrase()) {
            (false, _) => None,
            (true, Some(p)) => Some(p),
            (true, None) => bail!("--encrypt needs the passphrase in {PASSPHRASE_ENV}"),
        };
        let private = output.with_extension("key");
        let public = output.with_extension("pub");
        for p in [&private, &public] {
            if p.exists() {
                bail!("`{}` exists; not overwriting a key", p.display());
            }
        }
        let pair = wharf_sign::generate_key(passphrase.as_deref())?;
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&private)
                .with_context(|| format!("failed to create `{}`", private.display()))?;
            f.write_all(pair.private_pem.as_bytes())
                .with_context(|| format!("failed to write `{}`", private.display()))?;
        }
        std::fs::write(&public, &pair.public_pem)
            .with_context(|| format!("failed to write `{}`", public.display()))?;
        let key_id = wharf_sign::key_id(&pair.public_pem)?;
        if json {
            return print_json(&serde_json::json!({
                "key_id": key_id,
                "private_key": private,
                "public_key": public,
            }));
        }
        eprintln!(
            "wrote {} (private, keep it secret) and {}",
            private.display(),
            public.display()
        );
        outln!("{key_id}");
        Ok(ExitCode::SUCCESS)
    }
}

/// `wharf sign`
#[derive(clap::Args)]
#[command(after_help = "\
The signature is stored as an OCI 1.1 referrer of the manifest; where the registry has no
referrers API also under cosign's tag `sha256-<hex>.sig`. Earlier signatures are kept.

Examples:
  wharf sign localhost:5000/demo/app:1.0.0 --key release.key
  wharf sign demo:app@1.0.0 --registry localhost:5000 --key release.key")]
pub struct SignArgs {
    /// What to sign: the manifest the reference resolves to.
    reference: String,
    /// Private key (PKCS#8 PEM; an encrypted one is opened with WHARF_KEY_PASSPHRASE).
    #[arg(long)]
    key: PathBuf,
    /// Print JSON: `{reference, manifest_digest, signature_digest, key_id}`.
    #[arg(long)]
    json: bool,
}

/// `wharf verify`
#[derive(clap::Args)]
#[command(after_help = "\
Exit status: 0 when a trusted key signed exactly the manifest the reference resolves to,
1 otherwise.

Examples:
  wharf verify localhost:5000/demo/app:1.0.0 --key release.pub
  wharf verify demo:app@1.0.0 --registry localhost:5000 --key a.pub --key b.pub --json")]
pub struct VerifyArgs {
    /// What to verify.
    reference: String,
    /// Trusted public keys (SPKI PEM); repeatable.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl SignArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let key = signing_key(&self.key)?;
        let settings = global.settings()?;
        let remote = parse_remote(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        let target = resolve(&client, &remote).await?;
        let subject = subject_of(&client, &target).await?;
        let digest = sign_manifest(&client, &target, subject.clone(), &key).await?;
        if self.json {
            return print_json(&serde_json::json!({
                "reference": target.to_string(),
                "manifest_digest": subject.digest,
                "signature_digest": digest,
                "key_id": key.key_id,
            }));
        }
        eprintln!(
            "signed {} ({}) with key {}",
            target, subject.digest, key.key_id
        );
        outln!("{digest}");
        Ok(ExitCode::SUCCESS)
    }
}

impl VerifyArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let keys = load_keys(&self.keys)?;
        let settings = global.settings()?;
        let remote = parse_remote(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        let target = resolve(&client, &remote).await?;
        let subject = subject_of(&client, &target).await?;
        let report = check_signatures(&client, &target, &subject.digest, &keys, &warn).await?;
        if self.json {
            print_json(&report)?;
        } else {
            for s in &report.signatures {
                match (&s.key_id, &s.error) {
                    (Some(id), _) => outln!("valid signature by {id} ({})", s.source),
                    (None, Some(e)) => outln!("invalid signature ({}): {e}", s.source),
                    (None, None) => {}
                }
            }
        }
        if !report.verified {
            bail!("{}", report.failure());
        }
        if !self.json {
            eprintln!("verified {}", report.reference);
        }
        Ok(ExitCode::SUCCESS)
    }
}
