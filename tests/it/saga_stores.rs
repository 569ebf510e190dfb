//! Sagas over real stores (a SQLite file, PostgreSQL): events stored by "older releases" at
//! older versions, and under an older name, drive a saga through their upcasters; an event of
//! a name the saga routes that does not decode (a newer version, a malformed payload, an
//! upcaster's refusal) stops the runner with a typed error saying what and where, losing and
//! sending nothing for it, and a park policy keeps it as a dead letter and goes on; two
//! runners on two handles of one store carry 200 orders of the fulfilment saga to their ends,
//! each command's effect once, and hand each of 200 rejected commands back to the saga once.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsmith::event::{Metadata, NewEvent, Timestamp};
use eventsmith::process::{
    ManualClock, RunningSaga, SagaError, SagaProgress, SagaRunner, SagaState,
};
use eventsmith::projection::{ErrorPolicy, OnFailure};
use eventsmith::store::{Append, AppendOutcome, ExpectedVersion, SagaStore};
use eventsmith::upcast::{UpcastError, Value, object_mut, rename_field, take_field};
use eventsmith::{App, Command, Event, EventStore, RecordedEvent, SqliteStore, aggregate, saga};
use serde::{Deserialize, Serialize};

use crate::sagas::domain::{
    AddStock, Fulfilment, Inventory, Order, PAYMENT_LIMIT, PAYMENT_TIMEOUT, Payment, PlaceOrder,
    SettlePayment,
};
use crate::sagas::eventually;
use crate::services;

// A trip domain of this module: bookings charged at a till, stored by three releases.

/// Version 1 stored `{trip, price}` in whole euros; version 2 `{trip, cents}`; version 3
/// adds the currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "saga_stores.trip_booked", version = 3)]
#[upcast(from = 1, json = booked_v1_to_v2)]
#[upcast(from = 2, typed = TripBookedV2)]
struct TripBooked {
    trip: String,
    cents: u64,
    currency: String,
}

fn booked_v1_to_v2(mut value: Value) -> Result<Value, UpcastError> {
    let fields = object_mut(&mut value)?;
    let euros = take_field(fields, "price")?
        .as_u64()
        .ok_or_else(|| UpcastError::new("`price` is not a whole number"))?;
    fields.insert("cents".into(), (euros * 100).into());
    Ok(value)
}

#[derive(Deserialize)]
struct TripBookedV2 {
    trip: String,
    cents: u64,
}

impl From<TripBookedV2> for TripBooked {
    fn from(old: TripBookedV2) -> Self {
        Self {
            trip: old.trip,
            cents: old.cents,
            currency: "EUR".into(),
        }
    }
}

/// Version 1 was stored first as "saga_stores.trip_amended", `{trip, extra}`; version 2
/// calls the extra charge `cents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(
    name = "saga_stores.trip_changed",
    version = 2,
    renamed_from = ["saga_stores.trip_amended"]
)]
#[upcast(from = 1, json = changed_v1_to_v2)]
struct TripChanged {
    trip: String,
    cents: u64,
}

fn changed_v1_to_v2(mut value: Value) -> Result<Value, UpcastError> {
    rename_field(&mut value, "extra", "cents")?;
    Ok(value)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "saga_stores.trip_closed")]
struct TripClosed {
    trip: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "saga_stores.charged")]
struct Charged {
    cents: u64,
    currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
struct Charge {
    #[command(id)]
    trip: String,
    cents: u64,
    currency: String,
}

/// What a trip was charged, in order.
#[derive(Debug, Default)]
struct TripTill {
    charges: Vec<(u64, String)>,
}

/// The most a till charges at once.
const TILL_LIMIT: u64 = 100_000;

#[derive(Debug, PartialEq, thiserror::Error)]
enum TillError {
    #[error("{cents} is over the till's limit")]
    OverLimit { cents: u64 },
}

#[aggregate]
impl TripTill {
    #[handle]
    fn charge(&self, cmd: Charge) -> Result<Charged, TillError> {
        if cmd.cents > TILL_LIMIT {
            return Err(TillError::OverLimit { cents: cmd.cents });
        }
        Ok(Charged {
            cents: cmd.cents,
            currency: cmd.currency,
        })
    }

