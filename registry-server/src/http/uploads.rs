//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (session, monolithic `?digest=`,
//! mount `?mount=&from=`), `PATCH`, `PUT ?digest=`, `GET` (status), `DELETE`.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::Response;
use wharf_oci::{Digest, RepositoryName};

use super::AppState;
use super::{ApiError, ErrorCode, Request, body_stream, empty};
use crate::service::ChunkRange;
use crate::storage::UploadId;

fn upload_id(id: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::BlobUploadUnknown,
            format!("upload session `{id}` does not exist"),
        )
    })
}

fn digest_param(req: &Request) -> Result<Option<Digest>, ApiError> {
    req.query
        .get("digest")
        .map(|d| {
            d.parse()
                .map_err(|e: wharf_oci::DigestError| ApiError::digest_invalid(e.to_string()))
        })
        .transpose()
}

/// `Range: 0-<last byte>`; `0-0` for an empty upload, as distribution answers.
fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn session_response(
    status: StatusCode,
    repo: &RepositoryName,
    id: &UploadId,
    size: u64,
) -> Response {
    empty(
        status,
        &[
            (
                "location",
                format!("/v2/{repo}/blobs/uploads/{}", id.as_str()),
            ),
            ("range", range_header(size)),
            ("docker-upload-uuid", id.as_str().to_owned()),
        ],
    )
}

fn created(repo: &RepositoryName, digest: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{repo}/blobs/{digest}")),
            ("docker-content-digest", digest.to_string()),
        ],
    )
}

fn has_body(req: &Request) -> bool {
    req.headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .map_or(req.headers.contains_key(header::TRANSFER_ENCODING), |n| {
            n > 0
        })
}

pub(crate) async fn start(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    req: Request,
) -> Result<Response, ApiError> {
    if let (Some(mount), Some(from)) = (req.query.get("mount"), req.query.get("from")) {
        let digest: Digest = mount
            .parse()
            .map_err(|e: wharf_oci::DigestError| ApiError::digest_invalid(e.to_string()))?;
        let from: RepositoryName = from.parse().map_err(|e: wharf_oci::NameError| {
            ApiError::name_invalid(format!("mount source: {e}"))
        })?;
        // an unknown source falls back to a normal session, as the spec allows
        if state.registry.mount(repo, &from, &digest).await?.is_some() {
            return Ok(created(repo, &digest));
        }
    }
    if let Some(digest) = digest_param(&req)? {
        let id = state
            .registry
            .start_upload_of(repo, digest.algorithm(), Some(&digest))
            .await?;
        if let Err(e) = state
            .registry
            .finish_upload(repo, &id, &digest, None, Some(body_stream(req.body)))
            .await
        {
            // the client never saw this session: end it rather than leave it to expire
            let _ = state.registry.cancel_upload(repo, &id).await;
            return Err(e.into());
        }
        return Ok(created(repo, &digest));
    }
    // `?digest-algorithm=` (distribution-spec after v1.1.1): the hash the session keeps
    let algorithm = match req.query.get("digest-algorithm") {
        None | Some("sha256") => wharf_oci::DigestAlgorithm::Sha256,
        Some("sha512") => wharf_oci::DigestAlgorithm::Sha512,
        Some(other) => {
            return Err(ApiError::digest_invalid(format!(
                "unsupported digest algorithm `{other}` (this registry takes sha256 and sha512)"
            )));
        }
    };
    let id = state.registry.start_upload(repo, algorithm).await?;
    Ok(session_response(StatusCode::ACCEPTED, repo, &id, 0))
}

/// `Content-Range: <start>-<end>` (also accepts a `bytes ` prefix and a `/<total>`
/// suffix): where the chunk starts and, when given, its last byte. Malformed is a 416.
fn content_range(req: &Request) -> Result<Option<ChunkRange>, ApiError> {
    let Some(v) = req.headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    let spec = text
        .trim()
        .trim_start_matches("bytes")
        .trim()
        .trim_start_matches('=');
    let spec = spec.split('/').next().unwrap_or("");
    let parsed = match spec.split_once('-') {
        Some((start, end)) => start.trim().parse().ok().and_then(|start| {
            if end.trim().is_empty() {
                Some(ChunkRange { start, end: None })
            } else {
                end.trim()
                    .parse()
                    .ok()
                    .filter(|e| *e >= start)
                    .map(|e| ChunkRange {
                        start,
                        end: Some(e),
                    })
            }
        }),
        None => spec
            .trim()
            .parse()
            .ok()
            .map(|start| ChunkRange { start, end: None }),
    };
    parsed.map(Some).ok_or_else(|| {
        ApiError::new(
            ErrorCode::BlobUploadInvalid,
            format!("invalid Content-Range `{text}`"),
        )
        .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
    })
}

pub(crate) async fn patch(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    id: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let id = upload_id(id)?;
    let range = content_range(&req)?;
    let size = state
        .registry
        .append(repo, &id, range, body_stream(req.body))
        .await?;
    Ok(session_response(StatusCode::ACCEPTED, repo, &id, size))
}

pub(crate) async fn put(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    id: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let id = upload_id(id)?;
    let digest = digest_param(&req)?
        .ok_or_else(|| ApiError::digest_invalid("closing an upload needs `?digest=`"))?;
    let range = content_range(&req)?;
    let body = has_body(&req).then(|| body_stream(req.body));
    state
        .registry
        .finish_upload(repo, &id, &digest, range, body)
        .await?;
    Ok(created(repo, &digest))
}

pub(crate) async fn status(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    id: &str,
) -> Result<Response, ApiError> {
    let id = upload_id(id)?;
    let size = state.registry.upload_status(repo, &id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, repo, &id, size))
}

pub(crate) async fn cancel(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    id: &str,
) -> Result<Response, ApiError> {
    let id = upload_id(id)?;
    state.registry.cancel_upload(repo, &id).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}
