//! HTTP: the OCI Distribution v1.1 routes, the wasm-pkg discovery document, the catalog
//! JSON API (`/api/v1`), the web UI, and the request trace layer. Handlers parse typed values and call one service method.

pub mod api;
pub mod auth;
mod blobs;
mod error;
pub mod limits;
pub mod log;
mod manifests;
pub mod ops;
mod referrers;
mod route;
mod tags;
pub mod ui;
mod uploads;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::trace::TraceLayer;
use wharf_oci::RegistryMetadata;

pub use error::{ApiError, ErrorCode};
pub use route::{Route, parse as parse_route, parse_encoded as parse_encoded_route};

/// Everything a request handler needs: the service and what the HTTP layer keeps itself
/// (counters, rate-limit buckets, authentication).
pub struct AppState {
    /// The registry service.
    pub registry: crate::service::Registry,
    /// The configuration it runs with.
    pub config: crate::Config,
    /// Request and byte counters for `/metrics`.
    pub metrics: ops::Metrics,
    /// Per-client request buckets.
    pub limiter: limits::RateLimiter,
    /// Users, rules and token key, when authentication is configured.
    pub auth: Option<crate::auth::Auth>,
}

/// The router of the registry: `/v2/…`, `/.well-known/wasm-pkg/registry.json`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v2", get(base))
        .route("/v2/", get(base))
        .route("/v2/{*path}", any(dispatch))
        .route("/.well-known/wasm-pkg/registry.json", get(well_known))
        .route("/token", get(auth::token))
        .route("/log/v1/checkpoint", get(log::checkpoint))
        .route("/log/v1/tile/{*path}", get(log::tile))
        .route("/livez", get(ops::livez))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/api/v1/packages", get(api::packages))
        .route("/api/v1/packages/{*path}", get(api::package))
        .route("/api/v1/repositories", get(api::repositories))
        .route("/api/v1/repositories/{*path}", get(api::repository))
        .route("/api/v1/quotas", get(api::quotas))
        .route("/", get(ui::home))
        .route("/search", get(ui::search))
        .route("/packages/{*path}", get(ui::package))
        .route("/repositories", get(ui::repositories))
        .route("/repositories/{*path}", get(ui::repository))
        .route("/login", get(ui::login_get).post(ui::login_post))
        .route("/logout", axum::routing::post(ui::logout))
        .route("/static/wharf.css", get(ui::css))
        .route("/static/wharf.js", get(ui::js))
        .fallback(|| async { ApiError::not_found("this path") })
        .layer(axum::middleware::map_response(api_version_header))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        // decode and validate `/v2/` paths once, before authorisation looks at them
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            route::resolve,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::rate_limit,
        ))
        .layer(axum::middleware::from_fn(limits::header_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::track,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn api_version_header(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

/// `GET /v2/`: the API version check.
async fn base() -> impl IntoResponse {
    (StatusCode::OK, [("content-type", "application/json")], "{}")
}

/// The `host[:port]` clients reach this registry at: `public-registry`, else the request's
/// `Host`, else the listen address.
pub(crate) fn public_host(state: &AppState, headers: &HeaderMap) -> String {
    state
        .config
        .public_registry
        .clone()
        .or_else(|| {
            headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| state.config.listen.to_string())
}

/// `GET /.well-known/wasm-pkg/registry.json` (wasm-pkg-tools discovery).
async fn well_known(State(state): State<Arc<AppState>>, headers: HeaderMap) -> impl IntoResponse {
    let host = public_host(&state, &headers);
    let mut doc =
        serde_json::to_value(RegistryMetadata::oci(&host, &state.config.namespace_prefix))
            .unwrap_or_default();
    let mirrors: Vec<serde_json::Value> = state
        .registry
        .mirrors()
        .iter()
        .map(|m| {
            serde_json::json!({
                "prefix": m.prefix,
                "upstream": if m.upstream_prefix.is_empty() {
                    m.upstream_host.clone()
                } else {
                    format!("{}/{}", m.upstream_host, m.upstream_prefix)
                },
            })
        })
        .collect();
    // wharf's own additions, which wkg ignores: the namespaces this registry mirrors, and
    // its release log (where it is served, its origin and the key its checkpoints verify
    // with)
    let mut wharf = serde_json::Map::new();
    if !mirrors.is_empty() {
        wharf.insert("mirrors".into(), serde_json::json!(mirrors));
    }
    match state.registry.log_key().await {
        Ok(key) => {
            wharf.insert(
                "log".into(),
                serde_json::json!({
                    "path": log::LOG_PATH,
                    "origin": key.origin(),
                    "verifier": key.verifier,
                }),
            );
        }
        Err(e) => tracing::warn!("release log key unavailable: {e}"),
    }
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("wharf".into(), serde_json::Value::Object(wharf));
    }
    axum::Json(doc)
}

/// Query parameters as pairs (repeatable keys kept in order).
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: Option<String>) -> Self {
        Query(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// Every value of `key`, in order.
    pub(crate) fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `n` for pagination: absent is `default`; malformed is a 400.
    pub(crate) fn page_size(&self, default: u32) -> Result<u32, ApiError> {
        match self.get("n") {
            None => Ok(default),
            Some(n) => n.parse::<u32>().map(|n| n.min(10_000)).map_err(|_| {
                ApiError::new(
                    ErrorCode::PaginationNumberInvalid,
                    format!("invalid page size n={n}"),
                )
            }),
        }
    }
}

/// The request pieces every `/v2/<name>/…` handler may need.
pub(crate) struct Request {
    pub identity: Option<auth::Identity>,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Query,
    pub body: Body,
}

/// Call the handler of the route that [`route::resolve`] parsed (and the authorisation
/// middleware checked): the path is never parsed again here.
async fn dispatch(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    route: Option<axum::Extension<Route>>,
    identity: Option<axum::Extension<auth::Identity>>,
    body: Body,
) -> Response {
    let raw = uri.query().map(str::to_owned);
    let req = Request {
        identity: identity.map(|e| e.0),
        method,
        headers,
        query: Query::parse(raw),
        body,
    };
    let Some(axum::Extension(route)) = route else {
        // unreachable through `router`, which resolves every `/v2/` path first
        return ApiError::not_found(uri.path()).into_response();
    };
    let m = req.method.clone();
    let result = match (&route, &m) {
        (Route::Catalog, &Method::GET) => tags::catalog(&state, req).await,
        (Route::Tags(repo), &Method::GET) => tags::list(&state, repo, req).await,
        (Route::Manifest(repo, r), &Method::GET | &Method::HEAD) => {
            manifests::get(&state, repo, r, req).await
        }
        (Route::Manifest(repo, r), &Method::PUT) => manifests::put(&state, repo, r, req).await,
        (Route::Blob(repo, d), &Method::GET | &Method::HEAD) => {
            blobs::get(&state, repo, d, req).await
        }
        (Route::StartUpload(repo), &Method::POST) => uploads::start(&state, repo, req).await,
        (Route::Upload(repo, id), &Method::GET) => uploads::status(&state, repo, id).await,
        (Route::Upload(repo, id), &Method::PATCH) => uploads::patch(&state, repo, id, req).await,
        (Route::Upload(repo, id), &Method::PUT) => uploads::put(&state, repo, id, req).await,
        (Route::Upload(repo, id), &Method::DELETE) => uploads::cancel(&state, repo, id).await,
        (Route::Referrers(repo, d), &Method::GET) => referrers::list(&state, repo, d, req).await,
        (Route::Manifest(repo, r), &Method::DELETE) => manifests::delete(&state, repo, r).await,
        (Route::Blob(repo, d), &Method::DELETE) => blobs::delete(&state, repo, d).await,
        _ => Err(ApiError::method_not_allowed(m.as_str(), uri.path())),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A response with `status`, headers and an empty body.
pub(crate) fn empty(status: StatusCode, headers: &[(&str, String)]) -> Response {
    let mut resp = Response::builder().status(status);
    for (k, v) in headers {
        resp = resp.header(*k, v);
    }
    resp.header("content-length", "0")
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Map a request body to the storage stream type.
pub(crate) fn body_stream(body: Body) -> crate::storage::ByteStream {
    use futures_util::StreamExt;
    Box::pin(
        body.into_data_stream()
            .map(|r| r.map_err(std::io::Error::other)),
    )
}
