//! Neuron kernels shared by every solver and network in the crate.
//!
//! Dynamics (how a state integrates its input) are kept apart from transfer
//! functions (how a state becomes an output), as in lava-dl's SLAYER: the rate
//! LCA, the spiking LCA and the spiking network all build on these functions,
//! and each kernel is written exactly once. Kernels work on slices, allocate
//! nothing and are written so the compiler can vectorise them.

mod fixed;
mod integrate;
mod lif;
mod surrogate;
mod threshold;

pub use fixed::{
    CubaLifFixed, DECAY_BITS, DECAY_UNITY, LifStateFixed, Overflow, STATE_BITS, STATE_MAX,
    STATE_MIN, decay as fixed_decay, fire as fixed_fire, integrate as fixed_integrate,
};
pub use integrate::{Integrator, leaky_step};
pub use lif::{CubaLif, LifState, Reset, decay_accumulate, fire, reset};
pub use surrogate::{Surrogate, SurrogateKind};
pub use threshold::{DEFAULT_FIRM_WIDTH, Threshold, Transfer, soft_threshold};
