//! The JSON API under `/api/v1` (described by `/api/v1/openapi.json`): packages, versions
//! and repositories as the catalog service sees them, filtered by the caller's pull
//! permission. Errors use the OCI error body.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use wharf_oci::{Reference, RepositoryName};

use super::auth::Identity;
use super::{ApiError, ErrorCode, Query};
use super::AppState;
use crate::service::{SearchQuery, Viewer};

/// The OpenAPI 3.1 document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What a request may see: pull permission, host and namespace prefix.
pub(crate) struct ViewerParts {
    state: Arc<AppState>,
    user: Option<String>,
    host: String,
}

impl ViewerParts {
    pub(crate) fn new(
        state: &Arc<AppState>,
        headers: &HeaderMap,
        identity: Option<&Identity>,
    ) -> Self {
        let host = state
            .config
            .public_registry
            .clone()
            .or_else(|| {
                headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| state.config.listen.to_string());
        ViewerParts {
            state: state.clone(),
            user: identity.and_then(|i| i.user.clone()),
            host,
        }
    }

    /// Call `f` with the [`Viewer`].
    pub(crate) async fn with<T, F>(&self, f: F) -> T
    where
        F: AsyncFnOnce(&Viewer<'_>) -> T,
    {
        let state = self.state.clone();
        let user = self.user.clone();
        let may_pull = move |repo: &str| match state.auth.as_ref() {
            None => true,
            Some(auth) => auth
                .permitted(user.as_deref(), repo)
                .contains(&crate::auth::Action::Pull),
        };
        let viewer = Viewer {
            may_pull: &may_pull,
            host: &self.host,
            namespace_prefix: &self.state.config.namespace_prefix,
        };
        f(&viewer).await
    }
}

/// Parse `repo` or `repo@reference` (a tag or a digest).
pub(crate) fn parse_target(path: &str) -> Result<(RepositoryName, Option<Reference>), ApiError> {
    let (repo, reference) = match path.split_once('@') {
        Some((r, v)) => (r, Some(v)),
        None => (path, None),
    };
    let repo: RepositoryName = repo
        .trim_end_matches('/')
        .parse()
        .map_err(|e: wharf_oci::NameError| ApiError::name_invalid(e.to_string()))?;
    let reference = match reference {
        None => None,
        Some(r) if r.contains(':') => Some(Reference::Digest(
            r.parse()
                .map_err(|e: wharf_oci::DigestError| ApiError::digest_invalid(e.to_string()))?,
        )),
        Some(r) => Some(Reference::Tag(r.parse().map_err(
            |e: wharf_oci::NameError| ApiError::new(ErrorCode::TagInvalid, e.to_string()),
        )?)),
    };
    Ok((repo, reference))
}

/// A page number or size from the query: absent is `default`, malformed is a 400.
pub(crate) fn number(query: &Query, key: &str, default: u32) -> Result<u32, ApiError> {
    match query.get(key) {
        None | Some("") => Ok(default),
        Some(v) => v.parse::<u32>().map_err(|_| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("`{key}={v}` is not a number"),
            )
        }),
    }
}

/// The search a query string asks for (`q`, `exports`, `imports`, `page`, `per_page`,
/// `sort=recent`).
pub(crate) fn search_query(query: &Query) -> Result<SearchQuery, ApiError> {
    Ok(SearchQuery {
        text: query.get("q").unwrap_or_default().to_owned(),
        exports: query.get("exports").unwrap_or_default().to_owned(),
        imports: query.get("imports").unwrap_or_default().to_owned(),
        page: number(query, "page", 1)?,
        per_page: number(query, "per_page", 20)?,
        recent: query.get("sort") == Some("recent"),
    })
}

/// `GET /api/v1/openapi.json`
pub(crate) async fn openapi() -> Response {
    ([("content-type", "application/json")], OPENAPI).into_response()
}

/// `GET /api/v1/packages`
pub(crate) async fn packages(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Result<Response, ApiError> {
    let q = search_query(&Query::parse(raw))?;
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    let page = parts
        .with(async |v| state.registry.search_packages(&q, v).await)
        .await?;
    Ok(Json(page).into_response())
}

/// `GET /api/v1/packages/{repository}` and `…/{repository}@{version}`
pub(crate) async fn package(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Result<Response, ApiError> {
    let (repo, reference) = parse_target(&path)?;
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    Ok(match reference {
        None => Json(
            parts
                .with(async |v| state.registry.package(&repo, v).await)
                .await?,
        )
        .into_response(),
        Some(r) => Json(
            parts
                .with(async |v| state.registry.version(&repo, &r, v).await)
                .await?,
        )
        .into_response(),
    })
}

/// `GET /api/v1/repositories`
pub(crate) async fn repositories(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw);
    let page = number(&query, "page", 1)?;
    let per_page = number(&query, "per_page", 100)?;
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    let (items, total) = parts
        .with(async |v| state.registry.repository_page(page, per_page, v).await)
        .await?;
    Ok(Json(json!({
        "repositories": items,
        "total": total,
        "page": page.max(1),
        "per_page": per_page.clamp(1, crate::service::MAX_PER_PAGE),
    }))
    .into_response())
}

/// `GET /api/v1/repositories/{repository}`
pub(crate) async fn repository(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Result<Response, ApiError> {
    let (repo, _) = parse_target(&path)?;
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    let detail = parts
        .with(async |v| state.registry.repository_detail(&repo, v).await)
        .await?;
    Ok(Json(detail).into_response())
}
