//! One step of a saga instance: run a handler on its state under panic capture, and turn
//! what it decided into the [`SagaCommit`] that stores it.

use super::saga::{Association, Role, Saga, Steps};
use crate::model::envelope::Timestamp;
use crate::store::{InstanceWrite, PendingCommand, SagaCommit, SagaInstance, StoredDeadline};
use crate::util::panic;

/// The instance a step works on: a new one, or one read from the store.
pub(crate) struct Instance<G> {
    pub(crate) id: String,
    pub(crate) read_version: Option<u64>,
    pub(crate) state: G,
}

impl<G: Saga> Instance<G> {
    /// A new instance in the saga's initial state.
    pub(crate) fn new() -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            read_version: None,
            state: G::default(),
        }
    }

    /// The stored instance, decoded.
    pub(crate) fn read(stored: SagaInstance) -> Result<Self, String> {
        let state = serde_json::from_slice(&stored.state)
            .map_err(|e| format!("the state of instance `{}` does not decode: {e}", stored.id))?;
        Ok(Self {
            id: stored.id,
            read_version: Some(stored.version),
            state,
        })
    }

    /// Runs `handler` on the state at `now`; a panic is an error (the state is dropped with
    /// the step).
    pub(crate) fn run(
        mut self,
        now: Timestamp,
        handler: impl FnOnce(&mut G, &mut Steps<G>),
    ) -> Result<Decided<G>, String> {
        let mut steps = Steps::new(now);
        panic::call(|| handler(&mut self.state, &mut steps))
            .map_err(|message| format!("the handler panicked: {message}"))?;
        if let Some(error) = steps.error.take() {
            return Err(error);
        }
        Ok(Decided {
            instance: self,
            steps,
        })
    }
}

/// The instance an event's association finds: a new one for a start with a free key, the
/// stored one otherwise; `Ok(None)` when the event is ignored (a start for a key that has a
/// live instance, or a continue or end for none).
pub(crate) fn instance_for<G: Saga>(
    association: &Association,
    found: Option<SagaInstance>,
) -> Result<Option<Instance<G>>, String> {
    match (association.role, found) {
        (Role::Start, None) => Ok(Some(Instance::new())),
        (Role::Continue | Role::End, Some(stored)) => Instance::read(stored).map(Some),
        (Role::Start, Some(_)) | (Role::Continue | Role::End, None) => Ok(None),
    }
}

/// Runs an event's handler on its instance: a start associates the instance with the
/// event's key, an end ends it after the handler.
pub(crate) fn handle_event<G: Saga>(
    instance: Instance<G>,
    now: Timestamp,
    event: G::Event,
    association: Association,
    envelope: &crate::model::envelope::RecordedEvent,
) -> Result<Decided<G>, String> {
    let Association { role, key } = association;
    instance.run(now, |state, steps| {
        if role == Role::Start {
            steps.associate(key);
        }
        state.handle(event, envelope, steps);
        if role == Role::End {
            steps.end();
        }
    })
}

/// What a handler decided, not yet stored.
pub(crate) struct Decided<G> {
    pub(crate) instance: Instance<G>,
    pub(crate) steps: Steps<G>,
}

impl<G: Saga> Decided<G> {
    /// Whether the instance ends with this step.
    pub(crate) fn ends(&self) -> bool {
        self.steps.end
    }

    /// The commit of this step. Commands and deadlines take ids from the saga, the instance
    /// and the version this step gives it, so each is unique and a resend is recognised.
    pub(crate) fn into_commit(self) -> Result<SagaCommit, String> {
        let Self { instance, steps } = self;
        let version = instance.read_version.unwrap_or(0) + 1;
        let id = instance.id;
        let state = if steps.end {
            None
        } else {
            Some(
                serde_json::to_vec(&instance.state)
                    .map_err(|e| format!("the state of instance `{id}` does not encode: {e}"))?,
            )
        };
        let mut commit = SagaCommit::new(G::NAME);
        commit.commands = steps
            .commands
            .into_iter()
            .enumerate()
            .map(|(index, (name, payload))| PendingCommand {
                id: format!("{}:{id}:{version}:{index}", G::NAME),
                instance: id.clone(),
                name: name.to_owned(),
                payload,
            })
            .collect();
        commit.schedule = steps
            .schedule
            .into_iter()
            .enumerate()
            .map(|(index, (name, payload, due))| StoredDeadline {
                id: format!("{id}:{version}:{index}"),
                instance: id.clone(),
                name: name.to_owned(),
                payload,
                due,
            })
            .collect();
        commit.cancel = steps
            .cancel
            .into_iter()
            .map(|name| (id.clone(), name.to_owned()))
            .collect();
        commit.instance =
            Some(InstanceWrite::new(id, instance.read_version, state).associate(steps.associate));
        Ok(commit)
    }
}
