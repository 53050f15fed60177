//! ZooKeeper session life: connect, reconnect, expiry → new session, re-created ephemerals.

mod session;

pub use session::{EphemeralId, Epoch, ZkOptions, ZkSession};
