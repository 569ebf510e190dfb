//! Given/when/then for sagas: events in, time passing and commands rejected, through the
//! same routing and steps a saga runner takes (on the memory store's saga tables), then
//! expectations on the commands sent, the deadlines set and the end.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::model::command::HandledCommand;
use crate::model::envelope::{Metadata, RecordedEvent, Timestamp};
use crate::model::event::Event;
use crate::process::saga::{CommandBus, Saga, SagaDeadline, SendError, Sent};
use crate::process::step::{Decided, Instance, handle_event, instance_for};
use crate::store::{InMemoryStore, PendingCommand, SagaCommit, SagaStore, StoreError};
use crate::util::block::block_on;
use crate::wire::codec::{Codec, JsonCodec};

/// A saga under test, with no runner: each event, deadline and rejection is one step of the
/// saga's instances, as the runner would take it; the commands it sends are queued for
/// [`expect_sent`](Self::expect_sent).
///
/// ```
/// use std::time::Duration;
/// use eventsmith::process::Steps;
/// use eventsmith::testing::SagaTest;
/// # use eventsmith::{Command, Event, aggregate, saga};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Serialize, Deserialize, Event)] struct Opened { ticket: String }
/// # #[derive(Debug, Clone, Serialize, Deserialize, Command)] struct Remind { #[command(id)] ticket: String }
/// # #[derive(Default)] struct Ticket;
/// # #[aggregate] impl Ticket {
/// #     #[handle] fn remind(&self, _c: Remind) -> Opened { Opened { ticket: String::new() } }
/// #     #[apply] fn opened(&mut self, _e: &Opened) {}
/// # }
/// #[derive(Debug, Serialize, Deserialize)]
/// struct NoAnswer;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Support { ticket: String }
///
/// #[saga(name = "support")]
/// impl Support {
///     #[start(key = ticket)]
///     fn opened(&mut self, event: &Opened, steps: &mut Steps<Self>) {
///         self.ticket = event.ticket.clone();
///         steps.schedule(Duration::from_secs(60), NoAnswer);
///     }
///
///     #[deadline]
///     fn no_answer(&mut self, _deadline: &NoAnswer) -> Remind {
///         Remind { ticket: self.ticket.clone() }
///     }
/// }
///
/// SagaTest::<Support>::new()
///     .given(Opened { ticket: "t-1".into() })
///     .expect_scheduled::<NoAnswer>(Duration::from_secs(60))
///     .expect_nothing_sent()
///     .elapse(Duration::from_secs(61))
///     .expect_sent(|remind: Remind| assert_eq!(remind.ticket, "t-1"));
/// ```
#[derive(Debug)]
pub struct SagaTest<G> {
    tables: InMemoryStore,
    now: Timestamp,
    position: u64,
    /// Commands sent and not yet expected, oldest first.
    sent: VecDeque<PendingCommand>,
    /// Every command sent, for rejections.
    history: Vec<PendingCommand>,
    /// The instance the last step worked on.
    last_instance: Option<String>,
    saga: std::marker::PhantomData<fn() -> G>,
}

impl<G: Saga> Default for SagaTest<G> {
    fn default() -> Self {
        Self::new()
    }
}

impl<G: Saga> SagaTest<G> {
    /// A saga with no instances, its clock at a fixed time.
    #[must_use]
    pub fn new() -> Self {
        Self {
            tables: InMemoryStore::new(),
            now: Timestamp::from_micros(1_800_000_000_000_000),
            position: 0,
            sent: VecDeque::new(),
            history: Vec::new(),
            last_instance: None,
            saga: std::marker::PhantomData,
        }
    }

