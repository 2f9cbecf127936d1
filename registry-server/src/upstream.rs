//! The registry as a client of an upstream registry, for pull-through mirrors: manifests
//! (bounded, verified against their digest), blobs (streamed, cut at the size their
//! descriptor declares; the commit checks their digest), referrers, with Basic or bearer
//! credentials. Every answer is bounded in size and time, as the CLI's client is: an
//! upstream that lies or stalls costs a failed request, never memory or a hung task.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::{Response, StatusCode, header};
use secrecy::{ExposeSecret as _, SecretString};
use wharf_oci::{Digest, ImageIndex, media_types};

use crate::storage::ByteStream;

/// Largest manifest, token or referrers answer read from an upstream.
const MAX_METADATA: usize = 4 * 1024 * 1024;

/// What went wrong talking to an upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Not there (404).
    #[error("{0} is not in the upstream registry")]
    NotFound(String),
    /// Unreachable, refusing, timing out or failing (network, 5xx, 401 after credentials).
    #[error("the upstream registry is unavailable: {0}")]
    Unavailable(String),
    /// An answer that breaks the protocol (a digest that does not match, too large).
    #[error("the upstream registry answered wrongly: {0}")]
    Invalid(String),
}

/// A manifest read from an upstream.
#[derive(Clone, Debug)]
pub struct UpstreamManifest {
    /// Its bytes, exactly as served.
    pub bytes: Bytes,
    /// Its media type (`Content-Type`, else the `mediaType` field).
    pub media_type: String,
    /// Its digest, checked against the bytes.
    pub digest: Digest,
}

/// An upstream registry.
#[derive(Clone)]
pub struct Upstream {
    http: reqwest::Client,
    base: String,
    username: Option<String>,
    password: Option<SecretString>,
    /// A bearer token the upstream issued, reused until it is refused.
    token: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("base", &self.base)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: reqwest::Error) -> UpstreamError {
    UpstreamError::Unavailable(e.to_string())
}

