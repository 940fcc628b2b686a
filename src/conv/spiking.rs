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
//!
//! # Fixed point
//!
//! With [`ConvSpikingParams::fixed_point`] the same network runs in Loihi's
//! integer formats ([`crate::solver::fixed_point`], the patch spiking LCA's):
//! 24-bit voltages held at the bottom of their range and an error above it,
//! ϑ = 2¹⁶, biases of 13-bit mantissa, and each Gram tap `ϑ·(G − I)` carried
//! by 8-bit synapses with shared exponents — two per tap by default, the
//! second holding the first's rounding residual (15-bit weights; why in
//! [`FixedGram`]). The reset subtracts ϑ exactly. A zero boundary's cut atoms
//! get their own weights, each the exact cut Gram tap quantised the same way.
//! The events keep the float network's order within a step (crossing times
//! computed exactly from the integers), so where quantisation loses nothing
//! the two networks fire the same spikes (`tests/conv_lca.rs`). The
//! arithmetic is exact, so every machine gives the same spikes.

use multiversion::multiversion;
use serde::{Deserialize, Serialize};

use super::batch::each_image;
use super::correlate::{GramKernels, check_image, check_images, correlate, objective};
use super::dictionary::ConvDictionary;
use super::geometry::{Axes, Geometry};
use super::planes::{Boundary, Planes};
use super::scatter::{correct_edges, scatter, scatter_with};
use crate::error::{Error, Result, check_finite};
use crate::neuron::{Overflow, STATE_MIN, decay_accumulate, fire, fixed_fire, fixed_integrate};
use crate::solver::Monitor;
use crate::solver::fixed_point::{self, QuantisedWeights};

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
    /// Loihi's integer arithmetic instead of `f32` (see the module docs,
    /// "Fixed point").
    pub fixed_point: bool,
    /// Fixed point: 8-bit synapses carrying each Gram tap, 1 or 2 (the
    /// second holds the first's rounding residual at an exponent 7 lower:
    /// 15-bit weights). One leaves coherent filters' network unstable.
    pub weight_synapses: u8,
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
            fixed_point: false,
            weight_synapses: 2,
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
    /// Turns the fixed-point (Loihi integer) arithmetic on or off.
    pub fn fixed_point(mut self, on: bool) -> Self {
        self.fixed_point = on;
        self
    }
    /// Sets the synapses per Gram tap of the fixed-point network (1 or 2).
    pub fn weight_synapses(mut self, n: u8) -> Self {
        self.weight_synapses = n;
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
        if !(1..=2).contains(&self.weight_synapses) {
            return Err(Error::setting(
                "weight_synapses",
                format!("must be 1 or 2, got {}", self.weight_synapses),
            ));
        }
        if self.fixed_point {
            fixed_point::check_drive_per_step(self.dt, self.threshold)?;
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
/// // A single-pixel filter: rates approach max(x − λ, 0) pixel by pixel,
/// // in f32 and in Loihi's integers alike.
/// let d = ConvDictionary::new(1, 1, 1, vec![1.0]).unwrap();
/// let x = Planes::new(1, 1, 3, vec![1.0, 0.5, -0.3]).unwrap();
/// for fixed in [false, true] {
///     let lca = ConvSpikingParams::new().steps(2000).fixed_point(fixed).check().unwrap();
///     let enc = lca.encode_one(&d, &x).unwrap();
///     for (a, want) in enc.codes.data.iter().zip([0.9, 0.4, 0.0]) {
///         assert!((a - want).abs() < 0.01, "{a} vs {want}");
///     }
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
        self.encode_monitored(dict, images, Monitor::default())
    }

    /// [`ConvSpiking::encode`] reporting each finished image to
    /// `monitor.progress` (called with 1) and stopping before the next image
    /// once `monitor.cancel` is set ([`Error::Interrupted`]).
    pub fn encode_monitored(
        &self,
        dict: &ConvDictionary,
        images: &[Planes],
        monitor: Monitor<'_>,
    ) -> Result<Vec<ConvSpikingEncoding>> {
        check_images(dict, images)?;
        let gram = GramKernels::new(dict);
        let weights = self.weights(dict, &gram)?;
        each_image(images, monitor, |i, image| {
            self.run(dict, &gram, weights.as_ref(), image, i)
        })
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
        let weights = self.weights(dict, gram)?;
        self.run(dict, gram, weights.as_ref(), image, 0)
    }

    /// The integer weights of the fixed-point network (`None` in f32).
    fn weights(&self, dict: &ConvDictionary, gram: &GramKernels) -> Result<Option<FixedGram>> {
        self.params
            .fixed_point
            .then(|| FixedGram::new(dict, gram, &self.params))
            .transpose()
    }

    fn run(
        &self,
        dict: &ConvDictionary,
        gram: &GramKernels,
        weights: Option<&FixedGram>,
        image: &Planes,
        index: usize,
    ) -> Result<ConvSpikingEncoding> {
        check_finite("image", &image.data)?;
        let p = &self.params;
        let drive = correlate(dict, image, p.boundary)?;
        let geometry = Geometry::new(dict, image.extent(), p.boundary);
        let (counts, spikes, scale) = match weights {
            None => {
                let float = Float {
                    threshold: p.threshold,
                    dict,
                    gram,
                };
                simulate(float, geometry, p, &drive.data)
            }
            Some(w) => {
                let fixed = Fixed::new(w, dict, gram, p, geometry);
                simulate(fixed, geometry, p, &drive.data)
            }
        }
        .map_err(|(step, overflow)| {
            let hint = match overflow {
                Overflow::Voltage { .. } => {
                    "a neuron needs more than one spike per step; lower dt or raise the spike threshold"
                }
                Overflow::Current { .. } => "too many simultaneous spikes",
            };
            Error::setting(
                "fixed_point",
                format!(
                    "fixed point cannot represent image {index}: at step {step} {overflow} ({hint})"
                ),
            )
        })?;
        let window = (p.steps - p.settle_steps()) as f64 * f64::from(p.dt);
        let quantum = f64::from(scale) * f64::from(p.threshold) / window;
        let data = counts
            .iter()
            .map(|&n| (quantum * f64::from(n)) as f32)
            .collect();
        let codes = Planes::with_extent(dict.n_filters(), image.extent(), data)?;
        let objective = objective(dict, image, &codes, p.lambda, p.boundary)?;
        Ok(ConvSpikingEncoding {
            codes,
            steps: p.steps as u32,
            spikes,
            objective,
        })
    }
}

