//! Snapshots: taken when the stream crosses a multiple of `snapshot_every`, used on load, and
//! ignored (the events rebuild the state) when of another shape version or undecodable.
//! Run on every backend.

use std::sync::Arc;

use eventsmith::event::Timestamp;
use eventsmith::store::Snapshot;
use eventsmith::{
    Aggregate, App, Command, Event, EventStore, InMemoryStore, SqliteStore, aggregate,
};
use serde::{Deserialize, Serialize};

use crate::services;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Counted {
    by: u64,
}

#[derive(Debug, Clone, Command)]
struct Count {
    #[command(id)]
    id: String,
    by: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Counter {
    total: u64,
    applied: u64,
}

#[aggregate(snapshot_every = 5, snapshot_version = 2)]
impl Counter {
    #[handle]
    fn count(&self, cmd: Count) -> Counted {
        Counted { by: cmd.by }
    }

    #[apply]
    fn counted(&mut self, event: &Counted) {
        self.total += event.by;
        self.applied += 1;
    }
}

fn snapshot(version: u64, snapshot_version: u32, payload: &str) -> Snapshot {
    Snapshot {
        stream_version: version,
        snapshot_version,
        payload: Arc::from(payload.as_bytes()),
        taken_at: Timestamp::now(),
    }
}

async fn snapshots_are_taken_and_used<S: EventStore>(store: S) {
    let app = App::new(store.clone()).unwrap();
    for by in 1..=12 {
        app.execute(Count { id: "c".into(), by }).await.unwrap();
    }
    let stream = Counter::stream_id("c");
    let taken = store
        .load_snapshot(&stream)
        .await
        .unwrap()
        .expect("a snapshot was taken");
    assert_eq!((taken.stream_version, taken.snapshot_version), (10, 2));
    let state: Counter = serde_json::from_slice(&taken.payload).unwrap();
    assert_eq!((state.total, state.applied), (55, 10));

    // A fresh load starts from the snapshot and applies only the two events after it.
    let (state, version) = app.load::<Counter>("c").await.unwrap();
    assert_eq!((state.total, state.applied, version), (78, 12, 12));

    // Proof that the snapshot is read: a planted one at version 12 is taken as the truth.
    store
        .save_snapshot(&stream, snapshot(12, 2, r#"{"total":1000,"applied":0}"#))
        .await
        .unwrap();
    let (state, _) = app.load::<Counter>("c").await.unwrap();
    assert_eq!((state.total, state.applied), (1000, 0));

    // Another shape version is ignored: the events rebuild the state.
    store
        .save_snapshot(&stream, snapshot(13, 1, r#"{"total":1,"applied":1}"#))
        .await
        .unwrap();
    let (state, version) = app.load::<Counter>("c").await.unwrap();
    assert_eq!((state.total, state.applied, version), (78, 12, 12));

    // So is one that does not decode.
    store
        .save_snapshot(&stream, snapshot(14, 2, "not json"))
        .await
        .unwrap();
    let (state, _) = app.load::<Counter>("c").await.unwrap();
    assert_eq!((state.total, state.applied), (78, 12));

    // Commands keep working on top of all this.
    let fresh = App::new(store).unwrap();
    let done = fresh
        .execute(Count {
            id: "c".into(),
            by: 1,
        })
        .await
        .unwrap();
    assert_eq!(done.version, 13);
}

#[tokio::test]
async fn in_memory() {
    snapshots_are_taken_and_used(InMemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    snapshots_are_taken_and_used(SqliteStore::open(dir.path().join("e.db")).unwrap()).await;
}

#[tokio::test]
async fn postgres() {
    let Some(store) = services::pg_store("snapshots").await else {
        return;
    };
    snapshots_are_taken_and_used(store.clone()).await;
    store.drop_schema().await.unwrap();
}
