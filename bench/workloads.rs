//! W1–W4 and W6: commands through the bus, rehydration, contention and raw appends, on any
//! store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsmith::event::{NewEvent, Timestamp};
use eventsmith::store::{Append, ExpectedVersion, Snapshot};
use eventsmith::{Aggregate, App, CommandError, EventStore};
use serde_json::{Value, json};

use crate::Settings;
use crate::backends::{Backend, Error, with_store};
use crate::domain::{BankAccount, Deposit, OpenAccount, SnapshottedAccount, account};
use crate::stats::{median, percentile_us, round2};

/// One measured run of a command workload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommandRun {
    commands_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    conflicts: u64,
}

/// The median of each figure over the runs, as JSON fields.
fn summarize(runs: &[CommandRun]) -> Value {
    let field = |f: fn(&CommandRun) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    json!({
        "commands_per_s": field(|r| r.commands_per_s).round(),
        "p50_us": round2(field(|r| r.p50_us)),
        "p99_us": round2(field(|r| r.p99_us)),
        "conflicts_retried": field(|r| r.conflicts as f64),
    })
}

pub(crate) fn line(
    workload: &str,
    backend: Backend,
    mode: &str,
    runs: usize,
    mut fields: Value,
) -> Value {
    let mut out = json!({
        "workload": workload,
        "backend": backend.name(),
        "mode": mode,
        "runs": runs,
        "durability": backend.durability(),
    });
    if let (Some(out), Some(fields)) = (out.as_object_mut(), fields.as_object_mut()) {
        out.append(fields);
    }
    out
}

fn mode(tasks: usize) -> String {
    if tasks == 1 {
        "seq".to_owned()
    } else {
        format!("concurrent{tasks}")
    }
}

