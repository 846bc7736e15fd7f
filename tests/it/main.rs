//! The one integration-test binary (as uv and just do): parser snapshots over `fixtures/`,
//! in-process scenarios against a scripted executor, and end-to-end runs of the real binary
//! against the simulated cluster.

mod parsers;
mod scenarios;
mod support;
