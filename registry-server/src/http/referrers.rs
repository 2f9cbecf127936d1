//! `GET /v2/<name>/referrers/<digest>[?artifactType=]` (OCI Distribution v1.1).

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::Response;
use wharf_oci::{Digest, ImageIndex, RepositoryName, media_types};

use super::AppState;
use super::blobs::internal;
use super::{ApiError, Request};

/// An image index of the manifests whose subject is `digest` (an empty one for an
/// unknown digest), filtered by `artifactType` with `OCI-Filters-Applied` when asked.
pub(crate) async fn list(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    digest: &Digest,
    req: Request,
) -> Result<Response, ApiError> {
    let artifact_type = req.query.get("artifactType").filter(|t| !t.is_empty());
    let manifests = state
        .registry
        .referrers(repo, digest, artifact_type)
        .await?;
    let index = ImageIndex::of(manifests);
    let body = serde_json::to_vec(&index)
        .map_err(|e| ApiError::from(crate::service::ServiceError::Internal(e.to_string())))?;
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, media_types::OCI_INDEX);
    if artifact_type.is_some() {
        resp = resp.header("oci-filters-applied", "artifactType");
    }
    resp.body(axum::body::Body::from(body)).map_err(internal)
}
