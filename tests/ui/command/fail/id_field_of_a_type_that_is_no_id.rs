use eventsmith::Command;

#[derive(Clone, Command)]
struct Deposit {
    #[command(id)]
    account: Vec<u8>,
}

fn main() {}
