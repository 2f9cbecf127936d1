//! A package from a registry as a compiled component, the whole runtime path in one call:
//! resolve the reference, check the trust policy on the manifest digest, then the compiled
//! component from the cache by the layer's digest, or the layer through the verified fetch
//! and the blob cache, componentized when it is a WASI core module, compiled and cached.

use anyhow::{Context as _, bail};
use wharf_client::Client;
use wharf_core::{BlobCache, Remote, TrustPolicy, Verification, Warn};
use wharf_oci::{Digest, ImageReference};

use crate::{Component, Runtime};

/// A package loaded by [`Runtime::load_package`].
pub struct LoadedPackage {
    /// The reference, pinned to the manifest digest it resolved to.
    pub reference: ImageReference,
    /// The manifest digest.
    pub manifest_digest: Digest,
    /// The wasm layer's digest (of the bytes as pushed, before componentizing a module).
    pub wasm_digest: Digest,
    /// The compiled component.
    pub component: Component,
    /// The signature check, when the policy required one.
    pub verified: Option<wharf_core::VerifyReport>,
    /// False when the compilation came from the cache (and no layer byte was fetched).
    pub compiled: bool,
}

/// `wasm` as a component to instantiate: a component as it is, a WASI core module
/// componentized with the preview1 command adapter (as `wharf run` does); a WIT package
/// (types only) is refused. `what` names it in errors.
///
/// # Errors
/// Invalid wasm; a core module the adapter cannot componentize; a WIT package.
pub fn prepare_component(wasm: Vec<u8>, what: &str) -> anyhow::Result<Vec<u8>> {
    use wharf_component::{ComponentizeOptions, WasmKind, componentize, validate};
    match validate(&wasm, what)? {
        WasmKind::Component => Ok(wasm),
        WasmKind::CoreModule => Ok(componentize(&wasm, what, &ComponentizeOptions::default())
            .with_context(|| {
                format!("`{what}` is a core module and could not be componentized to run it")
            })?
            .bytes),
        WasmKind::WitPackage => {
            bail!("`{what}` is a WIT package (types only), there is nothing to run")
        }
    }
}

impl Runtime {
    /// Resolve `remote` with `client`, enforce `policy` (as `mode` says) on the manifest
    /// digest, and return the compiled component: loaded from this runtime's cache by the
    /// layer's digest when it was compiled before (the layer is then not fetched), else
    /// fetched through `cache` (every digest verified), prepared with
    /// [`prepare_component`] and compiled. A yanked pin and skipped signatures are reported
    /// through `warn`.
    ///
    /// # Errors
    /// Resolution and transport errors; a manifest that is not a Wasm package; a package
    /// the policy requires signatures for that no trusted key signed; bytes that do not
    /// match their digest; wasm that does not compile.
    pub async fn load_package(
        &self,
        client: &Client,
        remote: &Remote,
        policy: &TrustPolicy,
        mode: Verification,
        cache: &BlobCache,
        warn: Warn<'_>,
    ) -> anyhow::Result<LoadedPackage> {
        let checked = wharf_core::check_package(client, remote, policy, mode, warn).await?;
        let reference = checked.reference.clone();
        let manifest_digest = checked.manifest.digest.clone();
        let wasm_digest = checked.layer.digest.clone();
        let what = reference.to_string();
        let before = self.compilations();
        let (component, verified) = match self.cached(&wasm_digest) {
            Some(c) => (c, checked.verified),
            None => {
                let fetched = checked.fetch(client, cache).await?;
                let wasm = prepare_component(fetched.package.wasm, &what)?;
                let component = self.compile_to_cache(&wasm_digest, &wasm, &what)?;
                (component, fetched.verified)
            }
        };
        Ok(LoadedPackage {
            reference,
            manifest_digest,
            wasm_digest,
            component,
            verified,
            compiled: self.compilations() > before,
        })
    }
}
