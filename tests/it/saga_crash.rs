//! A saga's process is SIGKILLed at random moments on one SQLite file: the fulfilment saga
//! while 1,000 orders are in flight, their payments approved, declined or left to time out,
//! and the reminders saga while 10,000 deadlines are pending, some due during the kills and
//! some cancelled. After the last restart every order ends exactly once, each command's
//! effect is there once, every deadline fires once or is cancelled, and the overdue ones fire.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventsmith::store::{EventLog as _, SagaStore};
use eventsmith::{App, EventStore, SqliteStore};

use crate::sagas::domain::{
    AddStock, Inventory, Order, PAYMENT_TIMEOUT, Payment, PlaceOrder, SettlePayment,
};
use crate::support::harness::random_moment;

#[path = "../support/reminders.rs"]
mod reminders;

use reminders::{CancelLateReminders, LATE, PlanReminders, SOON};

const ORDERS: usize = 1_000;
const KILLS: usize = 20;

/// Starts the saga process with `args` (the store's file, then which saga) and waits for its
/// `READY`.
fn start_saga(args: &[&str]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventsmith-crash-saga"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the saga process");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut ready)
        .expect("read the saga process's first line");
    assert_eq!(ready.trim(), "READY");
    child
}

fn kill(mut child: Child) {
    child.kill().expect("SIGKILL the saga process");
    child.wait().expect("reap the saga process");
}

/// What an order is meant to meet: the provider approves it, declines it, or never answers.
fn fate(i: usize) -> Option<bool> {
    match i % 3 {
        0 => Some(true),
        1 => Some(false),
        _ => None,
    }
}

fn order_id(i: usize) -> String {
    format!("crash-{i}")
}

