//! Test harness: the scripted executor and a scripted Calico cluster for in-process scenarios.

pub mod scripted;
#[cfg(feature = "test-fakes")]
pub mod fake;
