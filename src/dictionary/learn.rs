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

use rayon::prelude::*;

use crate::Dictionary;
use crate::distributed::{
    Communicator, FixedPointSum, SingleProcess, encoder_of, exponent_of, gather_columns,
    outer_bounds, share, timed_encode, timed_update,
};
use crate::error::{Error, Result};
use crate::settings::Checked;
use crate::solver::{Lca, LcaParams, SIGNAL_CHUNK};

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

    /// Matrices of `n_atoms` columns one batch adds to: the Hebbian update
    /// (`n × k`), or the online rule's `Σ a aᵀ` (`k × k`) and `Σ x aᵀ` (`n × k`).
    fn partials(self) -> usize {
        match self {
            Rule::Hebbian => 1,
            Rule::Online => 2,
        }
    }
}

pub use crate::learning::horizon::UNBOUNDED_STEPS;

/// Steps of the default 8×8, 128-atom patch run: the horizon its schedules
/// were tuned for, and the unit of the problem-size default
/// ([`problem_size_steps`](super::problem_size_steps)).
pub const REFERENCE_STEPS: u64 = 2000;

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
    /// Horizons in force before `steps`, when a time-budgeted run re-planned
    /// ([`crate::dictionary::horizon`]): the schedules are geometric pieces,
    /// each continuing from the value reached where the previous one ended.
    /// Empty: one piece, `steps` from step 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub horizons: Vec<HorizonRevision>,
    /// Horizon up to which the learning rate ends at `learning_rate_final`.
    /// A schedule over more steps reaches that rate at 80 % of its steps and
    /// cools down from there to `learning_rate_final · (final_rate_horizon /
    /// steps)^0.75` at its last step. Why: a longer run
    /// gains by settling closer to the optimum, but at the short run's final
    /// rate the atoms keep jittering around it, so the held-out objective
    /// stopped improving beyond ~4× the default horizon; a lower rate over the
    /// whole schedule instead slows the learning a longer run is for
    /// (BENCHMARKS.md, "Longer runs cool down"). `None`: `learning_rate_final`
    /// whatever the horizon (an explicit final rate; runs saved before this
    /// existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_rate_horizon: Option<u64>,
}

/// Exponent of the final learning rate's decay with the horizon beyond
/// [`LearnParams::final_rate_horizon`]: 4× the steps end at 0.35× the rate.
pub const FINAL_RATE_EXPONENT: f64 = 0.75;

/// Share of a long schedule's steps spent cooling down
/// ([`LearnParams::final_rate_horizon`]).
const COOL_DOWN_SHARE: f64 = 0.2;

/// First step of the cool-down of a schedule over `steps`.
fn cool_down_start(steps: u64) -> u64 {
    steps - (COOL_DOWN_SHARE * steps as f64).ceil() as u64
}

