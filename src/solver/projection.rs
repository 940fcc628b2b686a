//! Jumping straight to the fixed point the LCA dynamics are heading for.
//!
//! Once the set of active neurons and their signs stop changing, the rate-LCA
//! dynamics are linear: with the soft threshold, active outputs obey
//! `(G_SS + I) a_S = b_S − λ s` at the fixed point (`Φ_SᵀΦ_S a_S = b_S − λ s`),
//! and with the hard threshold `Φ_SᵀΦ_S a_S = b_S`. Solving that small system
//! (a Cholesky factorisation of |S|×|S|) lands where thousands of small steps
//! would converge. The jump is kept only when it is self-consistent — the
//! outputs it implies have exactly the frozen support and signs — in which case
//! it is an exact fixed point of the dynamics (for the soft threshold, the
//! LASSO solution); otherwise the dynamics simply continue.

use crate::Dictionary;
use crate::neuron::{Threshold, Transfer};

/// Work buffers for [`try_fixed_point`], sized once per worker.
pub(crate) struct ProjectionScratch {
    gram: Vec<f64>,
    rhs: Vec<f64>,
    u: Vec<f32>,
    a: Vec<f32>,
}

impl ProjectionScratch {
    pub(crate) fn new(n_atoms: usize, n_features: usize) -> Self {
        let s = n_features.min(n_atoms);
        ProjectionScratch {
            gram: vec![0.0; s * s],
            rhs: vec![0.0; s],
            u: vec![0.0; n_atoms],
            a: vec![0.0; n_atoms],
        }
    }
}

/// Whether [`try_fixed_point`] applies: the soft threshold, whose fixed point
/// is the (non-negative) LASSO solution, a convex problem.
pub(crate) fn supports(transfer: &Transfer) -> bool {
    transfer.threshold == Threshold::Soft
}

/// What a jump achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Jump {
    /// Landed on a self-consistent, exact fixed point: the signal is solved.
    Converged,
    /// Moved to a state of lower energy with a better support; keep iterating.
    Improved,
    /// Nothing changed (the frozen system was singular).
    Rejected,
}

