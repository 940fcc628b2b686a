//! The spiking LCA (Shapero et al. 2014; Tang, Lin & Davies 2017): the LCA
//! competition run by integrate-and-fire neurons, as on Loihi.
//!
//! # Dynamics
//!
//! Each neuron is a perfect integrator ([`CubaLif`] with no voltage leak and
//! reset by subtraction). Neuron `i` is driven by the constant `b_i − λ`
//! (drive `b = Φᵀx` against the threshold λ of the LASSO) and inhibited by
//! `G_ij·ϑ` at every spike of neuron `j` (`G = ΦᵀΦ − I`); its own spike
//! subtracts ϑ, the diagonal of `ΦᵀΦ`. Per step of length `dt`, with `b`
//! and λ divided by `s = max|b|` (see below):
//!
//! ```text
//! i[t] = c·i[t−1] − (1 − c)·ϑ·Σ_j G_ij s_j[t−1]       (c: synaptic decay)
//! v[t] = v[t−1] + i[t] + dt·(b_i − λ)/s
//! s[t] = H(v[t] − ϑ),   v[t] ← v[t] − ϑ·s[t]
//! ```
//!
//! Summing over a window of `W` steps after a settling window, with `N_i`
//! spikes in it and rate code `a_i = s·ϑ·N_i / (W·dt)`:
//!
//! ```text
//! s·(v(end) − v(start)) / (W·dt) = b − λ − (G + I)·a   (+ the inhibition still in the synapses)
//! ```
//!
//! A firing neuron's voltage stays within a few ϑ, so on the support the
//! right side is `O(ϑ/(W·dt))`: `b − (G + I)a = λ`, the LASSO optimality
//! condition; a silent neuron's voltage only falls, so off the support
//! `b − (G + I)a ≤ λ`. The rates therefore converge to the non-negative
//! LASSO solution with an error falling as `1/T`, `T = W·dt` (Tang et al.'s
//! theorem). Signed codes use ON/OFF pairs: neuron `i⁺` carries atom `φ_i`,
//! `i⁻` carries `−φ_i`, `a_i = a_i⁺ − a_i⁻`, and the two populations couple
//! through `−G` (the Gram matrix of `[Φ, −Φ]`). Between the two neurons of a
//! pair that Gram matrix has `−1`: each spike would excite the partner by ϑ,
//! which makes ON/OFF pairs fire against each other for a long transient.
//! A spike therefore excites its partner by `κ·ϑ` only, `κ = pair_coupling ∈
//! [0, 1]`: for any such `κ` both neurons of a pair cannot be active at a
//! fixed point (their residuals add up to `−2λ − (1 − κ)(a⁺ + a⁻) < 0`), and
//! with one of them silent the conditions are exactly the LASSO's, so the
//! limit is the same. On image patches `κ = ½` needs about half the spikes
//! of `κ = 1`, and after 64 steps its objective gap is 10× smaller.
//!
//! The drive of each signal is divided by `s = max|b|` before simulation
//! (host-side input scaling; codes are scaled back), so one threshold,
//! `ϑ = threshold` in those units, fits signals of any magnitude; a signal
//! with `s ≤ λ` has the all-zero code and is not simulated.
//!
//! # Cost
//!
//! Event-driven: a step costs one pass over the neurons plus one column of
//! `G` per spike of the previous step, `O(n + spikes·n)`, never `O(n²)`.
//!
//! # Fixed point
//!
//! With `fixed_point`, the same network runs in Loihi's integer arithmetic
//! ([`crate::neuron::fixed`], formats in [`super::fixed_point`]): ϑ = 2¹⁶,
//! weights of 8-bit mantissa and a shared exponent, biases of 13-bit
//! mantissa, 24-bit states. A state that would overflow makes the encoding
//! fail with a message naming the signal, step and neuron.

use multiversion::multiversion;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use std::ops::{AddAssign, Neg, SubAssign};

use crate::Dictionary;
use crate::error::{Error, Result};
use crate::neuron::{CubaLif, LifState, Reset};
use crate::neuron::{CubaLifFixed, LifStateFixed, Overflow};
use crate::solver::batch::{self, Monitor, Signal, SignalOutput, SignalSolver, States};
use crate::solver::fixed_point::{self, QuantisedWeights};

/// Settings of the spiking LCA, set with chained setters and validated by
/// [`SpikingParams::check`].
///
/// The defaults (λ = 0.1, dt = 0.5, ϑ = 1, 256 steps, the first quarter
/// discarded) reach a mean relative objective gap below 1e-3 on 8×8 image
/// patches; the code error falls as `1/steps`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SpikingParams {
    /// Threshold λ of the LASSO.
    pub lambda: f32,
    /// Only non-negative codes (one neuron per atom); otherwise ON/OFF pairs.
    pub nonneg: bool,
    /// Time step, in units where the drive is scaled to `max|b| = 1`.
    pub dt: f32,
    /// Firing threshold ϑ (threshold scaling), in the same units: each spike
    /// stands for `ϑ·max|b|` of code times time. Neurons fire at most once a
    /// step, so codes up to `ϑ·max|b|/dt` are representable.
    pub threshold: f32,
    /// Time steps simulated per signal.
    pub steps: usize,
    /// Steps discarded before the rates are averaged; `None`: `steps/4`.
    pub settle: Option<usize>,
    /// Fraction of the synaptic current kept each step (0: each spike's
    /// inhibition lands in the next step; closer to 1: spread over time).
    pub current_decay: f32,
    /// Signed codes: how much a spike excites the other neuron of its ON/OFF
    /// pair, as a fraction of ϑ (1: the exact Gram matrix of `[Φ, −Φ]`).
    pub pair_coupling: f32,
    /// Loihi-style integer arithmetic instead of f32.
    pub fixed_point: bool,
    /// Keep every spike in [`SpikingEncoding::spikes`].
    pub record_spikes: bool,
}

