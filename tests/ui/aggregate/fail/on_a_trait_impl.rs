use eventsmith::aggregate;

#[derive(Default)]
struct Door;

#[aggregate]
impl Clone for Door {
    fn clone(&self) -> Self {
        Door
    }
}

fn main() {}
