//! The bank account of the benchmark plan: OpenAccount, Deposit, Withdraw; AccountOpened,
//! MoneyDeposited, MoneyWithdrawn; overdrawing is a domain error.

use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub(crate) struct AccountOpened {
    pub(crate) owner: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
pub(crate) struct MoneyDeposited {
    pub(crate) amount: u64,
}

#[derive(Debug, Serialize, Deserialize, Event)]
pub(crate) struct MoneyWithdrawn {
    pub(crate) amount: u64,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct OpenAccount {
    #[command(id)]
    pub(crate) account: String,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct Deposit {
    #[command(id)]
    pub(crate) account: String,
    pub(crate) amount: u64,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct Withdraw {
    #[command(id)]
    pub(crate) account: String,
    pub(crate) amount: u64,
}

#[derive(Debug)]
pub(crate) enum BankError {
    AlreadyOpen,
    NotOpen,
    InsufficientFunds,
}

#[derive(Debug, Default)]
pub(crate) struct BankAccount {
    open: bool,
    pub(crate) balance: u64,
}

#[aggregate]
impl BankAccount {
    #[handle]
    fn open(&self, cmd: OpenAccount) -> Result<AccountOpened, BankError> {
        if self.open {
            return Err(BankError::AlreadyOpen);
        }
        Ok(AccountOpened { owner: cmd.account })
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
            return Err(BankError::InsufficientFunds);
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

pub(crate) fn account(i: usize) -> String {
    format!("acc-{i}")
}

/// The same account, taking a snapshot every 1,000 events (W2 with snapshots).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct SnapshottedAccount {
    open: bool,
    pub(crate) balance: u64,
}

#[aggregate(snapshot_every = 1000)]
impl SnapshottedAccount {
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
