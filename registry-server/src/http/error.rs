//! The one error type of the HTTP layer: the OCI error body and status codes
//! (OCI Distribution Spec v1.1, "Error Codes"), and the one table of those codes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::service::ServiceError;

/// Every error code the registry answers with: the distribution-spec's table (code-1 to
/// code-14) and the few it leaves to registries (`TAG_INVALID`, `RANGE_INVALID`,
/// `PAGINATION_NUMBER_INVALID`, `BAD_REQUEST`, `NOT_FOUND`, `INTERNAL_ERROR`), each with the
/// status it answers by default. An invalid tag is `TAG_INVALID` wherever a tag is written,
/// and 404 `MANIFEST_UNKNOWN` wherever one is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// code-1: blob unknown to registry (404).
    BlobUnknown,
    /// code-2: blob upload invalid (400; 416 for a chunk out of order).
    BlobUploadInvalid,
    /// code-3: blob upload unknown to registry (404).
    BlobUploadUnknown,
    /// code-4: provided digest did not match uploaded content (400).
    DigestInvalid,
    /// code-5: manifest references a manifest or blob unknown to registry (400).
    ManifestBlobUnknown,
    /// code-6: manifest invalid (400).
    ManifestInvalid,
    /// code-7: manifest unknown to registry (404).
    ManifestUnknown,
    /// code-8: invalid repository name (400).
    NameInvalid,
    /// code-9: repository name not known to registry (404).
    NameUnknown,
    /// code-10: provided length did not match content length (400; 413 over a limit).
    SizeInvalid,
    /// code-11: authentication required (401).
    Unauthorized,
    /// code-12: requested access to the resource is denied (403; 409 for a conflict).
    Denied,
    /// code-13: the operation is unsupported (405).
    Unsupported,
    /// code-14: too many requests (429).
    TooManyRequests,
    /// A tag outside `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` where one is written (400).
    TagInvalid,
    /// A `Range` that selects no byte of the blob (416).
    RangeInvalid,
    /// `n` of a listing is not a number (400).
    PaginationNumberInvalid,
    /// A malformed request the codes above do not name (400).
    BadRequest,
    /// No such endpoint (404).
    NotFound,
    /// A mirror's upstream failed or served wrong bytes, and nothing is cached (502).
    UpstreamUnavailable,
    /// A fault of the registry; the message never carries internals (500).
    InternalError,
}

impl ErrorCode {
    /// The code as written in the error body.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::TagInvalid => "TAG_INVALID",
            ErrorCode::RangeInvalid => "RANGE_INVALID",
            ErrorCode::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// The status this code answers with unless a case says otherwise.
    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::BlobUnknown
            | ErrorCode::BlobUploadUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown
            | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::BlobUploadInvalid
            | ErrorCode::DigestInvalid
            | ErrorCode::ManifestBlobUnknown
            | ErrorCode::ManifestInvalid
            | ErrorCode::NameInvalid
            | ErrorCode::SizeInvalid
            | ErrorCode::TagInvalid
            | ErrorCode::PaginationNumberInvalid
            | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Denied => StatusCode::FORBIDDEN,
            ErrorCode::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorCode::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer: status, spec code, message. 5xx answers never carry internals.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    /// For 416 on an upload: the upload's current size (`Range: 0-<size-1>`).
    range: Option<u64>,
    /// For 416 on a blob read: the blob's size (`Content-Range: bytes */<size>`, RFC 9110
    /// §15.5.17).
    content_range_size: Option<u64>,
}

