//! The `lca` command line: parses arguments and hands each subcommand to its
//! module under `src/cli/`; all algorithms live in the library.

mod cli;

use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use lca::distributed::{DEFAULT_TIMEOUT_SECONDS, World};

fn main() {
    // Matches are kept beside the parsed flags so a subcommand can tell a
    // flag the user typed from its default (`learn --resume` refuses the former).
    let matches = cli::Cli::command().get_matches();
    let args = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The job's processes (MPI under a launcher, else this one), made once
    // here and passed to whatever runs over them.
    let world = World::init(mpi_timeout());
    match cli::run(args, &matches, world.comm()) {
        // MPI, when a launcher started it, is finalised before exiting (also
        // after an interrupted learning run, exit status 130 / 143).
        Ok(code) => world.exit(code),
        Err(e) => {
            // One line naming the file and the problem, then a failing exit code
            // (under `mpirun`, for the whole job: the other ranks may wait for this one).
            eprintln!("error: {e:#}");
            world.abort(1);
        }
    }
}

/// How long a rank waits for the others in one collective: `LCA_MPI_TIMEOUT`
/// seconds when set to a positive number, else the library's default.
fn mpi_timeout() -> Duration {
    let secs = std::env::var("LCA_MPI_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    Duration::from_secs_f64(secs)
}
