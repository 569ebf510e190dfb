//! 20,000 messages consumed from Redis Streams by a consumer group while one member, a
//! process of its own, is SIGKILLed 10 times mid-batch: the entries it read and did not
//! acknowledge are claimed by the other member and every message is applied exactly once.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventsmith::outbox::{Consumer, Relay};
use eventsmith::prelude::*;
use eventsmith::{SqliteStore, Uuid};

use crate::outbox_faults::{append_shipments, count, each_message_once};
use crate::outbox_relay::domain::OrdersContract;
use crate::services::{redis_transport, redis_url};
use crate::support::harness::random_moment;
use crate::support::outbox_received::{RECEIVED_TABLE, Received};

const EVENTS: usize = 20_000;
const KILLS: usize = 10;

fn start_member(path: &Path, key: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventsmith-crash-consumer"))
        .arg(path)
        .args([&redis_url(), key, "doomed"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the consumer process");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("piped stdout")),
        &mut ready,
    )
    .expect("read the consumer's first line");
    assert_eq!(ready.trim(), "READY");
    child
}

/// How many entries `member` of the group `shipping` holds unacknowledged.
async fn pending(redis: &mut redis::aio::MultiplexedConnection, key: &str, member: &str) -> usize {
    let rows: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(key)
        .arg("shipping")
        .arg("-")
        .arg("+")
        .arg(1_000)
        .arg(member)
        .query_async(redis)
        .await
        .unwrap();
    rows.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_mid_batch_ten_times_has_its_entries_claimed_and_applied_once() {
    let test = "a_member_killed_mid_batch_ten_times_has_its_entries_claimed_and_applied_once";
    let key = format!("it:faults:{}", Uuid::now_v7().simple());
    let Some(transport) = redis_transport(test, &key).await else {
        return;
    };
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let orders = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    append_shipments(&orders, 0, EVENTS).await;
    let head = orders.current_head().await.unwrap();
    let relay = Relay::new(orders.clone(), OrdersContract, transport.clone())
        .batch_size(512)
        .start()
        .await
        .unwrap();
    relay
        .wait_for(head, Duration::from_secs(120))
        .await
        .unwrap();
    relay.stop().await.unwrap();

    let path = dir.path().join("shipping.db");
    let shipping = SqliteStore::open(&path).unwrap();
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(RECEIVED_TABLE).unwrap();
    // The member that lives: it takes over what the other held for half a second.
    let subscription = transport
        .subscribe("shipping", "alive", "orders.>", Duration::from_millis(500))
        .await
        .unwrap()
        .wait(Duration::from_millis(100));
    let alive = Consumer::new(shipping, Received, subscription)
        .batch_size(64)
        .start()
        .await
        .unwrap();

    let mut seed = 0x0bad_cafe_f00d_5eed_u64;
    let mut mid_batch = 0;
    for _ in 0..KILLS {
        let mut child = start_member(&path, &key);
        tokio::time::sleep(random_moment(&mut seed, 100, 400)).await;
        child.kill().expect("SIGKILL the member");
        child.wait().expect("reap the member");
        mid_batch += usize::from(pending(&mut redis, &key, "doomed").await > 0);
    }

    let give_up = Instant::now() + Duration::from_secs(180);
    while count(&db, "SELECT count(*) FROM received") < EVENTS
        || pending(&mut redis, &key, "doomed").await > 0
    {
        assert!(
            Instant::now() < give_up,
            "{:?}, {} rows",
            alive.progress(),
            count(&db, "SELECT count(*) FROM received")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A repeat would have had time to arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let progress = alive.progress();
    alive.stop().await.unwrap();
    each_message_once(&db, EVENTS);
    assert_eq!(progress.parked, 0, "{progress:?}");
    assert!(mid_batch > 0, "a kill left entries unacknowledged");
    eprintln!(
        "{EVENTS} messages; the member was killed {KILLS} times, {mid_batch} of them holding \
         entries; the survivor handled {} and recognised {} the dead one had applied",
        progress.handled, progress.duplicates
    );
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut redis)
        .await
        .unwrap();
}
