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

use std::ops::{AddAssign, Neg, SubAssign};

use crate::Dictionary;
use crate::error::{Error, Result};
use crate::neuron::{CubaLif, LifState, Reset};
use crate::neuron::{CubaLifFixed, LifStateFixed, Overflow};
use crate::solver::batch::{self, Monitor, Signal, SignalOutput, SignalSolver, States};
use crate::solver::fixed_point::{self, QuantisedWeights};

/// Every spike of an encoding ([`SpikeRecord`], [`Raster`]) and its file.
mod record;
/// The settings ([`SpikingParams`]) and their one check.
mod settings;
use record::code_value;
pub use record::{Raster, SpikeRecord};
pub use settings::SpikingParams;

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
