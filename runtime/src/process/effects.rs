//! The steps a saga runner takes besides handling events: sending an instance's commands in
//! order, firing a deadline, and committing a step (or finding another runner was first).

use std::sync::Arc;

use tokio::sync::watch;

use super::saga::{CommandBus, Saga, Sent};
use super::status::{SagaError, SagaProgress, store_error};
use super::step::{Decided, Instance};
use crate::model::envelope::Timestamp;
use crate::store::{PendingCommand, SagaCommit, SagaStore, StoreError, StoredDeadline};

/// What sending one instance's commands came to.
pub(super) struct GroupSent<R> {
    pub(super) done: u64,
    pub(super) unhandled: u64,
    /// Rejections a `#[rejected]` handler takes, still pending: the caller hands them back.
    pub(super) rejected: Vec<(PendingCommand, R)>,
    /// Why the group stopped early: the rest stays pending.
    pub(super) failed: Option<String>,
}

/// Pending commands by instance, each instance's in the order decided, the instances in the
/// order of their first command.
pub(super) fn by_instance(pending: Vec<PendingCommand>) -> Vec<Vec<PendingCommand>> {
    let mut groups: Vec<Vec<PendingCommand>> = Vec::new();
    let mut index = std::collections::HashMap::<String, usize>::new();
    for command in pending {
        let at = *index.entry(command.instance.clone()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(command);
    }
    groups
}

/// Sends one instance's commands in order, storing each as sent (a rejection a handler takes
/// stays pending for the caller); stops at the first that cannot be sent.
pub(super) async fn send_group<S: SagaStore, G: Saga, B: CommandBus>(
    store: Arc<S>,
    bus: Arc<B>,
    group: Vec<PendingCommand>,
) -> Result<GroupSent<G::Rejection>, SagaError> {
    let mut sent = GroupSent {
        done: 0,
        unhandled: 0,
        rejected: Vec::new(),
        failed: None,
    };
    for command in group {
        match G::send(&*bus, &command).await {
            Sent::Done => sent.done += 1,
            Sent::Unhandled(why) => {
                tracing::warn!(saga = G::NAME, command = %command.name, %why, "rejected command dropped: no #[rejected] handler takes it");
                sent.unhandled += 1;
            }
            Sent::Rejected(rejection) => {
                sent.rejected.push((command, rejection));
                continue;
            }
            Sent::Failed(why) => {
                sent.failed = Some(format!("`{}`: {why}", command.name));
                break;
            }
        }
        let mut commit = SagaCommit::new(G::NAME);
        commit.sent = Some(command.id);
        store.commit_saga(commit).await.map_err(store_error::<G>)?;
    }
    Ok(sent)
}

/// Fires one deadline: its handler's step, in one commit with the deadline's removal.
pub(super) async fn fire<S: SagaStore, G: Saga>(
    store: Arc<S>,
    progress: Arc<watch::Sender<SagaProgress>>,
    deadline: StoredDeadline,
    now: Timestamp,
) -> Result<(), SagaError> {
    let decoded = match G::decode_deadline(&deadline.name, &deadline.payload) {
        Ok(Some(decoded)) => Some(decoded),
        Ok(None) => {
            tracing::error!(saga = G::NAME, deadline = %deadline.name, "no #[deadline] handler takes this deadline; it is dropped");
            None
        }
        Err(e) => {
            tracing::error!(saga = G::NAME, deadline = %deadline.name, error = %e, "the deadline does not decode; it is dropped");
            None
        }
    };
    let mut commit = SagaCommit::new(G::NAME);
    if let Some(decoded) = decoded {
        let step = step_of(&*store, &deadline.instance, |instance: Instance<G>| {
            instance.run(now, |state, steps| state.on_deadline(decoded, steps))
        })
        .await?;
        match step {
            Some(Ok(decided)) => commit = commit_of(&progress, decided)?,
            Some(Err(why)) => {
                tracing::error!(saga = G::NAME, deadline = %deadline.name, %why, "the #[deadline] handler failed; the deadline is dropped");
            }
            None => {}
        }
    }
    commit.fired = Some(deadline.id);
    if commit_or_supersede::<S, G>(&store, &progress, commit).await? {
        progress.send_modify(|p| p.fired += 1);
    }
    Ok(())
}

/// Loads instance `id` and runs `step` on it; `None` when it ended.
pub(super) async fn step_of<S: SagaStore, G: Saga>(
    store: &S,
    id: &str,
    step: impl FnOnce(Instance<G>) -> Result<Decided<G>, String>,
) -> Result<Option<Result<Decided<G>, String>>, SagaError> {
    let stored = store
        .load_instance(G::NAME, id)
        .await
        .map_err(store_error::<G>)?;
    Ok(stored.map(|stored| Instance::read(stored).and_then(step)))
}

/// The commit of a decided step, counting an instance that ends.
pub(super) fn commit_of<G: Saga>(
    progress: &watch::Sender<SagaProgress>,
    decided: Decided<G>,
) -> Result<SagaCommit, SagaError> {
    if decided.ends() {
        progress.send_modify(|p| p.ended += 1);
    }
    decided.into_commit().map_err(|cause| SagaError::Handler {
        saga: G::NAME,
        event_type: String::new(),
        stream: String::new(),
        position: 0,
        attempts: 1,
        cause,
    })
}

/// Commits; answers `false` when another runner committed first.
pub(super) async fn commit_or_supersede<S: SagaStore, G: Saga>(
    store: &S,
    progress: &watch::Sender<SagaProgress>,
    commit: SagaCommit,
) -> Result<bool, SagaError> {
    match store.commit_saga(commit).await {
        Ok(()) => Ok(true),
        Err(StoreError::Superseded(why)) => {
            tracing::debug!(saga = G::NAME, %why, "another runner committed first");
            progress.send_modify(|p| p.superseded += 1);
            Ok(false)
        }
        Err(cause) => Err(store_error::<G>(cause)),
    }
}
