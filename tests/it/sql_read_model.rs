//! SQL read models on SQLite: the handlers' writes commit with the checkpoint, so 16 live
//! writers give every event exactly one row; a runner process killed (SIGKILL) at random
//! moments and restarted applies every event exactly once; a refused event's writes are
//! undone, it is parked with its stream's later events in the same transactions, and its
//! replay after the fix applies each once.

use std::sync::Arc;
use std::time::Duration;

use eventsmith::codec::{Codec, JsonCodec};
use eventsmith::command::Backoff;
use eventsmith::event::NewEvent;
use eventsmith::projection::{ErrorPolicy, OnFailure, SqliteConnection};
use eventsmith::rusqlite::{self, Connection};
use eventsmith::store::{Append, AppendOutcome, ConsumerStore, EventLog, ExpectedVersion};
use eventsmith::{ProjectionRunner, SqliteStore};

use crate::support::harness::{random_moment, run_projector_and_kill, write_concurrently};
use crate::support::ledger_table::{Credited, LedgerTable, create_tables};

const WAIT: Duration = Duration::from_secs(30);

fn credit(amount: i64) -> NewEvent {
    let payload = JsonCodec.encode(&Credited { amount }).unwrap();
    NewEvent::new("Credited", 1, payload, Arc::default())
}

async fn append(store: &SqliteStore, stream: &str, events: Vec<NewEvent>) -> u64 {
    match store
        .append(Append::new(stream, ExpectedVersion::Any, events))
        .await
        .unwrap()
    {
        AppendOutcome::Appended(a) => a.position.unwrap(),
        AppendOutcome::Duplicate(_) => unreachable!("no key given"),
    }
}

/// Every stored `Credited` event has exactly one row in `applied`, each stream's rows are
/// in stream order, and each stream's total is the sum of its stored amounts.
async fn assert_exactly_once(store: &SqliteStore, db: &Connection) {
    let stored: Vec<(u64, String, i64)> = store
        .read_all(1, usize::MAX)
        .await
        .unwrap()
        .events
        .into_iter()
        .filter(|e| &*e.event_type == "Credited")
        .map(|e| {
            let c: Credited = JsonCodec.decode(&e.payload).unwrap();
            (e.global_position, e.stream_id.to_string(), c.amount)
        })
        .collect();
    let rows: Vec<(u64, String)> = db
        .prepare("SELECT position, stream FROM applied ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get::<_, i64>(0)?.unsigned_abs(), r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut last_of_stream = std::collections::HashMap::<&str, u64>::new();
    for (position, stream) in &rows {
        let last = last_of_stream.insert(stream, *position).unwrap_or(0);
        assert!(
            last < *position,
            "stream {stream} applied in order, none twice"
        );
    }
    let mut applied: Vec<u64> = rows.iter().map(|r| r.0).collect();
    applied.sort_unstable();
    let expected: Vec<u64> = stored.iter().map(|s| s.0).collect();
    assert_eq!(applied, expected, "every event exactly once");
    let mut sums = std::collections::BTreeMap::<String, i64>::new();
    for (_, stream, amount) in &stored {
        *sums.entry(stream.clone()).or_default() += amount;
    }
    let totals: std::collections::BTreeMap<String, i64> = db
        .prepare("SELECT stream, total FROM totals")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(totals, sums);
}

/// Where each handled event's statements ran: the thread's name, a row per event.
struct ThreadLog;

#[eventsmith::projection(name = "thread-log", context = SqliteConnection)]
impl ThreadLog {
    #[eventsmith::on]
    async fn credited(&mut self, _event: &Credited, db: &SqliteConnection) -> rusqlite::Result<()> {
        db.call(|conn| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            conn.execute("INSERT INTO threads (name) VALUES (?1)", [name])
        })
        .await
        .map(drop)
    }
}

