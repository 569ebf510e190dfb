//! `#[handle(validate = path)]`: a free function, an associated function of the command, and
//! one of the aggregate through `Self`; the validation's error converts into the handler's.
use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Deposited {
    amount: u64,
}

#[derive(Clone, Command)]
struct Deposit {
    #[command(id)]
    account: String,
    amount: u64,
}

impl Deposit {
    fn positive(&self) -> Result<(), AccountError> {
        if self.amount == 0 {
            return Err(AccountError::Zero);
        }
        Ok(())
    }
}

#[derive(Clone, Command)]
struct Withdraw {
    #[command(id)]
    account: String,
    amount: u64,
}

#[derive(Clone, Command)]
struct Close {
    #[command(id)]
    account: String,
}

#[derive(Debug)]
enum AccountError {
    Zero,
    TooMuch,
    Empty,
}

/// A validation error of its own, converted into the handler's.
struct EmptyId;

impl From<EmptyId> for AccountError {
    fn from(EmptyId: EmptyId) -> Self {
        Self::Empty
    }
}

fn named(close: &Close) -> Result<(), EmptyId> {
    if close.account.is_empty() {
        return Err(EmptyId);
    }
    Ok(())
}

#[derive(Default)]
struct Account {
    balance: u64,
}

#[aggregate]
impl Account {
    fn at_most_a_million(withdraw: &Withdraw) -> Result<(), AccountError> {
        if withdraw.amount > 1_000_000 {
            return Err(AccountError::TooMuch);
        }
        Ok(())
    }

    #[handle(validate = Deposit::positive)]
    fn deposit(&self, command: Deposit) -> Result<Deposited, AccountError> {
        Ok(Deposited { amount: command.amount })
    }

    #[handle(validate = Self::at_most_a_million)]
    fn withdraw(&self, command: Withdraw) -> Result<Vec<Deposited>, AccountError> {
        let _ = (self.balance, command.amount);
        Ok(Vec::new())
    }

    #[eventsmith::handle(validate = named)]
    async fn close(&self, _command: Close) -> Result<Vec<Deposited>, AccountError> {
        Ok(Vec::new())
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {
    use eventsmith::command::HandledCommand;
    let deposit = Deposit { account: "a".into(), amount: 0 };
    assert!(matches!(HandledCommand::validate(&deposit), Err(AccountError::Zero)));
    let withdraw = Withdraw { account: "a".into(), amount: 2_000_000 };
    assert!(matches!(HandledCommand::validate(&withdraw), Err(AccountError::TooMuch)));
    let close = Close { account: String::new() };
    assert!(matches!(HandledCommand::validate(&close), Err(AccountError::Empty)));
    assert!(HandledCommand::validate(&Close { account: "a".into() }).is_ok());
}
