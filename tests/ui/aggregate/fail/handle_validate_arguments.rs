//! Every mistake in `#[handle(...)]` arguments is reported at once.
use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Rung;

#[derive(Clone, Command)]
struct Ring {
    #[command(id)]
    bell: String,
}

#[derive(Clone, Command)]
struct Mute {
    #[command(id)]
    bell: String,
}

fn loud(_: &Ring) -> Result<(), std::convert::Infallible> {
    Ok(())
}

#[derive(Default)]
struct Bell;

#[aggregate]
impl Bell {
    #[handle(validate = loud, validate = loud, check = loud)]
    fn ring(&self, _command: Ring) -> Rung {
        Rung
    }

    #[handle(validate)]
    fn mute(&self, _command: Mute) -> Rung {
        Rung
    }

    #[apply]
    fn rung(&mut self, _event: &Rung) {}
}

fn main() {}
