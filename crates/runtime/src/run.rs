use std::path::{Path, PathBuf};

use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};
use wharf_oci::Digest;

use crate::RuntimeError;
use crate::compiled::{CompiledCache, file_identity};

/// How often the engine's epoch advances while a guest runs under a deadline.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What a guest may use: its linear memories' size and its wall-clock time. A guest
/// over either is stopped with a trap (`memory.grow` fails past the memory limit, as the
/// wasm spec lets a host refuse it; the deadline interrupts running code, wasmtime's epoch
/// interruption), never the host.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Largest size of any one linear memory, in bytes (`None`: wasmtime's own limit).
    pub max_memory: Option<usize>,
    /// Wall-clock deadline for a run (or, serving, for one request).
    pub timeout: Option<Duration>,
    /// `wasi:sockets` may reach any address (wasmtime's `-S inherit-network`); without
    /// it every bind and connect is refused.
    pub inherit_network: bool,
    /// `wasi:sockets/ip-name-lookup` may resolve names (wasmtime's
    /// `-S allow-ip-name-lookup`); refused without it.
    pub allow_ip_name_lookup: bool,
}

impl Limits {
    pub(crate) fn store_limits(&self) -> StoreLimits {
        let mut b = StoreLimitsBuilder::new();
        if let Some(m) = self.max_memory {
            b = b.memory_size(m);
        }
        b.build()
    }

    /// Arm `store` for the epoch clock ([`EpochTicker`]): after every [`YIELD_TICKS`] ticks
    /// of running (100 ms) the guest yields to the async executor (a guest that never
    /// returns does not hold a worker thread, so other requests go on; a short request
    /// never yields, so its latency is untouched), and once the timeout has passed it is
    /// interrupted (a trap, `Trap::Interrupt`), checked at the tick the deadline falls in.
    /// Without a running clock, nothing happens.
    pub(crate) fn arm<T: 'static>(&self, store: &mut Store<T>) {
        let deadline = self.timeout.map(|t| std::time::Instant::now() + t);
        let next = move || -> u64 {
            match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    let ticks = left.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1);
                    u64::try_from(ticks).unwrap_or(YIELD_TICKS).min(YIELD_TICKS)
                }
                None => YIELD_TICKS,
            }
        };
        store.set_epoch_deadline(next());
        store.epoch_deadline_callback(move |_| match deadline {
            Some(d) if std::time::Instant::now() >= d => Ok(wasmtime::UpdateDeadline::Interrupt),
            _ => Ok(wasmtime::UpdateDeadline::Yield(next())),
        });
    }
}

/// Ticks a guest runs between yields to the executor: 10 × [`EPOCH_TICK`] = 100 ms.
pub(crate) const YIELD_TICKS: u64 = 10;

