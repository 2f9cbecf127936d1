//! `wharf key generate`, `wharf sign`, `wharf verify`, `wharf verify-blob`: cosign-format
//! signatures (Sigstore bundles by default, legacy simple signing on request) stored as
//! OCI 1.1 referrers, and Sigstore bundles of plain files checked as cosign's
//! `verify-blob` checks them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use wharf_core::{
    IdentitySpec, SignatureFormat, Signers, check_signatures, sign_manifest, subject_of,
};
use wharf_oci::Digest;
use wharf_sign::Verdict;
use wharf_sign::bundle::Signed;

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
The signature is a Sigstore bundle v0.3 (a DSSE envelope over cosign's in-toto sign
statement naming the manifest digest), stored as an OCI 1.1 referrer of the manifest with
the layout and annotations cosign v3 writes; where the registry has no referrers API it is
listed under the referrers tag `sha256-<hex>`. With `--format legacy`, cosign's simple
signing payload, also under cosign's tag `sha256-<hex>.sig` there. Earlier signatures are
kept. No transparency-log entry is made (as `cosign sign --tlog-upload=false`).

Examples:
  wharf sign localhost:5000/demo/app:1.0.0 --key release.key
  wharf sign demo:app@1.0.0 --registry localhost:5000 --key release.key --format legacy")]
pub struct SignArgs {
    /// What to sign: the manifest the reference resolves to.
    reference: String,
    /// Private key (PKCS#8 PEM; an encrypted one is opened with WHARF_KEY_PASSPHRASE).
    #[arg(long)]
    key: PathBuf,
    /// `bundle`: a Sigstore bundle v0.3, as cosign v3 writes; `legacy`: cosign's simple
    /// signing format (cosign before v3, `--new-bundle-format=false`).
    #[arg(long, value_enum, default_value_t = FormatArg::Bundle)]
    format: FormatArg,
    /// Print JSON: `{reference, manifest_digest, signature_digest, key_id, format}`.
    #[arg(long)]
    json: bool,
}

/// `--format` of `wharf sign`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum FormatArg {
    Bundle,
    Legacy,
}

/// Who may have signed, as cosign's flags name them: keys, or a keyless identity and its
/// OIDC issuer, checked against a Sigstore trusted root.
#[derive(Clone, Debug, clap::Args)]
pub struct SignerFlags {
    /// Trusted public key (SPKI PEM); repeatable.
    #[arg(long = "key")]
    keys: Vec<PathBuf>,
    /// Keyless: the certificate's identity (an email, or a URI such as a CI workflow
    /// `https://github.com/ORG/REPO/.github/workflows/release.yml@refs/tags/v1`).
    #[arg(long, conflicts_with = "certificate_identity_regexp")]
    certificate_identity: Option<String>,
    /// Keyless: the certificate's identity, by regular expression.
    #[arg(long)]
    certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer that vouched for the identity, such as
    /// `https://token.actions.githubusercontent.com`.
    #[arg(long, conflicts_with = "certificate_oidc_issuer_regexp")]
    certificate_oidc_issuer: Option<String>,
    /// Keyless: the OIDC issuer, by regular expression.
    #[arg(long)]
    certificate_oidc_issuer_regexp: Option<String>,
    /// A Sigstore `trusted_root.json` (Fulcio, Rekor, CT log and timestamp authority keys);
    /// default: the Sigstore public-good root built into wharf.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
}

impl SignerFlags {
    /// The signers named; an error when none is.
    fn signers(&self) -> anyhow::Result<Signers> {
        let keyless = [
            &self.certificate_identity,
            &self.certificate_identity_regexp,
            &self.certificate_oidc_issuer,
            &self.certificate_oidc_issuer_regexp,
        ]
        .iter()
        .any(|v| v.is_some());
        let identities = match keyless {
            true => vec![IdentitySpec {
                identity: self.certificate_identity.clone(),
                identity_regexp: self.certificate_identity_regexp.clone(),
                issuer: self.certificate_oidc_issuer.clone(),
                issuer_regexp: self.certificate_oidc_issuer_regexp.clone(),
            }],
            false => Vec::new(),
        };
        if self.keys.is_empty() && identities.is_empty() {
            bail!(
                "name who may have signed: --key PUB, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp]"
            );
        }
        Signers::load(&self.keys, &identities, self.trusted_root.as_deref())
    }
}

