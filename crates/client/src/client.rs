use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use wharf_oci::{
    Descriptor, Digest, ImageManifest, ImageReference, PackageRef, Reference, RegistryMetadata,
    RepositoryName, Tag, is_loopback_host, media_types,
};

use crate::auth::{Challenge, parse_challenge};
use crate::{ClientError, Credentials, DockerConfig, MAX_MANIFEST_SIZE};

/// Artifact type of the referrer that marks a version yanked ([`wharf_oci::yank`]).
pub const YANK_ARTIFACT_TYPE: &str = wharf_oci::yank::ARTIFACT_TYPE;
/// Annotation of a yank marker holding the reason.
pub const YANK_REASON_ANNOTATION: &str = wharf_oci::yank::REASON_ANNOTATION;

/// A layer of a referrer artifact: media type, content, descriptor annotations.
pub type ReferrerLayer = (String, Vec<u8>, Option<BTreeMap<String, String>>);

/// When to speak plain HTTP instead of HTTPS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlainHttp {
    /// Plain HTTP for loopback hosts only (Docker's default).
    #[default]
    Loopback,
    /// Always plain HTTP (`--plain-http`).
    Always,
    /// Never: HTTPS even on loopback.
    Never,
}

/// Settings of a [`Client`].
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    /// Transport choice.
    pub plain_http: PlainHttp,
    /// Credentials per registry.
    pub credentials: DockerConfig,
    /// Time to establish a connection (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Option<Duration>,
    /// Longest wait for any read, headers or body (default [`DEFAULT_READ_TIMEOUT`]): a
    /// registry that stops sending is given up on.
    pub read_timeout: Option<Duration>,
    /// Longest time for a whole metadata answer (token, discovery document, tag page,
    /// referrers index, error body), however slowly it drips (default
    /// [`DEFAULT_METADATA_TIMEOUT`]).
    pub metadata_timeout: Option<Duration>,
    /// Largest blob pulled, by its descriptor (default [`DEFAULT_MAX_BLOB_BYTES`]).
    pub max_blob_bytes: Option<u64>,
}

/// An open blob upload session ([`Client::open_upload`]): where its next request goes and
/// how many bytes it holds.
#[derive(Debug)]
pub struct BlobUpload {
    location: String,
    size: u64,
}

/// Redirects followed for one request, as reqwest's default policy.
const MAX_REDIRECTS: usize = 10;
/// Default connect timeout: 30 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default read (idle) timeout: 60 s.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time for a whole metadata answer: 60 s.
pub const DEFAULT_METADATA_TIMEOUT: Duration = Duration::from_secs(60);
/// Default largest blob pulled: 4 GiB.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 4 << 30;
/// Largest token, discovery document or error body read: 64 KiB.
pub const MAX_SMALL_BODY: usize = 64 * 1024;
/// Largest tag-list page or referrers index read: 4 MiB (as manifests).
pub const MAX_LISTING_BODY: usize = 4 * 1024 * 1024;
/// Most tag-list pages followed, and the longest time spent following them.
const MAX_TAG_PAGES: usize = 1000;
const MAX_TAG_LISTING_TIME: Duration = Duration::from_secs(300);

/// A referrer as pushed by [`Client::push_referrer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedReferrer {
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// The registry said (with `OCI-Subject`) that it lists the manifest under its
    /// subject's referrers; `false` means the referrers tag schema is needed.
    pub indexed: bool,
}

/// A manifest as pulled: its bytes were checked against `digest`.
#[derive(Clone, Debug)]
pub struct PulledManifest {
    /// The manifest digest (what a tag resolved to).
    pub digest: Digest,
    /// The media type from `Content-Type`, else from the body's `mediaType`.
    pub media_type: String,
    /// The raw manifest bytes.
    pub bytes: Vec<u8>,
}

/// An OCI Distribution v1.1 client. Cheap to share: it keeps a connection pool and the
/// bearer tokens it obtained, per registry and repository.
pub struct Client {
    /// For `http://` URLs: no TLS roots loaded, and redirects followed only while they
    /// stay on plain HTTP (an `https://` hop is handed to `tls`, see [`Client::send`]).
    plain: reqwest::Client,
    /// For `https://` URLs, with the platform's roots: built on first use, since loading
    /// the system's certificates costs more than a whole warm `wharf run` against a
    /// plain-HTTP registry.
    tls: std::sync::OnceLock<reqwest::Client>,
    config: ClientConfig,
    /// `Authorization` values by `registry/repository`.
    auth: Mutex<HashMap<String, String>>,
}

fn transport(url: &str) -> impl FnOnce(reqwest::Error) -> ClientError + '_ {
    move |source| ClientError::Transport {
        url: url.to_owned(),
        source,
    }
}

/// The body of `resp`, refused when it is longer than `limit` bytes or takes longer than
/// `within` to arrive: answers that are not verified blob streams are read whole, so
/// each is bounded in memory and time.
async fn read_capped(
    resp: Response,
    limit: usize,
    within: Duration,
    url: &str,
) -> Result<Vec<u8>, ClientError> {
    let too_large = |size: u64| ClientError::Protocol {
        url: url.to_owned(),
        reason: format!("the answer of {size} bytes or more exceeds the {limit}-byte limit"),
    };
    if let Some(len) = resp.content_length()
        && len > limit as u64
    {
        return Err(too_large(len));
    }
    let read = async {
        let mut out = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(transport(url))?;
            if out.len() + chunk.len() > limit {
                return Err(too_large((out.len() + chunk.len()) as u64));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    };
    tokio::time::timeout(within, read)
        .await
        .map_err(|_| ClientError::Protocol {
            url: url.to_owned(),
            reason: format!("the answer did not arrive within {} s", within.as_secs()),
        })?
}

/// [`read_capped`], parsed as JSON.
async fn json_capped<T: serde::de::DeserializeOwned>(
    resp: Response,
    limit: usize,
    within: Duration,
    url: &str,
) -> Result<T, ClientError> {
    let bytes = read_capped(resp, limit, within, url).await?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
        url: url.to_owned(),
        reason: format!("the answer is not the JSON expected: {e}"),
    })
}

/// The `detail` of an error answer: the first OCI error's code and message, else the text
/// (at most [`MAX_SMALL_BODY`] bytes are read, for at most 10 s).
async fn error_detail(resp: Response) -> Option<String> {
    let mut bytes = Vec::new();
    let mut stream = resp.bytes_stream();
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            bytes.extend_from_slice(&chunk[..chunk.len().min(MAX_SMALL_BODY - bytes.len())]);
            if bytes.len() >= MAX_SMALL_BODY {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let parsed: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    if let Some(first) = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.get(0))
    {
        let code = first.get("code").and_then(|c| c.as_str()).unwrap_or("");
        let msg = first.get("message").and_then(|c| c.as_str()).unwrap_or("");
        return Some(format!("{code} {msg}").trim().to_owned());
    }
    let t = text.trim();
    let lower = t.get(..t.len().min(200)).unwrap_or("").to_ascii_lowercase();
    if lower.starts_with("<!doctype") || lower.starts_with("<html") || lower.contains("<html") {
        // a web server's page, not a registry's JSON error: say so, not the markup
        return Some("an HTML page, not an OCI registry's error: is this host a registry?".into());
    }
    (!t.is_empty()).then(|| t.lines().next().unwrap_or(t).chars().take(300).collect())
}

