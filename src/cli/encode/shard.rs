//! `mpirun -np N lca encode`: rows split over the ranks.
//!
//! Every rank reads the same blocks of the input (the reader streams rows in
//! order, so each block is read whole) and solves its share of each block's
//! solver chunks ([`lca::distributed::share`]); rank 0 gathers the codes,
//! states and counters in row order and runs the single-process writer, so
//! the output is the single-process file byte for byte. This module is the
//! part the other ranks run: the same blocks, no output.

use lca::Lca;
use lca::distributed::{encode_gathered, world};
use lca::io::npy;

use super::{EncodeArgs, ModeArg, block_rows, next_block, open_input, read_unit_dictionary};

/// Refuses what is not sharded over ranks (a job of one process passes).
pub(super) fn check_supported(args: &EncodeArgs) -> anyhow::Result<()> {
    let size = world().size();
    if size > 1 && args.mode == ModeArg::Spiking {
        anyhow::bail!(
            "--mode spiking is not split over MPI ranks: run it as one process (this job has {size} ranks)"
        );
    }
    Ok(())
}

/// A rank other than 0: solves its share of every block, writes nothing.
pub(super) fn follow(args: &EncodeArgs, lca: &Lca) -> anyhow::Result<()> {
    let (dict, _) = read_unit_dictionary(&args.dictionary, args.normalize)?;
    let mut input = open_input(args, &dict)?;
    let mut warm = match &args.rate.warm_start {
        Some(p) => Some((npy::MatrixReader::open(p)?, p)),
        None => None,
    };
    let block = block_rows(args, dict.n_features(), dict.n_atoms());
    crate::cli::with_threads(args.run.threads, || -> anyhow::Result<()> {
        while input.remaining() > 0 {
            let rows = block.min(input.remaining());
            let signals = next_block(&mut input, rows, &args.input, "input")?;
            let initial = match &mut warm {
                Some((r, p)) => Some(next_block(r, rows, p, "warm-start states")?),
                None => None,
            };
            encode_gathered(world(), lca, &dict, &signals, initial.as_ref(), None)?;
        }
        Ok(())
    })?
}
