//! Serving a `wasi:http/proxy` component over HTTP, as `wasmtime serve` does: the component
//! is compiled and pre-instantiated once (`ProxyPre`), every request gets a fresh instance
//! in its own store (with the resource limits and the deadline of [`Limits`]), requests are
//! served concurrently (HTTP/1.1, keep-alive), and a guest that traps or overruns its
//! deadline answers 500 for that request only.
//!
//! Both WASI lines: a WASI 0.2 `wasi:http/incoming-handler` and a WASI 0.3
//! `wasi:http/handler` (an async export run in the store's event loop, which keeps running
//! until the response body has been sent, since a 0.3 guest may write it after `handle`
//! returned).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::server::conn::http1;
use wasmtime::AsContextMut as _;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Store, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::handler::{self, Prepared};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::RuntimeError;
use crate::run::{EpochTicker, Limits, Runtime, guest_context, wasmtime_err};

/// How to serve.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Environment variables every instance sees.
    pub env: Vec<(String, String)>,
    /// Preopened directories: host path, guest path.
    pub dirs: Vec<(std::path::PathBuf, String)>,
    /// Memory and time limits per request (`timeout`: the whole request, guest and body).
    pub limits: Limits,
    /// How long in-flight requests may take to finish after shutdown is asked for.
    pub grace: Duration,
    /// Most instances alive at once (each holds its memories until its guest is done);
    /// further requests wait for one to end. 0 means [`DEFAULT_MAX_INSTANCES`].
    pub max_instances: usize,
}

/// Instances alive at once when [`ServeOptions::max_instances`] is 0.
pub const DEFAULT_MAX_INSTANCES: usize = 256;

struct ServeHost {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: NoOutgoingHttp,
    table: ResourceTable,
    limits: StoreLimits,
}

/// Outgoing HTTP requests from a served guest (`wasi:http/outgoing-handler`) are refused
/// (`HTTP-request-denied`): wharf does not yet let them out (nor, so, carries a second TLS
/// stack for them).
struct NoOutgoingHttp;

type OutgoingFuture = Box<
    dyn Future<
            Output = Result<
                (
                    hyper::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                ),
                wasmtime_wasi_http::Error,
            >,
        > + Send,
>;

impl wasmtime_wasi_http::WasiHttpHooks for NoOutgoingHttp {
    fn send_request(
        &mut self,
        _request: hyper::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> OutgoingFuture {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl WasiView for ServeHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ServeHost {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

struct Server {
    pre: Arc<handler::ProxyPre<ServeHost>>,
    engine: wasmtime::Engine,
    /// Permits for live instances.
    instances: Arc<tokio::sync::Semaphore>,
    opts: ServeOptions,
    what: String,
}

/// A plain-text response for what went wrong on the host's side of a request.
fn text_response(status: u16, text: String) -> hyper::Response<HyperOutgoingBody> {
    let body = http_body_util::Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

impl Server {
    /// One request, in a fresh instance; a trap, a deadline or a guest that never answers
    /// is a 500 naming the cause (and logged on stderr).
    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        match self.instance(req).await {
            Ok(resp) => resp,
            Err(why) => {
                eprintln!("{method} {path}: {why}");
                text_response(500, format!("{why}\n"))
            }
        }
    }

    async fn instance(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>, String> {
        let wasi = guest_context(
            &self.opts.env,
            &self.opts.dirs,
            &[],
            false,
            &self.opts.limits,
        )
        .map_err(|e| e.to_string())?;
        let mut store = Store::new(
            &self.engine,
            ServeHost {
                wasi,
                http: WasiHttpCtx::new(),
                hooks: NoOutgoingHttp,
                table: ResourceTable::new(),
                limits: self.opts.limits.store_limits(),
            },
        );
        store.limiter(|h| &mut h.limits);
        self.opts.limits.arm(&mut store);
        let permit = self
            .instances
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| "the server is stopping".to_owned())?;
        match &*self.pre {
            handler::ProxyPre::P2(pre) => self.p2(pre.clone(), store, req, permit).await,
            handler::ProxyPre::P3(_) => self.p3(store, req, permit).await,
        }
    }

    /// A WASI 0.2 request: `incoming-handler.handle` with a response outparam.
    async fn p2(
        &self,
        pre: wasmtime_wasi_http::p2::bindings::ProxyPre<ServeHost>,
        mut store: Store<ServeHost>,
        req: hyper::Request<hyper::body::Incoming>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<hyper::Response<HyperOutgoingBody>, String> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .map_err(|e| format!("the request could not be handed to the guest: {e}"))?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| format!("the request could not be handed to the guest: {e}"))?;
        let what = self.what.clone();
        // the guest runs on its own task: it may go on writing the body after answering
        let task = tokio::task::spawn(async move {
            let _permit = permit;
            let proxy = pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| format!("`{what}` could not be instantiated: {e:#}"))?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(store, incoming, out)
                .await
                .map_err(|e| trap_message(&what, &e))
        });
        match receiver.await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(code)) => Err(format!("the guest answered with an error: {code:?}")),
            Err(_) => Err(no_response(task, "the guest returned without setting a response").await),
        }
    }

