//! lm-server as a library: the binary in `main.rs` is a thin command-line shell around it, and
//! tests and benchmarks build the same [`api::app`].

pub mod api;
pub mod auth;
pub mod backup;
pub mod connections;
pub mod db;
pub mod events;
pub mod hierarchy_providers;
pub mod memory;
pub mod oauth;
pub mod private_files;
pub use lm_protocol::sample;
pub mod sample_school;
pub mod store;
