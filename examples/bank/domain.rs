//! The bank domain of the quick start: events, commands and the account aggregate. Shared
//! with the schema-lock test, which checks the events' stored shapes against
//! `examples/events.lock`.

use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

// Events: what happened. Stored as JSON under their names, forever.

#[derive(Debug, Serialize, Deserialize, Event)]
pub(crate) struct AccountOpened {
    pub(crate) owner: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
pub(crate) struct MoneyDeposited {
    pub(crate) amount: u64,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "MoneyWithdrawn", version = 1)]
pub(crate) struct MoneyWithdrawn {
    pub(crate) amount: u64,
}

// Commands: what is asked. `#[command(id)]` names the target account.

#[derive(Debug, Clone, Command)]
pub(crate) struct OpenAccount {
    #[command(id)]
    pub(crate) account: String,
    pub(crate) owner: String,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct Deposit {
    #[command(id)]
    pub(crate) account: String,
    pub(crate) amount: u64,
    #[command(idempotency_key)]
    pub(crate) request_id: Option<String>,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct Withdraw {
    #[command(id)]
    pub(crate) account: String,
    pub(crate) amount: u64,
}

/// Why the bank says no.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum BankError {
    #[error("the account is already open")]
    AlreadyOpen,
    #[error("the account is not open")]
    NotOpen,
    #[error("insufficient funds: balance {balance}, asked {asked}")]
    InsufficientFunds { balance: u64, asked: u64 },
}

// The aggregate: its state, how events change it, how it decides.

#[derive(Debug, Default)]
pub(crate) struct BankAccount {
    pub(crate) open: bool,
    pub(crate) balance: u64,
}

#[aggregate]
impl BankAccount {
    #[handle]
    fn open(&self, cmd: OpenAccount) -> Result<AccountOpened, BankError> {
        if self.open {
            return Err(BankError::AlreadyOpen);
        }
        Ok(AccountOpened { owner: cmd.owner })
    }

    #[handle]
    fn deposit(&self, cmd: Deposit) -> Result<MoneyDeposited, BankError> {
        if !self.open {
            return Err(BankError::NotOpen);
        }
        Ok(MoneyDeposited { amount: cmd.amount })
    }

    #[handle]
    fn withdraw(&self, cmd: Withdraw) -> Result<MoneyWithdrawn, BankError> {
        if cmd.amount > self.balance {
            return Err(BankError::InsufficientFunds {
                balance: self.balance,
                asked: cmd.amount,
            });
        }
        Ok(MoneyWithdrawn { amount: cmd.amount })
    }

    #[apply]
    fn opened(&mut self, _event: &AccountOpened) {
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, event: &MoneyDeposited) {
        self.balance += event.amount;
    }

    #[apply]
    fn withdrawn(&mut self, event: &MoneyWithdrawn) {
        self.balance -= event.amount;
    }
}
