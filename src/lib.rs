//! calico-downgrade: take a Kubernetes cluster from Calico v3.0 back to Calico v2.6 the way
//! the Calico docs ("Downgrading Calico") prescribe, by running kubectl, calico-upgrade and
//! calicoctl and reading what they print.
//!
//! Codemap (details and invariants in `ARCHITECTURE.md`):
//! - [`cli`], [`app`]: the command line and the wiring; `main.rs` stays thin.
//! - [`playbook`]: the documented procedure as data; [`tasks`]: one module per task.
//! - [`tools`]: per external tool, its invocations and the pure parsers of its output.
//! - [`exec`]: commands as values, the one process boundary, the journal.
//! - [`cluster`], [`calico`], [`convergence`], [`pace`], [`lease`], [`reconcilers`]: the pure
//!   model and decisions.
//! - [`report`]: text and JSON reports; [`ansible`]: the binary-module entry point.
//! - [`exit`]: the exit-code table.

pub mod ansible;
pub mod app;
pub mod blockers;
pub mod calico;
pub mod calico_kdd;
pub mod cli;
pub mod cluster;
pub mod convergence;
pub mod destination;
pub mod exec;
pub mod exit;
pub mod lease;
pub mod options;
pub mod pace;
pub mod playbook;
pub mod reconcilers;
pub mod report;
pub mod tasks;
pub mod tools;
