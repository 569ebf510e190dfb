//! W5 and W7: a projection catching up over a large log, and command-to-visible latency
//! through the query bus.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsmith::event::NewEvent;
use eventsmith::store::{Append, ExpectedVersion};
use eventsmith::{App, EventStore, ProjectionRunner, RecordedEvent, projection};
use serde_json::{Value, json};

use crate::Settings;
use crate::backends::{Backend, Error, with_store};
use crate::domain::{Deposit, MoneyDeposited, MoneyWithdrawn, OpenAccount, account};
use crate::stats::{median, percentile_us, round2};
use crate::workloads::line;

/// Balances from deposits and withdrawals: 2 of the 5 stored types of W5.
#[derive(Default)]
struct Balances {
    by_stream: HashMap<Arc<str>, i64>,
    handled: u64,
}

struct GetBalance(String);

#[projection(name = "bench.balances")]
impl Balances {
    #[on]
    fn deposited(&mut self, event: &MoneyDeposited, envelope: &RecordedEvent) {
        self.add(envelope, signed(event.amount));
    }

    #[on]
    fn withdrawn(&mut self, event: &MoneyWithdrawn, envelope: &RecordedEvent) {
        self.add(envelope, -signed(event.amount));
    }

    #[query]
    fn balance(&self, query: GetBalance) -> i64 {
        let stream = format!("BankAccount-{}", query.0);
        self.by_stream.get(stream.as_str()).copied().unwrap_or(0)
    }

    fn add(&mut self, envelope: &RecordedEvent, amount: i64) {
        self.handled += 1;
        match self.by_stream.get_mut(&envelope.stream_id) {
            Some(balance) => *balance += amount,
            None => {
                self.by_stream
                    .insert(Arc::clone(&envelope.stream_id), amount);
            }
        }
    }
}

fn signed(amount: u64) -> i64 {
    i64::try_from(amount).unwrap_or(i64::MAX)
}

/// The five stored types of W5, in the order a stream cycles through them.
const TYPES: [(&str, &[u8]); 5] = [
    ("AccountOpened", br#"{"owner":"w5"}"#),
    ("MoneyDeposited", br#"{"amount":3}"#),
    ("MoneyWithdrawn", br#"{"amount":1}"#),
    ("AccountFlagged", br#"{"reason":"w5"}"#),
    ("StatementIssued", br#"{"period":"2026-11"}"#),
];

/// Appends `streams` streams of `per_stream` events, 16 writers at a time.
async fn seed<S: EventStore>(store: &S, streams: usize, per_stream: usize) -> Result<u64, Error> {
    let mut handles = Vec::new();
    for task in 0..16 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for s in (task..streams).step_by(16) {
                let events = (0..per_stream)
                    .map(|i| {
                        let (name, payload) = TYPES[i % TYPES.len()];
                        NewEvent::new(name, 1, payload.to_vec(), Arc::default())
                    })
                    .collect();
                store
                    .append(Append::new(
                        &format!("BankAccount-w5-{s}"),
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
    let head = store.current_head().await?;
    Ok(head)
}

/// W5: 1,000,000 events across 10,000 streams (5 types); a projection of 2 types catches
/// up from zero. Seeded once; each run starts a fresh runner.
pub(crate) async fn w5(settings: &Settings, backend: Backend) -> Result<Vec<Value>, Error> {
    let streams = if settings.quick { 1_000 } else { 10_000 };
    let per_stream = 100;
    with_store!(backend, |store| {
        let seeding = Instant::now();
        let head = seed(&store, streams, per_stream).await?;
        let seeded_in = seeding.elapsed();
        let total = (streams * per_stream) as f64;
        let mut scanned = Vec::new();
        let mut handled = Vec::new();
        for _ in 0..settings.runs {
            let started = Instant::now();
            let running = ProjectionRunner::new(store.clone(), Balances::default())
                .batch_size(4_096)
                .start()
                .await?;
            running.wait_for(head, Duration::from_secs(600)).await?;
            let elapsed = started.elapsed().as_secs_f64();
            let count = running.read().await.handled;
            running.stop().await?;
            if count != (total * 0.4) as u64 {
                return Err(format!("W5 handled {count} events, expected {}", total * 0.4).into());
            }
            scanned.push(total / elapsed);
            handled.push(count as f64 / elapsed);
        }
        let fields = json!({
            "events": total,
            "handled_types": "2 of 5",
            "seed_s": round2(seeded_in.as_secs_f64()),
            "events_scanned_per_s": median(&mut scanned).round(),
            "events_handled_per_s": median(&mut handled).round(),
        });
        Ok(vec![line("W5", backend, "catch-up", settings.runs, fields)])
    })
}

/// W7: 8 tasks each run a deposit, then a query that waits for the projection to reach the
/// deposit's position; the latency is from the command's start to the answer.
pub(crate) async fn w7(settings: &Settings, backend: Backend) -> Result<Vec<Value>, Error> {
    const TASKS: usize = 8;
    let per_task = if settings.quick { 50 } else { 500 };
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut visible_p99 = Vec::new();
    for _ in 0..settings.runs {
        let (total, after_commit) = with_store!(backend, |store| {
            let app = App::new(store)?;
            let running = app.start_projection(Balances::default()).await?;
            for task in 0..TASKS {
                app.execute(OpenAccount {
                    account: account(task),
                    owner: account(task),
                })
                .await?;
            }
            let mut handles = Vec::new();
            for task in 0..TASKS {
                let app = app.clone();
                handles.push(tokio::spawn(async move {
                    let mut total = Vec::with_capacity(per_task);
                    let mut after_commit = Vec::with_capacity(per_task);
                    for round in 1..=per_task as i64 {
                        let started = Instant::now();
                        let done = app
                            .execute(Deposit {
                                account: account(task),
                                amount: 1,
                                request_id: None,
                            })
                            .await
                            .map_err(|e| e.to_string())?;
                        let committed = Instant::now();
                        let balance = app
                            .query(GetBalance(account(task)))
                            .after(done.position)
                            .await
                            .map_err(|e| e.to_string())?;
                        if balance != round {
                            return Err(format!("W7 read balance {balance}, expected {round}"));
                        }
                        total.push(started.elapsed());
                        after_commit.push(committed.elapsed());
                    }
                    Ok::<_, String>((total, after_commit))
                }));
            }
            let mut total = Vec::new();
            let mut after_commit = Vec::new();
            for handle in handles {
                let (t, a) = handle.await??;
                total.extend(t);
                after_commit.extend(a);
            }
            running.stop().await?;
            (total, after_commit)
        });
        let (mut total, mut after_commit) = (total, after_commit);
        total.sort_unstable();
        after_commit.sort_unstable();
        p50.push(percentile_us(&total, 50.0));
        p99.push(percentile_us(&total, 99.0));
        visible_p99.push(percentile_us(&after_commit, 99.0));
    }
    let fields = json!({
        "commands": TASKS * per_task,
        "p50_us": round2(median(&mut p50)),
        "p99_us": round2(median(&mut p99)),
        "commit_to_visible_p99_us": round2(median(&mut visible_p99)),
    });
    Ok(vec![line(
        "W7",
        backend,
        &format!("concurrent{TASKS}"),
        settings.runs,
        fields,
    )])
}
