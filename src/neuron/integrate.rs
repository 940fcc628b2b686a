//! Leaky integration of a membrane state: `τ u̇ = d − u`.
//!
//! Both discretisations reduce to `u ← u + k (d − u)` with a per-step gain `k`;
//! only `k` differs, so a single kernel serves both.

use serde::{Deserialize, Serialize};

/// How the continuous dynamics `τ u̇ = d − u` are discretised with step `dt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Integrator {
    /// `k = dt/τ`: the classic LCA update; unstable for `dt/τ > 2`.
    #[default]
    ForwardEuler,
    /// `k = 1 − exp(−dt/τ)`: exact for a constant drive over the step, so the
    /// leak can never overshoot, whatever `dt/τ`.
    ExponentialEuler,
}

impl Integrator {
    /// Fraction of the distance to the drive closed in one step of `dt`.
    ///
    /// ```
    /// use lca::neuron::Integrator;
    /// assert_eq!(Integrator::ForwardEuler.gain(0.1, 1.0), 0.1);
    /// let k = Integrator::ExponentialEuler.gain(10.0, 1.0);
    /// assert!(k < 1.0 && k > 0.9999);
    /// ```
    pub fn gain(self, dt: f32, tau: f32) -> f32 {
        let r = f64::from(dt) / f64::from(tau);
        match self {
            Integrator::ForwardEuler => r as f32,
            Integrator::ExponentialEuler => (-(-r).exp_m1()) as f32,
        }
    }
}

/// One leaky step `u ← u + k (drive − inhibition − u)` for every neuron.
///
/// Returns `max |drive − inhibition − u|` before the step: the distance from
/// the fixed point, which solvers use as their stopping criterion, computed in
/// the same pass so convergence checks cost no extra sweep.
///
/// ```
/// use lca::neuron::leaky_step;
/// let mut u = [0.0, 1.0];
/// let r = leaky_step(&mut u, &[1.0, 1.0], &[0.0, 0.5], 0.5);
/// assert_eq!(u, [0.5, 0.75]);
/// assert_eq!(r, 1.0);
/// ```
#[inline]
pub fn leaky_step(u: &mut [f32], drive: &[f32], inhibition: &[f32], gain: f32) -> f32 {
    assert!(u.len() == drive.len() && u.len() == inhibition.len());
    // Sixteen independent running maxima (one AVX-512 register) so the
    // reduction vectorises; a single `f32::max` chain would stay scalar.
    const LANES: usize = 16;
    let mut worst = [0.0f32; LANES];
    let mut u_chunks = u.chunks_exact_mut(LANES);
    let mut d_chunks = drive.chunks_exact(LANES);
    let mut c_chunks = inhibition.chunks_exact(LANES);
    for ((uc, dc), cc) in (&mut u_chunks).zip(&mut d_chunks).zip(&mut c_chunks) {
        for l in 0..LANES {
            let delta = dc[l] - cc[l] - uc[l];
            let m = delta.abs();
            worst[l] = if m > worst[l] { m } else { worst[l] };
            uc[l] += gain * delta;
        }
    }
    let mut tail = 0.0f32;
    for ((ui, &di), &ci) in u_chunks
        .into_remainder()
        .iter_mut()
        .zip(d_chunks.remainder())
        .zip(c_chunks.remainder())
    {
        let delta = di - ci - *ui;
        tail = tail.max(delta.abs());
        *ui += gain * delta;
    }
    worst.iter().fold(tail, |m, &w| m.max(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_euler_matches_the_exact_solution_for_constant_drive() {
        // u(t) = d (1 − e^{−t/τ}) from u(0) = 0.
        let (dt, tau, d) = (0.3f32, 2.0f32, 1.5f32);
        let k = Integrator::ExponentialEuler.gain(dt, tau);
        let mut u = [0.0f32];
        for _ in 0..10 {
            leaky_step(&mut u, &[d], &[0.0], k);
        }
        let exact = d * (1.0 - (-(10.0 * dt) / tau).exp());
        assert!((u[0] - exact).abs() < 1e-5);
    }

    #[test]
    fn exponential_euler_never_overshoots() {
        let k = Integrator::ExponentialEuler.gain(1000.0, 1.0);
        let mut u = [0.0f32];
        leaky_step(&mut u, &[1.0], &[0.0], k);
        assert!(u[0] <= 1.0 && u[0] > 0.999);
    }
}
