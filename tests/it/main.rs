//! The one integration-test binary (as uv and just do): parser snapshots over `fixtures/`,
//! in-process scenarios against a scripted executor, and end-to-end runs of the real binary
//! against the simulated cluster (these need the test-only `fake-cluster` binary, built with
//! `--features test-fakes`; `cargo test --all-features` is the test command).

mod parsers;
mod scenarios;
mod sessions;
mod support;

#[cfg(feature = "test-fakes")]
mod ansible;
#[cfg(feature = "test-fakes")]
mod beyond;
#[cfg(feature = "test-fakes")]
mod cli;
#[cfg(feature = "test-fakes")]
mod e2e;
#[cfg(feature = "test-fakes")]
mod faults;
#[cfg(feature = "test-fakes")]
mod first_minutes;
#[cfg(feature = "test-fakes")]
mod fleet;
#[cfg(feature = "test-fakes")]
mod installation;
#[cfg(feature = "test-fakes")]
mod journal;
#[cfg(feature = "test-fakes")]
mod readme;
#[cfg(feature = "test-fakes")]
mod reports;
#[cfg(feature = "test-fakes")]
mod safety;
#[cfg(feature = "test-fakes")]
mod terminal;
#[cfg(feature = "test-fakes")]
mod wait;
