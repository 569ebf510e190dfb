use eventsmith::Command;

#[derive(Clone, Command)]
enum Request {
    Deposit,
}

fn main() {}
