//! Learning a dictionary from minibatches of signals encoded by the LCA, with
//! one of two rules ([`Rule`]):
//!
//! * **online** (Mairal, Bach, Ponce & Sapiro, JMLR 2010, Alg. 1–2,
//!   the algorithm of SPAMS `trainDL` and scikit-learn's
//!   `MiniBatchDictionaryLearning`): keep the sufficient statistics
//!   `A = Σ a aᵀ` and `B = Σ x aᵀ` of all batches seen, older ones down-weighted
//!   by a forgetting factor, and after each batch minimise the surrogate
//!   `½ tr(Φᵀ Φ A) − tr(Φᵀ B)` by one pass of block-coordinate descent over the
//!   atoms, `φ_j ← φ_j + (b_j − Φ a_j) / A_jj`, each renormalised to unit norm.
//!   Every batch seen shapes the dictionary, and there is no learning rate to
//!   schedule, so it suits runs bounded by time only.
//! * **hebbian** (default; Olshausen & Field 1997, PetaVision, lca-pytorch): move the
//!   atoms along the reconstruction error, `ΔΦ = η (X − ΦA) Aᵀ`, each atom's
//!   update divided by the number of signals it took part in (so rarely used
//!   atoms learn as fast as busy ones), optional momentum, renormalisation.
//!
//! With both rules, atoms that stay silent for a while are re-seeded with the
//! residual of the worst-reconstructed signal of the batch, which is what the
//! code lacks (their statistics are reset with them).

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::Dictionary;
use crate::distributed::{Communicator, SingleProcess, encode_codes};
use crate::error::{Error, Result};
use crate::settings::Checked;
use crate::solver::LcaParams;

/// How the atoms are updated from each encoded batch (see the module docs).
///
/// The default is the one that measures best on held-out patches against
/// wall time (`BENCHMARKS.md`): the Hebbian rule with its decaying learning
/// rate, whose 2000 default steps reach in ~4 s what SPAMS `trainDL` reaches
/// in 30 s on 8×8 patches with 128 atoms (not on 16×16 / 256 atoms). The
/// online rule needs no schedule, so it suits runs bounded by
/// time only (`steps` = [`UNBOUNDED_STEPS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Online dictionary learning with sufficient statistics (Mairal et al. 2010).
    Online,
    /// Gradient step on the reconstruction error (Olshausen & Field).
    #[default]
    Hebbian,
}

impl Rule {
    /// The rule of runs saved before rules existed (`config.json` without one).
    fn legacy() -> Rule {
        Rule::Hebbian
    }

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Online => "online",
            Rule::Hebbian => "hebbian",
        }
    }
}

/// Steps value meaning "no step limit" (a run bounded by time instead).
pub const UNBOUNDED_STEPS: u64 = u64::MAX;

/// Settings of dictionary learning, validated by [`LearnParams::check`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LearnParams {
    /// Update rule.
    #[serde(default = "Rule::legacy")]
    pub rule: Rule,
    /// Solver used to encode each batch; its λ is the starting λ.
    pub lca: LcaParams,
    /// Learning rate η at the first step (Hebbian rule only).
    pub learning_rate: f32,
    /// Learning rate reached at the last step (geometric schedule); `None` keeps η.
    pub learning_rate_final: Option<f32>,
    /// λ reached at the last step (geometric schedule); `None` keeps λ.
    pub lambda_final: Option<f32>,
    /// Momentum of the update (0 disables it).
    pub momentum: f32,
    /// Total number of steps (the schedules' horizon); [`UNBOUNDED_STEPS`]
    /// for a run bounded by time only (then no schedule may be set).
    pub steps: u64,
    /// An atom unused for this many consecutive steps is re-seeded (0: never).
    pub resample_after: u64,
}

crate::settings::setters!(LearnParams {
    rule: Rule,
    lca: LcaParams,
    learning_rate: f32,
    learning_rate_final: Option<f32>,
    lambda_final: Option<f32>,
    momentum: f32,
    steps: u64,
    resample_after: u64,
});

