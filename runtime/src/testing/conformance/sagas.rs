//! What sagas keep in the store: positions, instances and their keys, commands to send and
//! deadlines, each step committed whole and fenced against a runner that committed first.

use std::sync::Arc;

use crate::model::envelope::Timestamp;
use crate::store::{
    InstanceWrite, PendingCommand, SagaCommit, SagaStore, StoreError, StoredDeadline,
};

/// Runs every saga check, each on a fresh store.
pub async fn run_sagas<S, F, Fut>(make: F)
where
    S: SagaStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    saga_positions_are_fenced(make().await).await;
    saga_instances_are_versioned_and_found_by_key(make().await).await;
    saga_commits_are_whole(make().await).await;
    saga_commands_wait_until_sent(make().await).await;
    saga_deadlines_fire_once_and_cancel(make().await).await;
    ended_saga_instances_leave_nothing_behind(make().await).await;
}

fn command(id: &str, instance: &str) -> PendingCommand {
    PendingCommand {
        id: id.to_owned(),
        instance: instance.to_owned(),
        name: "Reserve".to_owned(),
        payload: format!("{{\"for\":\"{id}\"}}").into_bytes(),
    }
}

fn deadline(id: &str, instance: &str, name: &str, due_micros: i64) -> StoredDeadline {
    StoredDeadline {
        id: id.to_owned(),
        instance: instance.to_owned(),
        name: name.to_owned(),
        payload: b"{}".to_vec(),
        due: Timestamp::from_micros(1_700_000_000_000_000 + due_micros),
    }
}

fn at(micros: i64) -> Timestamp {
    Timestamp::from_micros(1_700_000_000_000_000 + micros)
}

fn moving(saga: &str, from: u64, to: u64) -> SagaCommit {
    let mut commit = SagaCommit::new(saga);
    commit.position = Some((from, to));
    commit
}

fn superseded(result: Result<(), StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Superseded(_))),
        "{what}: expected Superseded, got {result:?}"
    );
}

/// A step moves the saga's position only from the position it read; sagas are apart.
pub async fn saga_positions_are_fenced<S: SagaStore>(store: S) {
    assert_eq!(store.saga_position("orders").await.unwrap(), 0);
    store.commit_saga(moving("orders", 0, 5)).await.unwrap();
    superseded(
        store.commit_saga(moving("orders", 0, 7)).await,
        "a second step from position 0",
    );
    store.commit_saga(moving("orders", 5, 9)).await.unwrap();
    assert_eq!(store.saga_position("orders").await.unwrap(), 9);
    assert_eq!(
        store.saga_position("payments").await.unwrap(),
        0,
        "each saga has its own position"
    );
    assert!(matches!(
        store.saga_position("").await,
        Err(StoreError::Invalid(_))
    ));
}

/// An instance is found by each of its keys; each commit moves its version, and a commit
/// from a version that moved on is refused.
pub async fn saga_instances_are_versioned_and_found_by_key<S: SagaStore>(store: S) {
    let mut start = moving("orders", 0, 1);
    start.instance = Some(
        InstanceWrite::new("i-1", None, Some(b"{\"step\":1}".to_vec()))
            .associate(vec!["order-1".to_owned()]),
    );
    store.commit_saga(start).await.unwrap();
    let found = store.find_instance("orders", "order-1").await.unwrap();
    let found = found.expect("the instance is found by its key");
    assert_eq!(
        (found.id.as_str(), found.state.as_slice(), found.version),
        ("i-1", &b"{\"step\":1}"[..], 1)
    );
    assert_eq!(
        store.find_instance("orders", "order-2").await.unwrap(),
        None
    );
    assert_eq!(
        store.find_instance("payments", "order-1").await.unwrap(),
        None,
        "keys are per saga"
    );

    let mut next = moving("orders", 1, 2);
    next.instance = Some(
        InstanceWrite::new("i-1", Some(1), Some(b"{\"step\":2}".to_vec()))
            .associate(vec!["payment-9".to_owned()]),
    );
    store.commit_saga(next).await.unwrap();
    let by_payment = store.find_instance("orders", "payment-9").await.unwrap();
    assert_eq!(
        by_payment.map(|i| (i.id, i.version)),
        Some(("i-1".to_owned(), 2))
    );
    assert_eq!(
        store
            .load_instance("orders", "i-1")
            .await
            .unwrap()
            .map(|i| i.state),
        Some(b"{\"step\":2}".to_vec())
    );

    let mut stale = SagaCommit::new("orders");
    stale.instance = Some(InstanceWrite::new(
        "i-1",
        Some(1),
        Some(b"{\"step\":3}".to_vec()),
    ));
    superseded(store.commit_saga(stale).await, "a step from version 1");
    let mut again = SagaCommit::new("orders");
    again.instance = Some(InstanceWrite::new("i-1", None, Some(b"{}".to_vec())));
    superseded(
        store.commit_saga(again).await,
        "creating an instance that exists",
    );

    let mut taken = SagaCommit::new("orders");
    taken.instance = Some(
        InstanceWrite::new("i-2", None, Some(b"{}".to_vec())).associate(vec!["order-1".to_owned()]),
    );
    let refused = store.commit_saga(taken).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "a key of another live instance: {refused:?}"
    );
    assert_eq!(store.load_instance("orders", "i-2").await.unwrap(), None);
}