/// Simulates one image; returns the spike counts after settling, the number
/// of spikes and the drive scale `s = max|b|`, or the step and state at
/// which an integer voltage left its range.
fn simulate<A: MapArithmetic>(
    arithmetic: A,
    geometry: Geometry,
    p: &ConvSpikingParams,
    drive: &[f32],
) -> std::result::Result<(Vec<u32>, u64, f32), (usize, Overflow)> {
    let mut network = Network::new(arithmetic, geometry, p, drive);
    if network.scale > p.lambda {
        let settle = p.settle_steps();
        for step in 0..p.steps {
            network.step(step >= settle).map_err(|e| (step, e))?;
        }
    }
    Ok((network.counts, network.spikes, network.scale))
}

/// The number format of the network: `f32` ([`Float`]) or Loihi's integers
/// ([`Fixed`]). The event loop ([`Network::step`]) is written once over it.
/// Not the patch network's `Arithmetic` (`crate::solver::spiking`): there
/// inhibition is a column of weights per spike; here it is a Gram kernel
/// scattered over coefficient maps, and the trait carries the maps' biases
/// and integration instead.
trait MapArithmetic {
    type Value: Copy + Default + PartialOrd;
    type Flag: Copy + Default + PartialEq;
    /// The firing threshold in voltage units.
    fn threshold(&self) -> Self::Value;
    /// Per-neuron drive per step, `dt·(b − λ)/s` in voltage units.
    fn biases(&self, p: &ConvSpikingParams, drive: &[f32], scale: f32) -> Vec<Self::Value>;
    /// `v ← v + bias` (the shared neuron kernels).
    fn integrate(
        &self,
        voltage: &mut [Self::Value],
        bias: &[Self::Value],
    ) -> std::result::Result<(), Overflow>;
    /// Threshold crossings into `flags`; their number.
    fn fire(&self, voltage: &[Self::Value], flags: &mut [Self::Flag]) -> usize;
    /// Fraction of the step at which a neuron now at `v`, driven by `b`,
    /// crossed the threshold: 0 when it was already above.
    fn crossing(&self, v: Self::Value, b: Self::Value) -> f64;
    /// Delivers the spike of neuron `(m, p)` (flat index `i`): lowers the
    /// voltages its atom overlaps by `ϑ·G`, its own included (the reset).
    fn spike(&mut self, g: &Geometry, voltage: &mut [Self::Value], at: (usize, Axes), i: usize);
}

