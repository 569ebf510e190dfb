//! A validation function of the wrong shape, or whose error does not convert into the
//! handler's, is reported on the path given to `validate`.
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

#[derive(Debug)]
enum BellError {
    Cracked,
}

/// Takes the command by value.
fn by_value(_: Ring) -> Result<(), BellError> {
    Ok(())
}

/// Its error is not the handler's and does not convert into it.
fn other_error(_: &Mute) -> Result<(), std::fmt::Error> {
    Ok(())
}

#[derive(Default)]
struct Bell;

#[aggregate]
impl Bell {
    #[handle(validate = by_value)]
    fn ring(&self, _command: Ring) -> Result<Rung, BellError> {
        Err(BellError::Cracked)
    }

    #[handle(validate = other_error)]
    fn mute(&self, _command: Mute) -> Result<Rung, BellError> {
        Ok(Rung)
    }

    #[apply]
    fn rung(&mut self, _event: &Rung) {}
}

fn main() {}
