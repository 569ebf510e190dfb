use eventsmith::Command;

#[derive(Clone, Command)]
#[command(nam = "x", id)]
struct Deposit {
    #[command(id)]
    account: String,
    #[command(id)]
    other: String,
    #[command(key)]
    request: String,
}

fn main() {}
