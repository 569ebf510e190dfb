use eventsmith::Command;

#[derive(Command)]
struct Deposit {
    #[command(id)]
    account: String,
}

fn main() {}
