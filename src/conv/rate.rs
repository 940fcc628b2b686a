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
//! Two schedules. The default, [`Schedule::Accelerated`] (module
//! `accelerated`), updates every neuron at once with the inhibition computed
//! densely in the Fourier domain and Nesterov momentum — FISTA in the LCA's
//! variables; it is the fastest measured on whole natural images with
//! overlapping filters. Greedy settling, below, is event-driven: its cost
//! grows with the number of updates rather than the image, which suits
//! sparse codes at loose tolerances (dictionary learning uses it).
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

use multiversion::multiversion;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::accelerated;
use super::correlate::{
    GramKernels, check_image, check_images, correlate, for_each_run, objective,
};
use super::dictionary::ConvDictionary;
use super::planes::{Boundary, Planes};
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
/// Defaults: soft threshold, λ = 0.1, circular boundary, the accelerated
/// schedule, stop when every neuron is within `1e-3·max|b|` of its fixed
/// point (relative objective gap 2.3e-4 on the 256×256 SPORCO problem of
/// BENCHMARKS.md, 367 steps), at most 1000 steps.
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
/// // To the tolerance (1e-3·max|b| by default) with the accelerated schedule…
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
        let shape = (dict.n_filters(), image.height, image.width);
        if let Some(start) = warm_start {
            if start.shape() != shape {
                return Err(Error::Shape(format!(
                    "warm-start codes have shape {:?}, expected {:?} = (n_filters, H, W)",
                    start.shape(),
                    shape
                )));
            }
            check_finite("warm-start codes", &start.data)?;
        }
        let p = &self.params;
        let transfer = self.transfer();
        if p.schedule == Schedule::Splitting
            && splitting::applies(
                &transfer,
                dict.kernel_size(),
                image.height,
                image.width,
                p.boundary,
            )
        {
            let settings = splitting::SplittingSettings {
                transfer,
                tol: p.tol,
                max_iters: p.max_iters,
                rho: None,
            };
            let run = splitting::solve(dict, image, warm_start.map(|s| &s.data[..]), &settings);
            let codes = Planes::new(shape.0, shape.1, shape.2, run.codes)?;
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
            && accelerated::applies(
                &transfer,
                dict.kernel_size(),
                image.height,
                image.width,
                p.boundary,
            )
        {
            let settings = accelerated::AcceleratedSettings {
                transfer,
                tol: p.tol,
                max_iters: p.max_iters,
                boundary: p.boundary,
            };
            let run = accelerated::solve(dict, image, warm_start.map(|s| &s.data[..]), &settings);
            let codes = Planes::new(shape.0, shape.1, shape.2, run.codes)?;
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
        let codes = Planes::new(dict.n_filters(), image.height, image.width, state.codes)?;
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

/// Sizes and conventions of one image's network.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) n_filters: usize,
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) k: usize,
    /// Filter tap on a coefficient's own pixel.
    pub(super) origin: usize,
    pub(super) boundary: Boundary,
}

impl Geometry {
    /// Geometry of the network coding an `height × width` image.
    pub(super) fn new(
        dict: &ConvDictionary,
        height: usize,
        width: usize,
        boundary: Boundary,
    ) -> Geometry {
        Geometry {
            n_filters: dict.n_filters(),
            height,
            width,
            k: dict.kernel_size(),
            origin: dict.origin(),
            boundary,
        }
    }
    pub(super) fn plane(&self) -> usize {
        self.height * self.width
    }
    /// Gram radius `k − 1`.
    pub(super) fn radius(&self) -> usize {
        self.k - 1
    }
}

/// `work(index, image)` for every image in parallel, in image order: an
/// image not yet started once the caller cancelled gives
/// [`Error::Interrupted`], and each finished one is reported to the
/// monitor's progress. The batch loop of both convolutional solvers.
pub(super) fn each_image<T: Send>(
    images: &[Planes],
    monitor: Monitor<'_>,
    work: impl Fn(usize, &Planes) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    images
        .par_iter()
        .enumerate()
        .map(|(i, image)| {
            if monitor.cancelled() {
                return Err(Error::Interrupted);
            }
            let out = work(i, image)?;
            if let Some(progress) = monitor.progress {
                progress(1);
            }
            Ok(out)
        })
        .collect()
}

