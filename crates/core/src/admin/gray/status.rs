//! Reading a gray release: its selector and changes against the main version now, and which
//! instances it selects and which run it.

use serde_json::{json, Value};

use super::{common_only, shown};
use crate::admin::Admin;
use crate::config::document;
use crate::config::gray::{self, Me};
use crate::config::history;
use crate::error::Result;

impl Admin {
    /// The gray release of the document at `path`: `{ path, active, selector?, changes?, base?,
    /// at?, who?, message?, instances }` — `changes` against the main version now, and every
    /// instance with `selected` (the selector matches it) and `gray` (it runs the release).
    pub async fn config_gray_status(&self, path: &str, options: &Value) -> Result<Value> {
        let c = common_only(options)?;
        let opts = self.config_opts(path, c.layout)?;
        let client = self.client().await?;
        let release = self.release(&client, path).await?;
        let mut instances = self.config_instances(path).await?;
        let Some((r, stat)) = release.map(|(r, stat)| r.map(|r| (r, stat))).transpose()? else {
            if let Value::Array(list) = &mut instances {
                for i in list {
                    i["selected"] = json!(false);
                    i["gray"] = json!(false);
                }
            }
            return Ok(json!({ "path": path, "active": false, "instances": instances }));
        };
        let main = self.gray_main(&opts).await?;
        let after = gray::overlay(&main.doc, &r.changes);
        if let Value::Array(list) = &mut instances {
            for i in list {
                let labels: Vec<String> = i["labels"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let me = Me {
                    doc: path,
                    host: i["host"].as_str().unwrap_or(""),
                    pid: i["pid"].as_u64().unwrap_or(0) as u32,
                    labels: &labels,
                };
                i["selected"] = json!(r.selector.matches(me));
                i["gray"] = json!(i["grayZxid"].as_i64() == Some(stat.mzxid));
            }
        }
        let rec = &r.record;
        Ok(json!({
            "path": path, "active": true, "selector": r.selector.to_value(),
            "changes": shown(history::changes_value(&document::diff(&main.doc, &after, ":"), usize::MAX)),
            "base": rec["base"], "at": rec["at"], "who": rec["who"], "message": rec["message"],
            "zxid": stat.mzxid, "instances": instances,
        }))
    }
}