/// Opens `accounts` accounts, then `tasks` tasks deposit `deposits` times into each of their
/// own accounts; every command's latency is recorded. Checks that no deposit was lost.
async fn deposits<S: EventStore>(
    store: S,
    accounts: usize,
    deposits: usize,
    tasks: usize,
) -> Result<CommandRun, Error> {
    let app = App::new(store)?;
    for i in 0..accounts {
        app.execute(OpenAccount {
            account: account(i),
            owner: account(i),
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
            let mut conflicts = 0u64;
            for round in 0..deposits {
                for id in &mine {
                    let t = Instant::now();
                    let done = app
                        .execute(Deposit {
                            account: id.clone(),
                            amount: round as u64 + 1,
                            request_id: None,
                        })
                        .await
                        .map_err(|e| e.to_string())?;
                    latencies.push(t.elapsed());
                    conflicts += u64::from(done.attempts - 1);
                }
            }
            Ok::<_, String>((latencies, conflicts))
        }));
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(accounts * deposits);
    let mut conflicts = 0;
    for handle in handles {
        let (mine, c) = handle.await??;
        latencies.extend(mine);
        conflicts += c;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let (state, version) = app.load::<BankAccount>(&account(accounts - 1)).await?;
    let expected: u64 = (1..=deposits as u64).sum();
    if state.balance != expected || version != deposits as u64 + 1 {
        return Err(format!(
            "lost deposits: balance {} at version {version}",
            state.balance
        )
        .into());
    }
    Ok(CommandRun {
        commands_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_us: percentile_us(&latencies, 50.0),
        p99_us: percentile_us(&latencies, 99.0),
        conflicts,
    })
}

/// W1: 1,000 accounts × 100 deposits, from one task and from 64.
pub(crate) async fn w1(settings: &Settings, backend: Backend) -> Result<Vec<Value>, Error> {
    command_workload("W1", settings, backend, (1_000, 100), &[1, 64]).await
}

/// W3: 200 accounts × 50 deposits, from one task and from 16.
pub(crate) async fn w3(settings: &Settings, backend: Backend) -> Result<Vec<Value>, Error> {
    command_workload("W3", settings, backend, (200, 50), &[1, 16]).await
}

async fn command_workload(
    name: &str,
    settings: &Settings,
    backend: Backend,
    (accounts, each): (usize, usize),
    task_counts: &[usize],
) -> Result<Vec<Value>, Error> {
    let accounts = if settings.quick {
        accounts / 10
    } else {
        accounts
    };
    let mut lines = Vec::new();
    for &tasks in task_counts {
        let mut runs = Vec::new();
        for _ in 0..settings.runs {
            let run = with_store!(backend, |store| deposits(store, accounts, each, tasks)
                .await?);
            runs.push(run);
        }
        let mut fields = summarize(&runs);
        fields["commands"] = json!(accounts * each);
        lines.push(line(name, backend, &mode(tasks), settings.runs, fields));
    }
    Ok(lines)
}

/// W4: 16 tasks deposit into one account, 1,000 deposits in all, with the default retry
/// settings. Once through one app (its per-aggregate lock orders them, no conflict), once
/// through `--apps` apps (16 by default) sharing the store as that many processes would
/// (their appends conflict and are retried; the losers take turns). Every command must
/// succeed and the final balance must be exact.
pub(crate) async fn w4(settings: &Settings, backend: Backend) -> Result<Vec<Value>, Error> {
    let total = if settings.quick { 160 } else { 1_000 };
    let mut lines = Vec::new();
    for apps in [1usize, settings.apps] {
        let mut runs = Vec::new();
        let mut exact = true;
        let mut succeeded = Vec::new();
        for _ in 0..settings.runs {
            let (run, ok, done) =
                with_store!(backend, |store| contended(store, apps, total).await?);
            runs.push(run);
            exact &= ok;
            succeeded.push(done as f64);
        }
        let mut fields = summarize(&runs);
        fields["commands"] = json!(total);
        fields["succeeded"] = json!(succeeded.iter().copied().fold(f64::INFINITY, f64::min));
        fields["balance_exact"] = json!(exact);
        let mode = if apps == 1 {
            "concurrent16".to_owned()
        } else {
            format!("apps{apps}")
        };
        lines.push(line("W4", backend, &mode, settings.runs, fields));
    }
    Ok(lines)
}

/// One W4 run: its figures, whether the balance is exact, and how many commands succeeded
/// (the fewest of any run is reported).
async fn contended<S: EventStore>(
    store: S,
    apps: usize,
    total: usize,
) -> Result<(CommandRun, bool, usize), Error> {
    const TASKS: usize = 16;
    let apps: Vec<App<S>> = (0..apps)
        .map(|_| App::new(store.clone()))
        .collect::<Result<_, _>>()?;
    apps[0]
        .execute(OpenAccount {
            account: "hot".into(),
            owner: "hot".into(),
        })
        .await?;
    let started = Instant::now();
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let app = apps[task % apps.len()].clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut conflicts = 0u64;
            let mut expected = 0u64;
            let mut succeeded = 0usize;
            for i in (task..total).step_by(TASKS) {
                let t = Instant::now();
                let done = app
                    .execute(Deposit {
                        account: "hot".into(),
                        amount: i as u64 + 1,
                        request_id: None,
                    })
                    .await;
                latencies.push(t.elapsed());
                match done {
                    Ok(done) => {
                        conflicts += u64::from(done.attempts - 1);
                        expected += i as u64 + 1;
                        succeeded += 1;
                    }
                    Err(CommandError::Conflict { attempts, .. }) => {
                        conflicts += u64::from(attempts);
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok::<_, String>((latencies, conflicts, expected, succeeded))
        }));
    }
    let mut latencies = Vec::new();
    let mut conflicts = 0;
    let mut expected = 0;
    let mut succeeded = 0;
    for handle in handles {
        let (mine, c, sum, ok) = handle.await??;
        latencies.extend(mine);
        conflicts += c;
        expected += sum;
        succeeded += ok;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let (state, _) = apps[0].load::<BankAccount>("hot").await?;
    Ok((
        CommandRun {
            commands_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50_us: percentile_us(&latencies, 50.0),
            p99_us: percentile_us(&latencies, 99.0),
            conflicts,
        },
        // A command that failed appended nothing: the balance is the sum of those that did.
        state.balance == expected,
        succeeded,
    ))
}

fn deposit_events(count: usize) -> Vec<NewEvent> {
    let mut events = vec![NewEvent::new(
        "AccountOpened",
        1,
        br#"{"owner":"big"}"#.to_vec(),
        Arc::default(),
    )];
    events.extend((1..count).map(|_| {
        NewEvent::new(
            "MoneyDeposited",
            1,
            br#"{"amount":1}"#.to_vec(),
            Arc::default(),
        )
    }));
    events
}

/// W2: load one account that has 10,000 events, without and with a snapshot.
pub(crate) async fn w2(settings: &Settings, backend: Backend) -> Result<Vec<Value>, Error> {
    let events = if settings.quick { 1_000 } else { 10_000 };
    with_store!(backend, |store| rehydrate(store, settings, backend, events)
        .await)
}

async fn rehydrate<S: EventStore>(
    store: S,
    settings: &Settings,
    backend: Backend,
    events: usize,
) -> Result<Vec<Value>, Error> {
    let app = App::new(store.clone())?;
    let mut lines = Vec::new();
    for snapshots in [false, true] {
        let (id, stream) = if snapshots {
            ("big-snap", SnapshottedAccount::stream_id("big-snap"))
        } else {
            ("big", BankAccount::stream_id("big"))
        };
        for chunk in deposit_events(events).chunks(1_000) {
            store
                .append(Append::new(&stream, ExpectedVersion::Any, chunk.to_vec()))
                .await?;
        }
        if snapshots {
            let state = format!(r#"{{"open":true,"balance":{}}}"#, events - 1);
            let snapshot = Snapshot {
                stream_version: events as u64,
                snapshot_version: 1,
                payload: state.into_bytes().into(),
                taken_at: Timestamp::now(),
            };
            store.save_snapshot(&stream, snapshot).await?;
        }
        let mut load_ms = Vec::new();
        for round in 0..(settings.runs * 5 + 3) {
            let t = Instant::now();
            let (balance, version) = if snapshots {
                let (s, v) = app.load::<SnapshottedAccount>(id).await?;
                (s.balance, v)
            } else {
                let (s, v) = app.load::<BankAccount>(id).await?;
                (s.balance, v)
            };
            let elapsed = t.elapsed();
            if balance != events as u64 - 1 || version != events as u64 {
                return Err(format!("W2 loaded balance {balance} at version {version}").into());
            }
            // The first loads warm caches and connections.
            if round >= 3 {
                load_ms.push(elapsed.as_secs_f64() * 1e3);
            }
        }
        let ms = median(&mut load_ms);
        let fields = json!({
            "events": events,
            "snapshots": snapshots,
            "load_ms": (ms * 1e3).round() / 1e3,
            "events_per_s": (events as f64 / (ms / 1e3)).round(),
        });
        lines.push(line("W2", backend, "seq", load_ms.len(), fields));
    }
    Ok(lines)
}

/// W6: raw appends of 100-event batches to fresh streams, from one task and from 16.
pub(crate) async fn w6(settings: &Settings, backend: Backend) -> Result<Vec<Value>, Error> {
    let batches = if settings.quick { 100 } else { 1_000 };
    let mut lines = Vec::new();
    for tasks in [1usize, 16] {
        let mut rates = Vec::new();
        for _ in 0..settings.runs {
            let rate = with_store!(backend, |store| raw_appends(store, batches, tasks).await?);
            rates.push(rate);
        }
        let fields = json!({
            "events": batches * 100,
            "events_per_s": median(&mut rates).round(),
        });
        lines.push(line("W6", backend, &mode(tasks), settings.runs, fields));
    }
    Ok(lines)
}

async fn raw_appends<S: EventStore>(store: S, batches: usize, tasks: usize) -> Result<f64, Error> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for b in (task..batches).step_by(tasks) {
                let events = deposit_events(100);
                store
                    .append(Append::new(
                        &format!("raw-{b}"),
                        ExpectedVersion::NoStream,
                        events,
                    ))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        }));
    }
    for handle in handles {
        handle.await??;
    }
    Ok((batches * 100) as f64 / started.elapsed().as_secs_f64())
}
