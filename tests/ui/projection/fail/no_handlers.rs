use eventsmith::projection;

#[derive(Default)]
struct Totals;

#[projection]
impl Totals {
    fn helper(&self) {}
}

fn main() {}
