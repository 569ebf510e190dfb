//! Group commit in front of the SQLite [`Writer`]: every write joins one queue, and one leader
//! at a time commits what is queued in one transaction.
//!
//! Who leads depends on the load. A write that finds nobody leading is committed at once by
//! its own task, on its own thread: alone, it pays no hand-off. Writes that arrive meanwhile
//! queue up, and when that task's commit is done it hands the queue to the store's writer
//! thread, which commits batch after batch until the queue is empty. So a burst never holds a
//! tokio worker for more than one commit, and the tasks a batch answers are woken from a
//! thread outside the runtime, on whichever worker is free (answered from a worker that goes
//! on committing, they would wait behind its next commit).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::writer::{Write, Writer};

/// How long the writer thread waits for another write before it lets the next one lead on
/// its own task.
const LINGER: Duration = Duration::from_micros(200);

/// The queue of writes, its leader, and the writer thread.
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread when the queue is handed to it or the store closes.
    handed_over: Condvar,
    /// Taken only by the leader, so never contended; poisoned if a commit panicked.
    writer: Mutex<Writer>,
    max_batch: usize,
}

struct State {
    queue: Vec<Write>,
    leader: Leader,
    /// The writer thread leads, found the queue empty and waits a moment for more.
    lingering: bool,
    closing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leader {
    /// Nobody commits: the next write leads on its own task.
    Nobody,
    /// A task commits one batch, its own write among it.
    Task,
    /// The writer thread commits until the queue is empty.
    Thread,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock_state();
        f.debug_struct("GroupCommit")
            .field("queued", &state.queue.len())
            .field("leader", &state.leader)
            .finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Starts the writer thread of `writer`, committing at most `max_batch` writes at a time.
    pub(crate) fn start(writer: Writer, max_batch: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: Vec::new(),
                leader: Leader::Nobody,
                lingering: false,
                closing: false,
            }),
            handed_over: Condvar::new(),
            writer: Mutex::new(writer),
            max_batch: max_batch.max(1),
        });
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                move || shared.run_thread()
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues `write`. If nobody is committing, commits it (with whatever else is queued)
    /// before returning, blocking this thread for one commit; otherwise the current leader
    /// commits it. Either way the write's reply channel carries the outcome.
    pub(crate) fn submit(&self, write: Write) {
        let mut state = self.shared.lock_state();
        state.queue.push(write);
        match state.leader {
            Leader::Nobody => {}
            Leader::Thread if state.lingering => {
                state.lingering = false;
                drop(state);
                self.shared.handed_over.notify_one();
                return;
            }
            Leader::Thread | Leader::Task => return,
        }
        state.leader = Leader::Task;
        let batch = self.shared.take_batch(&mut state);
        drop(state);
        // Leadership passes on even if the commit unwinds.
        let _pass_on = PassOn(&self.shared);
        self.shared.commit(batch);
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.lock_state().closing = true;
        self.shared.handed_over.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread catches commit panics; a join error has nothing left to report.
            drop(thread.join());
        }
    }
}

/// Ends a task's leadership: the queue goes to the writer thread if writes arrived meanwhile.
struct PassOn<'a>(&'a Shared);

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock_state();
        if state.queue.is_empty() {
            state.leader = Leader::Nobody;
        } else {
            state.leader = Leader::Thread;
            drop(state);
            self.0.handed_over.notify_one();
        }
    }
}

impl Shared {
    // The queue holds plain data and no user code runs under its lock.
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_batch(&self, state: &mut State) -> Vec<Write> {
        let take = state.queue.len().min(self.max_batch);
        state.queue.drain(..take).collect()
    }

    /// Commits `batch` and answers its writes.
    fn commit(&self, mut batch: Vec<Write>) {
        let mut writer = self.writer.lock().unwrap_or_else(|poisoned| {
            // A panic while committing rolled its batch back, but may have left the position
            // counter and version hints ahead of the file: resynchronise before going on.
            self.writer.clear_poison();
            let mut writer = poisoned.into_inner();
            writer.resync();
            writer
        });
        writer.commit(&mut batch);
    }

    /// The writer thread: waits until the queue is handed over, then commits batches until it
    /// is empty. On close it commits what is still queued, then ends.
    fn run_thread(&self) {
        let mut state = self.lock_state();
        let mut lingered = false;
        loop {
            match state.leader {
                Leader::Thread => {}
                Leader::Nobody if state.closing => {
                    if state.queue.is_empty() {
                        return;
                    }
                    state.leader = Leader::Thread;
                }
                Leader::Nobody | Leader::Task => {
                    state = self
                        .handed_over
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                    continue;
                }
            }
            let batch = self.take_batch(&mut state);
            if batch.is_empty() {
                // Under load the next write is a moment away: wait for it rather than hand
                // the lead back and forth with the tasks.
                if !lingered {
                    lingered = true;
                    state.lingering = true;
                    state = self
                        .handed_over
                        .wait_timeout(state, LINGER)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    state.lingering = false;
                    continue;
                }
                state.leader = Leader::Nobody;
                lingered = false;
                continue;
            }
            lingered = false;
            drop(state);
            // A panicking commit drops its batch's replies (their callers see the writer
            // gone) and poisons the writer, which the next commit resynchronises.
            drop(catch_unwind(AssertUnwindSafe(|| self.commit(batch))));
            state = self.lock_state();
        }
    }
}