/// Settles the pending payments of the orders whose provider answers; answers how many are
/// still to settle.
async fn settle_pending<S: EventStore>(app: &App<S>, settled: &mut [bool]) -> usize {
    for (i, done) in settled.iter_mut().enumerate() {
        let Some(approved) = fate(i).filter(|_| !*done) else {
            continue;
        };
        let order = order_id(i);
        let (payment, _) = app.load::<Payment>(&order).await.unwrap();
        if payment.pending {
            // The key makes a settlement sent twice (by a retry) count once.
            app.execute(SettlePayment { order, approved }).await.ok();
            *done = true;
        }
    }
    settled
        .iter()
        .enumerate()
        .filter(|(i, done)| fate(*i).is_some() && !**done)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saga_killed_twenty_times_ends_every_order_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saga-crash.db");
    let path_text = path.to_str().unwrap().to_owned();
    let store = SqliteStore::open(&path).unwrap();
    let app = App::new(store.clone()).unwrap();
    app.execute(AddStock {
        item: "lamp".into(),
        quantity: 10 * ORDERS as u32,
    })
    .await
    .unwrap();
    for i in 0..ORDERS {
        app.execute(PlaceOrder {
            order: order_id(i),
            item: "lamp".into(),
            quantity: 1 + (i % 3) as u32,
            amount: 100,
        })
        .await
        .unwrap();
    }

    let mut settled = vec![false; ORDERS];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..KILLS {
        let child = start_saga(&[&path_text]);
        tokio::time::sleep(random_moment(&mut seed, 50, 400)).await;
        kill(child);
        settle_pending(&app, &mut settled).await;
    }

    // The last run: it finishes the orders; the unanswered ones end by their deadlines.
    let child = start_saga(&[&path_text]);
    let started = Instant::now();
    let give_up = started + Duration::from_secs(240);
    loop {
        let left = settle_pending(&app, &mut settled).await;
        let mut open = 0;
        for i in 0..ORDERS {
            let (order, _) = app.load::<Order>(&order_id(i)).await.unwrap();
            open += usize::from(!order.shipped && !order.cancelled);
        }
        if open == 0 && left == 0 {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "{open} orders still open, {left} payments unsettled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "every order ended {:?} after the last restart (payment timeout {PAYMENT_TIMEOUT:?})",
        started.elapsed()
    );
    // Nothing left to send or to fire.
    let saga = "shop.fulfilment";
    let drained = Instant::now() + Duration::from_secs(30);
    while !store.pending_commands(saga, 1).await.unwrap().is_empty() {
        assert!(Instant::now() < drained, "commands still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(child);

    // Each order: one placement, one reservation, one payment request, one end; a
    // cancelled order's stock released once, before the cancellation.
    let mut events = BTreeMap::<String, Vec<String>>::new();
    for event in store.read_all(1, usize::MAX).await.unwrap().events {
        let body: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
        if let Some(order) = body.get("order").and_then(|o| o.as_str()) {
            events
                .entry(order.to_owned())
                .or_default()
                .push(event.event_type.to_string());
        }
    }
    let (mut shipped, mut reserved) = (0, 0);
    for i in 0..ORDERS {
        let order = order_id(i);
        let names = &events[&order];
        let count = |name: &str| names.iter().filter(|n| *n == name).count();
        assert_eq!(count("shop.order_placed"), 1, "{order}: {names:?}");
        assert_eq!(count("shop.stock_reserved"), 1, "{order}: {names:?}");
        assert_eq!(count("shop.payment_requested"), 1, "{order}: {names:?}");
        let ended = (count("shop.order_shipped"), count("shop.order_cancelled"));
        assert!(
            ended == (1, 0) || ended == (0, 1),
            "{order} ends once: {names:?}"
        );
        if ended == (1, 0) {
            assert_eq!(count("shop.stock_released"), 0, "{order}: {names:?}");
            assert_eq!(
                fate(i),
                Some(true),
                "{order} shipped without approval: {names:?}"
            );
            shipped += 1;
            reserved += 1 + i % 3;
        } else {
            assert_eq!(count("shop.stock_released"), 1, "{order}: {names:?}");
            let released = names.iter().position(|n| n == "shop.stock_released");
            let cancelled = names.iter().position(|n| n == "shop.order_cancelled");
            assert!(released < cancelled, "{order} undone in reverse: {names:?}");
        }
    }
    let (lamps, _) = app.load::<Inventory>("lamp").await.unwrap();
    assert_eq!(
        lamps.reserved as usize, reserved,
        "only shipped orders keep stock"
    );
    assert_eq!(
        (lamps.available + lamps.reserved) as usize,
        10 * ORDERS,
        "no stock lost or made"
    );
    assert!(shipped > 0, "some approvals came before their deadlines");
    assert_eq!(store.next_deadline(saga).await.unwrap(), None);
}

const PLANS: u32 = 1_000;

/// The reminders recorded so far: `(plan, index, late)`, repeats included.
async fn reminded(store: &SqliteStore) -> Vec<(String, u32, bool)> {
    let mut found = Vec::new();
    for event in store.read_all(1, usize::MAX).await.unwrap().events {
        if &*event.event_type == "crash.reminded" {
            let body: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
            found.push((
                body["plan"].as_str().unwrap().to_owned(),
                u32::try_from(body["index"].as_u64().unwrap()).unwrap(),
                body["late"].as_bool().unwrap(),
            ));
        }
    }
    found
}

/// The deadlines of the reminders saga not yet fired or cancelled.
async fn pending_deadlines(store: &SqliteStore) -> usize {
    let far = eventsmith::event::Timestamp::now().after(Duration::from_secs(7_200));
    let limit = (PLANS * (SOON + LATE)) as usize + 1;
    store
        .due_deadlines(SAGA_REMINDERS, far, limit)
        .await
        .unwrap()
        .len()
}

const SAGA_REMINDERS: &str = "crash.reminders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_deadlines_fire_once_or_are_cancelled_across_twenty_kills() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deadline-crash.db");
    let path_text = path.to_str().unwrap().to_owned();
    let args = [path_text.as_str(), "reminders"];
    let store = SqliteStore::open(&path).unwrap();
    let app = App::new(store.clone()).unwrap();
    for number in 0..PLANS {
        app.execute(PlanReminders {
            plan: format!("plan-{number}"),
            number,
        })
        .await
        .unwrap();
    }
    let planned = store.current_head().await.unwrap();

    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let (mut peak, mut cancelled) = (0, false);
    for _ in 0..KILLS {
        let child = start_saga(&args);
        tokio::time::sleep(random_moment(&mut seed, 50, 400)).await;
        kill(child);
        peak = peak.max(pending_deadlines(&store).await);
        // Once every plan has set its deadlines, the late ones are called off.
        if !cancelled && store.saga_position(SAGA_REMINDERS).await.unwrap() >= planned {
            for number in 0..PLANS {
                app.execute(CancelLateReminders {
                    plan: format!("plan-{number}"),
                })
                .await
                .unwrap();
            }
            cancelled = true;
        }
    }
    assert!(cancelled, "the saga handled every plan within {KILLS} runs");
    // Down for a while: deadlines fall due with no process to fire them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pending = pending_deadlines(&store).await;
    let restart = eventsmith::event::Timestamp::now();
    let overdue = store.due_deadlines(SAGA_REMINDERS, restart, usize::MAX);
    let overdue = overdue.await.unwrap().len();

    let child = start_saga(&args);
    let started = Instant::now();
    let give_up = started + Duration::from_secs(120);
    // The deadlines overdue at the restart fire first.
    while !store
        .due_deadlines(SAGA_REMINDERS, restart, 1)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < give_up, "overdue deadlines still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let caught_up = started.elapsed();
    let expected = (PLANS * SOON) as usize;
    while reminded(&store).await.len() < expected || pending_deadlines(&store).await > 0 {
        assert!(
            Instant::now() < give_up,
            "{} of {expected} reminders, {} deadlines pending",
            reminded(&store).await.len(),
            pending_deadlines(&store).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{peak} deadlines pending at most; of {pending} pending after the last kill, the \
         {overdue} overdue fired within {caught_up:?} of the restart, all within {:?}",
        started.elapsed()
    );
    let drained = Instant::now() + Duration::from_secs(30);
    while !store
        .pending_commands(SAGA_REMINDERS, 1)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < drained, "commands still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A repeat would have had time to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill(child);

    let mut fired = reminded(&store).await;
    assert!(
        fired.iter().all(|(_, _, late)| !late),
        "a cancelled reminder fired"
    );
    fired.sort();
    let mut want: Vec<_> = (0..PLANS)
        .flat_map(|number| (0..SOON).map(move |index| (format!("plan-{number}"), index, false)))
        .collect();
    want.sort();
    assert_eq!(fired.len(), want.len(), "every soon reminder once");
    assert!(fired == want, "every soon reminder once, none repeated");
    assert_eq!(store.next_deadline(SAGA_REMINDERS).await.unwrap(), None);
    assert!(
        peak >= (PLANS * LATE) as usize,
        "the late deadlines were all pending before they were cancelled"
    );
}
