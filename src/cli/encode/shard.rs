//! `mpirun -np N lca encode`: rows split over the ranks, in both modes.
//!
//! Every rank reads the same blocks of the input (the reader streams rows in
//! order, so each block is read whole) and solves its share of each block's
//! solver chunks ([`lca::distributed::share`]); rank 0 gathers the codes,
//! states, spikes and counters in row order and runs the single-process
//! writer, so the output is the single-process file byte for byte. The rate
//! and the spiking LCA both solve each signal on its own, so any cut into
//! whole chunks gives the single-process result. This module is the part
//! the other ranks run: the same blocks, no output.

use lca::distributed::{Communicator, encode_gathered, encode_spiking_gathered};
use lca::io::npy;
use lca::{Lca, solver::SpikingLca};

use super::{EncodeArgs, block_rows, next_block, open_input, read_unit_dictionary};

/// A rank other than 0 in spiking mode: simulates its share of every block
/// (and, with `float`, its share of the f32 network rank 0 compares with).
pub(super) fn follow_spiking(
    args: &EncodeArgs,
    solver: &SpikingLca,
    float: Option<&SpikingLca>,
    comm: &dyn Communicator,
) -> anyhow::Result<()> {
    let (dict, _) = read_unit_dictionary(&args.dictionary, args.normalize)?;
    let mut input = open_input(args, &dict)?;
    let block = block_rows(args, dict.n_features(), dict.n_atoms());
    crate::cli::with_threads(args.run.threads, || -> anyhow::Result<()> {
        while input.remaining() > 0 {
            let rows = block.min(input.remaining());
            let signals = next_block(&mut input, rows, &args.input, "input")?;
            encode_spiking_gathered(comm, solver, &dict, &signals, None)?;
            if let Some(float) = float {
                encode_spiking_gathered(comm, float, &dict, &signals, None)?;
            }
        }
        Ok(())
    })?
}

/// A rank other than 0: solves its share of every block, writes nothing.
pub(super) fn follow(args: &EncodeArgs, lca: &Lca, comm: &dyn Communicator) -> anyhow::Result<()> {
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
            encode_gathered(comm, lca, &dict, &signals, initial.as_ref(), None)?;
        }
        Ok(())
    })?
}