impl Default for SpikingParams {
    fn default() -> Self {
        SpikingParams {
            lambda: 0.1,
            nonneg: false,
            dt: 0.5,
            threshold: 1.0,
            steps: 256,
            settle: None,
            current_decay: 0.0,
            pair_coupling: 0.5,
            fixed_point: false,
            record_spikes: false,
        }
    }
}

impl SpikingParams {
    /// Default settings; see the type's documentation.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets λ.
    pub fn lambda(mut self, lambda: f32) -> Self {
        self.lambda = lambda;
        self
    }
    /// Restricts codes to non-negative values.
    pub fn nonneg(mut self, nonneg: bool) -> Self {
        self.nonneg = nonneg;
        self
    }
    /// Sets dt.
    pub fn dt(mut self, dt: f32) -> Self {
        self.dt = dt;
        self
    }
    /// Sets the threshold scaling ϑ.
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }
    /// Sets the number of steps.
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = steps;
        self
    }
    /// Sets the settling window (steps not averaged).
    pub fn settle(mut self, settle: usize) -> Self {
        self.settle = Some(settle);
        self
    }
    /// Sets the fraction of the synaptic current kept per step.
    pub fn current_decay(mut self, keep: f32) -> Self {
        self.current_decay = keep;
        self
    }
    /// Sets the ON/OFF partner coupling (signed codes).
    pub fn pair_coupling(mut self, c: f32) -> Self {
        self.pair_coupling = c;
        self
    }
    /// Turns the fixed-point mode on or off.
    pub fn fixed_point(mut self, on: bool) -> Self {
        self.fixed_point = on;
        self
    }
    /// Records every spike.
    pub fn record_spikes(mut self, on: bool) -> Self {
        self.record_spikes = on;
        self
    }

    /// The settling window in effect.
    pub fn settle_steps(&self) -> usize {
        self.settle.unwrap_or(self.steps / 4)
    }

    /// Validates the settings into a ready solver.
    ///
    /// ```
    /// use lca::solver::SpikingParams;
    /// assert!(SpikingParams::new().steps(0).check().is_err());
    /// assert!(SpikingParams::new().steps(10).settle(10).check().is_err());
    /// assert!(SpikingParams::new().threshold(0.0).check().is_err());
    /// assert_eq!(SpikingParams::new().check().unwrap().params().settle_steps(), 64);
    /// ```
    pub fn check(self) -> Result<SpikingLca> {
        let bad = |name: &'static str, msg: String| Err(Error::setting(name, msg));
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return bad(
                "lambda",
                format!("lambda must be finite and >= 0, got {}", self.lambda),
            );
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return bad("dt", format!("dt must be finite and > 0, got {}", self.dt));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return bad(
                "threshold",
                format!(
                    "spike threshold must be finite and > 0, got {}",
                    self.threshold
                ),
            );
        }
        if self.steps == 0 || self.steps > u32::MAX as usize {
            return bad(
                "steps",
                format!(
                    "steps must be between 1 and {}, got {}",
                    u32::MAX,
                    self.steps
                ),
            );
        }
        if self.settle_steps() >= self.steps {
            return bad(
                "settle",
                format!(
                    "the settling window ({} steps) must be shorter than the simulation ({} steps)",
                    self.settle_steps(),
                    self.steps
                ),
            );
        }
        if !(self.current_decay.is_finite() && (0.0..1.0).contains(&self.current_decay)) {
            return bad(
                "current_decay",
                format!(
                    "current decay (fraction of the synaptic current kept per step) must be in [0, 1), got {}",
                    self.current_decay
                ),
            );
        }
        if !(self.pair_coupling.is_finite() && (0.0..=1.0).contains(&self.pair_coupling)) {
            return bad(
                "pair_coupling",
                format!(
                    "ON/OFF pair coupling must be in [0, 1], got {}",
                    self.pair_coupling
                ),
            );
        }
        if self.fixed_point {
            fixed_point::check_drive_per_step(self.dt, self.threshold)?;
        }
        Ok(SpikingLca { params: self })
    }
}

