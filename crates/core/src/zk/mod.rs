//! ZooKeeper session life: connect, reconnect, expiry → new session, re-created ephemerals.

mod session;

pub use session::{Epoch, EphemeralId, ZkOptions, ZkSession};