/// A WASI context with `env`, the preopened `dirs`, stdout and stderr inherited (stdin too
/// when `stdin`), `argv`, and the network `limits` allow (none by default).
pub(crate) fn guest_context(
    env: &[(String, String)],
    dirs: &[(PathBuf, String)],
    argv: &[String],
    stdin: bool,
    limits: &Limits,
) -> Result<WasiCtx, RuntimeError> {
    let mut builder = WasiCtx::builder();
    if limits.inherit_network {
        // any address, over TCP and UDP (wasmtime-wasi allows neither by default)
        builder.inherit_network().allow_tcp(true).allow_udp(true);
    }
    builder.allow_ip_name_lookup(limits.allow_ip_name_lookup);
    if stdin {
        builder.inherit_stdin();
    }
    builder
        .inherit_stdout()
        .inherit_stderr()
        .args(argv)
        .envs(env);
    for (host, guest) in dirs {
        builder
            .preopened_dir(host, guest, FsPerms::ReadWrite)
            .map_err(|e| RuntimeError::Io {
                action: "preopen directory",
                path: host.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
    }
    Ok(builder.build())
}

/// How to run a command component.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// `argv[0]`, the program name the guest sees.
    pub program: String,
    /// The arguments after the program name.
    pub args: Vec<String>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Preopened directories: host path, guest path.
    pub dirs: Vec<(PathBuf, String)>,
    /// Memory and time limits.
    pub limits: Limits,
}

/// A wasmtime engine configured for components, with an on-disk cache of compiled
/// components keyed by digest (`compiled.rs`): a warm start memory-maps machine code and
/// skips compiling, validating, reading and hashing the wasm.
pub struct Runtime {
    engine: Engine,
    compiled: Option<CompiledCache>,
    /// Components compiled (not loaded from the cache) so far.
    compilations: std::sync::atomic::AtomicUsize,
}

struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

pub(crate) fn wasmtime_err(
    context: impl Into<String>,
) -> impl FnOnce(wasmtime::Error) -> RuntimeError {
    let context = context.into();
    move |e| RuntimeError::Wasmtime {
        context,
        source: e.into(),
    }
}

impl Runtime {
    /// An engine whose compiled components are kept under `cache_dir` (none when
    /// `None`).
    ///
    /// # Errors
    /// [`RuntimeError::Wasmtime`] when wasmtime cannot create the engine on this host.
    pub fn new(cache_dir: Option<&Path>) -> Result<Self, RuntimeError> {
        Self::with_config(cache_dir, Self::config())
    }

    /// An engine for serving at most `max_instances` instances at once: with wasmtime's
    /// pooling instance allocator (memories, tables and stacks reserved up front and
    /// reused, so an instance per request costs no `mmap`/`munmap`), as `wasmtime serve`
    /// uses it, where the host has the address space for it (the same 42-bit probe
    /// `wasmtime serve` makes); the on-demand allocator otherwise. `max_memory` bounds each
    /// linear memory (default 4 GiB).
    ///
    /// # Errors
    /// [`RuntimeError::Wasmtime`] when wasmtime cannot create the engine on this host.
    pub fn for_serving(
        cache_dir: Option<&Path>,
        max_instances: usize,
        max_memory: Option<usize>,
    ) -> Result<Self, RuntimeError> {
        if pooling_fits() {
            let n = u32::try_from(max_instances.max(1)).unwrap_or(u32::MAX);
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            // a component instance holds a few core instances, memories and tables (at
            // the default 256 instances: about wasmtime's own defaults)
            pool.total_component_instances(n)
                .total_core_instances(n.saturating_mul(8))
                .total_memories(n.saturating_mul(4))
                .total_tables(n.saturating_mul(8))
                .total_stacks(n);
            if let Some(m) = max_memory {
                pool.max_memory_size(m);
            }
            let mut config = Self::config();
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
            // a pool this host cannot reserve (a very large --max-instances) falls back to
            // the on-demand allocator
            if let Ok(runtime) = Self::with_config(cache_dir, config) {
                return Ok(runtime);
            }
        }
        Self::with_config(cache_dir, Self::config())
    }

    fn config() -> Config {
        let mut config = Config::new();
        config.wasm_component_model(true);
        // WASI 0.3: `stream`/`future` types and async functions
        config.wasm_component_model_async(true);
        // deadlines (`Limits::timeout`) interrupt running guest code at epoch checks
        config.epoch_interruption(true);
        config
    }

    fn with_config(cache_dir: Option<&Path>, config: Config) -> Result<Self, RuntimeError> {
        let engine =
            Engine::new(&config).map_err(wasmtime_err("failed to create the wasmtime engine"))?;
        let compiled = cache_dir.map(|dir| CompiledCache::new(dir, &engine));
        Ok(Runtime {
            engine,
            compiled,
            compilations: Default::default(),
        })
    }

    /// Compile `wasm` (a component; validated as wasmtime compiles it), without the cache.
    ///
    /// # Errors
    /// [`RuntimeError::Wasmtime`] naming `what` when it is invalid or not a component.
    pub fn compile(&self, wasm: &[u8], what: &str) -> Result<Component, RuntimeError> {
        self.compilations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Component::new(&self.engine, wasm)
            .map_err(wasmtime_err(format!("failed to compile `{what}`")))
    }

    /// The component whose source wasm has `digest`: the cached compilation, memory-mapped,
    /// when there is one; otherwise `wasm()` gives the component's bytes (it may
    /// componentize a core module whose digest `digest` is), which are compiled and cached.
    ///
    /// # Errors
    /// What `wasm()` returns; [`RuntimeError::Wasmtime`] when the bytes do not compile.
    pub fn load<E: From<RuntimeError>>(
        &self,
        digest: &Digest,
        what: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Component, E> {
        if let Some(c) = self.cached(digest) {
            return Ok(c);
        }
        Ok(self.compile_to_cache(digest, &wasm()?, what)?)
    }

    /// Compile `wasm`, whose source has `digest`, and keep the compilation in the cache
    /// (when this runtime has one).
    pub(crate) fn compile_to_cache(
        &self,
        digest: &Digest,
        wasm: &[u8],
        what: &str,
    ) -> Result<Component, RuntimeError> {
        let Some(cache) = &self.compiled else {
            return self.compile(wasm, what);
        };
        self.compilations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        cache.compile_and_store(&self.engine, digest, wasm, what)
    }

    /// The component of the local file `path`. When the file has not changed since it was
    /// last loaded (same device, inode, size, modification and change times) and its
    /// compilation is cached, the file is not even read. Otherwise `read()` returns the
    /// digest of the wasm the file holds and the component's bytes, and the file's digest
    /// is remembered. Returns the component and that digest.
    ///
    /// # Errors
    /// What `read()` returns; [`RuntimeError::Wasmtime`] when the bytes do not compile.
    pub fn load_file<E: From<RuntimeError>>(
        &self,
        path: &Path,
        what: &str,
        read: impl FnOnce() -> Result<(Digest, Vec<u8>), E>,
    ) -> Result<(Component, Digest), E> {
        let Some(cache) = &self.compiled else {
            let (digest, wasm) = read()?;
            return Ok((self.compile(&wasm, what)?, digest));
        };
        // the identity is taken before reading: a write in between changes it, so the
        // record made below cannot vouch for bytes that were not read
        let identity = file_identity(path);
        if let Some(id) = &identity
            && let Some(digest) = cache.file_digest(path, id)
            && let Some(c) = cache.load(&self.engine, &digest)
        {
            return Ok((c, digest));
        }
        let (digest, wasm) = read()?;
        let component = match cache.load(&self.engine, &digest) {
            Some(c) => c,
            None => self.compile_to_cache(&digest, &wasm, what)?,
        };
        if let Some(identity) = identity {
            cache.remember_file(path, &identity, &digest);
        }
        Ok((component, digest))
    }

    /// How many components this runtime compiled rather than loaded from its cache.
    pub fn compilations(&self) -> usize {
        self.compilations.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cached compilation of the wasm with `digest`, memory-mapped, when there is one
    /// (so that wasm need not be fetched to run it).
    pub fn cached(&self, digest: &Digest) -> Option<Component> {
        self.compiled.as_ref()?.load(&self.engine, digest)
    }

    /// The engine (for embedders that instantiate themselves).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Run `component`'s `wasi:cli/run` export with stdio inherited. Returns the guest's
    /// exit code: 0 on success, 1 when `run` returned an error, or the code it passed to
    /// `exit`.
    ///
    /// # Errors
    /// [`RuntimeError::Wasmtime`] naming `what` when it is not a WASI command, needs more
    /// memory than the limit, traps or runs past its deadline.
    pub async fn run_command(
        &self,
        component: &Component,
        what: &str,
        opts: &RunOptions,
    ) -> Result<i32, RuntimeError> {
        let mut linker = Linker::<Host>::new(&self.engine);
        // both WASI lines: a 0.3 guest built with Rust's std imports 0.2 as well
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(wasmtime_err("failed to link WASI 0.2"))?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)
            .map_err(wasmtime_err("failed to link WASI 0.3"))?;

        let mut argv = vec![opts.program.clone()];
        argv.extend(opts.args.iter().cloned());
        let ctx = guest_context(&opts.env, &opts.dirs, &argv, true, &opts.limits)?;
        let mut store = Store::new(
            &self.engine,
            Host {
                ctx,
                table: ResourceTable::new(),
                limits: opts.limits.store_limits(),
            },
        );
        store.limiter(|h| &mut h.limits);
        opts.limits.arm(&mut store);
        // the deadline's clock runs while this guest does
        let _ticker = opts
            .limits
            .timeout
            .map(|_| EpochTicker::start(&self.engine));
        let instance = match linker.instantiate_async(&mut store, component).await {
            Ok(c) => c,
            Err(e) if format!("{e:#}").contains("exceeds memory limits") => {
                return Err(wasmtime_err(format!(
                    "`{what}` needs more memory than the limit of {} bytes allows",
                    opts.limits.max_memory.unwrap_or_default()
                ))(e));
            }
            Err(e) => {
                let context = match unprovided_import(&e) {
                    Some(import) if import.starts_with("wasi:http/") => format!(
                        "`{what}` imports `{import}`: it is an HTTP component, serve it with \
                         `wharf serve`"
                    ),
                    Some(import) => format!(
                        "`{what}` imports `{import}`, which the host does not provide (WASI 0.2 \
                         and 0.3 only): plug a component that exports it in first \
                         (`wharf compose plug`)"
                    ),
                    None => format!(
                        "failed to instantiate `{what}` as a WASI command (does it export wasi:cli/run?)"
                    ),
                };
                return Err(wasmtime_err(context)(e));
            }
        };
        // a WASI 0.3 command (`wasi:cli/run@0.3`, an async export) runs in the store's
        // event loop; otherwise the 0.2 export is required
        let outcome = match wasmtime_wasi::p3::bindings::Command::new(&mut store, &instance) {
            Ok(command) => store
                .run_concurrent(async |store| command.wasi_cli_run().call_run(store).await)
                .await
                .and_then(|r| r),
            Err(_) => {
                let command = Command::new(&mut store, &instance).map_err(wasmtime_err(format!(
                    "`{what}` is not a WASI command: it exports neither wasi:cli/run@0.2 nor @0.3"
                )))?;
                command.wasi_cli_run().call_run(&mut store).await
            }
        };
        match outcome {
            Ok(Ok(())) => Ok(0),
            Ok(Err(())) => Ok(1),
            Err(e) => match (
                e.downcast_ref::<I32Exit>(),
                e.downcast_ref::<wasmtime::Trap>(),
            ) {
                (Some(exit), _) => Ok(exit.0),
                (None, Some(wasmtime::Trap::Interrupt)) => Err(wasmtime_err(format!(
                    "`{what}` ran past its deadline of {:?} and was stopped",
                    opts.limits.timeout.unwrap_or_default()
                ))(e)),
                (None, _) => Err(wasmtime_err(format!("`{what}` trapped"))(e)),
            },
        }
    }
}

/// The import wasmtime's linker had nothing for, from its error ("component imports
/// instance `NAME`, but a matching implementation was not found in the linker").
pub(crate) fn unprovided_import(e: &wasmtime::Error) -> Option<String> {
    let text = format!("{e:#}");
    let (_, rest) = text.split_once("component imports instance `")?;
    let (name, rest) = rest.split_once('`')?;
    rest.contains("matching implementation was not found")
        .then(|| name.to_owned())
        .filter(|n| !n.starts_with("wasi:") || n.starts_with("wasi:http/"))
}

/// Whether this host has the virtual address space the pooling allocator reserves: a
/// 42-bit reservation is tried, as `wasmtime serve` does (some aarch64 and riscv64 hosts
/// have 39 bits).
fn pooling_fits() -> bool {
    const BITS: u32 = 42;
    let mut config = Config::new();
    config.wasm_memory64(true);
    config.memory_reservation(1 << BITS);
    let Ok(engine) = Engine::new(&config) else {
        return false;
    };
    let mut store = Store::new(&engine, ());
    let ty = wasmtime::MemoryType::new64(0, Some(1 << (BITS - 16)));
    wasmtime::Memory::new(&mut store, ty).is_ok()
}

/// The engine's epoch clock: a thread of its own that advances the epoch every
/// [`EPOCH_TICK`] until dropped. Not a task of the async runtime: a guest that never yields
/// occupies a worker thread, and the clock that is to stop it must not wait for one.
pub(crate) struct EpochTicker {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> EpochTicker {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
