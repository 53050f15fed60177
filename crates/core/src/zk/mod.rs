//! ZooKeeper session life: connect, reconnect, expiry → new session, re-created ephemerals.

pub mod auth;
pub mod chroot;
mod folder;
mod follow;
mod session;
pub mod tls;

pub use auth::{Access, Credentials};
pub use folder::{
    append_only_acls, create_lemon, is_open as folder_is_open, shared_lemon_acls, Folder,
};
pub use follow::{follow_sessions, warn_first_failure, OnError};
pub use session::{EphemeralId, Epoch, ZkOptions, ZkSession};
