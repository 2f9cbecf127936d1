/// Everything that can go wrong in `wharf-component`. Each variant names the input and
/// what is wrong with it; upstream errors (wit-parser, wit-component) keep their chain.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// The bytes are not a wasm binary at all.
    #[error("{what} is not a WebAssembly binary (it does not start with `\\0asm`)")]
    NotWasm { what: String },
    /// The wasm does not validate.
    #[error("{what} is not valid WebAssembly: {reason}")]
    Invalid { what: String, reason: String },
    /// WIT text the formatter cannot read (its line named).
    #[error("`{what}` cannot be formatted as WIT: {reason}")]
    WitSyntax { what: String, reason: String },
    /// A component was given where a core module is expected.
    #[error(
        "{what} is already a component; `componentize` takes a core module (e.g. built for wasm32-wasip1)"
    )]
    AlreadyComponent { what: String },
    /// The input is the WASI preview1 adapter itself (wasm-tools 1.263 panics here).
    #[error(
        "{what} is a WASI preview1 adapter (it exports the preview1 functions {examples}); give the program's core module, and the adapter with --adapter"
    )]
    IsAdapter { what: String, examples: String },
    /// A library module with exports but no WIT metadata; its exports would vanish.
    #[error(
        "{what} has no WIT metadata (`component-type` section), so its exports [{exports}] would be dropped from the component; pass --wit <PATH> --world <WORLD> to say what it exports"
    )]
    NoWitMetadata { what: String, exports: String },
    /// Imports that neither the WIT world nor the adapter provide.
    #[error(
        "{what} imports {imports}, which neither the WIT world nor the WASI preview1 adapter provides"
    )]
    UnsatisfiedImports {
        what: String,
        imports: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An upstream tool failed; `context` says what was being done.
    #[error("{context}")]
    Upstream {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading or writing a file failed.
    #[error("failed to {action} `{path}`")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ComponentError {
    pub(crate) fn upstream(context: impl Into<String>, source: anyhow::Error) -> Self {
        ComponentError::Upstream {
            context: context.into(),
            source: source.into(),
        }
    }
}
