//! A shipping service whose consumer turns the orders service's messages into commands on
//! its own aggregates: two members of one group, each with its own `App` on its own handle of
//! the shipping file, every command once (a re-publication past the broker's window is
//! recognised by the commands' idempotency keys), the flow's correlation and tenant carried
//! onto the shipping events; a message whose command keeps being rejected parked while the
//! rest flows, and replayed once after a fix.

use std::time::Duration;

use eventsmith::codec::{Codec, JsonCodec};
use eventsmith::command::{Backoff, CommandMiddleware, HandledCommand, Refusal, RefusalKind};
use eventsmith::outbox::{
    Commands, Consumer, NatsTransport, RedisSubscription, Replay, RunningConsumer, header,
    message_id,
};
use eventsmith::prelude::*;
use eventsmith::{
    App, Command, CommandError, Event, PgStore, SqliteStore, Uuid, aggregate, projection,
};
use serde::{Deserialize, Serialize};

use crate::outbox_consumer::settle;
use crate::outbox_relay::domain::{ParcelShipped, Placed};
use crate::outbox_relay::{expected_messages, place_and_ship, relay_all, republish_all};
use crate::services::{nats_client, pg_second_handle, pg_store, redis_transport};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.shipping.announced")]
struct Announced {
    order: String,
    region: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.shipping.parcel_added")]
struct ParcelAdded {
    order: String,
    parcel: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.shipping.held")]
struct Held {
    order: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.shipping.released")]
struct Released {
    order: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.shipping.parcel_received")]
struct ParcelReceived {
    order: String,
    parcel: u32,
}

#[derive(Debug, Clone, Command)]
struct Announce {
    #[command(id)]
    order: String,
    region: String,
}

#[derive(Debug, Clone, Command)]
struct AddParcel {
    #[command(id)]
    order: String,
    parcel: u32,
}

#[derive(Debug, Clone, Command)]
struct Hold {
    #[command(id)]
    order: String,
}

#[derive(Debug, Clone, Command)]
struct Release {
    #[command(id)]
    order: String,
}

#[derive(Debug, Clone, Command)]
struct Receive {
    #[command(id)]
    depot: String,
    order: String,
    parcel: u32,
}

#[derive(Debug, PartialEq)]
enum ShipmentError {
    OnHold(String),
}

/// A shipment per order: announced, its parcels added; one on hold refuses its announcement.
#[derive(Debug, Default)]
struct Shipment {
    held: bool,
}

#[aggregate(name = "it.Shipment")]
impl Shipment {
    #[handle]
    fn announce(&self, cmd: Announce) -> Result<Announced, ShipmentError> {
        if self.held {
            return Err(ShipmentError::OnHold(cmd.order));
        }
        Ok(Announced {
            order: cmd.order,
            region: cmd.region,
        })
    }

    #[handle]
    fn add(&self, cmd: AddParcel) -> ParcelAdded {
        ParcelAdded {
            order: cmd.order,
            parcel: cmd.parcel,
        }
    }

    #[handle]
    fn hold(&self, cmd: Hold) -> Held {
        Held { order: cmd.order }
    }

    #[handle]
    fn release(&self, cmd: Release) -> Released {
        Released { order: cmd.order }
    }

    #[apply]
    fn announced(&mut self, _event: &Announced) {}

    #[apply]
    fn added(&mut self, _event: &ParcelAdded) {}

    #[apply]
    fn held(&mut self, _event: &Held) {
        self.held = true;
    }

