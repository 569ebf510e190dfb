//! Test support for the crash tests: appends 3-event batches from 64 tasks, one stream each,
//! until killed, printing `ACK <stream> <first version> <last version>` once each append is
//! acknowledged. Continues the streams it finds.
//!
//! `eventsmith-crash-appender sqlite <file>` or `eventsmith-crash-appender postgres <url> <schema>`

use std::io::Write as _;
use std::sync::Arc;

use eventsmith::event::NewEvent;
use eventsmith::store::{Append, AppendOutcome, ExpectedVersion, PgOptions};
use eventsmith::{EventStore, PgStore, SqliteStore};

const TASKS: usize = 64;

async fn run<S: EventStore>(store: S) {
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (store, stdout) = (store.clone(), Arc::clone(&stdout));
        tasks.push(tokio::spawn(async move {
            let stream = format!("crash-{task}");
            let mut version = store
                .stream_version(&stream)
                .await
                .expect("read the version");
            loop {
                let events = (0..3)
                    .map(|i| {
                        NewEvent::new(
                            "Crashed",
                            1,
                            format!("{{\"batch_first\":{},\"i\":{i}}}", version + 1).into_bytes(),
                            Arc::default(),
                        )
                    })
                    .collect();
                match store
                    .append(Append::new(
                        &stream,
                        ExpectedVersion::Exact(version),
                        events,
                    ))
                    .await
                {
                    Ok(AppendOutcome::Appended(a)) => {
                        let mut out = stdout.lock().unwrap();
                        writeln!(out, "ACK {stream} {} {}", a.first_version(), a.version).unwrap();
                        out.flush().unwrap();
                        version = a.version;
                    }
                    other => return format!("{stream}: append failed: {other:?}"),
                }
            }
        }));
    }
    // The tasks run until the process is killed; the first that stops reports why.
    let first = tasks.into_iter().next().expect("64 tasks");
    let failure = first.await.unwrap_or_else(|e| e.to_string());
    panic!("{failure}");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sqlite") => run(SqliteStore::open(&args[2]).expect("open SQLite")).await,
        Some("postgres") => {
            let options = PgOptions::default().schema(args[3].clone());
            run(PgStore::connect_with(&args[2], options)
                .await
                .expect("connect"))
            .await;
        }
        _ => panic!("usage: eventsmith-crash-appender sqlite <file> | postgres <url> <schema>"),
    }
}
