//! Classification losses on the network output `[steps × classes]` and their
//! gradients with respect to that output.

use serde::{Deserialize, Serialize};

/// A loss, with the output it expects (spikes or readout voltages).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Loss {
    /// Cross-entropy of the softmax of spike counts `c_k = Σ_t s_k[t]`.
    /// Needs a spiking output layer.
    SpikeCount,
    /// Time-to-first-spike cross-entropy (Wunderlich & Pehle 2021):
    /// `−log softmax(−t/τ₀)_y + γ·(exp(t_y/τ₁) − 1)`, first-spike times in
    /// steps. In discrete time `t_k = Σ_{t=1}^{T} Π_{t'<t} (1 − s_k[t'])`,
    /// which equals the first spike step for binary spikes (`T` if silent) and
    /// is differentiable in the spikes. Needs a spiking output layer.
    FirstSpike {
        /// Temperature τ₀ of the softmax, in steps.
        tau0: f32,
        /// Time scale τ₁ of the regulariser, in steps.
        tau1: f32,
        /// Weight γ of the regulariser pushing the right neuron to fire early.
        gamma: f32,
    },
    /// Cross-entropy of the softmax of `max_t v_k[t]` of a readout.
    MaxVoltage,
    /// Cross-entropy of the softmax of the time-averaged readout voltage
    /// `(1/T) Σ_t v_k[t]` (the integral).
    MeanVoltage,
    /// Cross-entropy of the exponentially weighted readout voltage
    /// `Σ_t w_t v_k[t]` with `w_t = e^{−t/τ} / Σ_s e^{−s/τ}` (the
    /// exponentially weighted average readout of Nowotny et al.'s loss
    /// shaping): early steps count more, which rewards early decisions.
    ExpVoltage {
        /// Decay time τ of the weights, in steps.
        tau: f32,
    },
}

impl Loss {
    /// Whether the loss reads readout voltages (else spikes).
    pub fn needs_readout(&self) -> bool {
        matches!(
            self,
            Loss::MaxVoltage | Loss::MeanVoltage | Loss::ExpVoltage { .. }
        )
    }

    /// Per-class scores (larger: more likely) of an output `[steps × classes]`.
    pub fn scores(&self, out: &[f32], steps: usize, classes: usize) -> Vec<f32> {
        match *self {
            Loss::SpikeCount => (0..classes)
                .map(|k| (0..steps).map(|t| out[t * classes + k]).sum())
                .collect(),
            Loss::FirstSpike { tau0, .. } => (0..classes)
                .map(|k| -first_spike(out, steps, classes, k).0 / tau0)
                .collect(),
            Loss::MaxVoltage => (0..classes)
                .map(|k| {
                    (0..steps)
                        .map(|t| out[t * classes + k])
                        .fold(f32::NEG_INFINITY, f32::max)
                })
                .collect(),
            Loss::MeanVoltage => (0..classes)
                .map(|k| (0..steps).map(|t| out[t * classes + k]).sum::<f32>() / steps as f32)
                .collect(),
            Loss::ExpVoltage { tau } => {
                let w = exp_weights(steps, tau);
                (0..classes)
                    .map(|k| (0..steps).map(|t| w[t] * out[t * classes + k]).sum())
                    .collect()
            }
        }
    }

    /// Predicted class: the largest score; ties go to the larger total
    /// output (spike count or voltage), then to the lower index.
    pub fn predict(&self, out: &[f32], steps: usize, classes: usize) -> usize {
        let scores = self.scores(out, steps, classes);
        let total = |k: usize| (0..steps).map(|t| out[t * classes + k]).sum::<f32>();
        let mut best = 0;
        for k in 1..classes {
            if scores[k] > scores[best] || (scores[k] == scores[best] && total(k) > total(best)) {
                best = k;
            }
        }
        best
    }