impl Default for LearnParams {
    fn default() -> Self {
        LearnParams {
            rule: Rule::default(),
            lca: LcaParams::default(),
            learning_rate: 4.0,
            learning_rate_final: Some(0.4),
            lambda_final: None,
            momentum: 0.0,
            steps: 2000,
            resample_after: 50,
        }
    }
}

impl LearnParams {
    /// Checks every setting once, so the loop never sees an invalid one.
    pub fn check(self) -> Result<Checked<LearnParams>> {
        let bad = |name: &'static str, m: String| Err(Error::setting(name, m));
        self.lca.clone().check()?;
        for (name, v) in [
            ("learning rate", Some(self.learning_rate)),
            ("final learning rate", self.learning_rate_final),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return bad(
                    "learning_rate",
                    format!("{name} must be finite and > 0, got {v}"),
                );
            }
        }
        if let Some(l) = self.lambda_final
            && !(l.is_finite() && l > 0.0 && self.lca.lambda > 0.0)
        {
            return bad(
                "lambda_final",
                format!(
                    "a lambda schedule needs lambda > 0 and final lambda > 0, got {} → {l}",
                    self.lca.lambda
                ),
            );
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(
                "momentum",
                format!("momentum must be in [0, 1), got {}", self.momentum),
            );
        }
        if self.steps == 0 {
            return bad("steps", "steps must be at least 1".into());
        }
        if self.steps == UNBOUNDED_STEPS {
            let lr_schedule = self.rule == Rule::Hebbian
                && self
                    .learning_rate_final
                    .is_some_and(|f| f != self.learning_rate);
            if lr_schedule || self.lambda_final.is_some() {
                return bad("steps", 
                    "a run without a step limit cannot have a learning-rate or lambda schedule (their horizon is the number of steps): give steps, or drop the schedule".into(),
                );
            }
        }
        Ok(Checked::assume_valid(self))
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
    /// Sufficient statistics of the online rule (`None` with the Hebbian rule).
    pub stats: Option<OnlineStats>,
}

/// The online rule's memory of every batch seen: `A = Σ a aᵀ` (`n_atoms ×
/// n_atoms`) and `B = Σ x aᵀ` (`n_features × n_atoms`), each batch's term
/// divided by its size and older terms down-weighted by the forgetting factor.
#[derive(Clone, Debug, PartialEq)]
pub struct OnlineStats {
    /// `Σ a aᵀ`.
    pub a: DMatrix<f32>,
    /// `Σ x aᵀ`.
    pub b: DMatrix<f32>,
}

impl OnlineStats {
    fn zeros(n: usize, k: usize) -> Self {
        OnlineStats {
            a: DMatrix::zeros(k, k),
            b: DMatrix::zeros(n, k),
        }
    }

    /// Weight kept by the old statistics at `step` (0-based) for batches of
    /// `m` signals: Mairal et al.'s §3.4 schedule as scikit-learn implements
    /// it, `β = (θ + 1 − m)/(θ + 1)` with `θ = (t + 1)m` for `t < m − 1`, else
    /// `m² + t + 1 − m`: early batches are forgotten quickly (the first atoms
    /// are poor), later ones are averaged over ever longer windows.
    pub fn forgetting(step: u64, m: usize) -> f32 {
        let (t, m) = (step as f64, m as f64);
        let theta = if t < m - 1.0 {
            (t + 1.0) * m
        } else {
            m * m + t + 1.0 - m
        };
        ((theta + 1.0 - m) / (theta + 1.0)) as f32
    }
}

