// The aggregates live apart from each other and from the command, and name it differently.
mod commands {
    use eventsmith::Command;

    #[derive(Clone, Command)]
    pub struct LendBook {
        #[command(id)]
        pub id: String,
    }
}

mod events {
    use eventsmith::Event;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, Event)]
    pub struct BookLent;
}

mod library {
    use crate::commands::LendBook;
    use crate::events::BookLent;
    use eventsmith::aggregate;

    #[derive(Default)]
    pub struct Library;

    #[aggregate]
    impl Library {
        #[handle]
        fn lend(&self, _cmd: LendBook) -> BookLent {
            BookLent
        }

        #[apply]
        fn lent(&mut self, _event: &BookLent) {}
    }
}

mod shelf {
    use crate::events::BookLent;
    use eventsmith::aggregate;

    #[derive(Default)]
    pub struct Shelf;

    #[aggregate]
    impl Shelf {
        #[handle]
        fn lend(&self, _cmd: crate::commands::LendBook) -> BookLent {
            BookLent
        }

        #[apply]
        fn lent(&mut self, _event: &BookLent) {}
    }
}

fn main() {}
