//! Sparse coding with the Locally Competitive Algorithm (LCA).
//!
//! Four entry points:
//! - **Encode**: a [`Dictionary`] of unit-norm atoms and a solver built from
//!   validated settings — [`LcaParams`] → [`Lca`] (rate LCA, exact LASSO
//!   codes) or [`solver::SpikingParams`] → [`solver::SpikingLca`]
//!   (integrate-and-fire neurons, optionally in Loihi's integer arithmetic)
//!   — find codes `a` of signals `x` minimising `½‖x − Φa‖² + λ‖a‖₁`;
//!   [`streamed_encoding`] codes an `.npy` file of any length block by block
//!   (over MPI ranks too), as `lca encode` does.
//! - **Learn**: [`dictionary::Training`] learns a dictionary from a
//!   folder of images (patch stream, Hebbian or online rule, checkpoints,
//!   resume), configured by [`dictionary::TrainingConfig`]; it and the other
//!   learners (patches in memory, convolutional filters) run under one
//!   [`learning::Session`].
//! - **Files**: [`io`] reads and writes numpy `.npy` and scipy CSR `.npz`,
//!   atomically; [`image`] loads, whitens, cuts and reassembles images.
//! - **Spiking networks**: [`snn`] trains spike-timing networks on the same
//!   neuron kernels ([`neuron`]) as the spiking LCA.
//!
//! Whole images are coded convolutionally by [`conv`] (filters in PyTorch's
//! `(M, C, k, k)` layout), and [`distributed`] runs learning and encoding
//! over MPI ranks when the `mpi` feature is on.
//!
//! Every item is reached as `lca::<module>::<Item>`: the files inside a module
//! are private and the module re-exports what users need. The only public
//! second-level modules are namespaces of free functions or constants whose
//! names only read well qualified: `io::{npy, npz, atomic}`,
//! `snn::{data, eventprop, defaults}`, `dictionary::defaults`, `conv::defaults`.
//!
//! Settings follow one pattern: a plain settings type with chained setters,
//! `check(self)` into a ready (validated) value, and
//! [`Error::InvalidSetting`] naming the setting when it is out of range.
//!
//! Matrices follow one convention: one column per signal, atom or code, which
//! in memory is numpy's row-major `(n_samples, n_features)` layout used by
//! scikit-learn. A file read from numpy therefore maps without copying.
//!
//! ```
//! use lca::{Dictionary, LcaParams};
//! use nalgebra::DMatrix;
//! let d = Dictionary::from_rows(2, 2, vec![1.0, 0.0, 0.0, 1.0]).unwrap();
//! let x = DMatrix::from_column_slice(2, 1, &[0.5, -0.05]);
//! let enc = LcaParams::new().lambda(0.1).check().unwrap().encode(&d, &x).unwrap();
//! assert!((enc.codes[(0, 0)] - 0.4).abs() < 1e-4);
//! assert_eq!(enc.codes[(1, 0)], 0.0);
//! ```

pub mod conv;
pub mod dictionary;
pub mod distributed;
pub mod error;
pub mod image;
pub mod io;
pub mod learning;
pub mod names;
pub mod neuron;
pub mod plot;
pub mod settings;
pub mod snn;
pub mod solver;
pub mod streamed_encoding;

pub use dictionary::Dictionary;
pub use error::{Error, Result};
/// The matrix crate of the public API, re-exported so users need no second copy.
pub use nalgebra;
pub use solver::{Encoding, Lca, LcaParams};
