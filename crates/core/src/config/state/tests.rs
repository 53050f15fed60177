//! The version rules of [`ConfigState`], without ZooKeeper: what a read produces.

use std::sync::{Arc, Mutex};

use serde_json::json;
use zookeeper_client::Stat;

use super::*;
use crate::config::document::ChangeKind;
use crate::config::gray::Release;
use crate::config::read::Read;
use crate::config::tree::TreeRead;

fn stat(mzxid: i64, version: i32) -> Stat {
    Stat {
        czxid: 1,
        mzxid,
        pzxid: mzxid,
        ctime: 0,
        mtime: 0,
        version,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 0,
        num_children: 0,
    }
}

type Seen = Arc<Mutex<Vec<(u64, Origin, Vec<(String, ChangeKind)>)>>>;

/// A state fed only the reads of the test.
fn store() -> (Arc<ConfigState>, Seen, Arc<Mutex<Vec<&'static str>>>) {
    let opts =
        ConfigOptions::from_value(&json!({"host": "127.0.0.1:1", "connectTimeoutMs": 50})).unwrap();
    let store = Arc::new(ConfigState::new(opts, Arc::new(crate::Warnings::default())));
    let seen: Seen = Arc::default();
    let s = seen.clone();
    store.updates.subscribe(move |u: &Update| {
        let keys = u.changes.iter().map(|c| (c.key.clone(), c.kind)).collect();
        s.lock().unwrap().push((u.generation, u.origin, keys));
    });
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let w = warnings.clone();
    store
        .warnings()
        .subscribe(move |x| w.lock().unwrap().push(x.code));
    (store, seen, warnings)
}

