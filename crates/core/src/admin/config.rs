//! Configuration documents seen by the operator: the history the stores record with every save
//! (`config/history.rs`: same entry shape and identity rule as the rules' history), read from
//! the folder beside the document. Values are shown as stored: secrets stay `ENC(...)`.

use serde_json::Value;

use super::Admin;
use crate::config::history;
use crate::error::{Error, Result};

impl Admin {
    /// Every recorded version of the document at `path` (its znode path, what a store's
    /// `rootPath` + `name` address), oldest first.
    pub async fn config_history(&self, path: &str) -> Result<Value> {
        if !path.starts_with('/') || path.len() < 2 || path.ends_with('/') || path.contains("//") {
            return Err(Error::invalid(
                "path",
                format!("must be a znode path such as /shop/config, got {path:?}"),
            ));
        }
        let client = self.client().await?;
        let mut entries = self.entries_in(&client, &history::dir(path)).await?;
        for e in &mut entries {
            e["recorded"] = Value::Bool(true);
        }
        Ok(Value::Array(entries))
    }
}
