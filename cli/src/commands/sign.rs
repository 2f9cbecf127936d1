//! `wharf key generate`, `wharf sign`, `wharf verify`: cosign-format signatures stored as
//! OCI 1.1 referrers (and under cosign's `sha256-<hex>.sig` tag where a registry has no
//! referrers API).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use serde::Serialize;
use wharf_client::Client;
use wharf_oci::{Descriptor, Digest, ImageManifest, ImageReference, Reference, media_types};
use wharf_sign::{SIGNATURE_ANNOTATION, SIGNATURE_ARTIFACT_TYPE, SIMPLE_SIGNING, SimpleSigning};

use super::print_json;
use crate::config::GlobalArgs;
use crate::target::Remote;

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
    },
}

/// The environment variable holding the passphrase of an encrypted private key (the
/// counterpart of cosign's `COSIGN_PASSWORD`). Never printed, never logged.
pub const PASSPHRASE_ENV: &str = "WHARF_KEY_PASSPHRASE";

/// The passphrase from [`PASSPHRASE_ENV`], if set and not empty.
fn passphrase() -> Option<String> {
    std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty())
}

/// A private key read for signing: the PEM and, for an encrypted key, its passphrase.
pub struct SigningKey {
    pem: String,
    passphrase: Option<String>,
    /// The id of its public key ([`wharf_sign::key_id`]).
    pub key_id: String,
    path: PathBuf,
}

impl SigningKey {
    /// Read a PKCS#8 PEM private key, and check now that it decodes (an encrypted one with
    /// the passphrase from WHARF_KEY_PASSPHRASE), so nothing is pushed with a bad key.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let pem = read_key(path)?;
        let passphrase = passphrase();
        let public = wharf_sign::public_key_of(&pem, passphrase.as_deref())
            .with_context(|| format!("cannot use private key `{}`", path.display()))?;
        Ok(SigningKey {
            key_id: wharf_sign::key_id(&public)?,
            pem,
            passphrase,
            path: path.to_owned(),
        })
    }

    fn sign(&self, payload: &[u8]) -> anyhow::Result<String> {
        wharf_sign::sign(&self.pem, self.passphrase.as_deref(), payload)
            .with_context(|| format!("failed to sign with `{}`", self.path.display()))
    }
}

impl KeyCommand {
    /// Run the subcommand.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let KeyCommand::Generate { output, encrypt } = self;
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
        eprintln!(
            "wrote {} (private, keep it secret) and {}",
            private.display(),
            public.display()
        );
        outln!("{}", wharf_sign::key_id(&pair.public_pem)?);
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

fn read_key(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("failed to read key `{}`", path.display()))
}

/// The manifest `target` resolves to, as a descriptor.
async fn subject(client: &Client, target: &ImageReference) -> anyhow::Result<Descriptor> {
    let pulled = client
        .pull_manifest(target)
        .await
        .with_context(|| format!("failed to resolve {target}"))?;
    Ok(Descriptor::new(
        &pulled.media_type,
        pulled.digest,
        pulled.bytes.len() as u64,
    ))
}

impl SignArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let key = SigningKey::load(&self.key)?;
        let settings = global.settings()?;
        let remote = Remote::parse(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        let target = remote.resolve(&client).await?;
        let subject = subject(&client, &target).await?;
        let digest = sign_manifest(&client, &target, subject.clone(), &key).await?;
        eprintln!(
            "signed {} ({}) with key {}",
            target, subject.digest, key.key_id
        );
        outln!("{digest}");
        Ok(ExitCode::SUCCESS)
    }
}

