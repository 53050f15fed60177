//! Hot configuration: a JSON document in ZooKeeper, followed through watches, kept through
//! outages by a local snapshot, saved with compare-and-set, with encrypted secrets. The nconf
//! store in `lib/nconf.js` is the JavaScript face of [`ConfigStore`].
//!
//! One update travels one way: znode → [`follow`] → [`ConfigStore`] (version check, [`document`]
//! diff, [`secret`] decryption, [`snapshot`] file) → listeners.

pub mod document;
mod follow;
pub mod options;
mod save;
pub mod secret;
pub mod snapshot;
mod store;
pub mod tree;

pub use document::{ChangeKind, KeyChange, Patch, PatchOp};
pub use options::{ConfigOptions, Layout};
pub use save::MAX_SAVE_ATTEMPTS;
pub use store::{ConfigStore, Origin, Source, Update};
