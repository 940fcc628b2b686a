//! Sparse coding with the Locally Competitive Algorithm (LCA).
//!
//! A [`Dictionary`] of unit-norm atoms and a rate-LCA solver ([`Lca`], built
//! from [`LcaParams`]) find sparse codes `a` of signals `x` that minimise
//! `½‖x − Φa‖² + λ‖a‖₁`. Neuron kernels live in [`neuron`], shared by every
//! solver; [`io`] reads and writes numpy `.npy` and scipy CSR `.npz` files.
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
pub mod error;
pub mod image;
pub mod io;
pub mod neuron;
pub mod plot;
pub mod snn;
pub mod solver;

pub use dictionary::Dictionary;
pub use error::{Error, Result};
/// The matrix crate of the public API, re-exported so users need no second copy.
pub use nalgebra;
pub use solver::{Encoding, Lca, LcaParams};
