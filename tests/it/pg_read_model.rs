//! SQL read models on PostgreSQL: the handlers' statements commit with the checkpoint, so 16
//! live writers give every event exactly one row; a runner process killed (SIGKILL) at
//! random moments and restarted applies every event exactly once; a refused event's
//! statements are undone, it is parked with its stream's later events, and replayed once
//! after the fix.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use eventsmith::codec::{Codec, JsonCodec};
use eventsmith::command::Backoff;
use eventsmith::event::NewEvent;
use eventsmith::projection::{ErrorPolicy, OnFailure};
use eventsmith::store::{Append, AppendOutcome, ConsumerStore, EventLog, ExpectedVersion};
use eventsmith::{PgStore, ProjectionRunner};

use crate::support::harness::{random_moment, run_projector_and_kill, write_concurrently};
use crate::support::ledger_pg::{Credited, LedgerPg, create_tables_sql};

use crate::services;

const WAIT: Duration = Duration::from_secs(30);

fn credit(amount: i64) -> NewEvent {
    let payload = JsonCodec.encode(&Credited { amount }).unwrap();
    NewEvent::new("Credited", 1, payload, Arc::default())
}

async fn append(store: &PgStore, stream: &str, events: Vec<NewEvent>) -> u64 {
    match store
        .append(Append::new(stream, ExpectedVersion::Any, events))
        .await
        .unwrap()
    {
        AppendOutcome::Appended(a) => a.position.unwrap(),
        AppendOutcome::Duplicate(_) => unreachable!("no key given"),
    }
}

/// A store in a fresh schema with the read model's tables, and a client to look at them.
async fn setup(test: &str) -> Option<(PgStore, tokio_postgres::Client)> {
    let store = services::pg_store(test).await?;
    let client = services::raw_client().await;
    client
        .batch_execute(&create_tables_sql(store.schema()))
        .await
        .unwrap();
    Some((store, client))
}

fn ledger(store: &PgStore) -> LedgerPg {
    LedgerPg {
        schema: store.schema().to_owned(),
    }
}

