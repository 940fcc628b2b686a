//! Settings of the rate convolutional LCA and the validated solver they
//! check into ([`ConvLcaParams`] → [`ConvLca`]), with the schedules a solve
//! can take and why it ended.
//!
//! A module of their own because every schedule (`accelerated`, `splitting`,
//! `settling`) reads them while `rate`, which dispatches an image to a
//! schedule, calls those modules: kept in `rate`, they tied the four into one
//! import cycle. How the schedules work: [`super::rate`].

use serde::{Deserialize, Serialize};

use super::planes::Boundary;
use crate::error::{Error, Result};
use crate::neuron::{Threshold, Transfer};

/// How the neurons of one image approach their fixed point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Schedule {
    /// Asynchronous settling, greedy within segments of `segment × segment`
    /// pixels (`None`: `k`, the fastest measured); one sweep visits every
    /// segment once.
    Greedy {
        /// Side of a segment in pixels (≥ 1).
        segment: Option<usize>,
    },
    /// The LCA dynamics `u ← u + η(b − u − (G − I)a)` for all neurons at once,
    /// forward Euler with step `eta = dt/τ`; only active neurons inhibit, and
    /// only output changes are scattered. One sweep is one step.
    Dynamics {
        /// `dt/τ` in (0, 1].
        eta: f32,
    },
    /// Every neuron at once with the inhibition computed densely in the
    /// Fourier domain, step `1/L` (`L` the largest eigenvalue of `G + I`)
    /// and Nesterov momentum with gradient restart: FISTA for the soft
    /// threshold (module `accelerated`). The fastest measured on natural
    /// images with overlapping filters, so the default. Needs the soft
    /// threshold (signed or non-negative) and, with the circular boundary,
    /// filters no larger than the image; otherwise the solve falls back to
    /// greedy settling with segments of `k`. One sweep is one step.
    Accelerated,
    /// ADMM in the Fourier domain (Wohlberg's Sherman–Morrison solve of the
    /// whole inhibition per step, over-relaxed; module `splitting`): about a
    /// fifth of the accelerated schedule's steps at the same cost per step,
    /// so the default. Needs the soft threshold and the circular boundary
    /// with filters no larger than the image; otherwise the solve falls back
    /// to the accelerated schedule (zero boundary) or greedy settling. One
    /// sweep is one step. On 1-D signals this default runs greedy settling
    /// with half the tolerance and ten times the sweep cap instead, the
    /// fastest there (module `rate`).
    #[default]
    Splitting,
}

/// Settings of the rate convolutional LCA; validated once by [`ConvLcaParams::check`].
///
/// Defaults: soft threshold, λ = 0.1, circular boundary, the splitting
/// schedule, stop when every neuron is within `1e-3·max|b|` of its fixed
/// point (relative objective gap 6e-5 on the 256×256 SPORCO problem of
/// BENCHMARKS.md at λ = 0.05, 120 steps), at most 1000 steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConvLcaParams {
    /// Threshold level λ (the L1 penalty for the soft threshold).
    pub lambda: f32,
    /// Shape of the transfer function.
    pub threshold: Threshold,
    /// Only non-negative codes.
    pub nonneg: bool,
    /// Stop an image when every neuron is within `tol·max|b|` of its fixed
    /// point output (0: run `max_iters` sweeps).
    pub tol: f32,
    /// Upper bound on sweeps (greedy) or steps (dynamics) per image.
    pub max_iters: usize,
    /// Edge handling of the convolutions.
    pub boundary: Boundary,
    /// How neurons settle.
    pub schedule: Schedule,
}

/// The library and CLI defaults, in one place.
pub mod defaults {
    /// λ.
    pub const LAMBDA: f32 = 0.1;
    /// Relative KKT tolerance.
    pub const TOL: f32 = 1e-3;
    /// Sweep cap.
    pub const MAX_ITERS: usize = 1000;
}

impl Default for ConvLcaParams {
    fn default() -> Self {
        ConvLcaParams {
            lambda: defaults::LAMBDA,
            threshold: Threshold::Soft,
            nonneg: false,
            tol: defaults::TOL,
            max_iters: defaults::MAX_ITERS,
            boundary: Boundary::Circular,
            schedule: Schedule::default(),
        }
    }
}

