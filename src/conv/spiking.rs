//! Spiking convolutional LCA: the competition of [`super::ConvLca`] run by
//! integrate-and-fire neurons, one at every position of every filter.
//!
//! Each neuron is the perfect integrator of the patch spiking LCA
//! ([`crate::solver::SpikingLca`]; [`CubaLif`] with no leak, reset by
//! subtraction): neuron `i = (m, y, x)` integrates the constant
//! `dt·(b_i − λ)/s` (drive `b = D ⋆ x` scaled by `s = max|b|`), and every
//! spike of neuron `j` lowers the inputs of the neurons its atom overlaps by
//! `ϑ·G_ij` at the next step — one Gram neighbourhood per spike, the only
//! inhibition there is (event-driven: a step costs one pass over the neurons
//! plus one scatter per spike). Its own spike subtracts `ϑ‖atom_i‖²` (the
//! reset, plus the edge correction of atoms cut by a zero boundary). The
//! rates `a_i = s·ϑ·N_i/(W·dt)` over the `W` steps after the settling window
//! converge to the non-negative convolutional LASSO solution, with an error
//! falling as `1/(W·dt)` (Tang, Lin & Davies 2017).
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
use crate::neuron::{CubaLif, LifState, Reset};

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
    lif: CubaLif,
    state: LifState,
    /// `dt·(b − λ)/s` per neuron.
    bias: Vec<f32>,
    /// Inhibition arriving at the next step (the spikes of this one).
    inhibition: Vec<f32>,
    /// Spike flags of the step.
    flags: Vec<f32>,
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
            lif: CubaLif {
                current_decay: 0.0,
                voltage_decay: 1.0,
                threshold: p.threshold,
                reset: Reset::Subtract,
                refractory: 0,
            },
            state: LifState::new(n),
            bias: drive.iter().map(|&b| p.dt * (b - p.lambda) * inv).collect(),
            inhibition: vec![0.0; n],
            flags: vec![0.0; n],
            counts: vec![0; n],
            scale,
            spikes: 0,
        }
    }

    /// Integrate, fire, and scatter each spike's Gram neighbourhood into the
    /// next step's input.
    fn step(&mut self, dict: &ConvDictionary, gram: &GramKernels, count: bool) {
        let fired = self.lif.step_biased(
            &mut self.state,
            &self.inhibition,
            &self.bias,
            &mut self.flags,
        );
        self.inhibition.fill(0.0);
        if fired == 0 {
            return;
        }
        self.spikes += fired as u64;
        let g = self.geometry;
        let theta = self.lif.threshold;
        for i in 0..self.flags.len() {
            if self.flags[i] == 0.0 {
                continue;
            }
            if count {
                self.counts[i] += 1;
            }
            let (m, p) = (i / g.plane(), i % g.plane());
            let (y, x) = (p / g.width, p % g.width);
            scatter(&g, gram.row(m), &mut self.inhibition, (y, x), theta);
            if g.boundary == Boundary::Zero {
                correct_edges(&g, dict, &mut self.inhibition, (m, y, x), theta);
            }
            // The reset already subtracted ϑ of the neuron's own ϑ‖atom‖².
            self.inhibition[i] += theta;
        }
    }
}
