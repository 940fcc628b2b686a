//! Current-based leaky integrate-and-fire (CUBA-LIF) neurons, as on Loihi and
//! in Lava: a synaptic current that decays and accumulates input, a membrane
//! voltage that decays and accumulates the current, a threshold, a reset.
//!
//! ```text
//! i[t] = (1 − δ_i)·i[t−1] + input[t]
//! v[t] = (1 − δ_v)·v[t−1] + i[t] + bias
//! s[t] = H(v[t] − ϑ)           then reset v (to 0, or by subtracting ϑ)
//! ```
//! The step is split into [`decay_accumulate`] (used for both the current and
//! the voltage), [`fire`] and [`reset`], so a network trained by
//! backpropagation can keep the pre-reset voltage its surrogate gradient needs,
//! while [`CubaLif::step`] runs the whole update for simulation.

use serde::{Deserialize, Serialize};

/// What happens to the voltage after a spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Reset {
    /// `v ← 0`: the charge above threshold is lost.
    #[default]
    Zero,
    /// `v ← v − ϑ`: the excess is kept, so rates track the input precisely
    /// (the choice that makes spiking LCA rates converge to the LASSO).
    Subtract,
}

/// `x ← decay·x + input` for every neuron: the leaky accumulation shared by
/// currents, voltages and traces, in `f32` (networks, solvers) or `f64` (the
/// exact-gradient EventProp pass).
///
/// ```
/// use lca::neuron::decay_accumulate;
/// let mut x = [1.0, 2.0];
/// decay_accumulate(&mut x, &[0.5, 0.0], 0.5);
/// assert_eq!(x, [1.0, 1.0]);
/// ```
#[inline(always)]
pub fn decay_accumulate<T>(x: &mut [T], input: &[T], decay: T)
where
    T: Copy + std::ops::Mul<Output = T> + std::ops::Add<Output = T>,
{
    assert_eq!(x.len(), input.len());
    for (xi, &ii) in x.iter_mut().zip(input) {
        *xi = decay * *xi + ii;
    }
}

/// The spike function `s = H(v − ϑ)`: writes 1.0 where `v ≥ ϑ`, else 0.0, and
/// returns the number of spikes.
#[inline(always)]
pub fn fire(v: &[f32], threshold: f32, spikes: &mut [f32]) -> usize {
    assert_eq!(v.len(), spikes.len());
    let mut n = 0;
    for (s, &vi) in spikes.iter_mut().zip(v) {
        let fired = vi >= threshold;
        *s = if fired { 1.0 } else { 0.0 };
        n += usize::from(fired);
    }
    n
}

/// Resets the voltage of neurons that spiked (`spikes[i] = 1.0`).
#[inline(always)]
pub fn reset(v: &mut [f32], spikes: &[f32], threshold: f32, mode: Reset) {
    assert_eq!(v.len(), spikes.len());
    match mode {
        Reset::Zero => {
            for (vi, &s) in v.iter_mut().zip(spikes) {
                *vi *= 1.0 - s;
            }
        }
        Reset::Subtract => {
            for (vi, &s) in v.iter_mut().zip(spikes) {
                *vi -= s * threshold;
            }
        }
    }
}

/// Parameters of a population of CUBA-LIF neurons.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CubaLif {
    /// Fraction of the current kept each step, `1 − δ_i` (0: no synaptic filter).
    pub current_decay: f32,
    /// Fraction of the voltage kept each step, `1 − δ_v` (1: perfect integrator).
    pub voltage_decay: f32,
    /// Firing threshold ϑ.
    pub threshold: f32,
    /// Reset rule.
    pub reset: Reset,
    /// Steps a neuron stays silent, voltage clamped at 0, after a spike.
    pub refractory: u16,
}

/// Mutable state of a population of CUBA-LIF neurons.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LifState {
    /// Synaptic currents.
    pub current: Vec<f32>,
    /// Membrane voltages.
    pub voltage: Vec<f32>,
    /// Remaining refractory steps.
    pub refractory: Vec<u16>,
}

impl LifState {
    /// All neurons at rest.
    pub fn new(n: usize) -> Self {
        LifState {
            current: vec![0.0; n],
            voltage: vec![0.0; n],
            refractory: vec![0; n],
        }
    }
}

