//! W1 (command throughput) and W2 (rehydration) on the in-memory store.

use std::time::{Duration, Instant};

use eventsmith::{App, EventStore, ExpectedVersion, InMemoryStore, NewEvent};
use serde_json::{Value, json};

use crate::Settings;
use crate::domain::{BankAccount, Deposit, OpenAccount, account};
use crate::stats::{median, percentile_us, round2};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One measured run of W1.
struct W1Run {
    commands_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

/// W1: 1,000 accounts × 100 deposits through the command bus, from one task and from 64
/// tasks that each own distinct accounts.
pub(crate) async fn w1(settings: &Settings) -> Result<Vec<Value>, Error> {
    let (accounts, deposits) = if settings.quick {
        (100, 100)
    } else {
        (1_000, 100)
    };
    let mut lines = Vec::new();
    for tasks in [1usize, 64] {
        let mut runs = Vec::new();
        for _ in 0..settings.runs {
            runs.push(w1_run(accounts, deposits, tasks).await?);
        }
        let mode = if tasks == 1 {
            "seq".to_owned()
        } else {
            format!("concurrent{tasks}")
        };
        lines.push(json!({
            "workload": "W1",
            "backend": "memory",
            "mode": mode,
            "commands": accounts * deposits,
            "runs": settings.runs,
            "commands_per_s": median(&mut runs.iter().map(|r| r.commands_per_s).collect::<Vec<_>>()).round(),
            "p50_us": round2(median(&mut runs.iter().map(|r| r.p50_us).collect::<Vec<_>>())),
            "p99_us": round2(median(&mut runs.iter().map(|r| r.p99_us).collect::<Vec<_>>())),
        }));
    }
    Ok(lines)
}

async fn w1_run(accounts: usize, deposits: usize, tasks: usize) -> Result<W1Run, Error> {
    let app = App::new(InMemoryStore::new())?;
    for i in 0..accounts {
        app.execute(OpenAccount {
            account: account(i),
        })
        .await?;
    }
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let app = app.clone();
        handles.push(tokio::spawn(async move {
            let mine: Vec<String> = (task..accounts).step_by(tasks).map(account).collect();
            let mut latencies = Vec::with_capacity(mine.len() * deposits);
            for round in 0..deposits {
                for id in &mine {
                    let t = Instant::now();
                    app.execute(Deposit {
                        account: id.clone(),
                        amount: round as u64 + 1,
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                    latencies.push(t.elapsed());
                }
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(accounts * deposits);
    for handle in handles {
        latencies.extend(handle.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    // Check the work was real: every deposit landed.
    let (state, version) = app.load::<BankAccount>(&account(0)).await?;
    let expected: u64 = (1..=deposits as u64).sum();
    if state.balance != expected || version != deposits as u64 + 1 {
        return Err(format!(
            "W1 lost deposits: balance {} at version {version}",
            state.balance
        )
        .into());
    }
    Ok(W1Run {
        commands_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_us: percentile_us(&latencies, 50.0),
        p99_us: percentile_us(&latencies, 99.0),
    })
}

/// W2: load one account that has 10,000 events.
pub(crate) async fn w2(settings: &Settings) -> Result<Vec<Value>, Error> {
    let events = if settings.quick { 1_000 } else { 10_000 };
    let store = InMemoryStore::new();
    let app = App::new(store.clone())?;
    let stream = <BankAccount as eventsmith::Aggregate>::stream_id("big");
    let mut batch = vec![NewEvent::new(
        "AccountOpened",
        1,
        br#"{"owner":"big"}"#.to_vec(),
        Default::default(),
    )];
    batch.extend((1..events).map(|_| {
        NewEvent::new(
            "MoneyDeposited",
            1,
            br#"{"amount":1}"#.to_vec(),
            Default::default(),
        )
    }));
    store
        .append(&stream, ExpectedVersion::NoStream, batch, None)
        .await?;
    let mut load_ms = Vec::new();
    // A few warm-up loads, then the measured ones.
    for round in 0..(settings.runs * 5 + 3) {
        let t = Instant::now();
        let (state, version) = app.load::<BankAccount>("big").await?;
        let elapsed = t.elapsed();
        if state.balance != events as u64 - 1 || version != events as u64 {
            return Err("W2 loaded the wrong state".into());
        }
        if round >= 3 {
            load_ms.push(elapsed.as_secs_f64() * 1e3);
        }
    }
    let ms = median(&mut load_ms);
    Ok(vec![json!({
        "workload": "W2",
        "backend": "memory",
        "mode": "seq",
        "events": events,
        "snapshots": false,
        "runs": load_ms.len(),
        "load_ms": (ms * 1e3).round() / 1e3,
        "events_per_s": (events as f64 / (ms / 1e3)).round(),
    })])
}
