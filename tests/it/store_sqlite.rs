//! The conformance suite on SQLite files, plus what only a file can show: reopening keeps
//! everything, a damaged row is a typed error, old files are migrated, and saga commits of
//! two handles on one file are fenced against each other.

use std::sync::Arc;

use eventsmith::event::NewEvent;
use eventsmith::store::{
    Append, ConsumerStore, Durability, EventLog, ExpectedVersion, InstanceWrite, SagaCommit,
    SagaStore, SqliteOptions,
};
use eventsmith::testing::conformance;
use eventsmith::{SqliteStore, StoreError};

fn temp_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("events.db")).unwrap();
    (dir, store)
}

/// `tasks` concurrent tasks each append `each` one-event appends carrying `payload` to a
/// stream of their own, `{prefix}-{task}`, expecting the exact version every time.
async fn append_from_tasks(
    store: &SqliteStore,
    prefix: &str,
    tasks: u64,
    each: u64,
    payload: &str,
) {
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (store, stream, payload) =
                (store.clone(), format!("{prefix}-{t}"), payload.to_owned());
            tokio::spawn(async move {
                for i in 0..each {
                    let e =
                        NewEvent::new("Tested", 1, payload.clone().into_bytes(), Arc::default());
                    store
                        .append(Append::new(&stream, ExpectedVersion::Exact(i), vec![e]))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_passes_the_conformance_suite() {
    let dirs = std::sync::Mutex::new(Vec::new());
    conformance::run_all(|| {
        let (dir, store) = temp_store();
        dirs.lock().unwrap().push(dir);
        async move { store }
    })
    .await;
}

#[tokio::test]
async fn sqlite_store_passes_the_saga_checks() {
    let dirs = std::sync::Mutex::new(Vec::new());
    conformance::run_sagas(|| {
        let (dir, store) = temp_store();
        dirs.lock().unwrap().push(dir);
        async move { store }
    })
    .await;
}

#[tokio::test]
async fn reopening_keeps_events_positions_keys_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        let e = conformance::event("Opened", "{}");
        store
            .append(Append::new("s", ExpectedVersion::NoStream, vec![e]).idempotency_key("k"))
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.stream_version("s").await.unwrap(), 1);
    assert!(store.idempotency_record("s", "k").await.unwrap().is_some());
    let e = conformance::event("Closed", "{}");
    let appended = store
        .append(Append::new("t", ExpectedVersion::NoStream, vec![e]))
        .await
        .unwrap();
    assert!(
        matches!(appended, eventsmith::store::AppendOutcome::Appended(a) if a.position == Some(2)),
        "positions continue: {appended:?}"
    );
    let mut head = store.head();
    assert_eq!(*head.borrow_and_update(), 2);
}

#[tokio::test]
async fn a_damaged_row_is_a_typed_error_naming_stream_and_version() {
    let (dir, store) = temp_store();
    let events = (0..3)
        .map(|i| conformance::event("Tested", &format!("{{\"i\":{i}}}")))
        .collect();
    store
        .append(Append::new("dmg", ExpectedVersion::NoStream, events))
        .await
        .unwrap();
    let raw = rusqlite::Connection::open(dir.path().join("events.db")).unwrap();
    raw.execute(
        "UPDATE events SET event_id = x'0102' WHERE stream_id = 'dmg' AND stream_version = 2",
        [],
    )
    .unwrap();
    let err = store.read_stream("dmg", 1, 10).await.unwrap_err();
    match &err {
        StoreError::Corrupt {
            stream,
            version,
            reason,
        } => {
            assert_eq!((stream.as_str(), *version), ("dmg", 2));
            assert!(reason.contains("event id"), "{reason}");
        }
        other => panic!("expected a corrupt-row error, got {other:?}"),
    }
    raw.execute(
        "UPDATE events SET event_id = randomblob(16), metadata = x'7b7b' WHERE stream_version = 2",
        [],
    )
    .unwrap();
    let err = store.read_all(1, 10).await.unwrap_err();
    assert!(
        err.to_string().contains("`dmg` at version 2") && err.to_string().contains("metadata"),
        "{err}"
    );
    raw.execute(
        "UPDATE events SET metadata = NULL, stream_version = 'two' WHERE stream_version = 2",
        [],
    )
    .unwrap();
    let err = store.read_stream("dmg", 1, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    drop(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[tokio::test]
async fn a_database_of_schema_version_1_is_migrated_keeping_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    let e = NewEvent::new("Kept", 1, b"{}".to_vec(), Arc::default());
    store
        .append(Append::new("s", ExpectedVersion::NoStream, vec![e]))
        .await
        .unwrap();
    drop(store);
    // Back to what a build of schema version 1 left: no checkpoints, no dead letters, no
    // dates on idempotency records, no saga tables.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(&format!(
        "DROP TABLE checkpoints; DROP TABLE dead_letters;
         DROP INDEX idempotency_by_age; ALTER TABLE idempotency DROP COLUMN recorded_at;
         {DROP_SAGA_TABLES}
         PRAGMA user_version = 1;"
    ))
    .unwrap();
    drop(raw);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.read_stream("s", 1, 10).await.unwrap().len(), 1);
    store.save_checkpoint("p", 1).await.unwrap();
    assert_eq!(store.load_checkpoint("p").await.unwrap(), Some(1));
    assert!(store.dead_letters("p").await.unwrap().is_empty());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6);
}

