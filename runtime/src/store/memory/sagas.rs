//! The memory store's saga tables: one map per saga, changed under one lock, so a commit is
//! all or nothing as in the SQL backends.

use std::collections::HashMap;
use std::sync::PoisonError;

use foldhash::fast::RandomState;

use super::InMemoryStore;
use crate::model::envelope::Timestamp;
use crate::store::{
    PendingCommand, SagaCommit, SagaInstance, SagaStore, StoreError, StoredDeadline,
};

/// Every saga's tables, by saga name.
#[derive(Debug, Default)]
pub(super) struct Sagas {
    by_name: HashMap<String, Tables, RandomState>,
}

#[derive(Debug, Default)]
struct Tables {
    position: u64,
    instances: HashMap<String, SagaInstance, RandomState>,
    /// Association key → instance id.
    keys: HashMap<String, String, RandomState>,
    /// In the order decided.
    commands: Vec<PendingCommand>,
    deadlines: Vec<StoredDeadline>,
}

impl Tables {
    /// Checks everything `commit` read before anything changes.
    fn check(&self, commit: &SagaCommit) -> Result<(), StoreError> {
        if let Some((read, _)) = commit.position {
            if read != self.position {
                return Err(StoreError::Superseded(format!(
                    "saga `{}` is at position {}, not {read}",
                    commit.saga, self.position
                )));
            }
        }
        if let Some(write) = &commit.instance {
            let stored = self.instances.get(&write.id).map(|i| i.version);
            if stored != write.read_version {
                return Err(StoreError::Superseded(format!(
                    "saga `{}` instance `{}` is at version {stored:?}, not {:?}",
                    commit.saga, write.id, write.read_version
                )));
            }
            for key in &write.associate {
                if self.keys.get(key).is_some_and(|owner| *owner != write.id) {
                    return Err(StoreError::Invalid(format!(
                        "saga `{}`: the key `{key}` is associated with another instance",
                        commit.saga
                    )));
                }
            }
        }
        if let Some(fired) = &commit.fired {
            if !self.deadlines.iter().any(|d| d.id == *fired) {
                return Err(StoreError::Superseded(format!(
                    "saga `{}` deadline `{fired}` is no longer pending",
                    commit.saga
                )));
            }
        }
        Ok(())
    }

    fn apply(&mut self, commit: SagaCommit) {
        if let Some((_, to)) = commit.position {
            self.position = to;
        }
        if let Some(fired) = &commit.fired {
            self.deadlines.retain(|d| d.id != *fired);
        }
        if let Some(sent) = &commit.sent {
            self.commands.retain(|c| c.id != *sent);
        }
        for (instance, name) in &commit.cancel {
            self.deadlines
                .retain(|d| d.instance != *instance || d.name != *name);
        }
        self.deadlines.extend(commit.schedule);
        self.commands.extend(commit.commands);
        let Some(write) = commit.instance else {
            return;
        };
        match write.state {
            Some(state) => {
                let version = write.read_version.unwrap_or(0) + 1;
                for key in write.associate {
                    self.keys.insert(key, write.id.clone());
                }
                self.instances.insert(
                    write.id.clone(),
                    SagaInstance {
                        id: write.id,
                        state,
                        version,
                    },
                );
            }
            None => {
                self.instances.remove(&write.id);
                self.keys.retain(|_, owner| *owner != write.id);
                self.deadlines.retain(|d| d.instance != write.id);
            }
        }
    }
}

impl InMemoryStore {
    fn with_sagas<T>(&self, f: impl FnOnce(&mut Sagas) -> T) -> T {
        let mut sagas = self
            .inner
            .sagas
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut sagas)
    }

    fn with_tables<T>(&self, saga: &str, f: impl FnOnce(&Tables) -> T) -> Result<T, StoreError> {
        check_saga(saga)?;
        Ok(self.with_sagas(|sagas| match sagas.by_name.get(saga) {
            Some(tables) => f(tables),
            None => f(&Tables::default()),
        }))
    }
}

fn check_saga(saga: &str) -> Result<(), StoreError> {
    if saga.is_empty() {
        return Err(StoreError::Invalid("the saga name is empty".to_owned()));
    }
    Ok(())
}

impl SagaStore for InMemoryStore {
    async fn saga_position(&self, saga: &str) -> Result<u64, StoreError> {
        self.with_tables(saga, |t| t.position)
    }

    async fn find_instance(
        &self,
        saga: &str,
        key: &str,
    ) -> Result<Option<SagaInstance>, StoreError> {
        self.with_tables(saga, |t| {
            t.keys.get(key).and_then(|id| t.instances.get(id)).cloned()
        })
    }

    async fn load_instance(
        &self,
        saga: &str,
        id: &str,
    ) -> Result<Option<SagaInstance>, StoreError> {
        self.with_tables(saga, |t| t.instances.get(id).cloned())
    }

    async fn commit_saga(&self, commit: SagaCommit) -> Result<(), StoreError> {
        check_saga(&commit.saga)?;
        self.with_sagas(|sagas| {
            let tables = sagas.by_name.entry(commit.saga.clone()).or_default();
            tables.check(&commit)?;
            tables.apply(commit);
            Ok(())
        })
    }

    async fn pending_commands(
        &self,
        saga: &str,
        limit: usize,
    ) -> Result<Vec<PendingCommand>, StoreError> {
        self.with_tables(saga, |t| t.commands.iter().take(limit).cloned().collect())
    }

    async fn due_deadlines(
        &self,
        saga: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<StoredDeadline>, StoreError> {
        self.with_tables(saga, |t| {
            let mut due: Vec<StoredDeadline> = t
                .deadlines
                .iter()
                .filter(|d| d.due <= now)
                .cloned()
                .collect();
            due.sort_by_key(|d| d.due);
            due.truncate(limit);
            due
        })
    }

    async fn next_deadline(&self, saga: &str) -> Result<Option<Timestamp>, StoreError> {
        self.with_tables(saga, |t| t.deadlines.iter().map(|d| d.due).min())
    }
}
