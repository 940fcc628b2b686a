//! Dictionaries of unit-norm atoms with their cached Gram matrix.
//!
//! Memory layout follows scikit-learn: a dictionary of `n_atoms` atoms of
//! `n_features` values is stored like numpy's row-major `(n_atoms, n_features)`
//! `components_`, which is exactly nalgebra's column-major `n_features × n_atoms`
//! matrix Φ whose columns are the atoms. Files therefore load without copies.

mod checkpoint;
pub mod horizon;
mod learn;
mod patch_matrix;
mod training;

/// Where a run's files go (moved to the learning session; kept here for
/// the paths learners and users already name).
pub use crate::learning::{CSV_HEADER, TrainingRow, read_training_csv};
pub use crate::learning::{NoObserver, Observer, Progress, StartInfo, Status, TrainingReport};
pub use crate::learning::{RunLock, lock_path};
pub use checkpoint::{read_checkpoint, write_checkpoint};
pub use horizon::{BudgetPlanner, HorizonRule, TimeUse, problem_size_steps, steps_label};
pub use learn::{
    DictionaryLearner, HorizonRevision, LearnParams, LearnerState, OnlineStats, Rule, StepStats,
    UNBOUNDED_STEPS,
};
pub use patch_matrix::{PatchMatrixParams, PatchMatrixTraining, initial_atoms};
pub use training::{Training, TrainingConfig, checkpoint_path, defaults};

use nalgebra::DMatrix;

use crate::error::{Error, Result};

/// Relative tolerance on each atom's L2 norm when encoding
/// ([`Dictionary::for_encoding`]): rows normalised in f32 are within 1e-6 of
/// 1, a rescaled dictionary is far outside.
pub const UNIT_NORM_TOLERANCE: f64 = 1e-3;

/// A set of unit-norm atoms (the columns of Φ) and the inhibition matrix
/// `G = ΦᵀΦ − I` that LCA neurons use to compete.
#[derive(Clone, Debug)]
pub struct Dictionary {
    phi: DMatrix<f32>,
    /// Φᵀ, kept so the drive `ΦᵀX` is a plain blocked GEMM (nalgebra's
    /// `tr_mul` computes one dot product per entry, several times slower).
    phi_t: DMatrix<f32>,
    inhibition: DMatrix<f32>,
}

impl Dictionary {
    /// Builds a dictionary from numpy-style rows: `data` holds `n_atoms` rows of
    /// `n_features` values each. Atoms are normalised to unit L2 norm.
    ///
    /// ```
    /// use lca::Dictionary;
    /// let d = Dictionary::from_rows(2, 2, vec![3.0, 4.0, 0.0, 2.0]).unwrap();
    /// assert_eq!(d.atom(0), &[0.6, 0.8]);
    /// assert!(Dictionary::from_rows(1, 2, vec![0.0, 0.0]).is_err());
    /// ```
    pub fn from_rows(n_atoms: usize, n_features: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != n_atoms * n_features {
            return Err(Error::Shape(format!(
                "dictionary data has {} values, expected {n_atoms} atoms × {n_features} features",
                data.len()
            )));
        }
        Self::from_atoms(DMatrix::from_vec(n_features, n_atoms, data))
    }

    /// Builds a dictionary from a matrix whose columns are the atoms.
    /// Fails on an empty dictionary, a non-finite value or a zero atom.
    pub fn from_atoms(mut phi: DMatrix<f32>) -> Result<Self> {
        if phi.ncols() == 0 || phi.nrows() == 0 {
            return Err(Error::Shape(format!(
                "dictionary must have at least one atom and one feature, got {} atoms × {} features",
                phi.ncols(),
                phi.nrows()
            )));
        }
        crate::error::check_finite("dictionary", phi.as_slice())?;
        for (index, mut atom) in phi.column_iter_mut().enumerate() {
            let norm = atom
                .iter()
                .map(|&v| f64::from(v).powi(2))
                .sum::<f64>()
                .sqrt();
            if norm.is_nan() || norm <= 1e-12 || !norm.is_finite() {
                return Err(Error::ZeroAtom { index });
            }
            atom /= norm as f32;
        }
        let phi_t = phi.transpose();
        let mut inhibition = &phi_t * &phi;
        inhibition.fill_diagonal(0.0);
        Ok(Dictionary {
            phi,
            phi_t,
            inhibition,
        })
    }

