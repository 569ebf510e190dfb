//! Connection loss: the server terminates the store's connections while commands run.
//! Commands fail with a retriable error during the outage and succeed after it; retried with
//! their idempotency keys, none is applied twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use eventsmith::store::{EventLog, PgOptions};
use eventsmith::{App, CommandError};
use eventsmith_test_bank::*;

use crate::services;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminated_connections_are_retriable_and_keys_prevent_duplicates() {
    let app_name = services::unique_schema("term");
    let url = format!("{}?application_name={app_name}", services::pg_url());
    let options = PgOptions::default()
        .schema(app_name.clone())
        .poll_interval(Duration::from_millis(50));
    let store = match eventsmith::PgStore::connect_with(&url, options).await {
        Ok(store) => store,
        Err(e) => {
            // The same rule as every service test: loud skip, or failure when required.
            if std::env::var("EVENTSMITH_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
                panic!("PostgreSQL is required: {e}");
            }
            eprintln!("SKIPPED terminated_connections: PostgreSQL unreachable ({e})");
            return;
        }
    };
    let app = App::new(store.clone()).unwrap();
    app.execute(open("acc")).await.unwrap();

    let admin = services::raw_client().await;
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let stop = Arc::clone(&stop);
        let app_name = app_name.clone();
        tokio::spawn(async move {
            let mut terminated = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let rows = admin
                    .query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                        &[&app_name],
                    )
                    .await
                    .unwrap();
                terminated += rows.len() as u64;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            terminated
        })
    };

    let retriable_failures = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let (app, failures) = (app.clone(), Arc::clone(&retriable_failures));
        tasks.push(tokio::spawn(async move {
            for i in 0..25u64 {
                let cmd = Deposit {
                    request_id: Some(format!("t{t}-{i}")),
                    ..deposit("acc", t * 100 + i)
                };
                let mut tries = 0;
                loop {
                    tries += 1;
                    match app.execute(cmd.clone()).await {
                        Ok(_) => break,
                        Err(e) if e.is_retriable() && tries < 200 => {
                            assert!(
                                matches!(e, CommandError::Store(_) | CommandError::Conflict { .. }),
                                "{e:?}"
                            );
                            failures.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(e) => {
                            panic!("deposit t{t}-{i} failed for good after {tries} tries: {e}")
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let terminated = killer.await.unwrap();
    assert!(terminated > 0, "the server terminated connections");
    assert!(
        retriable_failures.load(Ordering::Relaxed) > 0,
        "some commands met the outage"
    );

    // Every deposit exactly once.
    let fresh = App::new(store.clone()).unwrap();
    let (state, version) = fresh.load::<BankAccount>("acc").await.unwrap();
    let expected: u64 = (0..8u64)
        .flat_map(|t| (0..25u64).map(move |i| t * 100 + i))
        .sum();
    assert_eq!(state.balance, expected);
    assert_eq!(version, 1 + 8 * 25);
    // And the store still works, subscriptions included.
    let mut sub = store.subscribe(1);
    assert!(
        tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .unwrap()
            .is_ok()
    );
    store.drop_schema().await.unwrap();
}
