//! Helpers shared by the registry's integration tests.

#![allow(dead_code, clippy::unwrap_used)] // not every test file uses every helper

use std::sync::Arc;

use sha2::{Digest as _, Sha256};

/// Serve `state` on a free loopback port; returns `http://127.0.0.1:<port>`.
pub async fn serve(state: Arc<wharf_registry::AppState>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(wharf_registry::serve(
        listener,
        state,
        std::future::pending(),
    ));
    base
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
