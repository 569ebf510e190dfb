//! W9: a saga's throughput (events it handles with the commands it sends), and the lateness
//! of its deadlines with many pending.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use eventsmith::event::Timestamp;
use eventsmith::process::{SagaRunner, Steps};
use eventsmith::store::SagaStore;
use eventsmith::{App, Command, Event, EventStore, aggregate, saga};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Settings;
use crate::backends::{Backend, Error, with_store};
use crate::stats::{median, percentile, round2};
use crate::workloads::line;

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "bench.job_requested")]
struct JobRequested {
    job: String,
    /// When W9's deadline half wants the job's deadline due, in microseconds; 0 for none.
    due_micros: i64,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "bench.job_done")]
struct JobDone {
    job: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
struct RequestJob {
    #[command(id)]
    job: String,
    due_micros: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
struct FinishJob {
    #[command(id)]
    job: String,
}

#[derive(Debug, Default)]
struct Job;

#[aggregate]
impl Job {
    #[handle]
    fn request(&self, cmd: RequestJob) -> JobRequested {
        JobRequested {
            job: cmd.job,
            due_micros: cmd.due_micros,
        }
    }

    #[handle]
    fn finish(&self, cmd: FinishJob) -> JobDone {
        JobDone { job: cmd.job }
    }

    #[apply]
    fn requested(&mut self, _event: &JobRequested) {}

    #[apply]
    fn done(&mut self, _event: &JobDone) {}
}

/// Starts on a request and sends the finishing command; ends on the job's end.
#[derive(Default, Serialize, Deserialize)]
struct Jobs {
    job: String,
}

#[saga(name = "bench.jobs")]
impl Jobs {
    #[start(key = job)]
    fn requested(&mut self, event: &JobRequested) -> FinishJob {
        self.job = event.job.clone();
        FinishJob {
            job: event.job.clone(),
        }
    }

    #[end(key = job)]
    fn done(&mut self, _event: &JobDone) {}
}

/// How late each deadline of W9 fired, in microseconds.
static LATENESS: Mutex<Vec<i64>> = Mutex::new(Vec::new());

#[derive(Debug, Serialize, Deserialize)]
struct Due {
    at_micros: i64,
}

/// Starts on a request and sets a deadline at the time it names; records its lateness.
#[derive(Default, Serialize, Deserialize)]
struct Timers;

#[saga(name = "bench.timers")]
impl Timers {
    #[start(key = job)]
    fn requested(&mut self, event: &JobRequested, steps: &mut Steps<Self>) {
        if event.due_micros == 0 {
            // A job of the throughput half: nothing to time.
            steps.end();
            return;
        }
        steps.schedule_at(
            Timestamp::from_micros(event.due_micros),
            Due {
                at_micros: event.due_micros,
            },
        );
    }

    #[deadline]
    fn due(&mut self, deadline: &Due, steps: &mut Steps<Self>) {
        let late = steps.now().as_micros() - deadline.at_micros;
        LATENESS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(late);
        steps.end();
    }

    #[end(key = job)]
    fn done(&mut self, _event: &JobDone) {}
}

/// Waits until `reached` holds for the runner's progress, for at most `limit`.
async fn until(
    mut progress: tokio::sync::watch::Receiver<eventsmith::process::SagaProgress>,
    limit: Duration,
    reached: impl Fn(&eventsmith::process::SagaProgress) -> bool,
) -> Result<(), Error> {
    tokio::time::timeout(limit, progress.wait_for(|p| reached(p)))
        .await
        .map_err(|_| "W9 did not finish in time")?
        .map_err(|_| "the saga runner stopped")?;
    Ok(())
}

/// Requests `jobs` jobs on 8 tasks; the due times come from `due`.
async fn request<S: EventStore>(
    app: &App<S>,
    jobs: usize,
    prefix: &str,
    due: impl Fn(usize) -> i64,
) -> Result<(), Error> {
    let mut tasks = Vec::new();
    for t in 0..8 {
        let app = app.clone();
        let dues: Vec<(usize, i64)> = (t..jobs).step_by(8).map(|i| (i, due(i))).collect();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            for (i, due_micros) in dues {
                app.execute(RequestJob {
                    job: format!("{prefix}-{i}"),
                    due_micros,
                })
                .await
                .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// W9: a saga over stored requests (each a start, a command, an end), then 10,000 pending
/// deadlines spread over the next seconds, fired by a second saga.
pub(crate) async fn w9(settings: &Settings, backend: Backend) -> Result<Vec<Value>, Error> {
    let jobs = if settings.quick { 1_000 } else { 5_000 };
    let timers = if settings.quick { 2_000 } else { 10_000 };
    let spread = Duration::from_secs(if settings.quick { 4 } else { 10 });
    let mut handled = Vec::new();
    let mut late_p50 = Vec::new();
    let mut late_p99 = Vec::new();
    for _ in 0..settings.runs {
        let (events_per_s, mut lateness) =
            with_store!(backend, |store| run(store, jobs, timers, spread).await?);
        handled.push(events_per_s);
        lateness.sort_unstable();
        late_p50.push(percentile(&lateness, 50.0));
        late_p99.push(percentile(&lateness, 99.0));
    }
    let fields = json!({
        "sagas": jobs,
        "events_handled_per_s": round2(median(&mut handled)),
        "pending_deadlines": timers,
        "deadline_late_p50_us": round2(median(&mut late_p50)),
        "deadline_late_p99_us": round2(median(&mut late_p99)),
    });
    Ok(vec![line("W9", backend, "saga", settings.runs, fields)])
}

async fn run<S: EventStore + SagaStore>(
    store: S,
    jobs: usize,
    timers: usize,
    spread: Duration,
) -> Result<(f64, Vec<i64>), Error> {
    let app = App::new(store.clone())?;
    // Throughput: the requests are stored first, then the saga catches up on them.
    request(&app, jobs, "job", |_| 0).await?;
    let started = Instant::now();
    let running = SagaRunner::<_, Jobs, _>::new(store.clone(), app.clone())
        .poll_interval(Duration::from_millis(20))
        .start()
        .await?;
    let limit = Duration::from_secs(600);
    until(running.watch(), limit, |p| p.ended as usize >= jobs).await?;
    let elapsed = started.elapsed().as_secs_f64();
    running.stop().await.map_err(|e| e.to_string())?;
    // Each job: its request and its end handled, its command sent.
    let events_per_s = (2 * jobs) as f64 / elapsed;

    // Lateness: every deadline pending at once, due over the spread.
    LATENESS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
    let timer_saga = SagaRunner::<_, Timers, _>::new(store.clone(), app.clone())
        .poll_interval(Duration::from_millis(20))
        .start()
        .await?;
    let first_due = Timestamp::now().as_micros() + 3_000_000;
    let spread_micros = i64::try_from(spread.as_micros()).unwrap_or(i64::MAX);
    let count = i64::try_from(timers).unwrap_or(i64::MAX);
    request(&app, timers, "timer", |i| {
        first_due + spread_micros * i64::try_from(i).unwrap_or(0) / count
    })
    .await?;
    until(timer_saga.watch(), limit, |p| p.fired as usize >= timers).await?;
    timer_saga.stop().await.map_err(|e| e.to_string())?;
    let lateness = std::mem::take(
        &mut *LATENESS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    if lateness.len() != timers {
        return Err(format!("W9 fired {} deadlines, expected {timers}", lateness.len()).into());
    }
    Ok((events_per_s, lateness))
}
