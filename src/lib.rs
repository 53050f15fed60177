//! The N-API binding of lemon-cluster: classes and conversions only. Every decision is made in
//! `lemon-core`; this crate turns JavaScript values into core types, and core results, errors and
//! events back into JavaScript. One file per class.

#![deny(clippy::all)]

/// mimalloc instead of the system allocator: a call allocates on Tokio's threads and frees some
/// of it on the JavaScript thread, the pattern glibc's per-thread arenas handle worst (measured
/// with hyper's client: a tenth of the client's CPU in `malloc`/`free` and their consolidation;
/// with the own HTTP/1 client glibc's CPU per call is within the noise, but it runs 10–15 % more
/// instructions per call — docs/performance.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod cluster;
mod config;
mod consumer;
mod error;
mod events;
mod json;
mod logger;
mod names;
mod options;
mod prometheus;
mod registration;
mod settle;
mod teardown;
mod types;
