//! Solvers that find sparse codes of signals over a [`Dictionary`](crate::Dictionary).

pub mod objective;
pub mod projection;
pub mod rate;

pub use objective::{lasso_energy, lasso_objectives};
pub use rate::{Encoding, Lca, LcaParams, Trace};
