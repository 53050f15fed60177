//! Settling the promises of work that runs on Tokio's threads: one thread-safe function per
//! JavaScript thread and a queue of finished work.
//!
//! napi-rs's `spawn_future_with_callback` creates a thread-safe function for every promise (with
//! its libuv handle and an environment cleanup hook) and closes it again: measured as one of the
//! largest costs of a call on the JavaScript thread. Here a finished future pushes its outcome on
//! one queue; the push into an empty queue schedules one call into JavaScript, which settles
//! everything queued by then — under load one wake-up of the event loop settles many calls. The
//! thread-safe function keeps the event loop alive only while promises are pending (ref'd when
//! the first one is made, unref'd when the last one is settled), so an idle process still exits.
//!
//! The pending promises (`napi_deferred`s and the closures that build their values) never leave
//! the JavaScript thread: Tokio's side only carries an id and a boxed outcome. The id is the
//! promise's slot in a table of pending ones (a slot is reused once its promise is settled), and
//! the work is spawned on the runtime's handle kept per environment: a hash map keyed by a
//! counter, and napi-rs's `spawn` (which reads the process-wide runtime behind a lock), were
//! measured as a tenth of a call's time on the JavaScript thread.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::ptr;
use std::sync::{Arc, Mutex};

use lemon_core::lock::lock;
use napi::bindgen_prelude::PromiseRaw;
use napi::{sys, Env, JsError};

type Outcome = Box<dyn Any + Send>;
type SettleFn = Box<dyn FnOnce(&Env, Outcome) -> napi::Result<sys::napi_value>>;

/// What Tokio's threads see: the queue of finished work and the function that wakes JavaScript.
/// Aligned so the queue's lock is not on the cache line of the `Arc`'s counts, which every call
/// changes from the JavaScript thread while Tokio's threads take the lock.
#[repr(align(128))]
struct Shared {
    queue: Mutex<Queue>,
}

struct Queue {
    tsfn: sys::napi_threadsafe_function,
    /// Set (under the lock) when Node finalizes the thread-safe function: nothing may call it
    /// after that.
    closed: bool,
    done: Vec<(usize, Outcome)>,
}

// The raw thread-safe function is made to be called from any thread; every use is under the lock.
unsafe impl Send for Queue {}

impl Shared {
    fn push(&self, id: usize, outcome: Outcome) {
        let mut q = lock(&self.queue);
        if q.closed {
            return; // the JavaScript environment is gone: nobody is waiting any more
        }
        q.done.push((id, outcome));
        if q.done.len() == 1 {
            // SAFETY: not finalized (checked above, under the lock finalization also takes).
            unsafe {
                sys::napi_call_threadsafe_function(
                    q.tsfn,
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                );
            }
        }
    }
}

/// The JavaScript thread's side, one per environment.
struct Local {
    env: sys::napi_env,
    shared: Arc<Shared>,
    /// The thread-safe function, also in `shared` (where Tokio's threads reach it under the lock).
    tsfn: sys::napi_threadsafe_function,
    /// The runtime napi-rs started for this environment. It outlives the environment's
    /// JavaScript (napi-rs shuts it down when the last environment goes; a later environment
    /// gets a new one, and a new `Local`).
    runtime: tokio::runtime::Handle,
    /// Pending promises by id; `None` is a free slot, listed in `free`.
    pending: Vec<Option<(sys::napi_deferred, SettleFn)>>,
    free: Vec<usize>,
    /// How many slots of `pending` are taken.
    count: usize,
    /// The queue's buffer of the last batch, swapped back in so pushing does not allocate.
    spare: Vec<(usize, Outcome)>,
    /// Whether the thread-safe function currently keeps the event loop alive.
    held: bool,
}

impl Local {
    fn insert(&mut self, entry: (sys::napi_deferred, SettleFn)) -> usize {
        self.count += 1;
        match self.free.pop() {
            Some(id) => {
                self.pending[id] = Some(entry);
                id
            }
            None => {
                self.pending.push(Some(entry));
                self.pending.len() - 1
            }
        }
    }

    fn take(&mut self, id: usize) -> Option<(sys::napi_deferred, SettleFn)> {
        let entry = self.pending.get_mut(id)?.take()?;
        self.free.push(id);
        self.count -= 1;
        Some(entry)
    }

    /// Makes the thread-safe function keep the event loop alive (`true`) or not. Called on the
    /// JavaScript thread of `env`, which is alive, so the function is not finalized.
    fn hold(&mut self, on: bool) {
        if self.held == on {
            return;
        }
        unsafe {
            if on {
                sys::napi_ref_threadsafe_function(self.env, self.tsfn);
            } else {
                sys::napi_unref_threadsafe_function(self.env, self.tsfn);
            }
        }
        self.held = on;
    }
}

thread_local! {
    static LOCALS: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

/// Runs `fut` on the runtime and returns a promise settled, on the JavaScript thread, with what
/// `settle` makes of its output (an `Err` rejects). A panic in `fut` is given to `settle` as
/// `Err(message)`, so it never crosses into Node.
pub fn spawn<'env, O, V, F, S>(
    env: &'env Env,
    fut: F,
    settle: S,
) -> napi::Result<PromiseRaw<'env, V>>
where
    O: Send + 'static,
    F: Future<Output = O> + Send + 'static,
    S: FnOnce(&Env, Result<O, String>) -> napi::Result<sys::napi_value> + 'static,
{
    let raw_env = env.raw();
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check(unsafe { sys::napi_create_promise(raw_env, &mut deferred, &mut promise) })?;
    let settle: SettleFn = Box::new(move |env, outcome| {
        let outcome = outcome
            .downcast::<Result<O, String>>()
            .map_err(|_| "settled with the wrong type".to_string())
            .and_then(|o| *o);
        settle(env, outcome)
    });
    // Boxed first: a call's future is several kilobytes, and moved by value into the task
    // (through this function, the wrapper below and Tokio's task cell) it was copied each time,
    // a measurable share of the JavaScript thread's time in `memmove`.
    let fut = Box::pin(fut);
    with_local(raw_env, move |local| {
        let id = local.insert((deferred, settle));
        local.hold(true);
        let shared = local.shared.clone();
        drop(local.runtime.spawn(async move {
            use futures_util::FutureExt;
            let outcome: Result<O, String> = AssertUnwindSafe(fut)
                .catch_unwind()
                .await
                .map_err(|p| panic_message(p.as_ref()));
            shared.push(id, Box::new(outcome));
        }));
    })?;
    Ok(PromiseRaw::new(raw_env, promise))
}

