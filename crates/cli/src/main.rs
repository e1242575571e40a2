//! The `eloy` command: the calibration tutorial's whole reduction as one command.
//!
//! ```text
//! eloy summary DIR            what is in a folder: nights, kinds, exposures, filters
//! eloy masters DIR --out OUT  master bias, dark and flat per night (and filter)
//! eloy calibrate DIR --out OUT  masters, then every light calibrated
//! eloy preview FILE... -o OUT.png
//! eloy stats FILE...
//! eloy demo [DIR]             a synthetic night, calibrated, with the tutorial's figures
//! eloy synth DIR              a synthetic night of raw frames
//! ```
//!
//! Exit status: 0 when everything was done, 1 when some frames failed, 2 when nothing
//! could be done (bad arguments, no frames, an unreadable folder).

mod args;
mod calibrate;
mod demo;
mod masters;
mod preview;
mod previews;
mod report;
mod stats;
mod summary;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Everything was done.
    Done,
    /// Some frames failed; the others were done.
    Partial,
}

/// An error that stops a command: shown as one line, exit status 2.
#[derive(Debug)]
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(error: E) -> Self {
        Fatal(error.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(threads) = cli.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
        {
            eprintln!("error: cannot start {threads} threads: {e}");
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Summary(args) => summary::run(&args),
        Command::Masters(args) => masters::run(&args),
        Command::Calibrate(args) => calibrate::run(&args),
        Command::Preview(args) => preview::run(&args),
        Command::Stats(args) => stats::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Synth(args) => demo::synth(&args),
    };
    match result {
        Ok(Status::Done) => ExitCode::SUCCESS,
        Ok(Status::Partial) => ExitCode::from(1),
        Err(Fatal(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
