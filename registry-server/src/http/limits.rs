//! Per-client request rate limit: a token bucket per client IP address, refilled at
//! `rate-limit-per-second` up to `rate-limit-burst`. An empty bucket is answered 429
//! `TOOMANYREQUESTS` with `Retry-After` (seconds). Health and metrics are not limited.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::{ApiError, ErrorCode};

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of all clients seen recently.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// Take one token for `ip`; `Err(seconds)` until one is available.
    fn take(&self, ip: IpAddr, per_second: f64, burst: f64) -> Result<(), f64> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > 100_000 {
            // forget clients whose bucket has refilled
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second < burst
            });
        }
        let b = buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second).min(burst);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - b.tokens) / per_second)
        }
    }
}

/// Middleware: apply the rate limit when one is configured.
pub(crate) async fn rate_limit(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let per_second = state.config.rate_limit_per_second;
    let exempt = matches!(req.uri().path(), "/livez" | "/readyz" | "/metrics");
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if per_second > 0.0
        && !exempt
        && let Some(ip) = client
        && let Err(wait) =
            state
                .limiter
                .take(ip, per_second, state.config.rate_limit_burst.max(1.0))
    {
        let seconds = wait.ceil().max(1.0) as u64;
        let mut resp = ApiError::new(
            ErrorCode::TooManyRequests,
            format!("too many requests from {ip}; retry in {seconds} s"),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
            resp.headers_mut().insert("retry-after", v);
        }
        return resp;
    }
    next.run(req).await
}

/// Largest total size of request headers accepted (names and values), in bytes. Docker and
/// OCI clients send a few KiB; beyond this is 431. (hyper already bounds what it buffers.)
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Middleware: refuse oversized request headers with 431.
pub(crate) async fn header_limit(req: Request, next: Next) -> Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return ApiError::new(
            ErrorCode::SizeInvalid,
            format!("request headers are {size} bytes, more than the {MAX_HEADER_BYTES} accepted"),
        )
        .with_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        .into_response();
    }
    next.run(req).await
}
