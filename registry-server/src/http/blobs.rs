//! `GET|HEAD /v2/<name>/blobs/<digest>`, with `Range`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use wharf_oci::{Digest, RepositoryName};

use super::AppState;
use super::{ApiError, Request};
use crate::service::RangeRequest;

/// `bytes=start-end`, `bytes=start-` or `bytes=-suffix` (RFC 9110 §14.1.2); anything else
/// (several ranges, other units, garbage) is ignored and the whole blob is served, as
/// RFC 9110 allows.
fn parse_range(value: &str) -> Option<RangeRequest> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        return end.parse().ok().map(RangeRequest::Suffix);
    }
    let start = start.parse().ok()?;
    let end = if end.is_empty() {
        None
    } else {
        Some(end.parse().ok()?)
    };
    Some(RangeRequest::From { start, end })
}

pub(crate) async fn get(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    digest: &Digest,
    req: Request,
) -> Result<Response, ApiError> {
    if req.method == Method::HEAD {
        let size = state.registry.blob_size(repo, digest).await?;
        // HEAD carries the blob's length, not the (empty) body's
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, size)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header("docker-content-digest", digest.to_string())
            .header(header::ACCEPT_RANGES, "bytes")
            .body(Body::empty())
            .map_err(internal);
    }
    let range = req
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_range);
    // a whole-blob read from object storage goes to a pre-signed URL (the client follows
    // it without this registry's credentials); ranges stay on this path
    if range.is_none()
        && let Some(url) = state.registry.blob_redirect(repo, digest).await?
    {
        return Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, url)
            .header("docker-content-digest", digest.to_string())
            .header(header::CONTENT_LENGTH, 0)
            .body(Body::empty())
            .map_err(internal);
    }
    let blob = state.registry.blob(repo, digest, range).await?;
    let mut resp = Response::builder()
        .header(header::CONTENT_LENGTH, blob.len)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header("docker-content-digest", digest.to_string())
        .header(header::ACCEPT_RANGES, "bytes");
    resp = match blob.range {
        Some(r) => resp.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{}", r.start, r.end, blob.total),
        ),
        None => resp.status(StatusCode::OK),
    };
    resp.body(Body::from_stream(blob.stream)).map_err(internal)
}

/// Remove a blob from the repository (refused while a manifest references it).
pub(crate) async fn delete(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    digest: &Digest,
) -> Result<Response, ApiError> {
    state.registry.delete_blob(repo, digest).await?;
    Ok(super::empty(StatusCode::ACCEPTED, &[]))
}

pub(crate) fn internal(e: axum::http::Error) -> ApiError {
    ApiError::from(crate::service::ServiceError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("bytes=0-9"),
            Some(RangeRequest::From {
                start: 0,
                end: Some(9)
            })
        );
        assert_eq!(
            parse_range("bytes=5-"),
            Some(RangeRequest::From {
                start: 5,
                end: None
            })
        );
        assert_eq!(parse_range("bytes=-5"), Some(RangeRequest::Suffix(5)));
        assert_eq!(parse_range("bytes=0-1,3-4"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=x-1"), None);
    }
}
