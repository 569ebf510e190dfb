//! Several processes on one store: what each `App` or store handle keeps in memory (cached
//! aggregates, the next position, version hints, the head) must stay right when another one
//! writes the same store. Two `App`s and two store handles stand for two processes on every
//! backend (memory: two clones of one store; SQLite: two handles on one file; PostgreSQL: two
//! stores on one schema); SQLite is also shared by this test binary and a child process of it.
#![allow(
    clippy::enum_variant_names,
    reason = "the generated `BookEvent` names its variants after the events, which all begin \
              with `Book`; as the root of a test binary the enum was exported, which the lint \
              leaves alone, in a module it is not"
)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsmith::event::NewEvent;
use eventsmith::store::{Append, AppendOutcome, ExpectedVersion, PgOptions};
use eventsmith::{
    App, Command, CommandError, Event, EventStore, InMemoryStore, PgStore, ProjectionRunner,
    SqliteStore, aggregate, projection,
};
use serde::{Deserialize, Serialize};

use crate::services;

// A library book: lent to one member at a time, returned by that member.

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
struct BookLent {
    member: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
struct BookReturned {
    member: String,
}

#[derive(Debug, Clone, Command)]
struct LendBook {
    #[command(id)]
    book: String,
    member: String,
    #[command(idempotency_key)]
    request: Option<String>,
}

/// Always allowed.
#[derive(Debug, Clone, Command)]
struct VisitBook {
    #[command(id)]
    book: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
struct BookVisited {}

#[derive(Debug, Clone, Command)]
struct ReturnBook {
    #[command(id)]
    book: String,
    member: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum LendingError {
    #[error("the book is lent to {0}")]
    AlreadyLent(String),
    #[error("the book is not lent to {0}")]
    NotLentTo(String),
}

#[derive(Debug, Default)]
struct Book {
    lent_to: Option<String>,
    visits: u64,
}

#[aggregate]
impl Book {
    #[handle]
    fn lend(&self, cmd: LendBook) -> Result<BookLent, LendingError> {
        match &self.lent_to {
            Some(member) => Err(LendingError::AlreadyLent(member.clone())),
            None => Ok(BookLent { member: cmd.member }),
        }
    }

    #[handle]
    fn give_back(&self, cmd: ReturnBook) -> Result<BookReturned, LendingError> {
        match &self.lent_to {
            Some(member) if *member == cmd.member => Ok(BookReturned { member: cmd.member }),
            _ => Err(LendingError::NotLentTo(cmd.member)),
        }
    }

    #[handle]
    fn visit(&self, _cmd: VisitBook) -> BookVisited {
        BookVisited {}
    }

    #[apply]
    fn visited(&mut self, _event: &BookVisited) {
        self.visits += 1;
    }

    #[apply]
    fn lent(&mut self, event: &BookLent) {
        self.lent_to = Some(event.member.clone());
    }

