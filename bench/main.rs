//! `eventsmith-bench`: the workloads of the project's benchmark plan, one JSON object per
//! result on standard output.
//!
//! ```text
//! cargo run --release --bin eventsmith-bench -- [--quick] [--runs N] [W1 W2 W8 …]
//! ```
//!
//! Each workload runs `--runs` times (default 5, 3 with `--quick`) and reports the median of
//! every figure. `--quick` makes every workload about ten times smaller. Timing lives here,
//! never in tests.

mod backends;
mod dispatch;
mod domain;
#[path = "../tests/support/kafka_broker.rs"]
mod kafka_broker;
mod read_side;
mod relay;
mod sagas;
mod stats;
mod workloads;

use std::process::ExitCode;

use backends::Backend;

/// Command-line settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) runs: usize,
    pub(crate) workloads: Vec<String>,
    /// Backends chosen on the command line; each workload's own list when empty.
    pub(crate) backends: Vec<Backend>,
    /// W4's second mode: this many `App`s over one store (default 16).
    pub(crate) apps: usize,
}

const ALL: &[&str] = &["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10"];
const USAGE: &str = "usage: eventsmith-bench [--quick] [--runs N] [--backend memory|sqlite|postgres]... [--sqlite-sync full|normal] [--apps N] [W1 W2 W3 W4 W5 W6 W7 W8 W9 W10 ...]";

/// The backends each workload runs on by default.
fn default_backends(workload: &str) -> &'static [Backend] {
    match workload {
        "W1" => &[Backend::Memory, Backend::Sqlite],
        "W3" | "W4" | "W5" | "W7" | "W9" | "W10" => &[Backend::Sqlite, Backend::Postgres],
        "W8" => &[Backend::Memory],
        _ => &Backend::ALL,
    }
}

fn parse_args() -> Result<Settings, String> {
    let mut settings = Settings {
        quick: false,
        runs: 0,
        workloads: Vec::new(),
        backends: Vec::new(),
        apps: 16,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => settings.quick = true,
            "--runs" => {
                let n = args.next().ok_or("--runs needs a number")?;
                settings.runs = n.parse().map_err(|_| format!("--runs {n}: not a number"))?;
            }
            "--sqlite-sync" => match args.next().as_deref() {
                Some("full") => {
                    backends::SQLITE_NORMAL.store(false, std::sync::atomic::Ordering::Relaxed)
                }
                Some("normal") => {
                    backends::SQLITE_NORMAL.store(true, std::sync::atomic::Ordering::Relaxed)
                }
                other => return Err(format!("--sqlite-sync takes full or normal, not {other:?}")),
            },
            "--backend" => {
                let name = args.next().ok_or("--backend needs a name")?;
                let backend = Backend::parse(&name).ok_or(format!("unknown backend {name:?}"))?;
                settings.backends.push(backend);
            }
            "--apps" => {
                let n = args.next().ok_or("--apps needs a number")?;
                settings.apps = n.parse().map_err(|_| format!("--apps {n}: not a number"))?;
                settings.apps = settings.apps.max(1);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            w if ALL.contains(&w.to_uppercase().as_str()) => {
                settings.workloads.push(w.to_uppercase());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if settings.runs == 0 {
        settings.runs = if settings.quick { 3 } else { 5 };
    }
    if settings.workloads.is_empty() {
        settings.workloads = ALL.iter().map(|w| (*w).to_owned()).collect();
    }
    Ok(settings)
}

fn main() -> ExitCode {
    let settings = match parse_args() {
        Ok(s) => s,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    for workload in &settings.workloads {
        let backends: Vec<Backend> = default_backends(workload)
            .iter()
            .copied()
            .filter(|b| settings.backends.is_empty() || settings.backends.contains(b))
            .collect();
        for backend in backends {
            let result = match workload.as_str() {
                "W1" => runtime.block_on(workloads::w1(&settings, backend)),
                "W2" => runtime.block_on(workloads::w2(&settings, backend)),
                "W3" => runtime.block_on(workloads::w3(&settings, backend)),
                "W4" => runtime.block_on(workloads::w4(&settings, backend)),
                "W5" => runtime.block_on(read_side::w5(&settings, backend)),
                "W6" => runtime.block_on(workloads::w6(&settings, backend)),
                "W7" => runtime.block_on(read_side::w7(&settings, backend)),
                "W8" => Ok(dispatch::w8(&settings)),
                "W9" => runtime.block_on(sagas::w9(&settings, backend)),
                "W10" => runtime.block_on(relay::w10(&settings, backend)),
                _ => unreachable!("arguments are validated"),
            };
            match result {
                Ok(lines) => {
                    for line in lines {
                        println!("{line}");
                    }
                }
                Err(e) => {
                    eprintln!("{workload} on {} failed: {e}", backend.name());
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}