/// Every spike of an encoding: parallel arrays, ordered by signal, then
/// step, then neuron.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpikeRecord {
    /// Atoms of the dictionary.
    pub n_atoms: usize,
    /// Neurons per signal: `n_atoms`, or `2·n_atoms` for ON/OFF pairs
    /// (neuron `n_atoms + i` is the OFF neuron of atom `i`).
    pub n_neurons: usize,
    /// Steps simulated per signal.
    pub steps: usize,
    /// Steps before the averaging window.
    pub settle: usize,
    /// Signal of each spike.
    pub signal: Vec<u32>,
    /// Neuron of each spike.
    pub neuron: Vec<u32>,
    /// Time step of each spike (0-based).
    pub step: Vec<u32>,
    /// Per signal, the code value of one spike in the averaging window:
    /// `a_i = quantum·(N_i⁺ − N_i⁻)`.
    pub quantum: Vec<f32>,
}

/// Most atoms a spike record read from a file may declare (16 M neurons).
pub const MAX_RECORD_ATOMS: usize = 1 << 24;

impl SpikeRecord {
    /// Number of signals.
    pub fn n_signals(&self) -> usize {
        self.quantum.len()
    }

    /// Whether neurons come in ON/OFF pairs (signed codes).
    pub fn signed(&self) -> bool {
        self.n_neurons == 2 * self.n_atoms
    }

    /// Index range of the spikes of `signal` (spikes are sorted by signal).
    fn range(&self, signal: usize) -> std::ops::Range<usize> {
        let s = signal as u32;
        self.signal.partition_point(|&x| x < s)..self.signal.partition_point(|&x| x <= s)
    }

    /// The spikes of one signal and the rate code of every neuron, as a
    /// raster plot shows them.
    pub fn raster(&self, signal: usize) -> Result<Raster> {
        if signal >= self.n_signals() {
            return Err(Error::setting(
                "signal",
                format!(
                    "signal {signal} out of range: the spike file holds {} signals",
                    self.n_signals()
                ),
            ));
        }
        let range = self.range(signal);
        let spikes: Vec<(u32, u32)> = self.neuron[range.clone()]
            .iter()
            .zip(&self.step[range])
            .map(|(&n, &t)| (n, t))
            .collect();
        let mut counts = vec![0i64; self.n_neurons];
        for &(n, t) in &spikes {
            if t as usize >= self.settle {
                counts[n as usize] += 1;
            }
        }
        let q = self.quantum[signal];
        let rates = counts
            .iter()
            .enumerate()
            .map(|(n, &c)| code_value(q, if n >= self.n_atoms { -c } else { c }))
            .collect();
        Ok(Raster {
            n_neurons: self.n_neurons,
            steps: self.steps,
            spikes,
            rates,
        })
    }

    /// The codes the spikes imply (`n_atoms × n_signals`): the same values
    /// the encoding returned.
    pub fn codes(&self) -> DMatrix<f32> {
        let (k, m) = (self.n_atoms, self.n_signals());
        let mut counts = vec![0i64; k * m];
        for ((&s, &n), &t) in self.signal.iter().zip(&self.neuron).zip(&self.step) {
            if t as usize >= self.settle {
                let (atom, sign) = if (n as usize) < k {
                    (n as usize, 1)
                } else {
                    (n as usize - k, -1)
                };
                counts[s as usize * k + atom] += sign;
            }
        }
        let mut codes = DMatrix::zeros(k, m);
        for (s, col) in codes.as_mut_slice().chunks_mut(k.max(1)).enumerate() {
            for (a, &c) in col.iter_mut().zip(&counts[s * k..(s + 1) * k]) {
                *a = code_value(self.quantum[s], c);
            }
        }
        codes
    }

