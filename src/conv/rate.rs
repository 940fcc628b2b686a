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
//! # One-dimensional signals
//!
//! On 1-D signals the default schedule ([`Schedule::Splitting`]) runs greedy
//! settling, with a KKT tolerance half the settings' `tol`
//! (`GREEDY_1D_KKT_SCALE`) and ten times its sweep cap
//! (`GREEDY_1D_SWEEPS_SCALE`), for either boundary. A 1-D update scatters
//! `M·(2k − 1)` Gram taps (`M·(2k − 1)²` in 2-D), so updates are cheap,
//! while the Fourier-domain schedules pay for every neuron each step and,
//! on speech with gammatone kernels, need thousands of steps: on
//! BENCHMARKS.md's speech problem (issue 25) greedy settling reaches a
//! relative gap of 1e-3 in about a fifth of the accelerated schedule's CPU
//! time and a hundredth of the splitting schedule's. It is the locally
//! greedy coordinate descent of alphacsc's `lgcd`. Asking for `Accelerated` or `Greedy` explicitly runs that
//! schedule as asked; 2-D and 3-D signals are unaffected.
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

use super::accelerated;
use super::batch::each_image;
use super::correlate::{GramKernels, check_image, check_images, correlate, objective};
use super::dictionary::ConvDictionary;
use super::planes::Planes;
use super::settings::{ConvLca, ConvLcaParams, Schedule, Termination};
use super::settling::ImageState;
use super::splitting;
use crate::error::{Error, Result, check_finite};
use crate::solver::Monitor;

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

impl ConvLca {
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
        // The Gram kernels only if some image settles greedily; computed
        // before the images are shared out, by every thread (computed lazily
        // by the first image that needs them, the other threads would wait).
        let gram = std::sync::OnceLock::new();
        if images.iter().any(|image| {
            matches!(
                self.route(dict, image.extent()),
                Route::Settling | Route::Greedy1d
            )
        }) {
            let _ = gram.set(GramKernels::new(dict));
        }
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

    /// Which solver codes an image of `extent`: a Fourier schedule where it
    /// applies, otherwise event-driven settling (greedy or dynamics, which
    /// reads the Gram kernels).
    fn route(&self, dict: &ConvDictionary, extent: [usize; 3]) -> Route {
        let (p, transfer) = (&self.params, self.transfer());
        if p.schedule == Schedule::Splitting && dict.dims() == 1 {
            Route::Greedy1d
        } else if p.schedule == Schedule::Splitting
            && splitting::applies(&transfer, dict.extent(), extent, p.boundary)
        {
            Route::Splitting
        } else if matches!(p.schedule, Schedule::Accelerated | Schedule::Splitting)
            && accelerated::applies(&transfer, dict.extent(), extent, p.boundary)
        {
            Route::Accelerated
        } else {
            Route::Settling
        }
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
        let route = self.route(dict, extent);
        if route == Route::Greedy1d {
            let greedy = ConvLca {
                params: ConvLcaParams {
                    schedule: Schedule::Greedy { segment: None },
                    tol: p.tol * GREEDY_1D_KKT_SCALE,
                    max_iters: p.max_iters.saturating_mul(GREEDY_1D_SWEEPS_SCALE),
                    ..p.clone()
                },
            };
            return greedy.encode_lazy(dict, gram, image, warm_start);
        }
        if route == Route::Splitting {
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
        if route == Route::Accelerated {
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

/// The solver an image is dispatched to ([`ConvLca::route`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Splitting,
    Accelerated,
    /// Event-driven settling with the settings as given.
    Settling,
    /// The default schedule on 1-D signals: greedy settling at a tighter
    /// tolerance and sweep cap (module docs, "One-dimensional signals").
    Greedy1d,
}

/// The default schedule's KKT tolerance on 1-D signals, relative to the
/// settings' `tol`: greedy settling stops at `tol·max|b|` with a relative
/// objective gap near `tol` on speech (BENCHMARKS.md, issue 25), about three
/// times the splitting and accelerated schedules' gap at the same `tol`;
/// half the tolerance keeps the default's gap below `tol`.
const GREEDY_1D_KKT_SCALE: f32 = 0.5;

/// The default schedule's sweep cap on 1-D signals, relative to the
/// settings' `max_iters`: a sweep settles one neuron per segment of `k`
/// samples, a few dozen updates on a 1-D signal where a 2-D image's sweep
/// makes hundreds, and speech needed up to 1100 sweeps per 2000 samples
/// at the default tolerance (BENCHMARKS.md, issue 25).
const GREEDY_1D_SWEEPS_SCALE: usize = 10;

/// Gram kernels from the caller, or computed on first need (the
/// accelerated schedule never needs them).
#[derive(Clone, Copy)]
enum GramSource<'a> {
    Given(&'a GramKernels),
    Lazy(&'a std::sync::OnceLock<GramKernels>),
}
