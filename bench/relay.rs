//! W10: events published by the relay to NATS JetStream, Redis Streams or Kafka and handled by
//! a consumer into a SQLite read model with its inbox (on NATS also by a consumer that sends a
//! command per message to an aggregate in SQLite): throughput over a stored backlog, and the
//! latency from an append to its message's handler while events are appended one at a time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use eventsmith::event::{NewEvent, Timestamp};
use eventsmith::outbox::{
    Commands, Consumer, KafkaTransport, NatsTransport, RedisTransport, Relay, Subscription,
    Transport,
};
use eventsmith::projection::SqliteConnection;
use eventsmith::store::{Append, ExpectedVersion};
use eventsmith::{
    App, Command, CommandError, Event, EventStore, RecordedEvent, SqliteStore, Uuid, aggregate,
    projection, publication,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Settings;
use crate::backends::{Backend, Error, with_store};
use crate::kafka_broker::KafkaBroker;
use crate::stats::{median, percentile, round2};
use crate::workloads::line;

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "bench.relay_ticked")]
struct Ticked {
    n: u64,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "bench.ticks.ticked")]
struct TickMessage {
    n: u64,
}

struct Ticks;

#[publication(name = "bench.ticks")]
impl Ticks {
    #[publish(subject = "ticks.{stream}")]
    fn ticked(&self, event: &Ticked) -> TickMessage {
        TickMessage { n: event.n }
    }
}

/// From each message's event being recorded to its handler, in microseconds.
static LATENCY: Mutex<Vec<i64>> = Mutex::new(Vec::new());

#[derive(Default)]
struct TickCounter;

#[projection(name = "bench.tick_counter", context = SqliteConnection)]
impl TickCounter {
    #[on]
    async fn ticked(
        &mut self,
        _message: &TickMessage,
        envelope: &RecordedEvent,
        _db: &SqliteConnection,
    ) {
        record_latency(envelope);
    }
}

/// Records how late the message whose event was recorded at `envelope`'s time is handled.
fn record_latency(envelope: &RecordedEvent) {
    let late = Timestamp::now().as_micros() - envelope.timestamp.as_micros();
    LATENCY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(late);
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "bench.tick_counted")]
struct TickCounted {
    n: u64,
}

#[derive(Clone, Command)]
struct CountTick {
    #[command(id)]
    ticker: String,
    n: u64,
}

/// The consuming service's aggregate: a tally per source stream.
#[derive(Default)]
struct TickTally;

#[aggregate(name = "bench.TickTally")]
impl TickTally {
    #[handle]
    fn count(&self, cmd: CountTick) -> TickCounted {
        TickCounted { n: cmd.n }
    }

    #[apply]
    fn counted(&mut self, _event: &TickCounted) {}
}

/// A consumer that sends a command per message.
#[derive(Default)]
struct TickCommands;

#[projection(name = "bench.tick_commands", context = Commands<SqliteStore>)]
impl TickCommands {
    #[on]
    async fn ticked(
        &mut self,
        message: &TickMessage,
        envelope: &RecordedEvent,
        commands: &mut Commands<SqliteStore>,
    ) -> Result<(), CommandError<std::convert::Infallible>> {
        let ticker = envelope.stream_id.to_string();
        commands
            .send(CountTick {
                ticker,
                n: message.n,
            })
            .await?;
        record_latency(envelope);
        Ok(())
    }
}

/// What handles the messages.
#[derive(Clone, Copy)]
enum Consuming {
    /// A SQL read model with its inbox.
    ReadModel,
    /// A command per message.
    Commands,
}

