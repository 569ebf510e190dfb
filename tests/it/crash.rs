//! Crash safety on real files and servers: a child process appends under 64 concurrent tasks
//! and is killed (SIGKILL) at a random moment, 20 times over one store. After every kill:
//! each append the child acknowledged is stored, no batch is half-written, and every
//! stream's versions run contiguously from 1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::harness::random_moment;
use eventsmith::{EventStore, SqliteStore};

use crate::services;

const KILLS: usize = 20;

/// Runs the appender with `args`, kills it once it has acknowledged something and a random
/// moment has passed, and answers the acknowledged (stream, first, last) versions.
fn run_and_kill(args: &[&str], seed: &mut u64) -> Vec<(String, u64, u64)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventsmith-crash-appender"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the appender");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                (parts.next() == Some("ACK")).then(|| {
                    let stream = parts.next().expect("stream").to_owned();
                    let first = parts.next().and_then(|v| v.parse().ok()).expect("first");
                    let last = parts.next().and_then(|v| v.parse().ok()).expect("last");
                    (stream, first, last)
                })
            })
            .collect::<Vec<_>>()
    });
    let started = Instant::now();
    std::thread::sleep(random_moment(seed, 20, 230) + Duration::from_millis(150));
    assert!(started.elapsed() < Duration::from_secs(60));
    child.kill().expect("SIGKILL the appender");
    child.wait().expect("reap the appender");
    reader.join().expect("read the acknowledgements")
}

async fn check<S: EventStore>(store: &S, acknowledged: &[(String, u64, u64)]) -> usize {
    let mut stored: HashMap<String, u64> = HashMap::new();
    for (stream, first, last) in acknowledged {
        let version = match stored.get(stream) {
            Some(v) => *v,
            None => {
                let events = store.read_stream(stream, 1, 100_000).await.unwrap();
                for (i, e) in events.iter().enumerate() {
                    assert_eq!(
                        e.stream_version,
                        i as u64 + 1,
                        "{stream}: versions contiguous"
                    );
                }
                assert_eq!(
                    events.len() % 3,
                    0,
                    "{stream}: no half-written batch ({} events)",
                    events.len()
                );
                for batch in events.chunks(3) {
                    let first = batch[0].stream_version;
                    for (i, e) in batch.iter().enumerate() {
                        let body = String::from_utf8_lossy(&e.payload);
                        assert!(
                            body.contains(&format!("\"batch_first\":{first},\"i\":{i}")),
                            "{stream}: batch starting at {first} is whole: {body}"
                        );
                    }
                }
                let v = events.len() as u64;
                stored.insert(stream.clone(), v);
                v
            }
        };
        assert!(
            *last <= version,
            "{stream}: acknowledged {first}..={last} but only {version} stored"
        );
    }
    acknowledged.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_append_across_kills() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let path_text = path.to_str().unwrap().to_owned();
    let mut seed = 0x2545_F491_4F6C_DD1D;
    let mut total = 0;
    for _ in 0..KILLS {
        let acknowledged = run_and_kill(&["sqlite", &path_text], &mut seed);
        let store = SqliteStore::open(&path).expect("the file opens after a kill");
        total += check(&store, &acknowledged).await;
    }
    assert!(
        total > KILLS * 10,
        "the child made progress: {total} acknowledged appends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_every_acknowledged_append_across_kills() {
    let Some(store) = services::pg_store("crash").await else {
        return;
    };
    let url = services::pg_url();
    let mut seed = 0x9E37_79B9_7F4A_7C15;
    let mut total = 0;
    for _ in 0..KILLS {
        let acknowledged = run_and_kill(&["postgres", &url, store.schema()], &mut seed);
        total += check(&store, &acknowledged).await;
    }
    assert!(
        total > KILLS * 10,
        "the child made progress: {total} acknowledged appends"
    );
    store.drop_schema().await.unwrap();
}