    /// Writes the spikes to an `.npz` (atomically): int32 arrays `signal`,
    /// `neuron`, `step`, float32 `quantum` (per signal) and int64 scalars
    /// `n_atoms`, `n_neurons`, `steps`, `settle`.
    pub fn write_npz(&self, path: &std::path::Path) -> Result<()> {
        use crate::io::npy::NpyArray;
        let to_i32 = |v: &[u32]| v.iter().map(|&x| x as i32).collect::<Vec<i32>>();
        let n = self.signal.len();
        let scalar = |x: usize| NpyArray::from_i64(vec![], &[x as i64]);
        let arrays = [
            (
                "signal",
                NpyArray::from_i32(vec![n], &to_i32(&self.signal))?,
            ),
            (
                "neuron",
                NpyArray::from_i32(vec![n], &to_i32(&self.neuron))?,
            ),
            ("step", NpyArray::from_i32(vec![n], &to_i32(&self.step))?),
            (
                "quantum",
                NpyArray::from_f32(vec![self.quantum.len()], &self.quantum)?,
            ),
            ("n_atoms", scalar(self.n_atoms)?),
            ("n_neurons", scalar(self.n_neurons)?),
            ("steps", scalar(self.steps)?),
            ("settle", scalar(self.settle)?),
        ];
        let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(k, v)| (*k, v)).collect();
        crate::io::npz::write_npz(path, &refs)
    }

    /// Reads a spike file written by [`SpikeRecord::write_npz`], checking
    /// that every array is present, consistent and in range.
    pub fn read_npz(path: &std::path::Path) -> Result<SpikeRecord> {
        let bad = |msg: String| Error::format(path, msg);
        let arrays = crate::io::npz::read_npz(path)?;
        let get = |name: &str| {
            arrays
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| a)
                .ok_or_else(|| bad(format!("not a spike file: array {name:?} is missing")))
        };
        let ints = |name: &str| -> Result<Vec<i64>> {
            get(name)?
                .to_i64_vec()
                .ok_or_else(|| bad(format!("array {name:?} must hold integers")))
        };
        let scalar = |name: &str| -> Result<usize> {
            match ints(name)?.as_slice() {
                [v] if *v >= 0 => Ok(*v as usize),
                _ => Err(bad(format!("{name:?} must be one non-negative integer"))),
            }
        };
        let (n_atoms, n_neurons, steps, settle) = (
            scalar("n_atoms")?,
            scalar("n_neurons")?,
            scalar("steps")?,
            scalar("settle")?,
        );
        if n_atoms == 0 || (n_neurons != n_atoms && n_neurons != 2 * n_atoms) {
            return Err(bad(format!(
                "n_neurons = {n_neurons} must be n_atoms = {n_atoms} or twice it"
            )));
        }
        if settle >= steps || steps > u32::MAX as usize {
            return Err(bad(format!("invalid steps = {steps} / settle = {settle}")));
        }
        // Rasters and codes allocate per neuron: a hostile header must not
        // make them request terabytes (found while fuzzing).
        if n_atoms > MAX_RECORD_ATOMS {
            return Err(bad(format!(
                "n_atoms = {n_atoms} exceeds the {MAX_RECORD_ATOMS} a spike record may hold"
            )));
        }
        let quantum = get("quantum")?
            .to_f32_vec()
            .ok_or_else(|| bad("array \"quantum\" must hold floats".into()))?;
        if let Some(i) = quantum.iter().position(|q| !(q.is_finite() && *q >= 0.0)) {
            return Err(bad(format!("quantum[{i}] is negative or not finite")));
        }
        let (signal, neuron, step) = (ints("signal")?, ints("neuron")?, ints("step")?);
        if signal.len() != neuron.len() || signal.len() != step.len() {
            return Err(bad(format!(
                "signal, neuron and step have different lengths ({}, {}, {})",
                signal.len(),
                neuron.len(),
                step.len()
            )));
        }
        let checked = |v: Vec<i64>, name: &str, limit: usize| -> Result<Vec<u32>> {
            match v.iter().position(|&x| x < 0 || x as usize >= limit) {
                Some(i) => Err(bad(format!("{name}[{i}] = {} is outside 0..{limit}", v[i]))),
                None => Ok(v.into_iter().map(|x| x as u32).collect()),
            }
        };
        let signal = checked(signal, "signal", quantum.len())?;
        if let Some(i) = signal.windows(2).position(|w| w[0] > w[1]) {
            return Err(bad(format!(
                "spikes must be sorted by signal (entry {} is out of order)",
                i + 1
            )));
        }
        Ok(SpikeRecord {
            n_atoms,
            n_neurons,
            steps,
            settle,
            signal,
            neuron: checked(neuron, "neuron", n_neurons)?,
            step: checked(step, "step", steps)?,
            quantum,
        })
    }
}

/// Appends the indices of the `n` spikes in `flags` to `out`. Spikes are
/// sparse, so blocks of 16 flags are first tested at once (a branch-free,
/// vectorised test) and only blocks holding a spike are scanned.
#[inline]
fn spike_indices<T: Copy + Default + PartialEq>(flags: &[T], n: usize, out: &mut Vec<u32>) {
    const BLOCK: usize = 16;
    let zero = T::default();
    let mut found = 0;
    for (b, block) in flags.chunks(BLOCK).enumerate() {
        if block.iter().fold(0u32, |m, &f| m | u32::from(f != zero)) == 0 {
            continue;
        }
        for (i, &f) in block.iter().enumerate() {
            if f != zero {
                out.push((b * BLOCK + i) as u32);
                found += 1;
            }
        }
        if found == n {
            break;
        }
    }
}

/// The spikes of one signal, ready to plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Raster {
    /// Neurons (rows of the raster).
    pub n_neurons: usize,
    /// Steps (columns of the raster).
    pub steps: usize,
    /// `(neuron, step)` of every spike.
    pub spikes: Vec<(u32, u32)>,
    /// Rate code of every neuron: ϑ-scaled spike count in the averaging
    /// window, negative for OFF neurons, so an atom's code is the sum of its
    /// pair.
    pub rates: Vec<f32>,
}

/// `quantum·count` rounded once to f32: the one formula for every code.
#[inline]
fn code_value(quantum: f32, count: i64) -> f32 {
    let a = (f64::from(quantum) * count as f64) as f32;
    if a == 0.0 { 0.0 } else { a }
}

/// Result of a spiking encoding; matrices have one column per signal.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SpikingEncoding {
    /// Rate codes (`n_atoms × n_signals`).
    pub codes: DMatrix<f32>,
    /// Spikes of each signal over the whole simulation.
    pub spike_counts: Vec<u64>,
    /// Signals where some neuron fired at every step of the window, so its
    /// rate was capped at one spike per step (lower dt or raise the threshold).
    pub saturated: Vec<bool>,
    /// Every spike, when recording was requested.
    pub spikes: Option<SpikeRecord>,
    /// Steps simulated per signal.
    pub steps: usize,
}

