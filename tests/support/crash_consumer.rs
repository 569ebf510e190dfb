//! Test support for the Redis fault tests: one member of the consumer group `shipping` of a
//! Redis stream, applying the parcel messages to a SQLite read model (or, with `commands`,
//! sending a command per message to the aggregates in the file) until killed, printing
//! `READY` once started. With `commands-abort`, it sends commands and aborts itself at its
//! 20th acknowledgement, after the message's command is appended and before the broker hears
//! of it.
//!
//! `eventsmith-crash-consumer <file> <redis url> <stream key> <member> [commands|commands-abort]`

#[path = "outbox_orders.rs"]
#[allow(dead_code, reason = "the consumer needs the message types only")]
mod outbox_orders;
#[path = "outbox_received.rs"]
#[allow(dead_code, reason = "the table is the test's to create")]
mod outbox_received;
#[path = "outbox_tally.rs"]
mod outbox_tally;

use std::io::Write as _;
use std::time::Duration;

use eventsmith::outbox::{
    Consumer, Delivery, Fetched, RedisTransport, RunningConsumer, Subscription, TransportError,
};
use eventsmith::{App, SqliteStore};

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
    let mode = args.next().unwrap_or_default();
    let store = SqliteStore::open(&path).expect("open the read model");
    let redis = RedisTransport::connect(&url, key)
        .await
        .expect("the Redis url");
    let subscription = redis
        .subscribe("shipping", &member, "orders.>", Duration::from_millis(500))
        .await
        .expect("join the group")
        .wait(Duration::from_millis(100));
    let subscription = AbortAtAck {
        inner: subscription,
        left: (mode == "commands-abort").then_some(20),
    };
    let consumer: RunningConsumer = if mode.starts_with("commands") {
        let app = App::new(store).expect("the application");
        Consumer::new(app, outbox_tally::Tallying, subscription)
            .batch_size(64)
            .start()
            .await
    } else {
        Consumer::new(store, outbox_received::Received, subscription)
            .batch_size(64)
            .start()
            .await
    }
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

/// A subscription that aborts the process at its `left`-th acknowledgement, before the broker
/// hears it: the message's effect is there and the broker still holds the message.
struct AbortAtAck<S> {
    inner: S,
    left: Option<u32>,
}

impl<S: Subscription> Subscription for AbortAtAck<S> {
    const NAME: &'static str = S::NAME;
    type Ack = S::Ack;

    async fn receive(&mut self, max: usize) -> Result<Vec<Delivery<S::Ack>>, TransportError> {
        self.inner.receive(max).await
    }

    async fn ack(&mut self, ack: S::Ack) -> Result<(), TransportError> {
        if let Some(left) = &mut self.left {
            *left -= 1;
            if *left == 0 {
                std::process::abort();
            }
        }
        self.inner.ack(ack).await
    }

    async fn retry_later(&mut self, ack: S::Ack, delay: Duration) -> Result<(), TransportError> {
        self.inner.retry_later(ack, delay).await
    }

    async fn fetch(&mut self, sequence: u64) -> Result<Option<Fetched>, TransportError> {
        self.inner.fetch(sequence).await
    }

    async fn give_up(&mut self, ack: S::Ack) -> Result<(), TransportError> {
        self.inner.give_up(ack).await
    }

    async fn close(&mut self) {
        self.inner.close().await;
    }
}
