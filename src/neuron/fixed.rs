//! Integer CUBA-LIF neurons with Loihi's arithmetic, as Lava's bit-accurate
//! models simulate them: the fixed-point twin of [`super::lif`].
//!
//! ```text
//! u[t] = u[t−1]·r_u / 4096 + input[t]      (rounded toward zero)
//! v[t] = v[t−1]·r_v / 4096 + u[t] + bias
//! s[t] = H(v[t] − ϑ)           then reset v (to 0, or by subtracting ϑ)
//! ```
//! A *decay* here means what it means in [`super::lif`]: the fraction of a
//! state kept per step, `r = current_decay` or `voltage_decay`, in 4096ths.
//! Loihi and Lava write the fraction removed, `du = 4096 − r_u` and
//! `dv = 4096 − r_v`.
//! Currents and voltages are 24-bit signed integers and the decays 12-bit
//! fractions of 4096. On the chip a current that leaves 24 bits wraps around
//! and a voltage saturates; here a wrapping current, or a voltage pushed above
//! the top of its range, is reported as an [`Overflow`] instead of silently
//! producing garbage. A voltage driven below the bottom of its range is held
//! there, as on the chip: that floor only ever holds back neurons far below
//! threshold.

use super::lif::Reset;

/// Bits of a current or voltage.
pub const STATE_BITS: u32 = 24;
/// Largest representable current or voltage, `2²³ − 1`.
pub const STATE_MAX: i32 = (1 << (STATE_BITS - 1)) - 1;
/// Smallest voltage, `−(2²³ − 1)` (Lava's symmetric limit); currents share it.
pub const STATE_MIN: i32 = -STATE_MAX;
/// Bits of the decay constants: fractions of `2¹² = 4096`.
pub const DECAY_BITS: u32 = 12;
/// `2^DECAY_BITS`: a decay of `DECAY_UNITY` keeps a state whole (no leak).
pub const DECAY_UNITY: u16 = 1 << DECAY_BITS;

/// A state that left its 24-bit range during [`CubaLifFixed::step_biased`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// The synaptic current of `neuron` would wrap around.
    Current { neuron: usize, value: i64 },
    /// The voltage of `neuron` would saturate at the top of its range.
    Voltage { neuron: usize, value: i64 },
}

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, neuron, value) = match *self {
            Overflow::Current { neuron, value } => ("current", neuron, value),
            Overflow::Voltage { neuron, value } => ("voltage", neuron, value),
        };
        write!(
            f,
            "the {what} of neuron {neuron} reaches {value}, outside the {STATE_BITS}-bit range ±{STATE_MAX}"
        )
    }
}

/// `x·keep/4096` rounded toward zero: a state decayed by one step, keeping
/// `keep` 4096ths (Loihi's decay by `du = 4096 − keep`).
///
/// ```
/// use lca::neuron::fixed_decay as decay;
/// assert_eq!(decay(1000, 4096), 1000);
/// assert_eq!(decay(1000, 0), 0);
/// assert_eq!(decay(-1000, 2048), -500);
/// assert_eq!(decay(3, 2048), 1);
/// ```
#[inline]
pub fn decay(x: i32, keep: u16) -> i32 {
    let p = i64::from(x) * i64::from(keep.min(DECAY_UNITY));
    let q = p.unsigned_abs() >> DECAY_BITS;
    (if p < 0 { -(q as i64) } else { q as i64 }) as i32
}

/// `v ← v + bias` for every neuron: the perfect integrator with a constant
/// drive and no synaptic current, in Loihi's 24-bit voltages. A voltage
/// pushed above the top of its range is reported as an [`Overflow`] (the
/// chip would saturate it); one below the bottom is held there, as on the
/// chip. The integer twin of `decay_accumulate(v, bias, 1.0)`.
///
/// ```
/// use lca::neuron::fixed_integrate as integrate;
/// let mut v = [0, 10, -(1 << 23) + 1];
/// integrate(&mut v, &[5, -20, -5]).unwrap();
/// assert_eq!(v, [5, -10, -(1 << 23) + 1]);
/// assert!(integrate(&mut v, &[1 << 23, 0, 0]).is_err());
/// ```
pub fn integrate(voltage: &mut [i32], bias: &[i32]) -> Result<(), Overflow> {
    assert_eq!(voltage.len(), bias.len());
    let mut highest = i32::MIN;
    for (v, &b) in voltage.iter_mut().zip(bias) {
        let x = v.saturating_add(b).max(STATE_MIN);
        highest = highest.max(x);
        *v = x;
    }
    if highest > STATE_MAX {
        let neuron = voltage.iter().position(|&x| x > STATE_MAX).unwrap_or(0);
        return Err(Overflow::Voltage {
            neuron,
            value: i64::from(voltage[neuron]),
        });
    }
    Ok(())
}

