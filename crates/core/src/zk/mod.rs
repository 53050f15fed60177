//! ZooKeeper session life: connect, reconnect, expiry → new session, re-created ephemerals.

mod follow;
mod session;

pub use follow::{follow_sessions, OnError};
pub use session::{EphemeralId, Epoch, ZkOptions, ZkSession};