async fn status_error(method: &str, url: &str, resp: Response) -> ClientError {
    let status = resp.status().as_u16();
    ClientError::Status {
        method: method.to_owned(),
        url: url.to_owned(),
        status,
        detail: error_detail(resp).await,
    }
}

impl Client {
    /// A client with `config`.
    ///
    /// # Errors
    /// [`ClientError::Transport`] when the HTTP client cannot be set up.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let plain = Self::builder(&config)
            .tls_certs_only(Vec::new())
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.url().scheme() == "https" {
                    attempt.stop()
                } else if attempt.previous().len() >= MAX_REDIRECTS {
                    attempt.error("too many redirects")
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(transport("(client setup)"))?;
        Ok(Client {
            plain,
            tls: std::sync::OnceLock::new(),
            config,
            auth: Mutex::new(HashMap::new()),
        })
    }

    /// The settings both HTTP clients share. Redirects are followed (registries send blob
    /// reads to object storage), and reqwest drops `Authorization` when a redirect leaves
    /// the host.
    fn builder(config: &ClientConfig) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
            .read_timeout(config.read_timeout.unwrap_or(DEFAULT_READ_TIMEOUT))
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
    }

    /// The HTTP client for `url`: the TLS one (set up on first use) for `https://`, the
    /// plain one otherwise.
    fn http_for(&self, url: &str) -> Result<&reqwest::Client, ClientError> {
        if !url.starts_with("https://") {
            return Ok(&self.plain);
        }
        if let Some(c) = self.tls.get() {
            return Ok(c);
        }
        let built = Self::builder(&self.config)
            .build()
            .map_err(transport("(TLS client setup)"))?;
        Ok(self.tls.get_or_init(|| built))
    }

    /// Send what `build` makes with the client for `url`. A plain-HTTP response that
    /// redirects a `GET` or `HEAD` to `https://` is followed with the TLS client, without
    /// the credentials (as reqwest does when a redirect leaves the origin).
    async fn execute(
        &self,
        url: &str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, ClientError> {
        let http = self.http_for(url)?;
        let resp = build(http).send().await.map_err(transport(url))?;
        let to_tls = resp
            .status()
            .is_redirection()
            .then(|| resp.headers().get(reqwest::header::LOCATION))
            .flatten()
            .and_then(|l| l.to_str().ok())
            .filter(|l| l.starts_with("https://"))
            .map(str::to_owned);
        let Some(location) = to_tls.filter(|_| !url.starts_with("https://")) else {
            return Ok(resp);
        };
        let tls = self.http_for(&location)?;
        let mut req = build(tls).build().map_err(transport(url))?;
        if !matches!(*req.method(), reqwest::Method::GET | reqwest::Method::HEAD) {
            return Ok(resp);
        }
        *req.url_mut() = Url::parse(&location).map_err(|e| ClientError::Protocol {
            url: url.to_owned(),
            reason: format!("bad redirect location `{location}`: {e}"),
        })?;
        for h in [
            AUTHORIZATION,
            reqwest::header::COOKIE,
            reqwest::header::PROXY_AUTHORIZATION,
        ] {
            req.headers_mut().remove(h);
        }
        tls.execute(req).await.map_err(transport(&location))
    }

    /// `http://host` or `https://host` for `registry`, by the [`PlainHttp`] setting.
    pub fn base_url(&self, registry: &str) -> String {
        let plain = match self.config.plain_http {
            PlainHttp::Always => true,
            PlainHttp::Never => false,
            PlainHttp::Loopback => is_loopback_host(registry),
        };
        format!("{}://{registry}", if plain { "http" } else { "https" })
    }

    fn metadata_timeout(&self) -> Duration {
        self.config
            .metadata_timeout
            .unwrap_or(DEFAULT_METADATA_TIMEOUT)
    }

    fn repo_url(&self, registry: &str, repo: &RepositoryName, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base_url(registry), repo)
    }

    fn cached_auth(&self, key: &str) -> Option<String> {
        self.auth.lock().ok()?.get(key).cloned()
    }

    /// The cached `Authorization` of `r`'s repository for a request to `url`, an upload
    /// `Location` the registry answered with: only when `url` has the origin (scheme, host,
    /// port) the registry's API is reached at, so a registry that points an upload at
    /// another host never hands that host its credentials (as browsers and reqwest drop
    /// `Authorization` on a cross-origin redirect).
    fn auth_for_location(&self, r: &ImageReference, url: &str) -> Option<String> {
        let api = self.repo_url(&r.registry, &r.repository, "");
        let same = match (Url::parse(url), Url::parse(&api)) {
            (Ok(a), Ok(b)) => a.origin() == b.origin(),
            _ => false,
        };
        same.then(|| self.cached_auth(&format!("{}/{}", r.registry, r.repository)))
            .flatten()
    }

    /// Send a request built by `build`, answering one authentication challenge
    /// (Basic, or the bearer-token flow) with the configured credentials.
    async fn send(
        &self,
        registry: &str,
        repo: Option<&RepositoryName>,
        push: bool,
        url: &str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, ClientError> {
        let key = format!(
            "{registry}/{}",
            repo.map(RepositoryName::as_str).unwrap_or("")
        );
        let with_auth = |rb: RequestBuilder| match self.cached_auth(&key) {
            Some(h) => rb.header(AUTHORIZATION, h),
            None => rb,
        };
        let resp = self.execute(url, |c| with_auth(build(c))).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let Some(challenge) = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .and_then(parse_challenge)
        else {
            return Ok(resp);
        };
        let creds = self.config.credentials.credentials(registry)?;
        let header = match challenge {
            Challenge::Basic => match creds {
                Some(c) => c.basic_header(),
                None => return Ok(resp),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let actions = if push { "pull,push" } else { "pull" };
                let scope = match (scope, repo) {
                    (Some(s), _) => Some(s),
                    (None, Some(r)) => Some(format!("repository:{r}:{actions}")),
                    (None, None) => None,
                };
                format!(
                    "Bearer {}",
                    self.fetch_token(&realm, service.as_deref(), scope.as_deref(), creds.as_ref())
                        .await?
                )
            }
        };
        if let Ok(mut map) = self.auth.lock() {
            map.insert(key.clone(), header);
        }
        self.execute(url, |c| with_auth(build(c))).await
    }

    /// The Docker token flow: `GET realm?service=…&scope=…`, Basic-authenticated when
    /// credentials are known; the answer's `token` or `access_token`.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
        creds: Option<&Credentials>,
    ) -> Result<String, ClientError> {
        let mut url = Url::parse(realm).map_err(|e| ClientError::Protocol {
            url: realm.to_owned(),
            reason: format!("bad token realm: {e}"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            if let Some(s) = scope {
                q.append_pair("scope", s);
            }
        }
        let url_s = url.to_string();
        let mut rb = self.http_for(&url_s)?.get(url.clone());
        if let Some(c) = creds {
            rb = rb.header(AUTHORIZATION, c.basic_header());
        }
        let resp = rb.send().await.map_err(transport(&url_s))?;
        if !resp.status().is_success() {
            return Err(status_error("GET", &url_s, resp).await);
        }
        let v: serde_json::Value =
            json_capped(resp, MAX_SMALL_BODY, self.metadata_timeout(), &url_s).await?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Protocol {
                url: url_s,
                reason: "token response has no `token`".into(),
            })
    }

    /// `GET /v2/` with the configured credentials (answering a Basic or bearer challenge):
    /// Ok when the registry accepts them. Used by `wharf login`.
    pub async fn check_login(&self, registry: &str) -> Result<(), ClientError> {
        let url = format!("{}/v2/", self.base_url(registry));
        let resp = self
            .send(registry, None, false, &url, |h| h.get(&url))
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error("GET", &url, resp).await)
        }
    }

    /// The referrers of `subject` in `r`'s repository, optionally of one artifact type: the
    /// OCI 1.1 referrers API, else (a registry without it answers 404) the referrers tag
    /// schema (distribution-spec v1.1, "Referrers Tag Schema": an image index tagged
    /// `<alg>-<hex>`), filtered here by artifact type. `None` when the registry has
    /// neither.
    pub async fn referrers(
        &self,
        r: &ImageReference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<wharf_oci::ImageIndex>, ClientError> {
        let mut url = self.repo_url(&r.registry, &r.repository, &format!("referrers/{subject}"));
        if let Some(t) = artifact_type {
            url.push_str(&format!("?artifactType={}", t.replace('+', "%2B")));
        }
        let resp = self
            .send(&r.registry, Some(&r.repository), false, &url, |h| {
                h.get(&url)
            })
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => self.referrers_by_tag(r, subject, artifact_type).await,
            s if s.is_success() => Ok(Some(
                json_capped(resp, MAX_LISTING_BODY, self.metadata_timeout(), &url).await?,
            )),
            _ => Err(status_error("GET", &url, resp).await),
        }
    }

    /// The referrers tag schema's index for `subject`, filtered by `artifact_type`; `None`
    /// when the tag does not exist.
    async fn referrers_by_tag(
        &self,
        r: &ImageReference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<wharf_oci::ImageIndex>, ClientError> {
        let at_tag = ImageReference {
            tag: Some(
                subject
                    .referrers_tag()
                    .parse()
                    .map_err(|_| ClientError::Protocol {
                        url: r.to_string(),
                        reason: format!("no referrers tag for {subject}"),
                    })?,
            ),
            digest: None,
            ..r.clone()
        };
        let pulled = match self.pull_manifest(&at_tag).await {
            Ok(p) => p,
            Err(ClientError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut index: wharf_oci::ImageIndex =
            serde_json::from_slice(&pulled.bytes).map_err(|e| ClientError::Protocol {
                url: at_tag.to_string(),
                reason: format!("the referrers tag is not an image index: {e}"),
            })?;
        if let Some(t) = artifact_type {
            index
                .manifests
                .retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(Some(index))
    }

    /// Add `descriptors` to the referrers tag schema's index of `subject` (distribution-spec
    /// v1.1, "Referrers Tag Schema": an image index under the tag `<alg>-<hex>`), creating
    /// it when missing; a descriptor already listed (same digest) is not added again. For
    /// a registry without the referrers API, after pushing a manifest with a `subject`.
    pub async fn add_to_referrers_tag(
        &self,
        r: &ImageReference,
        subject: &Digest,
        descriptors: Vec<Descriptor>,
    ) -> Result<(), ClientError> {
        let mut index = self
            .referrers_by_tag(r, subject, None)
            .await?
            .unwrap_or_else(|| wharf_oci::ImageIndex::of(Vec::new()));
        for d in descriptors {
            if !index.manifests.iter().any(|m| m.digest == d.digest) {
                index.manifests.push(d);
            }
        }
        let tag = subject
            .referrers_tag()
            .parse()
            .map_err(|_| ClientError::Protocol {
                url: r.to_string(),
                reason: format!("no referrers tag for {subject}"),
            })?;
        let bytes = serde_json::to_vec(&index).map_err(|e| ClientError::Protocol {
            url: r.to_string(),
            reason: format!("cannot encode the referrers index: {e}"),
        })?;
        self.push_manifest(r, &Reference::Tag(tag), media_types::OCI_INDEX, bytes)
            .await?;
        Ok(())
    }

    /// Fetch `/.well-known/wasm-pkg/registry.json` of `registry`; a registry without one
    /// (404) hosts its packages itself with no namespace prefix.
    pub async fn registry_metadata(&self, registry: &str) -> Result<RegistryMetadata, ClientError> {
        let url = format!(
            "{}/.well-known/wasm-pkg/registry.json",
            self.base_url(registry)
        );
        let resp = self.execute(&url, |c| c.get(&url)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(RegistryMetadata::default());
        }
        if !resp.status().is_success() {
            return Err(status_error("GET", &url, resp).await);
        }
        json_capped(resp, MAX_SMALL_BODY, self.metadata_timeout(), &url).await
    }

    /// The discovery document of `registry` as JSON (for the fields wharf adds beside
    /// wasm-pkg's: `wharf.log`, `wharf.mirrors`); `null` when it has none.
    pub async fn registry_document(
        &self,
        registry: &str,
    ) -> Result<serde_json::Value, ClientError> {
        let url = format!(
            "{}/.well-known/wasm-pkg/registry.json",
            self.base_url(registry)
        );
        let resp = self.execute(&url, |c| c.get(&url)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(serde_json::Value::Null);
        }
        if !resp.status().is_success() {
            return Err(status_error("GET", &url, resp).await);
        }
        json_capped(resp, MAX_SMALL_BODY, self.metadata_timeout(), &url).await
    }

    /// `GET` a file of a registry's release log: `<registry>` + `path` (which starts with
    /// the log's path, such as `/log/v1/checkpoint`), at most `limit` bytes; `None` for
    /// 404. Credentials stored for the registry are sent as Basic authentication.
    pub async fn log_file(
        &self,
        registry: &str,
        path: &str,
        limit: usize,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let url = format!("{}{path}", self.base_url(registry));
        let mut rb = self.http_for(&url)?.get(&url);
        if let Some(c) = self.config.credentials.credentials(registry)? {
            rb = rb.header(AUTHORIZATION, c.basic_header());
        }
        let resp = rb.send().await.map_err(transport(&url))?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(
                read_capped(resp, limit, self.metadata_timeout() * 6, &url).await?,
            )),
            _ => Err(status_error("GET", &url, resp).await),
        }
    }

    /// Search the packages of a wharf registry through its catalog API
    /// (`GET /api/v1/packages?q=&exports=&imports=&page=`): text in the name or
    /// description, or an interface (a glob) a package exports or imports. Stored
    /// credentials for `registry` are sent, so private packages the user may pull are
    /// found too. The answer is bounded like every listing.
    pub async fn search_packages(
        &self,
        registry: &str,
        query: &SearchRequest,
    ) -> Result<SearchResults, ClientError> {
        let mut params = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &query.text),
            ("exports", &query.exports),
            ("imports", &query.imports),
        ] {
            if !v.is_empty() {
                params.append_pair(k, v);
            }
        }
        params.append_pair("page", &query.page.max(1).to_string());
        let url = format!(
            "{}/api/v1/packages?{}",
            self.base_url(registry),
            params.finish()
        );
        let mut rb = self.http_for(&url)?.get(&url);
        if let Some(c) = self.config.credentials.credentials(registry)? {
            rb = rb.header(AUTHORIZATION, c.basic_header());
        }
        let resp = rb.send().await.map_err(transport(&url))?;
        if !resp.status().is_success() {
            return Err(status_error("GET", &url, resp).await);
        }
        json_capped(resp, MAX_LISTING_BODY, self.metadata_timeout(), &url).await
    }

    /// Resolve a package reference through `registry`'s discovery document and its tags:
    /// the exact version when one is given (yanked or not: a pin always works), else the
    /// highest semver tag matching the requirement that is not yanked (pre-releases only
    /// when asked for, as cargo does).
    pub async fn resolve_package(
        &self,
        registry: &str,
        pkg: &PackageRef,
    ) -> Result<ImageReference, ClientError> {
        let (oci_registry, repository) = self.package_repository(registry, pkg).await?;
        let at = |tag: &str| -> Result<ImageReference, ClientError> {
            let tag = tag
                .parse()
                .map_err(|e: wharf_oci::NameError| ClientError::Protocol {
                    url: registry.to_owned(),
                    reason: e.to_string(),
                })?;
            Ok(ImageReference {
                registry: oci_registry.clone(),
                repository: repository.clone(),
                tag: Some(tag),
                digest: None,
            })
        };
        if let Some(v) = &pkg.exact {
            return at(&v.to_string());
        }
        let tags = self.tags(&oci_registry, &repository).await?;
        let mut versions: Vec<semver::Version> = tags
            .iter()
            .filter_map(|t| semver::Version::parse(t).ok())
            .collect();
        versions.sort();
        let req = pkg.version.clone().unwrap_or(semver::VersionReq::STAR);
        let mut yanked = Vec::new();
        for v in versions.iter().rev().filter(|v| req.matches(v)) {
            // resolved once: the digest judged not yanked is the one returned, so a tag
            // moved in between cannot slip other content in
            let mut candidate = at(&v.to_string())?;
            let manifest = self.pull_manifest(&candidate).await?;
            if self
                .yanked_digest(&candidate, &manifest.digest)
                .await?
                .is_none()
            {
                candidate.digest = Some(manifest.digest);
                return Ok(candidate);
            }
            yanked.push(v.to_string());
        }
        let mut found: Vec<String> = versions.iter().map(ToString::to_string).collect();
        for y in &yanked {
            if let Some(f) = found.iter_mut().find(|f| *f == y) {
                f.push_str(" (yanked)");
            }
        }
        Err(ClientError::NoMatchingVersion {
            package: pkg.package_name(),
            requirement: req.to_string(),
            found: if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            },
        })
    }

    /// The OCI registry and repository that package `pkg` lives in, by `registry`'s
    /// discovery document (checked: the registry it names must be a canonical
    /// `host[:port]`).
    pub async fn package_repository(
        &self,
        registry: &str,
        pkg: &PackageRef,
    ) -> Result<(String, wharf_oci::RepositoryName), ClientError> {
        let meta = self.registry_metadata(registry).await?;
        // everything the discovery document says is checked: the registry it names must
        // be `host[:port]` (no user info, path or dot segments), written canonically, so
        // trust rules match the repository actually fetched
        let named = meta.oci_registry_or(registry);
        let oci_registry =
            wharf_oci::canonical_registry_host(named).ok_or_else(|| ClientError::Protocol {
                url: registry.to_owned(),
                reason: format!(
                    "the discovery document names registry `{}`, which is not host[:port]",
                    named.escape_debug()
                ),
            })?;
        let repository =
            pkg.repository(meta.namespace_prefix())
                .map_err(|e| ClientError::Protocol {
                    url: registry.to_owned(),
                    reason: e.to_string(),
                })?;
        Ok((oci_registry, repository))
    }

    /// `DELETE` manifest `digest` from `r`'s repository.
    pub async fn delete_manifest(
        &self,
        r: &ImageReference,
        digest: &Digest,
    ) -> Result<(), ClientError> {
        self.delete_reference(r, &digest.to_string()).await
    }

    /// Delete tag `tag` of `r`'s repository (distribution-spec "Deleting tags"): the
    /// manifest stays, for its other tags and until garbage collection.
    pub async fn delete_tag(&self, r: &ImageReference, tag: &Tag) -> Result<(), ClientError> {
        self.delete_reference(r, tag.as_str()).await
    }

    /// `DELETE /v2/<name>/manifests/<reference>`.
    async fn delete_reference(
        &self,
        r: &ImageReference,
        reference: &str,
    ) -> Result<(), ClientError> {
        let url = self.repo_url(
            &r.registry,
            &r.repository,
            &format!("manifests/{reference}"),
        );
        let resp = self
            .send(&r.registry, Some(&r.repository), true, &url, |h| {
                h.delete(&url)
            })
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error("DELETE", &url, resp).await)
        }
    }

    /// Whether the manifest `r` names is yanked: `Some(reason)` when a yank marker (a
    /// referrer of artifact type [`YANK_ARTIFACT_TYPE`]) points at it.
    pub async fn yanked(&self, r: &ImageReference) -> Result<Option<String>, ClientError> {
        let manifest = self.pull_manifest(r).await?;
        self.yanked_digest(r, &manifest.digest).await
    }

    /// Whether manifest `digest` of `r`'s repository is yanked as version `r.tag` (see
    /// [`Client::yanked`]): a mark yanks only the version it names
    /// ([`wharf_oci::yank::applies`]).
    pub async fn yanked_digest(
        &self,
        r: &ImageReference,
        digest: &Digest,
    ) -> Result<Option<String>, ClientError> {
        let Some(index) = self.referrers(r, digest, Some(YANK_ARTIFACT_TYPE)).await? else {
            return Ok(None);
        };
        // filtered here too: a registry that ignores `artifactType` must not make every
        // signed version look yanked
        Ok(wharf_oci::yank::yanked_by(
            &index.manifests,
            r.tag.as_ref().map(|t| t.as_str()),
        ))
    }

    /// Whether `repo` holds any tag (one `GET tags/list?n=1`); a repository the registry
    /// does not know holds none.
    pub async fn has_tags(
        &self,
        registry: &str,
        repo: &RepositoryName,
    ) -> Result<bool, ClientError> {
        let url = self.repo_url(registry, repo, "tags/list?n=1");
        let resp = self
            .send(registry, Some(repo), false, &url, |h| h.get(&url))
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !resp.status().is_success() {
            return Err(status_error("GET", &url, resp).await);
        }
        let body: serde_json::Value =
            json_capped(resp, MAX_LISTING_BODY, self.metadata_timeout(), &url).await?;
        Ok(body
            .get("tags")
            .and_then(|t| t.as_array())
            .is_some_and(|t| !t.is_empty()))
    }

    /// All tags of `repo`, following `Link` pagination.
    pub async fn tags(
        &self,
        registry: &str,
        repo: &RepositoryName,
    ) -> Result<Vec<String>, ClientError> {
        let mut url = self.repo_url(registry, repo, "tags/list?n=1000");
        let mut out = Vec::new();
        let started = std::time::Instant::now();
        for page in 0.. {
            if page >= MAX_TAG_PAGES || started.elapsed() > MAX_TAG_LISTING_TIME {
                return Err(ClientError::Protocol {
                    url,
                    reason: format!(
                        "the tag list goes on past {page} pages or {} s; giving up",
                        MAX_TAG_LISTING_TIME.as_secs()
                    ),
                });
            }
            let u = url.clone();
            let resp = self
                .send(registry, Some(repo), false, &u, |h| h.get(&u))
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(out);
            }
            if !resp.status().is_success() {
                return Err(status_error("GET", &url, resp).await);
            }
            let next = next_link(resp.headers());
            let body: serde_json::Value =
                json_capped(resp, MAX_LISTING_BODY, self.metadata_timeout(), &url).await?;
            if let Some(tags) = body.get("tags").and_then(|t| t.as_array()) {
                out.extend(tags.iter().filter_map(|t| t.as_str().map(str::to_owned)));
            }
            match next {
                Some(n) => url = resolve_location(&url, &n)?,
                None => break,
            }
        }
        Ok(out)
    }

    /// Size of blob `digest` in `r`'s repository, or `None` when the registry lacks it.
    pub async fn blob_size(
        &self,
        r: &ImageReference,
        digest: &Digest,
    ) -> Result<Option<u64>, ClientError> {
        let url = self.repo_url(&r.registry, &r.repository, &format!("blobs/{digest}"));
        let resp = self
            .send(&r.registry, Some(&r.repository), false, &url, |h| {
                h.head(&url)
            })
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(resp
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error("HEAD", &url, resp).await),
        }
    }

    /// Open an upload session; returns its absolute URL.
    async fn start_upload(&self, r: &ImageReference) -> Result<String, ClientError> {
        let url = self.repo_url(&r.registry, &r.repository, "blobs/uploads/");
        let resp = self
            .send(&r.registry, Some(&r.repository), true, &url, |h| {
                h.post(&url).header(CONTENT_LENGTH, 0)
            })
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(status_error("POST", &url, resp).await);
        }
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| ClientError::Protocol {
                url: url.clone(),
                reason: "upload answer has no Location".into(),
            })?;
        resolve_location(&url, loc)
    }

    async fn finish_upload(
        &self,
        r: &ImageReference,
        location: &str,
        digest: &Digest,
        body: reqwest::Body,
        size: u64,
    ) -> Result<(), ClientError> {
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        let mut rb = self
            .http_for(&url)?
            .put(&url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body);
        if let Some(h) = self.auth_for_location(r, &url) {
            rb = rb.header(AUTHORIZATION, h);
        }
        let resp = rb.send().await.map_err(transport(&url))?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error("PUT", &url, resp).await);
        }
        Ok(())
    }

    /// Open an upload session in `r`'s repository for a blob whose digest is not known yet
    /// (distribution-spec "Pushing a blob in chunks"): its bytes follow with
    /// [`Client::upload_chunk`], the digest with [`Client::commit_upload`], or
    /// [`Client::cancel_upload`] drops it.
    pub async fn open_upload(&self, r: &ImageReference) -> Result<BlobUpload, ClientError> {
        Ok(BlobUpload {
            location: self.start_upload(r).await?,
            size: 0,
        })
    }

    /// Send `len` bytes of `body` as the next chunk of `upload` (one `PATCH` with
    /// `Content-Range: <start>-<end>` and `Content-Length`, streamed as `body` yields), and
    /// follow the session to the `Location` the registry answers with.
    ///
    /// # Errors
    /// Transport errors (including an error `body` yields, which aborts the request) and any
    /// answer but `202 Accepted`, or one whose `Range` does not end where this chunk does.
    pub async fn upload_chunk<S>(
        &self,
        r: &ImageReference,
        upload: &mut BlobUpload,
        body: S,
        len: u64,
    ) -> Result<(), ClientError>
    where
        S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
    {
        let url = upload.location.clone();
        let mut rb = self
            .http_for(&url)?
            .patch(&url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(body));
        if len > 0 {
            let range = format!("{}-{}", upload.size, upload.size + len - 1);
            rb = rb.header(reqwest::header::CONTENT_RANGE, range);
        }
        if let Some(h) = self.auth_for_location(r, &url) {
            rb = rb.header(AUTHORIZATION, h);
        }
        let resp = rb.send().await.map_err(transport(&url))?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(status_error("PATCH", &url, resp).await);
        }
        let end = upload.size + len;
        // `Range: 0-<last byte>` (distribution-spec); an empty session answers `0-0`
        let reported = resp
            .headers()
            .get(reqwest::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once('-'))
            .and_then(|(_, last)| last.trim().parse::<u64>().ok());
        if let Some(last) = reported
            && end > 0
            && last + 1 != end
        {
            return Err(ClientError::Protocol {
                url,
                reason: format!(
                    "the registry holds bytes 0-{last} of the upload, not 0-{}",
                    end - 1
                ),
            });
        }
        if let Some(loc) = resp.headers().get(LOCATION).and_then(|l| l.to_str().ok()) {
            upload.location = resolve_location(&url, loc)?;
        }
        upload.size = end;
        Ok(())
    }

    /// Close `upload` as blob `digest` (a `PUT ?digest=` with no body); the registry checks
    /// the bytes it holds against `digest`.
    pub async fn commit_upload(
        &self,
        r: &ImageReference,
        upload: BlobUpload,
        digest: &Digest,
    ) -> Result<(), ClientError> {
        self.finish_upload(
            r,
            &upload.location,
            digest,
            reqwest::Body::from(Vec::new()),
            0,
        )
        .await
    }

    /// Drop `upload` and the bytes sent to it (`DELETE` on the session). A session the
    /// registry no longer knows (`404`) counts as dropped.
    pub async fn cancel_upload(
        &self,
        r: &ImageReference,
        upload: BlobUpload,
    ) -> Result<(), ClientError> {
        let url = upload.location;
        let mut rb = self.http_for(&url)?.delete(&url);
        if let Some(h) = self.auth_for_location(r, &url) {
            rb = rb.header(AUTHORIZATION, h);
        }
        let resp = rb.send().await.map_err(transport(&url))?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(status_error("DELETE", &url, resp).await),
        }
    }

    /// Push `bytes` as a blob unless the repository has it. Returns true when sent.
    pub async fn push_blob_bytes(
        &self,
        r: &ImageReference,
        bytes: Vec<u8>,
    ) -> Result<bool, ClientError> {
        let digest = Digest::sha256_of(&bytes);
        if self.blob_size(r, &digest).await?.is_some() {
            return Ok(false);
        }
        let location = self.start_upload(r).await?;
        let size = bytes.len() as u64;
        self.finish_upload(r, &location, &digest, reqwest::Body::from(bytes), size)
            .await?;
        Ok(true)
    }

    /// Push the file at `path` (whose `digest` and `size` the caller computed) as a blob,
    /// streamed in one `PUT`, unless the repository has it. `progress` is called with the
    /// bytes sent so far. Returns true when sent.
    pub async fn push_blob_file(
        &self,
        r: &ImageReference,
        path: &Path,
        digest: &Digest,
        size: u64,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<bool, ClientError> {
        if self.blob_size(r, digest).await?.is_some() {
            return Ok(false);
        }
        let location = self.start_upload(r).await?;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| ClientError::Io {
                action: "open",
                path: path.display().to_string(),
                source,
            })?;
        let mut sent = 0u64;
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| {
                if let Ok(c) = &chunk {
                    sent += c.len() as u64;
                    progress(sent);
                }
                chunk
            });
        self.finish_upload(
            r,
            &location,
            digest,
            reqwest::Body::wrap_stream(stream),
            size,
        )
        .await?;
        Ok(true)
    }

    /// Copy blob `desc` from `src` (read with `from`, the client for that registry) into
    /// `dst`'s repository (with this client) unless it is there already. Within one
    /// registry it is mounted from the source repository (distribution-spec "Mounting a
    /// blob from another repository"); otherwise it is streamed from the `GET` into the
    /// `PUT` with neither a whole blob in memory nor a file on disk. The bytes are checked on
    /// the way: a body longer than `desc.size`, or one that ends short or hashes to another
    /// digest, is cut off before the destination commits it (the destination checks the
    /// digest too). Returns true when bytes were sent or mounted.
    ///
    /// # Errors
    /// [`ClientError::SizeMismatch`] or [`ClientError::DigestMismatch`] naming the blob when
    /// the source sent other bytes; a descriptor over the blob limit is refused before
    /// anything is read; transport and status errors of either registry.
    pub async fn copy_blob_from(
        &self,
        from: &Client,
        src: &ImageReference,
        dst: &ImageReference,
        desc: &Descriptor,
    ) -> Result<bool, ClientError> {
        if self.blob_size(dst, &desc.digest).await?.is_some() {
            return Ok(false);
        }
        self.check_blob_limit(desc)?;
        let location = if src.registry == dst.registry && src.repository != dst.repository {
            match self.mount_blob(dst, &desc.digest, &src.repository).await? {
                None => return Ok(true),
                Some(location) => location,
            }
        } else {
            self.start_upload(dst).await?
        };
        let (resp, _) = from.get_blob(src, desc).await?;
        // the first check that fails, kept to be reported instead of the aborted upload
        let failed: std::sync::Arc<Mutex<Option<ClientError>>> = Default::default();
        let state = (
            resp.bytes_stream().boxed(),
            Some(desc.digest.hasher()),
            desc.clone(),
            failed.clone(),
        );
        let checked = futures_util::stream::unfold(
            state,
            |(mut body, mut hasher, desc, failed)| async move {
                let h = hasher.as_mut()?;
                let problem = match body.next().await {
                    Some(Ok(chunk)) => {
                        h.update(&chunk);
                        if h.len() < desc.size {
                            return Some((Ok(chunk), (body, hasher, desc, failed)));
                        }
                        if h.len() == desc.size {
                            // the last byte: check the digest before the destination has
                            // it all (it may commit as soon as Content-Length is reached)
                            let (actual, len) = hasher.take()?.finish();
                            match check(&desc.digest, desc.size, &actual, len) {
                                Ok(()) => return Some((Ok(chunk), (body, None, desc, failed))),
                                Err(e) => e,
                            }
                        } else {
                            ClientError::SizeMismatch {
                                what: format!("blob {}", desc.digest),
                                expected: desc.size,
                                actual: h.len(),
                            }
                        }
                    }
                    Some(Err(e)) => ClientError::Protocol {
                        url: format!("blob {}", desc.digest),
                        reason: format!("the source stopped sending it: {e}"),
                    },
                    None => {
                        let (actual, len) = hasher.take()?.finish();
                        match check(&desc.digest, desc.size, &actual, len) {
                            Ok(()) => return None,
                            Err(e) => e,
                        }
                    }
                };
                let message = problem.to_string();
                if let Ok(mut slot) = failed.lock() {
                    slot.get_or_insert(problem);
                }
                Some((
                    Err(std::io::Error::other(message)),
                    (body, None, desc, failed),
                ))
            },
        );
        let sent = self
            .finish_upload(
                dst,
                &location,
                &desc.digest,
                reqwest::Body::wrap_stream(checked),
                desc.size,
            )
            .await;
        if let Some(problem) = failed.lock().ok().and_then(|mut slot| slot.take()) {
            return Err(problem);
        }
        sent.map(|()| true)
    }

    /// Refuse a blob whose descriptor is over the configured limit, before a byte of it is
    /// read.
    fn check_blob_limit(&self, desc: &Descriptor) -> Result<(), ClientError> {
        let max = self.config.max_blob_bytes.unwrap_or(DEFAULT_MAX_BLOB_BYTES);
        if desc.size > max {
            return Err(ClientError::SizeMismatch {
                what: format!(
                    "blob {} (over the limit of {max} bytes; raise it with WHARF_MAX_BLOB_BYTES)",
                    desc.digest
                ),
                expected: max,
                actual: desc.size,
            });
        }
        Ok(())
    }

    /// Ask `dst`'s registry to mount `digest` from repository `from` (distribution-spec
    /// "Mounting a blob from another repository"): `None` when it did (201), else the
    /// upload session it opened instead (202), to send the bytes to.
    async fn mount_blob(
        &self,
        dst: &ImageReference,
        digest: &Digest,
        from: &RepositoryName,
    ) -> Result<Option<String>, ClientError> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from.as_str())
            .finish();
        let url = self.repo_url(
            &dst.registry,
            &dst.repository,
            &format!("blobs/uploads/?{query}"),
        );
        let resp = self
            .send(&dst.registry, Some(&dst.repository), true, &url, |h| {
                h.post(&url).header(CONTENT_LENGTH, 0)
            })
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => {
                let loc = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| ClientError::Protocol {
                        url: url.clone(),
                        reason: "upload answer has no Location".into(),
                    })?;
                resolve_location(&url, loc).map(Some)
            }
            _ => Err(status_error("POST", &url, resp).await),
        }
    }

    /// Push an artifact manifest that refers to `subject` (OCI image spec 1.1 §Guidelines
    /// for artifact usage): the empty config `{}`, `layers` as given (media type, bytes,
    /// annotations; an empty list gets the one empty layer the spec recommends), pushed by
    /// digest. Returns the manifest digest and whether the registry indexed it as a
    /// referrer of `subject` (its answer carried `OCI-Subject`, distribution-spec "Pushing
    /// Manifests with Subject"); when it did not, the caller falls back to the referrers
    /// tag schema.
    pub async fn push_referrer(
        &self,
        r: &ImageReference,
        subject: Descriptor,
        artifact_type: &str,
        layers: Vec<ReferrerLayer>,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<PushedReferrer, ClientError> {
        let empty = Descriptor::of(media_types::OCI_EMPTY, b"{}");
        self.push_blob_bytes(r, b"{}".to_vec()).await?;
        let mut descriptors = Vec::new();
        for (media_type, bytes, annotations) in layers {
            let mut d = Descriptor::of(&media_type, &bytes);
            d.annotations = annotations;
            self.push_blob_bytes(r, bytes).await?;
            descriptors.push(d);
        }
        if descriptors.is_empty() {
            descriptors.push(empty.clone());
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.to_owned()),
            artifact_type: Some(artifact_type.to_owned()),
            config: empty,
            layers: descriptors,
            subject: Some(subject),
            annotations,
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| ClientError::Protocol {
            url: r.to_string(),
            reason: format!("cannot encode a referrer manifest: {e}"),
        })?;
        let digest = Digest::sha256_of(&bytes);
        let subject = manifest.subject.as_ref().map(|s| s.digest.clone());
        let (digest, oci_subject) = self
            .put_manifest(
                r,
                &Reference::Digest(digest.clone()),
                media_types::OCI_MANIFEST,
                bytes,
            )
            .await?;
        Ok(PushedReferrer {
            digest,
            indexed: oci_subject.is_some() && oci_subject == subject,
        })
    }

    /// `PUT` a manifest under `reference` (a tag or its digest). Returns its digest, checked
    /// against the registry's `Docker-Content-Digest`.
    pub async fn push_manifest(
        &self,
        r: &ImageReference,
        reference: &Reference,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest, ClientError> {
        Ok(self.put_manifest(r, reference, media_type, bytes).await?.0)
    }

    /// [`push_manifest`](Self::push_manifest), also returning the `OCI-Subject` the
    /// registry answered with, if any (distribution-spec v1.1, "Pushing Manifests with
    /// Subject": a registry that indexed the manifest as a referrer says so with it).
    pub async fn put_manifest(
        &self,
        r: &ImageReference,
        reference: &Reference,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(Digest, Option<Digest>), ClientError> {
        let digest = Digest::sha256_of(&bytes);
        let url = self.repo_url(
            &r.registry,
            &r.repository,
            &format!("manifests/{reference}"),
        );
        let resp = self
            .send(&r.registry, Some(&r.repository), true, &url, |h| {
                h.put(&url)
                    .header(CONTENT_TYPE, media_type)
                    .body(bytes.clone())
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error("PUT", &url, resp).await);
        }
        if let Some(theirs) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && let Ok(theirs) = theirs.parse::<Digest>()
            && theirs != digest
        {
            return Err(ClientError::DigestMismatch {
                what: format!("manifest pushed to {url}"),
                expected: digest,
                actual: theirs,
            });
        }
        let subject = resp
            .headers()
            .get("oci-subject")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        Ok((digest, subject))
    }

    /// Pull the manifest `r` names and check it: against the digest when `r` has one,
    /// else against the registry's `Docker-Content-Digest`.
    pub async fn pull_manifest(&self, r: &ImageReference) -> Result<PulledManifest, ClientError> {
        let reference = r.reference();
        let url = self.repo_url(
            &r.registry,
            &r.repository,
            &format!("manifests/{reference}"),
        );
        let accept = media_types::MANIFEST_ACCEPT.join(", ");
        let resp = self
            .send(&r.registry, Some(&r.repository), false, &url, |h| {
                h.get(&url).header(ACCEPT, &accept)
            })
            .await?;
        if !resp.status().is_success() {
            return Err(status_error("GET", &url, resp).await);
        }
        if let Some(len) = resp.content_length()
            && len > MAX_MANIFEST_SIZE
        {
            return Err(ClientError::ManifestTooLarge {
                url,
                size: len,
                max: MAX_MANIFEST_SIZE,
            });
        }
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok()?.parse::<Digest>().ok());
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(transport(&url))?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MAX_MANIFEST_SIZE {
                return Err(ClientError::ManifestTooLarge {
                    url,
                    size: bytes.len() as u64,
                    max: MAX_MANIFEST_SIZE,
                });
            }
        }
        let expected = match (&reference, header_digest) {
            (Reference::Digest(d), _) => Some(d.clone()),
            (Reference::Tag(_), h) => h,
        };
        let digest = match expected {
            Some(expected) => {
                let actual = expected.compute_same(&bytes);
                if actual != expected {
                    return Err(ClientError::DigestMismatch {
                        what: format!("manifest {r}"),
                        expected,
                        actual,
                    });
                }
                actual
            }
            None => Digest::sha256_of(&bytes),
        };
        let media_type = content_type
            .filter(|c| c != "application/json" && !c.is_empty())
            .or_else(|| {
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()?
                    .get("mediaType")?
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| media_types::OCI_MANIFEST.to_owned());
        Ok(PulledManifest {
            digest,
            media_type,
            bytes,
        })
    }

    async fn get_blob(
        &self,
        r: &ImageReference,
        desc: &Descriptor,
    ) -> Result<(Response, String), ClientError> {
        let url = self.repo_url(
            &r.registry,
            &r.repository,
            &format!("blobs/{}", desc.digest),
        );
        let resp = self
            .send(&r.registry, Some(&r.repository), false, &url, |h| {
                h.get(&url)
            })
            .await?;
        if !resp.status().is_success() {
            return Err(status_error("GET", &url, resp).await);
        }
        // a body the registry says is another size than the descriptor is refused unread
        if let Some(len) = resp.content_length()
            && len != desc.size
        {
            return Err(ClientError::SizeMismatch {
                what: format!("blob {} (Content-Length from {url})", desc.digest),
                expected: desc.size,
                actual: len,
            });
        }
        Ok((resp, url))
    }

    /// Pull a small blob (a config) into memory, checking size and digest. Refuses
    /// descriptors over `max` bytes.
    pub async fn pull_blob_bytes(
        &self,
        r: &ImageReference,
        desc: &Descriptor,
        max: u64,
    ) -> Result<Vec<u8>, ClientError> {
        if desc.size > max {
            return Err(ClientError::SizeMismatch {
                what: format!("blob {} (limit)", desc.digest),
                expected: max,
                actual: desc.size,
            });
        }
        let (resp, url) = self.get_blob(r, desc).await?;
        let mut out = Vec::with_capacity(desc.size as usize);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(transport(&url))?);
            if out.len() as u64 > desc.size {
                break;
            }
        }
        check(
            &desc.digest,
            desc.size,
            &desc.digest.compute_same(&out),
            out.len() as u64,
        )?;
        Ok(out)
    }

    /// Stream blob `desc` into `dest`: written to a temporary file beside it, hashed on
    /// the way, and renamed to `dest` only when size and digest match, after one `fsync`.
    /// `progress` gets the bytes received so far. An existing special file (`/dev/null`, a
    /// FIFO) cannot be replaced by a rename: it is written in place and the digest checked
    /// at the end.
    pub async fn pull_blob_to_file(
        &self,
        r: &ImageReference,
        desc: &Descriptor,
        dest: &Path,
        progress: impl Fn(u64),
    ) -> Result<(), ClientError> {
        let io = |action, source| ClientError::Io {
            action,
            path: dest.display().to_string(),
            source,
        };
        if std::fs::metadata(dest).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            // opening a FIFO waits for its reader: off the async threads
            let file = tokio::fs::OpenOptions::new()
                .write(true)
                .open(dest)
                .await
                .map_err(|e| io("open", e))?
                .into_std()
                .await;
            self.stream_blob(r, desc, file, dest, progress).await?;
            return Ok(());
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let tmp = output_file_builder(".wharf-partial-")
            .tempfile_in(&dir)
            .map_err(|e| io("create a temporary file beside", e))?;
        let file = tmp.reopen().map_err(|e| io("open", e))?;
        let file = self.stream_blob(r, desc, file, dest, progress).await?;
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(|e| io("sync", std::io::Error::other(e)))?
            .map_err(|e| io("sync", e))?;
        tmp.persist(dest)
            .map_err(|e| io("move the verified blob to", e.error))?;
        Ok(())
    }

    /// Copy blob `desc` into `file`, hashing it on the way; Ok (with the file back) only
    /// when size and digest match. The bytes are written by one blocking thread fed
    /// through a short queue, so receiving and hashing the next piece overlaps writing
    /// this one, with a write-behind hint every [`WRITE_BEHIND`] bytes. `dest` names
    /// `file` in errors.
    async fn stream_blob(
        &self,
        r: &ImageReference,
        desc: &Descriptor,
        file: std::fs::File,
        dest: &Path,
        progress: impl Fn(u64),
    ) -> Result<std::fs::File, ClientError> {
        let io = |action, source| ClientError::Io {
            action,
            path: dest.display().to_string(),
            source,
        };
        self.check_blob_limit(desc)?;
        let (resp, url) = self.get_blob(r, desc).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(WRITE_QUEUE);
        let writer = tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let mut file = file;
            let (mut written, mut hinted) = (0u64, 0u64);
            while let Some(chunk) = rx.blocking_recv() {
                if let Err(e) = file.write_all(&chunk) {
                    return (file, Some(e));
                }
                written += chunk.len() as u64;
                if written - hinted >= WRITE_BEHIND {
                    write_behind(&file, hinted, written);
                    hinted = written;
                }
            }
            (file, None)
        });
        let mut hasher = desc.digest.hasher();
        let mut stream = resp.bytes_stream();
        let mut failure = None;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    failure = Some(transport(&url)(e));
                    break;
                }
            };
            hasher.update(&chunk);
            if hasher.len() > desc.size {
                failure = Some(ClientError::SizeMismatch {
                    what: format!("blob {}", desc.digest),
                    expected: desc.size,
                    actual: hasher.len(),
                });
                break;
            }
            if tx.send(chunk).await.is_err() {
                break; // the writer stopped: its error is reported below
            }
            progress(hasher.len());
        }
        drop(tx);
        let (file, write_error) = writer
            .await
            .map_err(|e| io("write", std::io::Error::other(e)))?;
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(e) = write_error {
            return Err(io("write", e));
        }
        let (actual, len) = hasher.finish();
        check(&desc.digest, desc.size, &actual, len)?;
        Ok(file)
    }
}