/// The spike function on integer voltages, `s = (v ≥ ϑ)`: the twin of
/// [`crate::neuron::fire`]. Returns the number of spikes.
///
/// ```
/// use lca::neuron::fixed_fire as fire;
/// let mut s = [false; 3];
/// assert_eq!(fire(&[64, 63, 100], 64, &mut s), 2);
/// assert_eq!(s, [true, false, true]);
/// ```
pub fn fire(voltage: &[i32], threshold: i32, spikes: &mut [bool]) -> usize {
    assert_eq!(voltage.len(), spikes.len());
    let mut n = 0;
    for (s, &v) in spikes.iter_mut().zip(voltage) {
        *s = v >= threshold;
        n += usize::from(*s);
    }
    n
}

/// Parameters of a population of integer CUBA-LIF neurons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CubaLifFixed {
    /// Fraction of the current kept per step, in 4096ths (0: no synaptic
    /// filter, the current is the input of this step only; Loihi's
    /// `du = 4096 − current_decay`).
    pub current_decay: u16,
    /// Fraction of the voltage kept per step, in 4096ths (4096: perfect
    /// integrator; Loihi's `dv = 4096 − voltage_decay`).
    pub voltage_decay: u16,
    /// Firing threshold ϑ (in `1..=STATE_MAX`).
    pub threshold: i32,
    /// Reset rule.
    pub reset: Reset,
}

/// Mutable state of a population of integer CUBA-LIF neurons.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LifStateFixed {
    /// Synaptic currents (24-bit).
    pub current: Vec<i32>,
    /// Membrane voltages (24-bit).
    pub voltage: Vec<i32>,
}

impl LifStateFixed {
    /// All neurons at rest.
    pub fn new(n: usize) -> Self {
        LifStateFixed {
            current: vec![0; n],
            voltage: vec![0; n],
        }
    }

    /// Puts every neuron back at rest.
    pub fn clear(&mut self) {
        self.current.fill(0);
        self.voltage.fill(0);
    }
}

