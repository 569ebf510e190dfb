//! W8: the dispatch `#[aggregate]` generates against a hand-written `match`, for an aggregate
//! of 20 event types applying 10 million events in memory.

use std::hint::black_box;
use std::time::Instant;

use eventsmith::{Aggregate, Event, aggregate};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Settings;
use crate::stats::{median, round2};

macro_rules! twenty_events {
    ($($event:ident $method:ident $k:literal),* $(,)?) => {
        $(
            #[derive(Debug, Clone, Copy, Serialize, Deserialize, Event)]
            pub(crate) struct $event(u64);
        )*

        /// The same state and methods, applied by the generated dispatch.
        #[derive(Debug, Default)]
        pub(crate) struct Generated {
            sum: u64,
            count: u64,
        }

        #[aggregate]
        impl Generated {
            $(
                #[apply]
                fn $method(&mut self, event: &$event) {
                    self.sum = self.sum.wrapping_mul(31).wrapping_add(event.0 ^ $k);
                    self.count += 1;
                }
            )*
        }

        /// The enum a careful hand would write.
        #[derive(Debug, Clone, Copy)]
        pub(crate) enum HandEvent {
            $($event($event),)*
        }

        /// The same state and methods, applied by a hand-written `match`.
        #[derive(Debug, Default)]
        pub(crate) struct HandWritten {
            sum: u64,
            count: u64,
        }

        impl HandWritten {
            $(
                fn $method(&mut self, event: &$event) {
                    self.sum = self.sum.wrapping_mul(31).wrapping_add(event.0 ^ $k);
                    self.count += 1;
                }
            )*

            #[inline]
            fn apply(&mut self, event: &HandEvent) {
                match event {
                    $(HandEvent::$event(e) => self.$method(e),)*
                }
            }
        }

        fn make(i: usize, x: u64) -> (GeneratedEvent, HandEvent) {
            let mut n = 0;
            $(
                if i == n {
                    return (GeneratedEvent::$event($event(x)), HandEvent::$event($event(x)));
                }
                n += 1;
            )*
            let _ = n;
            unreachable!("i is below 20")
        }
    };
}

twenty_events! {
    E00 e00 1, E01 e01 2, E02 e02 3, E03 e03 4, E04 e04 5,
    E05 e05 6, E06 e06 7, E07 e07 8, E08 e08 9, E09 e09 10,
    E10 e10 11, E11 e11 12, E12 e12 13, E13 e13 14, E14 e14 15,
    E15 e15 16, E16 e16 17, E17 e17 18, E18 e18 19, E19 e19 20,
}

/// A fixed pseudo-random sequence of event kinds, so the branch predictor cannot learn it.
fn events(n: usize) -> (Vec<GeneratedEvent>, Vec<HandEvent>) {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            make((state % 20) as usize, state >> 8)
        })
        .unzip()
}

pub(crate) fn w8(settings: &Settings) -> Vec<Value> {
    let total: usize = if settings.quick {
        1_000_000
    } else {
        10_000_000
    };
    let buffer = 1_000_000.min(total);
    let passes = total / buffer;
    let (generated, hand) = events(buffer);
    let mut generated_ns = Vec::new();
    let mut hand_ns = Vec::new();
    // Alternate the two so that both see the same machine state; the first round warms up.
    for round in 0..=settings.runs {
        let t = Instant::now();
        let mut agg = Generated::default();
        for _ in 0..passes {
            for e in black_box(&generated) {
                agg.apply(e);
            }
        }
        black_box((agg.sum, agg.count));
        let g = t.elapsed().as_secs_f64() * 1e9 / total as f64;

        let t = Instant::now();
        let mut agg = HandWritten::default();
        for _ in 0..passes {
            for e in black_box(&hand) {
                agg.apply(e);
            }
        }
        black_box((agg.sum, agg.count));
        let h = t.elapsed().as_secs_f64() * 1e9 / total as f64;
        if round > 0 {
            generated_ns.push(g);
            hand_ns.push(h);
        }
    }
    let g = median(&mut generated_ns);
    let h = median(&mut hand_ns);
    vec![json!({
        "workload": "W8",
        "backend": "memory",
        "mode": "seq",
        "events": total,
        "event_types": 20,
        "runs": settings.runs,
        "generated_ns_per_event": round2(g * 100.0) / 100.0,
        "hand_written_ns_per_event": round2(h * 100.0) / 100.0,
        "events_per_s": (1e9 / g).round(),
        "ratio": (g / h * 1000.0).round() / 1000.0,
    })]
}
