//! The projection runner against the in-memory store, SQLite and PostgreSQL: 16 writers while
//! a projection runs live (every handled event exactly once, in global order); a restart
//! resumes from the stored checkpoint; a poison event is retried, then parked while other
//! streams flow, and replayed once after the fix; the stop and skip policies; rebuild; a
//! wait that times out.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use eventsmith::codec::{Codec, JsonCodec};
use eventsmith::command::Backoff;
use eventsmith::event::NewEvent;
use eventsmith::projection::{ErrorPolicy, OnFailure, RunState, RunnerError, WaitError};
use eventsmith::store::{Append, AppendOutcome, ExpectedVersion};
use eventsmith::testing::conformance;
use eventsmith::{
    Event, EventStore, InMemoryStore, ProjectionRunner, RecordedEvent, SqliteStore, projection,
};
use serde::{Deserialize, Serialize};

use crate::support::harness::write_concurrently;

use crate::services;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Deposited {
    amount: u64,
}

/// Written between the handled events; the projection never sees it.
#[derive(Debug, Serialize, Deserialize, Event)]
struct Noted {
    text: String,
}

const WAIT: Duration = Duration::from_secs(20);

/// Records what it saw. Fails (or panics) on an amount of 13 while `broken` is set.
#[derive(Default)]
struct Ledger {
    seen: Vec<(u64, String, u64)>,
    totals: HashMap<String, u64>,
    broken: Arc<AtomicBool>,
    panics: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("unlucky amount")]
struct Unlucky;

#[projection(name = "ledger")]
impl Ledger {
    #[on]
    fn deposited(&mut self, event: &Deposited, envelope: &RecordedEvent) -> Result<(), Unlucky> {
        if event.amount == 13 && self.broken.load(Ordering::SeqCst) {
            assert!(!self.panics, "the handler panicked on purpose");
            return Err(Unlucky);
        }
        self.seen.push((
            envelope.global_position,
            envelope.stream_id.to_string(),
            envelope.stream_version,
        ));
        *self
            .totals
            .entry(envelope.stream_id.to_string())
            .or_default() += event.amount;
        Ok(())
    }
}

fn ledger(broken: &Arc<AtomicBool>) -> Ledger {
    Ledger {
        broken: Arc::clone(broken),
        ..Ledger::default()
    }
}

fn new_event<E: Event + Serialize>(event: &E) -> NewEvent {
    let payload = JsonCodec.encode(event).unwrap();
    NewEvent::new(E::NAME, E::VERSION, payload, Arc::default())
}

async fn append<S: EventStore>(store: &S, stream: &str, events: Vec<NewEvent>) -> u64 {
    match store
        .append(Append::new(stream, ExpectedVersion::Any, events))
        .await
        .unwrap()
    {
        AppendOutcome::Appended(a) => a.position.unwrap(),
        AppendOutcome::Duplicate(_) => unreachable!("no key given"),
    }
}

async fn deposit<S: EventStore>(store: &S, stream: &str, amount: u64) -> u64 {
    append(store, stream, vec![new_event(&Deposited { amount })]).await
}