impl CubaLifFixed {
    /// One time step with a bias per neuron: decay and accumulate the current,
    /// then the voltage, fire where `v ≥ ϑ` and reset. Writes the spikes into
    /// `spikes` and returns their number, or the first state that overflowed.
    ///
    /// ```
    /// use lca::neuron::{CubaLifFixed, LifStateFixed};
    /// use lca::neuron::Reset;
    /// // A perfect integrator with ϑ = 64 fed 16 per step fires every 4 steps.
    /// let lif = CubaLifFixed { current_decay: 0, voltage_decay: 4096, threshold: 64, reset: Reset::Subtract };
    /// let mut state = LifStateFixed::new(1);
    /// let mut s = [false];
    /// let mut total = 0;
    /// for _ in 0..100 {
    ///     total += lif.step_biased(&mut state, &[0], &[16], &mut s).unwrap();
    /// }
    /// assert_eq!(total, 25);
    /// ```
    pub fn step_biased(
        &self,
        state: &mut LifStateFixed,
        input: &[i32],
        bias: &[i32],
        spikes: &mut [bool],
    ) -> Result<usize, Overflow> {
        let n = state.voltage.len();
        assert!(
            input.len() == n && bias.len() == n && spikes.len() == n && state.current.len() == n
        );
        // Every term fits comfortably in i32 (states 24-bit, inputs and biases
        // below 2³⁰ in practice), so the range checks run on i32 values.
        if self.current_decay == 0 {
            state.current.copy_from_slice(input);
        } else {
            for (u, &x) in state.current.iter_mut().zip(input) {
                *u = decay(*u, self.current_decay).saturating_add(x);
            }
        }
        let widest = state
            .current
            .iter()
            .fold(0u32, |m, &u| m.max(u.unsigned_abs()));
        if widest > STATE_MAX as u32 {
            let neuron = state
                .current
                .iter()
                .position(|u| u.unsigned_abs() > STATE_MAX as u32)
                .unwrap_or(0);
            return Err(Overflow::Current {
                neuron,
                value: i64::from(state.current[neuron]),
            });
        }
        // Voltage: decay and integrate (v and u lie within ±2²³, so only the
        // bias can leave i32: that add saturates), noting the highest value.
        let mut highest = i32::MIN;
        let v = &mut state.voltage;
        if self.voltage_decay >= DECAY_UNITY {
            for ((vi, &u), &b) in v.iter_mut().zip(&state.current).zip(bias) {
                let x = (*vi + u).saturating_add(b);
                highest = highest.max(x);
                *vi = x;
            }
        } else {
            for ((vi, &u), &b) in v.iter_mut().zip(&state.current).zip(bias) {
                let x = (decay(*vi, self.voltage_decay) + u).saturating_add(b);
                highest = highest.max(x);
                *vi = x;
            }
        }
        if highest > STATE_MAX {
            let neuron = v.iter().position(|&x| x > STATE_MAX).unwrap_or(0);
            return Err(Overflow::Voltage {
                neuron,
                value: i64::from(v[neuron]),
            });
        }
        // Floor, spike function, reset.
        let theta = self.threshold;
        let mut fired = 0u32;
        match self.reset {
            Reset::Subtract => {
                for (vi, s) in v.iter_mut().zip(spikes.iter_mut()) {
                    let x = (*vi).max(STATE_MIN);
                    let f = x >= theta;
                    *s = f;
                    fired += u32::from(f);
                    *vi = x - (theta & -i32::from(f));
                }
            }
            Reset::Zero => {
                for (vi, s) in v.iter_mut().zip(spikes.iter_mut()) {
                    let x = (*vi).max(STATE_MIN);
                    let f = x >= theta;
                    *s = f;
                    fired += u32::from(f);
                    *vi = x & (i32::from(f) - 1);
                }
            }
        }
        Ok(fired as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapping_current_is_reported() {
        let lif = CubaLifFixed {
            current_decay: 2048,
            voltage_decay: DECAY_UNITY,
            threshold: 1 << 20,
            reset: Reset::Subtract,
        };
        let mut state = LifStateFixed::new(2);
        let mut s = [false; 2];
        // Halving decay plus 5·2²⁰ per step tends to 10·2²⁰ > 2²³ (the bias
        // keeps the voltage in range).
        let mut result = Ok(0);
        for _ in 0..10 {
            result = lif.step_biased(&mut state, &[5 << 20, 0], &[-(8 << 20), 0], &mut s);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(Overflow::Current { neuron: 0, .. })));
    }

    #[test]
    fn voltages_saturate_below_and_overflow_above() {
        let lif = CubaLifFixed {
            current_decay: 0,
            voltage_decay: DECAY_UNITY,
            threshold: STATE_MAX,
            reset: Reset::Subtract,
        };
        let mut state = LifStateFixed::new(1);
        let mut s = [false];
        for _ in 0..10 {
            lif.step_biased(&mut state, &[0], &[-(1 << 22)], &mut s)
                .unwrap();
        }
        assert_eq!(state.voltage[0], STATE_MIN);
        let mut state = LifStateFixed::new(1);
        let err = (0..10)
            .map(|_| lif.step_biased(&mut state, &[0], &[1 << 22], &mut s))
            .find(Result::is_err);
        assert!(matches!(
            err,
            Some(Err(Overflow::Voltage { neuron: 0, .. }))
        ));
    }

    #[test]
    fn matches_the_float_kernel_on_exact_values() {
        use crate::neuron::{CubaLif, LifState};
        let float = CubaLif {
            current_decay: 0.0,
            voltage_decay: 1.0,
            threshold: 1.0,
            reset: Reset::Subtract,
            refractory: 0,
        };
        let fixed = CubaLifFixed {
            current_decay: 0,
            voltage_decay: DECAY_UNITY,
            threshold: 1 << 16,
            reset: Reset::Subtract,
        };
        let (mut fs, mut xs) = (LifState::new(3), LifStateFixed::new(3));
        let (mut fsp, mut xsp) = ([0.0f32; 3], [false; 3]);
        let bias = [0.25f32, 0.5, -0.125];
        let ibias: Vec<i32> = bias.iter().map(|b| (b * 65536.0) as i32).collect();
        for t in 0..50 {
            let input = [if t % 3 == 0 { 0.5f32 } else { 0.0 }, -0.25, 1.0];
            let iinput: Vec<i32> = input.iter().map(|x| (x * 65536.0) as i32).collect();
            float.step_biased(&mut fs, &input, &bias, &mut fsp);
            fixed
                .step_biased(&mut xs, &iinput, &ibias, &mut xsp)
                .unwrap();
            for i in 0..3 {
                assert_eq!(fsp[i] != 0.0, xsp[i], "step {t} neuron {i}");
            }
        }
    }
}
