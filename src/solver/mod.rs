//! Solvers that find sparse codes of signals over a [`Dictionary`](crate::Dictionary).

pub mod fixed_point;
mod gram_factor;
pub mod objective;
pub mod projection;
pub mod rate;
pub mod spiking;

pub use objective::{lasso_energy, lasso_objectives};
pub use rate::{Anneal, Encoding, Lca, LcaParams, Trace};
pub use spiking::{Raster, SpikeRecord, SpikingEncoding, SpikingLca, SpikingParams};