    #[apply]
    fn charged(&mut self, event: &Charged) {
        self.charges.push((event.cents, event.currency.clone()));
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "saga_stores.refusal_noted")]
struct RefusalNoted {
    trip: String,
    cents: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
struct NoteRefusal {
    #[command(id)]
    trip: String,
    cents: u64,
}

/// Where refused charges are noted, for someone to call the traveller.
#[derive(Debug, Default)]
struct TripDesk;

#[aggregate]
impl TripDesk {
    #[handle]
    fn note(&self, cmd: NoteRefusal) -> RefusalNoted {
        RefusalNoted {
            trip: cmd.trip,
            cents: cmd.cents,
        }
    }

    #[apply]
    fn noted(&mut self, _event: &RefusalNoted) {}
}

/// One trip: what it was charged so far, and the schema versions its events were stored at.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Trips {
    trip: String,
    cents: u64,
    currency: String,
    stored_versions: Vec<u32>,
}

const TRIPS: &str = "saga_stores.trips";

#[saga(name = "saga_stores.trips")]
impl Trips {
    #[start(key = trip)]
    fn booked(&mut self, event: &TripBooked, envelope: &RecordedEvent) -> Charge {
        self.trip.clone_from(&event.trip);
        self.cents = event.cents;
        self.currency.clone_from(&event.currency);
        self.stored_versions.push(envelope.schema_version);
        Charge {
            trip: event.trip.clone(),
            cents: event.cents,
            currency: event.currency.clone(),
        }
    }

    #[on(key = trip)]
    fn changed(&mut self, event: &TripChanged, envelope: &RecordedEvent) -> Charge {
        self.cents += event.cents;
        self.stored_versions.push(envelope.schema_version);
        Charge {
            trip: self.trip.clone(),
            cents: event.cents,
            currency: self.currency.clone(),
        }
    }

    /// A refused charge is noted at the desk, each refusal once (no guard in the state: the
    /// runner hands each rejection back once).
    #[rejected]
    fn refused(&mut self, command: &Charge, _error: &TillError) -> NoteRefusal {
        NoteRefusal {
            trip: self.trip.clone(),
            cents: command.cents,
        }
    }

