//! The local snapshot file: the last configuration accepted from ZooKeeper, so that a process
//! that starts while ZooKeeper is down still has its configuration (Dubbo's registry cache
//! file, Nacos's and Apollo's local snapshots do the same).
//!
//! The file is the raw document as pretty JSON — usable by nconf's own `file` store — with
//! secrets still sealed. A write goes to a temporary file in the same directory (unique per
//! process and write), is fsynced, made mode 0600 and renamed over the old file; the directory
//! is fsynced too. Rename is atomic, so a reader (or a crash, or a second pm2 worker writing
//! the same file) only ever sees a whole old or a whole new file.
//!
//! Writes happen on a background task that always writes the newest document and skips
//! intermediate ones, so a burst of updates costs one fsync, not one per update.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::events::{WarningCode, Warnings};

/// Reads a snapshot: `Ok(None)` when there is no file.
pub fn read(path: &Path) -> Result<Option<Map<String, Value>>> {
    match std::fs::read(path) {
        Ok(bytes) => super::document::parse(&path.display().to_string(), &bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::ConfigInvalid {
            path: path.display().to_string(),
            detail: format!("cannot read the snapshot: {e}"),
        }),
    }
}

static WRITES: AtomicU64 = AtomicU64::new(0);

/// Writes `doc` to `path` atomically with mode 0600.
pub fn write(path: &Path, doc: &Map<String, Value>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into());
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(&tmp)?;
        let mut bytes = serde_json::to_vec_pretty(doc).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A document to write and its sequence number.
type Pending = Option<(u64, Arc<Map<String, Value>>)>;

/// Writes the newest document handed to it, in the background.
pub struct SnapshotWriter {
    latest: watch::Sender<Pending>,
    written: watch::Sender<u64>,
}

impl SnapshotWriter {
    /// Starts the writer task for `path`. Must be called inside a Tokio runtime.
    pub fn start(path: PathBuf, warnings: Arc<Warnings>) -> Arc<SnapshotWriter> {
        let (latest, mut rx) = watch::channel(Pending::None);
        let (written, _) = watch::channel(0u64);
        let writer = Arc::new(SnapshotWriter { latest, written });
        let weak = Arc::downgrade(&writer);
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Some((seq, doc)) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let p = path.clone();
                let res = tokio::task::spawn_blocking(move || write(&p, &doc)).await;
                if let Ok(Err(e)) | Err(e) = res.map_err(std::io::Error::other) {
                    warnings.warn(
                        WarningCode::ConfigSnapshot,
                        format!("cannot write the snapshot file {}: {e}", path.display()),
                        None,
                    );
                }
                let Some(w) = weak.upgrade() else { return };
                w.written.send_replace(seq);
            }
        });
        writer
    }

    /// Asks for `doc` (version `seq`, increasing) to be written.
    pub fn write(&self, seq: u64, doc: Arc<Map<String, Value>>) {
        self.latest.send_replace(Some((seq, doc)));
    }

    /// Waits (at most `timeout`) until the last requested document is on disk.
    pub async fn flush(&self, timeout: Duration) {
        let Some(want) = self.latest.borrow().as_ref().map(|(s, _)| *s) else {
            return;
        };
        let mut rx = self.written.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|w| *w >= want)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "lemon-snapshot-{tag}-{}-{}",
            std::process::id(),
            crate::now_ms()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn write_then_read_with_mode_0600_and_no_temp_files_left() {
        let dir = temp_dir("rw");
        let path = dir.join("sub").join("config.json");
        assert_eq!(read(&path).unwrap(), None);
        let Value::Object(doc) = json!({"a": {"b": 1}, "s": "ENC(x)"}) else {
            panic!()
        };
        write(&path, &doc).unwrap();
        write(&path, &doc).unwrap();
        assert_eq!(read(&path).unwrap(), Some(doc));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["config.json".to_string()]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_snapshot_is_an_error_not_data() {
        let dir = temp_dir("bad");
        let path = dir.join("c.json");
        std::fs::write(&path, "{half").unwrap();
        assert_eq!(read(&path).unwrap_err().code(), "ERR_CONFIG_INVALID");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_writers_never_leave_a_torn_file() {
        let dir = temp_dir("race");
        let path = dir.join("c.json");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let p = path.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let Value::Object(doc) = json!({"t": t, "i": i, "pad": "x".repeat(4096)})
                        else {
                            panic!()
                        };
                        write(&p, &doc).unwrap();
                        assert!(read(&p).unwrap().is_some());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(read(&path).unwrap().unwrap().contains_key("pad"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