/// Learns a dictionary one minibatch at a time.
///
/// ```
/// use lca::dictionary::{DictionaryLearner, LearnParams};
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
        let (n, k) = atoms.shape();
        let state = LearnerState {
            step: 0,
            velocity: DMatrix::zeros(n, k),
            idle: vec![0; k],
            stats: (params.rule == Rule::Online).then(|| OnlineStats::zeros(n, k)),
            atoms,
        };
        Self::resume(params, state)
    }

    /// Continues from a saved state.
    pub fn resume(params: LearnParams, state: LearnerState) -> Result<Self> {
        let params = params.check()?.into_inner();
        if state.velocity.shape() != state.atoms.shape() || state.idle.len() != state.atoms.ncols()
        {
            return Err(Error::Shape(
                "learner state: atoms, velocity and idle counts disagree".into(),
            ));
        }
        let (n, k) = state.atoms.shape();
        match (&state.stats, params.rule) {
            (Some(s), Rule::Online) if s.a.shape() == (k, k) && s.b.shape() == (n, k) => {}
            (None, Rule::Hebbian) => {}
            _ => {
                return Err(Error::Shape(format!(
                    "learner state does not hold the statistics of the {} rule for {k} atoms of {n} features",
                    params.rule.name()
                )));
            }
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
        self.step_shared(batch, &SingleProcess)
    }

    /// [`DictionaryLearner::step`] with the encoding of the batch shared by
    /// the ranks of `comm` (each solves its share; see [`crate::distributed`]).
    /// Every rank passes the same batch and ends in the same state, the
    /// state a single process reaches, bit for bit.
    pub fn step_shared(
        &mut self,
        batch: &DMatrix<f32>,
        comm: &dyn Communicator,
    ) -> Result<StepStats> {
        let step = self.state.step;
        let lambda = self.params.lambda_at(step);
        let eta = self.params.learning_rate_at(step);
        let dict = self.dictionary()?;
        let lca = self.params.lca.clone().lambda(lambda).check()?;
        let codes = encode_codes(comm, &lca, &dict, batch)?;
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

        let mut atoms = match self.params.rule {
            Rule::Hebbian => self.hebbian(&residual, &codes, &counts, eta),
            Rule::Online => self.online(batch, &codes),
        };

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
                    if let Some(st) = &mut self.state.stats {
                        st.a.row_mut(j).fill(0.0);
                        st.a.column_mut(j).fill(0.0);
                        st.b.column_mut(j).fill(0.0);
                    }
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

    /// Hebbian update: atoms moved by `η (X − ΦA) Aᵀ`, each atom's share
    /// averaged over the signals that used it, with momentum.
    fn hebbian(
        &mut self,
        residual: &DMatrix<f32>,
        codes: &DMatrix<f32>,
        counts: &[usize],
        eta: f32,
    ) -> DMatrix<f32> {
        let mut update = residual * codes.transpose();
        for (j, mut col) in update.column_iter_mut().enumerate() {
            col /= counts[j].max(1) as f32;
        }
        let velocity = &mut self.state.velocity;
        *velocity *= self.params.momentum;
        *velocity += &update;
        let mut atoms = self.state.atoms.clone();
        atoms += velocity.scale(eta);
        atoms
    }

    /// Online update: fold the batch into `A` and `B`, then one pass of
    /// block-coordinate descent over the atoms (Mairal et al. 2010, Alg. 2).
    /// Atoms are renormalised here as they go, since later atoms' updates use
    /// the earlier ones; an atom no signal has used yet (`A_jj ≈ 0`) is left
    /// as it is, for re-seeding.
    fn online(&mut self, batch: &DMatrix<f32>, codes: &DMatrix<f32>) -> DMatrix<f32> {
        let m = batch.ncols().max(1);
        let beta = OnlineStats::forgetting(self.state.step, m);
        let stats = self
            .state
            .stats
            .as_mut()
            .expect("the online rule keeps statistics (checked on construction)");
        let inv_m = 1.0 / m as f32;
        stats.a.gemm(inv_m, codes, &codes.transpose(), beta);
        stats.b.gemm(inv_m, batch, &codes.transpose(), beta);
        let mut atoms = self.state.atoms.clone();
        let (n, k) = atoms.shape();
        let mut u = nalgebra::DVector::<f32>::zeros(n);
        for j in 0..k {
            let ajj = stats.a[(j, j)];
            if ajj <= 1e-10 {
                continue;
            }
            // u = b_j − Φ a_j, then φ_j += u / A_jj.
            u.copy_from(&stats.b.column(j));
            u.gemv(-1.0, &atoms, &stats.a.column(j), 1.0);
            let mut col = atoms.column_mut(j);
            col.axpy(1.0 / ajj, &u, 1.0);
            let norm = col.norm();
            if norm > 1e-12 && norm.is_finite() {
                col /= norm;
            }
        }
        atoms
    }
}