/// Pieces of a blob body queued for the file writer of a pull at most.
const WRITE_QUEUE: usize = 8;

/// Bytes of a pulled blob written between two write-behind hints (8 MiB); see
/// [`write_behind`].
const WRITE_BEHIND: u64 = 8 << 20;

/// Start writing `file`'s bytes `[from, to)` to disk now, without waiting for them, so
/// that the one `fsync` before the rename finds little left to write: the disk works
/// while the rest of the body arrives (that `fsync` took ~40 ms of a 100 MiB pull, and
/// takes ~2 ms with this hint).
///
/// Linux's `posix_fadvise(POSIX_FADV_DONTNEED)` starts writeback of the range's dirty
/// pages (`WB_SYNC_NONE`, as `sync_file_range(SYNC_FILE_RANGE_WRITE)` does, which has
/// no safe binding) and drops only pages already clean, so the bytes just written stay
/// cached. A hint: an error (a FIFO, `/dev/null`) is ignored, and other systems do nothing.
fn write_behind(file: &std::fs::File, from: u64, to: u64) {
    #[cfg(target_os = "linux")]
    if let Some(len) = std::num::NonZeroU64::new(to.saturating_sub(from)) {
        let _ = rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, to);
}

fn check(
    expected: &Digest,
    expected_size: u64,
    actual: &Digest,
    actual_size: u64,
) -> Result<(), ClientError> {
    if actual_size != expected_size {
        return Err(ClientError::SizeMismatch {
            what: format!("blob {expected}"),
            expected: expected_size,
            actual: actual_size,
        });
    }
    if actual != expected {
        return Err(ClientError::DigestMismatch {
            what: "blob".into(),
            expected: expected.clone(),
            actual: actual.clone(),
        });
    }
    Ok(())
}

