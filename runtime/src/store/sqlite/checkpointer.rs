//! WAL checkpoints off the writer's path. SQLite's automatic checkpoint runs inside the commit
//! that crosses its threshold: that commit copies a thousand pages into the database file and
//! syncs it while every append of its batch, and every append queued behind it, waits. Here the
//! writer's connection never checkpoints; a thread of the store's, with a connection of its
//! own, copies committed pages back while the writer goes on (a passive checkpoint takes no
//! lock a writer needs).
//!
//! Under a steady stream of commits a passive checkpoint never catches up with the end of the
//! WAL, so SQLite never rewinds it and the file grows by a page or more per append. Once the
//! WAL passes [`RESTART_FRAMES`], the checkpointer copies all but a short tail passively, then
//! takes the writer's turn between two commits (waiting for a busy writer's lock would
//! starve: it is free only for moments), copies the tail and lets the next commit start the
//! WAL from its beginning. A failed checkpoint loses nothing (the WAL still holds every
//! commit): it is logged and tried again later.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// Pages (as the writer estimates them) committed between two passive checkpoints: SQLite's
/// own automatic checkpoint comes every 1,000 pages too.
const PASSIVE_EVERY: u64 = 1_000;
/// A store with a few commits is checkpointed after this long without more.
const IDLE_AFTER: Duration = Duration::from_secs(1);
/// WAL frames (pages) past which the checkpointer rewinds the WAL: 16 MiB of 4 KiB pages.
/// Measured on W1 (64 tasks): rewinding at 1,000 frames cost a quarter of the throughput and
/// tripled p99 (a pause per rewind); at 16,384 frames it was no faster. A WAL file that has
/// grown to this size is then overwritten in place, which also keeps each sync cheap: while
/// a fresh file is still growing, every sync also records its new size.
const RESTART_FRAMES: i64 = 4_096;
/// Frames the checkpointer leaves to copy while it holds the writer's turn.
const SHORT_TAIL: i64 = 256;
/// How long a rewind waits for readers of the old WAL, holding the writer's turn.
const READERS_WAIT: Duration = Duration::from_millis(100);

/// The checkpoint thread of one store.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Held by the writer for each commit, and by the checkpointer while it rewinds the WAL.
    turn: Arc<Mutex<()>>,
}

struct State {
    /// Pages committed since the last checkpoint.
    written: u64,
    closing: bool,
}

impl Checkpointer {
    /// Starts checkpointing through `conn`, a read-write connection to the store's file.
    pub(crate) fn start(conn: Connection) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                written: 0,
                closing: false,
            }),
            wake: Condvar::new(),
            turn: Arc::default(),
        });
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpt".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                move || shared.run(&conn)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// The writer's turn: the writer holds it for each commit.
    pub(crate) fn turn(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.shared.turn)
    }

    /// Tells the checkpointer that a commit wrote about `pages` pages.
    pub(crate) fn committed(&self, pages: usize) {
        let mut state = self.shared.lock_state();
        let before = state.written;
        state.written += pages as u64;
        if before < PASSIVE_EVERY && state.written >= PASSIVE_EVERY {
            drop(state);
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.lock_state().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread does not panic; a join error has nothing left to report.
            drop(thread.join());
        }
    }
}

/// What `PRAGMA wal_checkpoint` reports.
struct Wal {
    /// Whether the checkpoint could not finish (a reader or writer was in the way).
    busy: bool,
    /// Frames in the WAL.
    frames: i64,
    /// Frames copied into the database file.
    copied: i64,
}

impl Shared {
    // A counter and a flag: consistent whatever a panicking holder left.
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self, conn: &Connection) {
        // A rewind waits this long for readers of the old WAL (passive checkpoints never wait).
        if let Err(e) = conn.busy_timeout(READERS_WAIT) {
            tracing::warn!(error = %e, "cannot set the checkpointer's busy timeout");
        }
        let mut state = self.lock_state();
        loop {
            if state.closing {
                return;
            }
            if state.written < PASSIVE_EVERY {
                let (next, waited) = self
                    .wake
                    .wait_timeout(state, IDLE_AFTER)
                    .unwrap_or_else(PoisonError::into_inner);
                state = next;
                let idle = waited.timed_out() && state.written > 0;
                if !idle && state.written < PASSIVE_EVERY {
                    continue;
                }
            }
            state.written = 0;
            drop(state);
            if let Err(e) = self.checkpoint(conn) {
                tracing::warn!(error = %e, "a WAL checkpoint failed; the WAL keeps the commits");
            }
            state = self.lock_state();
        }
    }

    /// Copies the WAL back passively, and rewinds it when it has grown past its bound.
    fn checkpoint(&self, conn: &Connection) -> rusqlite::Result<()> {
        let mut wal = run(conn, "PASSIVE")?;
        if wal.frames < RESTART_FRAMES {
            return Ok(());
        }
        // Each pass copies what the writer added during the last one: a few passes leave a
        // short tail to copy while the writer waits.
        for _ in 0..4 {
            if wal.frames - wal.copied <= SHORT_TAIL {
                break;
            }
            wal = run(conn, "PASSIVE")?;
        }
        let _turn = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        if run(conn, "RESTART")?.busy {
            tracing::debug!("a reader of the old WAL kept it from being rewound; trying later");
        }
        Ok(())
    }
}

/// Runs `PRAGMA wal_checkpoint(mode)`.
fn run(conn: &Connection, mode: &str) -> rusqlite::Result<Wal> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok(Wal {
            busy: row.get::<_, i64>(0)? != 0,
            frames: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}