    /// The dictionary an encoder codes over, from atoms as given (columns).
    ///
    /// The solvers work with unit-norm atoms, so for other atoms the codes
    /// would solve the LASSO of the normalised dictionary, not of the one
    /// given: atoms whose L2 norm is off 1 by more than
    /// [`UNIT_NORM_TOLERANCE`] are refused unless `normalize`. Returns the
    /// dictionary and whether an atom was rescaled. `lca encode` and
    /// Python's encoders both apply this policy.
    ///
    /// ```
    /// use lca::Dictionary;
    /// use nalgebra::DMatrix;
    /// let doubled = DMatrix::from_column_slice(2, 2, &[2.0, 0.0, 0.0, 1.0]);
    /// assert!(Dictionary::for_encoding(doubled.clone(), false).is_err());
    /// let (d, rescaled) = Dictionary::for_encoding(doubled, true).unwrap();
    /// assert!(rescaled && d.atom(0) == [1.0, 0.0]);
    /// ```
    pub fn for_encoding(atoms: DMatrix<f32>, normalize: bool) -> Result<(Self, bool)> {
        crate::error::check_finite("dictionary", atoms.as_slice())?;
        let norms: Vec<f64> = atoms
            .column_iter()
            .map(|a| a.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt())
            .collect();
        let off = norms
            .iter()
            .position(|&n| (n - 1.0).abs() > UNIT_NORM_TOLERANCE);
        // A zero atom gets the dictionary's own error.
        let zero = norms.iter().any(|&n| n <= 1e-12);
        if let (Some(row), false, false) = (off, zero, normalize) {
            return Err(Error::setting(
                "normalize",
                format!(
                    "row {row} (an atom) of the dictionary has L2 norm {:.6}, not 1 (tolerance {UNIT_NORM_TOLERANCE}): the codes would solve the LASSO for the normalised atoms, not for this dictionary; normalise its rows or ask for it (--normalize, normalize=True)",
                    norms[row]
                ),
            ));
        }
        Ok((Self::from_atoms(atoms)?, off.is_some()))
    }

    /// Number of atoms (neurons).
    pub fn n_atoms(&self) -> usize {
        self.phi.ncols()
    }

    /// Length of each atom (signal dimension).
    pub fn n_features(&self) -> usize {
        self.phi.nrows()
    }

    /// Φ: the atoms as columns (`n_features × n_atoms`).
    pub fn atoms(&self) -> &DMatrix<f32> {
        &self.phi
    }

    /// Atom `j` as a slice.
    pub fn atom(&self, j: usize) -> &[f32] {
        let n = self.n_features();
        &self.phi.as_slice()[j * n..(j + 1) * n]
    }

    /// The atoms in numpy row-major `(n_atoms, n_features)` order.
    pub fn as_rows(&self) -> &[f32] {
        self.phi.as_slice()
    }

    /// `G = ΦᵀΦ − I` (`n_atoms × n_atoms`, symmetric, zero diagonal).
    pub fn inhibition(&self) -> &DMatrix<f32> {
        &self.inhibition
    }

    /// Column `j` of `G`: how much neuron `j` inhibits every other neuron.
    #[inline]
    pub fn inhibition_column(&self, j: usize) -> &[f32] {
        let n = self.n_atoms();
        &self.inhibition.as_slice()[j * n..(j + 1) * n]
    }

    /// Feed-forward drive `B = ΦᵀX` for signals stored as columns (any
    /// matrix or view with `n_features` rows).
    pub fn drive<S>(
        &self,
        signals: &nalgebra::Matrix<f32, nalgebra::Dyn, nalgebra::Dyn, S>,
    ) -> DMatrix<f32>
    where
        S: nalgebra::storage::Storage<f32, nalgebra::Dyn, nalgebra::Dyn>,
    {
        &self.phi_t * signals
    }

    /// Reconstruction `ΦA` of codes stored as columns.
    pub fn reconstruct(&self, codes: &DMatrix<f32>) -> DMatrix<f32> {
        &self.phi * codes
    }
}
