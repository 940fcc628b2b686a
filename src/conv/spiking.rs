//! Spiking convolutional LCA: the competition of [`super::ConvLca`] run by
//! integrate-and-fire neurons, one at every position of every filter.
//!
//! Each neuron is the perfect integrator of the patch spiking LCA
//! ([`crate::solver::SpikingLca`]: no leak, reset by subtraction), built on
//! the same kernels ([`decay_accumulate`], [`fire`]): neuron `i = (m, y, x)`
//! integrates the constant `dt·(b_i − λ)/s` (drive `b = D ⋆ x` scaled by
//! `s = max|b|`), and every spike of neuron `j` lowers the voltages of the
//! neurons its atom overlaps by `ϑ·G_ij` — one Gram neighbourhood per spike,
//! the only inhibition there is (event-driven: a step costs one pass over the
//! neurons plus one scatter per spike). Its own voltage drops by
//! `ϑ‖atom_j‖² = ϑ`: the reset (less where a zero boundary cuts the atom).
//! The rates `a_i = s·ϑ·N_i/(W·dt)` over the `W` steps after the settling
//! window converge to the non-negative convolutional LASSO solution, with an
//! error falling as `1/(W·dt)` (Tang, Lin & Davies 2017).
//!
//! Within a step, the neurons that reach the threshold fire one at a time in
//! the order they crossed it, each spike's inhibition arriving at once, so a
//! neuron silenced by an earlier spike of the same step does not fire: the
//! order of events of the continuous-time network. Delivering all of a step's
//! spikes together at the next step instead lets thousands of overlapping
//! neurons fire in the same step; with coherent filters (SPORCO's
//! `G:12x12x36`, Gram operator norm ≈ 225) that never settles — half the
//! neurons firing every step and an objective thousands of times the optimum
//! (BENCHMARKS.md, "Spiking convolutional LCA on the 256² problem").
//!
//! Codes are non-negative (one neuron per coefficient). Images are solved in
//! parallel, each sequentially, so results do not depend on the thread count.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::correlate::{GramKernels, check_image, correlate, objective};
use super::dictionary::ConvDictionary;
use super::planes::{Boundary, Planes};
use super::rate::{Geometry, correct_edges, scatter};
use crate::error::{Error, Result, check_finite};
use crate::neuron::{decay_accumulate, fire};

/// Settings of the spiking convolutional LCA; validated by [`ConvSpikingParams::check`].
///
/// Defaults: λ = 0.1, dt = 0.5, ϑ = 1 (in units where `max|b| = 1`), 512
/// steps with the first quarter discarded, circular boundary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConvSpikingParams {
    /// Threshold λ of the LASSO.
    pub lambda: f32,
    /// Time step, in units where the drive is scaled to `max|b| = 1`.
    pub dt: f32,
    /// Firing threshold ϑ in the same units; neurons fire at most once a
    /// step, so codes up to `ϑ·max|b|/dt` are representable.
    pub threshold: f32,
    /// Steps simulated per image.
    pub steps: usize,
    /// Steps discarded before rates are counted; `None`: `steps/4`.
    pub settle: Option<usize>,
    /// Edge handling of the convolutions.
    pub boundary: Boundary,
}

impl Default for ConvSpikingParams {
    fn default() -> Self {
        ConvSpikingParams {
            lambda: 0.1,
            dt: 0.5,
            threshold: 1.0,
            steps: 512,
            settle: None,
            boundary: Boundary::Circular,
        }
    }
}

