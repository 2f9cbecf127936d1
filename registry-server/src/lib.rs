//! `wharf-registry`: an OCI Distribution v1.1 registry that understands WebAssembly.
//!
//! Layers (calls go one way): [`http`] → [`service`] → {[`store`], [`storage`]}; this
//! file only assembles them. [`app`] builds the router from an [`AppState`] (the HTTP
//! layer's state); [`open`] makes the default state (SQLite metadata and a blob directory
//! under one data dir); [`serve`] runs it.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod config;
pub mod http;
pub mod service;
pub mod storage;
pub mod store;
pub mod upstream;

use std::sync::Arc;

use anyhow::Context as _;

pub use config::Config;
pub use http::AppState;

/// The axum router of the registry.
pub fn app(state: Arc<AppState>) -> axum::Router {
    http::router(state)
}

/// Open the storage: metadata in `config.data_dir/metadata.db` (SQLite), or in PostgreSQL
/// when `config.database_url` is set (both migrated at open); blobs and uploads under
/// `config.data_dir` (filesystem), or in S3-compatible object storage when
/// `config.storage_url` is `s3://BUCKET[/PREFIX]`.
pub async fn open(config: Config) -> anyhow::Result<Arc<AppState>> {
    tokio::fs::create_dir_all(&config.data_dir)
        .await
        .with_context(|| {
            format!(
                "failed to create data directory `{}`",
                config.data_dir.display()
            )
        })?;
    let store: Arc<dyn store::Store> =
        match &config.database_url {
            Some(url) => Arc::new(
                store::PgStore::connect(secrecy::ExposeSecret::expose_secret(url), None)
                    .await
                    .context("failed to open the PostgreSQL metadata database")?,
            ),
            None => {
                let db = config.data_dir.join("metadata.db");
                Arc::new(store::SqliteStore::open(&db).await.with_context(|| {
                    format!("failed to open metadata database `{}`", db.display())
                })?)
            }
        };
    let blobs: Arc<dyn storage::BlobStore> = match &config.storage_url {
        Some(url) => Arc::new(
            storage::S3BlobStore::open(url, &config.s3, config.s3_part_size)
                .with_context(|| format!("failed to open blob storage `{url}`"))?,
        ),
        None => Arc::new(
            storage::FsBlobStore::open(&config.data_dir)
                .await
                .context("failed to open blob storage")?,
        ),
    };
    let mut rules = Vec::new();
    for rule in &config.signature_rules {
        let keys = rule
            .keys
            .iter()
            .map(|k| {
                std::fs::read_to_string(k)
                    .with_context(|| format!("failed to read signature key `{}`", k.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (k, path) in keys.iter().zip(&rule.keys) {
            wharf_sign::key_id(k).with_context(|| format!("signature key `{}`", path.display()))?;
        }
        if keys.is_empty() && rule.identities.is_empty() {
            anyhow::bail!(
                "signature rule `{}` names neither keys nor identities",
                rule.prefix
            );
        }
        rules.push(service::SignatureRule {
            prefix: rule.prefix.clone(),
            keys,
            identities: identity_rules(&rule.identities)
                .with_context(|| format!("signature rule `{}`", rule.prefix))?,
        });
    }
    let mut trusted = Vec::new();
    for path in &config.trusted_keys {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read trusted key `{}`", path.display()))?;
        wharf_sign::key_id(&pem).with_context(|| format!("trusted key `{}`", path.display()))?;
        trusted.push(pem);
    }
    let redirect = match config.blob_redirect {
        Some(false) => None,
        // on by default: only a store that can sign URLs (object storage) redirects
        _ => Some(config.blob_redirect_expiry),
    };
    let registry = service::Registry::new(store, blobs, config.limits.clone(), config.gc.clone())
        .with_blob_redirects(redirect)
        .with_quotas(
            config
                .quotas
                .iter()
                .map(|q| service::Quota {
                    prefix: q.prefix.trim_end_matches('/').to_owned(),
                    bytes: q.bytes,
                })
                .collect(),
        )
        .with_signature_rules(rules)
        .with_trusted_keys(trusted)
        .with_trusted_identities(
            identity_rules(&config.trusted_identities).context("trusted-identities")?,
        )
        .with_trusted_root(wharf_sign::bundle::load_root(
            config.trusted_root.as_deref(),
        )?)
        .with_log_origin(match &config.public_registry {
            Some(host) => format!("{host}/releases"),
            None => service::DEFAULT_LOG_ORIGIN.to_owned(),
        });
    let mut mirrors = Vec::new();
    for m in &config.mirrors {
        // host[:port] only: no scheme, path or user info
        let host = m.upstream.trim().to_owned();
        if wharf_oci::parse_registry_host(&host).is_none() {
            anyhow::bail!(
                "mirror upstream `{}` is not a registry host[:port]",
                m.upstream
            );
        }
        let plain_http = m
            .plain_http
            .unwrap_or_else(|| wharf_oci::is_loopback_host(&host));
        let upstream = upstream::Upstream::new(
            &host,
            plain_http,
            m.username.clone(),
            m.password.clone(),
            std::time::Duration::from_secs(m.timeout_secs.unwrap_or(30)),
        )
        .with_context(|| format!("mirror upstream `{host}`"))?;
        mirrors.push(service::Mirror {
            prefix: m.prefix.trim_matches('/').to_owned(),
            upstream,
            upstream_host: host.clone(),
            upstream_prefix: m.upstream_prefix.trim_matches('/').to_owned(),
            namespace: host,
            tag_ttl: std::time::Duration::from_secs(m.tag_ttl_secs.unwrap_or(300)),
        });
    }
    let registry = registry.with_mirrors(mirrors);
    // other instances' changes to manifests and tags reach the manifest cache
    registry.follow_changes().await;
    let auth = match &config.auth {
        Some(a) => Some(auth::Auth::load(a).context("invalid [auth] configuration")?),
        None => None,
    };
    Ok(Arc::new(AppState {
        registry,
        config,
        metrics: http::ops::Metrics::default(),
        limiter: http::limits::RateLimiter::default(),
        auth,
    }))
}

/// Serve `state` on `listener` until `shutdown` resolves, then let requests in flight
/// finish. Connections are served by hyper with a header-read timeout
/// (`config.header_read_timeout`, against slow clients), and each request carries the client address
/// (`ConnectInfo<SocketAddr>`) for the rate limiter.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    if !state.config.gc_interval.is_zero() {
        tokio::spawn(gc_loop(state.clone()));
    }
    let header_read_timeout = state.config.header_read_timeout;
    let app = app(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: wait a moment rather than spin
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req.map(axum::body::Body::new)
            },
        );
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}

/// Background garbage collection every `gc_interval` (the first pass after one interval).
async fn gc_loop(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(state.config.gc_interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = state
            .registry
            .collect_garbage(&state.config.gc, false)
            .await
        {
            tracing::error!(error = %e, "garbage collection pass failed");
        }
    }
}

/// Compile configured keyless signers.
fn identity_rules(
    specs: &[wharf_sign::bundle::IdentitySpec],
) -> anyhow::Result<Vec<wharf_sign::bundle::IdentityRule>> {
    Ok(specs
        .iter()
        .map(wharf_sign::bundle::IdentitySpec::rule)
        .collect::<Result<_, _>>()?)
}
