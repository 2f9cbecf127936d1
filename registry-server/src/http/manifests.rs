//! `GET|HEAD|PUT /v2/<name>/manifests/<reference>`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use wharf_oci::{Reference, RepositoryName};

use super::blobs::internal;
use super::{ApiError, Request, empty};
use crate::AppState;

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
        Body::from(m.content)
    };
    builder.body(body).map_err(internal)
}

pub(crate) async fn put(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    reference: &Reference,
    req: Request,
) -> Result<Response, ApiError> {
    let limit = state.registry.limits().max_manifest_bytes;
    let content = axum::body::to_bytes(req.body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                format!("manifest body could not be read within {limit} bytes: {e}"),
            )
        })?;
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let pushed = state
        .registry
        .put_manifest(repo, reference, content_type, &content)
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
    Ok(empty(StatusCode::CREATED, &headers))
}