impl ConvLcaParams {
    /// Default settings; see the type's documentation.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets λ.
    pub fn lambda(mut self, lambda: f32) -> Self {
        self.lambda = lambda;
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
    /// Sets the relative KKT tolerance.
    pub fn tol(mut self, tol: f32) -> Self {
        self.tol = tol;
        self
    }
    /// Sets the sweep cap.
    pub fn max_iters(mut self, max_iters: usize) -> Self {
        self.max_iters = max_iters;
        self
    }
    /// Sets the boundary.
    pub fn boundary(mut self, boundary: Boundary) -> Self {
        self.boundary = boundary;
        self
    }
    /// Sets how neurons settle.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Validates the settings into a ready solver.
    ///
    /// ```
    /// use lca::conv::ConvLcaParams;
    /// assert!(ConvLcaParams::new().lambda(-1.0).check().is_err());
    /// assert!(ConvLcaParams::new().max_iters(0).check().is_err());
    /// assert!(ConvLcaParams::new().lambda(0.05).check().is_ok());
    /// ```
    pub fn check(self) -> Result<ConvLca> {
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::setting(
                "lambda",
                format!("must be finite and >= 0, got {}", self.lambda),
            ));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(Error::setting(
                "tol",
                format!("must be finite and >= 0, got {}", self.tol),
            ));
        }
        if self.max_iters == 0 {
            return Err(Error::setting("max_iters", "must be at least 1"));
        }
        if let Threshold::Firm { width } = self.threshold
            && !(width.is_finite() && width > 0.0)
        {
            return Err(Error::setting(
                "threshold",
                format!("firm width must be finite and > 0, got {width}"),
            ));
        }
        match self.schedule {
            Schedule::Greedy { segment: Some(0) } => {
                return Err(Error::setting("segment", "must be at least 1 pixel"));
            }
            Schedule::Dynamics { eta } if !(eta > 0.0 && eta <= 1.0) => {
                return Err(Error::setting(
                    "eta",
                    format!("dt/tau must be in (0, 1], got {eta}"),
                ));
            }
            _ => {}
        }
        Ok(ConvLca { params: self })
    }
}

/// Why an image's solve ended: the patch solvers' [`Termination`], of which
/// an image's solve reaches [`Termination::Converged`] (every neuron within
/// the tolerance of its fixed point) or [`Termination::MaxIterations`] (out
/// of sweeps first) — it takes no jumps, so never `Solved` or `Stalled`.
pub use crate::solver::Termination;

/// A validated rate convolutional LCA; build it with [`ConvLcaParams::check`].
///
/// ```
/// use lca::conv::{ConvDictionary, ConvLcaParams, Planes, Schedule};
/// // A single-pixel filter: each coefficient is the soft-thresholded pixel.
/// let d = ConvDictionary::new(1, 1, 1, vec![1.0]).unwrap();
/// let x = Planes::new(1, 2, 2, vec![1.0, -0.5, 0.05, 0.0]).unwrap();
/// let lca = ConvLcaParams::new().lambda(0.1).check().unwrap();
/// let enc = lca.encode_one(&d, &x, None).unwrap();
/// assert!(enc.converged());
/// // To the tolerance (1e-3·max|b| by default) with the default schedule…
/// let want = [0.9, -0.4, 0.0, 0.0];
/// assert!(enc.codes.data.iter().zip(want).all(|(a, w)| (a - w).abs() < 1e-3));
/// // …and exactly with greedy settling, whose every update is an exact minimisation.
/// let greedy = ConvLcaParams::new()
///     .lambda(0.1)
///     .schedule(Schedule::Greedy { segment: None })
///     .check()
///     .unwrap();
/// assert_eq!(greedy.encode_one(&d, &x, None).unwrap().codes.data, want);
/// ```
#[derive(Clone, Debug)]
pub struct ConvLca {
    pub(super) params: ConvLcaParams,
}

impl ConvLca {
    /// The validated settings.
    pub fn params(&self) -> &ConvLcaParams {
        &self.params
    }

    /// The transfer function the settings imply.
    pub fn transfer(&self) -> Transfer {
        Transfer {
            threshold: self.params.threshold,
            lambda: self.params.lambda,
            nonneg: self.params.nonneg,
        }
    }
}
