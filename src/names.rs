//! The rules JavaScript applies itself, taken from the core so the two cannot drift: the name
//! rule of `app`, `group` and method names (the provider middleware checks them when a service
//! is declared, before any request), and the gray header.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::throw;

/// The HTTP header that carries the gray lane from consumer to provider.
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
#[napi]
pub const GRAY_HEADER: &str = lemon_core::transport::GRAY_HEADER;

/// The HTTP header that carries a provider's tokens from consumer to provider.
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
#[napi]
pub const TOKEN_HEADER: &str = lemon_core::registry::TOKEN_HEADER;

/// Throws `ERR_INVALID_ARG` (with `field`) unless `value` may be an `app`, a `group` or a
/// method name: not empty, at most 255 bytes, not `.`, `..` or `zookeeper` (reserved by
/// ZooKeeper), no `/` or control characters.
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
#[napi(catch_unwind)]
pub fn check_name(env: &Env, field: String, value: String) -> Result<()> {
    throw(
        env,
        lemon_core::registry::path::segment(&field, &value).map(|_| ()),
    )
}
