//! Executing commands through `App` on the in-memory store: routing, domain errors,
//! optimistic concurrency with retries, idempotency keys, panics, metadata and hostile ids.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use eventsmith::{
    Aggregate, App, CommandContext, CommandError, EventStore, ExpectedVersion, InMemoryStore,
    NewEvent, StoreError, Uuid,
};

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
            key: None,
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
    let events = app.store().read_all(1, 10).await.unwrap();
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
async fn a_repeated_idempotency_key_returns_the_first_outcome_and_appends_nothing() {
    let app = app();
    app.execute(open("a")).await.unwrap();
    let cmd = Deposit {
        key: Some("req-1".into()),
        ..deposit("a", 10)
    };
    let first = app.execute(cmd.clone()).await.unwrap();
    assert!(!first.replayed);
    app.execute(deposit("a", 5)).await.unwrap();
    let again = app.execute(cmd.clone()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.version, again.position),
        (first.version, first.position)
    );
    assert!(matches!(&again.events[..], [BankAccountEvent::MoneyDeposited(e)] if e.amount == 10));
    // The same key on another account is another request.
    app.execute(open("b")).await.unwrap();
    let other = app
        .execute(Deposit {
            account: "b".into(),
            ..cmd
        })
        .await
        .unwrap();
    assert!(!other.replayed);
    let (a, _) = app.load::<BankAccount>("a").await.unwrap();
    assert_eq!(a.balance, 15);
    // A key whose decision appended nothing is recorded too.
    let audit = Audit {
        account: "a".into(),
        key: Some("audit-1".into()),
    };
    assert!(!app.execute(audit.clone()).await.unwrap().replayed);
    assert!(app.execute(audit).await.unwrap().replayed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_repeats_of_one_key_append_once() {
    let store = InMemoryStore::new();
    let apps: Vec<_> = (0..4).map(|_| App::new(store.clone()).unwrap()).collect();
    apps[0].execute(open("a")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let app = apps[i % 4].clone();
        tasks.push(tokio::spawn(async move {
            app.execute(Deposit {
                key: Some("once".into()),
                ..deposit("a", 7)
            })
            .await
            .unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        let done = t.await.unwrap();
        assert_eq!(done.version, 2);
        fresh += usize::from(!done.replayed);
    }
    assert_eq!(fresh, 1, "exactly one execution appended");
    assert_eq!(store.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conflicts_between_processes_are_retried_and_no_deposit_is_lost() {
    // Separate apps share a store but not a cache: like separate processes.
    let store = InMemoryStore::new();
    let apps: Vec<_> = (0..8)
        .map(|_| {
            App::builder(store.clone())
                .max_attempts(100)
                .build()
                .unwrap()
        })
        .collect();
    apps[0].execute(open("hot")).await.unwrap();
    let mut tasks = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..25 {
                app.execute(deposit("hot", (i * 100 + j) as u64))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let expected: u64 = (0..8)
        .flat_map(|i| (0..25).map(move |j| (i * 100 + j) as u64))
        .sum();
    let (state, version) = apps[3].load::<BankAccount>("hot").await.unwrap();
    assert_eq!(state.balance, expected);
    assert_eq!(version, 201);
}

#[tokio::test]
async fn a_conflict_that_outlasts_every_attempt_is_a_retriable_error() {
    let store = InMemoryStore::new();
    let app = App::builder(store.clone()).max_attempts(3).build().unwrap();
    app.execute(open("a")).await.unwrap();
    // Another writer appends behind the app's back before each of its attempts: the app
    // cannot see it coming, since its cached state is at version 1.
    struct Interferer(InMemoryStore);
    impl Interferer {
        async fn strike(&self) {
            let v = self.0.stream_version("BankAccount-a").await.unwrap();
            let body = br#"{"amount":1}"#.to_vec();
            let e = NewEvent::new("MoneyDeposited", 1, body, Arc::default());
            self.0
                .append("BankAccount-a", ExpectedVersion::Exact(v), vec![e], None)
                .await
                .unwrap();
        }
    }
    let interferer = Interferer(store.clone());
    interferer.strike().await;
    // The first attempt conflicts, the reload sees version 2, and the retry succeeds.
    let done = app.execute(deposit("a", 5)).await.unwrap();
    assert_eq!((done.version, done.attempts), (3, 2));

    // With a store whose appends always conflict the app gives up after max_attempts.
    let err = app_always_conflicting().await;
    match err {
        CommandError::Conflict {
            attempts,
            ref stream,
            ..
        } => {
            assert_eq!(attempts, 3);
            assert_eq!(stream, "BankAccount-x");
        }
        other => panic!("expected a conflict error, got {other:?}"),
    }
    assert!(err.is_retriable());
}

/// An app over a store that a concurrent writer always beats.
async fn app_always_conflicting() -> CommandError<BankError> {
    let store = InMemoryStore::new();
    let app = App::builder(store.clone())
        .max_attempts(3)
        .cache_capacity(0)
        .build()
        .unwrap();
    app.execute(open("x")).await.unwrap();
    // A spinning writer keeps appending to the stream while the app decides.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let e = NewEvent::new(
                    "MoneyDeposited",
                    1,
                    br#"{"amount":1}"#.to_vec(),
                    Arc::default(),
                );
                store
                    .append("BankAccount-x", ExpectedVersion::Any, vec![e], None)
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    // The async handler yields between load and append, so the writer always gets in.
    let mut result = None;
    for _ in 0..50 {
        match app
            .execute(DepositAndFlag {
                account: "x".into(),
                amount: 1,
            })
            .await
        {
            Err(e) => {
                result = Some(e);
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    result.expect("the writer beat the app through three attempts at least once")
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
        .append("BankAccount-b", ExpectedVersion::NoStream, vec![e], None)
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
        .append(
            "BankAccount-m",
            ExpectedVersion::NoStream,
            vec![opened, bad],
            None,
        )
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
        .append(
            "BankAccount-u",
            ExpectedVersion::NoStream,
            vec![unknown],
            None,
        )
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
        .append(
            "BankAccount-v",
            ExpectedVersion::NoStream,
            vec![future],
            None,
        )
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
async fn without_a_cache_every_command_reloads_and_still_decides_correctly() {
    let app = App::builder(InMemoryStore::new())
        .cache_capacity(0)
        .build()
        .unwrap();
    app.execute(open("a")).await.unwrap();
    for _ in 0..10 {
        app.execute(deposit("a", 2)).await.unwrap();
    }
    let err = app
        .execute(Withdraw {
            account: "a".into(),
            amount: 21,
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.rejection(),
        Some(&BankError::InsufficientFunds {
            balance: 20,
            asked: 21
        })
    );
}

#[tokio::test]
async fn a_small_cache_evicts_and_reloads_correctly() {
    let app = App::builder(InMemoryStore::new())
        .cache_capacity(4)
        .read_batch(3)
        .build()
        .unwrap();
    for i in 0..20 {
        app.execute(open(&format!("a{i}"))).await.unwrap();
    }
    for round in 0..3 {
        for i in 0..20 {
            app.execute(deposit(&format!("a{i}"), 1 + round))
                .await
                .unwrap();
        }
    }
    for i in 0..20 {
        let err = app
            .execute(Withdraw {
                account: format!("a{i}"),
                amount: 7,
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.rejection(),
            Some(&BankError::InsufficientFunds {
                balance: 6,
                asked: 7
            })
        );
    }
}

#[tokio::test]
async fn store_errors_keep_their_type() {
    let app = app();
    let err = app
        .store()
        .append("", ExpectedVersion::Any, Vec::new(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)));
}

#[test]
fn the_registry_lists_the_linked_events_and_aggregates() {
    let registry = eventsmith::Registry::from_inventory().unwrap();
    let events: Vec<(&str, u32)> = registry
        .events()
        .iter()
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
    let aggregate = &registry.aggregates()[0];
    assert_eq!(aggregate.name, "BankAccount");
    assert_eq!(aggregate.rust_type, "command_bus::common::BankAccount");
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
