//! The `lca` command line: parses arguments and hands each subcommand to its
//! module under `src/cli/`; all algorithms live in the library.

mod cli;

use clap::{CommandFactory, FromArgMatches};

fn main() {
    // Matches are kept beside the parsed flags so a subcommand can tell a
    // flag the user typed from its default (`learn --resume` refuses the former).
    let matches = cli::Cli::command().get_matches();
    let args = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli::run(args, &matches) {
        // MPI, when a launcher started it, is finalised before exiting (also
        // after an interrupted learning run, exit status 130 / 143).
        Ok(code) => lca::distributed::exit(code),
        Err(e) => {
            // One line naming the file and the problem, then a failing exit code
            // (under `mpirun`, for the whole job: the other ranks may wait for this one).
            eprintln!("error: {e:#}");
            lca::distributed::abort(1);
        }
    }
}
