//! Executing commands through `App` on the in-memory store: routing, domain errors,
//! optimistic concurrency with retries, idempotency keys, panics, metadata and hostile ids.

use std::sync::Arc;

use eventsmith::event::NewEvent;
use eventsmith::store::{Append, EventLog, ExpectedVersion};
use eventsmith::{Aggregate, App, CommandContext, CommandError, InMemoryStore, StoreError, Uuid};
use eventsmith_test_bank::*;

fn app() -> App<InMemoryStore> {
    App::new(InMemoryStore::new()).unwrap()
}

#[tokio::test]
async fn commands_decide_append_and_evolve_state() {
    let app = app();
    let opened = app.execute(open("a")).await.unwrap();
    assert_eq!(opened.stream_id, "BankAccount-a");
    assert_eq!((opened.version, opened.position), (1, Some(1)));
    assert!(
        matches!(&opened.events[..], [BankAccountEvent::AccountOpened(e)] if e.owner == "owner of a")
    );

    let both = app
        .execute(DepositAndFlag {
            account: "a".into(),
            amount: 900,
        })
        .await
        .unwrap();
    assert_eq!((both.version, both.position), (3, Some(3)));
    assert_eq!(both.events.len(), 2);

    let withdrawn = app
        .execute(Withdraw {
            account: "a".into(),
            amount: 100,
        })
        .await
        .unwrap();
    assert_eq!(withdrawn.version, 4);
    let (state, version) = app.load::<BankAccount>("a").await.unwrap();
    assert_eq!((state.balance, version), (800, 4));
    assert_eq!(state.flags, ["large deposit of 900"]);

    let names: Vec<String> = app
        .store()
        .read_stream("BankAccount-a", 1, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| format!("{}@{}", e.event_type, e.schema_version))
        .collect();
    assert_eq!(
        names,
        [
            "AccountOpened@1",
            "MoneyDeposited@1",
            "bank.flagged@2",
            "MoneyWithdrawn@1"
        ]
    );
}