/// Jumps from `(u, a)` towards the fixed point with the support `active` and
/// the signs of `a` frozen (soft threshold only; see [`supports`]).
///
/// Let `a*` solve the frozen system. Three outcomes, each lowering the energy
/// (the LASSO objective is a convex quadratic on the frozen orthant, minimised
/// by `a*`), as in the feature-sign search of Lee et al. (2007):
/// - `a*` keeps every sign and no inactive neuron is driven past λ: the exact
///   fixed point, [`Jump::Converged`];
/// - `a*` keeps every sign but some inactive neurons are driven past λ: move
///   to `a*`, admit the most strongly driven neuron with the output an exact
///   coordinate-descent step gives it, and park the others at the threshold;
/// - some sign flips: move along the segment from `a` to `a*` up to the first
///   zero crossing and drop the neuron(s) that reach zero.
///
/// `inhibit` computes `c = G a` for a sparse `a` (the solver's own kernel).
#[allow(clippy::too_many_arguments)]
pub(crate) fn try_fixed_point(
    dict: &Dictionary,
    b: &[f32],
    transfer: &Transfer,
    u: &mut [f32],
    a: &mut [f32],
    active: &[usize],
    scratch: &mut ProjectionScratch,
    inhibit: impl Fn(&Dictionary, &[f32], &[usize], &mut [f32]),
) -> Jump {
    let s = active.len();
    if s > scratch.rhs.len() {
        return Jump::Rejected; // more atoms than dimensions: Φ_SᵀΦ_S is singular
    }
    let lambda = transfer.lambda;
    // Φ_SᵀΦ_S = G_SS + I and the right-hand side b_S − λ s, in f64.
    let gram = &mut scratch.gram[..s * s];
    let target = &mut scratch.rhs[..s];
    for (p, &i) in active.iter().enumerate() {
        let column = dict.inhibition_column(i);
        for (q, &j) in active.iter().enumerate().take(p + 1) {
            gram[p * s + q] = f64::from(column[j]);
        }
        gram[p * s + p] += 1.0;
        target[p] = f64::from(b[i]) - f64::from(lambda.copysign(a[i]));
    }
    if !cholesky_solve(gram, target, s) {
        return Jump::Rejected;
    }

    // First zero crossing on the segment a → a*, if any sign flips.
    let mut step = 1.0f64;
    for (p, &i) in active.iter().enumerate() {
        let (from, to) = (f64::from(a[i]), target[p]);
        if to * from <= 0.0 {
            step = step.min(from / (from - to));
        }
    }
    if step < 1.0 {
        for (p, &i) in active.iter().enumerate() {
            let (from, to) = (f64::from(a[i]), target[p]);
            let crossed = to * from <= 0.0 && from / (from - to) <= step;
            let v = if crossed {
                0.0
            } else {
                (from + step * (to - from)) as f32
            };
            // Keep T(u) = a: active neurons sit λ beyond their output, dropped
            // ones at the threshold, inactive ones where they are.
            a[i] = v;
            u[i] = if v == 0.0 {
                lambda.copysign(from as f32)
            } else {
                v + lambda.copysign(v)
            };
        }
        return Jump::Improved;
    }

    // Signs hold: u* = b − G a* is where every neuron settles given a*.
    scratch.a.fill(0.0);
    for (p, &i) in active.iter().enumerate() {
        scratch.a[i] = target[p] as f32;
    }
    inhibit(dict, &scratch.a, active, &mut scratch.u);
    for (ui, &bi) in scratch.u.iter_mut().zip(b) {
        *ui = bi - *ui;
    }
    transfer.apply(&scratch.u, &mut scratch.a);
    // Neurons a* drives past the threshold: admit the strongest with its exact
    // coordinate-wise optimum |u*_i| − λ (unit-norm atoms), park the others at
    // the threshold for the dynamics. Both keep the energy decreasing.
    let mut strongest: Option<usize> = None;
    for i in 0..scratch.a.len() {
        if scratch.a[i] != 0.0 && a[i] == 0.0 {
            if strongest.is_none_or(|j| scratch.a[i].abs() > scratch.a[j].abs()) {
                strongest = Some(i);
            }
        }
    }
    if let Some(j) = strongest {
        for i in 0..scratch.a.len() {
            if i != j && scratch.a[i] != 0.0 && a[i] == 0.0 {
                scratch.u[i] = lambda.copysign(scratch.u[i]);
                scratch.a[i] = 0.0;
            }
        }
    }
    u.copy_from_slice(&scratch.u);
    a.copy_from_slice(&scratch.a);
    if strongest.is_some() {
        Jump::Improved
    } else {
        Jump::Converged
    }
}

/// Solves `M x = rhs` in place for symmetric positive definite `M` (lower
/// triangle given, row-major `s×s`); `false` if `M` is not safely positive.
/// Inner product with four independent accumulators, so it vectorises.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[inline(never)]
fn cholesky_solve(m: &mut [f64], rhs: &mut [f64], s: usize) -> bool {
    // Row-oriented: every inner product runs over contiguous row prefixes.
    for i in 0..s {
        let (done, rest) = m.split_at_mut(i * s);
        let row_i = &mut rest[..s];
        for j in 0..i {
            let row_j = &done[j * s..j * s + j + 1];
            let v = row_i[j] - dot(&row_i[..j], &row_j[..j]);
            row_i[j] = v / row_j[j];
        }
        let d = row_i[i] - dot(&row_i[..i], &row_i[..i]);
        if d.is_nan() || d <= 1e-10 {
            return false;
        }
        row_i[i] = d.sqrt();
    }
    for i in 0..s {
        let row = &m[i * s..i * s + i + 1];
        rhs[i] = (rhs[i] - dot(&row[..i], &rhs[..i])) / row[i];
    }
    for i in (0..s).rev() {
        let mut v = rhs[i];
        for k in i + 1..s {
            v -= m[k * s + i] * rhs[k];
        }
        rhs[i] = v / m[i * s + i];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::cholesky_solve;

    #[test]
    fn cholesky_solves_a_small_system() {
        // M = [[4, 2], [2, 3]], x = [1, -1] → rhs = [2, -1]
        let mut m = vec![4.0, 0.0, 2.0, 3.0];
        let mut rhs = vec![2.0, -1.0];
        assert!(cholesky_solve(&mut m, &mut rhs, 2));
        assert!((rhs[0] - 1.0).abs() < 1e-12 && (rhs[1] + 1.0).abs() < 1e-12);
        let mut singular = vec![1.0, 0.0, 1.0, 1.0];
        assert!(!cholesky_solve(&mut singular, &mut [1.0, 1.0], 2));
    }
}
