use eventsmith::aggregate;

struct NotAnEvent;

#[derive(Default)]
struct Door;

#[aggregate]
impl Door {
    #[apply]
    fn opened(&mut self, _event: &NotAnEvent) {}
}

fn main() {}
