use wharf_oci::Digest;

/// Errors of the registry client; each names the URL, reference or digest concerned.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be sent or the response not read.
    #[error("request to {url} failed")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error status; `code` and `message` come from the
    /// OCI error body when there is one.
    #[error("{method} {url} answered {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Status {
        method: String,
        url: String,
        status: u16,
        detail: Option<String>,
    },
    /// Content did not hash to the digest it was fetched by.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    /// Content was not the size its descriptor says.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// A manifest larger than the client accepts.
    #[error("manifest at {url} is {size} bytes, more than the {max} accepted")]
    ManifestTooLarge { url: String, size: u64, max: u64 },
    /// The registry's answer is not what the protocol says.
    #[error("invalid response from {url}: {reason}")]
    Protocol { url: String, reason: String },
    /// No tag of the package satisfies the requested version.
    #[error("no version of {package} matches `{requirement}` (versions found: {found})")]
    NoMatchingVersion {
        package: String,
        requirement: String,
        found: String,
    },
    /// Reading or writing a local file failed.
    #[error("failed to {action} `{path}`")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A Docker credential helper could not be run or failed.
    #[error("credential helper `{helper}` for {registry}: {reason}")]
    CredentialHelper {
        helper: String,
        registry: String,
        reason: String,
    },
    /// The Docker config file could not be read or parsed.
    #[error("invalid Docker config `{path}`: {reason}")]
    DockerConfig { path: String, reason: String },
}
