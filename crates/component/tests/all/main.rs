//! wharf-component's integration tests, in one binary so they link once.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod adapters;
mod componentize;
