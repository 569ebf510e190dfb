//! The bank account of the benchmark plan: OpenAccount, Deposit, Withdraw; AccountOpened,
//! MoneyDeposited, MoneyWithdrawn; overdrawing is a domain error. The domain is the one of the
//! example and the tests (`eventsmith-test-bank`); the benchmark adds an account that takes
//! snapshots.

use eventsmith::aggregate;
pub(crate) use eventsmith_test_bank::{
    AccountOpened, BankAccount, Deposit, MoneyDeposited, MoneyWithdrawn, OpenAccount,
};
use serde::{Deserialize, Serialize};

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