/// Segments of the image for greedy settling: a grid of `side × side` pixel
/// blocks (the last row and column of blocks may be smaller), each covering
/// every filter, with a flag saying whether it may hold an unsettled neuron.
struct Segments {
    side: usize,
    cols: usize,
    dirty: Vec<bool>,
    dirty_count: usize,
}

impl Segments {
    fn new(g: &Geometry, side: usize) -> Segments {
        let side = side.min(g.height.max(g.width)).max(1);
        let rows = g.height.div_ceil(side);
        let cols = g.width.div_ceil(side);
        Segments {
            side,
            cols,
            dirty: vec![true; rows * cols],
            dirty_count: rows * cols,
        }
    }

    fn mark_dirty(&mut self, s: usize) {
        if !self.dirty[s] {
            self.dirty[s] = true;
            self.dirty_count += 1;
        }
    }

    fn mark_clean(&mut self, s: usize) {
        if self.dirty[s] {
            self.dirty[s] = false;
            self.dirty_count -= 1;
        }
    }

    /// Marks every segment the Gram window of pixel `(y, x)` reaches.
    fn touch_window(&mut self, g: &Geometry, y: usize, x: usize) {
        let r = g.radius() as isize;
        let span = 2 * g.radius() + 1;
        let side = self.side;
        let mut row_range = [(0usize, 0usize); 3];
        let mut n_row = 0;
        for_each_run(y as isize - r, span, g.height, g.boundary, |_, i, n| {
            row_range[n_row] = (i / side, (i + n - 1) / side);
            n_row += 1;
        });
        let mut col_range = [(0usize, 0usize); 3];
        let mut n_col = 0;
        for_each_run(x as isize - r, span, g.width, g.boundary, |_, i, n| {
            col_range[n_col] = (i / side, (i + n - 1) / side);
            n_col += 1;
        });
        for &(r0, r1) in &row_range[..n_row] {
            for sr in r0..=r1 {
                for &(c0, c1) in &col_range[..n_col] {
                    for sc in c0..=c1 {
                        self.mark_dirty(sr * self.cols + sc);
                    }
                }
            }
        }
    }
}

/// Everything one image's solve works on, allocated once per image.
struct ImageState<'a> {
    geometry: Geometry,
    dict: &'a ConvDictionary,
    gram: &'a GramKernels,
    transfer: Transfer,
    schedule: Schedule,
    /// Absolute tolerance `tol·max|b|`.
    tol: f32,
    /// Equilibrium inputs `u_i = b_i − Σ_{j≠i} G_ij a_j`.
    input: Vec<f32>,
    /// Outputs `a`.
    codes: Vec<f32>,
    /// Zero boundary: `1/‖atom_i‖²` of atoms cut by the edge (all 1 inside);
    /// `None` for the circular boundary, where every atom has unit norm.
    inv_norm2: Option<Vec<f32>>,
    segments: Segments,
    /// Dynamics only: the LCA potentials and a buffer for their outputs.
    dynamics: Option<DynamicsState>,
    /// Whether the last dynamics step moved every neuron by at most `tol`.
    settled: bool,
    updates: u64,
}

struct DynamicsState {
    /// Membrane potentials `v` of the LCA.
    potential: Vec<f32>,
    /// Outputs `T(v)` of the step, before their changes are scattered.
    next: Vec<f32>,
}