impl SpikingEncoding {
    /// Mean number of non-zero coefficients per signal.
    pub fn mean_active(&self) -> f64 {
        let n = self.codes.ncols().max(1);
        self.codes.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64
    }

    /// Mean number of spikes per signal.
    pub fn mean_spikes(&self) -> f64 {
        self.spike_counts.iter().sum::<u64>() as f64 / self.spike_counts.len().max(1) as f64
    }
}

/// A validated spiking-LCA solver. Build it with [`SpikingParams::check`].
///
/// ```
/// use lca::Dictionary;
/// use lca::solver::SpikingParams;
/// use nalgebra::DMatrix;
/// // Orthonormal atoms: the code is the soft threshold of the drive.
/// let d = Dictionary::from_rows(2, 2, vec![1.0, 0.0, 0.0, 1.0]).unwrap();
/// let x = DMatrix::from_column_slice(2, 1, &[0.8, -0.4]);
/// let enc = SpikingParams::new().steps(2000).check().unwrap().encode(&d, &x).unwrap();
/// assert!((enc.codes[(0, 0)] - 0.7).abs() < 2e-3);
/// assert!((enc.codes[(1, 0)] + 0.3).abs() < 2e-3);
/// ```
#[derive(Clone, Debug)]
pub struct SpikingLca {
    params: SpikingParams,
}

/// What one signal's simulation reports to the batch driver.
pub(crate) struct SignalOutcome {
    quantum: f32,
    spikes: u64,
    saturated: bool,
    /// `(neuron, step)` of every spike, in order, when recording.
    record: Option<SignalSpikes>,
}

/// The spikes of one signal, in step then neuron order.
#[derive(Default)]
pub(crate) struct SignalSpikes {
    neuron: Vec<u32>,
    step: Vec<u32>,
}

/// The arithmetic one spiking network runs in: [`FloatNetwork`] (f32) or
/// [`FixedNetwork`] (Loihi's integers). The event-driven loop
/// ([`SpikingRun::simulate`]) is written once over it.
pub(crate) trait Arithmetic: Sync {
    /// A weight, current, voltage or bias.
    type Value: Copy + Default + PartialEq + AddAssign + SubAssign + Neg<Output = Self::Value>;
    /// A neuron's spike flag.
    type Flag: Copy + Default + PartialEq;
    /// The neurons' currents and voltages.
    type State;

    fn state(&self, neurons: usize) -> Self::State;
    /// Puts every neuron back at rest.
    fn rest(&self, state: &mut Self::State);
    /// Column `j` of the inhibition weights, summed per spike.
    fn column<'a>(&'a self, dict: &'a Dictionary, j: usize) -> &'a [Self::Value];
    /// The input a summed column sends (the weights' common scale).
    fn weigh(&self, summed: Self::Value) -> Self::Value;
    /// What a spike sends to the other neuron of its ON/OFF pair.
    fn pair(&self) -> Self::Value;
    /// Drive per step of a neuron whose excess drive is `excess = ±b − λ`, for
    /// a signal scaled by `s = max|b|`.
    fn bias(&self, excess: f64, s: f64) -> Self::Value;
    /// One step of every neuron; the number of spikes, or the first overflow.
    fn step(
        &self,
        state: &mut Self::State,
        input: &[Self::Value],
        bias: &[Self::Value],
        spikes: &mut [Self::Flag],
    ) -> std::result::Result<usize, Overflow>;
    /// Runs one signal (monomorphic, so each arithmetic picks its own
    /// compilation targets).
    fn simulate(
        run: &SpikingRun<'_, Self>,
        dict: &Dictionary,
        b: &[f32],
        scratch: &mut Scratch<Self>,
    ) -> std::result::Result<SignalOutcome, (usize, Overflow)>
    where
        Self: Sized;
}

/// The f32 network: inhibition weights are `G` scaled by `w = ϑ(1 − c)`.
pub(crate) struct FloatNetwork {
    lif: CubaLif,
    /// `ϑ·(1 − c)`: the weight that spreads each spike's `ϑ·G` over the synapse.
    w: f32,
    /// `w·κ`, the ON/OFF pair excitation.
    pair: f32,
    dt: f64,
}

impl Arithmetic for FloatNetwork {
    type Value = f32;
    type Flag = f32;
    type State = LifState;