/// `wharf verify`
#[derive(clap::Args)]
#[command(after_help = "\
Reads both formats: Sigstore bundles (keyed, or keyless with a Fulcio certificate checked
against the trusted root, its transparency-log entry and timestamps) and cosign's legacy
signatures. A keyed bundle without a log entry is judged by its key, as a legacy signature
is. Attestation bundles (predicates other than cosign's sign statement) are not signatures.

Exit status: 0 when a trusted key or identity signed exactly the manifest the reference
resolves to, 1 otherwise.

Examples:
  wharf verify localhost:5000/demo/app:1.0.0 --key release.pub
  wharf verify demo:app@1.0.0 --registry localhost:5000 --key a.pub --key b.pub --json
  wharf verify ghcr.io/acme/app:1.0.0 \\
      --certificate-identity-regexp '^https://github.com/acme/' \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com")]
pub struct VerifyArgs {
    /// What to verify.
    reference: String,
    #[command(flatten)]
    signers: SignerFlags,
    /// Also require that the registry's release log records the manifest verified (see
    /// `wharf log verify --help`).
    #[arg(long)]
    require_log: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `wharf verify-blob`
#[derive(clap::Args)]
#[command(after_help = "\
Checks a Sigstore bundle (v0.1 to v0.3: a message signature or a DSSE in-toto statement)
for a file or a digest, with cosign verify-blob's flags: the certificate chain to the trusted
root's Fulcio authorities, SCTs, the transparency-log entry (Rekor v1 inclusion proof and
signed entry timestamp, or Rekor v2 inclusion proof to a signed checkpoint), RFC 3161
timestamps inside the certificate's validity, the signature, and the signer's identity and
issuer. Nothing is fetched: the public-good trusted root is built in.

Exit status: 0 verified; 1 not verified (the reason is printed); 2 could not check (an
unreadable file, bundle or trusted root, or no signer named).

Examples:
  wharf verify-blob app.wasm --bundle app.wasm.sigstore.json \\
      --certificate-identity https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0 \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com
  wharf verify-blob sha256:1f0e… --bundle b.json --key release.pub")]
pub struct VerifyBlobArgs {
    /// The signed file, or its digest `sha256:<hex>`.
    artifact: String,
    /// The Sigstore bundle (`*.sigstore.json`).
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    #[command(flatten)]
    signers: SignerFlags,
    /// Accept a keyed bundle without a transparency-log entry (cosign's flag); keyless
    /// bundles always need their entry.
    #[arg(long)]
    insecure_ignore_tlog: bool,
    /// Print JSON: `{artifact, verified, signer, error, content, predicate_type}`.
    #[arg(long)]
    json: bool,
}

impl SignArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let format = match self.format {
            FormatArg::Bundle => SignatureFormat::Bundle,
            FormatArg::Legacy => SignatureFormat::Legacy,
        };
        let key = signing_key(&self.key)?.with_format(format);
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
                "format": format,
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
        let signers = self.signers.signers()?;
        let settings = global.settings()?;
        let remote = parse_remote(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        let target = resolve(&client, &remote).await?;
        let subject = subject_of(&client, &target).await?;
        let report = check_signatures(&client, &target, &subject.digest, &signers, &warn).await?;
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
        if self.require_log
            && let Some(log) = settings
                .trust
                .requiring_log()
                .enforce_log(&client, &target, &subject.digest)
                .await?
            && !self.json
        {
            eprintln!(
                "the release log {} ({} entries) records {}",
                log.origin, log.size, report.reference
            );
        }
        if !self.json {
            eprintln!("verified {}", report.reference);
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl VerifyBlobArgs {
    /// Run the subcommand: exit 0 verified, 1 not verified, 2 could not check.
    pub fn run(self) -> ExitCode {
        let json = self.json;
        match self.check() {
            Ok(code) => code,
            Err(e) => {
                if json {
                    let _ = print_json(&serde_json::json!({
                        "verified": false,
                        "error": format!("{e:#}"),
                    }));
                }
                eprintln!("error: {e}");
                for cause in e.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                ExitCode::from(2)
            }
        }
    }

    fn check(&self) -> anyhow::Result<ExitCode> {
        let mut signers = self.signers.signers()?;
        // cosign verify-blob --key wants the log entry unless told otherwise
        signers.require_tlog = !self.insecure_ignore_tlog;
        let bundle = read_capped(&self.bundle, wharf_sign::bundle::MAX_BUNDLE_BYTES)?;
        let summary = wharf_sign::bundle::summarize(&bundle)
            .with_context(|| format!("`{}`", self.bundle.display()))?;
        let path = std::path::Path::new(&self.artifact);
        let digest: Option<Digest> = match path.exists() {
            true => None,
            false => Some(self.artifact.parse().with_context(|| {
                format!(
                    "`{}` is neither a file nor a digest `sha256:<hex>`",
                    self.artifact
                )
            })?),
        };
        let signed = match &digest {
            Some(d) => Signed::Digest(d),
            None => Signed::Reader(Box::new(
                std::fs::File::open(path)
                    .with_context(|| format!("failed to open `{}`", path.display()))?,
            )),
        };
        let verdict = wharf_sign::bundle::judge_bundle(&bundle, signed, &signers.bundle_trust());
        if self.json {
            print_json(&serde_json::json!({
                "artifact": self.artifact,
                "verified": verdict.key_id().is_some(),
                "signer": verdict.key_id(),
                "error": verdict.reason(),
                "content": summary.content,
                "predicate_type": summary.predicate_type,
            }))?;
        }
        Ok(match verdict {
            Verdict::Verified { key_id } => {
                if !self.json {
                    eprintln!("verified {}: signed by {key_id}", self.artifact);
                }
                ExitCode::SUCCESS
            }
            Verdict::Unverified(why) | Verdict::Invalid(why) => {
                if !self.json {
                    eprintln!("error: {} is not verified: {why}", self.artifact);
                }
                ExitCode::FAILURE
            }
        })
    }
}

/// Read a small file whole, refusing one over `limit` bytes before reading it.
fn read_capped(path: &std::path::Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("`{}` is over {limit} bytes; not a bundle", path.display());
    }
    Ok(bytes)
}
