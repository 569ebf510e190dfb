//! The fulfilment saga of `examples/order_fulfilment` over real stores: a paid order ships,
//! a declined, refused or unanswered payment is compensated in reverse (stock released, then
//! the order cancelled) and missing stock cancels the order; deadlines fire by a driven clock,
//! also after a restart; two runners of one saga on one store send each command once.

#[path = "../../examples/order_fulfilment/domain.rs"]
#[allow(dead_code, reason = "the tests use part of the domain")]
pub(crate) mod domain;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use eventsmith::event::Timestamp;
use eventsmith::process::{ManualClock, RunningSaga, SagaRunner};
use eventsmith::store::SagaStore;
use eventsmith::{App, EventStore, InMemoryStore};

use domain::{
    AddStock, Fulfilment, Inventory, Order, PAYMENT_TIMEOUT, Payment, PlaceOrder, SettlePayment,
};

const WAIT: Duration = Duration::from_secs(20);

fn clock() -> ManualClock {
    ManualClock::at(Timestamp::from_micros(1_800_000_000_000_000))
}

async fn start<S: EventStore + SagaStore>(
    store: &S,
    app: &App<S>,
    clock: &ManualClock,
) -> RunningSaga<Fulfilment> {
    SagaRunner::<_, Fulfilment, _>::new(store.clone(), app.clone())
        .clock(clock.clone())
        .poll_interval(Duration::from_millis(20))
        .start()
        .await
        .unwrap()
}

/// Polls `check` until it holds, failing the test after [`WAIT`].
pub(crate) async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let give_up = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < give_up, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn place<S: EventStore>(app: &App<S>, order: &str, quantity: u32, amount: u64) {
    app.execute(PlaceOrder {
        order: order.into(),
        item: "lamp".into(),
        quantity,
        amount,
    })
    .await
    .unwrap();
}

async fn payment_requested<S: EventStore>(app: &App<S>, order: &str) {
    eventually(&format!("{order}'s payment requested"), || async {
        app.load::<Payment>(order)
            .await
            .is_ok_and(|(p, _)| p.pending)
    })
    .await;
}

async fn closed<S: EventStore>(app: &App<S>, order: &str) -> Order {
    eventually(&format!("{order} shipped or cancelled"), || async {
        app.load::<Order>(order)
            .await
            .is_ok_and(|(o, _)| o.shipped || o.cancelled)
    })
    .await;
    app.load::<Order>(order).await.unwrap().0
}

/// Every stored event of `order` (by its `order` field), in global order: `(name, position)`.
async fn events_of<S: EventStore>(store: &S, order: &str) -> Vec<(String, u64)> {
    store
        .read_all(1, usize::MAX)
        .await
        .unwrap()
        .events
        .into_iter()
        .filter(|e| {
            let body: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
            body.get("order").and_then(|o| o.as_str()) == Some(order)
        })
        .map(|e| (e.event_type.to_string(), e.global_position))
        .collect()
}