    fn state(&self, neurons: usize) -> LifState {
        LifState::new(neurons)
    }
    fn rest(&self, state: &mut LifState) {
        state.current.fill(0.0);
        state.voltage.fill(0.0);
    }
    #[inline(always)]
    fn column<'a>(&'a self, dict: &'a Dictionary, j: usize) -> &'a [f32] {
        dict.inhibition_column(j)
    }
    #[inline(always)]
    fn weigh(&self, summed: f32) -> f32 {
        self.w * summed
    }
    #[inline(always)]
    fn pair(&self) -> f32 {
        self.pair
    }
    fn bias(&self, excess: f64, s: f64) -> f32 {
        (self.dt * excess / s) as f32
    }
    #[inline(always)]
    fn step(
        &self,
        state: &mut LifState,
        input: &[f32],
        bias: &[f32],
        spikes: &mut [f32],
    ) -> std::result::Result<usize, Overflow> {
        Ok(self.lif.step_biased(state, input, bias, spikes))
    }
    fn simulate(
        run: &SpikingRun<'_, Self>,
        dict: &Dictionary,
        b: &[f32],
        scratch: &mut Scratch<Self>,
    ) -> std::result::Result<SignalOutcome, (usize, Overflow)> {
        Ok(simulate_float(run, dict, b, scratch))
    }
}

/// The weights of the integer network, quantised once per encoding.
pub(crate) struct FixedNetwork {
    /// Column `j`: the inhibition a spike of neuron `j` sends, `ϑ·G_·j`.
    columns: Vec<i32>,
    /// What a spike sends to the other neuron of its ON/OFF pair, `c·ϑ`.
    pair: i32,
    lif: CubaLifFixed,
    /// Voltage units per unit of drive·dt/ϑ (divided by `s` per signal).
    units: f64,
    n_atoms: usize,
}

impl Arithmetic for FixedNetwork {
    type Value = i32;
    type Flag = bool;
    type State = LifStateFixed;

    fn state(&self, neurons: usize) -> LifStateFixed {
        LifStateFixed::new(neurons)
    }
    fn rest(&self, state: &mut LifStateFixed) {
        state.clear();
    }
    #[inline(always)]
    fn column<'a>(&'a self, _: &'a Dictionary, j: usize) -> &'a [i32] {
        &self.columns[j * self.n_atoms..(j + 1) * self.n_atoms]
    }
    #[inline(always)]
    fn weigh(&self, summed: i32) -> i32 {
        summed
    }
    #[inline(always)]
    fn pair(&self) -> i32 {
        self.pair
    }
    fn bias(&self, excess: f64, s: f64) -> i32 {
        let x = self.units / s * excess;
        // check() bounds dt/ϑ so every bias fits; saturate defensively.
        fixed_point::quantise_bias(x).unwrap_or(if x > 0.0 {
            fixed_point::BIAS_MAX as i32
        } else {
            -(fixed_point::BIAS_MAX as i32)
        })
    }
    #[inline(always)]
    fn step(
        &self,
        state: &mut LifStateFixed,
        input: &[i32],
        bias: &[i32],
        spikes: &mut [bool],
    ) -> std::result::Result<usize, Overflow> {
        self.lif.step_biased(state, input, bias, spikes)
    }
    fn simulate(
        run: &SpikingRun<'_, Self>,
        dict: &Dictionary,
        b: &[f32],
        scratch: &mut Scratch<Self>,
    ) -> std::result::Result<SignalOutcome, (usize, Overflow)> {
        run.simulate(dict, b, scratch)
    }
}

/// Buffers of one chunk for the arithmetic in use, reused for its signals.
pub(crate) struct Scratch<A: Arithmetic> {
    bias: Vec<A::Value>,
    input: Vec<A::Value>,
    /// Inhibition columns summed over one step's spikes.
    summed: Vec<A::Value>,
    flags: Vec<A::Flag>,
    state: A::State,
    fired: Vec<u32>,
    counts: Vec<u32>,
}

/// One encoding's settings and network, the unit the batch driver runs.
pub(crate) struct SpikingRun<'a, A> {
    lca: &'a SpikingLca,
    net: A,
    neurons: usize,
}

impl SpikingLca {
    /// The validated settings.
    pub fn params(&self) -> &SpikingParams {
        &self.params
    }

    /// Encodes the columns of `signals`.
    pub fn encode(&self, dict: &Dictionary, signals: &DMatrix<f32>) -> Result<SpikingEncoding> {
        self.encode_with(dict, signals, None)
    }

