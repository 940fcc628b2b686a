//! Convolutional sparse coding of whole images.

mod highpass;

pub use highpass::{DEFAULT_PAD, tikhonov_highpass, tikhonov_lowpass};
mod learn;

/// Defaults of convolutional dictionary learning (CLI and library).
pub use learn::defaults as learn_defaults;
pub use learn::{CodedImage, ConvLearnParams, ConvLearner, ConvLearnerState, FilterShape};
