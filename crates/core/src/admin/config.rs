//! Configuration documents seen by the operator: the history the stores record with every save
//! (`config/history.rs`: same entry shape and identity rule as the rules' history), read from
//! the folder beside the document, and the instances that run it (`config/instance.rs`), each
//! with the history version it applied. Values are shown as stored: secrets stay `ENC(...)`.

use serde_json::{json, Value};

use super::Admin;
use crate::config::{history, instance};
use crate::error::{Error, Result};

impl Admin {
    /// Every recorded version of the document at `path` (its znode path, what a store's
    /// `rootPath` + `name` address), oldest first.
    pub async fn config_history(&self, path: &str) -> Result<Value> {
        check_path(path)?;
        let client = self.client().await?;
        let mut entries = self.entries_in(&client, &history::dir(path)).await?;
        for e in &mut entries {
            e["recorded"] = Value::Bool(true);
        }
        Ok(Value::Array(entries))
    }

    /// The stores running the document at `path`, by `host:pid`: `{ instance, host, pid,
    /// version, zxid, source }` (`version`: the history version whose write is the one it
    /// applied; `null` when that version is not recorded, e.g. written outside).
    pub async fn config_instances(&self, path: &str) -> Result<Value> {
        check_path(path)?;
        let client = self.client().await?;
        let dir = history::dir(path);
        let names = self.children(&client, &dir).await?;
        let reads =
            futures::future::join_all(names.iter().map(|n| client.get_data(&format!("{dir}/{n}"))))
                .await;
        let mut by_zxid = std::collections::HashMap::new();
        for (name, read) in names.iter().zip(reads) {
            if let (Ok((_, stat)), Some(v)) = (read, name.strip_prefix('v')) {
                if let Ok(v) = v.parse::<u64>() {
                    by_zxid.insert(stat.czxid, v);
                }
            }
        }
        let idir = instance::dir(path);
        let nodes = self.children(&client, &idir).await?;
        let reads = futures::future::join_all(
            nodes
                .iter()
                .map(|n| client.get_data(&format!("{idir}/{n}"))),
        )
        .await;
        let mut out = Vec::new();
        for (name, read) in nodes.iter().zip(reads) {
            let Ok((data, _)) = read else { continue };
            let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(&data) else {
                continue;
            };
            let zxid = v["zxid"].as_i64().unwrap_or(0);
            out.push(json!({
                "instance": name, "host": v["host"], "pid": v["pid"], "zxid": zxid,
                "version": by_zxid.get(&zxid), "source": v["source"],
                "labels": v.get("labels").cloned().unwrap_or(json!([])),
                "grayZxid": v.get("gray").cloned().unwrap_or(Value::Null),
            }));
        }
        Ok(Value::Array(out))
    }
}

pub(super) fn check_path(path: &str) -> Result<()> {
    if !path.starts_with('/') || path.len() < 2 || path.ends_with('/') || path.contains("//") {
        return Err(Error::invalid(
            "path",
            format!("must be a znode path such as /shop/config, got {path:?}"),
        ));
    }
    Ok(())
}
