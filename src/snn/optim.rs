//! Adam (Kingma & Ba 2015) over a flat parameter vector.

use serde::{Deserialize, Serialize};

/// Adam's moment estimates and settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Exponential decay of the first moment.
    pub beta1: f32,
    /// Exponential decay of the second moment.
    pub beta2: f32,
    /// Added to the root of the second moment.
    pub eps: f32,
    m: Vec<f32>,
    v: Vec<f32>,
    t: u32,
}

impl Adam {
    /// Fresh moments for `n` parameters, with the usual β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    pub fn new(n: usize) -> Self {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// One step `θ ← θ − lr·m̂/(√v̂ + ε)` with bias-corrected moments.
    ///
    /// ```
    /// use lca::snn::Adam;
    /// let mut adam = Adam::new(1);
    /// let mut x = [3.0f32];
    /// for _ in 0..2000 {
    ///     let g = [2.0 * x[0]]; // d/dx x²
    ///     adam.step(&mut x, &g, 0.01);
    /// }
    /// assert!(x[0].abs() < 1e-2);
    /// ```
    pub fn step(&mut self, params: &mut [f32], grad: &[f32], lr: f32) {
        assert!(params.len() == self.m.len() && grad.len() == self.m.len());
        self.t += 1;
        let c1 = 1.0 - self.beta1.powi(self.t as i32);
        let c2 = 1.0 - self.beta2.powi(self.t as i32);
        let step = lr / c1;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        for ((p, &g), (m, v)) in params
            .iter_mut()
            .zip(grad)
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= step * *m / ((*v / c2).sqrt() + eps);
        }
    }

    /// Adam with decoupled weight decay (AdamW, Loshchilov & Hutter 2019):
    /// the parameters in `decayed` first shrink by `lr·weight_decay·θ`, then
    /// the Adam step of [`Adam::step`] follows (it does not depend on θ, so
    /// the order does not matter). The moments see the loss gradient only.
    ///
    /// ```
    /// use lca::snn::Adam;
    /// let (mut a, mut b) = (Adam::new(2), Adam::new(2));
    /// let (mut x, mut y) = ([1.0f32, 1.0], [1.0f32, 1.0]);
    /// a.step(&mut x, &[0.5, 0.5], 0.1);
    /// b.step_weight_decay(&mut y, &[0.5, 0.5], 0.1, 0.01, &[0..1]);
    /// assert_eq!(y[0], x[0] - 0.1 * 0.01 * 1.0);
    /// assert_eq!(y[1], x[1]);
    /// ```
    pub fn step_weight_decay(
        &mut self,
        params: &mut [f32],
        grad: &[f32],
        lr: f32,
        weight_decay: f32,
        decayed: &[std::ops::Range<usize>],
    ) {
        if weight_decay != 0.0 {
            let shrink = lr * weight_decay;
            for r in decayed {
                for p in &mut params[r.clone()] {
                    *p -= shrink * *p;
                }
            }
        }
        self.step(params, grad, lr);
    }
}
