//! Test support kept beside the processes the crash tests kill (`tests/support`), which
//! include the read models too.

#[path = "../support/harness.rs"]
pub(crate) mod harness;
#[path = "../support/kafka_broker.rs"]
pub(crate) mod kafka_broker;
#[path = "../support/ledger_pg.rs"]
pub(crate) mod ledger_pg;
#[path = "../support/ledger_table.rs"]
pub(crate) mod ledger_table;
#[path = "../support/outbox_received.rs"]
pub(crate) mod outbox_received;
#[path = "../support/outbox_tally.rs"]
pub(crate) mod outbox_tally;
#[path = "../support/sql_queries.rs"]
pub(crate) mod sql_queries;

/// The orders domain, where `outbox_received` looks for it (beside it, as in the consumer
/// process); mounted once, by the relay tests.
pub(crate) use crate::outbox_relay::domain as outbox_orders;