impl ApiError {
    /// An error with spec `code`, answered with the code's usual status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: code.status(),
            code,
            message: message.into(),
            range: None,
            content_range_size: None,
        }
    }

    /// The same error answered with `status` instead (a 416 `BLOB_UPLOAD_INVALID`, a 409
    /// `DENIED`, a 413 `SIZE_INVALID`).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// 400 `NAME_INVALID`.
    pub fn name_invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NameInvalid, message)
    }

    /// 400 `DIGEST_INVALID`.
    pub fn digest_invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::DigestInvalid, message)
    }

    /// 400 `TAG_INVALID`: a tag outside the grammar `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
    /// (used for every endpoint that takes a tag to write; reads answer 404).
    pub fn tag_invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::TagInvalid, message)
    }

    /// The spec code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// 404 for a path that is no route.
    pub fn not_found(path: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such endpoint: {path}"))
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
            ErrorCode::Unsupported,
            format!("{method} is not supported on {path}"),
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ErrorCode as C;
        use ServiceError as S;
        let msg = e.to_string();
        match e {
            S::BlobUnknown(_) => Self::new(C::BlobUnknown, msg),
            S::UploadUnknown(_) => Self::new(C::BlobUploadUnknown, msg),
            S::ChunkOutOfOrder { current, .. } | S::UploadBusy { current, .. } => ApiError {
                range: Some(current),
                ..Self::new(C::BlobUploadInvalid, msg)
                    .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            },
            S::DigestMismatch { .. } => Self::new(C::DigestInvalid, msg),
            S::ManifestBlobUnknown(_) | S::ManifestChildUnknown(_) => {
                Self::new(C::ManifestBlobUnknown, msg)
            }
            S::ManifestInvalid(_) => Self::new(C::ManifestInvalid, msg),
            S::ManifestUnknown(_) => Self::new(C::ManifestUnknown, msg),
            S::BlobInUse { .. } | S::VersionExists { .. } => {
                Self::new(C::Denied, msg).with_status(StatusCode::CONFLICT)
            }
            S::Unsigned { .. } | S::QuotaExceeded { .. } => Self::new(C::Denied, msg),
            S::MirrorReadOnly { .. } => Self::new(C::Unsupported, msg),
            S::Upstream(_) => Self::new(C::UpstreamUnavailable, msg),
            S::NameUnknown(_) => Self::new(C::NameUnknown, msg),
            S::BadRequest(_) => Self::new(C::BadRequest, msg),
            S::SizeInvalid(_) => {
                Self::new(C::SizeInvalid, msg).with_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            S::RangeNotSatisfiable { size, .. } => ApiError {
                content_range_size: Some(size),
                ..Self::new(C::RangeInvalid, msg)
            },
            S::BodyFailed(_) => Self::new(C::BlobUploadInvalid, msg),
            S::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Self::new(C::InternalError, "internal server error")
            }
        }
    }
}

/// The error body of the OCI Distribution API (spec section "Error Codes"), which the
/// catalog API uses too.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// One entry per error (wharf answers with one).
    pub errors: Vec<ErrorEntry>,
}

/// One error of an [`ErrorBody`].
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorEntry {
    /// The spec code, e.g. `NAME_UNKNOWN`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Always null here.
    pub detail: Option<serde_json::Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            errors: vec![ErrorEntry {
                code: self.code.as_str(),
                message: self.message,
                detail: None,
            }],
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_and_their_statuses_follow_the_spec_table() {
        use ErrorCode as C;
        // distribution-spec "Error Codes", code-1 … code-14, with the statuses the
        // endpoints table gives them
        let spec = [
            (C::BlobUnknown, "BLOB_UNKNOWN", 404),
            (C::BlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400),
            (C::BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404),
            (C::DigestInvalid, "DIGEST_INVALID", 400),
            (C::ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400),
            (C::ManifestInvalid, "MANIFEST_INVALID", 400),
            (C::ManifestUnknown, "MANIFEST_UNKNOWN", 404),
            (C::NameInvalid, "NAME_INVALID", 400),
            (C::NameUnknown, "NAME_UNKNOWN", 404),
            (C::SizeInvalid, "SIZE_INVALID", 400),
            (C::Unauthorized, "UNAUTHORIZED", 401),
            (C::Denied, "DENIED", 403),
            (C::Unsupported, "UNSUPPORTED", 405),
            (C::TooManyRequests, "TOOMANYREQUESTS", 429),
        ];
        for (code, text, status) in spec {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.status().as_u16(), status, "{text}");
        }
        let body = ApiError::new(C::TagInvalid, "bad tag `..`").into_response();
        assert_eq!(body.status(), StatusCode::BAD_REQUEST);
        let conflict = ApiError::new(C::Denied, "exists").with_status(StatusCode::CONFLICT);
        assert_eq!(
            (conflict.code(), conflict.status().as_u16()),
            (C::Denied, 409)
        );
    }
}
