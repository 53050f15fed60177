//! The provider-list cache file, as Dubbo keeps one: every change of a service's provider list is
//! written to a local file, and a consumer that cannot reach ZooKeeper at start begins from it
//! instead of from nothing; the live list replaces it as soon as ZooKeeper answers.
//!
//! Writes are atomic — a temporary file in the same folder, fsync, rename — so a reader (or a
//! crash) never sees half a file, and several processes of one app (pm2 workers) can write the
//! same file: the last rename wins, and every version is complete. Files are created with mode
//! 0600. The raw node names and data are stored, so a cached list is read exactly as liberally as
//! a live one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use super::directory::NodeRead;

const FORMAT_VERSION: u64 = 1;
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What a cache file holds.
#[derive(Debug, Clone)]
pub struct Cached {
    /// When it was written, ms since the epoch.
    pub saved_at_ms: u64,
    pub nodes: Vec<NodeRead>,
}

/// The cache file of one service of one registry.
#[derive(Debug, Clone)]
pub struct CacheFile {
    path: PathBuf,
    providers: String,
}

impl CacheFile {
    /// `{dir}/{connect string}{providers path}.json`, every unsafe character made `_`, so each
    /// registry and service has its own file.
    pub fn new(dir: &Path, connect: &str, providers: &str) -> CacheFile {
        let key: String = format!("{connect}{providers}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        CacheFile {
            path: dir.join(format!("{key}.json")),
            providers: providers.to_string(),
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the list atomically.
    pub fn save(&self, nodes: &[NodeRead], now_ms: u64) -> std::io::Result<()> {
        let entries: Vec<Value> = nodes
            .iter()
            .filter_map(|n| {
                let data = std::str::from_utf8(&n.data).ok()?;
                Some(json!({ "name": n.name, "data": data, "czxid": n.czxid }))
            })
            .collect();
        let doc = json!({ "version": FORMAT_VERSION, "providers": self.providers, "savedAt": now_ms, "nodes": entries });
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(
            ".{}.{}.{}.tmp",
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("cache"),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = open_private(&tmp)?;
            file.write_all(&serde_json::to_vec(&doc).unwrap_or_default())?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Reads the file; `Ok(None)` when there is none. A file that is not ours or is damaged is an
    /// error, never a half-read list.
    pub fn load(&self) -> std::io::Result<Option<Cached>> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let invalid = |why: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {why}", self.path.display()),
            )
        };
        let doc: Value =
            serde_json::from_slice(&bytes).map_err(|e| invalid(&format!("not JSON ({e})")))?;
        if doc["version"] != json!(FORMAT_VERSION) || doc["providers"] != json!(self.providers) {
            return Err(invalid("not a provider cache of this service"));
        }
        let nodes = doc["nodes"]
            .as_array()
            .ok_or_else(|| invalid("no `nodes` list"))?
            .iter()
            .filter_map(|n| {
                Some(NodeRead {
                    name: n["name"].as_str()?.to_string(),
                    data: n["data"].as_str()?.as_bytes().to_vec(),
                    czxid: n["czxid"].as_i64().unwrap_or(0),
                })
            })
            .collect();
        Ok(Some(Cached {
            saved_at_ms: doc["savedAt"].as_u64().unwrap_or(0),
            nodes,
        }))
    }
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lemon-cache-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn saves_and_loads_atomically_with_private_mode() {
        let dir = temp_dir("roundtrip");
        let cache = CacheFile::new(&dir, "127.0.0.1:2181", "/lemonhjuice/a/g/providers");
        assert!(cache.load().unwrap().is_none());
        let nodes = vec![NodeRead {
            name: "10.0.0.1:80-0000000001".into(),
            data: br#"{"port":80}"#.to_vec(),
            czxid: 5,
        }];
        cache.save(&nodes, 42).unwrap();
        let back = cache.load().unwrap().unwrap();
        assert_eq!(back.saved_at_ms, 42);
        assert_eq!(back.nodes.len(), 1);
        assert_eq!(
            (back.nodes[0].name.as_str(), back.nodes[0].czxid),
            ("10.0.0.1:80-0000000001", 5)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(cache.path()).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_service_and_registry_has_its_own_file() {
        let dir = Path::new("/tmp/x");
        let a = CacheFile::new(dir, "zk1:2181", "/r/a/g/providers");
        let b = CacheFile::new(dir, "zk2:2181", "/r/a/g/providers");
        let c = CacheFile::new(dir, "zk1:2181", "/r/a/h/providers");
        assert_ne!(a.path(), b.path());
        assert_ne!(a.path(), c.path());
        assert!(!a
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .contains('/'));
    }

    #[test]
    fn damaged_or_foreign_files_are_errors() {
        let dir = temp_dir("damaged");
        fs::create_dir_all(&dir).unwrap();
        let cache = CacheFile::new(&dir, "zk", "/r/a/g/providers");
        fs::write(cache.path(), b"{\"version\":1,\"nod").unwrap();
        assert!(cache.load().is_err());
        let other = CacheFile::new(&dir, "zk", "/r/b/g/providers");
        other.save(&[], 1).unwrap();
        fs::copy(other.path(), cache.path()).unwrap();
        assert!(
            cache.load().is_err(),
            "another service's list is never used"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writers_never_leave_a_torn_file() {
        let dir = temp_dir("concurrent");
        let cache = CacheFile::new(&dir, "zk", "/r/a/g/providers");
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let nodes: Vec<NodeRead> = (0..(t * 10 + i % 7))
                            .map(|n| NodeRead {
                                name: format!("h:{}-{n:010}", 1000 + t),
                                data: b"{}".to_vec(),
                                czxid: n as i64,
                            })
                            .collect();
                        cache.save(&nodes, i).unwrap();
                        assert!(cache.load().is_ok(), "a reader never sees half a file");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(cache.load().unwrap().is_some());
        fs::remove_dir_all(&dir).unwrap();
    }
}