    /// Encodes the columns of `signals`, calling `progress` with the number
    /// of signals finished each time a chunk completes.
    pub fn encode_with(
        &self,
        dict: &Dictionary,
        signals: &DMatrix<f32>,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> Result<SpikingEncoding> {
        self.encode_monitored(dict, signals, Monitor::with_progress(progress))
    }

    /// [`SpikingLca::encode_with`] that a caller can also stop between chunks
    /// of signals ([`Monitor::cancel`]; then [`Error::Interrupted`]).
    pub fn encode_monitored(
        &self,
        dict: &Dictionary,
        signals: &DMatrix<f32>,
        monitor: Monitor<'_>,
    ) -> Result<SpikingEncoding> {
        let m = signals.ncols();
        if m > u32::MAX as usize {
            return Err(Error::Shape(format!(
                "{m} signals are more than a spike record can index"
            )));
        }
        let p = &self.params;
        let k = dict.n_atoms();
        let neurons = if p.nonneg { k } else { 2 * k };
        let solved = if p.fixed_point {
            let net = self.fixed_network(dict)?;
            let run = SpikingRun {
                lca: self,
                net,
                neurons,
            };
            batch::solve_batch(&run, dict, signals, States::Stateless, monitor)?
        } else {
            let run = SpikingRun {
                lca: self,
                net: self.float_network(),
                neurons,
            };
            batch::solve_batch(&run, dict, signals, States::Stateless, monitor)?
        };
        let mut record = p.record_spikes.then(|| SpikeRecord {
            n_atoms: k,
            n_neurons: neurons,
            steps: p.steps,
            settle: p.settle_steps(),
            ..SpikeRecord::default()
        });
        let mut spike_counts = Vec::with_capacity(m);
        let mut saturated = Vec::with_capacity(m);
        let mut quantum = Vec::with_capacity(m);
        for (signal, outcome) in solved.reports.into_iter().enumerate() {
            spike_counts.push(outcome.spikes);
            saturated.push(outcome.saturated);
            quantum.push(outcome.quantum);
            if let (Some(r), Some(spikes)) = (record.as_mut(), outcome.record) {
                r.signal
                    .extend(std::iter::repeat_n(signal as u32, spikes.neuron.len()));
                r.neuron.extend(spikes.neuron);
                r.step.extend(spikes.step);
            }
        }
        if let Some(r) = record.as_mut() {
            r.quantum = quantum;
        }
        Ok(SpikingEncoding {
            codes: solved.codes,
            spike_counts,
            saturated,
            spikes: record,
            steps: p.steps,
        })
    }

    fn float_network(&self) -> FloatNetwork {
        let p = &self.params;
        let w = p.threshold * (1.0 - p.current_decay);
        FloatNetwork {
            lif: CubaLif {
                current_decay: p.current_decay,
                voltage_decay: 1.0,
                threshold: p.threshold,
                reset: Reset::Subtract,
                refractory: 0,
            },
            w,
            pair: w * p.pair_coupling,
            dt: f64::from(p.dt),
        }
    }

    /// Quantises the inhibition of `dict` for the integer network.
    fn fixed_network(&self, dict: &Dictionary) -> Result<FixedNetwork> {
        let p = &self.params;
        let keep = fixed_point::current_decay_units(p.current_decay);
        // Each spike's inhibition, spread by the synaptic decay, must add up to ϑ·G.
        let spread = 1.0 - f64::from(keep) / f64::from(crate::neuron::DECAY_UNITY);
        let scale = f64::from(fixed_point::THRESHOLD) * spread;
        let mut values: Vec<f64> = dict
            .inhibition()
            .as_slice()
            .iter()
            .map(|&g| f64::from(g) * scale)
            .collect();
        if !p.nonneg {
            // The ON/OFF pair weight shares the exponent.
            values.push(scale * f64::from(p.pair_coupling));
        }
        let q = QuantisedWeights::new(&values)?;
        let mut columns = q.values;
        let pair = if p.nonneg {
            0
        } else {
            columns.pop().unwrap_or(0)
        };
        Ok(FixedNetwork {
            columns,
            pair,
            lif: CubaLifFixed {
                current_decay: keep,
                voltage_decay: crate::neuron::DECAY_UNITY,
                threshold: fixed_point::THRESHOLD,
                reset: Reset::Subtract,
            },
            units: f64::from(p.dt) / f64::from(p.threshold) * f64::from(fixed_point::THRESHOLD),
            n_atoms: dict.n_atoms(),
        })
    }

    /// Per-signal scaling: `s = max|b|` and the code value of one spike in
    /// the window, `s·ϑ/(W·dt)`.
    fn scaling(&self, b: &[f32]) -> (f64, f32) {
        let p = &self.params;
        let s = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let window = (p.steps - p.settle_steps()) as f64;
        let quantum = (f64::from(s) * f64::from(p.threshold) / (window * f64::from(p.dt))) as f32;
        (f64::from(s), quantum)
    }
}

impl<A: Arithmetic> SpikingRun<'_, A> {
    /// Counts one step's spikes in the window and records them.
    #[inline]
    fn after_step(
        &self,
        step: usize,
        fired: &[u32],
        counts: &mut [u32],
        record: Option<&mut SignalSpikes>,
    ) {
        if step >= self.lca.params.settle_steps() {
            for &i in fired {
                counts[i as usize] += 1;
            }
        }
        if let Some(spikes) = record {
            spikes.neuron.extend_from_slice(fired);
            spikes
                .step
                .extend(std::iter::repeat_n(step as u32, fired.len()));
        }
    }

    fn saturated(&self, counts: &[u32]) -> bool {
        let p = &self.lca.params;
        let window = p.steps - p.settle_steps();
        counts.iter().any(|&c| c as usize >= window)
    }

