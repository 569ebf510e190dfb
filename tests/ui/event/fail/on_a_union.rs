use eventsmith::Event;

#[derive(Event)]
union Raw {
    a: u32,
    b: f32,
}

fn main() {}
