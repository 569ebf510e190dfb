//! The bank-account domain of the quick-start example (`cargo run --example bank`), the
//! integration tests and the benchmark: events, commands and the `BankAccount` aggregate.
//!
//! The example and the benchmark open accounts, deposit and withdraw. The tests also use the
//! traps: a version-2 event with an upcaster (`AccountFlagged`), an async handler deciding two
//! events (`DepositAndFlag`), a handler that decides nothing (`Audit`), a panicking handler
//! (`Explode`) and a panicking `apply` (a replayed withdrawal that overdraws). The events'
//! stored shapes are locked in `events.lock` beside this crate's manifest.

use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

// Events: what happened. Stored as JSON under their names, forever.

/// An account was opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct AccountOpened {
    /// Who owns it.
    pub owner: String,
}

/// Money was paid in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct MoneyDeposited {
    /// How much.
    pub amount: u64,
}

/// Money was taken out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "MoneyWithdrawn", version = 1)]
pub struct MoneyWithdrawn {
    /// How much.
    pub amount: u64,
}

/// The account was flagged for review; stored as `bank.flagged` version 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "bank.flagged", version = 2)]
#[upcast(from = 1, typed = AccountFlaggedV1)]
pub struct AccountFlagged {
    /// Why.
    pub reason: String,
}

/// Version 1 of `bank.flagged` carried a numeric code instead of a reason.
#[derive(Debug, Deserialize)]
pub struct AccountFlaggedV1 {
    /// The reason's code.
    pub code: u32,
}

impl From<AccountFlaggedV1> for AccountFlagged {
    fn from(old: AccountFlaggedV1) -> Self {
        Self {
            reason: format!("code {}", old.code),
        }
    }
}

// Commands: what is asked. `#[command(id)]` names the target account.

/// Opens an account.
#[derive(Debug, Clone, Command)]
pub struct OpenAccount {
    /// The account.
    #[command(id)]
    pub account: String,
    /// Its owner.
    pub owner: String,
}

/// Pays money in; a request id makes a retry safe.
#[derive(Debug, Clone, Command)]
pub struct Deposit {
    /// The account.
    #[command(id)]
    pub account: String,
    /// How much.
    pub amount: u64,
    /// The client's request id: a command repeated with it is applied once.
    #[command(idempotency_key)]
    pub request_id: Option<String>,
}

/// Takes money out; withdrawing 0 decides nothing.
#[derive(Debug, Clone, Command)]
pub struct Withdraw {
    /// The account.
    #[command(id)]
    pub account: String,
    /// How much.
    pub amount: u64,
}

/// Deposits and flags the account in one decision (two event types), asynchronously.
#[derive(Debug, Clone, Command)]
pub struct DepositAndFlag {
    /// The account.
    #[command(id)]
    pub account: String,
    /// How much.
    pub amount: u64,
}

/// Decides nothing.
#[derive(Debug, Clone, Command)]
pub struct Audit {
    /// The account.
    #[command(id)]
    pub account: String,
    /// The client's request id.
    #[command(idempotency_key)]
    pub request_id: Option<String>,
}

/// Its handler panics.
#[derive(Debug, Clone, Command)]
pub struct Explode {
    /// The account.
    #[command(id)]
    pub account: String,
}

/// Why the bank says no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// Opening an open account.
    #[error("the account is already open")]
    AlreadyOpen,
    /// Paying into an account that was never opened.
    #[error("the account is not open")]
    NotOpen,
    /// Withdrawing more than the balance.
    #[error("insufficient funds: balance {balance}, asked {asked}")]
    InsufficientFunds {
        /// The balance.
        balance: u64,
        /// The amount asked for.
        asked: u64,
    },
}

// The aggregate: its state, how events change it, how it decides.

/// A bank account, stored in streams `BankAccount-<account>`.
#[derive(Debug, Default)]
pub struct BankAccount {
    /// Whether it was opened.
    pub open: bool,
    /// Its owner.
    pub owner: String,
    /// Its balance.
    pub balance: u64,
    /// The reasons it was flagged for.
    pub flags: Vec<String>,
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
    fn withdraw(&self, cmd: Withdraw) -> Result<Option<MoneyWithdrawn>, BankError> {
        if cmd.amount > self.balance {
            return Err(BankError::InsufficientFunds {
                balance: self.balance,
                asked: cmd.amount,
            });
        }
        Ok((cmd.amount > 0).then_some(MoneyWithdrawn { amount: cmd.amount }))
    }

    #[handle]
    async fn deposit_and_flag(
        &self,
        cmd: DepositAndFlag,
    ) -> Result<(MoneyDeposited, AccountFlagged), BankError> {
        tokio::task::yield_now().await;
        if !self.open {
            return Err(BankError::NotOpen);
        }
        Ok((
            MoneyDeposited { amount: cmd.amount },
            AccountFlagged {
                reason: format!("large deposit of {}", cmd.amount),
            },
        ))
    }

    #[handle]
    fn audit(&self, _cmd: Audit) {}

    #[handle]
    fn explode(&self, cmd: Explode) -> Vec<BankAccountEvent> {
        panic!("handler exploded for {}", cmd.account)
    }

    #[apply]
    fn opened(&mut self, event: &AccountOpened) {
        self.open = true;
        self.owner.clone_from(&event.owner);
    }

    #[apply]
    fn deposited(&mut self, event: &MoneyDeposited) {
        self.balance += event.amount;
    }

    #[apply]
    fn withdrawn(&mut self, event: &MoneyWithdrawn) {
        // A withdrawal that the handler allowed never underflows; this guards replays of
        // hand-written streams and is how the tests make `apply` panic.
        self.balance = self
            .balance
            .checked_sub(event.amount)
            .expect("balance underflow");
    }

    #[apply]
    fn flagged(&mut self, event: &AccountFlagged) {
        self.flags.push(event.reason.clone());
    }
}

/// Opens `account` for "owner of `account`".
#[must_use]
pub fn open(account: &str) -> OpenAccount {
    OpenAccount {
        account: account.to_owned(),
        owner: format!("owner of {account}"),
    }
}

/// Deposits `amount` on `account`, without a request id.
#[must_use]
pub fn deposit(account: &str, amount: u64) -> Deposit {
    Deposit {
        account: account.to_owned(),
        amount,
        request_id: None,
    }
}

#[cfg(test)]
mod tests {
    /// The schema lock of the domain's events: their stored shapes must match `events.lock`.
    /// It runs in this crate's own test binary, where the registry holds this crate's types
    /// alone: the test a user writes in their own crate.
    #[test]
    fn the_bank_events_match_the_lock() {
        eventsmith::testing::SchemaLock::new(concat!(env!("CARGO_MANIFEST_DIR"), "/events.lock"))
            .check();
    }
}