/// Sign the manifest `subject` of `target`'s repository with `key`: push the payload, the
/// empty config and the signature manifest (a referrer of `subject`); where the registry
/// has no referrers API, also add the signature as a layer of cosign's `sha256-<hex>.sig`
/// tag, keeping earlier signatures. Returns the signature manifest's digest.
pub async fn sign_manifest(
    client: &Client,
    target: &ImageReference,
    subject: Descriptor,
    key: &SigningKey,
) -> anyhow::Result<Digest> {
    let identity = format!("{}/{}", target.registry, target.repository);
    let payload = serde_json::to_vec(&SimpleSigning::new(&identity, &subject.digest))?;
    let signature = key.sign(&payload)?;
    let manifest = wharf_sign::signature_manifest(subject.clone(), &payload, &signature);
    let pushed = client
        .push_referrer(
            target,
            subject.clone(),
            SIGNATURE_ARTIFACT_TYPE,
            vec![(
                SIMPLE_SIGNING.to_owned(),
                payload,
                manifest.layers[0].annotations.clone(),
            )],
            None,
        )
        .await
        .context("failed to push the signature")?;
    let digest = pushed.digest;
    debug_assert_eq!(
        Digest::sha256_of(&serde_json::to_vec(&manifest)?),
        digest,
        "wharf-sign's manifest and the pushed one agree"
    );
    if !pushed.indexed {
        // the registry did not answer `OCI-Subject`, so it keeps no referrers index: keep
        // all signatures as layers of cosign's `.sig` tag
        let tag: wharf_oci::Tag = wharf_sign::fallback_tag(&subject.digest).parse()?;
        let at_tag = ImageReference {
            tag: Some(tag.clone()),
            digest: None,
            ..target.clone()
        };
        let mut sigs = match client.pull_manifest(&at_tag).await {
            Ok(existing) => ImageManifest::from_slice(&existing.bytes)?,
            Err(_) => ImageManifest {
                subject: None,
                artifact_type: None,
                layers: Vec::new(),
                ..manifest.clone()
            },
        };
        sigs.layers.extend(manifest.layers.iter().cloned());
        client
            .push_manifest(
                target,
                &Reference::Tag(tag),
                media_types::OCI_MANIFEST,
                serde_json::to_vec(&sigs)?,
            )
            .await
            .context("failed to push cosign's signature tag")?;
    }
    Ok(digest)
}

/// One signature found, and what checking it gave.
#[derive(Serialize)]
pub struct SignatureReport {
    source: String,
    key_id: Option<String>,
    valid: bool,
    error: Option<String>,
}

/// The outcome of checking a manifest's signatures.
#[derive(Serialize)]
pub struct VerifyReport {
    reference: String,
    digest: Digest,
    /// True when a trusted key signed exactly this manifest.
    pub verified: bool,
    signatures: Vec<SignatureReport>,
}

/// Trusted keys as (key id, public PEM).
pub type TrustedKeys = Vec<(String, String)>;

/// Read public keys and compute their ids.
pub fn load_keys(paths: &[PathBuf]) -> anyhow::Result<TrustedKeys> {
    paths
        .iter()
        .map(|p| {
            let pem = read_key(p)?;
            Ok((
                wharf_sign::key_id(&pem).with_context(|| format!("`{}`", p.display()))?,
                pem,
            ))
        })
        .collect()
}

/// Most signature referrers read for one manifest.
const MAX_SIGNATURES: usize = 64;