    /// A WASI 0.3 request: `handler.handle` in the store's event loop, which goes on until
    /// the response body has been sent (or dropped).
    async fn p3(
        &self,
        mut store: Store<ServeHost>,
        req: hyper::Request<hyper::body::Incoming>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<hyper::Response<HyperOutgoingBody>, String> {
        let req = req.map(|body| body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
        let (sender, receiver) = futures_channel::oneshot::channel();
        let (body_done, body_sent) = tokio::sync::oneshot::channel::<()>();
        let timeout = self.opts.limits.timeout;
        let pre = self.pre.clone();
        let what = self.what.clone();
        let task = tokio::task::spawn(async move {
            let _permit = permit;
            let proxy = pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| format!("`{what}` could not be instantiated: {e:#}"))?;
            let prepared = Prepared::new(
                store.as_context_mut(),
                &proxy,
                req,
                <ServeHost as WasiHttpView>::http,
                sender,
            )
            .map_err(|e| format!("the request could not be handed to the guest: {e:#}"))?;
            // the request deadline bounds the answer and the body alike: a guest that
            // waits for ever (no code running for the epoch to interrupt) is given up on
            let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
            let until_deadline = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            store
                .run_concurrent(async |accessor| {
                    let handled = prepared.run(accessor, until_deadline).await;
                    // the guest may still be writing the body: keep it running until the
                    // body is sent or its reader is gone
                    match deadline {
                        Some(d) => drop(tokio::time::timeout_at(d, body_sent).await),
                        None => drop(body_sent.await),
                    }
                    handled
                })
                .await
                .and_then(|r| r)
                .map(drop)
                .map_err(|e| trap_message(&what, &e))
        });
        match receiver.await {
            Ok(Ok(resp)) => Ok(resp.map(|body| {
                SignalOnEnd {
                    body,
                    done: Some(body_done),
                }
                .boxed_unsync()
            })),
            Ok(Err(e)) => Err(trap_message(&self.what, &e)),
            Err(_) => Err(no_response(task, "the guest returned without a response").await),
        }
    }
}

/// A response body that says when it has ended or was dropped (the client went away), so
/// the store running the guest that writes it can stop.
struct SignalOnEnd {
    body: HyperOutgoingBody,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl hyper::body::Body for SignalOnEnd {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if let std::task::Poll::Ready(None | Some(Err(_))) = &polled
            && let Some(done) = self.done.take()
        {
            let _ = done.send(());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for SignalOnEnd {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

/// Why a request got no response, from how its guest's task ended: `returned` when the
/// guest returned normally.
async fn no_response(task: tokio::task::JoinHandle<Result<(), String>>, returned: &str) -> String {
    match task.await {
        Ok(Ok(())) => returned.to_owned(),
        Ok(Err(why)) => why,
        Err(e) => format!("the guest's task failed: {e}"),
    }
}

/// What a trap means to the person running the server.
fn trap_message(what: &str, e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => {
            format!("`{what}` ran past the request deadline and was stopped")
        }
        Some(trap) => format!("`{what}` trapped: {trap}"),
        None => format!("`{what}` failed: {e:#}"),
    }
}

/// A `wasi:http/proxy` component compiled and pre-instantiated, ready to serve
/// ([`Runtime::proxy`]).
pub struct Proxy {
    pre: handler::ProxyPre<ServeHost>,
    engine: wasmtime::Engine,
    what: String,
}

impl Runtime {
    /// Pre-instantiate `component` as a `wasi:http/proxy` (it must export
    /// `wasi:http/incoming-handler`), before anything listens.
    ///
    /// # Errors
    /// [`RuntimeError::Wasmtime`] when the component is not a `wasi:http/proxy` (the cause
    /// names what is missing).
    pub fn proxy(&self, component: &Component, what: &str) -> Result<Proxy, RuntimeError> {
        let engine = self.engine();
        let mut linker = Linker::<ServeHost>::new(engine);
        // both WASI lines: a 0.3 service built with Rust's std imports 0.2 as well
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(wasmtime_err("failed to link WASI 0.2"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(wasmtime_err("failed to link WASI HTTP 0.2"))?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)
            .map_err(wasmtime_err("failed to link WASI 0.3"))?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)
            .map_err(wasmtime_err("failed to link WASI HTTP 0.3"))?;
        let instance_pre = linker
            .instantiate_pre(component)
            .map_err(wasmtime_err(format!(
                "`{what}` imports what neither WASI 0.2 nor 0.3 with wasi:http provides"
            )))?;
        let pre = match wasmtime_wasi_http::p3::bindings::ServicePre::new(instance_pre.clone()) {
            Ok(p3) => handler::ProxyPre::P3(p3),
            Err(_) => handler::ProxyPre::P2(
                wasmtime_wasi_http::p2::bindings::ProxyPre::new(instance_pre).map_err(
                    wasmtime_err(format!(
                        "`{what}` is not an HTTP component: it exports neither \
                         wasi:http/incoming-handler@0.2 nor wasi:http/handler@0.3"
                    )),
                )?,
            ),
        };
        Ok(Proxy {
            pre,
            engine: engine.clone(),
            what: what.to_owned(),
        })
    }
}

impl Proxy {
    /// Serve on `listener` until `shutdown` resolves, then give in-flight requests
    /// `opts.grace` to finish. Accept errors are waited out, not fatal.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        opts: ServeOptions,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RuntimeError> {
        let Proxy { pre, engine, what } = self;
        let grace = opts.grace;
        let max = match opts.max_instances {
            0 => DEFAULT_MAX_INSTANCES,
            n => n,
        };
        let server = Arc::new(Server {
            pre: Arc::new(pre),
            engine: engine.clone(),
            instances: Arc::new(tokio::sync::Semaphore::new(max)),
            opts,
            what,
        });
        // the epoch clock that request deadlines count in
        let ticker = EpochTicker::start(&engine);
        let mut connections = tokio::task::JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, _) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // too many open files and the like: wait a little, then go on
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let server = server.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, std::convert::Infallible>(server.handle(req).await) }
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
            // reap finished connections as we go
            while connections.try_join_next().is_some() {}
        }
        drop(listener);
        let drained = tokio::time::timeout(grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            connections.abort_all();
        }
        drop(ticker);
        Ok(())
    }
}
