//! Commands under concurrency on the in-memory store: idempotency keys under races, version
//! conflicts between processes retried with backoff, and the aggregate cache.

use std::sync::Arc;
use std::time::Duration;

use eventsmith::event::NewEvent;
use eventsmith::store::{Append, EventLog, ExpectedVersion};
use eventsmith::{App, CommandError, InMemoryStore};
use eventsmith_test_bank::*;

fn app() -> App<InMemoryStore> {
    App::new(InMemoryStore::new()).unwrap()
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_outcome_and_appends_nothing() {
    let app = app();
    app.execute(open("a")).await.unwrap();
    let cmd = Deposit {
        request_id: Some("req-1".into()),
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
        request_id: Some("audit-1".into()),
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
                request_id: Some("once".into()),
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
                .append(Append::new(
                    "BankAccount-a",
                    ExpectedVersion::Exact(v),
                    vec![e],
                ))
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
                    .append(Append::new("BankAccount-x", ExpectedVersion::Any, vec![e]))
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