/// A refused step leaves nothing of itself behind: not its commands, deadlines, state or
/// position.
pub async fn saga_commits_are_whole<S: SagaStore>(store: S) {
    store.commit_saga(moving("orders", 0, 3)).await.unwrap();
    let mut refused = moving("orders", 1, 4);
    refused.instance =
        Some(InstanceWrite::new("i-1", None, Some(b"{}".to_vec())).associate(vec!["k".to_owned()]));
    refused.commands.push(command("c-1", "i-1"));
    refused.schedule.push(deadline("d-1", "i-1", "Timeout", 0));
    superseded(store.commit_saga(refused).await, "a step from position 1");
    assert_eq!(store.saga_position("orders").await.unwrap(), 3);
    assert_eq!(store.load_instance("orders", "i-1").await.unwrap(), None);
    assert_eq!(store.find_instance("orders", "k").await.unwrap(), None);
    assert!(
        store
            .pending_commands("orders", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_deadline("orders").await.unwrap(), None);
}

/// Commands wait in the order decided until a step says it handled them as sent.
pub async fn saga_commands_wait_until_sent<S: SagaStore>(store: S) {
    let mut decided = moving("orders", 0, 1);
    decided.commands = vec![command("c-1", "i-1"), command("c-2", "i-1")];
    store.commit_saga(decided).await.unwrap();
    let mut more = moving("orders", 1, 2);
    more.commands = vec![command("c-3", "i-2")];
    store.commit_saga(more).await.unwrap();
    let ids =
        |commands: Vec<PendingCommand>| commands.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.pending_commands("orders", 10).await.unwrap()),
        ["c-1", "c-2", "c-3"]
    );
    assert_eq!(
        store.pending_commands("orders", 1).await.unwrap(),
        [command("c-1", "i-1")],
        "the oldest first, whole"
    );
    let mut sent = SagaCommit::new("orders");
    sent.sent = Some("c-1".to_owned());
    store.commit_saga(sent).await.unwrap();
    assert_eq!(
        ids(store.pending_commands("orders", 10).await.unwrap()),
        ["c-2", "c-3"]
    );
    assert!(
        store
            .pending_commands("payments", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Deadlines are due by time, earliest first; a fired one is gone and fires once; cancelling
/// removes an instance's deadlines of one name.
pub async fn saga_deadlines_fire_once_and_cancel<S: SagaStore>(store: S) {
    let mut set = moving("orders", 0, 1);
    set.schedule = vec![
        deadline("d-late", "i-1", "Timeout", 3_000),
        deadline("d-early", "i-1", "Timeout", 1_000),
        deadline("d-other", "i-1", "Reminder", 2_000),
        deadline("d-i2", "i-2", "Timeout", 1_500),
    ];
    store.commit_saga(set).await.unwrap();
    assert_eq!(
        store.next_deadline("orders").await.unwrap(),
        Some(at(1_000))
    );
    assert_eq!(store.next_deadline("payments").await.unwrap(), None);
    let due = store.due_deadlines("orders", at(2_000), 10).await.unwrap();
    let ids: Vec<&str> = due.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        ["d-early", "d-i2", "d-other"],
        "due by now, earliest first"
    );
    assert_eq!(
        due[0],
        deadline("d-early", "i-1", "Timeout", 1_000),
        "whole"
    );
    assert_eq!(
        store
            .due_deadlines("orders", at(2_000), 1)
            .await
            .unwrap()
            .len(),
        1
    );

    let mut fire = SagaCommit::new("orders");
    fire.fired = Some("d-early".to_owned());
    fire.commands = vec![command("c-1", "i-1")];
    store.commit_saga(fire.clone()).await.unwrap();
    superseded(store.commit_saga(fire).await, "firing a fired deadline");
    assert_eq!(
        store.pending_commands("orders", 10).await.unwrap().len(),
        1,
        "the second firing committed nothing"
    );

    let mut cancel = SagaCommit::new("orders");
    cancel.cancel = vec![("i-1".to_owned(), "Timeout".to_owned())];
    store.commit_saga(cancel).await.unwrap();
    let left = store.due_deadlines("orders", at(10_000), 10).await.unwrap();
    let ids: Vec<&str> = left.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        ["d-i2", "d-other"],
        "only i-1's Timeouts are cancelled"
    );
}

