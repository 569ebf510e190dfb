// A consumer whose handlers send commands keeps its inbox in the App they go to, not in the
// store.
use eventsmith::outbox::{Commands, Consumer, Subscription};
use eventsmith::{Event, SqliteStore, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Placed;

struct Desk;

#[projection(name = "fail.desk", context = Commands<SqliteStore>)]
impl Desk {
    #[on]
    async fn placed(&mut self, _message: &Placed, _commands: &mut Commands<SqliteStore>) {}
}

fn start<S: Subscription>(store: SqliteStore, subscription: S) {
    drop(Consumer::new(store, Desk, subscription));
}

fn main() {}
