//! Pieces the runner and crash tests share: concurrent writers, pseudo-random moments, and
//! killing the projector process once it has started.

use std::future::Future;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `writer(0..writers)` as concurrent tasks; answers the highest position they report.
pub(crate) async fn write_concurrently<F, Fut>(writers: usize, writer: F) -> u64
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let tasks: Vec<_> = (0..writers).map(|w| tokio::spawn(writer(w))).collect();
    let mut last = 0;
    for task in tasks {
        last = last.max(task.await.unwrap());
    }
    last
}

/// A pseudo-random duration from `from` to `from + span` milliseconds (xorshift over
/// `seed`, so a failing run can be repeated).
pub(crate) fn random_moment(seed: &mut u64, from: u64, span: u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    Duration::from_millis(from + *seed % span)
}

/// Starts the projector with `args`, waits for its `READY`, lets it run `for_a_while` and
/// kills it (SIGKILL).
pub(crate) fn run_projector_and_kill(args: &[&str], for_a_while: Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventsmith-crash-projector"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the projector");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut ready)
        .expect("read the projector's first line");
    assert_eq!(ready.trim(), "READY");
    std::thread::sleep(for_a_while);
    child.kill().expect("SIGKILL the projector");
    child.wait().expect("reap the projector");
}