fn names(events: &[(String, u64)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

async fn stock<S: EventStore>(app: &App<S>, quantity: u32) {
    app.execute(AddStock {
        item: "lamp".into(),
        quantity,
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_ships_and_a_declined_one_is_undone_in_reverse() {
    let store = InMemoryStore::new();
    let app = App::new(store.clone()).unwrap();
    let clock = clock();
    let running = start(&store, &app, &clock).await;
    stock(&app, 5).await;
    place(&app, "paid", 2, 100).await;
    place(&app, "declined", 1, 100).await;
    payment_requested(&app, "paid").await;
    payment_requested(&app, "declined").await;
    for (order, approved) in [("paid", true), ("declined", false)] {
        let order = order.into();
        app.execute(SettlePayment { order, approved })
            .await
            .unwrap();
    }
    assert!(closed(&app, "paid").await.shipped);
    assert!(closed(&app, "declined").await.cancelled);
    let (lamps, _) = app.load::<Inventory>("lamp").await.unwrap();
    assert_eq!((lamps.available, lamps.reserved), (3, 2));

    assert_eq!(
        names(&events_of(&store, "paid").await),
        [
            "shop.order_placed",
            "shop.stock_reserved",
            "shop.payment_requested",
            "shop.payment_succeeded",
            "shop.order_shipped"
        ]
    );
    assert_eq!(
        names(&events_of(&store, "declined").await),
        [
            "shop.order_placed",
            "shop.stock_reserved",
            "shop.payment_requested",
            "shop.payment_failed",
            "shop.stock_released",
            "shop.order_cancelled"
        ],
        "undone in reverse, each step once"
    );
    eventually("both instances ended", || async {
        running.progress().ended == 2
    })
    .await;
    let progress = running.progress();
    assert_eq!((progress.started, progress.fired), (2, 0));
    assert!(
        store
            .pending_commands("shop.fulfilment", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.next_deadline("shop.fulfilment").await.unwrap(),
        None,
        "the settled payments cancelled their timeouts"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_payment_times_out_by_the_clock() {
    let store = InMemoryStore::new();
    let app = App::new(store.clone()).unwrap();
    let clock = clock();
    let running = start(&store, &app, &clock).await;
    stock(&app, 1).await;
    place(&app, "silent", 1, 100).await;
    payment_requested(&app, "silent").await;
    clock.advance(PAYMENT_TIMEOUT / 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !app.load::<Order>("silent").await.unwrap().0.cancelled,
        "not before the deadline"
    );
    clock.advance(PAYMENT_TIMEOUT);
    assert!(closed(&app, "silent").await.cancelled);
    assert_eq!(
        names(&events_of(&store, "silent").await)[3..],
        ["shop.stock_released", "shop.order_cancelled"]
    );
    eventually("the deadline counted", || async {
        running.progress().fired == 1
    })
    .await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_commands_go_back_to_the_saga_to_compensate() {
    let store = InMemoryStore::new();
    let app = App::new(store.clone()).unwrap();
    let clock = clock();
    let running = start(&store, &app, &clock).await;
    stock(&app, 3).await;
    place(&app, "too-dear", 1, 50_000).await;
    place(&app, "too-many", 9, 100).await;
    assert!(closed(&app, "too-dear").await.cancelled);
    assert!(closed(&app, "too-many").await.cancelled);
    assert_eq!(
        names(&events_of(&store, "too-dear").await),
        [
            "shop.order_placed",
            "shop.stock_reserved",
            "shop.stock_released",
            "shop.order_cancelled"
        ],
        "the refused payment releases the stock, then cancels"
    );
    assert_eq!(
        names(&events_of(&store, "too-many").await),
        ["shop.order_placed", "shop.order_cancelled"],
        "nothing reserved, nothing to release"
    );
    let (lamps, _) = app.load::<Inventory>("lamp").await.unwrap();
    assert_eq!((lamps.available, lamps.reserved), (3, 0));
    eventually("two rejections counted", || async {
        running.progress().rejected == 2
    })
    .await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_runner_resumes_and_fires_overdue_deadlines_at_once() {
    let store = InMemoryStore::new();
    let app = App::new(store.clone()).unwrap();
    let clock = clock();
    let first = start(&store, &app, &clock).await;
    stock(&app, 2).await;
    place(&app, "before", 1, 100).await;
    payment_requested(&app, "before").await;
    first.stop().await.unwrap();

    // While no runner runs: an order is placed and the first one's deadline passes.
    place(&app, "while-down", 1, 100).await;
    clock.advance(PAYMENT_TIMEOUT * 2);

    let second = start(&store, &app, &clock).await;
    assert!(
        closed(&app, "before").await.cancelled,
        "the overdue deadline fired"
    );
    payment_requested(&app, "while-down").await;
    app.execute(SettlePayment {
        order: "while-down".into(),
        approved: true,
    })
    .await
    .unwrap();
    assert!(closed(&app, "while-down").await.shipped);
    second.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_of_one_saga_send_each_command_once() {
    let store = InMemoryStore::new();
    let clock = clock();
    let (app_a, app_b) = (
        App::new(store.clone()).unwrap(),
        App::new(store.clone()).unwrap(),
    );
    let a = start(&store, &app_a, &clock).await;
    let b = start(&store, &app_b, &clock).await;
    stock(&app_a, 100).await;
    let orders: Vec<String> = (0..20).map(|i| format!("o-{i}")).collect();
    for (i, order) in orders.iter().enumerate() {
        let app = if i % 2 == 0 { &app_a } else { &app_b };
        place(app, order, 1, 100).await;
    }
    for order in &orders {
        payment_requested(&app_a, order).await;
        app_b
            .execute(SettlePayment {
                order: order.clone(),
                approved: true,
            })
            .await
            .unwrap();
    }
    let mut counts = BTreeMap::<String, usize>::new();
    for order in &orders {
        assert!(closed(&app_a, order).await.shipped);
        for (name, _) in events_of(&store, order).await {
            *counts.entry(name).or_default() += 1;
        }
    }
    for name in [
        "shop.order_placed",
        "shop.stock_reserved",
        "shop.payment_requested",
        "shop.order_shipped",
    ] {
        assert_eq!(counts[name], orders.len(), "{name} once per order");
    }
    let (lamps, _) = app_a.load::<Inventory>("lamp").await.unwrap();
    assert_eq!(lamps.reserved, 20);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// The same paths with no store and no runner, step by step.
#[test]
fn the_saga_decides_step_by_step_in_a_saga_test() {
    use domain::{
        CancelOrder, OrderCancelled, OrderPlaced, PaymentError, PaymentFailed, PaymentTimeout,
        ReleaseStock, RequestPayment, ReserveStock, StockReserved,
    };
    use eventsmith::testing::SagaTest;

    let placed = |order: &str, amount| OrderPlaced {
        order: order.into(),
        item: "lamp".into(),
        quantity: 2,
        amount,
    };
    let reserved = |order: &str| StockReserved {
        order: order.into(),
        quantity: 2,
    };
    SagaTest::<Fulfilment>::new()
        .given(placed("o-1", 100))
        .expect_sent(|c: ReserveStock| assert_eq!((c.item.as_str(), c.quantity), ("lamp", 2)))
        .given(reserved("o-1"))
        .expect_sent(|c: RequestPayment| assert_eq!(c.amount, 100))
        .expect_scheduled::<PaymentTimeout>(PAYMENT_TIMEOUT)
        .then_state("o-1", |saga| assert!(saga.reserved))
        .elapse(PAYMENT_TIMEOUT + Duration::from_millis(1))
        .expect_sent(|c: ReleaseStock| assert_eq!(c.order, "o-1"))
        .expect_sent(|c: CancelOrder| assert!(c.reason.contains("did not answer")))
        .expect_nothing_sent()
        // The provider's decline comes after the deadline fired: nothing is undone twice.
        .given(PaymentFailed {
            order: "o-1".into(),
            reason: "declined".into(),
        })
        .expect_nothing_sent()
        .given(OrderCancelled {
            order: "o-1".into(),
            reason: "timed out".into(),
        })
        .expect_ended();

    SagaTest::<Fulfilment>::new()
        .given(placed("o-2", 50_000))
        .expect_sent(|_: ReserveStock| {})
        .given(reserved("o-2"))
        .expect_sent(|_: RequestPayment| {})
        .reject::<RequestPayment>(PaymentError::OverLimit { amount: 50_000 })
        .expect_no_deadline::<PaymentTimeout>()
        .expect_sent(|c: ReleaseStock| assert_eq!(c.quantity, 2))
        .expect_sent(|c: CancelOrder| assert!(c.reason.contains("over the limit")))
        .expect_nothing_sent();
}
