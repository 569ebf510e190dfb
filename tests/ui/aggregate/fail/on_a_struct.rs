use eventsmith::aggregate;

#[aggregate]
#[derive(Default)]
struct Door;

fn main() {}