/// What schema versions 5 and 6 added: the saga tables (their indexes go with them) and the
/// inbox.
const DROP_SAGA_TABLES: &str = "DROP TABLE saga_positions; DROP TABLE saga_instances;
    DROP TABLE saga_keys; DROP TABLE saga_commands; DROP TABLE saga_deadlines;
    DROP TABLE inbox;";

/// A file of schema version 4 (before sagas) opens, is migrated in place and gains the saga
/// tables, keeping its events.
#[tokio::test]
async fn a_database_of_schema_version_4_is_migrated_and_gains_the_saga_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    let e = NewEvent::new("Kept", 1, b"{}".to_vec(), Arc::default());
    store
        .append(Append::new("s", ExpectedVersion::NoStream, vec![e]).idempotency_key("k"))
        .await
        .unwrap();
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(&format!("{DROP_SAGA_TABLES} PRAGMA user_version = 4;"))
        .unwrap();
    drop(raw);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.read_stream("s", 1, 10).await.unwrap().len(), 1);
    assert!(store.idempotency_record("s", "k").await.unwrap().is_some());
    let mut step = SagaCommit::new("orders");
    step.position = Some((0, 1));
    step.instance = Some(
        InstanceWrite::new("i-1", None, Some(b"{}".to_vec())).associate(vec!["o-1".to_owned()]),
    );
    store.commit_saga(step).await.unwrap();
    assert_eq!(store.saga_position("orders").await.unwrap(), 1);
    let found = store.find_instance("orders", "o-1").await.unwrap();
    assert_eq!(
        found.map(|i| (i.id, i.version)),
        Some(("i-1".to_owned(), 1))
    );
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6);
}

/// Two handles on one file (as two processes would be) race saga commits: each of
/// `TASKS` tasks commits a step from what it read. Exactly one wins each race, every other
/// is refused (superseded; invalid for a key another instance took), and nothing of the
/// losers is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn saga_commits_of_two_handles_racing_from_one_read_let_exactly_one_win() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let stores = [
        SqliteStore::open(&path).unwrap(),
        SqliteStore::open(&path).unwrap(),
    ];
    conformance::saga_commits_race_between_handles(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_committed_in_batches_and_all_acknowledged() {
    let (_dir, store) = temp_store();
    append_from_tasks(&store, "c", 64, 20, "{}").await;
    let all = store.read_all(1, 10_000).await.unwrap().events;
    assert_eq!(all.len(), 64 * 20);
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, e)| e.global_position == i as u64 + 1)
    );
}

