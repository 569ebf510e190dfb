use eventsmith::projection;

struct NotAnEvent;

#[derive(Default)]
struct Totals;

#[projection]
impl Totals {
    #[on]
    fn on(&mut self, _event: &NotAnEvent) {}
}

fn main() {}
