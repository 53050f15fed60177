//! The configuration documents an operator can browse: every document some store has saved or
//! runs, found by the folders the stores keep beside it (`config/history.rs` and
//! `config/instance.rs`: `/a/.lemon/history/config/app` and `/a/.lemon/instances/config/app` for
//! the document `/a/app`), in either layout. A document nobody has saved or run through
//! lemon-cluster has no such folder: the console opens it by its path instead.
//!
//! The search walks the tree breadth first from a folder, one pipelined round of listings per
//! level, and is bounded (depth and listings, `truncated` says when it stopped early). It does
//! not descend into what cannot hold a document's folder: `.lemon` itself, ZooKeeper's own
//! `/zookeeper`, a service's provider/consumer/rule nodes (10,000 endpoints are 10,000 children)
//! and the documents it found (a tree-layout document's keys).

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use serde_json::{json, Value};
use zookeeper_client::Client;

use super::Admin;
use crate::error::{Error, Result};

/// How deep below the starting folder the search looks for documents' folders.
const MAX_DEPTH: usize = 8;
/// Listings one search makes at most (each a small request, pipelined 64 at a time).
const MAX_LISTINGS: usize = 4096;
/// Listings in flight at once.
const IN_FLIGHT: usize = 64;
/// Folders that never hold a configuration document's folder.
const SKIPPED: &[&str] = &[
    ".lemon",
    "providers",
    "consumers",
    "routers",
    "configurators",
];

/// Whether the search leaves folder `name` of `dir` out (see [`SKIPPED`]).
fn skipped(dir: &str, name: &str) -> bool {
    SKIPPED.contains(&name) || (dir == "/" && name == "zookeeper")
}

/// The path of `name` in folder `dir`.
fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The newest version among history entry names (`v0000000007`).
fn newest(names: &[String]) -> Option<u64> {
    names
        .iter()
        .filter_map(|n| n.strip_prefix('v')?.parse::<u64>().ok())
        .max()
}

#[derive(Default)]
struct Found {
    /// The newest history version, if the document has a history.
    version: Option<u64>,
    instances: usize,
}

impl Admin {
    /// The configuration documents under `under` (a znode path, `/` for the whole tree):
    /// `{ documents: [{ path, exists, layout, version, instances, modifiedAt }], truncated }`,
    /// sorted by path. `layout`: `tree` when the znode has children, else `document`;
    /// `version`: the newest recorded history version (`null`: none); `instances`: the stores
    /// running it now.
    pub async fn config_documents(&self, under: &str) -> Result<Value> {
        if !under.starts_with('/') || (under.len() > 1 && under.ends_with('/')) {
            return Err(Error::invalid(
                "under",
                format!("must be a znode path such as / or /shop, got {under:?}"),
            ));
        }
        let client = self.client().await?;
        let mut found: BTreeMap<String, Found> = BTreeMap::new();
        let mut level = vec![under.to_string()];
        let mut listings = 0;
        let mut truncated = false;
        for depth in 0..=MAX_DEPTH {
            if level.is_empty() {
                break;
            }
            if listings + level.len() > MAX_LISTINGS {
                truncated = true;
                level.truncate(MAX_LISTINGS.saturating_sub(listings));
            }
            listings += level.len();
            let kids = self.list_all(&client, &level).await?;
            // The documents' folders of every folder holding a `.lemon`.
            let holders: Vec<&String> = level
                .iter()
                .zip(&kids)
                .filter(|(_, k)| k.iter().any(|n| n == ".lemon"))
                .map(|(d, _)| d)
                .collect();
            let folders: Vec<String> = holders
                .iter()
                .flat_map(|d| {
                    let lemon = join(d, ".lemon");
                    [
                        format!("{lemon}/history/config"),
                        format!("{lemon}/instances/config"),
                    ]
                })
                .collect();
            listings += folders.len();
            let names = self.list_all(&client, &folders).await?;
            // Per document found: its history entries and its live instances.
            let mut documents = BTreeSet::new();
            let mut each = Vec::new();
            for (i, dir) in holders.iter().enumerate() {
                for (kind, folder) in [(0, &folders[2 * i]), (1, &folders[2 * i + 1])] {
                    for name in &names[2 * i + kind] {
                        documents.insert(join(dir, name));
                        each.push((join(dir, name), kind, format!("{folder}/{name}")));
                    }
                }
            }
            let dirs: Vec<String> = each.iter().map(|(_, _, d)| d.clone()).collect();
            listings += dirs.len();
            for ((path, kind, _), entries) in
                each.into_iter().zip(self.list_all(&client, &dirs).await?)
            {
                let f = found.entry(path).or_default();
                if kind == 0 {
                    f.version = newest(&entries);
                } else {
                    f.instances = entries.len();
                }
            }
            if depth == MAX_DEPTH {
                truncated |= kids.iter().any(|k| !k.is_empty());
                break;
            }
            level = level
                .iter()
                .zip(kids)
                .flat_map(|(dir, names)| {
                    names
                        .into_iter()
                        .filter(|n| !skipped(dir, n))
                        .map(|n| join(dir, &n))
                        .collect::<Vec<_>>()
                })
                .filter(|p| !documents.contains(p))
                .collect();
        }
        let paths: Vec<&String> = found.keys().collect();
        let stats = join_all(paths.iter().map(|p| client.check_stat(p))).await;
        let documents: Vec<Value> = found
            .iter()
            .zip(stats)
            .map(|((path, f), stat)| {
                let stat = stat.ok().flatten();
                json!({
                    "path": path,
                    "exists": stat.is_some(),
                    "layout": stat.as_ref().map(|s| if s.num_children > 0 { "tree" } else { "document" }),
                    "version": f.version,
                    "instances": f.instances,
                    "modifiedAt": stat.as_ref().map(|s| s.mtime),
                })
            })
            .collect();
        Ok(json!({ "documents": documents, "truncated": truncated }))
    }

    /// The children of every folder (empty for one that does not exist), a bounded number of
    /// requests in flight.
    async fn list_all(&self, client: &Client, dirs: &[String]) -> Result<Vec<Vec<String>>> {
        let mut out = Vec::with_capacity(dirs.len());
        for chunk in dirs.chunks(IN_FLIGHT) {
            for kids in join_all(chunk.iter().map(|d| self.children(client, d))).await {
                out.push(kids?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_nodes_zookeeper_and_lemon_are_not_searched() {
        assert!(skipped("/", "zookeeper"));
        assert!(!skipped("/shop", "zookeeper"));
        assert!(skipped("/lemon/movie/query", "providers"));
        assert!(skipped("/shop", ".lemon"));
        assert!(!skipped("/", "shop"));
    }

    #[test]
    fn paths_join_below_the_root_and_below_a_folder() {
        assert_eq!(join("/", "shop"), "/shop");
        assert_eq!(join("/shop", "config"), "/shop/config");
    }

    #[test]
    fn the_newest_version_is_the_largest_entry_not_the_last_name() {
        let names = ["v0000000002", "v0000000010", "x", "v0000000009"].map(String::from);
        assert_eq!(newest(&names), Some(10));
        assert_eq!(newest(&[]), None);
    }
}
