//! Settings of the rate LCA and their one check into a ready [`Lca`].

use serde::{Deserialize, Serialize};

use super::Lca;
use crate::error::{Error, Result};
use crate::neuron::{Integrator, Threshold};

/// Settings of the rate LCA, set with chained setters and validated once by
/// [`LcaParams::check`].
///
/// The defaults solve the LASSO accurately and fast: soft threshold, λ = 0.1,
/// and a chain of jumps from the initial state to the fixed point of the
/// current active set (each jump either lands on the exact solution or
/// improves the active set with a lower energy; see
/// the solver module's *Jumps* section). A chain that cannot finish (out of its
/// `2·min(n_features, n_atoms) + 16` jumps, or stalled on a degenerate
/// support) hands over to the dynamics (`dt/τ = 0.1`). Signals stop when a
/// jump is self-consistent or every state is within `1e-4·‖b‖∞` of its fixed
/// point. With [`Anneal`] the chain waits until λ has reached its target and
/// the active set has survived `patience` steps. `projection(false)` gives the
/// pure LCA dynamics; [`LcaParams::adaptive_dt`] and [`Anneal`] speed them up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LcaParams {
    /// Threshold level λ (the LASSO penalty for the soft threshold).
    pub lambda: f32,
    /// Time constant τ of the neurons.
    pub tau: f32,
    /// Time step dt.
    pub dt: f32,
    /// Shape of the transfer function.
    pub threshold: Threshold,
    /// Only non-negative codes.
    pub nonneg: bool,
    /// Discretisation of the dynamics.
    pub integrator: Integrator,
    /// Upper bound on iterations per signal.
    pub max_iters: usize,
    /// Stop a signal when `max |b − u − G a| ≤ tol·‖b‖∞`.
    pub tol: f32,
    /// Record energy, L1 norm and active count at every iteration.
    pub trace: bool,
    /// Jump to the fixed point the active set implies (soft threshold); see
    /// the solver module's *Jumps* section.
    pub projection: bool,
    /// With annealing, steps the support and signs must stay unchanged (once
    /// λ reached its target) before the chain of jumps starts.
    pub patience: usize,
    /// Adapt the time step to the energy's decay: grow it while the energy
    /// falls, undo the step and halve it when the energy rises.
    #[serde(default)]
    pub adaptive_dt: bool,
    /// Start the threshold high and lower it geometrically to λ.
    #[serde(default)]
    pub anneal: Option<Anneal>,
}

/// Threshold annealing: λ starts at `start·λ` and is multiplied by `decay`
/// every iteration until it reaches λ. The strongest causes win the
/// competition first, so hard and firm thresholds find sparser codes, and the
/// pure dynamics recruit fewer neurons they later have to silence.
///
/// ```
/// use lca::{Dictionary, LcaParams};
/// use lca::neuron::Threshold;
/// use lca::solver::Anneal;
/// use nalgebra::DMatrix;
/// let d = Dictionary::from_rows(3, 2, vec![1.0, 0.0, 0.0, 1.0, 0.8, 0.6]).unwrap();
/// let x = DMatrix::from_column_slice(2, 1, &[0.8, 0.6]);
/// // Hard-threshold dynamics with λ annealed from 0.4 down to 0.1: a fixed
/// // point that reconstructs the signal.
/// let hard = LcaParams::new()
///     .threshold(Threshold::Hard)
///     .anneal(Some(Anneal { start: 4.0, decay: 0.9 }))
///     .check()
///     .unwrap()
///     .encode(&d, &x)
///     .unwrap();
/// assert!(hard.termination[0].converged());
/// assert!((d.reconstruct(&hard.codes) - &x).norm() < 1e-3);
/// // Soft-threshold dynamics with the adaptive step reach the LASSO solution:
/// // the atom that is the signal, shrunk by λ.
/// let soft = LcaParams::new()
///     .projection(false)
///     .adaptive_dt(true)
///     .check()
///     .unwrap()
///     .encode(&d, &x)
///     .unwrap();
/// assert!(soft.termination[0].converged() && (soft.codes[(2, 0)] - 0.9).abs() < 1e-3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anneal {
    /// Initial threshold as a multiple of λ (≥ 1).
    pub start: f32,
    /// Factor applied to the threshold every iteration (in (0, 1)).
    pub decay: f32,
}

impl Anneal {
    /// [`Anneal::decay`] when none is given.
    pub const DEFAULT_DECAY: f32 = 0.95;

    /// Starts at `start`·λ and lowers the threshold by `decay` (default
    /// [`Anneal::DEFAULT_DECAY`]) per iteration.
    pub fn from_start(start: f32, decay: Option<f32>) -> Anneal {
        Anneal {
            start,
            decay: decay.unwrap_or(Self::DEFAULT_DECAY),
        }
    }
}

