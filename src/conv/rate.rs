//! Rate convolutional LCA over whole images.
//!
//! One neuron sits at every position of every filter; neuron `i = (m, y, x)`
//! is driven by `b_i = ⟨atom_i, x⟩` ([`correlate`]) and inhibited by every
//! active neuron `j` through the Gram kernels, `G_ij a_j` (`(2k−1)²` taps per
//! pair of filters, [`GramKernels`]). Its fixed point `a = T_λ(b − (G − I)a)`
//! is, for the soft threshold, the solution of the convolutional LASSO
//! `min ½‖x − Σ_m D_m ∗ A_m‖² + λ‖A‖₁`.
//!
//! # How the fixed point is reached
//!
//! Three schedules. The default, [`Schedule::Splitting`] (module
//! `splitting`), is ADMM in the Fourier domain: each step solves the whole
//! inhibition exactly, frequency by frequency, and soft-thresholds; it is the
//! fastest measured on whole natural images with overlapping filters, and
//! needs the circular boundary. [`Schedule::Accelerated`] (module
//! `accelerated`) updates every neuron at once with the inhibition computed
//! densely in the Fourier domain and Nesterov momentum — FISTA in the LCA's
//! variables; it handles the zero boundary too, where the splitting schedule
//! falls back to it. Greedy settling, below, is event-driven: its cost
//! grows with the number of updates rather than the image (modules
//! `settling`, `scatter`); dictionary learning uses it.
//!
//! Greedy settling keeps every neuron's input at its equilibrium value, `u_i = b_i
//! − Σ_{j≠i} G_ij a_j` (the lateral inhibition is instantaneous), and lets
//! neurons settle asynchronously: a settling neuron takes its fixed-point
//! output `a_i = T_λ(u_i)`, and only that change is scattered, one Gram
//! neighbourhood, into the inputs of the neurons it overlaps. Which neuron
//! settles next is greedy within segments of the image (locally greedy
//! coordinate descent, Moreau, Oudre & Vayatis 2018): segments are visited in
//! a fixed order, and in each the neuron farthest from its fixed point
//! settles. With the soft threshold each settling is an exact coordinate
//! minimisation, so the objective never rises. A segment whose neurons were
//! all within the tolerance and whose neighbourhood has not changed since is
//! skipped, so late sweeps cost little, and an image stops as soon as every
//! neuron is within `tol·max|b|` of its fixed point — the KKT conditions to
//! that tolerance. Plain synchronous LCA dynamics (every neuron integrating
//! at once) need thousands of steps for the same accuracy on natural images
//! (see BENCHMARKS.md); the dynamics remain available as [`Schedule::Dynamics`].
//!
//! With the zero boundary atoms near the edges are cut off, so their norms
//! and inner products differ from the translation-invariant kernels; the
//! solver corrects both exactly (a coefficient whose atom crosses the edge
//! also subtracts the part of the Gram kernel that falls outside the image).
//!
//! Images are independent and solved in parallel. Greedy settling runs each
//! image sequentially in a fixed order; the accelerated schedule also splits
//! one image's filter maps and frequencies across threads, with every sum in
//! a fixed order. Either way codes are bit-identical for any number of
//! threads.

use serde::{Deserialize, Serialize};

use super::accelerated;
use super::batch::each_image;
use super::correlate::{GramKernels, check_image, check_images, correlate, objective};
use super::dictionary::ConvDictionary;
use super::planes::{Boundary, Planes};
use super::settling::ImageState;
use super::splitting;
use crate::error::{Error, Result, check_finite};
use crate::neuron::{Threshold, Transfer};
use crate::solver::Monitor;

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
    /// sweep is one step.
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

/// Why an image's solve ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Termination {
    /// Every neuron within the tolerance of its fixed point.
    Converged,
    /// Out of sweeps first.
    MaxIterations,
}

/// The codes of one image and how they were reached.
#[derive(Clone, Debug)]
pub struct ConvEncoding {
    /// Coefficient maps `(n_filters, H, W)`.
    pub codes: Planes,
    /// Sweeps (greedy) or steps (dynamics) run.
    pub iterations: u32,
    /// Neuron updates scattered (each costs one Gram neighbourhood).
    pub updates: u64,
    /// Why the solve ended.
    pub termination: Termination,
    /// `½‖x − Σ D_m ∗ A_m‖² + λ‖A‖₁` of the codes, exact (from the reconstruction).
    pub objective: f64,
    /// The schedule that ran: the one asked for, or greedy settling where
    /// the accelerated schedule does not apply.
    pub schedule: Schedule,
}

