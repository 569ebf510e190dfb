//! The read side: a projection of every account's balance, built from the events of all
//! accounts, and the queries it answers.

use std::collections::BTreeMap;

use eventsmith::{RecordedEvent, projection};
use eventsmith_test_bank::{AccountOpened, MoneyDeposited, MoneyWithdrawn};

/// Balances by account, kept in memory and rebuilt from the log at start.
#[derive(Debug, Default)]
pub(crate) struct Balances {
    accounts: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    pub(crate) owner: String,
    pub(crate) balance: u64,
}

/// The balance of one account.
pub(crate) struct GetBalance {
    pub(crate) account: String,
}

/// Every account, by id.
pub(crate) struct ListAccounts;

#[projection(name = "bank.balances")]
impl Balances {
    #[on]
    fn opened(&mut self, event: &AccountOpened, envelope: &RecordedEvent) {
        self.entry(envelope).owner.clone_from(&event.owner);
    }

    #[on]
    fn deposited(&mut self, event: &MoneyDeposited, envelope: &RecordedEvent) {
        self.entry(envelope).balance += event.amount;
    }

    #[on]
    fn withdrawn(&mut self, event: &MoneyWithdrawn, envelope: &RecordedEvent) {
        let entry = self.entry(envelope);
        entry.balance = entry.balance.saturating_sub(event.amount);
    }

    #[query]
    fn balance(&self, query: GetBalance) -> Option<u64> {
        self.accounts.get(&query.account).map(|e| e.balance)
    }

    #[query]
    fn list(&self, _query: ListAccounts) -> Vec<(String, Entry)> {
        self.accounts
            .iter()
            .map(|(id, e)| (id.clone(), e.clone()))
            .collect()
    }

    /// The entry of the event's account (streams are named `BankAccount-<id>`).
    fn entry(&mut self, envelope: &RecordedEvent) -> &mut Entry {
        let id = envelope
            .stream_id
            .strip_prefix("BankAccount-")
            .unwrap_or(&envelope.stream_id);
        self.accounts.entry(id.to_owned()).or_default()
    }
}