/// On tokio's current-thread runtime too, and the statements and commits run on the read
/// model's own thread, not on the runtime's.
#[tokio::test]
async fn statements_run_on_the_read_models_own_thread() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("rm.db")).unwrap();
    let db = Connection::open(store.path()).unwrap();
    db.execute_batch("CREATE TABLE threads (name TEXT NOT NULL)")
        .unwrap();
    let running = ProjectionRunner::sqlite(store.clone(), ThreadLog)
        .unwrap()
        .start()
        .await
        .unwrap();
    let mut last = 0;
    for i in 0..5 {
        last = append(&store, &format!("acc-{i}"), vec![credit(i + 1)]).await;
    }
    running.wait_for(last, WAIT).await.unwrap();
    running.stop().await.unwrap();
    let names: Vec<String> = db
        .prepare("SELECT name FROM threads")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(names, vec!["eventsmith-read-model-thread-log"; 5]);
    assert_ne!(
        std::thread::current().name(),
        Some("eventsmith-read-model-thread-log")
    );
    assert_eq!(
        store.load_checkpoint("thread-log").await.unwrap(),
        Some(last)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_writers_give_every_event_exactly_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("rm.db")).unwrap();
    let db = Connection::open(store.path()).unwrap();
    create_tables(&db).unwrap();
    let running = ProjectionRunner::sqlite(store.clone(), LedgerTable)
        .unwrap()
        .batch_size(32)
        .start()
        .await
        .unwrap();
    let last = write_concurrently(16, |w| {
        let store = store.clone();
        async move {
            let mut last = 0;
            for i in 0..30 {
                last = append(&store, &format!("acc-{w}"), vec![credit(i + 1)]).await;
            }
            last
        }
    })
    .await;
    running.wait_for(last, WAIT).await.unwrap();
    assert_exactly_once(&store, &db).await;
    running.stop().await.unwrap();
    assert_eq!(
        store.load_checkpoint("ledger-table").await.unwrap(),
        Some(last),
        "the checkpoint lives in the same file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runner_resumes_and_applies_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let store = SqliteStore::open(&path).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut last = 0;
    let mut killed_mid_way = 0;
    for round in 0..8 {
        // More events for the runner to be in the middle of when it dies.
        for s in 0..40 {
            let events = (0..100).map(|i| credit(i + round)).collect();
            last = append(&store, &format!("crash-{s}"), events).await;
        }
        let path_text = path.to_str().expect("a UTF-8 temporary path");
        run_projector_and_kill(&["sqlite", path_text], random_moment(&mut seed, 30, 300));
        let reached = store
            .load_checkpoint("ledger-table")
            .await
            .unwrap()
            .unwrap_or(0);
        if reached < last {
            killed_mid_way += 1;
        }
    }
    eprintln!("{killed_mid_way} of 8 kills landed while the runner was catching up");
    assert!(
        killed_mid_way > 0,
        "some kill landed while the runner was catching up"
    );
    // A last runner in this process finishes the log; nothing was applied twice.
    let running = ProjectionRunner::sqlite(store.clone(), LedgerTable)
        .unwrap()
        .start()
        .await
        .unwrap();
    let from = store.load_checkpoint("ledger-table").await.unwrap();
    assert!(
        from.is_some_and(|p| p > 0),
        "the killed runners made progress"
    );
    running.wait_for(last, WAIT).await.unwrap();
    running.stop().await.unwrap();
    let db = Connection::open(&path).unwrap();
    assert_exactly_once(&store, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_is_undone_parked_and_replayed_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("poison.db")).unwrap();
    let db = Connection::open(store.path()).unwrap();
    create_tables(&db).unwrap();
    db.execute("INSERT INTO rules (name) VALUES ('refuse-13')", [])
        .unwrap();
    let running = ProjectionRunner::sqlite(store.clone(), LedgerTable)
        .unwrap()
        .on_error(ErrorPolicy::retry(Backoff::none(), 2).then(OnFailure::Park))
        .start()
        .await
        .unwrap();
    append(&store, "p", vec![credit(1)]).await;
    let poison = append(&store, "p", vec![credit(13)]).await;
    let behind = append(&store, "p", vec![credit(2)]).await;
    let last = append(&store, "q", vec![credit(5)]).await;
    running.wait_for(last, WAIT).await.unwrap();
    let total = |stream: &str| -> i64 {
        db.query_row(
            "SELECT coalesce(sum(total), 0) FROM totals WHERE stream = ?1",
            [stream],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(total("p"), 1, "the refused event's writes were undone");
    assert_eq!(total("q"), 5, "other streams flow");
    let letters = running.dead_letters().await.unwrap();
    assert_eq!(
        letters.iter().map(|l| l.position).collect::<Vec<_>>(),
        [poison, behind]
    );
    assert_eq!(letters[0].attempts, 2);
    assert!(
        letters[0].reason.contains("refuse-13"),
        "{}",
        letters[0].reason
    );

    // Stopped and started again, the parked events stay parked.
    running.stop().await.unwrap();
    let running = ProjectionRunner::sqlite(store.clone(), LedgerTable)
        .unwrap()
        .on_error(ErrorPolicy::no_retry(OnFailure::Park))
        .start()
        .await
        .unwrap();
    let replayed = running.replay_parked("p").await.unwrap();
    assert_eq!((replayed.handled, replayed.still_parked), (0, 2));
    assert_eq!(total("p"), 1, "a failed replay leaves nothing behind");

    db.execute("DELETE FROM rules", []).unwrap();
    let replayed = running.replay_parked("p").await.unwrap();
    assert_eq!((replayed.handled, replayed.still_parked), (2, 0));
    assert!(running.dead_letters().await.unwrap().is_empty());
    let after = append(&store, "p", vec![credit(100)]).await;
    running.wait_for(after, WAIT).await.unwrap();
    running.stop().await.unwrap();
    assert_eq!(total("p"), 1 + 13 + 2 + 100);
    assert_exactly_once(&store, &db).await;
}