impl ConvSpikingParams {
    /// Default settings; see the type's documentation.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets λ.
    pub fn lambda(mut self, lambda: f32) -> Self {
        self.lambda = lambda;
        self
    }
    /// Sets dt.
    pub fn dt(mut self, dt: f32) -> Self {
        self.dt = dt;
        self
    }
    /// Sets the firing threshold ϑ.
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }
    /// Sets the number of steps.
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = steps;
        self
    }
    /// Sets the settling window.
    pub fn settle(mut self, settle: usize) -> Self {
        self.settle = Some(settle);
        self
    }
    /// Sets the boundary.
    pub fn boundary(mut self, boundary: Boundary) -> Self {
        self.boundary = boundary;
        self
    }
    /// Steps discarded before counting.
    pub fn settle_steps(&self) -> usize {
        self.settle.unwrap_or(self.steps / 4)
    }

    /// Validates the settings.
    ///
    /// ```
    /// use lca::conv::ConvSpikingParams;
    /// assert!(ConvSpikingParams::new().dt(0.0).check().is_err());
    /// assert!(ConvSpikingParams::new().steps(10).settle(10).check().is_err());
    /// assert!(ConvSpikingParams::new().check().is_ok());
    /// ```
    pub fn check(self) -> Result<ConvSpiking> {
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::setting(
                "lambda",
                format!("must be finite and >= 0, got {}", self.lambda),
            ));
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(Error::setting(
                "dt",
                format!("must be finite and > 0, got {}", self.dt),
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(Error::setting(
                "threshold",
                format!("must be finite and > 0, got {}", self.threshold),
            ));
        }
        if self.settle_steps() >= self.steps {
            return Err(Error::setting(
                "steps",
                format!(
                    "{} steps leave no window to count after settling for {}",
                    self.steps,
                    self.settle_steps()
                ),
            ));
        }
        Ok(ConvSpiking { params: self })
    }
}

/// Rate codes of one image and what they cost.
#[derive(Clone, Debug)]
pub struct ConvSpikingEncoding {
    /// Non-negative coefficient maps `(n_filters, H, W)`.
    pub codes: Planes,
    /// Steps simulated.
    pub steps: u32,
    /// Spikes fired in all (each scattered one Gram neighbourhood).
    pub spikes: u64,
    /// `½‖x − Σ D_m ∗ A_m‖² + λ‖A‖₁` of the rate codes.
    pub objective: f64,
}

/// A validated spiking convolutional LCA; build it with [`ConvSpikingParams::check`].
///
/// ```
/// use lca::conv::{ConvDictionary, ConvSpikingParams, Planes};
/// // A single-pixel filter: rates approach max(x − λ, 0) pixel by pixel.
/// let d = ConvDictionary::new(1, 1, 1, vec![1.0]).unwrap();
/// let x = Planes::new(1, 1, 3, vec![1.0, 0.5, -0.3]).unwrap();
/// let enc = ConvSpikingParams::new().steps(2000).check().unwrap().encode_one(&d, &x).unwrap();
/// for (a, want) in enc.codes.data.iter().zip([0.9, 0.4, 0.0]) {
///     assert!((a - want).abs() < 0.01, "{a} vs {want}");
/// }
/// ```
#[derive(Clone, Debug)]
pub struct ConvSpiking {
    params: ConvSpikingParams,
}

impl ConvSpiking {
    /// The validated settings.
    pub fn params(&self) -> &ConvSpikingParams {
        &self.params
    }

    /// Rate codes of every image, in parallel; independent of the thread count.
    pub fn encode(
        &self,
        dict: &ConvDictionary,
        images: &[Planes],
    ) -> Result<Vec<ConvSpikingEncoding>> {
        for (i, image) in images.iter().enumerate() {
            check_image(dict, image).map_err(|e| Error::Shape(format!("image {i}: {e}")))?;
        }
        let gram = GramKernels::new(dict);
        images
            .par_iter()
            .map(|image| self.encode_with(dict, &gram, image))
            .collect()
    }

    /// Rate codes of one image.
    pub fn encode_one(&self, dict: &ConvDictionary, image: &Planes) -> Result<ConvSpikingEncoding> {
        check_image(dict, image)?;
        self.encode_with(dict, &GramKernels::new(dict), image)
    }