/// Every stored event has exactly one row in `applied`, each stream's rows are in stream
/// order, and each stream's total is the sum of its stored amounts.
async fn assert_exactly_once(store: &PgStore, db: &tokio_postgres::Client) {
    let schema = store.schema();
    let stored = store.read_all(1, usize::MAX).await.unwrap().events;
    let rows = db
        .query(
            &format!("SELECT position, stream FROM \"{schema}\".applied ORDER BY ctid"),
            &[],
        )
        .await
        .unwrap();
    let mut last_of_stream = HashMap::<String, i64>::new();
    let mut applied: Vec<u64> = Vec::new();
    for row in &rows {
        let (position, stream): (i64, String) = (row.get(0), row.get(1));
        let last = last_of_stream.insert(stream.clone(), position).unwrap_or(0);
        assert!(last < position, "stream {stream} in order, none twice");
        applied.push(position.unsigned_abs());
    }
    applied.sort_unstable();
    let expected: Vec<u64> = stored.iter().map(|e| e.global_position).collect();
    assert_eq!(applied, expected, "every event exactly once");
    let mut sums = BTreeMap::<String, i64>::new();
    for e in &stored {
        let c: Credited = JsonCodec.decode(&e.payload).unwrap();
        *sums.entry(e.stream_id.to_string()).or_default() += c.amount;
    }
    let totals: BTreeMap<String, i64> = db
        .query(
            &format!("SELECT stream, total FROM \"{schema}\".totals"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(totals, sums);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_writers_give_every_event_exactly_one_row() {
    let Some((store, db)) = setup("pg_rm_live").await else {
        return;
    };
    let running = ProjectionRunner::postgres(store.clone(), ledger(&store))
        .await
        .unwrap()
        .batch_size(32)
        .start()
        .await
        .unwrap();
    let last = write_concurrently(16, |w| {
        let store = store.clone();
        async move {
            let mut last = 0;
            for i in 0..20 {
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
        store.load_checkpoint("ledger-pg").await.unwrap(),
        Some(last),
        "the checkpoint lives in the same database"
    );
}

/// The handlers await their statements, so tokio's current-thread runtime runs a read model
/// too; each runner stopped lets go of the read model's lock for the next one (which would
/// otherwise fail after waiting 30 s).
#[tokio::test]
async fn a_read_model_runs_on_the_current_thread_runtime() {
    let Some((store, db)) = setup("pg_rm_current_thread").await else {
        return;
    };
    let mut last = 0;
    for round in 0..3 {
        let running = ProjectionRunner::postgres(store.clone(), ledger(&store))
            .await
            .unwrap()
            .start()
            .await
            .unwrap();
        for s in 0..4 {
            last = append(&store, &format!("ct-{s}"), vec![credit(round + s)]).await;
        }
        running.wait_for(last, WAIT).await.unwrap();
        running.stop().await.unwrap();
    }
    assert_exactly_once(&store, &db).await;
    assert_eq!(
        store.load_checkpoint("ledger-pg").await.unwrap(),
        Some(last)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runner_resumes_and_applies_every_event_once() {
    let Some((store, db)) = setup("pg_rm_crash").await else {
        return;
    };
    let url = services::pg_url();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut last = 0;
    let mut killed_mid_way = 0;
    for round in 0..6 {
        for s in 0..20 {
            let events = (0..50).map(|i| credit(i + round)).collect();
            last = append(&store, &format!("crash-{s}"), events).await;
        }
        run_projector_and_kill(
            &["postgres", &url, store.schema()],
            random_moment(&mut seed, 30, 300),
        );
        let reached = store
            .load_checkpoint("ledger-pg")
            .await
            .unwrap()
            .unwrap_or(0);
        if reached < last {
            killed_mid_way += 1;
        }
    }
    eprintln!("{killed_mid_way} of 6 kills landed while the runner was catching up");
    let running = ProjectionRunner::postgres(store.clone(), ledger(&store))
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    assert!(
        store
            .load_checkpoint("ledger-pg")
            .await
            .unwrap()
            .is_some_and(|p| p > 0),
        "the killed runners made progress"
    );
    running.wait_for(last, WAIT).await.unwrap();
    running.stop().await.unwrap();
    assert_exactly_once(&store, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_is_undone_parked_and_replayed_once() {
    let Some((store, db)) = setup("pg_rm_poison").await else {
        return;
    };
    let schema = store.schema().to_owned();
    db.execute(
        &format!("INSERT INTO \"{schema}\".rules (name) VALUES ('refuse-13')"),
        &[],
    )
    .await
    .unwrap();
    let running = ProjectionRunner::postgres(store.clone(), ledger(&store))
        .await
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
    let total_sql = format!(
        "SELECT coalesce(sum(total), 0)::bigint FROM \"{schema}\".totals WHERE stream = $1"
    );
    let total =
        async |stream: &str| -> i64 { db.query_one(&total_sql, &[&stream]).await.unwrap().get(0) };
    assert_eq!(
        total("p").await,
        1,
        "the refused event's statements were undone"
    );
    assert_eq!(total("q").await, 5, "other streams flow");
    let letters = running.dead_letters().await.unwrap();
    assert_eq!(
        letters.iter().map(|l| l.position).collect::<Vec<_>>(),
        [poison, behind]
    );
    assert!(
        letters[0].reason.contains("refuse-13"),
        "{}",
        letters[0].reason
    );

    let replayed = running.replay_parked("p").await.unwrap();
    assert_eq!((replayed.handled, replayed.still_parked), (0, 2));
    db.execute(&format!("DELETE FROM \"{schema}\".rules"), &[])
        .await
        .unwrap();
    let replayed = running.replay_parked("p").await.unwrap();
    assert_eq!((replayed.handled, replayed.still_parked), (2, 0));
    let after = append(&store, "p", vec![credit(100)]).await;
    running.wait_for(after, WAIT).await.unwrap();
    running.stop().await.unwrap();
    assert_eq!(total("p").await, 1 + 13 + 2 + 100);
    assert_exactly_once(&store, &db).await;
}
