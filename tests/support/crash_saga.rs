//! Test support for the saga crash test: runs the fulfilment saga over a SQLite file until
//! killed, printing `READY` once started.
//!
//! `eventsmith-crash-saga <file>`

#[path = "../../examples/order_fulfilment/domain.rs"]
#[allow(
    dead_code,
    reason = "the runner needs the saga and the aggregates only"
)]
mod domain;

use std::io::Write as _;
use std::time::Duration;

use eventsmith::process::{SagaRunner, SagaState};
use eventsmith::{App, SqliteStore};

#[tokio::main]
async fn main() {
    let path = std::env::args().nth(1).expect("the store's file");
    let store = SqliteStore::open(&path).expect("open the store");
    let app = App::new(store.clone()).expect("the application");
    let running = SagaRunner::<_, domain::Fulfilment, _>::new(store, app)
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
