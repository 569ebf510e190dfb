//! A bank-account domain shared by the integration tests, with a few traps (a panicking
//! handler, a panicking `apply`, an async handler, several events from one command).

#![allow(dead_code, reason = "each test binary uses part of the domain")]

use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub(crate) struct AccountOpened {
    pub(crate) owner: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub(crate) struct MoneyDeposited {
    pub(crate) amount: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub(crate) struct MoneyWithdrawn {
    pub(crate) amount: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "bank.flagged", version = 2)]
#[upcast(from = 1, typed = AccountFlaggedV1)]
pub(crate) struct AccountFlagged {
    pub(crate) reason: String,
}

/// Version 1 of `bank.flagged` carried a numeric code instead of a reason.
#[derive(Debug, Deserialize)]
pub(crate) struct AccountFlaggedV1 {
    pub(crate) code: u32,
}

impl From<AccountFlaggedV1> for AccountFlagged {
    fn from(old: AccountFlaggedV1) -> Self {
        Self {
            reason: format!("code {}", old.code),
        }
    }
}

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
    pub(crate) key: Option<String>,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct Withdraw {
    #[command(id)]
    pub(crate) account: String,
    pub(crate) amount: u64,
}

/// Deposits and flags the account in one decision (two event types), asynchronously.
#[derive(Debug, Clone, Command)]
pub(crate) struct DepositAndFlag {
    #[command(id)]
    pub(crate) account: String,
    pub(crate) amount: u64,
}

/// Decides nothing.
#[derive(Debug, Clone, Command)]
pub(crate) struct Audit {
    #[command(id)]
    pub(crate) account: String,
    #[command(idempotency_key)]
    pub(crate) key: Option<String>,
}

/// Its handler panics.
#[derive(Debug, Clone, Command)]
pub(crate) struct Explode {
    #[command(id)]
    pub(crate) account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BankError {
    #[error("already open")]
    AlreadyOpen,
    #[error("not open")]
    NotOpen,
    #[error("insufficient funds: balance {balance}, asked {asked}")]
    InsufficientFunds { balance: u64, asked: u64 },
}

#[derive(Debug, Default)]
pub(crate) struct BankAccount {
    pub(crate) open: bool,
    pub(crate) owner: String,
    pub(crate) balance: u64,
    pub(crate) flags: Vec<String>,
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

pub(crate) fn open(account: &str) -> OpenAccount {
    OpenAccount {
        account: account.to_owned(),
        owner: format!("owner of {account}"),
    }
}

pub(crate) fn deposit(account: &str, amount: u64) -> Deposit {
    Deposit {
        account: account.to_owned(),
        amount,
        key: None,
    }
}