    /// The test clock.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Handles `event` as the next event of the log.
    ///
    /// # Panics
    /// When the saga does not handle the event's type, or its handler fails.
    #[track_caller]
    pub fn given<E: Event>(mut self, event: E) -> Self {
        self.position += 1;
        let payload = JsonCodec.encode(&event).expect("the event serializes");
        let recorded = RecordedEvent {
            event_id: uuid::Uuid::now_v7(),
            stream_id: Arc::from("saga-test"),
            stream_version: self.position,
            global_position: self.position,
            event_type: Arc::from(E::NAME),
            schema_version: E::VERSION,
            payload: Arc::from(payload),
            metadata: Arc::new(Metadata::default()),
            timestamp: self.now,
        };
        let Some((decoded, association)) = G::decode(&JsonCodec, &recorded)
            .unwrap_or_else(|e| panic!("the event does not decode: {e}"))
        else {
            panic!("the saga `{}` handles no `{}`", G::NAME, E::NAME);
        };
        let found = self.wait(self.tables.find_instance(G::NAME, &association.key));
        let Some(instance) = instance_for::<G>(&association, found)
            .unwrap_or_else(|why| panic!("the instance does not load: {why}"))
        else {
            // Ignored, as the runner ignores it.
            return self;
        };
        let decided = handle_event(instance, self.now, decoded, association, &recorded);
        self.store(decided, SagaCommit::new(G::NAME));
        self
    }

    /// Moves the clock on by `by`, firing the deadlines that become due, earliest first.
    ///
    /// # Panics
    /// When a deadline's handler fails.
    #[track_caller]
    pub fn elapse(mut self, by: Duration) -> Self {
        self.now = self.now.after(by);
        let due = self.wait(self.tables.due_deadlines(G::NAME, self.now, usize::MAX));
        for deadline in due {
            let decoded = G::decode_deadline(&deadline.name, &deadline.payload)
                .unwrap_or_else(|e| panic!("the deadline `{}` does not decode: {e}", deadline.name))
                .unwrap_or_else(|| panic!("no #[deadline] handler takes `{}`", deadline.name));
            let instance = self.instance(&deadline.instance);
            let now = self.now;
            let decided = instance.run(now, |state, steps| state.on_deadline(decoded, steps));
            let mut commit = SagaCommit::new(G::NAME);
            commit.fired = Some(deadline.id);
            self.store(decided, commit);
        }
        self
    }

    /// The aggregate rejects the last command of type `C` the saga sent, with `error`: its
    /// `#[rejected]` handler runs.
    ///
    /// # Panics
    /// When the saga sent no `C`, or no `#[rejected]` handler takes it.
    #[track_caller]
    pub fn reject<C: HandledCommand>(mut self, error: C::Error) -> Self {
        let command = self
            .history
            .iter()
            .rev()
            .find(|c| c.name == C::NAME)
            .cloned()
            .unwrap_or_else(|| panic!("the saga sent no `{}`", C::NAME));
        let bus = Rejecting {
            name: C::NAME,
            error: Mutex::new(Some(Box::new(error))),
        };
        let rejection = match block_on(G::send(&bus, &command)) {
            Sent::Rejected(rejection) => rejection,
            Sent::Unhandled(_) => {
                panic!(
                    "no #[rejected] handler of `{}` takes `{}`",
                    G::NAME,
                    C::NAME
                )
            }
            Sent::Done | Sent::Failed(_) => {
                panic!("the sent `{}` does not decode as one", C::NAME)
            }
        };
        let instance = self.instance(&command.instance);
        let now = self.now;
        let decided = instance.run(now, |state, steps| state.on_rejected(rejection, steps));
        let mut commit = SagaCommit::new(G::NAME);
        commit.sent = Some(command.id);
        self.store(decided, commit);
        self
    }

    /// Expects the next command sent (in order) to be a `C`, and checks it.
    ///
    /// # Panics
    /// When nothing more was sent, or another command was.
    #[track_caller]
    pub fn expect_sent<C: HandledCommand + DeserializeOwned>(
        mut self,
        check: impl FnOnce(C),
    ) -> Self {
        let Some(next) = self.sent.pop_front() else {
            panic!("expected a `{}` to be sent, but nothing more was", C::NAME);
        };
        assert!(
            next.name == C::NAME,
            "expected a `{}` to be sent, but the next was a `{}`",
            C::NAME,
            next.name
        );
        let command = serde_json::from_slice(&next.payload)
            .unwrap_or_else(|e| panic!("the sent `{}` does not decode: {e}", C::NAME));
        check(command);
        self
    }

    /// Expects no command sent that [`expect_sent`](Self::expect_sent) has not taken.
    ///
    /// # Panics
    /// When one was.
    #[track_caller]
    pub fn expect_nothing_sent(self) -> Self {
        let names: Vec<&str> = self.sent.iter().map(|c| c.name.as_str()).collect();
        assert!(
            names.is_empty(),
            "expected nothing more sent, but: {names:?}"
        );
        self
    }