/// `f32` neurons; a spike scatters `ϑ·G` (cut by a zero boundary) exactly.
struct Float<'a> {
    threshold: f32,
    dict: &'a ConvDictionary,
    gram: &'a GramKernels,
}

impl MapArithmetic for Float<'_> {
    type Value = f32;
    type Flag = f32;
    fn threshold(&self) -> f32 {
        self.threshold
    }
    fn biases(&self, p: &ConvSpikingParams, drive: &[f32], scale: f32) -> Vec<f32> {
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        drive.iter().map(|&b| p.dt * (b - p.lambda) * inv).collect()
    }
    fn integrate(&self, voltage: &mut [f32], bias: &[f32]) -> std::result::Result<(), Overflow> {
        decay_accumulate(voltage, bias, 1.0);
        Ok(())
    }
    fn fire(&self, voltage: &[f32], flags: &mut [f32]) -> usize {
        fire(voltage, self.threshold, flags)
    }
    fn crossing(&self, v: f32, b: f32) -> f64 {
        let before = v - b;
        f64::from(if before >= self.threshold {
            0.0
        } else {
            (self.threshold - before) / b
        })
    }
    fn spike(&mut self, g: &Geometry, voltage: &mut [f32], (m, at): (usize, Axes), _: usize) {
        scatter(g, self.gram.row(m), voltage, at, self.threshold);
        if g.boundary == Boundary::Zero {
            correct_edges(g, self.dict, voltage, (m, at), self.threshold);
        }
    }
}

/// The Gram kernels as Loihi synapses: `ϑ·(G − I)`, `ϑ = 2¹⁶`, each tap
/// carried by one or two 8-bit synapses sharing the network's exponents
/// ([`QuantisedWeights`]); the `I` is the reset by subtraction.
///
/// Why two by default: `G + I = DᵀD` of an overcomplete convolutional
/// dictionary is singular (per spatial frequency, all but `C` of its `M`
/// eigenvalues are zero), so rounding every tap to 1/128 of the largest one
/// adds negative curvature along those directions, and a network of coherent
/// filters runs away (objective gap 0.9 in `tests/conv_lca.rs`). A second
/// synapse holding the first's rounding residual, at an exponent 7 lower,
/// gives 15-bit weights (gap 1e-3 there); the two sum to one integer weight,
/// which is what the simulation adds.
struct FixedGram {
    /// [`GramKernels::row`] layout: the synapses' summed weights.
    taps: Vec<i32>,
    /// `n_filters · Π(2k − 1)`: one filter's row.
    row: usize,
    /// Weight quantum: `2^(6+e)` for one synapse, `2^(6+e−7)` for two.
    unit: f64,
    /// The largest weight the synapses can carry.
    most: f64,
}

impl FixedGram {
    fn new(dict: &ConvDictionary, gram: &GramKernels, p: &ConvSpikingParams) -> Result<FixedGram> {
        let (nf, k, block) = (dict.n_filters(), dict.extent(), gram.block());
        let span = k.map(|k| 2 * k - 1);
        let theta = f64::from(fixed_point::THRESHOLD);
        let self_tap = ((k[0] - 1) * span[1] + (k[1] - 1)) * span[2] + (k[2] - 1);
        let mut values: Vec<f64> = Vec::with_capacity(nf * nf * block + 1);
        for m in 0..nf {
            for (n, kernel) in gram.row(m).chunks_exact(block).enumerate() {
                values.extend(kernel.iter().enumerate().map(|(t, &w)| {
                    theta * (f64::from(w) - if n == m && t == self_tap { 1.0 } else { 0.0 })
                }));
            }
        }
        if p.boundary == Boundary::Zero {
            // Weights of atoms cut by the edge are quantised when a spike
            // needs them; by Cauchy–Schwarz none exceeds ‖D_m‖‖D_n‖ = 1,
            // which the shared exponent must therefore hold.
            values.push(theta);
        }
        let mantissa = f64::from((1i32 << (fixed_point::WEIGHT_BITS - 1)) - 1);
        let coarse = QuantisedWeights::new(&values)?.exponent;
        let unit = |e: i32| 2f64.powi(fixed_point::WEIGHT_SHIFT + e);
        let (quantum, most) = if p.weight_synapses >= 2 {
            let fine =
                (coarse - (fixed_point::WEIGHT_BITS as i32 - 1)).max(fixed_point::WEIGHT_EXP_MIN);
            (unit(fine), mantissa * (unit(coarse) + unit(fine)))
        } else {
            (unit(coarse), mantissa * unit(coarse))
        };
        let mut weights = FixedGram {
            taps: Vec::new(),
            row: nf * block,
            unit: quantum,
            most,
        };
        values.truncate(nf * nf * block);
        weights.taps = values.iter().map(|&v| weights.quantise(v)).collect();
        Ok(weights)
    }

