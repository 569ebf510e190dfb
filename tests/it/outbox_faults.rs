//! 100,000 events relayed to a NATS server of the test's own while the relay process is
//! SIGKILLed 20 times and the server restarted 3 times, then a part published again after
//! the stream's duplicate window: the consumer applies every message exactly once, in the
//! order of its key's events.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsmith::SqliteStore;
use eventsmith::event::NewEvent;
use eventsmith::outbox::{Consumer, NatsTransport};
use eventsmith::prelude::*;
use eventsmith::store::{Append, ExpectedVersion};

use crate::support::harness::random_moment;
use crate::support::outbox_received::{RECEIVED_TABLE, Received};

const EVENTS: usize = 100_000;
const STREAMS: usize = 1_000;
const KILLS: usize = 20;
/// After these kills the server is restarted.
const RESTARTS: [usize; 3] = [4, 9, 14];
/// Events published again once the duplicate window has passed.
const AGAIN: u64 = 5_000;
const WINDOW: Duration = Duration::from_secs(2);
const CHECKPOINT: &str = "outbox:it.orders.public";

/// A NATS server with JetStream on a port and directory of the test's own, so stopping it
/// touches no other test.
struct NatsServer {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts one, or `None` (after saying so) when no `nats-server` is installed.
    fn start(test: &str) -> Option<Self> {
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/local/bin/nats-server",
            "/usr/bin/nats-server",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
        let Some(binary) = binary else {
            assert!(
                std::env::var("EVENTSMITH_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{test}: nats-server is required (EVENTSMITH_REQUIRE_SERVICES=1) but not installed"
            );
            eprintln!("SKIPPED {test}: no nats-server installed");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            binary,
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.spawn();
        Some(server)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let up = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < up, "nats-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_relay(path: &Path, url: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventsmith-crash-relay"))
        .arg(path)
        .args([url, "f."])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the relay process");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("piped stdout")),
        &mut ready,
    )
    .expect("read the relay's first line");
    assert_eq!(ready.trim(), "READY");
    child
}

fn kill(mut child: Child) {
    child.kill().expect("SIGKILL the relay");
    child.wait().expect("reap the relay");
}

/// Runs the relay until it has published up to `head`.
async fn relay_to(path: &Path, url: &str, store: &SqliteStore, head: u64) {
    let child = start_relay(path, url);
    let give_up = Instant::now() + Duration::from_secs(300);
    while store
        .load_checkpoint(CHECKPOINT)
        .await
        .unwrap()
        .unwrap_or(0)
        < head
    {
        assert!(Instant::now() < give_up, "the relay did not reach {head}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(child);
}

/// Appends `count` shipments of one parcel, 100 to an append, from shipment `from` on,
/// spread over the orders.
pub(crate) async fn append_shipments(store: &SqliteStore, from: usize, count: usize) {
    for batch in (from..from + count).step_by(100) {
        let order = format!("f{}", (batch / 100) % STREAMS);
        let events = (0..100)
            .map(|_| {
                let body = serde_json::json!({ "order": order, "parcels": 1 });
                NewEvent::new(
                    "it.outbox.order_shipped",
                    1,
                    serde_json::to_vec(&body).unwrap(),
                    Arc::default(),
                )
            })
            .collect();
        store
            .append(Append::new(
                &format!("OutboxOrder-{order}"),
                ExpectedVersion::Any,
                events,
            ))
            .await
            .unwrap();
    }
}

/// The read model holds a row for each of `events` messages, none twice.
pub(crate) fn each_message_once(db: &rusqlite::Connection, events: usize) {
    assert_eq!(
        count(db, "SELECT count(*) FROM received"),
        events,
        "none lost"
    );
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM (SELECT DISTINCT position FROM received)"
        ),
        events,
        "none repeated"
    );
}

pub(crate) fn count(db: &rusqlite::Connection, sql: &str) -> usize {
    let n: i64 = db.query_row(sql, [], |r| r.get(0)).unwrap();
    usize::try_from(n).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_twenty_times_and_three_broker_restarts_lose_and_repeat_nothing() {
    let test = "a_relay_killed_twenty_times_and_three_broker_restarts_lose_and_repeat_nothing";
    let Some(mut server) = NatsServer::start(test) else {
        return;
    };
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();

    // The orders service's log: 100 shipments of one parcel on each of 1,000 orders,
    // appended while the relay runs and dies.
    let orders_path = dir.path().join("orders.db");
    let orders = SqliteStore::open(&orders_path).unwrap();

    let nats = NatsTransport::connect(&url)
        .await
        .unwrap()
        .subject_prefix("f.");
    nats.ensure_stream("FAULTS", &[">"], WINDOW).await.unwrap();

    // The consuming service, running throughout.
    let shipping_path = dir.path().join("shipping.db");
    let shipping = SqliteStore::open(&shipping_path).unwrap();
    let db = rusqlite::Connection::open(&shipping_path).unwrap();
    db.execute_batch(RECEIVED_TABLE).unwrap();
    let subscription = nats
        .subscribe("FAULTS", "shipping", "orders.>", Duration::from_secs(5))
        .await
        .unwrap()
        .wait(Duration::from_millis(200));
    let consumer = Consumer::new(shipping, Received, subscription)
        .batch_size(256)
        .start()
        .await
        .unwrap();

    let started = Instant::now();
    let mut seed = 0x1234_5678_9abc_def1_u64;
    let mut mid_flight = 0;
    for kill_number in 0..KILLS {
        let child = start_relay(&orders_path, &url);
        tokio::time::sleep(random_moment(&mut seed, 50, 200)).await;
        append_shipments(&orders, kill_number * EVENTS / KILLS, EVENTS / KILLS).await;
        tokio::time::sleep(random_moment(&mut seed, 0, 40)).await;
        kill(child);
        let at = orders
            .load_checkpoint(CHECKPOINT)
            .await
            .unwrap()
            .unwrap_or(0);
        mid_flight += usize::from(at < orders.current_head().await.unwrap());
        if RESTARTS.contains(&kill_number) {
            server.stop();
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.spawn();
        }
    }
    let head = orders.current_head().await.unwrap();
    relay_to(&orders_path, &url, &orders, head).await;
    let relayed = started.elapsed();

    // Past the window, the last 5,000 again: the stream keeps the copies.
    tokio::time::sleep(WINDOW + Duration::from_millis(500)).await;
    orders
        .save_checkpoint(CHECKPOINT, head - AGAIN)
        .await
        .unwrap();
    relay_to(&orders_path, &url, &orders, head).await;

    let give_up = Instant::now() + Duration::from_secs(300);
    loop {
        let progress = consumer.progress();
        if progress.handled as usize >= EVENTS && progress.duplicates >= AGAIN {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "{progress:?}, {} rows",
            count(&db, "SELECT count(*) FROM received")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A repeat would have had time to arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let progress = consumer.progress();
    consumer.stop().await.unwrap();

    each_message_once(&db, EVENTS);
    // In the order handled, each order's positions only grow.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM received a JOIN received b
                 ON a.order_id = b.order_id AND a.rowid < b.rowid AND a.position > b.position"
        ),
        0,
        "per-key order kept"
    );
    assert_eq!(progress.handled as usize, EVENTS);
    assert_eq!(progress.parked, 0);
    assert!(mid_flight > 0, "a kill left events to publish");
    eprintln!(
        "{EVENTS} events relayed through {KILLS} kills ({mid_flight} with events left to \
         publish) and {} server restarts in {relayed:?}; the consumer saw {} duplicates",
        RESTARTS.len(),
        progress.duplicates
    );
}