impl<'a> ImageState<'a> {
    fn new(
        dict: &'a ConvDictionary,
        gram: &'a GramKernels,
        lca: &ConvLca,
        drive: Planes,
    ) -> ImageState<'a> {
        let p = &lca.params;
        let geometry = Geometry::new(dict, drive.height, drive.width, p.boundary);
        let scale = drive.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let inv_norm2 = (p.boundary == Boundary::Zero).then(|| edge_inv_norm2(dict, &geometry));
        // The accelerated schedule gets here only where it does not apply:
        // it falls back to greedy settling.
        let schedule = match p.schedule {
            Schedule::Accelerated | Schedule::Splitting => Schedule::Greedy { segment: None },
            s => s,
        };
        let side = match schedule {
            Schedule::Greedy { segment } => segment.unwrap_or(geometry.k),
            Schedule::Dynamics { .. } | Schedule::Accelerated | Schedule::Splitting => {
                geometry.height.max(geometry.width)
            }
        };
        let dynamics = match schedule {
            Schedule::Dynamics { .. } => Some(DynamicsState {
                // The LCA starts at rest.
                potential: vec![0.0; drive.data.len()],
                next: vec![0.0; drive.data.len()],
            }),
            Schedule::Greedy { .. } | Schedule::Accelerated | Schedule::Splitting => None,
        };
        let n = drive.data.len();
        ImageState {
            geometry,
            dict,
            gram,
            transfer: lca.transfer(),
            schedule,
            tol: p.tol * scale,
            input: drive.data,
            codes: vec![0.0; n],
            inv_norm2,
            segments: Segments::new(&geometry, side),
            dynamics,
            settled: false,
            updates: 0,
        }
    }

    /// Starts from given outputs: their inhibition is scattered once.
    fn warm_start(&mut self, start: &[f32]) {
        for (i, &a) in start.iter().enumerate() {
            if a != 0.0 {
                self.set_output(i, a);
            }
        }
        if let Some(dynamics) = &mut self.dynamics {
            // At equilibrium: v = b − (G − I)a (see `euler_step`).
            for (i, v) in dynamics.potential.iter_mut().enumerate() {
                let self_term = match &self.inv_norm2 {
                    Some(inv) if inv[i] > 0.0 => 1.0 - 1.0 / inv[i],
                    _ => 0.0,
                };
                *v = self.input[i] + self_term * self.codes[i];
            }
        }
    }

    fn converged(&self) -> bool {
        match self.schedule {
            Schedule::Greedy { .. } | Schedule::Accelerated | Schedule::Splitting => {
                self.segments.dirty_count == 0
            }
            Schedule::Dynamics { .. } => self.settled,
        }
    }

    /// One sweep of greedy settling, or one step of the dynamics.
    fn step(&mut self) {
        match self.schedule {
            Schedule::Greedy { .. } | Schedule::Accelerated | Schedule::Splitting => self.sweep(),
            Schedule::Dynamics { eta } => self.euler_step(eta),
        }
    }

    /// The fixed-point output of neuron `i` given its input.
    #[inline(always)]
    fn target(&self, i: usize) -> f32 {
        let t = self.transfer.value(self.input[i]);
        match &self.inv_norm2 {
            Some(inv) => t * inv[i],
            None => t,
        }
    }

    /// Visits every segment once; in each that may hold an unsettled neuron,
    /// settles the one farthest from its fixed point.
    fn sweep(&mut self) {
        let g = self.geometry;
        let side = self.segments.side;
        for s in 0..self.segments.dirty.len() {
            if !self.segments.dirty[s] {
                continue;
            }
            let (sr, sc) = (s / self.segments.cols, s % self.segments.cols);
            let rows = sr * side..((sr + 1) * side).min(g.height);
            let cols = sc * side..((sc + 1) * side).min(g.width);
            let (best, gap) = self.farthest(rows, cols);
            if gap <= self.tol {
                self.segments.mark_clean(s);
                continue;
            }
            let target = self.target(best);
            self.set_output(best, target);
            let p = best % g.plane();
            self.segments.touch_window(&g, p / g.width, p % g.width);
        }
    }

    /// The neuron of a block of pixels (all filters) farthest from its
    /// fixed point, and that distance `|T(u_i) − a_i|`. Rows are reduced
    /// with vectorised kernels; only the winning row is searched for the index.
    fn farthest(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) -> (usize, f32) {
        let g = &self.geometry;
        let (mut best_start, mut best) = (0usize, -1.0f32);
        let soft = self.transfer.threshold == Threshold::Soft;
        let l = self.transfer.lambda;
        for m in 0..g.n_filters {
            for y in rows.clone() {
                let start = m * g.plane() + y * g.width + cols.start;
                let end = start + cols.len();
                let (u, a) = (&self.input[start..end], &self.codes[start..end]);
                let row_max = match (&self.inv_norm2, soft, self.transfer.nonneg) {
                    (None, true, false) => max_gap_soft(u, a, l),
                    (None, true, true) => max_gap_soft_nonneg(u, a, l),
                    _ => (start..end)
                        .map(|i| (self.target(i) - self.codes[i]).abs())
                        .fold(0.0f32, f32::max),
                };
                if row_max > best {
                    (best_start, best) = (start, row_max);
                }
            }
        }
        let offset = (best_start..best_start + cols.len())
            .position(|i| (self.target(i) - self.codes[i]).abs() == best)
            .unwrap_or(0);
        (best_start + offset, best)
    }

    /// Sets output `i` to `value` and scatters the change into the inputs of
    /// the neurons its atom overlaps (not its own).
    fn set_output(&mut self, i: usize, value: f32) {
        let delta = value - self.codes[i];
        if delta == 0.0 {
            return;
        }
        self.codes[i] = value;
        self.updates += 1;
        let g = self.geometry;
        let (m, p) = (i / g.plane(), i % g.plane());
        let (y, x) = (p / g.width, p % g.width);
        scatter(&g, self.gram.row(m), &mut self.input, (y, x), delta);
        let own_norm2 = match &self.inv_norm2 {
            Some(inv) => {
                correct_edges(&g, self.dict, &mut self.input, (m, y, x), delta);
                1.0 / inv[i]
            }
            None => 1.0,
        };
        // The scatter also inhibited the neuron itself by δ·‖atom‖².
        self.input[i] += delta * own_norm2;
    }

    /// One forward-Euler step of the LCA dynamics for every neuron:
    /// `v ← v + η(b − v − (G − I)a)`, `a = T(v)`, where `b − (G − I)a =
    /// u + (1 − ‖atom‖²)a` from the inputs kept; then only the output changes
    /// are scattered.
    fn euler_step(&mut self, eta: f32) {
        let mut dynamics = self.dynamics.take().expect("dynamics state");
        let mut max_move = 0.0f32;
        for (i, v) in dynamics.potential.iter_mut().enumerate() {
            let self_term = match &self.inv_norm2 {
                Some(inv) if inv[i] > 0.0 => 1.0 - 1.0 / inv[i],
                _ => 0.0,
            };
            let dv = eta * (self.input[i] + self_term * self.codes[i] - *v);
            max_move = max_move.max(dv.abs());
            *v += dv;
        }
        self.transfer.apply(&dynamics.potential, &mut dynamics.next);
        for (i, &a) in dynamics.next.iter().enumerate() {
            if a != self.codes[i] {
                self.set_output(i, a);
            }
        }
        self.settled = max_move <= self.tol * eta;
        self.dynamics = Some(dynamics);
    }
}