/// An instance that ends leaves no state, keys or deadlines; the commands it decided are
/// still sent.
pub async fn ended_saga_instances_leave_nothing_behind<S: SagaStore>(store: S) {
    let mut start = moving("orders", 0, 1);
    start.instance = Some(
        InstanceWrite::new("i-1", None, Some(b"{}".to_vec()))
            .associate(vec!["order-1".to_owned(), "pay-1".to_owned()]),
    );
    start.schedule = vec![deadline("d-1", "i-1", "Timeout", 0)];
    store.commit_saga(start).await.unwrap();
    let mut end = moving("orders", 1, 2);
    end.instance = Some(InstanceWrite::new("i-1", Some(1), None));
    end.commands = vec![command("c-last", "i-1")];
    store.commit_saga(end).await.unwrap();
    assert_eq!(store.load_instance("orders", "i-1").await.unwrap(), None);
    assert_eq!(
        store.find_instance("orders", "order-1").await.unwrap(),
        None
    );
    assert_eq!(store.find_instance("orders", "pay-1").await.unwrap(), None);
    assert_eq!(store.next_deadline("orders").await.unwrap(), None);
    assert_eq!(
        store.pending_commands("orders", 10).await.unwrap(),
        [command("c-last", "i-1")]
    );
    // Its keys are free for a new instance.
    let mut again = moving("orders", 2, 3);
    again.instance = Some(
        InstanceWrite::new("i-2", None, Some(b"{}".to_vec())).associate(vec!["order-1".to_owned()]),
    );
    store.commit_saga(again).await.unwrap();
    assert_eq!(
        store
            .find_instance("orders", "order-1")
            .await
            .unwrap()
            .map(|i| i.id),
        Some("i-2".to_owned())
    );
}

/// How many tasks race each fence.
const TASKS: u64 = 8;

fn raced_command(id: String, instance: &str) -> PendingCommand {
    PendingCommand {
        id,
        instance: instance.to_owned(),
        name: "Reserve".to_owned(),
        payload: b"{}".to_vec(),
    }
}