impl CubaLif {
    /// One time step: integrate `input` (plus a constant `bias`), fire, reset.
    /// Writes 1.0/0.0 into `spikes` and returns the number of spikes.
    ///
    /// ```
    /// use lca::neuron::{CubaLif, LifState, Reset};
    /// // A perfect integrator with threshold 1 fed 0.25 per step fires every 4 steps.
    /// let lif = CubaLif { current_decay: 0.0, voltage_decay: 1.0, threshold: 1.0, reset: Reset::Subtract, refractory: 0 };
    /// let mut state = LifState::new(1);
    /// let mut s = [0.0];
    /// let total: usize = (0..100).map(|_| lif.step(&mut state, &[0.25], 0.0, &mut s)).sum();
    /// assert_eq!(total, 25);
    /// ```
    pub fn step(
        &self,
        state: &mut LifState,
        input: &[f32],
        bias: f32,
        spikes: &mut [f32],
    ) -> usize {
        decay_accumulate(&mut state.current, input, self.current_decay);
        let (v, i) = (&mut state.voltage, &state.current);
        for (vi, &ii) in v.iter_mut().zip(i) {
            *vi = self.voltage_decay * *vi + ii + bias;
        }
        self.fire_and_reset(state, spikes)
    }

    /// [`CubaLif::step`] with a bias of its own for every neuron (`bias[i]`),
    /// as when each neuron integrates a different constant drive.
    ///
    /// ```
    /// use lca::neuron::{CubaLif, LifState, Reset};
    /// let lif = CubaLif { current_decay: 0.0, voltage_decay: 1.0, threshold: 1.0, reset: Reset::Subtract, refractory: 0 };
    /// let mut state = LifState::new(2);
    /// let mut s = [0.0; 2];
    /// let mut counts = [0; 2];
    /// for _ in 0..100 {
    ///     lif.step_biased(&mut state, &[0.0, 0.0], &[0.25, 0.5], &mut s);
    ///     counts[0] += s[0] as u32;
    ///     counts[1] += s[1] as u32;
    /// }
    /// assert_eq!(counts, [25, 50]);
    /// ```
    #[inline(always)]
    pub fn step_biased(
        &self,
        state: &mut LifState,
        input: &[f32],
        bias: &[f32],
        spikes: &mut [f32],
    ) -> usize {
        assert_eq!(bias.len(), state.voltage.len());
        decay_accumulate(&mut state.current, input, self.current_decay);
        let (v, i) = (&mut state.voltage, &state.current);
        for ((vi, &ii), &bi) in v.iter_mut().zip(i).zip(bias) {
            *vi = self.voltage_decay * *vi + ii + bi;
        }
        self.fire_and_reset(state, spikes)
    }

    /// Refractory clamp, spike function and reset: the end of every step.
    #[inline(always)]
    fn fire_and_reset(&self, state: &mut LifState, spikes: &mut [f32]) -> usize {
        let v = &mut state.voltage;
        if self.refractory > 0 {
            for (vi, r) in v.iter_mut().zip(state.refractory.iter_mut()) {
                if *r > 0 {
                    *vi = 0.0;
                    *r -= 1;
                }
            }
        }
        let n = fire(v, self.threshold, spikes);
        reset(v, spikes, self.threshold, self.reset);
        if self.refractory > 0 && n > 0 {
            for (r, &s) in state.refractory.iter_mut().zip(spikes.iter()) {
                if s != 0.0 {
                    *r = self.refractory;
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refractory_neurons_stay_silent() {
        let lif = CubaLif {
            current_decay: 0.0,
            voltage_decay: 1.0,
            threshold: 1.0,
            reset: Reset::Zero,
            refractory: 2,
        };
        let mut state = LifState::new(1);
        let mut s = [0.0];
        let fired: Vec<usize> = (0..9)
            .map(|_| lif.step(&mut state, &[1.0], 0.0, &mut s))
            .collect();
        assert_eq!(fired, vec![1, 0, 0, 1, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn current_decay_filters_the_input() {
        let lif = CubaLif {
            current_decay: 0.5,
            voltage_decay: 0.0,
            threshold: 10.0,
            reset: Reset::Zero,
            refractory: 0,
        };
        let mut state = LifState::new(1);
        let mut s = [0.0];
        lif.step(&mut state, &[1.0], 0.0, &mut s);
        lif.step(&mut state, &[0.0], 0.0, &mut s);
        assert_eq!(state.current[0], 0.5);
        assert_eq!(state.voltage[0], 0.5);
    }
}