/// The target of `Link: <url>; rel="next"`.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',')
        .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))
        .and_then(|part| {
            let start = part.find('<')? + 1;
            let end = part.find('>')?;
            Some(part[start..end].to_owned())
        })
}

/// `Location` values may be absolute or relative to the request URL.
fn resolve_location(base: &str, loc: &str) -> Result<String, ClientError> {
    let base_url = Url::parse(base).map_err(|e| ClientError::Protocol {
        url: base.to_owned(),
        reason: e.to_string(),
    })?;
    base_url
        .join(loc)
        .map(|u| u.to_string())
        .map_err(|e| ClientError::Protocol {
            url: base.to_owned(),
            reason: format!("bad Location `{loc}`: {e}"),
        })
}

/// A temporary-file builder for outputs that are renamed into place: created with mode
/// 0666 less the umask, as a file the user writes with any tool would be (tempfile's own
/// default, 0600, is for secrets; private keys are written apart, 0600).
pub fn output_file_builder(prefix: &str) -> tempfile::Builder<'_, '_> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b
}

/// A search of a registry's catalog ([`Client::search_packages`]).
#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    /// Text in the name or description.
    pub text: String,
    /// An interface (glob) the package exports.
    pub exports: String,
    /// An interface (glob) the package imports.
    pub imports: String,
    /// 1-based page.
    pub page: u32,
}