/// The message of a caught panic.
pub fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    crate::error::check_status(status, "could not create a promise")
}

/// Runs `f` on this thread's state for `env`, creating it (and its thread-safe function) first.
fn with_local<R>(env: sys::napi_env, f: impl FnOnce(&mut Local) -> R) -> napi::Result<R> {
    LOCALS.with(|locals| {
        let mut locals = locals.borrow_mut();
        if let Some(local) = locals.iter_mut().find(|l| l.env == env) {
            return Ok(f(local));
        }
        let local = create(env)?;
        locals.push(local);
        Ok(f(locals.last_mut().expect("just pushed")))
    })
}

fn create(env: sys::napi_env) -> napi::Result<Local> {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            tsfn: ptr::null_mut(),
            closed: false,
            done: Vec::new(),
        }),
    });
    let mut name = ptr::null_mut();
    let label = "lemon-cluster";
    check(unsafe {
        sys::napi_create_string_utf8(env, label.as_ptr().cast(), label.len() as isize, &mut name)
    })?;
    // Handed to the finalizer, which marks the queue closed and forgets this environment.
    let finalize_data = Box::into_raw(Box::new(shared.clone())).cast::<c_void>();
    let mut tsfn = ptr::null_mut();
    let status = unsafe {
        sys::napi_create_threadsafe_function(
            env,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            finalize_data,
            Some(finalize),
            env.cast(),
            Some(drain),
            &mut tsfn,
        )
    };
    if status != sys::Status::napi_ok {
        drop(unsafe { Box::from_raw(finalize_data.cast::<Arc<Shared>>()) });
        check(status)?;
    }
    // Idle until the first promise is pending.
    unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
    lock(&shared.queue).tsfn = tsfn;
    let runtime =
        napi::bindgen_prelude::within_runtime_if_available(tokio::runtime::Handle::current);
    Ok(Local {
        env,
        shared,
        tsfn,
        runtime,
        pending: Vec::new(),
        free: Vec::new(),
        count: 0,
        spare: Vec::new(),
        held: false,
    })
}

/// Node finalizes the thread-safe function when the environment is torn down.
unsafe extern "C" fn finalize(env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    let shared = unsafe { Box::from_raw(data.cast::<Arc<Shared>>()) };
    lock(&shared.queue).closed = true;
    // Pending promises die with their environment; drop their state without settling.
    let _ = std::panic::catch_unwind(|| {
        LOCALS.with(|locals| {
            if let Ok(mut locals) = locals.try_borrow_mut() {
                locals.retain(|l| l.env != env);
            }
        })
    });
}

/// Called on the JavaScript thread: settles every promise whose work finished since last time.
unsafe extern "C" fn drain(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    context: *mut c_void,
    _data: *mut c_void,
) {
    if env.is_null() {
        return; // torn down with work still queued
    }
    let _ = std::panic::catch_unwind(|| {
        let env_key = context.cast::<sys::napi_env__>();
        // The batch's entries are all taken out before settling any: settling runs JavaScript
        // (a fallback function, JSON.parse), which may start new calls on this same state.
        let Some(entries) = LOCALS.with(|l| {
            let mut l = l.borrow_mut();
            let local = l.iter_mut().find(|l| l.env == env_key)?;
            let mut batch = std::mem::take(&mut local.spare);
            std::mem::swap(&mut batch, &mut lock(&local.shared.queue).done);
            let entries: Vec<_> = batch
                .drain(..)
                .filter_map(|(id, outcome)| local.take(id).map(|(d, s)| (d, s, outcome)))
                .collect();
            local.spare = batch;
            Some(entries)
        }) else {
            return;
        };
        let js_env = Env::from_raw(env);
        for (deferred, settle, outcome) in entries {
            settle_one(&js_env, deferred, settle, outcome);
        }
        LOCALS.with(|l| {
            if let Some(local) = l.borrow_mut().iter_mut().find(|l| l.env == env_key) {
                if local.count == 0 {
                    local.hold(false);
                }
            }
        });
    });
}

fn settle_one(env: &Env, deferred: sys::napi_deferred, settle: SettleFn, outcome: Outcome) {
    let raw = env.raw();
    let mut scope = ptr::null_mut();
    unsafe { sys::napi_open_handle_scope(raw, &mut scope) };
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| settle(env, outcome)))
        .unwrap_or_else(|p| {
            Err(napi::Error::new(
                napi::Status::GenericFailure,
                format!(
                    "internal error in lemon-cluster ({}); please report it",
                    panic_message(p.as_ref())
                ),
            ))
        });
    unsafe {
        match result {
            Ok(value) => sys::napi_resolve_deferred(raw, deferred, value),
            Err(err) => {
                sys::napi_reject_deferred(raw, deferred, JsError::from(err).into_value(raw))
            }
        };
        sys::napi_close_handle_scope(raw, scope);
    }
}
