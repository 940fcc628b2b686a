//! Loihi-style number formats for the fixed-point spiking LCA.
//!
//! The formats documented for Loihi and simulated bit-accurately by Lava:
//!
//! | quantity            | format                                                   |
//! |---------------------|----------------------------------------------------------|
//! | current, voltage    | 24-bit signed integers ([`crate::neuron::fixed`])        |
//! | decays              | 12-bit fractions of 4096                                  |
//! | threshold ϑ         | `vth_mant << 6`; here `1024 << 6 = 2¹⁶`                   |
//! | synaptic weights    | 8-bit signed mantissa `m`, one exponent `e` shared by the network: `w = m·2^(6+e)`, `e ∈ [−6, 7]` |
//! | bias (the drive)    | 13-bit signed mantissa, 3-bit exponent per neuron: `bias = m·2^e`, `e ∈ [0, 7]` |
//!
//! Quantising to these formats is the only approximation: the simulation
//! itself is exact integer arithmetic, so it runs identically on any machine.

use crate::error::{Error, Result};

/// The firing threshold in voltage units: `vth_mant = 1024`, shifted by 6.
pub const THRESHOLD: i32 = 1 << 16;
/// Bits of a weight mantissa, sign included.
pub const WEIGHT_BITS: u32 = 8;
/// Weights are `m·2^(WEIGHT_SHIFT + e)` (Loihi shifts activations by 6 bits).
pub const WEIGHT_SHIFT: i32 = 6;
/// Smallest shared weight exponent kept (weights stay whole numbers).
pub const WEIGHT_EXP_MIN: i32 = -WEIGHT_SHIFT;
/// Largest shared weight exponent.
pub const WEIGHT_EXP_MAX: i32 = 7;
/// Bits of a bias mantissa, sign included.
pub const BIAS_BITS: u32 = 13;
/// Largest bias exponent (3 bits).
pub const BIAS_EXP_MAX: u32 = 7;
/// The largest bias magnitude representable, `(2¹² − 1)·2⁷`.
pub const BIAS_MAX: i64 = ((1 << (BIAS_BITS - 1)) - 1) << BIAS_EXP_MAX;

/// Weights quantised to 8-bit mantissas with one shared exponent.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantisedWeights {
    /// Effective integer weights `m·2^(6+e)`, in the order given.
    pub values: Vec<i32>,
    /// The shared exponent `e`.
    pub exponent: i32,
}

impl QuantisedWeights {
    /// Quantises `values` (already in voltage units) to `m·2^(6+e)` with
    /// `|m| ≤ 127` and the smallest exponent that fits the largest value;
    /// fails when even `e = 7` cannot hold it.
    ///
    /// ```
    /// use lca::solver::fixed_point::QuantisedWeights;
    /// let q = QuantisedWeights::new(&[65536.0, -1000.0, 3.0]).unwrap();
    /// assert_eq!(q.exponent, 4); // steps of 2^10 = 1024
    /// assert_eq!(q.values, vec![65536, -1024, 0]);
    /// ```
    pub fn new(values: &[f64]) -> Result<QuantisedWeights> {
        let mant_max = f64::from((1i32 << (WEIGHT_BITS - 1)) - 1);
        let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mut exponent = WEIGHT_EXP_MIN;
        while (largest / step(exponent)).round() > mant_max {
            exponent += 1;
            if exponent > WEIGHT_EXP_MAX {
                return Err(Error::setting(
                    "fixed_point",
                    format!(
                        "fixed point cannot represent a weight of {largest:.0} with an {WEIGHT_BITS}-bit mantissa and exponent <= {WEIGHT_EXP_MAX}"
                    ),
                ));
            }
        }
        let unit = step(exponent);
        let values = values
            .iter()
            .map(|&v| ((v / unit).round() * unit) as i32)
            .collect();
        Ok(QuantisedWeights { values, exponent })
    }
}

fn step(exponent: i32) -> f64 {
    2f64.powi(WEIGHT_SHIFT + exponent)
}

/// Quantises a bias (in voltage units) to a 13-bit mantissa with its own
/// exponent in `0..=7`, keeping as many significant bits as fit; `None`
/// when its magnitude exceeds [`BIAS_MAX`].
///
/// ```
/// use lca::solver::fixed_point::{quantise_bias, BIAS_MAX};
/// assert_eq!(quantise_bias(1000.4), Some(1000));
/// assert_eq!(quantise_bias(-40000.0), Some(-40000)); // 2^4 steps: exact
/// assert_eq!(quantise_bias(40001.0), Some(40000));
/// assert_eq!(quantise_bias(BIAS_MAX as f64 * 1.01), None);
/// ```
pub fn quantise_bias(value: f64) -> Option<i32> {
    let mant_max = f64::from((1i32 << (BIAS_BITS - 1)) - 1);
    for e in 0..=BIAS_EXP_MAX {
        let unit = f64::from(1u32 << e);
        let m = (value / unit).round();
        if m.abs() <= mant_max {
            return Some((m * unit) as i32);
        }
    }
    None
}

/// Fails unless the largest drive per step of a spiking network, `2·dt/ϑ`
/// thresholds (the bias `dt·(b − λ)/(s·ϑ)` with `|b| ≤ s` and `λ < s`),
/// fits a 13-bit bias.
///
/// ```
/// use lca::solver::fixed_point::check_drive_per_step;
/// assert!(check_drive_per_step(0.5, 1.0).is_ok());
/// assert!(check_drive_per_step(5.0, 1.0).is_err());
/// ```
pub fn check_drive_per_step(dt: f32, threshold: f32) -> Result<()> {
    let most = 2.0 * f64::from(dt) / f64::from(threshold) * f64::from(THRESHOLD);
    if most > BIAS_MAX as f64 {
        return Err(Error::setting(
            "dt",
            format!(
                "dt/threshold = {} is too large for fixed point: the drive per step would exceed the {}-bit bias (at most {})",
                dt / threshold,
                BIAS_BITS,
                BIAS_MAX as f64 / 2.0 / f64::from(THRESHOLD)
            ),
        ));
    }
    Ok(())
}

/// The current decay (fraction kept, in 4096ths) for a float fraction `keep`
/// kept per step: `4096 − du`, with Loihi's `du` rounded from `1 − keep`.
pub fn current_decay_units(keep: f32) -> u16 {
    let unity = f64::from(crate::neuron::DECAY_UNITY);
    let removed = (unity * (1.0 - f64::from(keep))).round().clamp(0.0, unity) as u16;
    crate::neuron::DECAY_UNITY - removed
}
