//! Finding the services the integration tests need. A missing service makes a test report
//! that it skipped, loudly, unless `EVENTSMITH_REQUIRE_SERVICES=1` (set by CI) turns that
//! into a failure.

use std::time::Duration;

use eventsmith::outbox::RedisTransport;
use eventsmith::store::PgOptions;
use eventsmith::{PgStore, Uuid};

use crate::support::kafka_broker::KafkaBroker;

pub(crate) fn pg_url() -> String {
    std::env::var("EVENTSMITH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A plain connection to the test server, beside the store's pool, for what a test does
/// behind the store's back (damaging rows, holding transactions open, stopping backends).
pub(crate) async fn raw_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

fn required() -> bool {
    std::env::var("EVENTSMITH_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A schema name of its own for one test, so tests run in parallel and re-run without cleanup.
/// PostgreSQL cuts names at 63 bytes, so only the start of the test's name goes in, before
/// the unique part.
pub(crate) fn unique_schema(test: &str) -> String {
    let start = test.get(..24).unwrap_or(test);
    format!("es_{start}_{}", Uuid::now_v7().simple())
}

/// A store in a fresh schema, or `None` (after saying so) when PostgreSQL is unreachable.
pub(crate) async fn pg_store(test: &str) -> Option<PgStore> {
    // Tests run side by side and some keep several stores open: a small pool each keeps
    // them under the server's connection limit.
    let options = PgOptions::default()
        .schema(unique_schema(test))
        .pool_size(6)
        .poll_interval(Duration::from_millis(50));
    pg_store_with(test, options).await
}

/// A second handle on the schema of `store` (as another process would have), with the
/// settings of [`pg_store`].
pub(crate) async fn pg_second_handle(store: &PgStore, test: &str) -> PgStore {
    let options = PgOptions::default()
        .schema(store.schema())
        .pool_size(6)
        .poll_interval(Duration::from_millis(50));
    pg_store_with(test, options)
        .await
        .expect("PostgreSQL answered the first handle")
}

pub(crate) async fn pg_store_with(test: &str, options: PgOptions) -> Option<PgStore> {
    let url = pg_url();
    match PgStore::connect_with(&url, options).await {
        Ok(store) => Some(store),
        Err(e) if required() => {
            panic!(
                "{test}: PostgreSQL at {url} is required (EVENTSMITH_REQUIRE_SERVICES=1) but failed: {e}"
            )
        }
        Err(e) => {
            eprintln!(
                "SKIPPED {test}: PostgreSQL at {url} is unreachable ({e}); set EVENTSMITH_PG_URL"
            );
            None
        }
    }
}

pub(crate) fn nats_url() -> String {
    std::env::var("EVENTSMITH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A client of the test NATS server, or `None` (after saying so) when it is unreachable.
pub(crate) async fn nats_client(test: &str) -> Option<async_nats::Client> {
    let url = nats_url();
    match async_nats::connect(&url).await {
        Ok(client) => Some(client),
        Err(e) if required() => {
            panic!(
                "{test}: NATS at {url} is required (EVENTSMITH_REQUIRE_SERVICES=1) but failed: {e}"
            )
        }
        Err(e) => {
            eprintln!(
                "SKIPPED {test}: NATS at {url} is unreachable ({e}); set EVENTSMITH_NATS_URL"
            );
            None
        }
    }
}

pub(crate) fn redis_url() -> String {
    std::env::var("EVENTSMITH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A Redis transport on the stream `key`, or `None` (after saying so) when Redis is
/// unreachable.
pub(crate) async fn redis_transport(test: &str, key: &str) -> Option<RedisTransport> {
    let url = redis_url();
    match RedisTransport::connect(&url, key).await {
        Ok(redis) => Some(redis),
        Err(e) if required() => {
            panic!(
                "{test}: Redis at {url} is required (EVENTSMITH_REQUIRE_SERVICES=1) but failed: {e}"
            )
        }
        Err(e) => {
            eprintln!(
                "SKIPPED {test}: Redis at {url} is unreachable ({e}); set EVENTSMITH_REDIS_URL"
            );
            None
        }
    }
}

/// A Kafka broker for `test` (see `support::kafka_broker`), or `None` (after saying so) when
/// there is none.
pub(crate) fn kafka_broker(test: &str) -> Option<KafkaBroker> {
    let broker = KafkaBroker::start();
    if broker.is_none() {
        assert!(
            !required(),
            "{test}: a Kafka broker is required (EVENTSMITH_REQUIRE_SERVICES=1) but no `tansu` \
             is installed and EVENTSMITH_KAFKA_BROKERS is unset"
        );
        eprintln!(
            "SKIPPED {test}: no Kafka broker (install one with `cargo install tansu`, or set \
             EVENTSMITH_KAFKA_BROKERS)"
        );
    }
    broker
}
