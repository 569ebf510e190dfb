//! Test support for the saga crash tests: runs the fulfilment saga (or, given `reminders`,
//! the reminders saga) over a SQLite file until killed, printing `READY` once started.
//!
//! `eventsmith-crash-saga <file> [reminders]`

#[path = "../../examples/order_fulfilment/domain.rs"]
#[allow(
    dead_code,
    reason = "the runner needs the saga and the aggregates only"
)]
mod domain;
#[path = "reminders.rs"]
#[allow(dead_code, reason = "the runner needs the saga and the aggregate only")]
mod reminders;

use std::io::Write as _;
use std::time::Duration;

use eventsmith::process::{Saga, SagaRunner, SagaState};
use eventsmith::{App, SqliteStore};

/// Runs saga `G` over `store`, sending its commands through an app on the same store, until
/// the process is killed.
async fn run<G: Saga>(store: SqliteStore) {
    let app = App::new(store.clone()).expect("the application");
    let running = SagaRunner::<_, G, _>::new(store, app)
        .poll_interval(Duration::from_millis(20))
        .start()
        .await
        .expect("start the saga");
    println!("READY");
    std::io::stdout().flush().expect("flush");
    let mut progress = running.watch();
    // The runner only stops on an error, which fails the test.
    while progress.changed().await.is_ok() {
        if !matches!(progress.borrow().state, SagaState::Running) {
            break;
        }
    }
    panic!("the saga stopped: {:?}", progress.borrow().state);
}

#[tokio::main]
async fn main() {
    let path = std::env::args().nth(1).expect("the store's file");
    let store = SqliteStore::open(&path).expect("open the store");
    match std::env::args().nth(2).as_deref() {
        None => run::<domain::Fulfilment>(store).await,
        Some("reminders") => run::<reminders::Reminders>(store).await,
        Some(other) => panic!("no saga `{other}`"),
    }
}
