//! The `lca` command line: parses arguments and hands each subcommand to its
//! module under `src/cli/`; all algorithms live in the library.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        // One line naming the file and the problem, then a failing exit code.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
