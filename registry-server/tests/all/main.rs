//! The registry's integration tests, in one binary so they link once (as wasmtime's
//! `tests/all`). `harness` is the one test app every module starts registries with.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod harness;

mod api;
mod auth;
mod blob_store_suite;
mod crash;
mod faults;
mod gc;
mod hostile;
mod logs;
mod mirror;
mod quotas;
mod release_log;
mod route_properties;
mod s3_registry;
mod several_instances;
mod signatures;
mod store_suite;
