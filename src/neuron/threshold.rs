//! Transfer functions `a = T_λ(u)` that turn membrane states into outputs.
//!
//! The choice of threshold picks the sparsity penalty LCA minimises: soft → L1
//! (the LASSO), hard → L0, firm → a penalty between the two (Gao & Bruce 1997,
//! PetaVision's `VWidth`). A non-negative variant of each keeps only `u > λ`.

use serde::{Deserialize, Serialize};

/// Ramp width of [`Threshold::Firm`] when none is given.
pub const DEFAULT_FIRM_WIDTH: f32 = 0.1;

/// Shape of the threshold function.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Threshold {
    /// `sign(u)·max(|u| − λ, 0)`: the proximal operator of `λ‖a‖₁`.
    #[default]
    Soft,
    /// `u` where `|u| > λ`, else 0: the L0 penalty.
    Hard,
    /// 0 up to `λ`, a linear ramp reaching `λ + width` at `|u| = λ + width`,
    /// identity beyond. `width → 0` gives the hard, `width → ∞` the soft threshold.
    Firm {
        /// Width of the ramp (> 0).
        width: f32,
    },
}

impl Threshold {
    /// This threshold with the firm threshold's ramp `width` when given
    /// (other thresholds have none: callers refuse a width for them).
    #[must_use]
    pub fn with_firm_width(self, width: Option<f32>) -> Threshold {
        match (self, width) {
            (Threshold::Firm { .. }, Some(width)) => Threshold::Firm { width },
            (t, _) => t,
        }
    }
}

/// A threshold together with its level `λ` and sign constraint: everything
/// needed to map states to outputs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// Shape of the function.
    pub threshold: Threshold,
    /// Threshold level `λ ≥ 0`.
    pub lambda: f32,
    /// Keep only positive outputs (`u > λ`).
    pub nonneg: bool,
}

impl Transfer {
    /// Output of one neuron.
    ///
    /// ```
    /// use lca::neuron::{Threshold, Transfer};
    /// let soft = Transfer { threshold: Threshold::Soft, lambda: 0.5, nonneg: false };
    /// assert_eq!(soft.value(2.0), 1.5);
    /// assert_eq!(soft.value(-2.0), -1.5);
    /// assert_eq!(soft.value(0.3), 0.0);
    /// let hard = Transfer { threshold: Threshold::Hard, ..soft };
    /// assert_eq!(hard.value(-2.0), -2.0);
    /// let nonneg = Transfer { nonneg: true, ..soft };
    /// assert_eq!(nonneg.value(-2.0), 0.0);
    /// ```
    #[inline]
    pub fn value(&self, u: f32) -> f32 {
        let lambda = self.lambda;
        let v = if self.nonneg { u.max(0.0) } else { u };
        let m = v.abs();
        match self.threshold {
            Threshold::Soft => (v - lambda).max(0.0) - (-v - lambda).max(0.0),
            Threshold::Hard => {
                if m > lambda {
                    v
                } else {
                    0.0
                }
            }
            Threshold::Firm { width } => {
                let top = lambda + width;
                if m <= lambda {
                    0.0
                } else if m < top {
                    (top * (m - lambda) / width).copysign(v)
                } else {
                    v
                }
            }
        }
    }

    /// Applies the transfer function to every state: `a[i] = T(u[i])`.
    #[inline]
    pub fn apply(&self, u: &[f32], a: &mut [f32]) {
        assert_eq!(u.len(), a.len());
        // Specialised loops so the common soft cases vectorise.
        match (self.threshold, self.nonneg) {
            (Threshold::Soft, false) => {
                let l = self.lambda;
                // Difference of two ramps: branch-free and never yields -0.0.
                for (ai, &ui) in a.iter_mut().zip(u) {
                    *ai = (ui - l).max(0.0) - (-ui - l).max(0.0);
                }
            }
            (Threshold::Soft, true) => {
                let l = self.lambda;
                for (ai, &ui) in a.iter_mut().zip(u) {
                    *ai = (ui - l).max(0.0);
                }
            }
            _ => {
                for (ai, &ui) in a.iter_mut().zip(u) {
                    *ai = self.value(ui);
                }
            }
        }
    }
}

/// The soft threshold at `lambda`, held at or above `floor` (0 for
/// non-negative outputs, `f32::NEG_INFINITY` for signed ones): the same
/// value as [`Transfer::value`] with [`Threshold::Soft`], written with
/// comparisons so that loops over it vectorise (hot loops of the
/// convolutional LCA).
///
/// ```
/// use lca::neuron::soft_threshold;
/// assert_eq!(soft_threshold(2.0, 0.5, f32::NEG_INFINITY), 1.5);
/// assert_eq!(soft_threshold(-2.0, 0.5, f32::NEG_INFINITY), -1.5);
/// assert_eq!(soft_threshold(-2.0, 0.5, 0.0), 0.0);
/// assert_eq!(soft_threshold(0.3, 0.5, 0.0), 0.0);
/// ```
#[inline(always)]
pub fn soft_threshold(v: f32, lambda: f32, floor: f32) -> f32 {
    let (up, down) = (v - lambda, -v - lambda);
    let r = (if up > 0.0 { up } else { 0.0 }) - (if down > 0.0 { down } else { 0.0 });
    if r > floor { r } else { floor }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(threshold: Threshold, nonneg: bool) -> Transfer {
        Transfer {
            threshold,
            lambda: 1.0,
            nonneg,
        }
    }

    #[test]
    fn firm_interpolates_between_hard_and_soft() {
        let firm = t(Threshold::Firm { width: 2.0 }, false);
        assert_eq!(firm.value(0.9), 0.0);
        assert_eq!(firm.value(2.0), 1.5); // halfway up the ramp to 3
        assert_eq!(firm.value(-4.0), -4.0);
        assert!((firm.value(3.0) - 3.0).abs() < 1e-6); // continuous at the top
        let narrow = t(Threshold::Firm { width: 1e-4 }, false);
        assert!((narrow.value(1.5) - 1.5).abs() < 1e-6);
        let wide = t(Threshold::Firm { width: 1e6 }, false);
        assert!((wide.value(1.5) - 0.5).abs() < 1e-3);
    }

    #[test]
    fn slice_and_scalar_versions_agree() {
        let u: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.1).collect();
        for th in [
            Threshold::Soft,
            Threshold::Hard,
            Threshold::Firm { width: 0.5 },
        ] {
            for nonneg in [false, true] {
                let tr = t(th, nonneg);
                let mut a = vec![0.0; u.len()];
                tr.apply(&u, &mut a);
                for (&ui, &ai) in u.iter().zip(&a) {
                    assert_eq!(ai, tr.value(ui), "{th:?} nonneg={nonneg} u={ui}");
                    assert!(!(ai == 0.0 && ai.is_sign_negative()), "-0.0 output");
                    if nonneg {
                        assert!(ai >= 0.0);
                    }
                    if ui.abs() <= 1.0 {
                        assert_eq!(ai, 0.0);
                    }
                }
            }
        }
    }
}