#[tokio::test]
async fn one_update_per_version_that_changes_something() {
    let (store, seen, warnings) = store();
    let steps: [(&[u8], i64); 9] = [
        (br#"{"a":1}"#, 10),     // first data: everything added
        (br#"{"a":1}"#, 10),     // the same version read again (a reconnect): nothing
        (br#"{"a":5}"#, 9),      // an older version arriving late: nothing
        (br#"{ "a" : 1 }"#, 11), // a new version with the same content: nothing
        (b"{bad", 12),           // malformed: a warning, the data stays
        (b"[1]", 13),            // not an object: the same
        (b"", 14),               // empty: the same (it used to remove every key)
        (b" \n", 15),            // only whitespace: the same
        (br#"{"a":2,"b":true}"#, 16),
    ];
    for (data, mzxid) in steps {
        store.accept(Read::Document {
            data: data.to_vec(),
            stat: stat(mzxid, 0),
        });
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (
                1,
                Origin::Remote,
                vec![("a".to_string(), ChangeKind::Added)]
            ),
            (
                2,
                Origin::Remote,
                vec![
                    ("a".to_string(), ChangeKind::Modified),
                    ("b".to_string(), ChangeKind::Added)
                ]
            ),
        ]
    );
    let invalid = warnings
        .lock()
        .unwrap()
        .iter()
        .filter(|c| **c == "ERR_CONFIG_INVALID")
        .count();
    assert_eq!(invalid, 4);
    assert_eq!(store.current().view.get("b"), Some(&json!(true)));
    assert_eq!(store.updates_since(1).len(), 1);
}

#[tokio::test]
async fn our_own_write_is_local_even_when_the_watch_reads_it_first() {
    let (store, seen, _) = store();
    store.accept(Read::Document {
        data: br#"{"a":1}"#.to_vec(),
        stat: stat(10, 0),
    });
    let ours = Arc::new(serde_json::from_str(r#"{"a":1,"mine":true}"#).unwrap());
    store.set_writing(Some(ours));
    store.accept(Read::Document {
        data: br#"{"a":1,"mine":true}"#.to_vec(),
        stat: stat(11, 1),
    });
    store.set_writing(None);
    store.accept(Read::Document {
        data: br#"{"a":1,"mine":true,"theirs":1}"#.to_vec(),
        stat: stat(12, 2),
    });
    let origins: Vec<Origin> = seen.lock().unwrap().iter().map(|u| u.1).collect();
    assert_eq!(origins, vec![Origin::Remote, Origin::Local, Origin::Remote]);
}

#[tokio::test]
async fn without_zookeeper_the_first_load_falls_back_after_the_timeout() {
    let (store, seen, warnings) = store();
    let started = std::time::Instant::now();
    let first = store.initial().await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(first.source, Source::Empty);
    assert!(warnings.lock().unwrap().contains(&"ERR_CONFIG_STALE"));
    // ZooKeeper answering later is reported as a change.
    store.accept(Read::Document {
        data: br#"{"x":1}"#.to_vec(),
        stat: stat(3, 0),
    });
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(store.current().source, Source::ZooKeeper);
}

#[tokio::test]
async fn a_hollow_tree_keeps_the_last_good_data_and_a_marked_one_empties_it() {
    let (store, seen, warnings) = store();
    let read = |doc: serde_json::Value, zxid: i64, hollow: bool| TreeRead {
        doc: doc.as_object().unwrap().clone(),
        versions: [("/nconf-zookeeper".to_string(), 0)].into_iter().collect(),
        zxid,
        hollow,
    };
    store.accept(Read::Tree(read(json!({"k": "v"}), 5, false)));
    store.accept(Read::Tree(read(json!({}), 6, true)));
    assert_eq!(store.current().view.get("k"), Some(&json!("v")));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(warnings.lock().unwrap().contains(&"ERR_CONFIG_INVALID"));
    // What a save builds on is the tree as it is (nothing), not the data in use.
    assert!(store.base().stored.is_empty());
    store.accept(Read::Tree(read(json!({}), 7, false)));
    assert!(store.current().view.is_empty());
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.2, vec![("k".to_string(), ChangeKind::Removed)]);
}

#[tokio::test]
async fn a_corrupted_snapshot_is_reported_as_corrupted_not_as_missing() {
    let dir = std::env::temp_dir().join(format!("lemon-store-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.json");
    std::fs::write(&file, "{\"half\":").unwrap();
    let opts = ConfigOptions::from_value(&json!({
        "host": "127.0.0.1:1", "connectTimeoutMs": 50, "cacheFile": file.to_str().unwrap()
    }))
    .unwrap();
    let store = ConfigState::new(opts, Arc::new(crate::Warnings::default()));
    let messages = Arc::new(Mutex::new(Vec::new()));
    let m = messages.clone();
    store
        .warnings()
        .subscribe(move |w| m.lock().unwrap().push(format!("{}: {}", w.code, w.message)));
    assert_eq!(store.initial().await.source, Source::Empty);
    let all = messages.lock().unwrap().join("\n");
    assert!(!all.contains("no snapshot file yet"), "{all}");
    assert!(
        all.contains("ERR_CONFIG_SNAPSHOT: the snapshot file"),
        "{all}"
    );
    assert!(all.contains("is corrupted"), "{all}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A release for this process (`percent: 100` picks every instance) or for nobody.
fn release(mine: bool, changes: serde_json::Value) -> GrayRead {
    let selector = if mine {
        json!({"percent": 100})
    } else {
        json!({"instances": ["elsewhere:1"]})
    };
    let record = json!({"selector": selector, "changes": changes});
    GrayRead::Release {
        zxid: 50,
        release: Release::parse("/g", &serde_json::to_vec(&record).unwrap()).unwrap(),
    }
}

fn doc(data: &[u8], mzxid: i64) -> Read {
    Read::Document {
        data: data.to_vec(),
        stat: stat(mzxid, 0),
    }
}

#[tokio::test]
async fn a_gray_release_is_one_change_in_and_out_and_promote_is_none_for_its_instances() {
    let changes = json!([{"path": ["a"], "value": 2}]);
    for mine in [true, false] {
        let (store, seen, _) = store();
        store.accept_with(doc(br#"{"a":1,"b":1}"#, 10), GrayRead::None);
        // Started: one change for the selected store, none for the others.
        store.accept_with(doc(br#"{"a":1,"b":1}"#, 10), release(mine, changes.clone()));
        assert_eq!(store.current().view["a"], json!(if mine { 2 } else { 1 }));
        assert_eq!(store.gray_zxid(), mine.then_some(50));
        // A main version written meanwhile (a save of b) reaches both, under the overlay.
        store.accept_with(doc(br#"{"a":1,"b":2}"#, 11), release(mine, changes.clone()));
        assert_eq!(store.current().view["a"], json!(if mine { 2 } else { 1 }));
        // What a save builds on is the main document, never the overlay.
        assert_eq!(store.base().raw["a"], json!(1));
        // Promoted: main + changes in one transaction with the release's deletion.
        store.accept_with(doc(br#"{"a":2,"b":2}"#, 12), GrayRead::None);
        let n = seen.lock().unwrap().len();
        // Both: the first load, b, and the release either when it starts (gray) or when it is
        // promoted (the others) — never twice.
        assert_eq!(n, 3);
        let kinds: Vec<Vec<String>> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|u| u.2.iter().map(|c| c.0.clone()).collect())
            .collect();
        if mine {
            assert_eq!(kinds, vec![vec!["a", "b"], vec!["a"], vec!["b"]]);
        } else {
            assert_eq!(kinds, vec![vec!["a", "b"], vec!["b"], vec!["a"]]);
        }
        // A second release aborted: the selected store goes back (one change), the others see
        // nothing.
        store.accept_with(
            doc(br#"{"a":2,"b":2}"#, 12),
            release(mine, json!([{"path": ["c"], "value": true}])),
        );
        store.accept_with(doc(br#"{"a":2,"b":2}"#, 12), GrayRead::None);
        assert_eq!(seen.lock().unwrap().len(), if mine { 5 } else { 3 });
        assert!(!store.current().view.contains_key("c"));
        // The promoted version stays the main one (the gray store took it in silently).
        assert_eq!(store.current().view["a"], json!(2));
        assert_eq!(store.base().raw["a"], json!(2));
        // An unreadable release keeps what is in use.
        store.accept_with(doc(br#"{"a":2,"b":2}"#, 12), release(mine, changes.clone()));
        store.accept_with(doc(br#"{"a":2,"b":2}"#, 12), GrayRead::Unreadable);
        assert_eq!(store.gray_zxid(), mine.then_some(50));
    }
}
