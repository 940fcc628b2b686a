//! Surrogate gradients ("nascent deltas") for the spike function.
//!
//! The spike `s = H(v − ϑ)` has the Dirac delta as derivative, useless for
//! backpropagation. Training keeps the step in the forward pass and uses a
//! smooth φ(x), `x = v − ϑ`, in the backward pass. Every φ here has a width τ
//! (small: precise spike timing; large: rate-like) and a scale α, integrates to
//! α over the real line, and tends to α·δ(x) as τ → 0.

use serde::{Deserialize, Serialize};

/// The shape of the nascent delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SurrogateKind {
    /// `α/(2τ)` on `|x| < τ`, else 0 (rectangular).
    Box,
    /// `(α/τ)·σ(x/τ)·(1 − σ(x/τ))`: derivative of the sigmoid `σ(x/τ)`.
    Sigmoid,
    /// `(α/2τ)·exp(−|x|/τ)`: double exponential / Laplace (SLAYER).
    Exponential,
    /// `(α/2τ)/(1 + |x|/τ)²`: SuperSpike's fast sigmoid.
    FastSigmoid,
    /// `(α/τ)·max(0, 1 − |x|/τ)`: triangle.
    Triangle,
}

/// A nascent delta with width `tau` and scale `alpha`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Surrogate {
    /// Shape.
    pub kind: SurrogateKind,
    /// Width τ > 0, in units of the voltage.
    pub tau: f32,
    /// Scale α: the integral of φ.
    pub alpha: f32,
}

impl Surrogate {
    /// φ(x) at `x = v − ϑ`.
    ///
    /// ```
    /// use lca::neuron::{Surrogate, SurrogateKind};
    /// let phi = Surrogate { kind: SurrogateKind::Box, tau: 0.5, alpha: 1.0 };
    /// assert_eq!(phi.grad(0.2), 1.0);
    /// assert_eq!(phi.grad(0.7), 0.0);
    /// ```
    #[inline]
    pub fn grad(&self, x: f32) -> f32 {
        let (tau, alpha) = (self.tau, self.alpha);
        let r = x.abs() / tau;
        match self.kind {
            SurrogateKind::Box => {
                if r < 1.0 {
                    alpha / (2.0 * tau)
                } else {
                    0.0
                }
            }
            SurrogateKind::Sigmoid => {
                let s = 1.0 / (1.0 + (-r).exp());
                alpha / tau * s * (1.0 - s)
            }
            SurrogateKind::Exponential => alpha / (2.0 * tau) * (-r).exp(),
            SurrogateKind::FastSigmoid => alpha / (2.0 * tau) / ((1.0 + r) * (1.0 + r)),
            SurrogateKind::Triangle => alpha / tau * (1.0 - r).max(0.0),
        }
    }

    /// The smooth step `S(x) = ∫_{−∞}^x φ`, rising from 0 to α, whose
    /// derivative is exactly [`Surrogate::grad`]. Networks use it as a
    /// differentiable stand-in for `H(v − ϑ)` when checking backpropagation
    /// against finite differences.
    ///
    /// ```
    /// use lca::neuron::{Surrogate, SurrogateKind};
    /// let phi = Surrogate { kind: SurrogateKind::Triangle, tau: 1.0, alpha: 2.0 };
    /// assert_eq!(phi.primitive(-1.5), 0.0);
    /// assert_eq!(phi.primitive(0.0), 1.0);
    /// assert_eq!(phi.primitive(1.5), 2.0);
    /// ```
    #[inline]
    pub fn primitive(&self, x: f32) -> f32 {
        let (tau, alpha) = (self.tau, self.alpha);
        let r = x / tau;
        match self.kind {
            SurrogateKind::Box => alpha * ((r + 1.0) * 0.5).clamp(0.0, 1.0),
            SurrogateKind::Sigmoid => alpha / (1.0 + (-r).exp()),
            SurrogateKind::Exponential => {
                if r < 0.0 {
                    0.5 * alpha * r.exp()
                } else {
                    alpha * (1.0 - 0.5 * (-r).exp())
                }
            }
            SurrogateKind::FastSigmoid => 0.5 * alpha * (1.0 + r / (1.0 + r.abs())),
            SurrogateKind::Triangle => {
                if r <= -1.0 {
                    0.0
                } else if r <= 0.0 {
                    0.5 * alpha * (1.0 + r) * (1.0 + r)
                } else if r < 1.0 {
                    alpha * (1.0 - 0.5 * (1.0 - r) * (1.0 - r))
                } else {
                    alpha
                }
            }
        }
    }