fn recorded() -> Vec<i64> {
    std::mem::take(
        &mut *LATENCY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

async fn wait_recorded(count: usize, what: &str) -> Result<(), Error> {
    let give_up = Instant::now() + Duration::from_secs(300);
    loop {
        let seen = LATENCY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        if seen >= count {
            return Ok(());
        }
        if Instant::now() > give_up {
            return Err(format!("W10 {what}: {seen} of {count} messages handled").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn append<S: EventStore>(store: &S, from: u64, count: u64) -> Result<(), Error> {
    for n in from..from + count {
        let payload = serde_json::to_vec(&Ticked { n })?;
        let event = NewEvent::new("bench.relay_ticked", 1, payload, Default::default());
        store
            .append(Append::new(
                &format!("ticker-{}", n % 100),
                ExpectedVersion::Any,
                vec![event],
            ))
            .await?;
    }
    Ok(())
}

/// W10 on NATS JetStream (`EVENTSMITH_NATS_URL`), Redis Streams (`EVENTSMITH_REDIS_URL`) and
/// Kafka (`EVENTSMITH_KAFKA_BROKERS`, or a `tansu` of its own; skipped, saying so, without
/// either), from `backend` as the source.
pub(crate) async fn w10(settings: &Settings, backend: Backend) -> Result<Vec<Value>, Error> {
    let backlog = if settings.quick { 2_000 } else { 20_000 };
    let paced = if settings.quick { 300 } else { 2_000 };
    let mut lines = Vec::new();
    let kafka = KafkaBroker::start();
    if kafka.is_none() {
        eprintln!("W10: no Kafka broker (no `tansu`, no EVENTSMITH_KAFKA_BROKERS); Kafka skipped");
    }
    let brokers = kafka.as_ref().map(|k| k.brokers().to_owned());
    let rows = [
        ("nats", Consuming::ReadModel),
        ("nats", Consuming::Commands),
        ("redis", Consuming::ReadModel),
        ("kafka", Consuming::ReadModel),
    ];
    for (transport, consuming) in rows {
        if transport == "kafka" && brokers.is_none() {
            continue;
        }
        let mut per_s = Vec::new();
        let (mut p50, mut p99) = (Vec::new(), Vec::new());
        for _ in 0..settings.runs {
            let (rate, mut latency) = with_store!(backend, |store| {
                let unique = Uuid::now_v7().simple().to_string();
                if transport == "nats" {
                    let url = std::env::var("EVENTSMITH_NATS_URL")
                        .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
                    let stream = format!("BENCH_{unique}");
                    let nats = NatsTransport::connect(&url)
                        .await?
                        .subject_prefix(format!("bench{unique}."));
                    nats.ensure_stream(&stream, &[">"], Duration::from_secs(120))
                        .await?;
                    let subscription = nats
                        .subscribe(&stream, "bench", "ticks.>", Duration::from_secs(30))
                        .await?
                        .wait(Duration::from_millis(100));
                    let out =
                        run(store, nats.clone(), subscription, consuming, backlog, paced).await?;
                    nats.jetstream().delete_stream(&stream).await?;
                    out
                } else if transport == "kafka" {
                    let topic = format!("bench-{unique}");
                    let brokers = brokers.as_deref().unwrap_or_default();
                    let kafka = KafkaTransport::connect(brokers, topic, 4).await?;
                    // tansu holds a fetch for its whole max wait even when records arrive
                    // meanwhile (end to end was 2.5 times the wait at 100 ms), so the reader
                    // asks for the shortest the member allows.
                    let subscription = kafka
                        .subscribe("bench", "ticks.>")
                        .await?
                        .wait(Duration::from_millis(10));
                    run(store, kafka, subscription, consuming, backlog, paced).await?
                } else {
                    let url = std::env::var("EVENTSMITH_REDIS_URL")
                        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
                    let redis = RedisTransport::connect(&url, format!("bench:{unique}")).await?;
                    let subscription = redis
                        .subscribe("bench", "bench-1", "ticks.>", Duration::from_secs(30))
                        .await?
                        .wait(Duration::from_millis(100));
                    run(store, redis, subscription, consuming, backlog, paced).await?
                }
            });
            per_s.push(rate);
            latency.sort_unstable();
            p50.push(percentile(&latency, 50.0));
            p99.push(percentile(&latency, 99.0));
        }
        let fields = json!({
            "transport": transport,
            "consumer": match consuming {
                Consuming::ReadModel => "read_model",
                Consuming::Commands => "commands",
            },
            "events": backlog,
            "events_per_s": round2(median(&mut per_s)),
            "end_to_end_p50_us": round2(median(&mut p50)),
            "end_to_end_p99_us": round2(median(&mut p99)),
        });
        lines.push(line(
            "W10",
            backend,
            "relay+consumer",
            settings.runs,
            fields,
        ));
    }
    Ok(lines)
}

async fn run<S: EventStore, T: Transport + Clone, Sub: Subscription>(
    store: S,
    transport: T,
    subscription: Sub,
    consuming: Consuming,
    backlog: u64,
    paced: u64,
) -> Result<(f64, Vec<i64>), Error> {
    let dir = tempfile::tempdir()?;
    let consumer_store = SqliteStore::open(dir.path().join("consumer.db"))?;
    recorded();

    // Throughput: a stored backlog through the relay and the consumer.
    append(&store, 0, backlog).await?;
    let started = Instant::now();
    let relay = Relay::new(store.clone(), Ticks, transport)
        .batch_size(512)
        .start()
        .await?;
    let consumer = match consuming {
        Consuming::ReadModel => {
            Consumer::new(consumer_store, TickCounter, subscription)
                .batch_size(256)
                .start()
                .await?
        }
        Consuming::Commands => {
            Consumer::new(App::new(consumer_store)?, TickCommands, subscription)
                .batch_size(256)
                .start()
                .await?
        }
    };
    wait_recorded(usize::try_from(backlog)?, "backlog").await?;
    let rate = backlog as f64 / started.elapsed().as_secs_f64();
    recorded();

    // Latency: one event at a time, a millisecond apart.
    for n in backlog..backlog + paced {
        append(&store, n, 1).await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    wait_recorded(usize::try_from(paced)?, "paced").await?;
    let latency = recorded();
    consumer.stop().await.map_err(|e| e.to_string())?;
    relay.stop().await.map_err(|e| e.to_string())?;
    Ok((rate, latency))
}
