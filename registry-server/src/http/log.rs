//! `GET /log/v1/checkpoint` and `GET /log/v1/tile/…`: the release log, read-only, in the
//! C2SP tlog-tiles layout (`wharf_sign::log`). Where `[auth]` is configured the log names
//! every repository, so only a caller who may pull every repository reads it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::Identity;
use super::{ApiError, AppState, ErrorCode};

/// The path the log is served under, announced in the discovery document.
pub const LOG_PATH: &str = "/log/v1";

fn readable(state: &AppState, identity: Option<&Identity>) -> Result<(), ApiError> {
    let Some(auth) = state.auth.as_ref() else {
        return Ok(());
    };
    let visible = identity.cloned().unwrap_or_default().visibility(Some(auth));
    match visible.is_everything() {
        true => Ok(()),
        false => Err(ApiError::new(
            ErrorCode::Denied,
            "the release log names every repository; it is readable by those who may pull every repository",
        )),
    }
}

fn bytes(content_type: &'static str, cache: &'static str, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// `GET /log/v1/checkpoint`: the signed checkpoint (`text/plain`, not cached).
pub(crate) async fn checkpoint(
    State(state): State<Arc<AppState>>,
    identity: Option<axum::Extension<Identity>>,
) -> Result<Response, ApiError> {
    readable(&state, identity.as_deref())?;
    let note = state.registry.log_checkpoint().await?;
    Ok(bytes("text/plain; charset=utf-8", "no-store", note))
}

/// `GET /log/v1/tile/{path}`: a hash tile or an entry bundle; full tiles never change and
/// are cached for a year, partial ones briefly.
pub(crate) async fn tile(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
    identity: Option<axum::Extension<Identity>>,
) -> Result<Response, ApiError> {
    readable(&state, identity.as_deref())?;
    let path = format!("tile/{path}");
    match state.registry.log_tile(&path).await? {
        Some(body) => {
            let cache = match path.contains(".p/") {
                true => "public, max-age=10",
                false => "public, max-age=31536000, immutable",
            };
            Ok(bytes("application/octet-stream", cache, body))
        }
        None => Ok((StatusCode::NOT_FOUND, "no such tile\n").into_response()),
    }
}
