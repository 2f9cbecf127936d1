use wasi_preview1_component_adapter_provider as provider;

/// Version of the `wasi-preview1-component-adapter-provider` crate the built-in adapters
/// come from. It equals the wasmtime version of `wharf run`, so the WASI 0.2 interfaces the
/// adapters import are the ones the runtime provides. Pinned with its sha256 sums in
/// `adapters/preview1.toml` and checked by a test.
pub const ADAPTER_VERSION: &str = "48.0.8";

/// The flavours of the WASI preview1 adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterKind {
    /// For programs with `_start`: exports `wasi:cli/run`.
    Command,
    /// For libraries: no `_start`, exports what the WIT world says.
    Reactor,
    /// For `wasi:http/proxy` components.
    Proxy,
}

impl AdapterKind {
    /// `command`, `reactor` or `proxy`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterKind::Command => "command",
            AdapterKind::Reactor => "reactor",
            AdapterKind::Proxy => "proxy",
        }
    }
}

/// The built-in adapter module of `kind`.
pub fn adapter_bytes(kind: AdapterKind) -> &'static [u8] {
    match kind {
        AdapterKind::Command => provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        AdapterKind::Reactor => provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        AdapterKind::Proxy => provider::WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER,
    }
}
