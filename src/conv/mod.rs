//! Convolutional sparse coding of whole images with the LCA — and of 1-D
//! signals and 3-D volumes: every solver runs over 1, 2 or 3 spatial axes
//! (module `dims` says how arrays are laid out and how the dimension is
//! chosen; [`ConvDictionary::with_shape`], [`Planes::with_extent`]).
//! Internally every signal has three axes (depth, height, width), the
//! leading ones of extent 1 below three dimensions, so one code path serves
//! all three and 2-D images are solved exactly as before.
//!
//! A [`ConvDictionary`] holds `n_filters` filters of `channels × k × k` taps
//! (PyTorch's conv-weight layout `(n_filters, channels, k, k)`). An image
//! `x` ([`Planes`] of shape `(C, H, W)`) is coded by maps `A` of shape
//! `(n_filters, H, W)` that minimise `½‖x − x̂‖² + λ‖A‖₁` (optionally with
//! `A ≥ 0`), solved by the rate LCA ([`ConvLcaParams`] → [`ConvLca`]) or
//! the spiking LCA ([`ConvSpikingParams`] → [`ConvSpiking`]).
//!
//! # Reconstruction contract
//!
//! Per channel `c`, the reconstruction is
//! `x̂[c] = Σ_m scipy.signal.convolve2d(A[m], D[m, c], mode='same', boundary=B)`
//! with `B = 'wrap'` for [`Boundary::Circular`] and `B = 'fill'` (zeros) for
//! [`Boundary::Zero`]. So coefficient `A[m, y, x]` places tap `(p, q)` of
//! `D[m, c]` on pixel `(y + p − o, x + q − o)` with `o = (k − 1)/2` rounded
//! down (for even `k` the filter's centre is the tap just above and left of
//! the middle, as in scipy).
//!
//! ```
//! use lca::conv::{Boundary, ConvDictionary, Planes, reconstruct};
//! // One 2×2 filter [[1, 2], [3, 4]] (normalised by √30), one coefficient at (1, 1).
//! let s = 30f32.sqrt();
//! let d = ConvDictionary::new(1, 1, 2, vec![1.0 / s, 2.0 / s, 3.0 / s, 4.0 / s]).unwrap();
//! let mut a = Planes::zeros(1, 3, 3);
//! a.data[4] = s; // A[0, 1, 1]
//! let x = reconstruct(&d, &a, Boundary::Zero).unwrap();
//! // o = 0 for k = 2: tap (0, 0) lands on the coefficient's own pixel.
//! let want = [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0];
//! assert!(x.data.iter().zip(want).all(|(v, w)| (v - w).abs() < 1e-5));
//! // With the circular boundary, a coefficient at the last pixel wraps around.
//! let mut a = Planes::zeros(1, 3, 3);
//! a.data[8] = s; // A[0, 2, 2]
//! let x = reconstruct(&d, &a, Boundary::Circular).unwrap();
//! let want = [4.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2.0, 0.0, 1.0];
//! assert!(x.data.iter().zip(want).all(|(v, w)| (v - w).abs() < 1e-5));
//! ```

mod accelerated;
mod batch;
mod correlate;
mod dictionary;
mod dims;
mod fourier;
mod geometry;
mod planes;
mod rate;
mod scatter;
mod settings;
mod settling;
mod signal_file;
mod spiking;
mod splitting;

pub use correlate::{GramKernels, check_image, correlate, objective, reconstruct};
pub use dictionary::{ConvDictionary, UNIT_NORM_TOLERANCE};
pub use dims::{
    SignalLayout, SignalShape, batch_learning_dims, check_dims, dictionary_layout, infer_dims,
    infer_signal_dims, parse_dims, shape_text, signal_layout,
};
pub use planes::{Boundary, Planes};
pub use rate::ConvEncoding;
pub use settings::{ConvLca, ConvLcaParams, Schedule, Termination, defaults};
pub use signal_file::{
    SignalFile, SignalFileKind, SignalShapeOwned, SignalSource, coding_dims, signal_shape_of,
};
pub use spiking::{ConvSpiking, ConvSpikingEncoding, ConvSpikingParams};

mod arrays;
mod checkpoint;
mod crops;
mod highpass;
mod learn;
mod learn_step;
mod signal_set;
mod title;
mod training;

pub use arrays::{ConvArrayParams, ConvArrayTraining};
pub use checkpoint::{read_conv_checkpoint, write_conv_checkpoint};
pub use highpass::{DEFAULT_PAD, tikhonov_highpass, tikhonov_lowpass};
/// Defaults of convolutional dictionary learning (CLI and library).
pub use learn::defaults as learn_defaults;
pub use learn::{
    CodedImage, CodedSignal, ConvLearnParams, ConvLearner, ConvLearnerState, FilterShape,
    FilterShapeNd,
};
pub use signal_set::learning_dims;
pub use title::{run_dims, run_title};
pub use training::{ConvTraining, ConvTrainingConfig, is_conv_config};
