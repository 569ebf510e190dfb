use eventsmith::{apply, handle};

struct Door;

impl Door {
    #[apply]
    fn opened(&mut self) {}

    #[handle]
    fn open(&self) {}
}

fn main() {}
