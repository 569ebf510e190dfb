//! 20,000 messages consumed from Redis Streams by a consumer group while one member, a
//! process of its own, is SIGKILLed 10 times mid-batch: the entries it read and did not
//! acknowledge are claimed by the other member and every message is applied exactly once.
//! The same with members that send a command per message, one of them dying between a
//! command's append and the acknowledgement: every command's effect once.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventsmith::outbox::{Consumer, RedisTransport, Relay};
use eventsmith::prelude::*;
use eventsmith::{App, SqliteStore, Uuid};

use crate::outbox_faults::{append_shipments, count, each_message_once};
use crate::outbox_relay::domain::OrdersContract;
use crate::services::{redis_transport, redis_url};
use crate::support::harness::random_moment;
use crate::support::outbox_received::{RECEIVED_TABLE, Received};
use crate::support::outbox_tally::{Counted, Tallying};

const EVENTS: usize = 20_000;
const KILLS: usize = 10;

/// Starts the member `doomed` of the group, a process of its own; `mode` is empty for the
/// read model, `commands` for the member that sends commands.
fn start_member(path: &Path, key: &str, mode: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventsmith-crash-consumer"))
        .arg(path)
        .args([&redis_url(), key, "doomed", mode])
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

/// A connection to Redis, and `events` shipments of the orders service in a file in `dir`
/// published to the stream at `key`.
async fn published(
    transport: &RedisTransport,
    dir: &Path,
    events: usize,
) -> redis::aio::MultiplexedConnection {
    let redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let orders = SqliteStore::open(dir.join("orders.db")).unwrap();
    append_shipments(&orders, 0, events).await;
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
    redis
}

/// Kills a member started by `start` at a random moment `kills` times; answers how many
/// kills left entries unacknowledged.
async fn kill_members(
    redis: &mut redis::aio::MultiplexedConnection,
    key: &str,
    kills: usize,
    start: impl Fn() -> Child,
) -> usize {
    let mut seed = 0x0bad_cafe_f00d_5eed_u64;
    let mut mid_batch = 0;
    for _ in 0..kills {
        let mut child = start();
        tokio::time::sleep(random_moment(&mut seed, 100, 400)).await;
        child.kill().expect("SIGKILL the member");
        child.wait().expect("reap the member");
        mid_batch += usize::from(pending(redis, key, "doomed").await > 0);
    }
    mid_batch
}

async fn delete(redis: &mut redis::aio::MultiplexedConnection, key: &str) {
    redis::cmd("DEL")
        .arg(key)
        .query_async::<()>(redis)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_mid_batch_ten_times_has_its_entries_claimed_and_applied_once() {
    let test = "a_member_killed_mid_batch_ten_times_has_its_entries_claimed_and_applied_once";
    let key = format!("it:faults:{}", Uuid::now_v7().simple());
    let Some(transport) = redis_transport(test, &key).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut redis = published(&transport, dir.path(), EVENTS).await;

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

    let mid_batch = kill_members(&mut redis, &key, KILLS, || start_member(&path, &key, "")).await;

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
    delete(&mut redis, &key).await;
}

/// The positions every `Counted` event in `store` records, in the order appended.
async fn counted(store: &SqliteStore) -> Vec<u64> {
    let (mut positions, mut from) = (Vec::new(), 1);
    loop {
        let page = store.read_all(from, 1_000).await.unwrap();
        for event in &page.events {
            if &*event.event_type == "it.tally.counted" {
                let counted: Counted = serde_json::from_slice(&event.payload).unwrap();
                positions.push(counted.position);
            }
        }
        if page.events.is_empty() {
            return positions;
        }
        from = page.scanned_to + 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sending_commands_killed_mid_batch_has_each_command_once() {
    const COMMANDS: usize = 3_000;
    let test = "a_member_sending_commands_killed_mid_batch_has_each_command_once";
    let key = format!("it:faults:{}", Uuid::now_v7().simple());
    let Some(transport) = redis_transport(test, &key).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut redis = published(&transport, dir.path(), COMMANDS).await;

    // First a member that dies between a command's append and the acknowledgement of its
    // message: the survivor takes the message over and finds the command recorded.
    let path = dir.path().join("shipping.db");
    let shipping = SqliteStore::open(&path).unwrap();
    let mut aborting = start_member(&path, &key, "commands-abort");
    let give_up = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = aborting.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > give_up {
            aborting.kill().unwrap();
            panic!("the member did not abort at its 20th acknowledgement");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!status.success(), "the member aborted itself: {status}");

    // The member that lives, with an App of its own on its own handle of the file.
    let subscription = transport
        .subscribe("shipping", "alive", "orders.>", Duration::from_millis(500))
        .await
        .unwrap()
        .wait(Duration::from_millis(100));
    let alive = Consumer::new(App::new(shipping.clone()).unwrap(), Tallying, subscription)
        .batch_size(64)
        .start()
        .await
        .unwrap();
    // It takes over what the aborted member held, the message whose command was done first.
    while alive.progress().duplicates == 0 {
        assert!(Instant::now() < give_up, "{:?}", alive.progress());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mid_batch = kill_members(&mut redis, &key, KILLS, || {
        start_member(&path, &key, "commands")
    })
    .await;

    let give_up = Instant::now() + Duration::from_secs(180);
    while counted(&shipping).await.len() < COMMANDS || pending(&mut redis, &key, "doomed").await > 0
    {
        assert!(Instant::now() < give_up, "{:?}", alive.progress());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A repeat would have had time to arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let progress = alive.progress();
    alive.stop().await.unwrap();
    let mut positions = counted(&shipping).await;
    assert_eq!(positions.len(), COMMANDS, "none lost, none repeated");
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), COMMANDS, "each message's command once");
    assert_eq!(progress.parked, 0, "{progress:?}");
    assert!(mid_batch > 0, "a kill left entries unacknowledged");
    eprintln!(
        "{COMMANDS} messages sent as commands; the member was killed {KILLS} times, {mid_batch} \
         of them holding entries, and aborted once; the survivor handled {} and recognised {} \
         the dead one had sent",
        progress.handled, progress.duplicates
    );
    delete(&mut redis, &key).await;
}