/// `u[n, y + Δ] −= δ·G_mn(Δ)` over the Gram window of `(y, x)` for every
/// filter `n`; `gram_row` is [`GramKernels::row`] of `m`.
#[multiversion(targets("x86_64+avx2+fma"))]
pub(super) fn scatter(
    g: &Geometry,
    gram_row: &[f32],
    input: &mut [f32],
    (y, x): (usize, usize),
    delta: f32,
) {
    scatter_with(g, gram_row, input, (y, x), |u, t| *u -= delta * t);
}

/// Applies `apply(&mut u[n, y + Δ], tap)` for every tap of the Gram window
/// of `(y, x)` (wrapped or clipped by the boundary): the one walk over a
/// coefficient's neighbourhood, shared by the float scatter and the integer
/// one of the fixed-point spiking network.
#[inline(always)]
pub(super) fn scatter_with<T: Copy>(
    g: &Geometry,
    gram_row: &[T],
    input: &mut [T],
    (y, x): (usize, usize),
    apply: impl Fn(&mut T, T),
) {
    let r = g.radius() as isize;
    let span = 2 * g.radius() + 1;
    // Both axes' pieces are collected first, so the loops below hold no
    // closure call: a closure is compiled for the baseline target even when
    // its caller is multiversioned (it halved the integer scatter's speed).
    let (cols, n_cols) = window_runs(x as isize - r, span, g.width, g.boundary);
    let (rows, n_rows) = window_runs(y as isize - r, span, g.height, g.boundary);
    let (col_runs, row_runs) = (&cols[..n_cols], &rows[..n_rows]);
    let plane = g.plane();
    let w = g.width;
    for (kernel, u) in gram_row
        .chunks_exact(span * span)
        .zip(input.chunks_exact_mut(plane))
    {
        for &(roff, row, rows) in row_runs {
            for j in 0..rows {
                let taps = &kernel[(roff + j) * span..(roff + j + 1) * span];
                let urow = &mut u[(row + j) * w..(row + j + 1) * w];
                for &(off, i, n) in col_runs {
                    for (ui, &t) in urow[i..i + n].iter_mut().zip(&taps[off..off + n]) {
                        apply(ui, t);
                    }
                }
            }
        }
    }
}

