// The user renamed the dependency, has their own `Result`, `Vec` and `serde` in scope, and
// names the aggregate, its event enum and its visibility.
extern crate eventsmith as es;

use serde::{Deserialize, Serialize};

#[allow(dead_code)]
type Result = ();
#[allow(dead_code)]
struct Vec;
#[allow(dead_code)]
mod inventory {}

#[derive(Debug, Serialize, Deserialize, es::Event)]
#[event(crate = es, name = "door.opened", version = 3, renamed_from = ["door.unlocked"])]
#[upcast(from = 1, json = es_v1)]
#[upcast(from = 2, typed = OpenedV2)]
pub struct Opened;

#[derive(Deserialize)]
pub struct OpenedV2;

impl From<OpenedV2> for Opened {
    fn from(_: OpenedV2) -> Self {
        Self
    }
}

fn es_v1(
    value: es::upcast::Value,
) -> ::core::result::Result<es::upcast::Value, es::upcast::UpcastError> {
    ::core::result::Result::Ok(value)
}

#[derive(Clone, es::Command)]
#[command(crate = es, name = "door.open")]
pub(crate) struct Open {
    #[command(id)]
    pub(crate) id: u64,
    #[command(idempotency_key)]
    pub(crate) key: es::Uuid,
}

#[derive(Default)]
pub(crate) struct Door;

#[es::aggregate(crate = es, name = "door", events = DoorHappened, vis = pub(crate))]
impl Door {
    #[es::handle]
    fn open(&self, _cmd: Open) -> Opened {
        Opened
    }

    #[es::apply]
    fn opened(&mut self, _event: &Opened) {}
}

fn main() {
    use es::event::EventSet;
    use es::{Aggregate, Command, Event};
    assert_eq!(<Door as Aggregate>::TYPE, "door");
    assert_eq!(<Door as Aggregate>::COMMANDS, ["door.open"]);
    assert_eq!(<DoorHappened as EventSet>::NAMES, ["door.opened"]);
    assert_eq!(<Opened as Event>::VERSION, 3);
    let cmd = Open { id: 7, key: es::Uuid::nil() };
    assert_eq!(cmd.aggregate_id(), "7");
    assert_eq!(cmd.idempotency_key().as_deref(), Some("00000000-0000-0000-0000-000000000000"));
    assert_eq!(DoorHappened::from(Opened).name(), "door.opened");
}
