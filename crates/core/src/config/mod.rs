//! Hot configuration: a JSON document in ZooKeeper, followed through watches, kept through
//! outages by a local snapshot, saved with compare-and-set, with encrypted secrets. The nconf
//! store in `lib/nconf.js` is the JavaScript face of [`ConfigStore`].
//!
//! The state of a store has one owner, [`state`]; its I/O depends on it one way:
//!
//! - an update: znode → [`read`] → `follow` → [`state`] (version check, [`document`] diff,
//!   [`secret`] decryption, [`snapshot`] file) → listeners;
//! - a save: `save` (the patch on the state's base, a [`tree`] or document plan, a size check)
//!   → [`ops`] (one write, or one `multi`) → [`read`] → [`state`].
//!
//! `store` holds the parts together (session, state, follower task, the save lock).

pub mod document;
mod follow;
pub mod gray;
pub mod history;
pub mod instance;
pub mod ops;
pub mod options;
pub mod read;
pub mod release;
pub mod save;
pub mod secret;
pub mod snapshot;
mod state;
mod store;
pub mod tree;

pub use document::{ChangeKind, KeyChange, Patch, PatchOp};
pub use options::{ConfigOptions, Layout};
pub use save::MAX_SAVE_ATTEMPTS;
pub use state::{Origin, Source, Update};
pub use store::ConfigStore;
