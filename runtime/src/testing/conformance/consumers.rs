//! What consumers keep in the store: snapshots, checkpoints and dead letters.

use std::sync::Arc;

use crate::store::EventStore;

/// A snapshot is kept per stream; a newer one replaces it, an older one does not.
pub async fn snapshots<S: EventStore>(store: S) {
    use crate::model::envelope::Timestamp;
    use crate::store::Snapshot;
    let snap = |version: u64, body: &str| Snapshot {
        stream_version: version,
        snapshot_version: 3,
        payload: Arc::from(body.as_bytes()),
        taken_at: Timestamp::from_micros(1_700_000_000_000_000 + version as i64),
    };
    assert_eq!(store.load_snapshot("snap").await.unwrap(), None);
    store.save_snapshot("snap", snap(10, "ten")).await.unwrap();
    assert_eq!(
        store.load_snapshot("snap").await.unwrap(),
        Some(snap(10, "ten"))
    );
    store
        .save_snapshot("snap", snap(20, "twenty"))
        .await
        .unwrap();
    store
        .save_snapshot("snap", snap(15, "stale"))
        .await
        .unwrap();
    assert_eq!(
        store.load_snapshot("snap").await.unwrap(),
        Some(snap(20, "twenty"))
    );
    let hostile = "x'); DROP TABLE snapshots; --";
    store.save_snapshot(hostile, snap(1, "h")).await.unwrap();
    assert_eq!(
        store.load_snapshot(hostile).await.unwrap(),
        Some(snap(1, "h"))
    );
    assert_eq!(store.load_snapshot("other").await.unwrap(), None);
}

/// A checkpoint is kept per consumer name, replaced on save, reset by saving 0, and names are
/// stored verbatim.
pub async fn checkpoints<S: EventStore>(store: S) {
    let hostile = "bal'ances\"; DROP TABLE checkpoints; --ü";
    assert_eq!(store.load_checkpoint("balances").await.unwrap(), None);
    store.save_checkpoint("balances", 41).await.unwrap();
    store.save_checkpoint(hostile, 7).await.unwrap();
    store.save_checkpoint("balances", 42).await.unwrap();
    assert_eq!(store.load_checkpoint("balances").await.unwrap(), Some(42));
    assert_eq!(store.load_checkpoint(hostile).await.unwrap(), Some(7));
    store.save_checkpoint("balances", 0).await.unwrap();
    assert_eq!(store.load_checkpoint("balances").await.unwrap(), Some(0));
    assert_eq!(store.load_checkpoint("other").await.unwrap(), None);
}

/// Parked events are kept per consumer in global order; parking the same position again
/// replaces the letter, and releasing removes it.
pub async fn dead_letters<S: EventStore>(store: S) {
    let letter = |position: u64, stream: &str, reason: &str| crate::store::DeadLetter {
        position,
        stream_id: stream.to_owned(),
        stream_version: position * 10,
        event_type: "Deposited".to_owned(),
        reason: reason.to_owned(),
        attempts: 3,
        parked_at: crate::model::envelope::Timestamp::from_micros(
            1_700_000_000_000_000 + i64::try_from(position).unwrap(),
        ),
    };
    let hostile = "bal'ances\"; DROP TABLE dead_letters; --ü";
    assert!(store.dead_letters("balances").await.unwrap().is_empty());
    store
        .park("balances", letter(9, "acc-2", "boom"))
        .await
        .unwrap();
    store
        .park("balances", letter(4, "acc-1", "first"))
        .await
        .unwrap();
    store
        .park(hostile, letter(4, "acc-'1", "other consumer"))
        .await
        .unwrap();
    store
        .park("balances", letter(4, "acc-1", "again"))
        .await
        .unwrap();
    assert_eq!(
        store.dead_letters("balances").await.unwrap(),
        [letter(4, "acc-1", "again"), letter(9, "acc-2", "boom")]
    );
    assert_eq!(
        store.dead_letters(hostile).await.unwrap(),
        [letter(4, "acc-'1", "other consumer")]
    );
    store.release("balances", 4).await.unwrap();
    store.release("balances", 5).await.unwrap();
    assert_eq!(
        store.dead_letters("balances").await.unwrap(),
        [letter(9, "acc-2", "boom")]
    );
    assert_eq!(store.dead_letters(hostile).await.unwrap().len(), 1);
}
