//! The one error type of the HTTP layer: the OCI error body and status codes
//! (OCI Distribution Spec v1.1, "Error Codes").

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::service::ServiceError;

/// An error answer: status, spec code, message. 5xx answers never carry internals.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// For 416 on an upload: the upload's current size (`Range: 0-<size-1>`).
    range: Option<u64>,
    /// For 416 on a blob read: the blob's size (`Content-Range: bytes */<size>`, RFC 9110
    /// §15.5.17).
    content_range_size: Option<u64>,
}

impl ApiError {
    /// An error with `status`, spec `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            range: None,
            content_range_size: None,
        }
    }

    /// 400 `NAME_INVALID`.
    pub fn name_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "NAME_INVALID", message)
    }

    /// 400 `DIGEST_INVALID`.
    pub fn digest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
    }

    /// 400 `TAG_INVALID`: a tag outside the grammar `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
    /// (used for every endpoint that takes a tag to write; reads answer 404).
    pub fn tag_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "TAG_INVALID", message)
    }

    /// The spec code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// 404 for a path that is no route.
    pub fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no such endpoint: {path}"),
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message shown to the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 405 `UNSUPPORTED` for a method the route does not take.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            format!("{method} is not supported on {path}"),
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as S;
        let msg = e.to_string();
        match e {
            S::BlobUnknown(_) => Self::new(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", msg),
            S::UploadUnknown(_) => Self::new(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", msg),
            S::ChunkOutOfOrder { current, .. } => ApiError {
                range: Some(current),
                ..Self::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "BLOB_UPLOAD_INVALID",
                    msg,
                )
            },
            S::UploadBusy { current, .. } => ApiError {
                range: Some(current),
                ..Self::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "BLOB_UPLOAD_INVALID",
                    msg,
                )
            },
            S::DigestMismatch { .. } => Self::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", msg),
            S::ManifestBlobUnknown(_) => {
                Self::new(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", msg)
            }
            S::ManifestChildUnknown(_) => {
                Self::new(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", msg)
            }
            S::ManifestInvalid(_) => Self::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", msg),
            S::ManifestUnknown(_) => Self::new(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", msg),
            S::BlobInUse { .. } => Self::new(StatusCode::CONFLICT, "DENIED", msg),
            S::VersionExists { .. } => Self::new(StatusCode::CONFLICT, "DENIED", msg),
            S::Unsigned { .. } => Self::new(StatusCode::FORBIDDEN, "DENIED", msg),
            S::NameUnknown(_) => Self::new(StatusCode::NOT_FOUND, "NAME_UNKNOWN", msg),
            S::BadRequest(_) => Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg),
            S::SizeInvalid(_) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", msg),
            S::RangeNotSatisfiable { size, .. } => ApiError {
                content_range_size: Some(size),
                ..Self::new(StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID", msg)
            },
            S::BodyFailed(_) => Self::new(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", msg),
            S::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    "internal server error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            json!({ "errors": [{ "code": self.code, "message": self.message, "detail": null }] });
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(current) = self.range
            && let Ok(v) = HeaderValue::from_str(&format!("0-{}", current.saturating_sub(1)))
        {
            resp.headers_mut().insert(header::RANGE, v);
        }
        if let Some(size) = self.content_range_size
            && let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}"))
        {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        resp
    }
}
