//! The guides: one module per subject, documentation only, with examples that run as doc
//! tests. The crate documentation's table says what each covers; the source of each is a
//! Markdown file under `runtime/docs/`.

pub mod aggregates {
    #![doc = include_str!("../docs/aggregates.md")]
}

pub mod command_pipeline {
    #![doc = include_str!("../docs/command-pipeline.md")]
}

pub mod evolving_events {
    #![doc = include_str!("../docs/evolving-events.md")]
}

pub mod projections {
    #![doc = include_str!("../docs/projections.md")]
}

pub mod integration {
    #![doc = include_str!("../docs/integration.md")]
}

pub mod sagas {
    #![doc = include_str!("../docs/sagas.md")]
}

pub mod stores {
    #![doc = include_str!("../docs/stores.md")]
}

pub mod several_processes {
    #![doc = include_str!("../docs/several-processes.md")]
}

pub mod failures {
    #![doc = include_str!("../docs/failures.md")]
}

pub mod testing {
    #![doc = include_str!("../docs/testing.md")]
}

pub mod layout {
    #![doc = include_str!("../docs/layout.md")]
}
