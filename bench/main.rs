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

mod dispatch;
mod domain;
mod stats;
mod workloads;

use std::process::ExitCode;

/// Command-line settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) runs: usize,
    pub(crate) workloads: Vec<String>,
}

const ALL: &[&str] = &["W1", "W2", "W8"];
const USAGE: &str = "usage: eventsmith-bench [--quick] [--runs N] [W1 W2 W8 ...]";

fn parse_args() -> Result<Settings, String> {
    let mut settings = Settings {
        quick: false,
        runs: 0,
        workloads: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => settings.quick = true,
            "--runs" => {
                let n = args.next().ok_or("--runs needs a number")?;
                settings.runs = n.parse().map_err(|_| format!("--runs {n}: not a number"))?;
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
        let result = match workload.as_str() {
            "W1" => runtime.block_on(workloads::w1(&settings)),
            "W2" => runtime.block_on(workloads::w2(&settings)),
            "W8" => Ok(dispatch::w8(&settings)),
            _ => unreachable!("arguments are validated"),
        };
        match result {
            Ok(lines) => {
                for line in lines {
                    println!("{line}");
                }
            }
            Err(e) => {
                eprintln!("{workload} failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