    #[end(key = trip)]
    fn closed(&mut self, _event: &TripClosed) {}
}

const WAIT: Duration = Duration::from_secs(20);

/// Appends one event as an older release wrote it (name, version and JSON as given); answers
/// its global position.
async fn write_raw<S: EventStore>(
    store: &S,
    stream: &str,
    name: &str,
    version: u32,
    json: &str,
) -> u64 {
    let event = NewEvent::new(
        name.to_owned(),
        version,
        json.as_bytes().to_vec(),
        Arc::new(Metadata::default()),
    );
    match store
        .append(Append::new(stream, ExpectedVersion::Any, vec![event]))
        .await
        .unwrap()
    {
        AppendOutcome::Appended(appended) => appended.position.expect("a store with a log"),
        AppendOutcome::Duplicate(_) => unreachable!("no key given"),
    }
}

async fn start_trips<S: EventStore + SagaStore>(
    store: &S,
    app: &App<S>,
    policy: ErrorPolicy,
) -> RunningSaga<Trips> {
    SagaRunner::<_, Trips, _>::new(store.clone(), app.clone())
        .on_error(policy)
        .poll_interval(Duration::from_millis(20))
        .start()
        .await
        .unwrap()
}

async fn charges<S: EventStore>(app: &App<S>, trip: &str) -> Vec<(u64, String)> {
    app.load::<TripTill>(trip).await.unwrap().0.charges
}

fn eur(cents: u64) -> (u64, String) {
    (cents, "EUR".to_owned())
}

/// The live instance of `trip`, decoded, with its version.
async fn instance<S: SagaStore>(store: &S, trip: &str) -> Option<(Trips, u64)> {
    let stored = store.find_instance(TRIPS, trip).await.unwrap()?;
    Some((
        serde_json::from_slice(&stored.state).unwrap(),
        stored.version,
    ))
}

/// Waits until the runner stops by itself, and answers the error it stopped on.
async fn stopped_on(running: RunningSaga<Trips>) -> Arc<SagaError> {
    let mut progress = running.watch();
    tokio::time::timeout(WAIT, progress.wait_for(|p| p.state != SagaState::Running))
        .await
        .expect("the runner stops")
        .unwrap();
    running
        .stop()
        .await
        .expect_err("the runner stopped on an error")
}

/// Events written at versions 1, 2 and 3, and under the changed event's older name, reach
/// the saga's handlers as the current types: each start and change charges the upcast
/// amount (whole euros become cents, version 2 gains its currency, `extra` becomes `cents`),
/// the envelope still says the version stored, the end removes its instance, and nothing
/// stays pending.
async fn upcast_events_drive_the_saga<S: EventStore + SagaStore>(store: S) {
    let app = App::new(store.clone()).unwrap();
    let booked = "saga_stores.trip_booked";
    write_raw(&store, "trips-1", booked, 1, r#"{"trip":"t-1","price":12}"#).await;
    write_raw(
        &store,
        "trips-2",
        booked,
        2,
        r#"{"trip":"t-2","cents":1250}"#,
    )
    .await;
    let v3 = r#"{"trip":"t-3","cents":99,"currency":"SEK"}"#;
    write_raw(&store, "trips-3", booked, 3, v3).await;
    let amended = r#"{"trip":"t-1","extra":300}"#;
    write_raw(&store, "trips-1", "saga_stores.trip_amended", 1, amended).await;
    let changed = r#"{"trip":"t-2","extra":50}"#;
    write_raw(&store, "trips-2", "saga_stores.trip_changed", 1, changed).await;
    let closed = r#"{"trip":"t-1"}"#;
    let last = write_raw(&store, "trips-1", "saga_stores.trip_closed", 1, closed).await;

    let running = start_trips(&store, &app, ErrorPolicy::default()).await;
    running.wait_for(last, WAIT).await.unwrap();
    // Every step is committed with its commands; once none is pending, each went.
    eventually("nothing pending", || async {
        store.pending_commands(TRIPS, 10).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(charges(&app, "t-1").await, [eur(1200), eur(300)]);
    assert_eq!(charges(&app, "t-2").await, [eur(1250), eur(50)]);
    assert_eq!(charges(&app, "t-3").await, [(99, "SEK".to_owned())]);

    assert_eq!(instance(&store, "t-1").await, None, "closed: ended");
    let (t2, version) = instance(&store, "t-2").await.unwrap();
    assert_eq!(
        (
            t2.cents,
            t2.currency.as_str(),
            &t2.stored_versions[..],
            version
        ),
        (1300, "EUR", &[2, 1][..], 2)
    );
    let (t3, _) = instance(&store, "t-3").await.unwrap();
    assert_eq!((t3.cents, &t3.stored_versions[..]), (99, &[3][..]));

    let progress = running.progress();
    assert_eq!(
        (progress.started, progress.ended, progress.ignored),
        (3, 1, 0)
    );
    running.stop().await.unwrap();
}

/// Where a failing event is in the log.
struct Bad {
    position: u64,
    stream: &'static str,
    name: &'static str,
    why: &'static str,
}

/// A log with a name the saga does not route (passed over, as the log is read by the saga's
/// names) and three events of names it routes that do not decode: a malformed payload of a
/// live instance's change, a version newer than the type, and a payload version 1's upcaster
/// refuses.
///
/// Under the default policy the runner stops at the first with `SagaError::Handler` naming
/// the saga, the stored name, the stream and the global position, after one attempt (retrying
/// does not make it decode); the step committed before it has its command sent, the instance
/// keeps its state, the position stays before the event, and a restart stops there again.
/// A park policy then keeps each as a dead letter (position, stream, version, name, reason)
/// and handles the events after them: the later change applies to the state kept.
async fn undecodable_events_stop_the_saga_and_park_by_policy<S: EventStore + SagaStore>(store: S) {
    let app = App::new(store.clone()).unwrap();
    let booked = write_raw(
        &store,
        "trips-1",
        "saga_stores.trip_booked",
        3,
        r#"{"trip":"t-1","cents":1000,"currency":"EUR"}"#,
    )
    .await;
    write_raw(
        &store,
        "trips-1",
        "saga_stores.mystery",
        1,
        r#"{"trip":"t-1"}"#,
    )
    .await;
    let bad = [
        Bad {
            position: write_raw(
                &store,
                "trips-1",
                "saga_stores.trip_changed",
                2,
                r#"{"trip":"t-1","cents":"lots"}"#,
            )
            .await,
            stream: "trips-1",
            name: "saga_stores.trip_changed",
            why: "does not decode",
        },
        Bad {
            position: write_raw(
                &store,
                "trips-2",
                "saga_stores.trip_booked",
                4,
                r#"{"trip":"t-2","cents":1,"currency":"EUR","seats":2}"#,
            )
            .await,
            stream: "trips-2",
            name: "saga_stores.trip_booked",
            why: "stored at version 4",
        },
        Bad {
            position: write_raw(
                &store,
                "trips-3",
                "saga_stores.trip_booked",
                1,
                r#"{"trip":"t-3","price":"x"}"#,
            )
            .await,
            stream: "trips-3",
            name: "saga_stores.trip_booked",
            why: "`price` is not a whole number",
        },
    ];
    let change = r#"{"trip":"t-1","cents":250}"#;
    write_raw(&store, "trips-1", "saga_stores.trip_changed", 2, change).await;
    let book = r#"{"trip":"t-4","cents":400}"#;
    let last = write_raw(&store, "trips-4", "saga_stores.trip_booked", 2, book).await;

    for run in ["first", "restarted"] {
        let running = start_trips(&store, &app, ErrorPolicy::default()).await;
        let error = stopped_on(running).await;
        let SagaError::Handler {
            saga,
            event_type,
            stream,
            position,
            attempts,
            cause,
        } = &*error
        else {
            panic!("{run}: a handler error, not {error}");
        };
        assert_eq!(
            (*saga, event_type.as_str(), stream.as_str(), *position),
            (TRIPS, bad[0].name, bad[0].stream, bad[0].position),
            "{run}: {error}"
        );
        assert_eq!(
            *attempts, 1,
            "{run}: a payload that does not decode is not retried"
        );
        assert!(cause.contains(bad[0].why), "{run}: {cause}");
        assert_eq!(
            store.saga_position(TRIPS).await.unwrap(),
            booked,
            "{run}: the position stays before the failed event"
        );
        // Nothing lost: the booking's charge went (once), the instance is as it was.
        assert_eq!(charges(&app, "t-1").await, [eur(1000)], "{run}");
        assert!(store.pending_commands(TRIPS, 10).await.unwrap().is_empty());
        let (t1, version) = instance(&store, "t-1").await.unwrap();
        assert_eq!((t1.cents, version), (1000, 1), "{run}");
    }

    let running = start_trips(&store, &app, ErrorPolicy::no_retry(OnFailure::Park)).await;
    running.wait_for(last, WAIT).await.unwrap();
    eventually("nothing pending", || async {
        store.pending_commands(TRIPS, 10).await.unwrap().is_empty()
    })
    .await;
    let letters = store.dead_letters(&format!("saga:{TRIPS}")).await.unwrap();
    assert_eq!(letters.len(), bad.len(), "{letters:?}");
    for (letter, bad) in letters.iter().zip(&bad) {
        assert_eq!(
            (
                letter.position,
                letter.stream_id.as_str(),
                letter.event_type.as_str(),
                letter.attempts
            ),
            (bad.position, bad.stream, bad.name, 1),
            "{letter:?}"
        );
        assert!(letter.reason.contains(bad.why), "{letter:?}");
    }
    assert_eq!(
        letters[0].stream_version, 3,
        "after the booking and the mystery"
    );
    // Nothing was sent for a parked event; the events after them were handled.
    assert_eq!(charges(&app, "t-1").await, [eur(1000), eur(250)]);
    assert!(charges(&app, "t-2").await.is_empty());
    assert!(charges(&app, "t-3").await.is_empty());
    assert_eq!(charges(&app, "t-4").await, [eur(400)]);
    let (t1, version) = instance(&store, "t-1").await.unwrap();
    assert_eq!(
        (t1.cents, &t1.stored_versions[..], version),
        (1250, &[3, 2][..], 2)
    );
    assert_eq!(instance(&store, "t-2").await, None, "its start was parked");
    assert_eq!(instance(&store, "t-3").await, None, "its start was parked");
    assert!(store.saga_position(TRIPS).await.unwrap() >= last);
    let progress = running.progress();
    assert_eq!((progress.started, progress.ignored), (1, 0));
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upcast_events_drive_a_saga() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("trips.db")).unwrap();
    upcast_events_drive_the_saga(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upcast_events_drive_a_saga() {
    let Some(store) = services::pg_store("saga_upcast").await else {
        return;
    };
    upcast_events_drive_the_saga(store.clone()).await;
    store.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_undecodable_events_stop_a_saga_or_are_parked() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("trips.db")).unwrap();
    undecodable_events_stop_the_saga_and_park_by_policy(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_undecodable_events_stop_a_saga_or_are_parked() {
    let Some(store) = services::pg_store("saga_undecodable").await else {
        return;
    };
    undecodable_events_stop_the_saga_and_park_by_policy(store.clone()).await;
    store.drop_schema().await.unwrap();
}

// Two runners on two handles of one store.

const ORDERS: usize = 200;

/// How long the concurrent test waits for anything before failing.
const GIVE_UP: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    /// The provider approves: the order ships.
    Approved,
    /// The provider declines: the stock is released, then the order cancelled.
    Declined,
    /// The payment is over the limit, and the request is refused: undone likewise.
    Refused,
    /// The provider never answers: the deadline undoes it.
    Silent,
}

fn fate(i: usize) -> Fate {
    [Fate::Approved, Fate::Declined, Fate::Refused, Fate::Silent][i % 4]
}

fn order_id(i: usize) -> String {
    format!("two-{i}")
}

fn quantity(i: usize) -> u32 {
    1 + (i % 3) as u32
}

/// What an order's log holds at its end, by its fate.
fn expected_events(fate: Fate) -> &'static [&'static str] {
    match fate {
        Fate::Approved => &[
            "shop.order_placed",
            "shop.stock_reserved",
            "shop.payment_requested",
            "shop.payment_succeeded",
            "shop.order_shipped",
        ],
        Fate::Declined => &[
            "shop.order_placed",
            "shop.stock_reserved",
            "shop.payment_requested",
            "shop.payment_failed",
            "shop.stock_released",
            "shop.order_cancelled",
        ],
        Fate::Refused => &[
            "shop.order_placed",
            "shop.stock_reserved",
            "shop.stock_released",
            "shop.order_cancelled",
        ],
        Fate::Silent => &[
            "shop.order_placed",
            "shop.stock_reserved",
            "shop.payment_requested",
            "shop.stock_released",
            "shop.order_cancelled",
        ],
    }
}

/// Polls `check` every 50 ms until it answers `None`, failing with what it last answered
/// after [`GIVE_UP`].
async fn until_done<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let give_up = Instant::now() + GIVE_UP;
    loop {
        let Some(left) = check().await else {
            return;
        };
        assert!(Instant::now() < give_up, "never: {what} ({left})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two runners of the fulfilment saga, each over its own handle of one store and its own
/// `App`, with one clock, run side by side while both apps place 200 orders at once and
/// settle their payments; after the clock passes the unanswered ones' deadlines, every order
/// ends once, in the order its fate asks for (each command's effect once, compensation in
/// reverse); between them the runners started, ended and fired each instance and deadline
/// exactly once; nothing is left pending or scheduled; stock is neither lost nor made.
async fn two_runners_on_two_handles_end_every_order_once<S: EventStore + SagaStore>(
    stores: [S; 2],
) {
    let clock = ManualClock::at(Timestamp::from_micros(1_800_000_000_000_000));
    let apps = stores.clone().map(|store| App::new(store).unwrap());
    let mut runners = Vec::new();
    for (store, app) in stores.iter().zip(&apps) {
        let runner = SagaRunner::<_, Fulfilment, _>::new(store.clone(), app.clone())
            .clock(clock.clone())
            .poll_interval(Duration::from_millis(20))
            .start()
            .await
            .unwrap();
        runners.push(runner);
    }
    let total_stock = 10 * ORDERS as u32;
    apps[0]
        .execute(AddStock {
            item: "lamp".into(),
            quantity: total_stock,
        })
        .await
        .unwrap();

    // Both apps place their half at once.
    let mut placing = tokio::task::JoinSet::new();
    for (half, app) in apps.iter().enumerate() {
        let app = app.clone();
        placing.spawn(async move {
            for i in (half..ORDERS).step_by(2) {
                let amount = if fate(i) == Fate::Refused {
                    PAYMENT_LIMIT + 1
                } else {
                    100
                };
                app.execute(PlaceOrder {
                    order: order_id(i),
                    item: "lamp".into(),
                    quantity: quantity(i),
                    amount,
                })
                .await
                .unwrap();
            }
        });
    }
    while let Some(placed) = placing.join_next().await {
        placed.unwrap();
    }

    // The provider answers the payments it answers, through either app, as they come.
    let mut settled = [false; ORDERS];
    let give_up = Instant::now() + GIVE_UP;
    loop {
        let (mut open, mut unrequested) = (0, 0);
        for i in 0..ORDERS {
            let app = &apps[i % 2];
            let order = order_id(i);
            let approved = match fate(i) {
                Fate::Approved => true,
                Fate::Declined => false,
                Fate::Refused => {
                    let (o, _) = app.load::<Order>(&order).await.unwrap();
                    open += usize::from(!o.cancelled);
                    continue;
                }
                Fate::Silent => {
                    let (p, _) = app.load::<Payment>(&order).await.unwrap();
                    unrequested += usize::from(!p.pending);
                    continue;
                }
            };
            if !settled[i] {
                let (p, _) = app.load::<Payment>(&order).await.unwrap();
                if p.pending {
                    app.execute(SettlePayment {
                        order: order.clone(),
                        approved,
                    })
                    .await
                    .unwrap();
                    settled[i] = true;
                }
            }
            let (o, _) = app.load::<Order>(&order).await.unwrap();
            open += usize::from(!o.shipped && !o.cancelled);
        }
        if open == 0 && unrequested == 0 {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "never: {open} answered orders open, {unrequested} silent ones without a payment request"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every silent order's deadline is stored (with its payment request): now it is due.
    clock.advance(PAYMENT_TIMEOUT * 2);
    until_done("every order ended", || async {
        let mut open = 0;
        for i in 0..ORDERS {
            let (o, _) = apps[i % 2].load::<Order>(&order_id(i)).await.unwrap();
            open += usize::from(!o.shipped && !o.cancelled);
        }
        (open > 0).then(|| format!("{open} open"))
    })
    .await;
    let saga = "shop.fulfilment";
    until_done("every instance ended and nothing pending", || async {
        let ended: u64 = runners.iter().map(|r| r.progress().ended).sum();
        let pending = stores[0].pending_commands(saga, 1).await.unwrap().len()
            + stores[1].pending_commands(saga, 1).await.unwrap().len();
        (ended < ORDERS as u64 || pending > 0)
            .then(|| format!("{ended} ended, commands pending: {}", pending > 0))
    })
    .await;
    for store in &stores {
        assert_eq!(store.next_deadline(saga).await.unwrap(), None);
    }

    // Each order's events, each once, in the order its fate asks for.
    let mut events = BTreeMap::<String, Vec<String>>::new();
    for event in stores[1].read_all(1, usize::MAX).await.unwrap().events {
        let body: Value = serde_json::from_slice(&event.payload).unwrap();
        if let Some(order) = body.get("order").and_then(|o| o.as_str()) {
            events
                .entry(order.to_owned())
                .or_default()
                .push(event.event_type.to_string());
        }
    }
    assert_eq!(events.len(), ORDERS);
    let mut kept = 0;
    for i in 0..ORDERS {
        let order = order_id(i);
        assert_eq!(events[&order], expected_events(fate(i)), "{order}");
        if fate(i) == Fate::Approved {
            kept += quantity(i);
        }
    }
    let (lamps, _) = apps[1].load::<Inventory>("lamp").await.unwrap();
    assert_eq!(lamps.reserved, kept, "only shipped orders keep stock");
    assert_eq!(lamps.available + lamps.reserved, total_stock);

    let progress: Vec<_> = runners.iter().map(RunningSaga::progress).collect();
    eprintln!("two runners: {progress:?}");
    let sum = |count: fn(&SagaProgress) -> u64| -> u64 { progress.iter().map(count).sum() };
    assert_eq!(
        sum(|p| p.started),
        ORDERS as u64,
        "each instance started once"
    );
    assert_eq!(sum(|p| p.ended), ORDERS as u64, "each instance ended once");
    assert_eq!(
        sum(|p| p.fired),
        (ORDERS / 4) as u64,
        "each deadline fired once"
    );
    for runner in runners {
        runner.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_runners_on_two_handles_of_one_file_end_every_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.db");
    let stores = [
        SqliteStore::open(&path).unwrap(),
        SqliteStore::open(&path).unwrap(),
    ];
    two_runners_on_two_handles_end_every_order_once(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_runners_on_two_handles_of_one_schema_end_every_order_once() {
    let Some(a) = services::pg_store("saga_two_handles").await else {
        return;
    };
    let b = services::pg_second_handle(&a, "saga_two_handles").await;
    two_runners_on_two_handles_end_every_order_once([a.clone(), b]).await;
    a.drop_schema().await.unwrap();
}

/// Two runners of the trips saga, each on its own handle of one store and its own `App`,
/// while 200 trips are booked over the till's limit through both handles: each refused
/// charge goes back to the `#[rejected]` handler once, so each trip's refusal is noted once
/// although both runners may send the same charge (its key makes the second send repeat the
/// first outcome).
async fn two_runners_hand_each_rejection_back_once<S: EventStore + SagaStore>(stores: [S; 2]) {
    const TRIPS_BOOKED: usize = 200;
    let apps = stores.clone().map(|store| App::new(store).unwrap());
    let mut runners = Vec::new();
    for (store, app) in stores.iter().zip(&apps) {
        runners.push(start_trips(store, app, ErrorPolicy::default()).await);
    }
    let mut last = 0;
    for i in 0..TRIPS_BOOKED {
        let json = format!(
            r#"{{"trip":"r-{i}","cents":{},"currency":"EUR"}}"#,
            TILL_LIMIT + 1
        );
        let store = &stores[i % 2];
        let stream = format!("trips-r-{i}");
        last = write_raw(store, &stream, "saga_stores.trip_booked", 3, &json).await;
    }
    for runner in &runners {
        runner.wait_for(last, GIVE_UP).await.unwrap();
    }
    until_done("every refusal noted and nothing pending", || async {
        let mut pending = 0;
        for store in &stores {
            pending += store.pending_commands(TRIPS, 1).await.unwrap().len();
        }
        let rejected: u64 = runners.iter().map(|r| r.progress().rejected).sum();
        (pending > 0 || rejected < TRIPS_BOOKED as u64)
            .then(|| format!("{rejected} rejections, commands pending: {}", pending > 0))
    })
    .await;

    let mut noted = BTreeMap::<String, usize>::new();
    for event in stores[0].read_all(1, usize::MAX).await.unwrap().events {
        if &*event.event_type == "saga_stores.refusal_noted" {
            let body: Value = serde_json::from_slice(&event.payload).unwrap();
            *noted
                .entry(body["trip"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let twice: Vec<_> = noted.iter().filter(|(_, n)| **n > 1).collect();
    let progress: Vec<_> = runners.iter().map(RunningSaga::progress).collect();
    assert!(
        twice.is_empty(),
        "noted more than once: {twice:?}; {progress:?}"
    );
    assert_eq!(noted.len(), TRIPS_BOOKED);
    for runner in runners {
        runner.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_runners_hand_each_rejection_back_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trips.db");
    let stores = [
        SqliteStore::open(&path).unwrap(),
        SqliteStore::open(&path).unwrap(),
    ];
    two_runners_hand_each_rejection_back_once(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_runners_hand_each_rejection_back_once() {
    let Some(a) = services::pg_store("saga_rejections").await else {
        return;
    };
    let b = services::pg_second_handle(&a, "saga_rejections").await;
    two_runners_hand_each_rejection_back_once([a.clone(), b]).await;
    a.drop_schema().await.unwrap();
}
