//! The integration tests, one binary: a module per subject, and the helpers they share.
//!
//! One binary links the store backends once instead of once per subject. Its registry (every
//! event, aggregate and projection linked in, which `App::new` validates) holds the types of
//! all the modules, so each test domain stores under names no other module uses. Two tests
//! stay binaries of their own: `tests/ui.rs` (trybuild, compiling the cases under
//! `tests/ui`) and `tests/registry.rs` (two crates clashing on purpose, which would fail every
//! `App::new` here). Run one module with `cargo test --test it several_processes::`.

use std::fs;
use std::path::Path;

mod services;
mod support;

mod aggregate_loading;
mod command_bus;
mod command_concurrency;
mod command_pipeline;
mod crash;
mod given_when_then;
mod idempotency_retention;
mod layout;
pub mod lints;
mod outbox_commands;
mod outbox_consumer;
mod outbox_contract;
mod outbox_faults;
mod outbox_kafka;
mod outbox_layers;
mod outbox_nats;
mod outbox_pg_inbox;
mod outbox_redis;
mod outbox_redis_faults;
mod outbox_relay;
mod pg_read_model;
mod pg_tls;
mod postgres_faults;
mod projection_runner;
mod query_bus;
mod saga_crash;
mod saga_stores;
mod sagas;
mod schema_lock_rules;
mod several_processes;
mod snapshots;
mod sql_read_model;
mod store_any;
mod store_memory;
mod store_postgres;
mod store_sqlite;
mod versioning;

/// Every test domain of this binary stores under names of its own: the registry that
/// `App::new` builds from everything linked in has no clash.
#[test]
fn the_test_domains_do_not_clash() {
    if let Err(e) = eventsmith::registry::Registry::from_inventory() {
        panic!("{e}");
    }
}

/// The integration tests stay one binary. Cargo builds every `tests/*.rs` and `tests/*/main.rs`
/// as a binary of its own, linking the store backends again: a new subject is a module here.
#[test]
fn the_integration_tests_are_one_binary_and_two_apart() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut binaries: Vec<String> = fs::read_dir(&tests)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension().is_some_and(|e| e == "rs") || path.join("main.rs").is_file()
        })
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    binaries.sort();
    assert_eq!(binaries, ["it", "registry.rs", "ui.rs"]);
}