/// 16 writers append deposits and notes to streams of their own while the projection runs
/// live: it sees every deposit once, in global order, and none of the notes.
async fn live_with_concurrent_writers<S: EventStore>(store: S) {
    let broken = Arc::new(AtomicBool::new(false));
    let running = ProjectionRunner::new(store.clone(), ledger(&broken))
        .batch_size(64)
        .start()
        .await
        .unwrap();
    let last = write_concurrently(16, |w| {
        let store = store.clone();
        async move {
            let stream = format!("acc-{w}");
            let mut last = 0;
            for i in 0..40u64 {
                let mut events = vec![new_event(&Deposited { amount: i + 1 })];
                if i % 3 == 0 {
                    events.push(new_event(&Noted { text: "n".into() }));
                }
                last = append(&store, &stream, events).await;
            }
            last
        }
    })
    .await;
    running.wait_for(last, WAIT).await.unwrap();
    let (seen, totals) = {
        let state = running.read().await;
        (state.seen.clone(), state.totals.clone())
    };
    assert_eq!(seen.len(), 16 * 40, "every deposit once");
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "in strictly increasing global order"
    );
    let stored = store.read_all(1, 100_000).await.unwrap().events;
    let deposits: Vec<(u64, String, u64)> = stored
        .iter()
        .filter(|e| &*e.event_type == "Deposited")
        .map(|e| (e.global_position, e.stream_id.to_string(), e.stream_version))
        .collect();
    assert_eq!(seen, deposits, "exactly the stored deposits");
    for w in 0..16 {
        assert_eq!(totals[&format!("acc-{w}")], (1..=40).sum::<u64>());
    }
    let progress = running.progress();
    assert!(progress.position >= last && progress.is_running());
    running.stop().await.unwrap();
}