impl Default for LcaParams {
    fn default() -> Self {
        LcaParams {
            lambda: 0.1,
            tau: 1.0,
            dt: 0.1,
            threshold: Threshold::Soft,
            nonneg: false,
            integrator: Integrator::ForwardEuler,
            max_iters: 2000,
            tol: 1e-4,
            trace: false,
            projection: true,
            patience: 1,
            adaptive_dt: false,
            anneal: None,
        }
    }
}

impl LcaParams {
    /// Default settings; see the type's documentation.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets λ.
    pub fn lambda(mut self, lambda: f32) -> Self {
        self.lambda = lambda;
        self
    }
    /// Sets τ.
    pub fn tau(mut self, tau: f32) -> Self {
        self.tau = tau;
        self
    }
    /// Sets dt.
    pub fn dt(mut self, dt: f32) -> Self {
        self.dt = dt;
        self
    }
    /// Sets the transfer function's shape.
    pub fn threshold(mut self, threshold: Threshold) -> Self {
        self.threshold = threshold;
        self
    }
    /// Restricts codes to non-negative values.
    pub fn nonneg(mut self, nonneg: bool) -> Self {
        self.nonneg = nonneg;
        self
    }
    /// Sets the discretisation.
    pub fn integrator(mut self, integrator: Integrator) -> Self {
        self.integrator = integrator;
        self
    }
    /// Sets the iteration cap.
    pub fn max_iters(mut self, max_iters: usize) -> Self {
        self.max_iters = max_iters;
        self
    }
    /// Sets the relative stopping tolerance (0 runs every signal to `max_iters`).
    pub fn tol(mut self, tol: f32) -> Self {
        self.tol = tol;
        self
    }
    /// Turns the fixed-point projection on or off.
    pub fn projection(mut self, projection: bool) -> Self {
        self.projection = projection;
        self
    }
    /// Sets how many steps the support must be stable before jumping (with annealing).
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    /// Turns the adaptive time step on or off (see [`LcaParams::adaptive_dt`]).
    pub fn adaptive_dt(mut self, adaptive: bool) -> Self {
        self.adaptive_dt = adaptive;
        self
    }
    /// Sets threshold annealing (see [`Anneal`]); `None` keeps λ fixed.
    pub fn anneal(mut self, anneal: Option<Anneal>) -> Self {
        self.anneal = anneal;
        self
    }
    /// Turns per-iteration traces on or off.
    pub fn trace(mut self, trace: bool) -> Self {
        self.trace = trace;
        self
    }

    /// Validates the settings into a ready solver.
    ///
    /// ```
    /// use lca::LcaParams;
    /// assert!(LcaParams::new().lambda(-1.0).check().is_err());
    /// assert!(LcaParams::new().dt(0.0).check().is_err());
    /// let lca = LcaParams::new().lambda(0.2).check().unwrap();
    /// assert_eq!(lca.params().lambda, 0.2);
    /// ```
    pub fn check(self) -> Result<Lca> {
        let bad = |name: &'static str, msg: String| Err(Error::setting(name, msg));
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return bad(
                "lambda",
                format!("lambda must be finite and >= 0, got {}", self.lambda),
            );
        }
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return bad(
                "tau",
                format!("tau must be finite and > 0, got {}", self.tau),
            );
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return bad("dt", format!("dt must be finite and > 0, got {}", self.dt));
        }
        if self.integrator == Integrator::ForwardEuler && self.dt / self.tau >= 2.0 {
            return bad(
                "dt",
                format!(
                    "dt/tau = {} >= 2 makes forward Euler diverge; lower dt or use the exponential integrator",
                    self.dt / self.tau
                ),
            );
        }
        if let Threshold::Firm { width } = self.threshold
            && !(width.is_finite() && width > 0.0)
        {
            return bad(
                "firm_width",
                format!("firm threshold width must be finite and > 0, got {width}"),
            );
        }
        if let Some(an) = self.anneal
            && !(an.start.is_finite() && an.start >= 1.0 && an.decay > 0.0 && an.decay < 1.0)
        {
            return bad(
                "anneal",
                format!(
                    "annealing needs start >= 1 and 0 < decay < 1, got start {} and decay {}",
                    an.start, an.decay
                ),
            );
        }
        if self.adaptive_dt && self.threshold != Threshold::Soft {
            return bad("adaptive_dt", 
                "the adaptive time step follows the LASSO energy, which only the soft threshold minimises"
                    .into(),
            );
        }
        if self.max_iters == 0 {
            return bad("max_iters", "max_iters must be at least 1".into());
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return bad(
                "tol",
                format!("tol must be finite and >= 0, got {}", self.tol),
            );
        }
        let gain = self.integrator.gain(self.dt, self.tau);
        Ok(Lca { params: self, gain })
    }
}
