use std::path::{Path, PathBuf};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Cache, CacheConfig, Config, Engine, Store};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};

use crate::RuntimeError;

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
}

/// A wasmtime engine configured for components, with an on-disk compilation cache.
pub struct Runtime {
    engine: Engine,
}

struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

fn wasmtime_err(context: impl Into<String>) -> impl FnOnce(wasmtime::Error) -> RuntimeError {
    let context = context.into();
    move |e| RuntimeError::Wasmtime {
        context,
        source: e.into(),
    }
}

impl Runtime {
    /// An engine whose compiled code is cached under `cache_dir` (none when `None`).
    pub fn new(cache_dir: Option<&Path>) -> Result<Self, RuntimeError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        if let Some(dir) = cache_dir {
            let mut cc = CacheConfig::new();
            cc.with_directory(dir);
            config.cache(Some(
                Cache::new(cc).map_err(wasmtime_err("failed to set up the compilation cache"))?,
            ));
        }
        let engine =
            Engine::new(&config).map_err(wasmtime_err("failed to create the wasmtime engine"))?;
        Ok(Runtime { engine })
    }

    /// Compile `wasm` (a component) and run its `wasi:cli/run` export with stdio
    /// inherited. Returns the guest's exit code: 0 on success, 1 when `run` returned an
    /// error, or the code it passed to `exit`.
    pub async fn run_command(
        &self,
        wasm: &[u8],
        what: &str,
        opts: &RunOptions,
    ) -> Result<i32, RuntimeError> {
        let component = Component::new(&self.engine, wasm)
            .map_err(wasmtime_err(format!("failed to compile `{what}`")))?;
        let mut linker = Linker::<Host>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(wasmtime_err("failed to link WASI"))?;

        let mut builder = WasiCtx::builder();
        let mut argv = vec![opts.program.clone()];
        argv.extend(opts.args.iter().cloned());
        builder.inherit_stdio().args(&argv).envs(&opts.env);
        for (host, guest) in &opts.dirs {
            builder
                .preopened_dir(host, guest, FsPerms::ReadWrite)
                .map_err(|e| RuntimeError::Io {
                    action: "preopen directory",
                    path: host.display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        }
        let mut store = Store::new(
            &self.engine,
            Host {
                ctx: builder.build(),
                table: ResourceTable::new(),
            },
        );
        let command = Command::instantiate_async(&mut store, &component, &linker)
            .await
            .map_err(wasmtime_err(format!(
                "failed to instantiate `{what}` as a WASI command (does it export wasi:cli/run?)"
            )))?;
        match command.wasi_cli_run().call_run(&mut store).await {
            Ok(Ok(())) => Ok(0),
            Ok(Err(())) => Ok(1),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => Ok(exit.0),
                None => Err(wasmtime_err(format!("`{what}` trapped"))(e)),
            },
        }
    }
}