/// One package found (`/api/v1/packages`, as the registry's OpenAPI document gives it).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct PackageHit {
    /// Repository name.
    pub repository: String,
    /// `ns:name`, when the repository maps to one.
    pub name: Option<String>,
    /// Its latest version.
    pub latest: String,
    /// `component`, `core-module` or `wit-package`.
    pub kind: String,
    /// Its description.
    pub description: Option<String>,
    /// Its target world.
    pub target: Option<String>,
}

/// One page of search results.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct SearchResults {
    /// The packages on this page.
    pub packages: Vec<PackageHit>,
    /// Matches in all pages.
    pub total: u64,
    /// This page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A plain-HTTP registry that redirects a read to `https://` (object storage): the hop
    /// is taken by the TLS client (set up only then), which opens a TLS handshake there,
    /// and the credentials are not carried along.
    #[tokio::test]
    async fn a_plain_http_redirect_to_https_is_followed_with_tls() {
        let tls_side = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls_addr = tls_side.local_addr().unwrap();
        let registry = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let registry_addr = registry.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut conn, _) = registry.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf).await.unwrap();
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://{tls_addr}/blob\r\n\
                 Content-Length: 0\r\n\r\n"
            );
            conn.write_all(answer.as_bytes()).await.unwrap();
        });
        let first_bytes = tokio::spawn(async move {
            let (mut conn, _) = tls_side.accept().await.unwrap();
            let mut buf = [0u8; 5];
            conn.read_exact(&mut buf).await.unwrap();
            buf
        });
        let client = Client::new(ClientConfig::default()).unwrap();
        assert!(
            client.tls.get().is_none(),
            "no TLS set-up before an https URL"
        );
        let err = client
            .registry_metadata(&registry_addr.to_string())
            .await
            .unwrap_err();
        // the handshake fails (the other side is no TLS server), at the https location
        match &err {
            ClientError::Transport { url, .. } => {
                assert_eq!(url, &format!("https://{tls_addr}/blob"), "{err}");
            }
            other => panic!("expected a transport error at the https hop, got {other}"),
        }
        let hello = first_bytes.await.unwrap();
        assert_eq!(
            hello[0], 0x16,
            "a TLS handshake record (ClientHello) arrived"
        );
        assert!(client.tls.get().is_some());
    }
}