    /// [`ConvSpiking::encode_one`] with Gram kernels computed by the caller.
    pub fn encode_with(
        &self,
        dict: &ConvDictionary,
        gram: &GramKernels,
        image: &Planes,
    ) -> Result<ConvSpikingEncoding> {
        check_finite("image", &image.data)?;
        let p = &self.params;
        let drive = correlate(dict, image, p.boundary)?;
        let geometry = Geometry::new(dict, image.height, image.width, p.boundary);
        let mut network = Network::new(geometry, p, &drive.data);
        if network.scale > p.lambda {
            let settle = p.settle_steps();
            for step in 0..p.steps {
                network.step(dict, gram, step >= settle);
            }
        }
        let window = (p.steps - p.settle_steps()) as f64 * f64::from(p.dt);
        let quantum = f64::from(network.scale) * f64::from(p.threshold) / window;
        let data = network
            .counts
            .iter()
            .map(|&n| (quantum * f64::from(n)) as f32)
            .collect();
        let codes = Planes::new(dict.n_filters(), image.height, image.width, data)?;
        let objective = objective(dict, image, &codes, p.lambda, p.boundary)?;
        Ok(ConvSpikingEncoding {
            codes,
            steps: p.steps as u32,
            spikes: network.spikes,
            objective,
        })
    }
}

/// The neurons of one image, allocated once.
struct Network {
    geometry: Geometry,
    threshold: f32,
    /// Membrane voltages.
    voltage: Vec<f32>,
    /// `dt·(b − λ)/s` per neuron.
    bias: Vec<f32>,
    /// Threshold crossings of the step (1.0/0.0), from [`fire`].
    flags: Vec<f32>,
    /// Crossings of the step as (crossing time within the step, neuron).
    crossings: Vec<(f32, u32)>,
    /// Spikes counted after settling.
    counts: Vec<u32>,
    /// Drive scale `s = max|b|`.
    scale: f32,
    spikes: u64,
}

impl Network {
    fn new(geometry: Geometry, p: &ConvSpikingParams, drive: &[f32]) -> Network {
        let scale = drive.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        let n = drive.len();
        Network {
            geometry,
            threshold: p.threshold,
            voltage: vec![0.0; n],
            bias: drive.iter().map(|&b| p.dt * (b - p.lambda) * inv).collect(),
            flags: vec![0.0; n],
            crossings: Vec::new(),
            counts: vec![0; n],
            scale,
            spikes: 0,
        }
    }

    /// One step: every neuron integrates its drive; those that reach the
    /// threshold fire in the order they crossed it, and each spike lowers the
    /// voltages of the neurons its atom overlaps by `ϑ·G_ij` at once — its own
    /// by `ϑ‖atom‖² = ϑ`, the reset by subtraction — so a neuron inhibited
    /// below threshold by an earlier spike of the step stays silent.
    fn step(&mut self, dict: &ConvDictionary, gram: &GramKernels, count: bool) {
        let theta = self.threshold;
        decay_accumulate(&mut self.voltage, &self.bias, 1.0);
        if fire(&self.voltage, theta, &mut self.flags) == 0 {
            return;
        }
        // Fraction of the step at which each neuron crossed: 0 for one
        // already above threshold (excited by a spike of the last step).
        self.crossings.clear();
        for (i, (&f, (&v, &b))) in self
            .flags
            .iter()
            .zip(self.voltage.iter().zip(&self.bias))
            .enumerate()
        {
            if f != 0.0 {
                let before = v - b;
                let at = if before >= theta {
                    0.0
                } else {
                    (theta - before) / b
                };
                self.crossings.push((at, i as u32));
            }
        }
        self.crossings
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let g = self.geometry;
        for &(_, i) in &self.crossings {
            let i = i as usize;
            if self.voltage[i] < theta {
                continue;
            }
            self.spikes += 1;
            if count {
                self.counts[i] += 1;
            }
            let (m, p) = (i / g.plane(), i % g.plane());
            let (y, x) = (p / g.width, p % g.width);
            scatter(&g, gram.row(m), &mut self.voltage, (y, x), theta);
            if g.boundary == Boundary::Zero {
                correct_edges(&g, dict, &mut self.voltage, (m, y, x), theta);
            }
        }
    }
}