/// The pieces `(offset, index, len)` of a window along one axis
/// ([`for_each_run`]) and their number: a Gram window, at most `2·size − 1`
/// cells, wraps into at most three.
#[inline(always)]
fn window_runs(
    start: isize,
    len: usize,
    size: usize,
    boundary: Boundary,
) -> ([(usize, usize, usize); 3], usize) {
    let mut runs = [(0usize, 0usize, 0usize); 3];
    let mut n = 0;
    for_each_run(start, len, size, boundary, |off, i, count| {
        runs[n] = (off, i, count);
        n += 1;
    });
    (runs, n)
}

/// Zero boundary: the part of the Gram kernels [`scatter`] applied that
/// lies outside the image. For every pixel of coefficient `(m, y, x)`'s atom
/// that falls outside, adds back `δ·D_m[c, t]·D_n[c, t']` to every
/// coefficient whose atom covers that pixel.
pub(super) fn correct_edges(
    g: &Geometry,
    dict: &ConvDictionary,
    input: &mut [f32],
    (m, y, x): (usize, usize, usize),
    delta: f32,
) {
    let (k, o) = (g.k as isize, g.origin as isize);
    let (h, w) = (g.height as isize, g.width as isize);
    let (y, x) = (y as isize, x as isize);
    let inside = |py: isize, px: isize| py >= 0 && py < h && px >= 0 && px < w;
    if inside(y - o, x - o) && inside(y - o + k - 1, x - o + k - 1) {
        return;
    }
    for ty in 0..k {
        for tx in 0..k {
            let (py, px) = (y + ty - o, x + tx - o);
            if inside(py, px) {
                continue;
            }
            for c in 0..dict.channels() {
                let weight = delta * dict.kernel(m, c)[(ty * k + tx) as usize];
                if weight == 0.0 {
                    continue;
                }
                for n in 0..g.n_filters {
                    let kernel = dict.kernel(n, c);
                    let u = &mut input[n * g.plane()..(n + 1) * g.plane()];
                    // Coefficients (by, bx) = (py − t'y + o, px − t'x + o) inside the grid.
                    for sy in 0..k {
                        let by = py - sy + o;
                        if by < 0 || by >= h {
                            continue;
                        }
                        for sx in 0..k {
                            let bx = px - sx + o;
                            if bx < 0 || bx >= w {
                                continue;
                            }
                            u[(by * w + bx) as usize] += weight * kernel[(sy * k + sx) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// [`edge_inv_norm2`] of an `height × width` image.
pub(super) fn edge_inv_norm2_of(dict: &ConvDictionary, height: usize, width: usize) -> Vec<f32> {
    edge_inv_norm2(dict, &Geometry::new(dict, height, width, Boundary::Zero))
}

/// Zero boundary: `1/‖atom‖²` of every coefficient, its atom cut by the
/// image edges (an atom always keeps its origin tap, but that tap may be 0:
/// a fully cut-off atom gets 0, so its neuron never activates).
fn edge_inv_norm2(dict: &ConvDictionary, g: &Geometry) -> Vec<f32> {
    let (k, o) = (g.k, g.origin);
    let mut out = vec![1.0f32; g.n_filters * g.plane()];
    for m in 0..g.n_filters {
        // Integral image of the squared taps summed over channels.
        let mut sq = vec![0.0f64; (k + 1) * (k + 1)];
        for ty in 0..k {
            for tx in 0..k {
                let v: f64 = (0..dict.channels())
                    .map(|c| f64::from(dict.kernel(m, c)[ty * k + tx]).powi(2))
                    .sum();
                sq[(ty + 1) * (k + 1) + tx + 1] =
                    v + sq[ty * (k + 1) + tx + 1] + sq[(ty + 1) * (k + 1) + tx]
                        - sq[ty * (k + 1) + tx];
            }
        }
        let tap_range = |pos: usize, size: usize| {
            // Taps t with 0 ≤ pos + t − o < size.
            let lo = o.saturating_sub(pos);
            let hi = (size + o - pos).min(k);
            (lo, hi)
        };
        for y in 0..g.height {
            let (y0, y1) = tap_range(y, g.height);
            for x in 0..g.width {
                let (x0, x1) = tap_range(x, g.width);
                if (y0, y1, x0, x1) == (0, k, 0, k) {
                    continue;
                }
                let s = sq[y1 * (k + 1) + x1] - sq[y0 * (k + 1) + x1] - sq[y1 * (k + 1) + x0]
                    + sq[y0 * (k + 1) + x0];
                out[m * g.plane() + y * g.width + x] = if s > 0.0 { (1.0 / s) as f32 } else { 0.0 };
            }
        }
    }
    out
}

/// `max_i |S_λ(u_i) − a_i|` (soft threshold), in 8 independent lanes so
/// the reduction vectorises.
#[multiversion(targets("x86_64+avx2+fma"))]
fn max_gap_soft(u: &[f32], a: &[f32], l: f32) -> f32 {
    let gap = |u: f32, a: f32| (((u - l).max(0.0) - (-u - l).max(0.0)) - a).abs();
    lane_max(u, a, gap)
}

/// `max_i |max(u_i − λ, 0) − a_i|` (non-negative soft threshold).
#[multiversion(targets("x86_64+avx2+fma"))]
fn max_gap_soft_nonneg(u: &[f32], a: &[f32], l: f32) -> f32 {
    lane_max(u, a, |u, a| ((u - l).max(0.0) - a).abs())
}

#[inline(always)]
fn lane_max(u: &[f32], a: &[f32], gap: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (uc, ac) = (u.chunks_exact(8), a.chunks_exact(8));
    let (ur, ar) = (uc.remainder(), ac.remainder());
    for (u8, a8) in uc.zip(ac) {
        for j in 0..8 {
            let v = gap(u8[j], a8[j]);
            lanes[j] = if v > lanes[j] { v } else { lanes[j] };
        }
    }
    for (j, (&u, &a)) in ur.iter().zip(ar).enumerate() {
        let v = gap(u, a);
        lanes[j] = if v > lanes[j] { v } else { lanes[j] };
    }
    lanes.iter().fold(0.0f32, |m, &v| m.max(v))
}