    #[apply]
    fn released(&mut self, _event: &Released) {
        self.held = false;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.shipping.depot_closed")]
struct DepotClosed;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.shipping.depot_opened")]
struct DepotOpened;

#[derive(Debug, Clone, Command)]
struct CloseDepot {
    #[command(id)]
    depot: String,
}

#[derive(Debug, Clone, Command)]
struct OpenDepot {
    #[command(id)]
    depot: String,
}

#[derive(Debug, PartialEq)]
struct Closed;

/// One depot receiving every parcel: one stream the members of the group contend for. A
/// closed depot refuses parcels.
#[derive(Debug, Default)]
struct Depot {
    closed: bool,
    received: u64,
}

#[aggregate(name = "it.Depot")]
impl Depot {
    #[handle]
    fn receive(&self, cmd: Receive) -> Result<ParcelReceived, Closed> {
        if self.closed {
            return Err(Closed);
        }
        Ok(ParcelReceived {
            order: cmd.order,
            parcel: cmd.parcel,
        })
    }

    #[handle]
    fn close(&self, _cmd: CloseDepot) -> DepotClosed {
        DepotClosed
    }

    #[handle]
    fn open(&self, _cmd: OpenDepot) -> DepotOpened {
        DepotOpened
    }

    #[apply]
    fn received(&mut self, _event: &ParcelReceived) {
        self.received += 1;
    }

    #[apply]
    fn closed(&mut self, _event: &DepotClosed) {
        self.closed = true;
    }

    #[apply]
    fn opened(&mut self, _event: &DepotOpened) {
        self.closed = false;
    }
}

/// The consumer's handlers, on any store: a placement announces the shipment, a parcel is
/// added to it and received at the depot (two commands for one message).
async fn announce<S: EventStore>(
    message: &Placed,
    commands: &mut Commands<S>,
) -> Result<(), CommandError<ShipmentError>> {
    commands
        .send(Announce {
            order: message.order.clone(),
            region: message.region.clone(),
        })
        .await?;
    Ok(())
}

async fn add_and_receive<S: EventStore, C: Codec, M: CommandMiddleware>(
    message: &ParcelShipped,
    commands: &mut Commands<S, C, M>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    commands
        .send(AddParcel {
            order: message.order.clone(),
            parcel: message.parcel,
        })
        .await?;
    commands
        .send(Receive {
            depot: "main".into(),
            order: message.order.clone(),
            parcel: message.parcel,
        })
        .await?;
    Ok(())
}

/// The shipping desk of a service on a store of type `$store`, named `$name`.
macro_rules! shipping_desk {
    ($desk:ident, $name:tt, $store:ident) => {
        #[derive(Default)]
        struct $desk;

        #[projection(name = $name, context = Commands<$store>)]
        impl $desk {
            #[on]
            async fn placed(
                &mut self,
                message: &Placed,
                commands: &mut Commands<$store>,
            ) -> Result<(), CommandError<ShipmentError>> {
                announce(message, commands).await
            }

            #[on]
            async fn parcel(
                &mut self,
                message: &ParcelShipped,
                commands: &mut Commands<$store>,
            ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                add_and_receive(message, commands).await
            }
        }
    };
}

shipping_desk!(ShippingDesk, "it.shipping_desk", SqliteStore);
shipping_desk!(PgShippingDesk, "it.pg_shipping_desk", PgStore);

/// Order `i` as `place_and_ship` names it, and its parcels.
fn order(i: usize) -> (String, u64) {
    let name = if i % 10 == 9 {
        format!("test-{i}")
    } else {
        format!("o-{i}")
    };
    (name, 1 + (i % 3) as u64)
}

/// The parcels of the first `orders` orders.
fn parcels(orders: usize) -> u64 {
    (0..orders).map(|i| order(i).1).sum()
}

/// Checks that the commands of the first `orders` orders' messages each happened once: a
/// shipment per order with its announcement (none for a test order, which is not
/// published) and its parcels, `extra` more events on the shipments of `extra_on`, and every
/// parcel received at the depot.
async fn each_command_once<S: EventStore>(app: &App<S>, orders: usize, extra_on: (&str, u64)) {
    let mut parcels = 0;
    for i in 0..orders {
        let (name, count) = order(i);
        parcels += count;
        let announced = u64::from(!name.starts_with("test-"));
        let extra = if name == extra_on.0 { extra_on.1 } else { 0 };
        let (_, version) = app.load::<Shipment>(&name).await.unwrap();
        assert_eq!(version, announced + count + extra, "shipment {name}");
    }
    let (depot, _) = app.load::<Depot>("main").await.unwrap();
    assert_eq!(depot.received, parcels, "parcels received at the depot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_sending_commands_has_each_command_once_past_the_brokers_window() {
    let test = "a_group_sending_commands_has_each_command_once_past_the_brokers_window";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipping.db");
    let apps = [(); 2].map(|()| App::new(SqliteStore::open(&path).unwrap()).unwrap());
    each_command_once_past_the_window(test, dir.path(), apps, || ShippingDesk).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_sending_commands_on_postgres_has_each_command_once_past_the_window() {
    let test = "a_group_sending_commands_on_postgres_has_each_command_once_past_the_window";
    let Some(first) = pg_store(test).await else {
        return;
    };
    let second = pg_second_handle(&first, test).await;
    let dir = tempfile::tempdir().unwrap();
    let apps = [first, second].map(|store| App::new(store).unwrap());
    each_command_once_past_the_window(test, dir.path(), apps, || PgShippingDesk).await;
}

/// The orders service on SQLite in `dir` publishes 30 orders to NATS; the shipping service's
/// group of two members, one on each of `apps` (on two handles of one store), sends their
/// commands; a re-publication past the stream's window is recognised by the commands' keys.
async fn each_command_once_past_the_window<S, P>(
    test: &str,
    dir: &std::path::Path,
    apps: [App<S>; 2],
    model: impl Fn() -> P,
) where
    S: EventStore,
    P: Projection<Context = Commands<S>> + Sync,
{
    let Some(client) = nats_client(test).await else {
        return;
    };
    let unique = Uuid::now_v7().simple().to_string();
    let (stream, prefix) = (format!("ITK_{unique}"), format!("itk{unique}."));
    let nats = NatsTransport::new(client).subject_prefix(&prefix);
    nats.ensure_stream(&stream, &[">"], Duration::from_secs(1))
        .await
        .unwrap();
    let orders = SqliteStore::open(dir.join("orders.db")).unwrap();
    place_and_ship(&App::new(orders.clone()).unwrap(), 0..30).await;

    // Two members, each an App of its own on its own handle of the shipping store, waiting
    // for the messages.
    let mut members = Vec::new();
    for app in &apps {
        let subscription = nats
            .subscribe(&stream, "shipping-desk", "orders.>", Duration::from_secs(5))
            .await
            .unwrap()
            .wait(Duration::from_millis(200));
        members.push(
            Consumer::new(app.clone(), model(), subscription)
                .batch_size(8)
                .start()
                .await
                .unwrap(),
        );
    }
    relay_all(&orders, nats.clone()).await;
    let messages = expected_messages(30) as u64;
    settle(&members, messages, "first delivery").await;
    each_command_once(&apps[0], 30, ("", 0)).await;

    // Published again once the window has passed: the broker keeps the copies, the keys of
    // the commands recognise them.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    republish_all(&orders, nats.clone()).await;
    settle(&members, 2 * messages, "after the copies").await;
    each_command_once(&apps[1], 30, ("", 0)).await;
    let progress: Vec<_> = members.iter().map(RunningConsumer::progress).collect();
    let sum = |f: fn(&eventsmith::outbox::ConsumerProgress) -> u64| -> u64 {
        progress.iter().map(f).sum()
    };
    assert_eq!(sum(|p| p.handled), messages, "{progress:?}");
    // A redelivery (a lost acknowledgement) would be one more.
    assert!(sum(|p| p.duplicates) >= messages, "{progress:?}");

    // The shipping events carry the flow on: the order's correlation and tenant, the
    // consumer as their source, the message as a header.
    let placed = orders.read_stream("OutboxOrder-o-0", 0, 1).await.unwrap();
    let shipment = apps[0]
        .store()
        .read_stream("it.Shipment-o-0", 0, 10)
        .await
        .unwrap();
    let announced = shipment
        .iter()
        .find(|e| &*e.event_type == "it.shipping.announced")
        .unwrap();
    let metadata = &announced.metadata;
    assert_eq!(metadata.correlation_id, placed[0].metadata.correlation_id);
    assert_eq!(metadata.tenant.as_deref(), Some("acme"));
    assert_eq!(
        metadata.source.as_deref(),
        Some(format!("consumer {}", P::NAME).as_str())
    );
    let message = message_id("it.orders.public", placed[0].event_id, 0).to_string();
    assert_eq!(metadata.headers.get(header::ID), Some(&message));
    for member in members {
        member.stop().await.unwrap();
    }
    nats.jetstream().delete_stream(&stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_command_parks_its_message_until_a_fix_and_a_replay() {
    let test = "a_rejected_command_parks_its_message_until_a_fix_and_a_replay";
    let key = format!("it:outbox:{}", Uuid::now_v7().simple());
    let Some(redis) = redis_transport(test, &key).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let orders = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    place_and_ship(&App::new(orders.clone()).unwrap(), 0..10).await;
    relay_all(&orders, redis.clone()).await;

    // The shipment of o-3 is on hold: its announcement is rejected on every delivery.
    let shipping = App::new(SqliteStore::open(dir.path().join("shipping.db")).unwrap()).unwrap();
    shipping
        .execute(Hold {
            order: "o-3".into(),
        })
        .await
        .unwrap();
    let subscription = redis
        .subscribe(
            "shipping-desk",
            "alive",
            "orders.>",
            Duration::from_millis(200),
        )
        .await
        .unwrap()
        .wait(Duration::from_millis(100));
    let consumer = Consumer::new(shipping.clone(), ShippingDesk, subscription)
        .max_deliveries(3)
        .backoff(Backoff::fixed(Duration::from_millis(20)))
        .start()
        .await
        .unwrap();
    let messages = expected_messages(10) as u64;
    settle(std::slice::from_ref(&consumer), messages, "with the poison").await;
    let progress = consumer.progress();
    assert_eq!(progress.parked, 1, "{progress:?}");
    assert_eq!(
        progress.handled,
        messages - 1,
        "the rest flowed: {progress:?}"
    );
    assert!(progress.retried >= 2, "tried three times: {progress:?}");
    let letters = shipping
        .store()
        .dead_letters("it.shipping_desk")
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.attempts, 3);
    assert!(
        letter.reason.contains("OnHold(\"o-3\")"),
        "{}",
        letter.reason
    );
    // o-3 has its hold and its parcel, not its announcement; one event short of the rest.
    let (_, version) = shipping.load::<Shipment>("o-3").await.unwrap();
    assert_eq!(version, 2);

    // Still on hold: the replay fails and the letter stays.
    assert!(consumer.replay(letter.position).await.is_err());
    assert_eq!(
        shipping
            .store()
            .dead_letters("it.shipping_desk")
            .await
            .unwrap()
            .len(),
        1
    );
    // The fix, then the replay: announced once, the letter released.
    shipping
        .execute(Release {
            order: "o-3".into(),
        })
        .await
        .unwrap();
    assert_eq!(consumer.replay(letter.position).await, Ok(Replay::Handled));
    assert!(
        shipping
            .store()
            .dead_letters("it.shipping_desk")
            .await
            .unwrap()
            .is_empty()
    );
    // A second replay finds its command recorded.
    assert_eq!(
        consumer.replay(letter.position).await,
        Ok(Replay::AlreadyHandled)
    );
    // Hold and release on top of the announcement and the parcel.
    each_command_once(&shipping, 10, ("o-3", 2)).await;
    consumer.stop().await.unwrap();
}

/// A Redis stream at a key of its own with the first `orders` orders published, a shipping
/// App on a SQLite file in `dir`, and a subscription of `group` on the stream.
async fn published_to_redis(
    test: &str,
    dir: &std::path::Path,
    orders: usize,
    group: &str,
) -> Option<(App<SqliteStore>, RedisSubscription)> {
    let key = format!("it:outbox:{}", Uuid::now_v7().simple());
    let redis = redis_transport(test, &key).await?;
    let store = SqliteStore::open(dir.join("orders.db")).unwrap();
    place_and_ship(&App::new(store.clone()).unwrap(), 0..orders).await;
    relay_all(&store, redis.clone()).await;
    let shipping = App::new(SqliteStore::open(dir.join("shipping.db")).unwrap()).unwrap();
    let subscription = redis
        .subscribe(group, "alive", "orders.>", Duration::from_millis(200))
        .await
        .unwrap()
        .wait(Duration::from_millis(100));
    Some((shipping, subscription))
}

/// Each parcel of the first `orders` orders was added to its shipment once.
async fn each_parcel_added_once<S: EventStore>(app: &App<S>, orders: usize) {
    for i in 0..orders {
        let (name, parcels) = order(i);
        let events = app
            .store()
            .read_stream(&format!("it.Shipment-{name}"), 0, 100)
            .await
            .unwrap();
        let added = events
            .iter()
            .filter(|e| &*e.event_type == "it.shipping.parcel_added")
            .count();
        assert_eq!(added as u64, parcels, "parcels added to {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_failing_after_a_command_finds_it_done_on_the_next_delivery() {
    let test = "a_handler_failing_after_a_command_finds_it_done_on_the_next_delivery";
    let dir = tempfile::tempdir().unwrap();
    let Some((shipping, subscription)) = published_to_redis(test, dir.path(), 10, "desk").await
    else {
        return;
    };
    // A closed depot: each parcel's second command is rejected, after its first went through.
    shipping
        .execute(CloseDepot {
            depot: "main".into(),
        })
        .await
        .unwrap();
    let consumer = Consumer::new(shipping.clone(), ShippingDesk, subscription)
        .max_deliveries(2)
        .backoff(Backoff::fixed(Duration::from_millis(20)))
        .start()
        .await
        .unwrap();
    let messages = expected_messages(10) as u64;
    let parcels = parcels(10);
    settle(
        std::slice::from_ref(&consumer),
        messages,
        "with the depot closed",
    )
    .await;
    let progress = consumer.progress();
    assert_eq!(progress.parked, parcels, "{progress:?}");
    assert_eq!(progress.handled, messages - parcels, "{progress:?}");
    // Each parcel message came twice; its first command went once.
    each_parcel_added_once(&shipping, 10).await;

    // The depot opens; each parked message is handled once more: its first command is found
    // done by its key, its second goes through.
    shipping
        .execute(OpenDepot {
            depot: "main".into(),
        })
        .await
        .unwrap();
    let letters = shipping
        .store()
        .dead_letters("it.shipping_desk")
        .await
        .unwrap();
    assert_eq!(letters.len() as u64, parcels);
    for letter in &letters {
        assert!(letter.reason.contains("Closed"), "{}", letter.reason);
        assert_eq!(consumer.replay(letter.position).await, Ok(Replay::Handled));
    }
    each_command_once(&shipping, 10, ("", 0)).await;
    assert!(
        shipping
            .store()
            .dead_letters("it.shipping_desk")
            .await
            .unwrap()
            .is_empty()
    );
    consumer.stop().await.unwrap();
}

/// Refuses every command the first time its key comes, as a rate limit would.
#[derive(Default)]
struct Busy {
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl CommandMiddleware for Busy {
    async fn before<C: HandledCommand>(
        &self,
        _command: &C,
        context: &mut CommandContext,
    ) -> Result<(), Refusal> {
        // Keys are per aggregate: the command's name tells them apart.
        let key = context.idempotency_key.as_deref().unwrap_or_default();
        if self
            .seen
            .lock()
            .unwrap()
            .insert(format!("{}/{key}", C::NAME))
        {
            let retry_after = Duration::from_millis(10);
            return Err(Refusal::new(
                RefusalKind::RateLimited { retry_after },
                "busy",
            ));
        }
        Ok(())
    }
}

type BusyCommands = Commands<SqliteStore, JsonCodec, ((), Busy)>;

/// Starts `model` on `subscription`, its commands going to the store of `shipping` behind
/// `Busy`, parking after `max_deliveries`.
async fn start_behind_busy<P: Projection<Context = BusyCommands> + Sync>(
    shipping: &App<SqliteStore>,
    model: P,
    subscription: RedisSubscription,
    max_deliveries: u32,
) -> RunningConsumer {
    let busy = App::builder(shipping.store().clone())
        .middleware(Busy::default())
        .build()
        .unwrap();
    Consumer::new(busy, model, subscription)
        .max_deliveries(max_deliveries)
        .backoff(Backoff::fixed(Duration::from_millis(20)))
        .start()
        .await
        .unwrap()
}

/// The parcels of the shipping desk, on an App behind `Busy`.
#[derive(Default)]
struct BusyDesk;

#[projection(name = "it.busy_desk", context = BusyCommands)]
impl BusyDesk {
    #[on]
    async fn parcel(
        &mut self,
        message: &ParcelShipped,
        commands: &mut BusyCommands,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        add_and_receive(message, commands).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_waiting_mends_comes_again_and_is_never_parked() {
    let test = "a_failure_that_waiting_mends_comes_again_and_is_never_parked";
    let dir = tempfile::tempdir().unwrap();
    let Some((shipping, subscription)) = published_to_redis(test, dir.path(), 10, "busy").await
    else {
        return;
    };
    // One delivery each: a message whose failure counted would be parked at once.
    let consumer = start_behind_busy(&shipping, BusyDesk, subscription, 1).await;
    let messages = expected_messages(10) as u64;
    let parcels = parcels(10);
    settle(
        std::slice::from_ref(&consumer),
        messages,
        "through the refusals",
    )
    .await;
    let progress = consumer.progress();
    assert_eq!(progress.parked, 0, "{progress:?}");
    assert_eq!(progress.handled, parcels, "{progress:?}");
    // Refused once at each of its two commands.
    assert!(progress.retried >= 2 * parcels, "{progress:?}");
    each_parcel_added_once(&shipping, 10).await;
    let (depot, _) = shipping.load::<Depot>("main").await.unwrap();
    assert_eq!(depot.received, parcels);
    consumer.stop().await.unwrap();
}

/// A desk that swallows its command's failure and fails on its own account: its own error,
/// not the command's, decides, so the message is parked.
#[derive(Default)]
struct StubbornDesk;

#[projection(name = "it.stubborn_desk", context = BusyCommands)]
impl StubbornDesk {
    #[on]
    async fn parcel(
        &mut self,
        message: &ParcelShipped,
        commands: &mut BusyCommands,
    ) -> Result<(), String> {
        let added = commands
            .send(AddParcel {
                order: message.order.clone(),
                parcel: message.parcel,
            })
            .await;
        drop(added);
        Err(format!(
            "parcel {} of {} not labelled",
            message.parcel, message.order
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handlers_own_failure_after_a_refused_command_is_parked() {
    let test = "a_handlers_own_failure_after_a_refused_command_is_parked";
    let dir = tempfile::tempdir().unwrap();
    let Some((shipping, subscription)) = published_to_redis(test, dir.path(), 4, "stubborn").await
    else {
        return;
    };
    let consumer = start_behind_busy(&shipping, StubbornDesk, subscription, 2).await;
    let messages = expected_messages(4) as u64;
    let parcels = parcels(4);
    settle(
        std::slice::from_ref(&consumer),
        messages,
        "the stubborn desk",
    )
    .await;
    let progress = consumer.progress();
    assert_eq!(progress.parked, parcels, "{progress:?}");
    let letters = shipping
        .store()
        .dead_letters("it.stubborn_desk")
        .await
        .unwrap();
    assert!(
        letters.iter().all(|l| l.reason.contains("not labelled")),
        "{letters:?}"
    );
    consumer.stop().await.unwrap();
}
