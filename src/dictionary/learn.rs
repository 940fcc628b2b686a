//! Learning a dictionary from minibatches of signals with LCA codes and a
//! Hebbian update, as in Olshausen & Field (1997), PetaVision and lca-pytorch.
//!
//! Each step encodes a batch `X` with the rate LCA, then moves the atoms along
//! the reconstruction error: `ΔΦ = η (X − ΦA) Aᵀ`, with each atom's update
//! divided by the number of signals it took part in (so rarely used atoms learn
//! as fast as busy ones), optional momentum, and renormalisation to unit norm.
//! Atoms that stay silent for a while are re-seeded with the residual of the
//! worst-reconstructed signal of the batch, which is what the code lacks.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::solver::LcaParams;
use crate::{Dictionary, Encoding};

/// Settings of dictionary learning, validated by [`LearnParams::check`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnParams {
    /// Solver used to encode each batch; its λ is the starting λ.
    pub lca: LcaParams,
    /// Learning rate η at the first step.
    pub learning_rate: f32,
    /// Learning rate reached at the last step (geometric schedule); `None` keeps η.
    pub learning_rate_final: Option<f32>,
    /// λ reached at the last step (geometric schedule); `None` keeps λ.
    pub lambda_final: Option<f32>,
    /// Momentum of the update (0 disables it).
    pub momentum: f32,
    /// Total number of steps (the schedules' horizon).
    pub steps: u64,
    /// An atom unused for this many consecutive steps is re-seeded (0: never).
    pub resample_after: u64,
}

impl Default for LearnParams {
    fn default() -> Self {
        LearnParams {
            lca: LcaParams::default(),
            learning_rate: 4.0,
            learning_rate_final: Some(0.4),
            lambda_final: None,
            momentum: 0.0,
            steps: 1000,
            resample_after: 50,
        }
    }
}

impl LearnParams {
    /// Checks every setting once, so the loop never sees an invalid one.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidSetting(m));
        self.lca.clone().check()?;
        for (name, v) in [
            ("learning rate", Some(self.learning_rate)),
            ("final learning rate", self.learning_rate_final),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return bad(format!("{name} must be finite and > 0, got {v}"));
            }
        }
        if let Some(l) = self.lambda_final
            && !(l.is_finite() && l > 0.0 && self.lca.lambda > 0.0)
        {
            return bad(format!(
                "a lambda schedule needs lambda > 0 and final lambda > 0, got {} → {l}",
                self.lca.lambda
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!("momentum must be in [0, 1), got {}", self.momentum));
        }
        if self.steps == 0 {
            return bad("steps must be at least 1".into());
        }
        Ok(())
    }

    /// Value of a geometric schedule from `start` to `end` at `step`.
    fn schedule(&self, start: f32, end: Option<f32>, step: u64) -> f32 {
        match end {
            None => start,
            Some(end) => {
                let t = (step as f64 / (self.steps.max(2) - 1) as f64).min(1.0);
                (f64::from(start) * (f64::from(end) / f64::from(start)).powf(t)) as f32
            }
        }
    }

    /// λ used at `step`.
    pub fn lambda_at(&self, step: u64) -> f32 {
        self.schedule(self.lca.lambda, self.lambda_final, step)
    }

    /// η used at `step`.
    pub fn learning_rate_at(&self, step: u64) -> f32 {
        self.schedule(self.learning_rate, self.learning_rate_final, step)
    }
}

/// Statistics of one learning step, measured on the batch it used.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// Mean squared reconstruction error per value.
    pub mse: f64,
    /// Mean `‖a‖₁` per signal.
    pub l1: f64,
    /// Fraction of non-zero coefficients.
    pub active_fraction: f64,
    /// Mean `½‖x − Φa‖² + λ‖a‖₁` per signal, at the λ of the step.
    pub energy: f64,
    /// Atoms re-seeded in this step.
    pub resampled: usize,
}

/// Everything needed to continue learning exactly where it stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnerState {
    /// Steps done.
    pub step: u64,
    /// Atoms as columns (`n_features × n_atoms`).
    pub atoms: DMatrix<f32>,
    /// Momentum buffer, same shape.
    pub velocity: DMatrix<f32>,
    /// Consecutive steps each atom has been silent.
    pub idle: Vec<u64>,
}

/// Learns a dictionary one minibatch at a time.
///
/// ```
/// use lca::dictionary::learn::{DictionaryLearner, LearnParams};
/// use lca::Dictionary;
/// use nalgebra::DMatrix;
/// // Signals that are each one of two directions; start from skewed atoms.
/// let x = DMatrix::from_fn(2, 40, |i, j| if (i + j) % 2 == 0 { 1.0 } else { 0.0 });
/// let init = Dictionary::from_rows(2, 2, vec![1.0, 0.4, 0.4, 1.0]).unwrap();
/// let mut learner = DictionaryLearner::new(LearnParams::default(), init).unwrap();
/// for _ in 0..50 {
///     learner.step(&x).unwrap();
/// }
/// let d = learner.dictionary().unwrap();
/// assert!(d.atom(0)[0] > 0.99 && d.atom(1)[1] > 0.99);
/// ```
pub struct DictionaryLearner {
    params: LearnParams,
    state: LearnerState,
}