/// A horizon chosen at a step: from `from_step` on, the schedules head for
/// their final values at step `steps − 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HorizonRevision {
    /// First step the horizon applies to.
    pub from_step: u64,
    /// The planned number of steps.
    pub steps: u64,
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
    horizons: Vec<HorizonRevision>,
    final_rate_horizon: Option<u64>,
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
            horizons: Vec::new(),
            final_rate_horizon: Some(REFERENCE_STEPS),
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

    /// Value of a geometric schedule from `start` at `step`, each piece (one
    /// over `steps`, or those of [`LearnParams::horizons`]) heading for
    /// `end` at its horizon's last step, or, with `cool(horizon)` below
    /// `end`, for `end` at the cool-down's start and for `cool(horizon)` at
    /// the last step. `end == None` keeps `start`.
    fn schedule(
        &self,
        start: f32,
        end: Option<f32>,
        cool: impl Fn(u64) -> Option<f32>,
        step: u64,
    ) -> f32 {
        let Some(end) = end else {
            return start;
        };
        let single = [HorizonRevision {
            from_step: 0,
            steps: self.steps,
        }];
        let pieces = if self.horizons.is_empty() {
            &single[..]
        } else {
            &self.horizons[..]
        };
        let geometric = |from: f64, to: f64, at: u64, span: u64| {
            from * (to / from).powf((at as f64 / span as f64).min(1.0))
        };
        let (end, mut value) = (f64::from(end), f64::from(start));
        for (i, piece) in pieces.iter().enumerate() {
            let next = pieces.get(i + 1).map_or(u64::MAX, |p| p.from_step);
            let at = step.min(next).saturating_sub(piece.from_step);
            let span = piece.steps.saturating_sub(piece.from_step).max(2) - 1;
            value = match cool(piece.steps).map(f64::from) {
                Some(low) if low < end => {
                    let knee = cool_down_start(piece.steps);
                    if piece.from_step < knee {
                        let (warm, knee_value) = (knee - piece.from_step, end.min(value));
                        if at <= warm {
                            geometric(value, knee_value, at, warm)
                        } else {
                            let tail = (piece.steps - 1 - knee).max(1);
                            geometric(knee_value, low, at - warm, tail)
                        }
                    } else {
                        geometric(value, low, at, span)
                    }
                }
                _ => geometric(value, end, at, span),
            };
            if step < next {
                break;
            }
        }
        value as f32
    }

    /// The learning rate a schedule over `steps` ends at
    /// ([`LearnParams::final_rate_horizon`]).
    pub fn final_learning_rate(&self, steps: u64) -> Option<f32> {
        let end = self.learning_rate_final?;
        match self.final_rate_horizon {
            Some(h) if steps > h && end < self.learning_rate => {
                let scale = (h as f64 / steps as f64).powf(FINAL_RATE_EXPONENT);
                Some((f64::from(end) * scale) as f32)
            }
            _ => Some(end),
        }
    }

    /// Re-plans the run from `from_step` on to end at `steps` (a time budget's
    /// horizon): the schedules continue from their current values.
    pub fn revise_horizon(&mut self, from_step: u64, steps: u64) {
        if from_step == 0 {
            self.horizons.clear();
        } else if self.horizons.is_empty() {
            self.horizons.push(HorizonRevision {
                from_step: 0,
                steps: self.steps,
            });
        }
        self.horizons.retain(|h| h.from_step < from_step);
        if !self.horizons.is_empty() {
            self.horizons.push(HorizonRevision { from_step, steps });
        }
        self.steps = steps;
    }

    /// λ used at `step`.
    pub fn lambda_at(&self, step: u64) -> f32 {
        self.schedule(self.lca.lambda, self.lambda_final, |_| None, step)
    }

    /// η used at `step`.
    pub fn learning_rate_at(&self, step: u64) -> f32 {
        self.schedule(
            self.learning_rate,
            self.learning_rate_final,
            |h| self.final_learning_rate(h),
            step,
        )
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

impl StepStats {
    /// The log row of the step that made these statistics, the `step`-th
    /// (its clock and held-out score left for the session to fill).
    pub fn row(&self, step: u64) -> super::TrainingRow {
        super::TrainingRow {
            step,
            seconds: 0.0,
            mse: self.mse,
            l1: self.l1,
            active_fraction: self.active_fraction,
            energy: self.energy,
            heldout_energy: None,
        }
    }
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
    /// The coder of `params.lca`, built once; each step only sets its λ.
    lca: Lca,
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
        let lca = params.lca.clone().check()?;
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
        Ok(DictionaryLearner { params, lca, state })
    }

    /// The settings.
    pub fn params(&self) -> &LearnParams {
        &self.params
    }

    /// Re-plans the schedules' horizon from `from_step` on
    /// ([`LearnParams::revise_horizon`]; a time budget's re-planning).
    pub fn revise_horizon(&mut self, from_step: u64, steps: u64) {
        self.params.revise_horizon(from_step, steps);
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
        self.step_shared(batch, batch.ncols(), &SingleProcess)
    }

    /// [`DictionaryLearner::step`] on a batch of `total` signals shared by
    /// the ranks of `comm`: `local` holds this rank's columns of it,
    /// [`share`]`(total, rank, size)`. Each rank encodes its share and forms
    /// one partial update per solver chunk; the partials are summed exactly
    /// in fixed point by one allreduce (see [`crate::distributed`]), so every
    /// rank ends in the same state, the state a single process reaches, bit
    /// for bit, whatever the number of ranks.
    pub fn step_shared(
        &mut self,
        local: &DMatrix<f32>,
        total: usize,
        comm: &dyn Communicator,
    ) -> Result<StepStats> {
        let mine = share(total, comm.rank(), comm.size());
        if local.ncols() != mine.len() {
            return Err(Error::Shape(format!(
                "rank {} of {} holds {} signals of a batch of {total}, expected {}",
                comm.rank(),
                comm.size(),
                local.ncols(),
                mine.len()
            )));
        }
        let step = self.state.step;
        let lambda = self.params.lambda_at(step);
        let eta = self.params.learning_rate_at(step);
        let dict = self.dictionary()?;
        let lca = self.lca.with_lambda(lambda)?;
        let codes = timed_encode(comm, || lca.encode(&dict, local))?.codes;
        let phi = dict.atoms();
        let (n, k) = phi.shape();
        let m = total.max(1);
        let rule = self.params.rule;

        // Pass 1, per chunk: residuals, per-signal figures, bounds of the
        // chunk's partials (which fix the fixed point of the sum).
        let chunks = Chunks::of(local.ncols());
        let firsts: Vec<ChunkFirst> = timed_update(comm, || {
            chunks
                .starts
                .par_iter()
                .map(|&c0| chunk_first(rule, phi, local, &codes, c0, chunks.width(c0)))
                .collect()
        });
        let exponents = agreed_exponents(rule, k, &firsts, step, comm)?;
        // Pass 2: each chunk's partials in fixed point, summed locally
        // (integers: exact), then over the ranks.
        let partials = Partials {
            rule,
            local,
            codes: &codes,
            chunks: &chunks,
            firsts: &firsts,
        };
        let sums = timed_update(comm, || partials.sum(n, k, total, &exponents));
        let batch = BatchTotals::reduce(sums, &firsts, k, m, mine.start, comm)?;
        let stats_energy = (0.5 * batch.squared_total() + f64::from(lambda) * batch.l1) / m as f64;

        let mut atoms = match rule {
            Rule::Hebbian => self.hebbian(batch.sums[0].to_f32(), &batch.counts, eta),
            Rule::Online => self.online(batch.sums[0].to_f32(), batch.sums[1].to_f32(), m),
        };
        let resampled = self.reseed_idle(&mut atoms, &batch, &firsts, total, &mine, comm)?;
        unit_norm_or_keep(&mut atoms, phi);
        self.state.atoms = atoms;
        self.state.step += 1;
        Ok(StepStats {
            mse: batch.squared_total() / (n * m) as f64,
            l1: batch.l1 / m as f64,
            active_fraction: batch.nnz as f64 / (k * m) as f64,
            energy: stats_energy,
            resampled,
        })
    }

    /// Re-seeds atoms that have been silent too long with the residuals of
    /// the worst-reconstructed signals, largest first (each donor's residual
    /// comes from the rank that encoded it); returns how many.
    fn reseed_idle(
        &mut self,
        atoms: &mut DMatrix<f32>,
        batch: &BatchTotals,
        firsts: &[ChunkFirst],
        total: usize,
        mine: &std::ops::Range<usize>,
        comm: &dyn Communicator,
    ) -> Result<usize> {
        let (n, k) = atoms.shape();
        let squared = &batch.squared;
        for (j, idle) in self.state.idle.iter_mut().enumerate() {
            *idle = if batch.counts[j] > 0 { 0 } else { *idle + 1 };
        }
        let due: Vec<usize> = if self.params.resample_after > 0 {
            (0..k)
                .filter(|&j| self.state.idle[j] >= self.params.resample_after)
                .collect()
        } else {
            Vec::new()
        };
        if due.is_empty() {
            return Ok(0);
        }
        let mut worst: Vec<usize> = (0..total).collect();
        worst.sort_by(|&a, &b| squared[b].total_cmp(&squared[a]).then(a.cmp(&b)));
        let donors: Vec<usize> = worst
            .into_iter()
            .filter(|&s| squared[s] > 1e-12)
            .take(due.len())
            .collect();
        let owners: Vec<usize> = donors
            .iter()
            .map(|&s| encoder_of(s, total, comm.size()))
            .collect();
        let mut held = Vec::new();
        for &s in donors.iter().filter(|&&s| mine.contains(&s)) {
            let (c0, col) = (
                (s - mine.start) / SIGNAL_CHUNK,
                (s - mine.start) % SIGNAL_CHUNK,
            );
            held.extend_from_slice(firsts[c0].residual.column(col).as_slice());
        }
        let residuals = gather_columns(comm, n, &owners, &held)?;
        let mut resampled = 0;
        for (&j, r) in due.iter().zip(residuals.column_iter()) {
            atoms.set_column(j, &r);
            self.state.velocity.column_mut(j).fill(0.0);
            if let Some(st) = &mut self.state.stats {
                st.a.row_mut(j).fill(0.0);
                st.a.column_mut(j).fill(0.0);
                st.b.column_mut(j).fill(0.0);
            }
            self.state.idle[j] = 0;
            resampled += 1;
        }
        Ok(resampled)
    }

    /// Hebbian update: atoms moved by `η (X − ΦA) Aᵀ` (`update`, summed
    /// over the batch), each atom's share averaged over the signals that used
    /// it, with momentum.
    fn hebbian(&mut self, mut update: DMatrix<f32>, counts: &[usize], eta: f32) -> DMatrix<f32> {
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

    /// Online update: fold the batch's `Σ a aᵀ` and `Σ x aᵀ` (over its `m`
    /// signals) into `A` and `B`, then one pass of block-coordinate descent
    /// over the atoms (Mairal et al. 2010, Alg. 2). Atoms are renormalised
    /// here as they go, since later atoms' updates use the earlier ones; an
    /// atom no signal has used yet (`A_jj ≈ 0`) is left as it is, for
    /// re-seeding.
    fn online(&mut self, aat: DMatrix<f32>, xat: DMatrix<f32>, m: usize) -> DMatrix<f32> {
        let beta = OnlineStats::forgetting(self.state.step, m);
        let stats = self
            .state
            .stats
            .as_mut()
            .expect("the online rule keeps statistics (checked on construction)");
        let inv_m = 1.0 / m as f32;
        for (s, &t) in stats.a.iter_mut().zip(aat.iter()) {
            *s = beta * *s + inv_m * t;
        }
        for (s, &t) in stats.b.iter_mut().zip(xat.iter()) {
            *s = beta * *s + inv_m * t;
        }
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

/// What the first pass over one solver chunk of a step finds.
struct ChunkFirst {
    /// `X − ΦA` of the chunk's signals.
    residual: DMatrix<f32>,
    /// Per signal `‖x − Φa‖²`, `‖a‖₁`, non-zero coefficients.
    squared: Vec<f64>,
    l1: Vec<f64>,
    nnz: Vec<u32>,
    /// Per atom, signals of the chunk that used it.
    counts: Vec<u32>,
    /// Per column of each partial the rule sums, a bound of its entries.
    bounds: Vec<f64>,
}

/// The first pass over the chunk of `w` signals at local column `c0`.
fn chunk_first(
    rule: Rule,
    phi: &DMatrix<f32>,
    x: &DMatrix<f32>,
    codes: &DMatrix<f32>,
    c0: usize,
    w: usize,
) -> ChunkFirst {
    let a = codes.columns(c0, w).into_owned();
    let xs = x.columns(c0, w);
    let residual = xs - phi * &a;
    let squared = residual
        .column_iter()
        .map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
        .collect();
    let l1 = a
        .column_iter()
        .map(|c| c.iter().map(|v| f64::from(v.abs())).sum())
        .collect();
    let nnz = a
        .column_iter()
        .map(|c| c.iter().filter(|&&v| v != 0.0).count() as u32)
        .collect();
    let mut counts = vec![0u32; a.nrows()];
    for col in a.column_iter() {
        for (c, &v) in counts.iter_mut().zip(col.iter()) {
            *c += u32::from(v != 0.0);
        }
    }
    let bounds = match rule {
        Rule::Hebbian => outer_bounds(&residual, &a),
        Rule::Online => {
            let mut b = outer_bounds(&a, &a);
            b.extend(outer_bounds(&xs.into_owned(), &a));
            b
        }
    };
    ChunkFirst {
        residual,
        squared,
        l1,
        nnz,
        counts,
        bounds,
    }
}

/// Every atom rescaled to unit norm; a degenerate update (zero or not
/// finite) keeps the step's old atom.
fn unit_norm_or_keep(atoms: &mut DMatrix<f32>, old: &DMatrix<f32>) {
    for (j, mut col) in atoms.column_iter_mut().enumerate() {
        let norm = col.norm();
        if norm > 1e-12 && norm.is_finite() {
            col /= norm;
        } else {
            col.copy_from(&old.column(j));
        }
    }
}

/// A rank's signals cut into the solver's chunks: the unit of the partial
/// sums, so the sum does not depend on how the work is spread.
struct Chunks {
    starts: Vec<usize>,
    len: usize,
}

impl Chunks {
    fn of(len: usize) -> Chunks {
        Chunks {
            starts: (0..len).step_by(SIGNAL_CHUNK).collect(),
            len,
        }
    }

    fn width(&self, c0: usize) -> usize {
        (self.len - c0).min(SIGNAL_CHUNK)
    }
}

/// The binary exponent of every column of every partial, agreed by all
/// ranks (the largest): the fixed point the partials are summed in.
fn agreed_exponents(
    rule: Rule,
    k: usize,
    firsts: &[ChunkFirst],
    step: u64,
    comm: &dyn Communicator,
) -> Result<Vec<i32>> {
    let mut exponents = vec![i32::MIN; rule.partials() * k];
    for f in firsts {
        for (e, b) in exponents.iter_mut().zip(&f.bounds) {
            *e = (*e).max(exponent_of(*b));
        }
    }
    if exponents.contains(&i32::MAX) {
        return Err(Error::Data(format!(
            "step {step}: the dictionary update is not finite (codes or signals overflow)"
        )));
    }
    comm.all_reduce_max_i32(&mut exponents)?;
    Ok(exponents)
}

/// What pass 2 sums per chunk: `(X − ΦA)Aᵀ` (Hebbian) or `AAᵀ` and `XAᵀ`
/// (online).
struct Partials<'a> {
    rule: Rule,
    local: &'a DMatrix<f32>,
    codes: &'a DMatrix<f32>,
    chunks: &'a Chunks,
    firsts: &'a [ChunkFirst],
}

impl Partials<'_> {
    /// This rank's partials, each chunk's in fixed point, summed exactly.
    fn sum(&self, n: usize, k: usize, total: usize, exponents: &[i32]) -> Vec<FixedPointSum> {
        let terms = total.div_ceil(SIGNAL_CHUNK);
        let shapes: Vec<usize> = match self.rule {
            Rule::Hebbian => vec![n],
            Rule::Online => vec![k, n],
        };
        let empty = || -> Vec<FixedPointSum> {
            shapes
                .iter()
                .zip(exponents.chunks_exact(k))
                .map(|(&rows, e)| FixedPointSum::new(rows, k, e, terms))
                .collect()
        };
        self.chunks
            .starts
            .par_iter()
            .zip(self.firsts)
            .fold(empty, |mut acc, (&c0, first)| {
                let w = self.chunks.width(c0);
                let a = self.codes.columns(c0, w);
                match self.rule {
                    Rule::Hebbian => acc[0].add(&(&first.residual * a.transpose())),
                    Rule::Online => {
                        acc[0].add(&(a * a.transpose()));
                        acc[1].add(&(self.local.columns(c0, w) * a.transpose()));
                    }
                }
                acc
            })
            .reduce(empty, |mut x, y| {
                for (x, y) in x.iter_mut().zip(&y) {
                    x.merge(y);
                }
                x
            })
    }
}

/// A step's sums over the whole batch (all ranks): the partials, per atom
/// the signals that used it, per signal `‖x − Φa‖²`, and the batch's `‖A‖₁`
/// and non-zero count.
struct BatchTotals {
    sums: Vec<FixedPointSum>,
    counts: Vec<usize>,
    squared: Vec<f64>,
    l1: f64,
    nnz: i64,
}

impl BatchTotals {
    /// Sums this rank's `sums` and chunk figures over the ranks with one
    /// allreduce (integers: exact; each signal's slot is written by the rank
    /// that holds it, the others add zeros). `first_signal` is this rank's
    /// first signal in the batch of `m`.
    fn reduce(
        mut sums: Vec<FixedPointSum>,
        firsts: &[ChunkFirst],
        k: usize,
        m: usize,
        first_signal: usize,
        comm: &dyn Communicator,
    ) -> Result<BatchTotals> {
        let mut packed: Vec<i64> = Vec::new();
        for s in &sums {
            packed.extend_from_slice(s.integers());
        }
        let counts_at = packed.len();
        packed.resize(counts_at + k + 3 * m, 0);
        {
            let (counts, signals) = packed[counts_at..].split_at_mut(k);
            for f in firsts {
                for (c, &v) in counts.iter_mut().zip(&f.counts) {
                    *c += v as i64;
                }
            }
            let (sq, rest) = signals.split_at_mut(m);
            let (l1, nnz) = rest.split_at_mut(m);
            let mut s = first_signal;
            for f in firsts {
                for ((&q, &l), &z) in f.squared.iter().zip(&f.l1).zip(&f.nnz) {
                    sq[s] = q.to_bits() as i64;
                    l1[s] = l.to_bits() as i64;
                    nnz[s] = z as i64;
                    s += 1;
                }
            }
        }
        comm.all_reduce_sum_i64(&mut packed)?;
        let mut at = 0;
        for s in &mut sums {
            let len = s.integers().len();
            s.integers_mut().copy_from_slice(&packed[at..at + len]);
            at += len;
        }
        let counts = packed[at..at + k].iter().map(|&c| c as usize).collect();
        let figures = &packed[at + k..];
        let bits = |b: &i64| f64::from_bits(*b as u64);
        Ok(BatchTotals {
            sums,
            counts,
            squared: figures[..m].iter().map(bits).collect(),
            l1: figures[m..2 * m].iter().map(bits).sum(),
            nnz: figures[2 * m..].iter().sum(),
        })
    }

    fn squared_total(&self) -> f64 {
        self.squared.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signals that are sparse sums of hidden atoms plus a little noise.
    fn batch(n: usize, m: usize, seed: u64) -> DMatrix<f32> {
        let mut st = seed;
        let mut r = move || {
            st = st
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (st >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        DMatrix::from_fn(n, m, |_, _| r())
    }

    /// The step's atoms from the exact chunked sum are within f32 rounding
    /// of the step done in f64, and of the step from the former update (one
    /// f32 GEMM over the whole batch), for both rules.
    #[test]
    fn reduced_updates_match_the_f64_update_within_f32_rounding() {
        let (n, k, m) = (16, 24, 300); // 5 chunks, the last of 44 signals
        let x = batch(n, m, 3);
        let init = crate::solver::test_dictionary(n, k, 5);
        for rule in [Rule::Hebbian, Rule::Online] {
            let params = LearnParams {
                rule,
                resample_after: 0,
                learning_rate_final: None,
                lca: LcaParams::new().lambda(0.05),
                ..LearnParams::default()
            };
            let mut learner = DictionaryLearner::new(params.clone(), init.clone()).unwrap();
            learner.step(&x).unwrap();
            let got = learner.state().atoms.clone();

            // The same step by hand: codes, then the update in f32 (one GEMM,
            // the former code) and in f64.
            let lca = params
                .lca
                .clone()
                .lambda(params.lambda_at(0))
                .check()
                .unwrap();
            let codes = lca.encode(&init, &x).unwrap().codes;
            let phi = init.atoms();
            let to64 = |a: &DMatrix<f32>| a.map(f64::from);
            let (x64, a64, p64) = (to64(&x), to64(&codes), to64(phi));
            let atoms_from = |u: DMatrix<f64>| -> DMatrix<f64> {
                let mut d = u;
                for mut c in d.column_iter_mut() {
                    let norm = c.norm();
                    c /= norm;
                }
                d
            };
            let (reference, former) = match rule {
                Rule::Hebbian => {
                    let eta = f64::from(params.learning_rate);
                    let counts: Vec<f64> = (0..k)
                        .map(|j| codes.row(j).iter().filter(|&&v| v != 0.0).count().max(1) as f64)
                        .collect();
                    let step = |u: DMatrix<f64>| {
                        let mut u = u;
                        for (j, mut c) in u.column_iter_mut().enumerate() {
                            c /= counts[j];
                        }
                        atoms_from(&p64 + u * eta)
                    };
                    let exact = (&x64 - &p64 * &a64) * a64.transpose();
                    let f32_gemm = to64(&((&x - phi * &codes) * codes.transpose()));
                    (step(exact), step(f32_gemm))
                }
                Rule::Online => {
                    // One block-coordinate pass from A = aaᵀ/m, B = xaᵀ/m.
                    let pass = |a: DMatrix<f64>, b: DMatrix<f64>| {
                        let mut d = p64.clone();
                        for j in 0..k {
                            if a[(j, j)] <= 1e-10 {
                                continue;
                            }
                            let u = b.column(j) - &d * a.column(j);
                            let mut col = d.column_mut(j);
                            col += u / a[(j, j)];
                            let norm = col.norm();
                            col /= norm;
                        }
                        d
                    };
                    let mm = m as f64;
                    let exact = pass(&a64 * a64.transpose() / mm, &x64 * a64.transpose() / mm);
                    let f32_gemm = pass(
                        to64(&(&codes * codes.transpose())) / mm,
                        to64(&(&x * codes.transpose())) / mm,
                    );
                    (exact, f32_gemm)
                }
            };
            let err = |d: &DMatrix<f64>| {
                d.iter()
                    .zip(got.iter().map(|&v| f64::from(v)))
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f64, f64::max)
            };
            let rounding = 64.0 * f64::from(f32::EPSILON);
            let from_exact = err(&reference);
            let from_former = err(&former);
            assert!(
                from_exact < rounding,
                "{rule:?}: {from_exact:e} from the f64 step"
            );
            assert!(
                from_former < rounding,
                "{rule:?}: {from_former:e} from the former step"
            );
        }
    }
}
