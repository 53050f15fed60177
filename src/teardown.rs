//! What a JavaScript environment leaves open when it ends without `close()`: a worker thread
//! terminated, or a `process.exit()`, with a cluster, a config store or an admin still open.
//! Their ZooKeeper sessions lived on until the process ended (a terminated worker's provider
//! nodes stayed in the registry until then, or until the session timeout after it), and the
//! dead worker's `logger` stayed among the log's sinks, so every later record of the process
//! went to a function nobody could call instead of to stderr.
//!
//! Each such object registers here when it is made and is forgotten by its `close()`. When the
//! environment goes (its cleanup hook; for the main thread, the process's `'exit'` event), what
//! is still registered is closed: logger sinks are removed first, then the sessions are closed,
//! all of them together and for at most [`EXIT_CLOSE_TIMEOUT`] — the environment's thread waits
//! for that, so the ephemeral nodes are gone when `worker.terminate()` resolves or the process
//! has exited.

use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use napi::bindgen_prelude::PromiseRaw;
use napi::{sys, Env};

/// How long an ending environment waits for its sessions to close (a `CloseSession` round trip
/// on a reachable ZooKeeper takes milliseconds; an unreachable one has no session to close).
pub const EXIT_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Closes one object left open: undoes what must not outlive the environment at once, and
/// returns the rest of the close to wait for.
pub type Closer = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>>>;

struct Open {
    env: sys::napi_env,
    items: Vec<(u64, Closer)>,
}

thread_local! {
    static OPEN: RefCell<Vec<Open>> = const { RefCell::new(Vec::new()) };
    static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Registers `closer` to run if `env` ends before [`forget`] is called with the returned id.
pub fn on_exit(env: &Env, closer: Closer) -> napi::Result<u64> {
    let raw = env.raw();
    let id = NEXT.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    let first = OPEN.with(|open| {
        let mut open = open.borrow_mut();
        match open.iter_mut().find(|o| o.env == raw) {
            Some(o) => {
                o.items.push((id, closer));
                false
            }
            None => {
                open.push(Open {
                    env: raw,
                    items: vec![(id, closer)],
                });
                true
            }
        }
    });
    if first {
        let status =
            unsafe { sys::napi_add_env_cleanup_hook(raw, Some(exited), raw.cast::<c_void>()) };
        if status != sys::Status::napi_ok {
            OPEN.with(|open| open.borrow_mut().retain(|o| o.env != raw));
            return Err(napi::Error::from_reason(
                "could not register an environment cleanup hook",
            ));
        }
    }
    Ok(id)
}

/// The object `id` was closed: nothing to do for it when the environment ends.
pub fn forget(env: &Env, id: u64) {
    let raw = env.raw();
    OPEN.with(|open| {
        if let Ok(mut open) = open.try_borrow_mut() {
            if let Some(o) = open.iter_mut().find(|o| o.env == raw) {
                o.items.retain(|(i, _)| *i != id);
            }
        }
    });
}

/// A closer for an object whose only task at exit is its `close` (a config store, an admin):
/// nothing to do if it was collected already (dropping it ended its work).
pub fn closing<T, F>(object: Weak<T>, close: impl FnOnce(Arc<T>) -> F + 'static) -> Closer
where
    T: Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    Box::new(move || match object.upgrade() {
        Some(object) => Box::pin(close(object)),
        None => Box::pin(async {}),
    })
}

/// The promise of a `close()`: runs `fut`, then forgets the object's closer `id`.
pub fn close<'env, F>(env: &'env Env, id: u64, fut: F) -> napi::Result<PromiseRaw<'env, ()>>
where
    F: Future<Output = ()> + Send + 'static,
{
    crate::error::promise(
        env,
        async move {
            fut.await;
            Ok(())
        },
        move |env, ()| {
            forget(env, id);
            Ok(())
        },
    )
}

/// The environment is ending: close what it left open, and forget it (its address may be
/// reused by a later environment). Node runs it when a worker's environment goes, however it
/// ends; not for the main thread's `process.exit()`, which [`close_left_open`] covers.
unsafe extern "C" fn exited(env: *mut c_void) {
    let _ = std::panic::catch_unwind(|| close_all(env.cast()));
}

/// Closes what the calling environment left open. The package's JavaScript calls it on the
/// process's `'exit'` event (the main thread's `process.exit()` ends the process without running
/// the environment's cleanup hooks), so a process that exits without `close()` still takes its
/// ephemeral nodes with it instead of leaving them until the session timeout.
/// Internal to the package's JavaScript, so not in the typings.
#[allow(dead_code)] // exported by the napi macro, which registers nothing in `cargo test` builds
#[napi_derive::napi(catch_unwind, skip_typescript)]
pub fn close_left_open(env: Env) {
    close_all(env.raw());
}

fn close_all(env: sys::napi_env) {
    let items = OPEN.with(|open| {
        let mut open = open.try_borrow_mut().ok()?;
        let at = open.iter().position(|o| o.env == env)?;
        Some(open.swap_remove(at).items)
    });
    let Some(items) = items.filter(|items| !items.is_empty()) else {
        return;
    };
    let closes: Vec<_> = items.into_iter().map(|(_, close)| close()).collect();
    // The runtime may be gone already (the last environment's teardown shuts it down).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        napi::bindgen_prelude::block_on(async move {
            let _ =
                tokio::time::timeout(EXIT_CLOSE_TIMEOUT, futures_util::future::join_all(closes))
                    .await;
        })
    }));
}