/// Find the signatures of `subject` (referrers API, else cosign's tag) and check each
/// against `keys`: the payload must name exactly `subject` and verify under a trusted key.
pub async fn check_signatures(
    client: &Client,
    target: &ImageReference,
    subject: &Digest,
    keys: &TrustedKeys,
) -> anyhow::Result<VerifyReport> {
    let mut layers: Vec<(String, Descriptor)> = Vec::new();
    // entries that could not be read are reported and skipped: one malformed or oversized
    // signature pushed by anyone with push access must not hide a valid one
    let mut reports = Vec::new();
    let mut skipped = |source: String, e: String| {
        eprintln!(
            "warning: skipping signature {source}: {}",
            crate::output::sanitize(&e)
        );
        reports.push(SignatureReport {
            source,
            key_id: None,
            valid: false,
            error: Some(e),
        });
    };
    match client
        .referrers(target, subject, Some(SIGNATURE_ARTIFACT_TYPE))
        .await?
    {
        Some(index) => {
            // judged from the index first: only signature manifests of a readable size,
            // at most MAX_SIGNATURES of them, fetched a few at a time
            let mut candidates = Vec::new();
            for d in index.manifests {
                if d.artifact_type.as_deref() != Some(SIGNATURE_ARTIFACT_TYPE) {
                    continue;
                }
                let source = format!("referrer {}", d.digest);
                if d.size > wharf_client::MAX_MANIFEST_SIZE {
                    skipped(
                        source,
                        format!("its manifest is {} bytes, over the limit", d.size),
                    );
                    continue;
                }
                if candidates.len() == MAX_SIGNATURES {
                    skipped(
                        source,
                        format!("more than {MAX_SIGNATURES} signatures; not read"),
                    );
                    continue;
                }
                candidates.push(d);
            }
            let fetched: Vec<_> = futures_util::stream::iter(candidates)
                .map(|d| async move {
                    let m = client
                        .pull_manifest(&target.with_digest(d.digest.clone()))
                        .await
                        .map_err(anyhow::Error::from)
                        .and_then(|m| Ok(ImageManifest::from_slice(&m.bytes)?));
                    (d, m)
                })
                .buffered(8)
                .collect()
                .await;
            for (d, m) in fetched {
                let source = format!("referrer {}", d.digest);
                match m {
                    Ok(m) => layers.extend(m.layers.into_iter().map(|l| (source.clone(), l))),
                    Err(e) => skipped(source, format!("{e:#}")),
                }
            }
        }
        None => {
            let tag = wharf_sign::fallback_tag(subject);
            let at_tag = ImageReference {
                tag: Some(tag.parse()?),
                digest: None,
                ..target.clone()
            };
            if let Ok(m) = client.pull_manifest(&at_tag).await {
                match ImageManifest::from_slice(&m.bytes) {
                    Ok(m) => layers.extend(m.layers.into_iter().map(|l| (format!("tag {tag}"), l))),
                    Err(e) => skipped(format!("tag {tag}"), e.to_string()),
                }
            }
        }
    }
    for (source, layer) in layers
        .into_iter()
        .filter(|(_, l)| l.media_type == SIMPLE_SIGNING)
    {
        let mut report = SignatureReport {
            source,
            key_id: None,
            valid: false,
            error: None,
        };
        let signature = layer
            .annotations
            .as_ref()
            .and_then(|a| a.get(SIGNATURE_ANNOTATION))
            .cloned();
        let result: anyhow::Result<String> = async {
            let signature = signature.context("the layer has no signature annotation")?;
            let payload = client.pull_blob_bytes(target, &layer, 64 * 1024).await?;
            SimpleSigning::parse_for(&payload, subject)?;
            keys.iter()
                .find(|(_, pem)| wharf_sign::verify(pem, &payload, &signature).is_ok())
                .map(|(id, _)| id.clone())
                .context("signed by none of the trusted keys")
        }
        .await;
        match result {
            Ok(id) => {
                report.key_id = Some(id);
                report.valid = true;
            }
            Err(e) => report.error = Some(format!("{e:#}")),
        }
        reports.push(report);
    }
    let verified = reports.iter().any(|r| r.valid);
    Ok(VerifyReport {
        reference: target.with_digest(subject.clone()).to_string(),
        digest: subject.clone(),
        verified,
        signatures: reports,
    })
}

impl VerifyReport {
    /// Why verification failed, for error messages.
    pub fn failure(&self) -> String {
        let why = if self.signatures.is_empty() {
            "it has no signature".to_owned()
        } else {
            "no signature is by a trusted key and valid for it".to_owned()
        };
        format!("{} is not verified: {why}", self.reference)
    }
}

impl VerifyArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let keys = load_keys(&self.keys)?;
        let settings = global.settings()?;
        let remote = Remote::parse(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        let target = remote.resolve(&client).await?;
        let subject = subject(&client, &target).await?;
        let report = check_signatures(&client, &target, &subject.digest, &keys).await?;
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
