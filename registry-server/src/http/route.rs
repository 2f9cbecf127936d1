//! Parsing of `/v2/` paths. Repository names may contain `/` and may end in `blobs` or
//! `manifests`, so paths are read from the right (OCI Distribution Spec v1.1,
//! "Endpoints"). Pure and total: any string gives a [`Route`] or `None`.
//!
//! The path is percent-decoded exactly once, here, by [`resolve`]: the middleware puts the
//! typed [`Route`] into the request, the authorisation middleware decides on it and the
//! dispatcher acts on it, so what is authorised is exactly what is served. A path that
//! fails to decode or to validate is answered here, before authorisation or any handler.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wharf_oci::{Digest, Reference, RepositoryName};

use super::AppState;
use super::error::{ApiError, ErrorCode};

/// A `/v2/` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(RepositoryName),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(RepositoryName, Reference),
    /// `/v2/<name>/blobs/<digest>`
    Blob(RepositoryName, Digest),
    /// `/v2/<name>/blobs/uploads/`
    StartUpload(RepositoryName),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(RepositoryName, String),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(RepositoryName, Digest),
}

impl Route {
    /// The repository the route acts on (none for `_catalog`).
    pub fn repository_mut(&mut self) -> Option<&mut RepositoryName> {
        match self {
            Route::Catalog => None,
            Route::Tags(r)
            | Route::Manifest(r, _)
            | Route::Blob(r, _)
            | Route::StartUpload(r)
            | Route::Upload(r, _)
            | Route::Referrers(r, _) => Some(r),
        }
    }

    /// The endpoint's kind, as the metrics label it: `catalog`, `tags`, `manifest`,
    /// `blob`, `upload` or `referrers`.
    pub fn kind(&self) -> &'static str {
        match self {
            Route::Catalog => "catalog",
            Route::Tags(..) => "tags",
            Route::Manifest(..) => "manifest",
            Route::Blob(..) => "blob",
            Route::StartUpload(..) | Route::Upload(..) => "upload",
            Route::Referrers(..) => "referrers",
        }
    }
}

/// The kind of the route a response answered ([`Route::kind`]), left in the response's
/// extensions by [`resolve`] for the metrics middleware.
#[derive(Clone, Copy, Debug)]
pub struct RouteKind(pub &'static str);

fn name(segments: &[&str]) -> Result<RepositoryName, ApiError> {
    let joined = segments.join("/");
    joined
        .parse()
        .map_err(|e: wharf_oci::NameError| ApiError::name_invalid(e.to_string()))
}

fn digest(s: &str) -> Result<Digest, ApiError> {
    s.parse()
        .map_err(|e: wharf_oci::DigestError| ApiError::digest_invalid(e.to_string()))
}

/// Parse the path after `/v2/`. `Ok(None)` is no endpoint (404); `Err` a known endpoint
/// with an invalid name, digest or tag (400).
pub fn parse(path: &str) -> Result<Option<Route>, ApiError> {
    if path == "_catalog" {
        return Ok(Some(Route::Catalog));
    }
    let segs: Vec<&str> = path.split('/').collect();
    let n = segs.len();
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        return Ok(Some(Route::Tags(name(&segs[..n - 2])?)));
    }
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let repo = name(&segs[..n - 3])?;
        return Ok(Some(if segs[n - 1].is_empty() {
            Route::StartUpload(repo)
        } else {
            Route::Upload(repo, segs[n - 1].to_owned())
        }));
    }
    if n >= 3 && segs[n - 2] == "blobs" {
        let repo = name(&segs[..n - 2])?;
        if segs[n - 1] == "uploads" {
            return Ok(Some(Route::StartUpload(repo)));
        }
        return Ok(Some(Route::Blob(repo, digest(segs[n - 1])?)));
    }
    if n >= 3 && segs[n - 2] == "manifests" {
        let repo = name(&segs[..n - 2])?;
        let reference =
            segs[n - 1]
                .parse()
                .map_err(|e: wharf_oci::ReferenceParseError| match e {
                    wharf_oci::ReferenceParseError::Digest(e) => {
                        ApiError::digest_invalid(e.to_string())
                    }
                    wharf_oci::ReferenceParseError::Tag(e) => ApiError::tag_invalid(e.to_string()),
                })?;
        return Ok(Some(Route::Manifest(repo, reference)));
    }
    if n >= 3 && segs[n - 2] == "referrers" {
        return Ok(Some(Route::Referrers(
            name(&segs[..n - 2])?,
            digest(segs[n - 1])?,
        )));
    }
    Ok(None)
}

/// Percent-decode the raw path after `/v2/` (once) and parse it. A path that is not UTF-8
/// once decoded is a 400 `NAME_INVALID`.
pub fn parse_encoded(raw: &str) -> Result<Option<Route>, ApiError> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| {
            ApiError::name_invalid(format!("the path `/v2/{raw}` is not UTF-8 once decoded"))
        })?;
    parse(&decoded)
}