impl ConvEncoding {
    /// Whether the tolerance was met.
    pub fn converged(&self) -> bool {
        self.termination == Termination::Converged
    }
}

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
    params: ConvLcaParams,
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

    /// Codes of every image, in parallel (one task per image); the result
    /// does not depend on the number of threads.
    pub fn encode(&self, dict: &ConvDictionary, images: &[Planes]) -> Result<Vec<ConvEncoding>> {
        self.encode_monitored(dict, images, Monitor::default())
    }

    /// [`ConvLca::encode`] reporting each finished image to
    /// `monitor.progress` (called with 1) and stopping before the next image
    /// once `monitor.cancel` is set ([`Error::Interrupted`]).
    pub fn encode_monitored(
        &self,
        dict: &ConvDictionary,
        images: &[Planes],
        monitor: Monitor<'_>,
    ) -> Result<Vec<ConvEncoding>> {
        check_images(dict, images)?;
        // The Gram kernels only if some image settles greedily.
        let gram = std::sync::OnceLock::new();
        each_image(images, monitor, |_, image| {
            self.encode_lazy(dict, GramSource::Lazy(&gram), image, None)
        })
    }

    /// Codes of one image, optionally starting from the codes `warm_start`
    /// (`(n_filters, H, W)`, e.g. those of the previous frame or of a
    /// previous dictionary).
    pub fn encode_one(
        &self,
        dict: &ConvDictionary,
        image: &Planes,
        warm_start: Option<&Planes>,
    ) -> Result<ConvEncoding> {
        check_image(dict, image)?;
        let gram = std::sync::OnceLock::new();
        self.encode_lazy(dict, GramSource::Lazy(&gram), image, warm_start)
    }

    /// [`ConvLca::encode_one`] with Gram kernels computed once by the caller
    /// (`GramKernels::new(dict)`), for drivers that code many images.
    pub fn encode_with(
        &self,
        dict: &ConvDictionary,
        gram: &GramKernels,
        image: &Planes,
        warm_start: Option<&Planes>,
    ) -> Result<ConvEncoding> {
        self.encode_lazy(dict, GramSource::Given(gram), image, warm_start)
    }

    fn encode_lazy(
        &self,
        dict: &ConvDictionary,
        gram: GramSource<'_>,
        image: &Planes,
        warm_start: Option<&Planes>,
    ) -> Result<ConvEncoding> {
        check_finite("image", &image.data)?;
        let (nf, extent) = (dict.n_filters(), image.extent());
        if let Some(start) = warm_start {
            if (start.channels, start.extent()) != (nf, extent) {
                return Err(Error::Shape(format!(
                    "warm-start codes have {} maps of extent {:?}, expected {nf} of {extent:?} (n_filters, the image's extent)",
                    start.channels,
                    start.extent(),
                )));
            }
            check_finite("warm-start codes", &start.data)?;
        }
        let p = &self.params;
        let transfer = self.transfer();
        if p.schedule == Schedule::Splitting
            && splitting::applies(&transfer, dict.extent(), extent, p.boundary)
        {
            let settings = splitting::SplittingSettings {
                transfer,
                tol: p.tol,
                max_iters: p.max_iters,
                rho: None,
                tuning: splitting::tuning(dict.dims()),
            };
            let run = splitting::solve(dict, image, warm_start.map(|s| &s.data[..]), &settings);
            let codes = Planes::with_extent(nf, extent, run.codes)?;
            let objective = objective(dict, image, &codes, p.lambda, p.boundary)?;
            return Ok(ConvEncoding {
                codes,
                iterations: run.iterations,
                updates: 0,
                termination: run.termination,
                objective,
                schedule: Schedule::Splitting,
            });
        }
        if matches!(p.schedule, Schedule::Accelerated | Schedule::Splitting)
            && accelerated::applies(&transfer, dict.extent(), extent, p.boundary)
        {
            let settings = accelerated::AcceleratedSettings {
                transfer,
                tol: p.tol,
                max_iters: p.max_iters,
                boundary: p.boundary,
            };
            let run = accelerated::solve(dict, image, warm_start.map(|s| &s.data[..]), &settings);
            let codes = Planes::with_extent(nf, extent, run.codes)?;
            let objective = objective(dict, image, &codes, p.lambda, p.boundary)?;
            return Ok(ConvEncoding {
                codes,
                iterations: run.iterations,
                updates: 0,
                termination: run.termination,
                objective,
                schedule: Schedule::Accelerated,
            });
        }
        let drive = correlate(dict, image, self.params.boundary)?;
        let gram = match gram {
            GramSource::Given(g) => g,
            GramSource::Lazy(cell) => cell.get_or_init(|| GramKernels::new(dict)),
        };
        let mut state = ImageState::new(dict, gram, self, drive);
        if let Some(start) = warm_start {
            state.warm_start(&start.data);
        }
        let mut iterations = 0u32;
        let termination = loop {
            if state.converged() {
                break Termination::Converged;
            }
            if iterations as usize >= self.params.max_iters {
                break Termination::MaxIterations;
            }
            state.step();
            iterations += 1;
        };
        let updates = state.updates;
        let codes = Planes::with_extent(nf, extent, state.codes)?;
        let objective = objective(
            dict,
            image,
            &codes,
            self.params.lambda,
            self.params.boundary,
        )?;
        Ok(ConvEncoding {
            codes,
            iterations,
            updates,
            termination,
            objective,
            schedule: state.schedule,
        })
    }
}

/// Gram kernels from the caller, or computed on first need (the
/// accelerated schedule never needs them).
#[derive(Clone, Copy)]
enum GramSource<'a> {
    Given(&'a GramKernels),
    Lazy(&'a std::sync::OnceLock<GramKernels>),
}
