//! `GET /v2/<name>/tags/list` and `GET /v2/_catalog`.

use std::sync::Arc;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use wharf_oci::{RepositoryName, Tag};

use super::AppState;
use super::{ApiError, Request};

const DEFAULT_PAGE: u32 = 1000;

fn with_next(mut resp: Response, path: &str, n: u32, last: Option<&str>) -> Response {
    if let Some(last) = last {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("n", &n.to_string())
            .append_pair("last", last)
            .finish();
        if let Ok(v) = format!("<{path}?{q}>; rel=\"next\"").parse() {
            resp.headers_mut().insert("link", v);
        }
    }
    resp
}

/// Tags in lexical order, `n` at a time after `last`, with `Link` when more follow.
pub(crate) async fn list(
    state: &Arc<AppState>,
    repo: &RepositoryName,
    req: Request,
) -> Result<Response, ApiError> {
    let n = req.query.page_size(DEFAULT_PAGE)?;
    let (tags, more) = state.registry.tags(repo, n, req.query.get("last")).await?;
    let resp = Json(json!({ "name": repo.as_str(), "tags": tags })).into_response();
    Ok(with_next(
        resp,
        &format!("/v2/{repo}/tags/list"),
        n,
        more.then(|| tags.last().map(Tag::as_str)).flatten(),
    ))
}

/// Repositories in lexical order (Docker's `_catalog` extension).
pub(crate) async fn catalog(state: &Arc<AppState>, req: Request) -> Result<Response, ApiError> {
    let n = req.query.page_size(DEFAULT_PAGE)?;
    // with authentication on, list only what the client may pull (filtered before paging)
    let visible = req
        .identity
        .clone()
        .unwrap_or_default()
        .visibility(state.auth.as_ref());
    let (repos, more) = state
        .registry
        .catalog(n, req.query.get("last"), &visible)
        .await?;
    let resp = Json(json!({ "repositories": repos })).into_response();
    Ok(with_next(
        resp,
        "/v2/_catalog",
        n,
        more.then(|| repos.last().map(RepositoryName::as_str))
            .flatten(),
    ))
}