    fn row(&self, m: usize) -> &[i32] {
        &self.taps[m * self.row..(m + 1) * self.row]
    }

    /// A weight in voltage units rounded (half away from zero) to the
    /// synapses' quantum. Rounds by truncating `q ± ½`: `f64::round` is a
    /// library call on the baseline x86-64 target, and a zero-boundary spike
    /// quantises a whole Gram neighbourhood.
    #[inline]
    fn quantise(&self, value: f64) -> i32 {
        let q = value / self.unit;
        let rounded = (q + 0.5f64.copysign(q)) as i64 as f64;
        (rounded * self.unit).clamp(-self.most, self.most) as i32
    }
}

/// Loihi-style integer neurons (formats in [`crate::solver::fixed_point`]):
/// 24-bit voltages, ϑ = 2¹⁶, biases of 13-bit mantissa, synapses from
/// [`FixedGram`]. Exact integer arithmetic, so every machine gives the same
/// spikes.
struct Fixed<'a> {
    weights: &'a FixedGram,
    dict: &'a ConvDictionary,
    gram: &'a GramKernels,
    /// Voltage units per unit of `dt·drive/ϑ`.
    units: f64,
    /// Zero boundary: a zeroed `f32` copy of the planes in which the exact
    /// weights of an atom cut by the edge are built before quantisation.
    probe: Vec<f32>,
}

impl<'a> Fixed<'a> {
    fn new(
        weights: &'a FixedGram,
        dict: &'a ConvDictionary,
        gram: &'a GramKernels,
        p: &ConvSpikingParams,
        g: Geometry,
    ) -> Fixed<'a> {
        let probe = if g.boundary == Boundary::Zero {
            vec![0.0; g.n_filters * g.plane()]
        } else {
            Vec::new()
        };
        Fixed {
            weights,
            dict,
            gram,
            units: f64::from(p.dt) / f64::from(p.threshold) * f64::from(fixed_point::THRESHOLD),
            probe,
        }
    }

    /// Whether the atom of a coefficient at `p` lies wholly inside the
    /// signal, so its weights are the translation-invariant ones.
    fn inside(g: &Geometry, at: Axes) -> bool {
        g.boundary == Boundary::Circular
            || (0..3).all(|a| at[a] >= g.origin[a] && at[a] - g.origin[a] + g.k[a] <= g.size[a])
    }
}