    /// Expects a pending deadline of type `D` due `after` from now.
    ///
    /// # Panics
    /// When there is none.
    #[track_caller]
    pub fn expect_scheduled<D: SagaDeadline<G>>(self, after: Duration) -> Self {
        let due = self.now.after(after);
        let pending = self.wait(self.tables.due_deadlines(
            G::NAME,
            Timestamp::from_micros(i64::MAX),
            usize::MAX,
        ));
        assert!(
            pending.iter().any(|d| d.name == D::NAME && d.due == due),
            "expected a `{}` due at {due}, but the pending deadlines are: {:?}",
            D::NAME,
            pending.iter().map(|d| (&d.name, d.due)).collect::<Vec<_>>()
        );
        self
    }

    /// Expects no pending deadline of type `D`.
    ///
    /// # Panics
    /// When there is one.
    #[track_caller]
    pub fn expect_no_deadline<D: SagaDeadline<G>>(self) -> Self {
        let pending = self.wait(self.tables.due_deadlines(
            G::NAME,
            Timestamp::from_micros(i64::MAX),
            usize::MAX,
        ));
        assert!(
            !pending.iter().any(|d| d.name == D::NAME),
            "expected no pending `{}`",
            D::NAME
        );
        self
    }

    /// Expects the instance of the last step to have ended.
    ///
    /// # Panics
    /// When it lives on.
    #[track_caller]
    pub fn expect_ended(self) -> Self {
        let id = self.last_instance.clone().expect("a step took place");
        let live = self.wait(self.tables.load_instance(G::NAME, &id));
        assert!(live.is_none(), "expected the instance `{id}` to have ended");
        self
    }

    /// Runs `check` on the state of the instance associated with `key`.
    ///
    /// # Panics
    /// When there is none.
    #[track_caller]
    pub fn then_state(self, key: &str, check: impl FnOnce(&G)) -> Self {
        let stored = self
            .wait(self.tables.find_instance(G::NAME, key))
            .unwrap_or_else(|| panic!("no live instance has the key `{key}`"));
        let instance = Instance::<G>::read(stored).unwrap_or_else(|why| panic!("{why}"));
        check(&instance.state);
        self
    }

    /// The live instance `id`.
    #[track_caller]
    fn instance(&self, id: &str) -> Instance<G> {
        let stored = self
            .wait(self.tables.load_instance(G::NAME, id))
            .unwrap_or_else(|| panic!("the instance `{id}` has ended"));
        Instance::read(stored).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Stores a step as the runner would, and queues the commands it decided.
    #[track_caller]
    fn store(&mut self, decided: Result<Decided<G>, String>, base: SagaCommit) {
        let decided = decided.unwrap_or_else(|why| panic!("the saga failed: {why}"));
        let mut commit = decided
            .into_commit()
            .unwrap_or_else(|why| panic!("the saga failed: {why}"));
        commit.fired = base.fired;
        commit.sent = base.sent;
        self.last_instance = commit.instance.as_ref().map(|i| i.id.clone());
        let commands = commit.commands.clone();
        self.wait(self.tables.commit_saga(commit));
        for command in commands {
            let mut sent = SagaCommit::new(G::NAME);
            sent.sent = Some(command.id.clone());
            self.wait(self.tables.commit_saga(sent));
            self.history.push(command.clone());
            self.sent.push_back(command);
        }
    }

    #[track_caller]
    fn wait<T>(&self, future: impl Future<Output = Result<T, StoreError>>) -> T {
        block_on(future).unwrap_or_else(|e| panic!("the saga tables refused: {e}"))
    }
}

/// A bus that rejects the command `name` with `error`.
struct Rejecting {
    name: &'static str,
    error: Mutex<Option<Box<dyn Any + Send>>>,
}

impl CommandBus for Rejecting {
    async fn send<C: HandledCommand>(
        &self,
        _command: C,
        _key: &str,
        _saga: &'static str,
    ) -> Result<(), SendError<C::Error>> {
        let error = self
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .filter(|_| C::NAME == self.name)
            .and_then(|error| error.downcast::<C::Error>().ok());
        match error {
            Some(error) => Err(SendError::Rejected(*error)),
            None => Ok(()),
        }
    }
}