/// Without checkpoints a WAL grows by a page or more per append (here, past 600 MiB); the
/// store's checkpointer copies it back and rewinds it at 16 MiB while appends go on. The
/// file keeps the largest size it reached, which depends on how far the checkpointer lagged
/// (up to 63 MiB seen under a parallel test run): the bound is the store's size limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_wal_stays_bounded_under_a_steady_stream_of_appends() {
    const TASKS: u64 = 64;
    const EACH: u64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let options = SqliteOptions::default().durability(Durability::Normal);
    let store = SqliteStore::open_with(&path, options).unwrap();
    let wal = dir.path().join("events.db-wal");
    let payload = format!("{{\"padding\":\"{}\"}}", "x".repeat(200));
    append_from_tasks(&store, "w", TASKS, EACH, &payload).await;
    let wal_bytes = std::fs::metadata(&wal).unwrap().len();
    let db_bytes = std::fs::metadata(&path).unwrap().len();
    assert!(
        wal_bytes <= 128 << 20,
        "the WAL grew to {wal_bytes} bytes (database file: {db_bytes} bytes)"
    );
    assert_eq!(
        store.read_all(1, 200_000).await.unwrap().events.len() as u64,
        TASKS * EACH
    );
}

/// Dropping the last handle ends the store's threads and closes its connections: the last
/// one to close checkpoints the WAL and removes it, and the file opens again with everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_store_closes_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    append_from_tasks(&store, "d", 16, 10, "{}").await;
    assert_eq!(store.read_all(1, 1_000).await.unwrap().events.len(), 160);
    drop(store);
    assert!(
        !dir.path().join("events.db-wal").exists(),
        "a connection of the dropped store is still open"
    );
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.read_all(1, 1_000).await.unwrap().events.len(), 160);
}

/// Many more concurrent reads than read connections: every read succeeds, the ones that
/// find both connections busy wait for one, and no third connection is ever opened (the
/// pool closes none, so the count it reports is every connection it opened).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_read_pool_never_opens_more_connections_than_readers() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions::default().readers(2);
    let store = SqliteStore::open_with(dir.path().join("events.db"), options).unwrap();
    append_from_tasks(&store, "r", 8, 25, "{\"padding\":\"xxxxxxxxxxxxxxxx\"}").await;
    assert!(store.read_connections() <= 2);
    let readers: Vec<_> = (0..64)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    let page = store.read_all(1, 1_000).await?;
                    assert_eq!(page.events.len(), 200);
                    assert_eq!(store.stream_version(&format!("r-{}", t % 8)).await?, 25);
                    assert_eq!(store.read_stream("r-0", 1, 100).await?.len(), 25);
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for reader in readers {
        reader.await.unwrap().unwrap();
    }
    let opened = store.read_connections();
    assert!(
        (1..=2).contains(&opened),
        "{opened} read connections were opened for a pool of 2"
    );
}

/// One read connection: reads take turns on it, and a read whose caller gave up waiting
/// (its future dropped) leaves the pool as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_read_connection_serves_every_read_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions::default().readers(1);
    let store = SqliteStore::open_with(dir.path().join("events.db"), options).unwrap();
    append_from_tasks(&store, "o", 4, 5, "{}").await;
    let impatient: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let read = store.read_all(1, 100);
                drop(tokio::time::timeout(std::time::Duration::from_micros(1), read).await);
            })
        })
        .collect();
    let patient: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.read_all(1, 100).await.map(|p| p.events.len()) })
        })
        .collect();
    for task in impatient {
        task.await.unwrap();
    }
    for task in patient {
        assert_eq!(task.await.unwrap().unwrap(), 20);
    }
    assert_eq!(store.read_connections(), 1);
}