    #[apply]
    fn returned(&mut self, _event: &BookReturned) {
        self.lent_to = None;
    }
}

/// Counts the loans it has seen.
#[derive(Debug, Default)]
struct Loans {
    lent: u64,
}

#[projection(name = "loans")]
impl Loans {
    #[on]
    fn lent(&mut self, _event: &BookLent) {
        self.lent += 1;
    }
}

fn lend(book: &str, member: &str) -> LendBook {
    LendBook {
        book: book.into(),
        member: member.into(),
        request: None,
    }
}

fn give_back(book: &str, member: &str) -> ReturnBook {
    ReturnBook {
        book: book.into(),
        member: member.into(),
    }
}

// The checks, each over two handles of one store.

/// `count` Apps, every other one over each handle.
fn apps_over<S: EventStore>(a: &S, b: &S, count: usize) -> Vec<App<S>> {
    (0..count)
        .map(|i| App::new(if i % 2 == 0 { a.clone() } else { b.clone() }).unwrap())
        .collect()
}

/// App A lends, App B takes the return, App A lends again: A's cached state (lent) is stale
/// and must not be trusted for a rejection.
async fn a_rejection_is_not_decided_on_a_stale_cache<S: EventStore>(a: S, b: S) {
    let (app_a, app_b) = (App::new(a).unwrap(), App::new(b).unwrap());
    app_a.execute(lend("b1", "ann")).await.unwrap();
    app_b.execute(give_back("b1", "ann")).await.unwrap();
    let again = app_a.execute(lend("b1", "bob")).await;
    assert!(
        again.is_ok(),
        "the stream ends with the return, yet: {again:?}"
    );
    // And the other way round: a rejection that holds is still a rejection.
    let err = app_b.execute(lend("b1", "cid")).await.unwrap_err();
    assert!(
        matches!(&err, CommandError::Rejected(LendingError::AlreadyLent(m)) if m == "bob"),
        "{err}"
    );
    // A decision that appends nothing is confirmed against the store too: B's cache says the
    // book is lent to bob; A takes it back; B must see that bob no longer holds it.
    app_a.execute(give_back("b1", "bob")).await.unwrap();
    let err = app_b.execute(give_back("b1", "bob")).await.unwrap_err();
    assert!(matches!(
        err,
        CommandError::Rejected(LendingError::NotLentTo(_))
    ));
}

/// 32 Apps (over two handles) lend and return one book, each member `ROUNDS` times: loans
/// alternate with returns by the same member, versions are contiguous, nobody starves.
async fn thirty_two_apps_share_one_book<S: EventStore>(a: S, b: S) {
    const APPS: usize = 32;
    const ROUNDS: usize = 3;
    let apps = apps_over(&a, &b, APPS);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, app) in apps.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let member = format!("m{i}");
            let mut tries = 0u32;
            for _ in 0..ROUNDS {
                loop {
                    tries += 1;
                    assert!(
                        tries < 5_000 && started.elapsed() < Duration::from_secs(60),
                        "{member} starved after {tries} tries"
                    );
                    match app.execute(lend("shared", &member)).await {
                        Ok(_) => break,
                        // Lent to someone else, or lost the race too often: try again later.
                        Err(CommandError::Rejected(LendingError::AlreadyLent(_))) => {}
                        Err(e) if e.is_retriable() => {}
                        Err(e) => panic!("{member}: {e}"),
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                loop {
                    match app.execute(give_back("shared", &member)).await {
                        Ok(_) => break,
                        Err(e) if e.is_retriable() => tries += 1,
                        Err(e) => panic!("{member} could not return the book: {e}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let events = a.read_stream("Book-shared", 1, 10_000).await.unwrap();
    assert_eq!(events.len(), 2 * APPS * ROUNDS);
    let mut holder: Option<String> = None;
    for (n, event) in (1..).zip(&events) {
        assert_eq!(event.stream_version, n, "versions are contiguous");
        let payload: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
        let member = payload["member"].as_str().unwrap().to_owned();
        match event.event_type.as_ref() {
            "BookLent" => assert_eq!(holder.replace(member), None, "lent twice at {n}"),
            "BookReturned" => assert_eq!(holder.take(), Some(member), "returned by another"),
            other => panic!("unexpected {other}"),
        }
    }
}

/// 16 Apps (over two handles; on SQLite over one, see below) note visits to one book as fast as they can, with the default
/// retry settings: every command goes through (the losers of a race take turns), none comes
/// back as a conflict, and every visit is counted once.
async fn sixteen_apps_never_run_out_of_attempts<S: EventStore>(a: S, b: S) {
    const APPS: usize = 16;
    const VISITS: u64 = 25;
    let apps = apps_over(&a, &b, APPS);
    let mut tasks = Vec::new();
    for app in apps {
        tasks.push(tokio::spawn(async move {
            for _ in 0..VISITS {
                let visit = VisitBook {
                    book: "popular".into(),
                };
                if let Err(e) = app.execute(visit).await {
                    panic!("a visit failed with the default retry settings: {e}");
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (book, version) = App::new(a).unwrap().load::<Book>("popular").await.unwrap();
    assert_eq!(version, APPS as u64 * VISITS);
    assert_eq!(book.visits, APPS as u64 * VISITS);
}

/// 100 callers with one idempotency key, over four Apps on two handles: every one gets the
/// first outcome, although a second loan would be rejected. Repeated on fresh books, since
/// the losing interleaving (a key checked before the first commit, the state loaded after
/// it) is a matter of timing.
async fn one_key_from_a_hundred_callers<S: EventStore>(a: S, b: S) {
    let apps = apps_over(&a, &b, 4);
    for round in 0..20 {
        let book = format!("keyed-{round}");
        let mut tasks = Vec::new();
        for i in 0..100 {
            let (app, book) = (apps[i % 4].clone(), book.clone());
            tasks.push(tokio::spawn(async move {
                app.execute(LendBook {
                    request: Some("loan-1".into()),
                    ..lend(&book, &format!("m{i}"))
                })
                .await
            }));
        }
        let mut fresh = 0;
        let mut positions = HashSet::new();
        for task in tasks {
            let done = task
                .await
                .unwrap()
                .expect("the first outcome, not an error");
            assert_eq!(done.version, 1);
            positions.insert(done.position);
            fresh += usize::from(!done.replayed);
        }
        assert_eq!(fresh, 1, "exactly one caller appended");
        assert_eq!(positions.len(), 1, "every caller saw the one append");
        let stream = format!("Book-{book}");
        assert_eq!(a.stream_version(&stream).await.unwrap(), 1);
    }
}

/// Raw appends through both handles at once, to one shared stream and to a stream per task:
/// nothing lost or duplicated, versions contiguous, positions strictly increasing.
async fn both_handles_append<S: EventStore>(a: S, b: S) {
    let mut tasks = Vec::new();
    for task in 0..8 {
        let store = if task % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for n in 0..25 {
                append_retrying(&store, "together", &format!("{task}-{n}")).await;
                append_retrying(&store, &format!("alone-{task}"), &format!("{task}-{n}")).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    check_log(&a, 8 * 25 * 2).await;
    check_log(&b, 8 * 25 * 2).await;
}

/// Appends one event tagged `tag`, retrying lost races.
async fn append_retrying<S: EventStore>(store: &S, stream: &str, tag: &str) {
    for _ in 0..1_000 {
        let version = store.stream_version(stream).await.unwrap();
        let event = NewEvent::new(
            "Tagged",
            1,
            format!("{{\"tag\":\"{tag}\"}}").into_bytes(),
            Arc::default(),
        );
        match store
            .append(Append::new(
                stream,
                ExpectedVersion::Exact(version),
                vec![event],
            ))
            .await
        {
            Ok(AppendOutcome::Appended(_)) => return,
            Err(eventsmith::StoreError::Conflict {
                expected, actual, ..
            }) => {
                // A conflict names a version that differs from the one expected.
                assert!(
                    !expected.accepts(actual),
                    "a conflict at an accepted version: expected {expected}, found {actual}"
                );
            }
            other => panic!("append to {stream}: {other:?}"),
        }
    }
    panic!("{tag}: 1,000 lost races in a row on {stream}");
}

/// Every event once, each stream's versions contiguous, positions strictly increasing.
async fn check_log<S: EventStore>(store: &S, expected: usize) {
    let mut events = Vec::new();
    let mut from = 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    // The head itself may stay behind the appends while a transaction runs anywhere on the
    // server (PostgreSQL; a test beside this one may hold one open): read on while events
    // are missing, until the deadline.
    loop {
        let head = store.current_head().await.unwrap();
        // An empty page may only mean that nothing more is visible yet (PostgreSQL): read on
        // until the store has looked as far as the head.
        while from <= head {
            assert!(Instant::now() < deadline, "the log stays behind {head}");
            let page = store.read_all(from, 500).await.unwrap();
            from = page.scanned_to.max(from - 1) + 1;
            events.extend(page.events);
            if from <= head {
                tokio::task::yield_now().await;
            }
        }
        if events.len() >= expected || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(events.len(), expected, "every append once");
    let tags: HashSet<(String, Vec<u8>)> = events
        .iter()
        .map(|e| (e.stream_id.to_string(), e.payload.to_vec()))
        .collect();
    assert_eq!(tags.len(), expected, "no event twice");
    let mut versions = std::collections::HashMap::<String, u64>::new();
    let mut last_position = 0;
    for e in &events {
        assert!(e.global_position > last_position, "positions increase");
        last_position = e.global_position;
        let version = versions.entry(e.stream_id.to_string()).or_default();
        *version += 1;
        assert_eq!(e.stream_version, *version, "{} is contiguous", e.stream_id);
    }
}

/// A projection over one handle follows appends made through the other.
async fn a_projection_follows_the_other_handle<S: EventStore>(a: S, b: S) {
    let running = ProjectionRunner::new(b, Loans::default())
        .start()
        .await
        .unwrap();
    let app = App::new(a).unwrap();
    let mut last = 0;
    for i in 0..5 {
        let book = format!("followed-{i}");
        last = app
            .execute(lend(&book, "ann"))
            .await
            .unwrap()
            .position
            .unwrap();
    }
    running
        .wait_for(last, Duration::from_secs(10))
        .await
        .expect("the other handle's appends reach the projection");
    assert_eq!(running.read().await.lent, 5);
    running.stop().await.unwrap();
}

macro_rules! on_every_backend {
    ($($check:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let store = eventsmith::InMemoryStore::new();
                    super::$check(store.clone(), store).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let dir = tempfile::tempdir().unwrap();
                    let (a, b) = super::sqlite_pair(&dir.path().join("events.db"));
                    super::$check(a, b).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let Some((a, b)) = super::pg_pair(stringify!($check)).await else { return };
                    super::$check(a.clone(), b).await;
                    a.drop_schema().await.unwrap();
                }
            )*
        }
    };
}

on_every_backend!(
    a_rejection_is_not_decided_on_a_stale_cache,
    thirty_two_apps_share_one_book,
    one_key_from_a_hundred_callers,
    both_handles_append,
    a_projection_follows_the_other_handle,
);

fn sqlite_pair(path: &Path) -> (SqliteStore, SqliteStore) {
    (
        SqliteStore::open(path).unwrap(),
        SqliteStore::open(path).unwrap(),
    )
}

async fn pg_pair(test: &str) -> Option<(PgStore, PgStore)> {
    let a = services::pg_store(test).await?;
    let options = PgOptions::default()
        .schema(a.schema())
        .pool_size(6)
        .poll_interval(Duration::from_millis(50));
    let b = PgStore::connect_with(&services::pg_url(), options)
        .await
        .unwrap();
    Some((a, b))
}

// Turns: the writers that lost a race queue for the stream. They are kept by the store
// handle, and on PostgreSQL by the server too (an advisory lock), so they order the Apps of
// every process; on SQLite they order the Apps over one handle only (several handles or
// processes on one hot stream retry with backoff, as without turns).

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_apps_never_run_out_of_attempts_in_memory() {
    let store = InMemoryStore::new();
    sixteen_apps_never_run_out_of_attempts(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_apps_never_run_out_of_attempts_on_one_sqlite_handle() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("events.db")).unwrap();
    sixteen_apps_never_run_out_of_attempts(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_apps_never_run_out_of_attempts_on_two_postgres_stores() {
    let Some((a, b)) = pg_pair("sixteen_apps").await else {
        return;
    };
    sixteen_apps_never_run_out_of_attempts(a.clone(), b).await;
    a.drop_schema().await.unwrap();
}

// Two processes on one SQLite file: this test binary runs itself as the second one.

const CHILD_FILE: &str = "EVENTSMITH_TEST_SHARED_SQLITE";

/// The child's test as the harness names it: its module path without the crate, then the
/// function (`several_processes::child_appends_to_the_shared_file`).
fn child_test() -> String {
    const CHILD: &str = "child_appends_to_the_shared_file";
    match module_path!().split_once("::") {
        Some((_crate, module)) => format!("{module}::{CHILD}"),
        None => CHILD.to_owned(),
    }
}

/// The child's part (does nothing unless run as the child): appends as `both_handles_append`
/// does, through a handle of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_appends_to_the_shared_file() {
    let Ok(path) = std::env::var(CHILD_FILE) else {
        return;
    };
    let store = SqliteStore::open(path).unwrap();
    for n in 0..100 {
        append_retrying(&store, "together", &format!("child-{n}")).await;
        append_retrying(&store, "alone-child", &format!("child-{n}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_append_to_one_sqlite_file() {
    if std::env::var(CHILD_FILE).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    let follower = ProjectionRunner::new(store.clone(), Loans::default())
        .start()
        .await
        .unwrap();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &child_test(), "--nocapture"])
        .env(CHILD_FILE, &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for n in 0..100 {
        append_retrying(&store, "together", &format!("parent-{n}")).await;
        append_retrying(&store, "alone-parent", &format!("parent-{n}")).await;
    }
    // The child's loop is bounded (100 appends to each stream, 1,000 tries each).
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "the child failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    check_log(&store, 400).await;
    // A loan made by another process reaches this process's projection.
    let other = SqliteStore::open(&path).unwrap();
    let lent = App::new(other)
        .unwrap()
        .execute(lend("across", "ann"))
        .await
        .unwrap();
    follower
        .wait_for(lent.position.unwrap(), Duration::from_secs(10))
        .await
        .expect("another handle's append reaches the follower");
    assert_eq!(follower.read().await.lent, 1);
    follower.stop().await.unwrap();
}
