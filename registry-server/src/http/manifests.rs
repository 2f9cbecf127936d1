//! `GET|HEAD|PUT|DELETE /v2/<name>/manifests/<reference>`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use wharf_oci::{Reference, RepositoryName, Tag};

use super::AppState;
use super::blobs::internal;
use super::{ApiError, ErrorCode, Request, empty};

pub(crate) async fn get(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    reference: &Reference,
    req: Request,
) -> Result<Response, ApiError> {
    let m = state.registry.manifest(repo, reference).await?;
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, &m.media_type)
        .header(header::CONTENT_LENGTH, m.content.len())
        .header("docker-content-digest", m.digest.to_string());
    let body = if req.method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(m.content.clone())
    };
    builder.body(body).map_err(internal)
}

/// Store a manifest. `?tag=` (repeatable; the distribution-spec draft zot serves) tags a
/// manifest pushed by digest and is answered with one `OCI-Tag` header per tag.
pub(crate) async fn put(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    reference: &Reference,
    req: Request,
) -> Result<Response, ApiError> {
    let extra_tags = req
        .query
        .all("tag")
        .map(|t| {
            t.parse::<Tag>()
                .map_err(|e| ApiError::new(ErrorCode::TagInvalid, e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let limit = state.registry.limits().max_manifest_bytes;
    let content = axum::body::to_bytes(req.body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|e| {
            ApiError::new(
                ErrorCode::SizeInvalid,
                format!("manifest body could not be read within {limit} bytes: {e}"),
            )
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        })?;
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let pushed = state
        .registry
        .put_manifest(repo, reference, &extra_tags, content_type, &content)
        .await?;
    let mut headers = vec![
        (
            "location",
            format!("/v2/{repo}/manifests/{}", pushed.digest),
        ),
        ("docker-content-digest", pushed.digest.to_string()),
    ];
    if let Some(subject) = pushed.subject {
        headers.push(("oci-subject", subject.to_string()));
    }
    if !extra_tags.is_empty() {
        headers.extend(pushed.tags.iter().map(|t| ("oci-tag", t.to_string())));
    }
    Ok(empty(StatusCode::CREATED, &headers))
}

/// Delete a manifest by digest (its tags go with it), or a tag alone.
pub(crate) async fn delete(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    reference: &Reference,
) -> Result<Response, ApiError> {
    state.registry.delete_manifest(repo, reference).await?;
    Ok(empty(StatusCode::ACCEPTED, &[]))
}