impl MapArithmetic for Fixed<'_> {
    type Value = i32;
    type Flag = bool;
    fn threshold(&self) -> i32 {
        fixed_point::THRESHOLD
    }
    fn biases(&self, p: &ConvSpikingParams, drive: &[f32], scale: f32) -> Vec<i32> {
        let per = if scale > 0.0 {
            self.units / f64::from(scale)
        } else {
            0.0
        };
        drive
            .iter()
            .map(|&b| {
                let x = per * (f64::from(b) - f64::from(p.lambda));
                // check() bounds dt/ϑ so every bias fits; saturate defensively.
                let most = fixed_point::BIAS_MAX as i32;
                fixed_point::quantise_bias(x).unwrap_or(if x > 0.0 { most } else { -most })
            })
            .collect()
    }
    fn integrate(&self, voltage: &mut [i32], bias: &[i32]) -> std::result::Result<(), Overflow> {
        fixed_integrate(voltage, bias)
    }
    fn fire(&self, voltage: &[i32], flags: &mut [bool]) -> usize {
        fixed_fire(voltage, fixed_point::THRESHOLD, flags)
    }
    fn crossing(&self, v: i32, b: i32) -> f64 {
        let (v, b, theta) = (
            i64::from(v),
            i64::from(b),
            i64::from(fixed_point::THRESHOLD),
        );
        let before = v - b;
        if before >= theta {
            0.0
        } else {
            (theta - before) as f64 / b as f64
        }
    }
    fn spike(&mut self, g: &Geometry, voltage: &mut [i32], (m, at): (usize, Axes), i: usize) {
        if Self::inside(g, at) {
            scatter_fixed(g, self.weights.row(m), voltage, at);
        } else {
            // The exact weights of the cut atom, −G_cut, built in the probe,
            // then quantised one synapse at a time.
            scatter(g, self.gram.row(m), &mut self.probe, at, 1.0);
            correct_edges(g, self.dict, &mut self.probe, (m, at), 1.0);
            let theta = f64::from(fixed_point::THRESHOLD);
            let window = [0, 1, 2].map(|a| {
                at[a].saturating_sub(g.radius(a))..(at[a] + g.radius(a) + 1).min(g.size[a])
            });
            let [slices, rows, cols] = window;
            let positions = slices.flat_map(|z| rows.clone().map(move |y| (z, y)));
            for n in 0..g.n_filters {
                for (zz, yy) in positions.clone() {
                    for xx in cols.clone() {
                        let j = n * g.plane() + g.index([zz, yy, xx]);
                        let exact =
                            -f64::from(self.probe[j]) * theta - if j == i { theta } else { 0.0 };
                        self.probe[j] = 0.0;
                        lower(&mut voltage[j], self.weights.quantise(exact));
                    }
                }
            }
        }
        voltage[i] -= fixed_point::THRESHOLD;
    }
}

/// `v ← v − w`, held at the bottom of the 24-bit range as on the chip. The
/// top is clamped far above `STATE_MAX` only so that no sequence of
/// excitations can wrap an `i32` (weights are below 2²⁰); a voltage above
/// `STATE_MAX` is reported as an overflow at the next integration. Cheaper
/// than a saturating subtraction: two packed min/max.
#[inline(always)]
fn lower(v: &mut i32, w: i32) {
    const CEILING: i32 = i32::MAX - (1 << 21);
    *v = (*v - w).clamp(STATE_MIN, CEILING);
}

/// The integer scatter of one spike, compiled for AVX2 as well as the
/// baseline (SSE2 has no packed 32-bit max) and chosen at run time.
#[multiversion(targets("x86_64+avx2"))]
fn scatter_fixed(g: &Geometry, row: &[i32], voltage: &mut [i32], at: Axes) {
    scatter_with(g, row, voltage, at, lower);
}

/// The neurons of one image, allocated once.
struct Network<A: MapArithmetic> {
    arithmetic: A,
    geometry: Geometry,
    /// Membrane voltages.
    voltage: Vec<A::Value>,
    /// Drive per step, `dt·(b − λ)/s`.
    bias: Vec<A::Value>,
    /// Threshold crossings of the step, from [`MapArithmetic::fire`].
    flags: Vec<A::Flag>,
    /// Crossings of the step as (crossing time within the step, neuron).
    crossings: Vec<(f64, u32)>,
    /// Spikes counted after settling.
    counts: Vec<u32>,
    /// Drive scale `s = max|b|`.
    scale: f32,
    spikes: u64,
}

impl<A: MapArithmetic> Network<A> {
    fn new(arithmetic: A, geometry: Geometry, p: &ConvSpikingParams, drive: &[f32]) -> Self {
        let scale = drive.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let n = drive.len();
        Network {
            bias: arithmetic.biases(p, drive, scale),
            arithmetic,
            geometry,
            voltage: vec![A::Value::default(); n],
            flags: vec![A::Flag::default(); n],
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
    fn step(&mut self, count: bool) -> std::result::Result<(), Overflow> {
        let a = &mut self.arithmetic;
        let theta = a.threshold();
        a.integrate(&mut self.voltage, &self.bias)?;
        if a.fire(&self.voltage, &mut self.flags) == 0 {
            return Ok(());
        }
        self.crossings.clear();
        let none = A::Flag::default();
        for (i, (&f, (&v, &b))) in self
            .flags
            .iter()
            .zip(self.voltage.iter().zip(&self.bias))
            .enumerate()
        {
            if f != none {
                self.crossings.push((a.crossing(v, b), i as u32));
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
            a.spike(&g, &mut self.voltage, (m, g.position(p)), i);
        }
        Ok(())
    }
}
