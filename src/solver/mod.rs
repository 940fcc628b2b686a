//! Solvers that find sparse codes of signals over a [`Dictionary`](crate::Dictionary).
//!
//! Two solvers, one shape. Settings ([`LcaParams`], [`SpikingParams`]) are
//! validated once by `check(self)` into a ready solver ([`Lca`],
//! [`SpikingLca`]); encoding a matrix of signals returns an [`Encoding`] /
//! [`SpikingEncoding`] with one column or entry per signal, including how
//! each signal's solve ended ([`Termination`]).
//!
//! # Module map
//! - `batch`: the one driver — validation, chunks of [`SIGNAL_CHUNK`]
//!   signals, the drive GEMM, parallel chunks, progress and cancellation
//!   between chunks ([`Monitor`]), first error in signal order. A solver
//!   implements its `SignalSolver` trait: a scratch type sized once per
//!   chunk and `solve(signal, output, scratch)`.
//! - `rate`: the rate LCA; per signal a state of named parts (time step,
//!   λ schedule, projection gate) stepped until a [`Termination`].
//! - `projection` + `gram_factor`: jumps to the fixed point of the current
//!   active set (below).
//! - `spiking`: the spiking LCA; one event-driven loop generic over its
//!   arithmetic (f32 or Loihi's integers, [`fixed_point`]).
//! - `objective`: the LASSO objective ([`lasso_energy`], [`lasso_objectives`]).
//!
//! # Jumps
//! With the soft threshold, once the active set `S` and its signs `s` are
//! frozen the LCA dynamics are linear and settle where
//! `Φ_SᵀΦ_S a_S = b_S − λ s`. The rate solver solves that system (a Cholesky
//! factor updated as `S` changes) and chains such jumps, each lowering the
//! energy as in feature-sign search (Lee et al. 2007), until one is
//! self-consistent: an exact fixed point of the dynamics, the LASSO solution.
//! A chain that stalls hands over to the dynamics.
//!
//! # Adding a solver
//! A new solver over columns of signals (e.g. another dynamics) implements
//! `batch::SignalSolver` — `type Scratch` (its buffers), `type Report` (what
//! one signal reports), `scratch(dict)` and `solve(dict, signal, out,
//! scratch)` — and calls `batch::solve_batch(&solver, dict, signals,
//! States::Rest | Warm | Stateless, monitor)`. It then inherits the input
//! checks, chunking, thread-count independence and progress reporting, and
//! assembles its public result from `Solved { codes, states, reports }`.

mod batch;
pub mod fixed_point;
mod gram_factor;
mod objective;
mod projection;
mod rate;
mod spiking;

pub use batch::Monitor;

/// Which LCA codes the signals: the rate LCA (continuous outputs, the
/// LASSO's fixed point) or the spiking LCA (codes are spike rates). Named
/// `rate` / `spiking` by `lca encode --mode` and Python's `mode=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// [`Lca`]: continuous outputs, stops at the fixed point.
    #[default]
    Rate,
    /// [`SpikingLca`]: integrate-and-fire neurons, codes are spike rates.
    Spiking,
}
pub use objective::{lasso_energy, lasso_objectives};

/// Signals both solvers process together (one GEMM for their drive, one
/// parallel task). Each chunk's work depends only on its own signals, so a
/// caller that cuts a long input into blocks of a multiple of this many
/// signals gets exactly the codes of one call on the whole input.
pub const SIGNAL_CHUNK: usize = 64;
pub use rate::{Anneal, Encoding, Lca, LcaParams, Termination, Trace};
pub use spiking::{Raster, SpikeRecord, SpikingEncoding, SpikingLca, SpikingParams};

/// A fixed pseudo-random dictionary for unit tests (no RNG dependency, so the
/// same atoms on every platform).
#[cfg(test)]
pub(crate) fn test_dictionary(n_features: usize, n_atoms: usize, seed: u64) -> crate::Dictionary {
    let mut state = seed;
    let phi = nalgebra::DMatrix::from_fn(n_features, n_atoms, |_, _| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f32 / (1u64 << 31) as f32 - 0.5
    });
    crate::Dictionary::from_atoms(phi).unwrap()
}
