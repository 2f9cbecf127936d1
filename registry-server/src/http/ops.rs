//! Operations endpoints: `/livez`, `/readyz`, `/metrics` (Prometheus text format 0.0.4),
//! and the middleware that counts requests and bytes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::route;

/// Request counters: by method, endpoint kind and status; bytes in and out as declared by
/// `Content-Length` (request bodies sent chunked are counted by the upload counter).
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// The endpoint label of a request path; `None` for `/v2/<…>`, whose label is the kind
/// of route `route::resolve` parsed (left on the response as a [`route::RouteKind`], so
/// the path is not parsed again here).
fn path_kind(path: &str) -> Option<&'static str> {
    Some(match path {
        "/v2" | "/v2/" => "base",
        p if p.starts_with("/v2/") => return None,
        "/livez" | "/readyz" => "health",
        "/metrics" => "metrics",
        p if p.starts_with("/.well-known/") => "well_known",
        _ => "other",
    })
}

fn content_length(h: &axum::http::HeaderMap) -> u64 {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

/// Middleware: count the request and log it (method, path, status, bytes, duration, user).
pub(crate) async fn track(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let by_path = path_kind(req.uri().path());
    state
        .metrics
        .bytes_in
        .fetch_add(content_length(req.headers()), Ordering::Relaxed);
    let resp = next.run(req).await;
    state
        .metrics
        .bytes_out
        .fetch_add(content_length(resp.headers()), Ordering::Relaxed);
    // the access log: one line per request (target `wharf_registry::access`, at info)
    tracing::info!(
        target: "wharf_registry::access",
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        bytes = content_length(resp.headers()),
        ms = (started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
        user = %resp
            .extensions()
            .get::<super::auth::Identity>()
            .and_then(|i| i.user.as_deref())
            .unwrap_or("-"),
        "request"
    );
    if let Ok(mut map) = state.metrics.requests.lock() {
        let kind = by_path
            .or_else(|| resp.extensions().get::<route::RouteKind>().map(|k| k.0))
            .unwrap_or("other");
        *map.entry((method, kind, resp.status().as_u16()))
            .or_insert(0) += 1;
    }
    resp
}

/// `GET /livez`: the process is up.
pub(crate) async fn livez() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

/// `GET /readyz`: 200 when the metadata database takes a write (not only a read: a full disk
/// leaves reads working) and the blob directory is there; 503 naming what is not.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.registry.check_writable().await {
        Ok(_) => match state.registry.check_blob_storage().await {
            Ok(()) => (StatusCode::OK, "ready\n").into_response(),
            Err(e) => {
                tracing::warn!(error = %e, "readiness check of blob storage failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "blob storage unavailable\n",
                )
                    .into_response()
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "metadata database unavailable\n",
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    out.push_str(
        "# HELP wharf_http_requests_total HTTP requests by method, endpoint and status.\n",
    );
    out.push_str("# TYPE wharf_http_requests_total counter\n");
    if let Ok(map) = state.metrics.requests.lock() {
        for ((method, kind, status), n) in map.iter() {
            out.push_str(&format!("wharf_http_requests_total{{method=\"{method}\",endpoint=\"{kind}\",status=\"{status}\"}} {n}\n"));
        }
    }
    for (name, help, v) in [
        (
            "wharf_http_request_bytes_total",
            "Request body bytes received (by Content-Length).",
            &state.metrics.bytes_in,
        ),
        (
            "wharf_http_response_bytes_total",
            "Response body bytes sent (by Content-Length).",
            &state.metrics.bytes_out,
        ),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            v.load(Ordering::Relaxed)
        ));
    }
    match state.registry.usage().await {
        Ok(u) => {
            for (name, help, v) in [
                (
                    "wharf_storage_blob_bytes",
                    "Bytes of committed blobs.",
                    u.blob_bytes,
                ),
                ("wharf_storage_blobs", "Committed blobs.", u.blobs),
                ("wharf_storage_manifests", "Manifests.", u.manifests),
                (
                    "wharf_storage_repositories",
                    "Repositories with at least one manifest.",
                    u.repositories,
                ),
                ("wharf_storage_uploads", "Open upload sessions.", u.uploads),
            ] {
                out.push_str(&format!(
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
                ));
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: storage usage unavailable"),
    }
    match state.registry.quota_usage(|_| true).await {
        Ok(quotas) if !quotas.is_empty() => {
            out.push_str("# HELP wharf_quota_limit_bytes Storage quota of a repository prefix.\n# TYPE wharf_quota_limit_bytes gauge\n");
            for q in &quotas {
                out.push_str(&format!(
                    "wharf_quota_limit_bytes{{prefix=\"{}\"}} {}\n",
                    q.prefix.replace(['\\', '"', '\n'], "_"),
                    q.limit
                ));
            }
            out.push_str("# HELP wharf_quota_used_bytes Bytes of distinct blobs held under a quota's prefix.\n# TYPE wharf_quota_used_bytes gauge\n");
            for q in &quotas {
                out.push_str(&format!(
                    "wharf_quota_used_bytes{{prefix=\"{}\"}} {}\n",
                    q.prefix.replace(['\\', '"', '\n'], "_"),
                    q.used
                ));
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "metrics: quota use unavailable"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