    /// Loss of `out` for `label`, and `∂L/∂out` written into `grad`.
    pub fn value_and_grad(
        &self,
        out: &[f32],
        steps: usize,
        classes: usize,
        label: usize,
        grad: &mut [f32],
    ) -> f64 {
        grad.fill(0.0);
        let scores = self.scores(out, steps, classes);
        let (ce, dscore) = cross_entropy(&scores, label);
        match *self {
            Loss::SpikeCount => {
                for t in 0..steps {
                    grad[t * classes..(t + 1) * classes].copy_from_slice(&dscore);
                }
                ce
            }
            Loss::MeanVoltage => {
                for t in 0..steps {
                    for k in 0..classes {
                        grad[t * classes + k] = dscore[k] / steps as f32;
                    }
                }
                ce
            }
            Loss::ExpVoltage { tau } => {
                let w = exp_weights(steps, tau);
                for t in 0..steps {
                    for k in 0..classes {
                        grad[t * classes + k] = dscore[k] * w[t];
                    }
                }
                ce
            }
            Loss::MaxVoltage => {
                for k in 0..classes {
                    let mut arg = 0;
                    for t in 1..steps {
                        if out[t * classes + k] > out[arg * classes + k] {
                            arg = t;
                        }
                    }
                    if steps > 0 {
                        grad[arg * classes + k] = dscore[k];
                    }
                }
                ce
            }
            Loss::FirstSpike { tau0, tau1, gamma } => {
                let mut loss = ce;
                for k in 0..classes {
                    let (tk, dt) = first_spike(out, steps, classes, k);
                    // score = −t/τ₀
                    let mut dl_dt = -dscore[k] / tau0;
                    if k == label && gamma != 0.0 {
                        let e = (tk / tau1).exp();
                        loss += f64::from(gamma * (e - 1.0));
                        dl_dt += gamma * e / tau1;
                    }
                    for (t, d) in dt.iter().enumerate() {
                        grad[t * classes + k] = dl_dt * d;
                    }
                }
                loss
            }
        }
    }
}

/// Normalised weights `e^{−t/τ} / Σ_s e^{−s/τ}` of [`Loss::ExpVoltage`].
pub(crate) fn exp_weights(steps: usize, tau: f32) -> Vec<f32> {
    let w: Vec<f64> = (0..steps)
        .map(|t| (-(t as f64) / f64::from(tau)).exp())
        .collect();
    let sum: f64 = w.iter().sum();
    w.iter().map(|&v| (v / sum) as f32).collect()
}

/// `−log softmax(z)_y` and its gradient `softmax(z) − e_y`.
fn cross_entropy(z: &[f32], y: usize) -> (f64, Vec<f32>) {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = z.iter().map(|&v| f64::from(v - m).exp()).collect();
    let sum: f64 = e.iter().sum();
    let loss = sum.ln() - f64::from(z[y] - m);
    let g = e
        .iter()
        .enumerate()
        .map(|(k, &ek)| (ek / sum - if k == y { 1.0 } else { 0.0 }) as f32)
        .collect();
    (loss, g)
}

/// Soft first-spike time of neuron `k`, `t = Σ_{t=1}^{T} P_t` with
/// `P_t = Π_{t'<t}(1 − s[t'])`, and `∂t/∂s[j] = −P_j·R_j` where
/// `R_j = Σ_{t>j} Π_{j<t'<t}(1 − s[t'])` (`R_{T−1} = 1`, `R_j = 1 + (1 − s[j+1]) R_{j+1}`).
fn first_spike(out: &[f32], steps: usize, classes: usize, k: usize) -> (f32, Vec<f32>) {
    let s = |t: usize| out[t * classes + k];
    let mut p = vec![1.0f32; steps + 1];
    for t in 0..steps {
        p[t + 1] = p[t] * (1.0 - s(t));
    }
    let time: f32 = p[1..].iter().sum();
    let mut d = vec![0.0f32; steps];
    let mut r = 1.0f32;
    for j in (0..steps).rev() {
        if j + 1 < steps {
            r = 1.0 + (1.0 - s(j + 1)) * r;
        }
        d[j] = -p[j] * r;
    }
    (time, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_spike_time_of_binary_spikes() {
        // neuron 0 fires at step 3 and 5, neuron 1 never (T = 8)
        let mut out = vec![0.0f32; 16];
        out[3 * 2] = 1.0;
        out[5 * 2] = 1.0;
        assert_eq!(first_spike(&out, 8, 2, 0).0, 3.0);
        assert_eq!(first_spike(&out, 8, 2, 1).0, 8.0);
        let d = first_spike(&out, 8, 2, 0).1;
        // earlier spikes move the first spike earlier by (3 − j)
        assert_eq!(&d[..4], &[-3.0, -2.0, -1.0, -2.0]);
        assert_eq!(&d[4..], &[0.0; 4]);
    }
}
