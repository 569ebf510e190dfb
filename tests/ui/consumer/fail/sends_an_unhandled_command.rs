// A consumer can only send commands some aggregate handles.
use eventsmith::outbox::Commands;
use eventsmith::{Command, Event, SqliteStore, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Placed;

#[derive(Clone, Command)]
struct Prepare {
    #[command(id)]
    order: String,
}

struct Desk;

#[projection(name = "fail.desk", context = Commands<SqliteStore>)]
impl Desk {
    #[on]
    async fn placed(&mut self, _message: &Placed, commands: &mut Commands<SqliteStore>) {
        drop(commands.send(Prepare { order: "o-1".into() }).await);
    }
}

fn main() {}
