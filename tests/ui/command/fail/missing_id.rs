use eventsmith::Command;

#[derive(Clone, Command)]
struct Deposit {
    account: String,
    amount: u64,
}

fn main() {}
