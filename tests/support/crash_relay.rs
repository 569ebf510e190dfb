//! Test support for the relay crash test: relays the orders contract from a SQLite file to
//! NATS until killed, printing `READY` once started.
//!
//! `eventsmith-crash-relay <file> <nats url> <subject prefix>`

#[path = "outbox_orders.rs"]
#[allow(dead_code, reason = "the relay needs the contract only")]
mod outbox_orders;

use std::io::Write as _;

use eventsmith::SqliteStore;
use eventsmith::outbox::{NatsTransport, Relay, RelayState};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (path, url, prefix) = (
        args.next().expect("the store's file"),
        args.next().expect("the NATS url"),
        args.next().expect("the subject prefix"),
    );
    let store = SqliteStore::open(&path).expect("open the store");
    let nats = NatsTransport::connect(&url)
        .await
        .expect("the NATS url")
        .subject_prefix(prefix);
    let relay = Relay::new(store, outbox_orders::OrdersContract, nats)
        .batch_size(128)
        .start()
        .await
        .expect("start the relay");
    println!("READY");
    std::io::stdout().flush().expect("flush");
    let mut progress = relay.watch();
    // The relay only stops on an error, which fails the test.
    while progress.changed().await.is_ok() {
        if !matches!(progress.borrow().state, RelayState::Running) {
            break;
        }
    }
    panic!("the relay stopped: {:?}", progress.borrow().state);
}