/// A resuming runner stores its checkpoint when stopped; the next one starts after it.
async fn restart_resumes_from_the_checkpoint<S: EventStore>(store: S) {
    let broken = Arc::new(AtomicBool::new(false));
    let mut appended = 0;
    for i in 0..5 {
        appended = deposit(&store, "acc-r", i + 1).await;
    }
    let first = ProjectionRunner::new(store.clone(), ledger(&broken))
        .resume_from_checkpoint()
        .start()
        .await
        .unwrap();
    // PostgreSQL shows the log up to a transaction still running anywhere on the server (a
    // test beside this one may hold one open): wait until it covers the appends.
    conformance::wait_for_head(&store, appended).await;
    let fifth = store.read_all(1, 100).await.unwrap().events[4].global_position;
    first.wait_for(fifth, WAIT).await.unwrap();
    assert_eq!(first.read().await.seen.len(), 5);
    first.stop().await.unwrap();
    assert_eq!(store.load_checkpoint("ledger").await.unwrap(), Some(fifth));

    let mut later = 0;
    for i in 0..3 {
        later = deposit(&store, "acc-r", 100 + i).await;
    }
    let second = ProjectionRunner::new(store.clone(), ledger(&broken))
        .resume_from_checkpoint()
        .start()
        .await
        .unwrap();
    second.wait_for(later, WAIT).await.unwrap();
    let versions: Vec<u64> = second.read().await.seen.iter().map(|s| s.2).collect();
    assert_eq!(versions, [6, 7, 8], "only what came after the checkpoint");
    // Dropping the last handle stops the runner and stores the checkpoint too.
    drop(second);
    let stored = tokio::time::timeout(WAIT, async {
        loop {
            if store.load_checkpoint("ledger").await.unwrap() == Some(later) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(stored.is_ok(), "the dropped runner stored its checkpoint");
}

/// A poison event is tried by the policy, then parked with the events of its stream behind
/// it, while another stream flows; after the fix, replaying applies each once, in order.
async fn poison_is_parked_and_replayed<S: EventStore>(store: S) {
    let broken = Arc::new(AtomicBool::new(true));
    let running = ProjectionRunner::new(store.clone(), ledger(&broken))
        .on_error(
            ErrorPolicy::retry(Backoff::fixed(Duration::from_millis(1)), 3).then(OnFailure::Park),
        )
        .start()
        .await
        .unwrap();
    deposit(&store, "acc-p", 1).await;
    let poison = deposit(&store, "acc-p", 13).await;
    deposit(&store, "acc-q", 5).await;
    let behind = deposit(&store, "acc-p", 2).await;
    let last = deposit(&store, "acc-q", 6).await;
    running.wait_for(last, WAIT).await.unwrap();
    {
        let state = running.read().await;
        assert_eq!(state.totals["acc-p"], 1, "the stream stops at the poison");
        assert_eq!(state.totals["acc-q"], 11, "other streams flow");
    }
    assert!(running.progress().is_running(), "{:?}", running.progress());
    let letters = running.dead_letters().await.unwrap();
    assert_eq!(
        letters.iter().map(|l| l.position).collect::<Vec<_>>(),
        [poison, behind]
    );
    assert_eq!(letters[0].attempts, 3);
    assert!(
        letters[0].reason.contains("unlucky amount") && letters[0].reason.contains("acc-p"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[1].attempts, 0);
    assert!(letters[1].reason.contains(&format!("position {poison}")));
    // Later events of the parked stream keep waiting behind it.
    let waiting = deposit(&store, "acc-p", 4).await;
    running.wait_for(waiting, WAIT).await.unwrap();
    assert_eq!(running.dead_letters().await.unwrap().len(), 3);

    // Still broken: the replay stops at the poison and keeps all three.
    let replayed = running.replay_parked("acc-p").await.unwrap();
    assert_eq!((replayed.handled, replayed.still_parked), (0, 3));
    assert!(replayed.failure.is_some());

    broken.store(false, Ordering::SeqCst);
    let replayed = running.replay_parked("acc-p").await.unwrap();
    assert_eq!((replayed.handled, replayed.still_parked), (3, 0));
    assert!(running.dead_letters().await.unwrap().is_empty());
    let after = deposit(&store, "acc-p", 100).await;
    running.wait_for(after, WAIT).await.unwrap();
    let (total, p_versions) = {
        let state = running.read().await;
        let versions: Vec<u64> = state
            .seen
            .iter()
            .filter(|s| s.1 == "acc-p")
            .map(|s| s.2)
            .collect();
        (state.totals["acc-p"], versions)
    };
    assert_eq!(total, 1 + 13 + 2 + 4 + 100);
    assert_eq!(p_versions, [1, 2, 3, 4, 5], "each once, in stream order");
    running.stop().await.unwrap();
}

/// The stop policy stops before the failing event (a panic counts as a failure); waiting
/// past it fails at once, and `stop` reports why.
async fn stop_policy_stops_before_the_event<S: EventStore>(store: S) {
    let broken = Arc::new(AtomicBool::new(true));
    let mut projection = ledger(&broken);
    projection.panics = true;
    let running = ProjectionRunner::new(store.clone(), projection)
        .on_error(ErrorPolicy::retry(Backoff::none(), 2))
        .start()
        .await
        .unwrap();
    let good = deposit(&store, "acc-s", 1).await;
    let poison = deposit(&store, "acc-s", 13).await;
    let err = running.wait_for(poison, WAIT).await.unwrap_err();
    assert!(
        matches!(err, WaitError::Stopped { reached, .. } if reached == good),
        "{err}"
    );
    let RunState::Failed(error) = running.progress().state else {
        panic!("the runner should have failed: {:?}", running.progress());
    };
    let text = error.to_string();
    assert!(
        text.contains("panicked") && text.contains("acc-s") && text.contains("2 attempt"),
        "{text}"
    );
    assert!(matches!(running.stop().await, Err(RunnerError::Failed(_))));
}

/// The skip policy goes on past the failing event.
async fn skip_policy_goes_on<S: EventStore>(store: S) {
    let broken = Arc::new(AtomicBool::new(true));
    let running = ProjectionRunner::new(store.clone(), ledger(&broken))
        .on_error(ErrorPolicy::no_retry(OnFailure::Skip))
        .start()
        .await
        .unwrap();
    deposit(&store, "acc-k", 13).await;
    let last = deposit(&store, "acc-k", 2).await;
    running.wait_for(last, WAIT).await.unwrap();
    assert_eq!(running.read().await.totals["acc-k"], 2);
    assert!(running.dead_letters().await.unwrap().is_empty());
    running.stop().await.unwrap();
}

/// Rebuilding replaces the state and handles the log again; a wait beyond the log times
/// out, saying where the projection is.
async fn rebuild_and_timeout<S: EventStore>(store: S) {
    let broken = Arc::new(AtomicBool::new(false));
    let running = ProjectionRunner::new(store.clone(), ledger(&broken))
        .start()
        .await
        .unwrap();
    deposit(&store, "acc-b", 3).await;
    let last = deposit(&store, "acc-b", 4).await;
    running.wait_for(last, WAIT).await.unwrap();
    let before = running.read().await.seen.clone();
    running.rebuild(ledger(&broken)).await.unwrap();
    running.wait_for(last, WAIT).await.unwrap();
    assert_eq!(running.read().await.seen, before);
    let err = running
        .wait_for(last + 1_000, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WaitError::Timeout { reached, .. } if reached >= last),
        "{err}"
    );
    assert_eq!(running.progress().lag(), 0);
    running.stop().await.unwrap();
}

/// Leaves out the streams of test accounts, stamps what the handler sees, and counts the
/// handler calls around it.
#[derive(Default)]
struct Stamped {
    calls: Arc<std::sync::atomic::AtomicU64>,
}

impl projection::Pipeline for Stamped {
    fn filter(&self, event: &RecordedEvent) -> bool {
        !event.stream_id.starts_with("test-")
    }

    fn transform<'e>(&self, event: &'e RecordedEvent) -> std::borrow::Cow<'e, RecordedEvent> {
        let mut stamped = event.clone();
        stamped.stream_id = format!("{}!", event.stream_id).into();
        std::borrow::Cow::Owned(stamped)
    }

    async fn around<F>(
        &self,
        _event: &RecordedEvent,
        handler: F,
    ) -> Result<bool, projection::ProjectionError>
    where
        F: Future<Output = Result<bool, projection::ProjectionError>> + Send,
    {
        self.calls.fetch_add(1, Ordering::SeqCst);
        handler.await
    }
}

/// A pipeline filters, transforms and wraps the handler calls; a pair runs both.
async fn pipeline_filters_transforms_and_wraps<S: EventStore>(store: S) {
    let broken = Arc::new(AtomicBool::new(false));
    let outer = Stamped::default();
    let inner = Stamped::default();
    let (outer_calls, inner_calls) = (Arc::clone(&outer.calls), Arc::clone(&inner.calls));
    let running = ProjectionRunner::new(store.clone(), ledger(&broken))
        .pipeline((outer, inner))
        .start()
        .await
        .unwrap();
    deposit(&store, "test-1", 7).await;
    deposit(&store, "acc-f", 1).await;
    let last = deposit(&store, "acc-f", 2).await;
    running.wait_for(last, WAIT).await.unwrap();
    let totals = running.read().await.totals.clone();
    assert_eq!(
        totals.len(),
        1,
        "the test account was filtered out: {totals:?}"
    );
    assert_eq!(totals["acc-f!!"], 3, "both transformers ran, in order");
    assert_eq!(outer_calls.load(Ordering::SeqCst), 2);
    assert_eq!(inner_calls.load(Ordering::SeqCst), 2);
    running.stop().await.unwrap();
}

async fn all_checks<S, F, Fut>(make: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    live_with_concurrent_writers(make().await).await;
    restart_resumes_from_the_checkpoint(make().await).await;
    poison_is_parked_and_replayed(make().await).await;
    stop_policy_stops_before_the_event(make().await).await;
    skip_policy_goes_on(make().await).await;
    rebuild_and_timeout(make().await).await;
    pipeline_filters_transforms_and_wraps(make().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_on_the_memory_store() {
    all_checks(|| async { InMemoryStore::new() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    all_checks(|| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let path = dir.path().join(format!("runner-{n}.db"));
        async move { SqliteStore::open(path).unwrap() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_on_postgres() {
    if services::pg_store("runner_probe").await.is_none() {
        return;
    }
    all_checks(|| async { services::pg_store("runner").await.unwrap() }).await;
}
