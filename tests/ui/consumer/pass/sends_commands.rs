// A consumer whose handlers send commands, started on the App its commands go to; one whose
// handlers write a SQL read model, started on its store.
use eventsmith::outbox::{Commands, Consumer, Subscription};
use eventsmith::projection::SqliteConnection;
use eventsmith::{App, Command, CommandError, Event, SqliteStore, aggregate, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "orders.placed", version = 1)]
struct Placed {
    order: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
struct Prepared;

#[derive(Clone, Command)]
struct Prepare {
    #[command(id)]
    order: String,
}

#[derive(Debug)]
struct Closed;

#[derive(Default)]
struct Shipment;

#[aggregate]
impl Shipment {
    #[handle]
    fn prepare(&self, _cmd: Prepare) -> Result<Prepared, Closed> {
        Ok(Prepared)
    }

    #[apply]
    fn prepared(&mut self, _event: &Prepared) {}
}

struct Desk;

#[projection(name = "ui.desk", context = Commands<SqliteStore>)]
impl Desk {
    #[on]
    async fn placed(
        &mut self,
        message: &Placed,
        commands: &mut Commands<SqliteStore>,
    ) -> Result<(), CommandError<Closed>> {
        let order = message.order.clone();
        match commands.send(Prepare { order }).await {
            // A closed shipment takes no parcels: the message is done.
            Ok(_) | Err(CommandError::Rejected(Closed)) => Ok(()),
            Err(other) => Err(other),
        }
    }
}

struct Board;

#[projection(name = "ui.board", context = SqliteConnection)]
impl Board {
    #[on]
    async fn placed(&mut self, message: &Placed, db: &SqliteConnection) -> eventsmith::rusqlite::Result<()> {
        db.execute("INSERT INTO board (order_id) VALUES (?1)", [message.order.clone()])
            .await
            .map(drop)
    }
}

#[allow(dead_code)]
fn start<S: Subscription>(app: App<SqliteStore>, store: SqliteStore, desk: S, board: S) {
    drop(Consumer::new(app, Desk, desk));
    drop(Consumer::new(store, Board, board));
}

fn main() {}
