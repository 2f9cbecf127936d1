//! One file per subcommand; each parses its flags and calls the library crates.

pub mod bindgen;
pub mod componentize;
pub mod compose;
pub mod copy;
pub mod delete;
pub mod inspect;
pub mod login;
pub mod policy;
pub mod project;
pub mod pull;
pub mod push;
pub mod run;
pub mod sbom;
pub mod search;
pub mod serve;
pub mod sign;
pub mod tags;
pub mod wit;
pub mod yank;

use std::process::ExitCode;

/// Print `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<ExitCode> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}
