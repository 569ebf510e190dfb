use eventsmith::on;

struct Totals;

impl Totals {
    #[on]
    fn on(&mut self) {}
}

fn main() {}
