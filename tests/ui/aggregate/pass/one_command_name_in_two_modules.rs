// Two commands of one name in different modules are different types: each may have its own
// handler, and an impl block of its own.
mod lending {
    use eventsmith::{Command, Event, aggregate};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, Event)]
    #[event(name = "lending.Lent")]
    pub struct Lent;

    #[derive(Clone, Command)]
    #[command(name = "lending.Lend")]
    pub struct Lend {
        #[command(id)]
        pub id: String,
    }

    impl Lend {
        pub fn new(id: &str) -> Self {
            Self { id: id.into() }
        }
    }

    #[derive(Default)]
    pub struct Book;

    #[aggregate]
    impl Book {
        #[handle]
        fn lend(&self, _cmd: Lend) -> Lent {
            Lent
        }

        #[apply]
        fn lent(&mut self, _event: &Lent) {}
    }
}

mod renting {
    use eventsmith::{Command, Event, aggregate};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, Event)]
    #[event(name = "renting.Lent")]
    pub struct Lent;

    #[derive(Clone, Command)]
    #[command(name = "renting.Lend")]
    pub struct Lend {
        #[command(id)]
        pub id: String,
    }

    #[derive(Default)]
    pub struct Car;

    #[aggregate]
    impl Car {
        #[handle]
        fn lend(&self, _cmd: Lend) -> Lent {
            Lent
        }

        #[apply]
        fn lent(&mut self, _event: &Lent) {}
    }
}

fn handled<C: eventsmith::command::HandledCommand>() {}

fn main() {
    handled::<lending::Lend>();
    handled::<renting::Lend>();
    let _ = lending::Lend::new("1");
}