/// Runs `TASKS` tasks, alternating between `stores`, each committing `step(task)` at once;
/// answers the one task whose commit won, after checking every other was refused as `lost`
/// says.
async fn race<S: SagaStore + Clone>(
    stores: &[S; 2],
    lost: fn(&StoreError) -> bool,
    step: impl Fn(u64) -> SagaCommit,
) -> u64 {
    let start = Arc::new(tokio::sync::Barrier::new(TASKS as usize));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (store, start) = (stores[(task % 2) as usize].clone(), Arc::clone(&start));
            let commit = step(task);
            tokio::spawn(async move {
                start.wait().await;
                (task, store.commit_saga(commit).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (task, Ok(())) => winners.push(task),
            (_, Err(e)) if lost(&e) => {}
            (task, Err(e)) => panic!("task {task}: expected a win or a refusal, got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one commit wins: {winners:?}");
    winners[0]
}

fn is_superseded(e: &StoreError) -> bool {
    matches!(e, StoreError::Superseded(_))
}

/// Each fence raced on its own: the position, creating an instance, an instance's version,
/// a key (its losers are refused as invalid), a fired deadline.
///
/// Run it with two handles on one store (two stores on one file, database or schema), so
/// that the races cross handles as they would cross processes.
///
/// # Panics
/// When more or fewer than one commit of a race wins, a loser is refused for another reason,
/// or a loser's writes are stored.
pub async fn saga_commits_race_between_handles<S: SagaStore + Clone>(stores: &[S; 2]) {
    let mut sent = Vec::new();
    for round in 0..4_u64 {
        let from = stores[0].saga_position("race").await.unwrap();
        let winner = race(stores, is_superseded, |task| {
            let mut step = SagaCommit::new("race");
            step.position = Some((from, from + 1 + task));
            step.commands = vec![raced_command(format!("c-{round}-{task}"), "i-0")];
            step
        })
        .await;
        sent.push(format!("c-{round}-{winner}"));
        assert_eq!(
            stores[1].saga_position("race").await.unwrap(),
            from + 1 + winner
        );
    }
    let winner = race(stores, is_superseded, |task| {
        let mut step = SagaCommit::new("race");
        step.instance = Some(
            InstanceWrite::new("i-0", None, Some(task.to_string().into_bytes()))
                .associate(vec![format!("k-{task}")]),
        );
        step.commands = vec![raced_command(format!("c-new-{task}"), "i-0")];
        step
    })
    .await;
    sent.push(format!("c-new-{winner}"));
    let found = stores[1]
        .find_instance("race", &format!("k-{winner}"))
        .await;
    let found = found.unwrap().expect("the winner's instance");
    assert_eq!(
        (found.id.as_str(), found.state, found.version),
        ("i-0", winner.to_string().into_bytes(), 1)
    );
    for task in (0..TASKS).filter(|t| *t != winner) {
        let lost = stores[0].find_instance("race", &format!("k-{task}")).await;
        assert_eq!(lost.unwrap(), None, "a loser's key is not stored");
    }
    let winner = race(stores, is_superseded, |task| {
        let mut step = SagaCommit::new("race");
        step.instance = Some(InstanceWrite::new(
            "i-0",
            Some(1),
            Some(format!("again {task}").into_bytes()),
        ));
        step
    })
    .await;
    let moved = stores[0]
        .load_instance("race", "i-0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (moved.state, moved.version),
        (format!("again {winner}").into_bytes(), 2)
    );
    let winner = race(
        stores,
        |e| matches!(e, StoreError::Invalid(_)),
        |task| {
            let mut step = SagaCommit::new("race");
            step.instance = Some(
                InstanceWrite::new(format!("j-{task}"), None, Some(b"{}".to_vec()))
                    .associate(vec!["shared".to_owned()]),
            );
            step
        },
    )
    .await;
    let owner = stores[1].find_instance("race", "shared").await.unwrap();
    assert_eq!(owner.map(|i| i.id), Some(format!("j-{winner}")));
    for task in (0..TASKS).filter(|t| *t != winner) {
        let lost = stores[0].load_instance("race", &format!("j-{task}")).await;
        assert_eq!(lost.unwrap(), None, "a loser's instance is not stored");
    }
    let mut set = SagaCommit::new("race");
    set.schedule = vec![StoredDeadline {
        id: "d-1".to_owned(),
        instance: "i-0".to_owned(),
        name: "Timeout".to_owned(),
        payload: b"{}".to_vec(),
        due: Timestamp::from_micros(0),
    }];
    stores[0].commit_saga(set).await.unwrap();
    let winner = race(stores, is_superseded, |task| {
        let mut step = SagaCommit::new("race");
        step.fired = Some("d-1".to_owned());
        step.commands = vec![raced_command(format!("c-fired-{task}"), "i-0")];
        step
    })
    .await;
    sent.push(format!("c-fired-{winner}"));
    assert_eq!(stores[1].next_deadline("race").await.unwrap(), None);
    let pending = stores[1].pending_commands("race", 100).await.unwrap();
    let pending: Vec<String> = pending.into_iter().map(|c| c.id).collect();
    assert_eq!(pending, sent, "only the winners' commands, in order");
}
