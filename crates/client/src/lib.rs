//! An async OCI Distribution v1.1 client for wharf.
//!
//! Every byte read from a registry is checked against its digest before the caller sees
//! it: manifests are hashed in memory (they are small, at most [`MAX_MANIFEST_SIZE`]),
//! blobs are hashed while they stream to a temporary file that is renamed into place only
//! when the digest matches. Blobs are never held whole in memory.
//!
//! Transport: loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`) are spoken to over
//! plain HTTP by default, like Docker; others over HTTPS unless configured otherwise.
//! Authentication: HTTP Basic and the Docker/OCI bearer-token flow, with credentials from
//! the Docker `config.json` (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod auth;
mod client;
mod error;

pub use auth::{Credentials, DockerConfig, write_docker_credentials};
pub use client::{
    BlobUpload, Client, ClientConfig, PackageHit, PlainHttp, PulledManifest, PushedReferrer,
    ReferrerLayer, SearchRequest, SearchResults, YANK_ARTIFACT_TYPE, YANK_REASON_ANNOTATION,
    output_file_builder,
};
pub use error::ClientError;

/// The largest manifest the client reads (4 MiB, the limit registries commonly apply).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;
