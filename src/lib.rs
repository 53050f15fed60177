//! The N-API binding of lemon-cluster: classes and conversions only. Every decision is made in
//! `lemon-core`; this crate turns JavaScript values into core types, and core results, errors and
//! events back into JavaScript. One file per class.

#![deny(clippy::all)]

mod cluster;
mod config;
mod consumer;
mod error;
mod events;
mod json;
mod logger;
mod options;
mod registration;
mod settle;
mod types;
