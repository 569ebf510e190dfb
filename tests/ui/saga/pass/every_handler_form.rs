use std::time::Duration;

use eventsmith::process::{Saga, Steps};
use eventsmith::{Command, Event, RecordedEvent, aggregate, saga};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened {
    ticket: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
struct Answered {
    ticket: u64,
}

#[derive(Debug, Serialize, Deserialize, Event)]
struct Closed {
    ticket: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
struct Remind {
    #[command(id)]
    ticket: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Command)]
struct Escalate {
    #[command(id)]
    ticket: String,
}

#[derive(Debug, PartialEq)]
enum TicketError {
    Closed,
}

#[derive(Default)]
struct Ticket;

#[aggregate]
impl Ticket {
    #[handle]
    fn remind(&self, _cmd: Remind) -> Result<Opened, TicketError> {
        Err(TicketError::Closed)
    }

    #[handle]
    fn escalate(&self, cmd: Escalate) -> Closed {
        Closed { ticket: cmd.ticket }
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {}

    #[apply]
    fn closed(&mut self, _event: &Closed) {}
}

#[derive(Debug, Serialize, Deserialize)]
struct NoAnswer;

fn ticket_of(event: &Answered) -> String {
    format!("t-{}", event.ticket)
}

#[derive(Default, Serialize, Deserialize)]
struct Support {
    ticket: String,
    reminders: u32,
}

#[saga(name = "pass.support")]
impl Support {
    /// A key from a field; the steps.
    #[start(key = ticket)]
    fn opened(&mut self, event: &Opened, steps: &mut Steps<Self>) {
        self.ticket = event.ticket.clone();
        steps.schedule(Duration::from_secs(60), NoAnswer);
    }

    /// A key from a function; the envelope; a tuple with an `Option` and a `Vec`.
    #[eventsmith::on(key_with = ticket_of)]
    fn answered(
        &mut self,
        _event: &Answered,
        _envelope: &RecordedEvent,
        steps: &mut Steps<Self>,
    ) -> (Option<Remind>, Vec<Escalate>) {
        steps.cancel::<NoAnswer>();
        (None, Vec::new())
    }

    #[end(key = ticket)]
    fn closed(&mut self, _event: &Closed) {}

    #[deadline]
    fn no_answer(&mut self, _deadline: &NoAnswer) -> Remind {
        self.reminders += 1;
        Remind {
            ticket: self.ticket.clone(),
        }
    }

    #[rejected]
    fn remind_refused(&mut self, _command: &Remind, _error: &TicketError) -> Option<Escalate> {
        None
    }
}

fn main() {
    assert_eq!(Support::NAME, "pass.support");
    assert_eq!(Support::HANDLES.len(), 3);
}
