//! Test support for the Redis fault test: one member of the consumer group `shipping` of a
//! Redis stream, applying the parcel messages to a SQLite read model until killed, printing
//! `READY` once started.
//!
//! `eventsmith-crash-consumer <file> <redis url> <stream key> <member>`

#[path = "outbox_orders.rs"]
#[allow(dead_code, reason = "the consumer needs the message types only")]
mod outbox_orders;
#[path = "outbox_received.rs"]
#[allow(dead_code, reason = "the table is the test's to create")]
mod outbox_received;

use std::io::Write as _;
use std::time::Duration;

use eventsmith::SqliteStore;
use eventsmith::outbox::{Consumer, RedisTransport};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut arg = |what: &str| args.next().unwrap_or_else(|| panic!("{what}"));
    let (path, url, key, member) = (
        arg("the read model's file"),
        arg("the Redis url"),
        arg("the stream key"),
        arg("the member's name"),
    );
    let store = SqliteStore::open(&path).expect("open the read model");
    let redis = RedisTransport::connect(&url, key)
        .await
        .expect("the Redis url");
    let subscription = redis
        .subscribe("shipping", &member, "orders.>", Duration::from_millis(500))
        .await
        .expect("join the group")
        .wait(Duration::from_millis(100));
    let consumer = Consumer::new(store, outbox_received::Received, subscription)
        .batch_size(64)
        .start()
        .await
        .expect("start the consumer");
    println!("READY");
    std::io::stdout().flush().expect("flush");
    let mut progress = consumer.watch();
    // The consumer only stops on an error, which fails the test.
    while progress.changed().await.is_ok() {
        if !progress.borrow().running {
            break;
        }
    }
    panic!("the consumer stopped: {:?}", *progress.borrow());
}