#[tokio::test]
async fn domain_errors_are_typed_and_append_nothing() {
    let app = app();
    let err = app.execute(deposit("nobody", 5)).await.unwrap_err();
    assert!(
        matches!(err, CommandError::Rejected(BankError::NotOpen)),
        "{err:?}"
    );
    assert!(!err.is_retriable());
    app.execute(open("a")).await.unwrap();
    let err = app
        .execute(Withdraw {
            account: "a".into(),
            amount: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.rejection(),
        Some(&BankError::InsufficientFunds {
            balance: 0,
            asked: 1
        })
    );
    assert_eq!(app.store().len(), 1);
}

#[tokio::test]
async fn a_decision_of_no_events_appends_nothing() {
    let app = app();
    app.execute(open("a")).await.unwrap();
    let zero = app
        .execute(Withdraw {
            account: "a".into(),
            amount: 0,
        })
        .await
        .unwrap();
    assert!(zero.events.is_empty());
    assert_eq!((zero.version, zero.position), (1, None));
    let audit = app
        .execute(Audit {
            account: "a".into(),
            request_id: None,
        })
        .await
        .unwrap();
    assert!(audit.events.is_empty());
    assert_eq!(app.store().len(), 1);
}

#[tokio::test]
async fn metadata_flows_from_the_command_context_to_its_events() {
    let app = app();
    let correlation = Uuid::now_v7();
    let ctx = CommandContext::new()
        .correlation_id(correlation)
        .actor("alice")
        .tenant("acme")
        .source("tests")
        .header("ip", "127.0.0.1");
    app.execute_with(open("a"), &ctx).await.unwrap();
    app.execute_with(
        DepositAndFlag {
            account: "a".into(),
            amount: 1,
        },
        &ctx,
    )
    .await
    .unwrap();
    app.execute(deposit("a", 1)).await.unwrap();
    let events = app.store().read_all(1, 10).await.unwrap().events;
    let m = &events[1].metadata;
    assert_eq!(m.correlation_id, Some(correlation));
    assert_eq!(m.actor.as_deref(), Some("alice"));
    assert_eq!(m.tenant.as_deref(), Some("acme"));
    assert_eq!(m.source.as_deref(), Some("tests"));
    assert_eq!(m.headers.get("ip").map(String::as_str), Some("127.0.0.1"));
    // One command: one cause, shared by its events; another command: another cause.
    assert_eq!(
        events[1].metadata.causation_id,
        events[2].metadata.causation_id
    );
    assert_ne!(
        events[0].metadata.causation_id,
        events[1].metadata.causation_id
    );
    // Without a correlation id, a command starts its own flow.
    let m = &events[3].metadata;
    assert_eq!(m.correlation_id, m.causation_id);
    assert!(m.actor.is_none());
    // Event ids are UUIDv7, in order.
    assert!(events.windows(2).all(|w| w[0].event_id < w[1].event_id));
    assert!(events.iter().all(|e| e.event_id.get_version_num() == 7));
}

#[tokio::test]
async fn a_panicking_handler_is_an_error_and_leaves_the_store_unchanged() {
    let app = app();
    app.execute(open("a")).await.unwrap();
    let err = app
        .execute(Explode {
            account: "a".into(),
        })
        .await
        .unwrap_err();
    match &err {
        CommandError::Panicked {
            command,
            stream,
            message,
            ..
        } => {
            assert_eq!(*command, "Explode");
            assert_eq!(stream, "BankAccount-a");
            assert!(message.contains("handler exploded for a"), "{message}");
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
    assert_eq!(app.store().len(), 1);
    // The aggregate still works afterwards.
    assert_eq!(app.execute(deposit("a", 1)).await.unwrap().version, 2);
}

#[tokio::test]
async fn a_panicking_apply_is_an_error_and_leaves_the_store_unchanged() {
    let store = InMemoryStore::new();
    let app = App::new(store.clone()).unwrap();
    app.execute(open("a")).await.unwrap();
    // A stored withdrawal bigger than the balance makes `withdrawn` panic on load.
    let e = NewEvent::new(
        "MoneyWithdrawn",
        1,
        br#"{"amount":5}"#.to_vec(),
        Arc::default(),
    );
    store
        .append(Append::new(
            "BankAccount-b",
            ExpectedVersion::NoStream,
            vec![e],
        ))
        .await
        .unwrap();
    let err = app.execute(deposit("b", 1)).await.unwrap_err();
    assert!(
        matches!(&err, CommandError::Panicked { during, message, .. } if during.contains("apply") && message.contains("underflow")),
        "{err:?}"
    );
    assert_eq!(store.len(), 2);
    let err = app.load::<BankAccount>("b").await.unwrap_err();
    assert!(err.to_string().contains("underflow"), "{err}");
}

#[tokio::test]
async fn malformed_and_unknown_stored_events_are_typed_errors() {
    let store = InMemoryStore::new();
    let app = App::new(store.clone()).unwrap();
    let opened = NewEvent::new(
        "AccountOpened",
        1,
        br#"{"owner":"x"}"#.to_vec(),
        Arc::default(),
    );
    let bad = NewEvent::new(
        "MoneyDeposited",
        1,
        br#"{"amount":"lots"}"#.to_vec(),
        Arc::default(),
    );
    store
        .append(Append::new(
            "BankAccount-m",
            ExpectedVersion::NoStream,
            vec![opened, bad],
        ))
        .await
        .unwrap();
    let err = app.execute(deposit("m", 1)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, CommandError::Decode(ref d) if d.version == 2 && d.stream == "BankAccount-m"),
        "{err:?}"
    );
    assert!(
        text.contains("MoneyDeposited") && text.contains("version 2"),
        "{text}"
    );

    let unknown = NewEvent::new("AccountRenamed", 1, b"{}".to_vec(), Arc::default());
    store
        .append(Append::new(
            "BankAccount-u",
            ExpectedVersion::NoStream,
            vec![unknown],
        ))
        .await
        .unwrap();
    let err = app.execute(deposit("u", 1)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown event name `AccountRenamed`"),
        "{err}"
    );

    let future = NewEvent::new(
        "MoneyDeposited",
        9,
        br#"{"amount":1}"#.to_vec(),
        Arc::default(),
    );
    store
        .append(Append::new(
            "BankAccount-v",
            ExpectedVersion::NoStream,
            vec![future],
        ))
        .await
        .unwrap();
    let err = app.execute(deposit("v", 1)).await.unwrap_err();
    assert!(err.to_string().contains("stored at version 9"), "{err}");
    assert_eq!(store.len(), 4, "nothing appended by failed commands");
}

#[tokio::test]
async fn hostile_aggregate_ids_round_trip_verbatim() {
    let app = app();
    let ids = [
        "it's",
        "\"q\"",
        "x'); DROP TABLE e; --",
        "ünï-流-🚀",
        "new\nline",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(["k".repeat(4096)]);
    for id in ids {
        let done = app.execute(open(&id)).await.unwrap();
        assert_eq!(done.stream_id, BankAccount::stream_id(&id));
        app.execute(deposit(&id, 3)).await.unwrap();
        let (state, version) = app.load::<BankAccount>(&id).await.unwrap();
        assert_eq!(
            (state.balance, version, state.owner),
            (3, 2, format!("owner of {id}"))
        );
        let read = app
            .store()
            .read_stream(&done.stream_id, 1, 10)
            .await
            .unwrap();
        assert_eq!(&*read[0].stream_id, format!("BankAccount-{id}"));
    }
}

#[tokio::test]
async fn store_errors_keep_their_type() {
    let app = app();
    let err = app
        .store()
        .append(Append::new("", ExpectedVersion::Any, Vec::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)));
}

/// The registry lists what the linked crates registered: here, among the other modules'
/// test domains, the bank crate's events and aggregate.
#[test]
fn the_registry_lists_the_linked_events_and_aggregates() {
    let registry = eventsmith::registry::Registry::from_inventory().unwrap();
    let bank = |rust_type: &str| rust_type.starts_with("eventsmith_test_bank::");
    let events: Vec<(&str, u32)> = registry
        .events()
        .iter()
        .filter(|e| bank(e.rust_type))
        .map(|e| (e.name, e.version))
        .collect();
    assert_eq!(
        events,
        [
            ("AccountOpened", 1),
            ("MoneyDeposited", 1),
            ("MoneyWithdrawn", 1),
            ("bank.flagged", 2)
        ]
    );
    let aggregate = registry
        .aggregates()
        .iter()
        .find(|a| bank(a.rust_type))
        .expect("the bank's aggregate is registered");
    assert_eq!(aggregate.name, "BankAccount");
    assert_eq!(aggregate.rust_type, "eventsmith_test_bank::BankAccount");
    assert_eq!(
        aggregate.events,
        [
            "AccountOpened",
            "MoneyDeposited",
            "MoneyWithdrawn",
            "bank.flagged"
        ]
    );
    assert_eq!(
        aggregate.commands,
        [
            "OpenAccount",
            "Deposit",
            "Withdraw",
            "DepositAndFlag",
            "Audit",
            "Explode"
        ]
    );
}
