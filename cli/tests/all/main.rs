//! Integration tests of the `wharf` binary, in one test binary so they link once
//! (the wasmtime layout). Each test starts what it needs: a registry in-process on
//! 127.0.0.1:0, or a real reference tool (skopeo, wkg, docker-registry).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod bad_input;
mod browse;
mod cli_files;
mod compat;
mod compose;
mod copy;
mod e2e;
mod hostile;
mod interop;
mod policy;
mod release_log;
mod serve;
mod signing;
mod sigstore;
mod startup;
mod supply_chain;
mod support;
mod wasip3;
mod witdeps;