    /// Writes the smooth step `S(v − ϑ)` (see [`Surrogate::primitive`]) for
    /// every neuron into `out`: the differentiable counterpart of
    /// [`crate::neuron::fire`].
    #[inline]
    pub fn primitive_slice(&self, v: &[f32], threshold: f32, out: &mut [f32]) {
        assert_eq!(v.len(), out.len());
        for (o, &vi) in out.iter_mut().zip(v) {
            *o = self.primitive(vi - threshold);
        }
    }

    /// Writes `φ(v − ϑ)` for every neuron into `out`.
    #[inline]
    pub fn grad_slice(&self, v: &[f32], threshold: f32, out: &mut [f32]) {
        assert_eq!(v.len(), out.len());
        for (o, &vi) in out.iter_mut().zip(v) {
            *o = self.grad(vi - threshold);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [SurrogateKind; 5] = [
        SurrogateKind::Box,
        SurrogateKind::Sigmoid,
        SurrogateKind::Exponential,
        SurrogateKind::FastSigmoid,
        SurrogateKind::Triangle,
    ];

    /// Midpoint rule over [−L, L], in f64.
    fn integral(phi: &Surrogate, half_width: f64, steps: usize) -> f64 {
        let h = 2.0 * half_width / steps as f64;
        (0..steps)
            .map(|k| f64::from(phi.grad((-half_width + (k as f64 + 0.5) * h) as f32)) * h)
            .sum()
    }

    #[test]
    fn every_surrogate_integrates_to_alpha() {
        for kind in KINDS {
            for (tau, alpha) in [(0.5f32, 1.0f32), (0.1, 0.3), (2.0, 5.0)] {
                let phi = Surrogate { kind, tau, alpha };
                // The fast sigmoid has 1/x² tails: integrate far out.
                let width = if kind == SurrogateKind::FastSigmoid {
                    2e4
                } else {
                    60.0
                };
                let got = integral(&phi, f64::from(tau) * width, 400_000);
                assert!(
                    (got - f64::from(alpha)).abs() < 2e-3 * f64::from(alpha),
                    "{kind:?} τ={tau}: ∫φ = {got}"
                );
            }
        }
    }

    #[test]
    fn primitive_is_the_antiderivative_of_grad() {
        for kind in KINDS {
            let phi = Surrogate {
                kind,
                tau: 0.7,
                alpha: 1.3,
            };
            assert!(phi.primitive(-1e4) < 1e-3, "{kind:?}");
            assert!((phi.primitive(1e4) - 1.3).abs() < 1e-3, "{kind:?}");
            for k in -40..=40 {
                let x = k as f64 * 0.0731 + 0.013;
                let h = 1e-3;
                let fd = (f64::from(phi.primitive((x + h) as f32))
                    - f64::from(phi.primitive((x - h) as f32)))
                    / (2.0 * h);
                let g = f64::from(phi.grad(x as f32));
                assert!(
                    (fd - g).abs() < 2e-3 * (1.0 + g.abs()),
                    "{kind:?} x={x}: {fd} vs {g}"
                );
            }
        }
    }

    #[test]
    fn surrogates_narrow_as_tau_shrinks() {
        for kind in KINDS {
            let mass_near_zero = |tau: f32| {
                let phi = Surrogate {
                    kind,
                    tau,
                    alpha: 1.0,
                };
                integral(&phi, 0.1, 20_000)
            };
            let (wide, narrow) = (mass_near_zero(1.0), mass_near_zero(0.01));
            assert!(narrow > 0.9 && narrow > wide, "{kind:?}: {wide} → {narrow}");
        }
    }
}