/// Read at most `max` bytes of `resp`'s body.
async fn read_capped(resp: Response, max: usize, what: &str) -> Result<Bytes, UpstreamError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(UpstreamError::Invalid(format!(
            "{what} is over {max} bytes"
        )));
    }
    let mut out = bytes::BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(unavailable)?;
        if out.len() + chunk.len() > max {
            return Err(UpstreamError::Invalid(format!(
                "{what} is over {max} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

impl Upstream {
    /// An upstream at `host` (`host[:port]`), over plain HTTP when `plain_http`, with
    /// optional credentials; requests time out after `timeout` without progress.
    pub fn new(
        host: &str,
        plain_http: bool,
        username: Option<String>,
        password: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .user_agent(concat!(
                "wharf-registry/",
                env!("CARGO_PKG_VERSION"),
                " (mirror)"
            ))
            .build()
            .map_err(unavailable)?;
        let scheme = if plain_http { "http" } else { "https" };
        Ok(Upstream {
            http,
            base: format!("{scheme}://{host}"),
            username,
            password,
            token: Default::default(),
        })
    }

    /// GET `path` with the credentials the upstream asks for (Basic, or the Docker
    /// bearer-token flow for `repository:<repo>:pull`).
    async fn get(
        &self,
        path: &str,
        repo: &str,
        accept: &[&str],
    ) -> Result<Response, UpstreamError> {
        let url = format!("{}{path}", self.base);
        let request = |auth: Option<String>| {
            let mut rb = self.http.get(&url);
            if !accept.is_empty() {
                rb = rb.header(header::ACCEPT, accept.join(", "));
            }
            if let Some(a) = auth {
                rb = rb.header(header::AUTHORIZATION, a);
            }
            rb
        };
        let token = self.token.lock().ok().and_then(|t| t.clone());
        let resp = request(token.map(|t| format!("Bearer {t}")))
            .send()
            .await
            .map_err(unavailable)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let auth = if challenge.to_ascii_lowercase().starts_with("bearer") {
            let token = self.fetch_token(&challenge, repo).await?;
            if let Ok(mut t) = self.token.lock() {
                *t = Some(token.clone());
            }
            format!("Bearer {token}")
        } else {
            self.basic().ok_or_else(|| {
                UpstreamError::Unavailable(format!("{url} needs credentials; none are configured"))
            })?
        };
        let resp = request(Some(auth)).send().await.map_err(unavailable)?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(UpstreamError::Unavailable(format!(
                "{url}: the upstream refused the credentials ({})",
                resp.status()
            )));
        }
        Ok(resp)
    }

    fn basic(&self) -> Option<String> {
        use base64::Engine as _;
        let (u, p) = (self.username.as_ref()?, self.password.as_ref()?);
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{}", p.expose_secret()))
        ))
    }

    /// A token from the realm of a `Bearer realm=…,service=…` challenge.
    async fn fetch_token(&self, challenge: &str, repo: &str) -> Result<String, UpstreamError> {
        let param = |name: &str| {
            challenge
                .split(',')
                .filter_map(|p| p.trim().trim_start_matches("Bearer ").split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        };
        let realm = param("realm").ok_or_else(|| {
            UpstreamError::Invalid(format!("a challenge without a realm: {challenge}"))
        })?;
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("scope", &format!("repository:{repo}:pull"));
            if let Some(service) = param("service") {
                query.append_pair("service", &service);
            }
            query.finish()
        };
        let sep = if realm.contains('?') { '&' } else { '?' };
        let mut rb = self.http.get(format!("{realm}{sep}{query}"));
        if let Some(basic) = self.basic() {
            rb = rb.header(header::AUTHORIZATION, basic);
        }
        let resp = rb.send().await.map_err(unavailable)?;
        if !resp.status().is_success() {
            return Err(UpstreamError::Unavailable(format!(
                "the token endpoint {realm} answered {}",
                resp.status()
            )));
        }
        let body = read_capped(resp, 64 * 1024, "a token answer").await?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Invalid(format!("token answer: {e}")))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| UpstreamError::Invalid("a token answer without a token".into()))
    }

    fn status_error(what: &str, status: StatusCode) -> UpstreamError {
        match status {
            StatusCode::NOT_FOUND => UpstreamError::NotFound(what.to_owned()),
            s => UpstreamError::Unavailable(format!("{what}: {s}")),
        }
    }

    /// Manifest `reference` (a tag or a digest) of upstream repository `repo`, checked
    /// against the digest asked for, or against `Docker-Content-Digest` for a tag.
    pub async fn manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<UpstreamManifest, UpstreamError> {
        let what = format!("{repo}:{reference}");
        let resp = self
            .get(
                &format!("/v2/{repo}/manifests/{reference}"),
                repo,
                media_types::MANIFEST_ACCEPT,
            )
            .await?;
        if !resp.status().is_success() {
            return Err(Self::status_error(&what, resp.status()));
        }
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|d| d.parse::<Digest>().ok());
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned());
        let bytes = read_capped(resp, MAX_METADATA, &format!("manifest {what}")).await?;
        let expected = match reference.parse::<Digest>() {
            Ok(d) => Some(d),
            Err(_) => header_digest,
        };
        let digest = match expected {
            Some(d) => {
                let actual = d.compute_same(&bytes);
                if actual != d {
                    return Err(UpstreamError::Invalid(format!(
                        "manifest {what} hashes to {actual}, not {d}"
                    )));
                }
                d
            }
            None => Digest::sha256_of(&bytes),
        };
        let media_type = content_type
            .filter(|c| !c.is_empty() && c != "application/json")
            .or_else(|| {
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()?
                    .get("mediaType")?
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| media_types::OCI_MANIFEST.to_owned());
        Ok(UpstreamManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Blob `digest` of `repo`, streamed and cut off past the `size` its descriptor
    /// declares (the upload that stores it checks the digest).
    pub async fn blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<ByteStream, UpstreamError> {
        let what = format!("blob {digest} of {repo}");
        let resp = self
            .get(&format!("/v2/{repo}/blobs/{digest}"), repo, &[])
            .await?;
        if !resp.status().is_success() {
            return Err(Self::status_error(&what, resp.status()));
        }
        let mut seen = 0u64;
        let stream = resp
            .bytes_stream()
            .map_err(std::io::Error::other)
            .map(move |chunk| {
                let c = chunk?;
                seen += c.len() as u64;
                if seen > size {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "the upstream sent more than the {size} bytes the descriptor declares"
                        ),
                    ));
                }
                Ok(c)
            });
        Ok(Box::pin(stream))
    }

    /// The referrers of `digest` in `repo` (OCI 1.1 referrers API); `None` when the
    /// upstream has no referrers API for it.
    pub async fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<ImageIndex>, UpstreamError> {
        let resp = self
            .get(
                &format!("/v2/{repo}/referrers/{digest}"),
                repo,
                &[media_types::OCI_INDEX],
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(Self::status_error(
                &format!("referrers of {digest}"),
                resp.status(),
            ));
        }
        let bytes = read_capped(resp, MAX_METADATA, "a referrers index").await?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| UpstreamError::Invalid(format!("referrers index: {e}")))
    }
}