    /// Runs one signal, event-driven: a step costs one pass over the neurons
    /// plus one inhibition column per spike of the step before. Leaves the
    /// window's spike counts in `sc.counts`; fails with the step and the
    /// overflow when an integer state leaves its range.
    #[inline(always)]
    fn simulate(
        &self,
        dict: &Dictionary,
        b: &[f32],
        sc: &mut Scratch<A>,
    ) -> std::result::Result<SignalOutcome, (usize, Overflow)> {
        let p = &self.lca.params;
        let net = &self.net;
        let k = b.len();
        let (s, quantum) = self.lca.scaling(b);
        sc.counts.fill(0);
        let mut record = p.record_spikes.then(SignalSpikes::default);
        let lambda = f64::from(p.lambda);
        if s <= lambda {
            return Ok(SignalOutcome {
                quantum,
                spikes: 0,
                saturated: false,
                record,
            });
        }
        for (i, &bi) in b.iter().enumerate() {
            let bi = f64::from(bi);
            sc.bias[i] = net.bias(bi - lambda, s);
            if !p.nonneg {
                sc.bias[k + i] = net.bias(-bi - lambda, s);
            }
        }
        net.rest(&mut sc.state);
        sc.input.fill(A::Value::default());
        sc.fired.clear();
        let mut dirty = false;
        let mut total = 0u64;
        for step in 0..p.steps {
            if !sc.fired.is_empty() {
                // Event-driven inhibition: one column per spike; OFF neurons
                // carry −φ, so their columns count negatively.
                sc.summed.fill(A::Value::default());
                for &j in &sc.fired {
                    let j = j as usize;
                    if j < k {
                        for (a, &g) in sc.summed.iter_mut().zip(net.column(dict, j)) {
                            *a += g;
                        }
                    } else {
                        for (a, &g) in sc.summed.iter_mut().zip(net.column(dict, j - k)) {
                            *a -= g;
                        }
                    }
                }
                let (on, off) = sc.input.split_at_mut(k);
                for (x, &a) in on.iter_mut().zip(&sc.summed) {
                    *x = -net.weigh(a);
                }
                if !p.nonneg {
                    for (x, &a) in off.iter_mut().zip(&sc.summed) {
                        *x = net.weigh(a);
                    }
                    // A spike excites the other neuron of its pair by κ·ϑ.
                    for &j in &sc.fired {
                        let j = j as usize;
                        let partner = if j < k { j + k } else { j - k };
                        sc.input[partner] += net.pair();
                    }
                }
                dirty = true;
            } else if dirty {
                sc.input.fill(A::Value::default());
                dirty = false;
            }
            let n = net
                .step(&mut sc.state, &sc.input, &sc.bias, &mut sc.flags)
                .map_err(|e| (step, e))?;
            sc.fired.clear();
            if n > 0 {
                total += n as u64;
                spike_indices(&sc.flags, n, &mut sc.fired);
                self.after_step(step, &sc.fired, &mut sc.counts, record.as_mut());
            }
        }
        Ok(SignalOutcome {
            quantum,
            spikes: total,
            saturated: self.saturated(&sc.counts),
            record,
        })
    }
}

impl<A: Arithmetic> SignalSolver for SpikingRun<'_, A> {
    type Scratch = Scratch<A>;
    type Report = SignalOutcome;

    fn scratch(&self, dict: &Dictionary) -> Scratch<A> {
        let neurons = self.neurons;
        Scratch {
            bias: vec![A::Value::default(); neurons],
            input: vec![A::Value::default(); neurons],
            summed: vec![A::Value::default(); dict.n_atoms()],
            flags: vec![A::Flag::default(); neurons],
            state: self.net.state(neurons),
            fired: Vec::with_capacity(neurons),
            counts: vec![0; neurons],
        }
    }

    fn solve(
        &self,
        dict: &Dictionary,
        signal: Signal<'_>,
        out: SignalOutput<'_>,
        scratch: &mut Scratch<A>,
    ) -> Result<SignalOutcome> {
        let outcome = A::simulate(self, dict, signal.drive, scratch).map_err(|(step, overflow)| {
            let hint = match overflow {
                Overflow::Current { .. } => {
                    "too many simultaneous spikes; a synaptic current decay spreads their inhibition"
                }
                Overflow::Voltage { .. } => {
                    "a neuron needs more than one spike per step; lower dt or raise the spike threshold"
                }
            };
            Error::setting(
                "fixed_point",
                format!(
                    "fixed point cannot represent signal {}: at step {step} {overflow} ({hint})",
                    signal.index
                ),
            )
        })?;
        let k = out.code.len();
        let c = &scratch.counts;
        let nonneg = self.lca.params.nonneg;
        for (i, ai) in out.code.iter_mut().enumerate() {
            let net = i64::from(c[i]) - if nonneg { 0 } else { i64::from(c[k + i]) };
            *ai = code_value(outcome.quantum, net);
        }
        Ok(outcome)
    }
}

/// The float simulation, compiled for AVX2 as well as the baseline and chosen
/// at run time: the per-step neuron loops (shared kernels in `crate::neuron`,
/// inlined here) run ~20 % faster on 256-bit registers. No fused
/// multiply-adds, so both versions give the same spikes.
#[multiversion(targets("x86_64+avx2"))]
fn simulate_float(
    run: &SpikingRun<'_, FloatNetwork>,
    dict: &Dictionary,
    b: &[f32],
    sc: &mut Scratch<FloatNetwork>,
) -> SignalOutcome {
    match run.simulate(dict, b, sc) {
        Ok(outcome) => outcome,
        Err(_) => unreachable!("float neurons cannot overflow"),
    }
}
