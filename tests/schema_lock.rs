//! The schema lock of eventsmith's own example: the bank events' stored shapes must match
//! `examples/events.lock`. This is the test a user writes in their own crate.

#[allow(dead_code, reason = "only the event types' shapes are checked here")]
#[path = "../examples/bank/domain.rs"]
mod bank;

#[test]
fn the_bank_events_match_the_lock() {
    eventsmith::testing::SchemaLock::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/events.lock"
    ))
    .check();
}
