//! Subcommands of the `lca` binary, one file each. They only wire library
//! calls together: read inputs, call the library, write outputs, report.

mod conv;
mod encode;
mod learn;
mod plot;
mod progress;
mod reconstruct;
mod snn;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Sparse coding with the Locally Competitive Algorithm.
#[derive(Parser, Debug)]
#[command(name = "lca", version, about, long_about = None)]
struct Parsed {
    #[command(subcommand)]
    command: Command,
}

/// The command line: [`Parsed`], with negative numbers accepted as values
/// of every option of every subcommand (`--lambda -1` reaches the real
/// validation instead of clap's "unexpected argument '-1'"). clap has no
/// setting that reaches nested subcommands, so the command is rewritten here.
#[derive(Debug)]
pub struct Cli(Parsed);

impl CommandFactory for Cli {
    fn command() -> clap::Command {
        accept_negative_numbers(Parsed::command())
    }

    fn command_for_update() -> clap::Command {
        accept_negative_numbers(Parsed::command_for_update())
    }
}

impl FromArgMatches for Cli {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Parsed::from_arg_matches(matches).map(Cli)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
}

impl Parser for Cli {}

/// Lets every option that takes a value accept a negative number, in `cmd`
/// and all its subcommands. Values that merely start with '-' (like
/// `--output -q`) are still read as flags.
fn accept_negative_numbers(cmd: clap::Command) -> clap::Command {
    let subcommands: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    let cmd = cmd.mut_args(|arg| {
        if arg.get_action().takes_values() {
            arg.allow_negative_numbers(true)
        } else {
            arg
        }
    });
    subcommands.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, accept_negative_numbers)
    })
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Encode signals (rows of X.npy) over a dictionary (rows of D.npy) with LCA.
    Encode(encode::EncodeArgs),
    /// Learn a dictionary from a folder of images (default: the embedded samples).
    Learn(learn::LearnArgs),
    /// Rebuild images from the sparse codes of their patches; report PSNR.
    Reconstruct(reconstruct::ReconstructArgs),
    /// Redraw pictures from saved files (atoms, training curves).
    Plot(plot::PlotArgs),
    /// Spiking neural networks trained with surrogate gradients (train, eval).
    Snn(snn::SnnArgs),
}

/// Flags every long-running subcommand shares.
#[derive(clap::Args, Debug, Clone, Copy)]
pub(crate) struct RunOptions {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar, no summary (errors are still printed).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the final summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs a subcommand over the job's communicator `comm` (made by `main`);
/// `Ok(code)` is the exit status (non-zero: a learning run stopped by
/// SIGINT / SIGTERM after writing everything), which `main` returns after
/// shutting MPI down.
pub fn run(
    cli: Cli,
    matches: &clap::ArgMatches,
    comm: &dyn lca::distributed::Communicator,
) -> anyhow::Result<i32> {
    let sub = |name: &str| {
        matches
            .subcommand_matches(name)
            .cloned()
            .unwrap_or_default()
    };
    let done = |r: anyhow::Result<()>| r.map(|()| 0);
    match cli.0.command {
        Command::Encode(args) => done(encode::run(args, comm)),
        Command::Learn(args) => learn::run(args, &sub("learn"), comm),
        Command::Plot(args) => done(plot::run(args)),
        Command::Reconstruct(args) => done(reconstruct::run(args)),
        Command::Snn(args) => done(snn::run(args)),
    }
}

/// The value parser of a flag that names a library enum: its names, their
/// help lines and aliases come from the library's one table
/// ([`lca::names::Named`]), which Python reads too.
pub(crate) fn named<T>() -> impl clap::builder::TypedValueParser<Value = T>
where
    T: lca::names::Named + std::str::FromStr + Clone + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser;
    let values = T::NAMES.iter().zip(T::HELP).map(|(&name, &help)| {
        let aliases = T::ALIASES.iter().filter(move |(_, to)| *to == name);
        clap::builder::PossibleValue::new(name)
            .help(help)
            .aliases(aliases.map(|(alias, _)| *alias))
    });
    clap::builder::PossibleValuesParser::new(values).map(|s: String| match s.parse::<T>() {
        Ok(v) => v,
        Err(_) => unreachable!("clap passes only the table's names and aliases"),
    })
}

/// Runs `work` on a rayon pool of `threads` threads (all cores when `None`).
pub(crate) fn with_threads<T: Send>(
    threads: Option<usize>,
    work: impl FnOnce() -> T + Send,
) -> anyhow::Result<T> {
    match threads {
        None => Ok(work()),
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build()?;
            Ok(pool.install(work))
        }
    }
}

/// Fails early, before any long computation, when `path` cannot be written:
/// its directory must exist and accept a new file.
pub(crate) fn check_writable(path: &std::path::Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(
            "{}: cannot write output: {} is not a directory",
            path.display(),
            dir.display()
        );
    }
    if !dir.is_dir() {
        anyhow::bail!(
            "{}: cannot write output: directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        anyhow::bail!("{}: cannot write output: it is a directory", path.display());
    }
    let probe = dir.join(format!(".lca-write-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => anyhow::bail!("{}: cannot write output: {e}", path.display()),
    }
}
