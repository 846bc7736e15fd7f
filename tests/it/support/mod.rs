//! Test harness: the scripted executor and a scripted Calico cluster for in-process scenarios.

#[cfg(feature = "test-fakes")]
pub mod fake;
pub mod scripted;
