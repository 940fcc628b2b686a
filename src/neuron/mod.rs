//! Neuron kernels shared by every solver and network in the crate.
//!
//! Dynamics (how a state integrates its input) are kept apart from transfer
//! functions (how a state becomes an output), as in lava-dl's SLAYER: the rate
//! LCA, the spiking LCA and the spiking network all build on these functions,
//! and each kernel is written exactly once. Kernels work on slices, allocate
//! nothing and are written so the compiler can vectorise them.

pub mod fixed;
pub mod integrate;
pub mod lif;
pub mod surrogate;
pub mod threshold;

pub use integrate::{Integrator, leaky_step};
pub use lif::{CubaLif, LifState, Reset};
pub use surrogate::{Surrogate, SurrogateKind};
pub use threshold::{Threshold, Transfer};