/// The namespace a request names for registry proxying (distribution-spec: the `ns`
/// query parameter, or the `OCI-Namespace` request header).
fn proxy_namespace(req: &Request) -> Option<String> {
    let from_query = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "ns")
            .map(|(_, v)| v.into_owned())
    });
    from_query.or_else(|| {
        req.headers()
            .get("oci-namespace")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
}

/// Middleware: for `/v2/<…>`, decode and parse the path once and insert the [`Route`]
/// into the request's extensions; answer any path that is no endpoint (404) or carries an
/// invalid name, digest or tag (400; for reads and deletes of a manifest by an invalid
/// tag, 404 `MANIFEST_UNKNOWN`, the spec's only failure there) without calling the
/// handlers. `/v2/` itself passes through without a route. A proxy namespace (`?ns=`)
/// that a mirror claims turns the name into the mirror's local repository here, before
/// authorisation, so what is authorised is what is served; the answer then carries
/// `OCI-Namespace`. An unclaimed namespace is ignored.
pub(crate) async fn resolve(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(rest) = req.uri().path().strip_prefix("/v2/") else {
        return next.run(req).await;
    };
    if rest.is_empty() {
        return next.run(req).await;
    }
    match parse_encoded(rest) {
        Ok(Some(mut route)) => {
            let kind = RouteKind(route.kind());
            let mut served_namespace = None;
            if let Some(ns) = proxy_namespace(&req)
                && let Some(repo) = route.repository_mut()
                && let Some(local) = state.registry.namespace_repository(&ns, repo)
            {
                *repo = local;
                served_namespace = Some(ns);
            }
            req.extensions_mut().insert(route);
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(kind);
            if let Some(ns) = served_namespace
                && let Ok(v) = axum::http::HeaderValue::from_str(&ns)
            {
                resp.headers_mut().insert("oci-namespace", v);
            }
            resp
        }
        Ok(None) => ApiError::not_found(&format!("/v2/{rest}")).into_response(),
        Err(e)
            if e.code() == ErrorCode::TagInvalid
                && matches!(*req.method(), Method::GET | Method::HEAD | Method::DELETE) =>
        {
            ApiError::new(ErrorCode::ManifestUnknown, e.message()).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Digest {
        Digest::sha256_of(b"x")
    }

    #[test]
    fn reads_paths_from_the_right() {
        assert_eq!(
            parse("a/b/tags/list").unwrap(),
            Some(Route::Tags("a/b".parse().unwrap()))
        );
        assert_eq!(
            parse(&format!("a/blobs/blobs/{}", d())).unwrap(),
            Some(Route::Blob("a/blobs".parse().unwrap(), d()))
        );
        assert_eq!(
            parse("a/manifests/manifests/v1")
                .unwrap()
                .map(|r| matches!(r, Route::Manifest(..))),
            Some(true)
        );
        assert_eq!(
            parse("a/blobs/uploads/").unwrap(),
            Some(Route::StartUpload("a".parse().unwrap()))
        );
        assert_eq!(
            parse("a/blobs/uploads").unwrap(),
            Some(Route::StartUpload("a".parse().unwrap()))
        );
        assert_eq!(
            parse("a/blobs/uploads/xyz").unwrap(),
            Some(Route::Upload("a".parse().unwrap(), "xyz".into()))
        );
        assert_eq!(
            parse(&format!("a/blobs/uploads/blobs/{}", d())).unwrap(),
            Some(Route::Blob("a/blobs/uploads".parse().unwrap(), d()))
        );
        assert_eq!(parse("_catalog").unwrap(), Some(Route::Catalog));
        assert_eq!(parse("a/b").unwrap(), None);
        assert_eq!(parse("").unwrap(), None);
    }

    #[test]
    fn bad_parts_are_400s() {
        assert!(parse("UPPER/tags/list").is_err());
        assert!(parse("../etc/blobs/sha256:00").is_err());
        assert!(parse("a/blobs/sha256:nothex").is_err());
        assert!(parse("a/manifests/sha256:abc").is_err());
        assert!(parse("a/manifests/-bad-tag").is_err());
    }

    #[test]
    fn decodes_once() {
        assert_eq!(
            parse_encoded("%61lice/app/tags/list").unwrap(),
            Some(Route::Tags("alice/app".parse().unwrap()))
        );
        // a second layer of encoding stays: `%61` is no valid name
        assert!(parse_encoded("%2561lice/app/tags/list").is_err());
        assert!(parse_encoded("%ff/tags/list").is_err());
        assert!(
            parse_encoded("%41lice/tags/list").is_err(),
            "upper case is no name"
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "/",
            "//",
            "///tags/list",
            "blobs/uploads/",
            "/blobs/x",
            "manifests/",
            "a//manifests/x",
            "\u{0}/tags/list",
        ] {
            let _ = parse(s);
        }
    }
}
