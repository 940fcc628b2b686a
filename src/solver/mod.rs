//! Solvers that find sparse codes of signals over a [`Dictionary`](crate::Dictionary).

mod batch;
pub mod fixed_point;
mod gram_factor;
pub mod objective;
pub mod projection;
pub mod rate;
pub mod spiking;

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
