//! The [`EventStore`] conformance suite: one generic set of checks that every backend must
//! pass unchanged, the memory, SQLite and PostgreSQL stores as well as yours. Call
//! [`run_all`] (or single checks) from a test, with a factory that makes a fresh, empty
//! store; a check that fails panics with what the store did wrong.
//!
//! ```no_run
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn my_store_passes_the_conformance_suite() {
//!     crate::testing::conformance::run_all(|| async { crate::InMemoryStore::new() })
//!         .await;
//! }
//! ```
//!
//! Behind the `conformance` feature. The checks run writers on several tasks: use tokio's
//! multi-thread runtime.

mod consumers;
mod reads;
mod sagas;
mod writes;

use std::future::Future;
use std::sync::Arc;

use crate::model::envelope::NewEvent;

use crate::store::{Append, AppendOutcome, EventLog, EventStore, ExpectedVersion, StoreError};

pub use self::consumers::*;
pub use self::reads::*;
pub use self::sagas::*;
pub use self::writes::*;

/// Events of test payload `body` under name `name`.
pub fn event(name: &str, body: &str) -> NewEvent {
    NewEvent::new(name.to_owned(), 1, body.as_bytes().to_vec(), Arc::default())
}

fn events(n: usize, tag: &str) -> Vec<NewEvent> {
    (0..n)
        .map(|i| event("Tested", &format!("{{\"tag\":\"{tag}\",\"i\":{i}}}")))
        .collect()
}

async fn append<S: EventStore>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<crate::store::Appended, StoreError> {
    match store.append(Append::new(stream, expected, events)).await? {
        AppendOutcome::Appended(a) => Ok(a),
        AppendOutcome::Duplicate(a) => {
            panic!("no key was given, yet the store answered Duplicate({a:?})")
        }
    }
}

/// Waits up to 30 s for [`current_head`](crate::store::EventLog::current_head) to reach
/// `position` (an append's), and answers it: on PostgreSQL appends stay hidden from readers
/// while any transaction that began before them runs anywhere on the server (a test running
/// beside this one may hold one open), so a read that expects to see everything appended
/// waits for this first.
///
/// # Panics
/// When the store fails, or the head does not get there in time.
pub async fn wait_for_head<S: EventLog>(store: &S, position: u64) -> u64 {
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let head = store.current_head().await.unwrap();
            if head >= position {
                return head;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the current head reaches the appends")
}

/// [`wait_for_head`], and the head covers the appends and no more: nobody else writes to
/// a check's fresh store.
async fn head_covering<S: EventStore>(store: &S, last: u64) -> u64 {
    let head = wait_for_head(store, last).await;
    assert_eq!(head, last, "the head covers the appends, and no more");
    head
}

/// Runs every check, each on a fresh store.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    round_trip_with_metadata(make().await).await;
    expected_version_conflicts(make().await).await;
    concurrent_writers_on_one_stream(make().await).await;
    concurrent_writers_with_global_reader(make().await).await;
    read_all_pagination(make().await).await;
    subscription_catch_up_then_live(make().await).await;
    large_payloads(make().await).await;
    hostile_stream_names(make().await).await;
    nul_bytes_are_refused(make().await).await;
    idempotency_keys(make().await).await;
    snapshots(make().await).await;
    checkpoints(make().await).await;
    filtered_reads(make().await).await;
    current_head_reaches_returned_appends(make().await).await;
    dead_letters(make().await).await;
}