impl DictionaryLearner {
    /// Starts from `init` (e.g. random patches, or a dictionary to refine).
    pub fn new(params: LearnParams, init: Dictionary) -> Result<Self> {
        let atoms = init.atoms().clone();
        let state = LearnerState {
            step: 0,
            velocity: DMatrix::zeros(atoms.nrows(), atoms.ncols()),
            idle: vec![0; atoms.ncols()],
            atoms,
        };
        Self::resume(params, state)
    }

    /// Continues from a saved state.
    pub fn resume(params: LearnParams, state: LearnerState) -> Result<Self> {
        params.check()?;
        if state.velocity.shape() != state.atoms.shape() || state.idle.len() != state.atoms.ncols()
        {
            return Err(Error::Shape(
                "learner state: atoms, velocity and idle counts disagree".into(),
            ));
        }
        Ok(DictionaryLearner { params, state })
    }

    /// The settings.
    pub fn params(&self) -> &LearnParams {
        &self.params
    }

    /// The state to checkpoint.
    pub fn state(&self) -> &LearnerState {
        &self.state
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> u64 {
        self.state.step
    }

    /// The current dictionary.
    pub fn dictionary(&self) -> Result<Dictionary> {
        Dictionary::from_atoms(self.state.atoms.clone())
    }

    /// One step on a batch of signals (columns); returns its statistics.
    pub fn step(&mut self, batch: &DMatrix<f32>) -> Result<StepStats> {
        let step = self.state.step;
        let lambda = self.params.lambda_at(step);
        let eta = self.params.learning_rate_at(step);
        let dict = self.dictionary()?;
        let lca = self.params.lca.clone().lambda(lambda).check()?;
        let Encoding { codes, .. } = lca.encode(&dict, batch)?;
        let phi = dict.atoms();
        let residual = batch - phi * &codes;

        let (n, m) = (batch.nrows(), batch.ncols().max(1));
        let k = phi.ncols();
        let counts: Vec<usize> = codes.column_iter().fold(vec![0; k], |mut c, a| {
            for (cj, &v) in c.iter_mut().zip(a.iter()) {
                *cj += usize::from(v != 0.0);
            }
            c
        });
        let nnz: usize = counts.iter().sum();
        let l1 = codes.iter().map(|v| f64::from(v.abs())).sum::<f64>();
        let squared: Vec<f64> = residual
            .column_iter()
            .map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
            .collect();
        let stats_energy = (0.5 * squared.iter().sum::<f64>() + f64::from(lambda) * l1) / m as f64;

        // Hebbian update, each atom's share averaged over the signals that used it.
        let mut update = &residual * codes.transpose();
        for (j, mut col) in update.column_iter_mut().enumerate() {
            col /= counts[j].max(1) as f32;
        }
        let momentum = self.params.momentum;
        let velocity = &mut self.state.velocity;
        *velocity *= momentum;
        *velocity += &update;
        let mut atoms = phi.clone();
        atoms += velocity.scale(eta);

        // Re-seed atoms that have been silent too long with the residuals of
        // the worst-reconstructed signals, largest first.
        let mut resampled = 0;
        for (j, idle) in self.state.idle.iter_mut().enumerate() {
            *idle = if counts[j] > 0 { 0 } else { *idle + 1 };
        }
        if self.params.resample_after > 0 {
            let mut worst: Vec<usize> = (0..batch.ncols()).collect();
            worst.sort_by(|&a, &b| squared[b].total_cmp(&squared[a]).then(a.cmp(&b)));
            let mut donors = worst.into_iter().filter(|&s| squared[s] > 1e-12);
            for j in 0..k {
                if self.state.idle[j] >= self.params.resample_after {
                    let Some(s) = donors.next() else { break };
                    atoms.set_column(j, &residual.column(s));
                    self.state.velocity.column_mut(j).fill(0.0);
                    self.state.idle[j] = 0;
                    resampled += 1;
                }
            }
        }
        for (j, mut col) in atoms.column_iter_mut().enumerate() {
            let norm = col.norm();
            if norm > 1e-12 && norm.is_finite() {
                col /= norm;
            } else {
                col.copy_from(&phi.column(j)); // a degenerate update: keep the atom
            }
        }
        self.state.atoms = atoms;
        self.state.step += 1;
        Ok(StepStats {
            mse: squared.iter().sum::<f64>() / (n * m) as f64,
            l1: l1 / m as f64,
            active_fraction: nnz as f64 / (k * m) as f64,
            energy: stats_energy,
            resampled,
        })
    }
}
