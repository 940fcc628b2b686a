//! Jumping straight to the fixed point the LCA dynamics are heading for.
//!
//! Once the set of active neurons and their signs stop changing, the rate-LCA
//! dynamics with the soft threshold are linear: active outputs obey
//! `Φ_SᵀΦ_S a_S = b_S − λ s` at the fixed point (`s` the signs). Solving that
//! small system — through a Cholesky factor kept up to date as the support
//! changes ([`super::gram_factor`]) — lands where many small steps would
//! converge. A self-consistent jump (the outputs it implies keep exactly the
//! frozen support and signs) is an exact fixed point of the dynamics, i.e. the
//! LASSO solution; an inconsistent one still moves to a state of lower energy
//! with a better support, as in the feature-sign search of Lee et al. (2007),
//! and the dynamics go on from there.

use crate::Dictionary;
use crate::neuron::{Threshold, Transfer};
use crate::solver::gram_factor::GramFactor;

/// Work buffers for [`try_fixed_point`], sized once per worker. The Gram
/// factor carries over from jump to jump and from signal to signal.
pub(crate) struct ProjectionScratch {
    factor: GramFactor,
    rhs: Vec<f64>,
    target: Vec<f64>,
    solution: Vec<f64>,
    /// Holds `G a*` while a jump checks consistency.
    u: Vec<f32>,
}

impl ProjectionScratch {
    pub(crate) fn new(n_atoms: usize, n_features: usize) -> Self {
        let s = n_features.min(n_atoms);
        ProjectionScratch {
            factor: GramFactor::new(n_atoms, n_features),
            rhs: vec![0.0; s],
            target: vec![0.0; s],
            solution: vec![0.0; n_atoms],
            u: vec![0.0; n_atoms],
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
    // Φ_SᵀΦ_S a_S = b_S − λ s through the incrementally updated factor.
    if !scratch.factor.sync(dict, active) {
        return Jump::Rejected;
    }
    let rhs = &mut scratch.rhs[..s];
    for (r, &i) in rhs.iter_mut().zip(scratch.factor.order()) {
        *r = f64::from(b[i]) - f64::from(lambda.copysign(a[i]));
    }
    scratch.factor.solve(rhs);
    for (&r, &i) in rhs.iter().zip(scratch.factor.order()) {
        scratch.solution[i] = r;
    }
    let target = &mut scratch.target[..s];
    for (t, &i) in target.iter_mut().zip(active) {
        *t = scratch.solution[i];
    }
    let target = &scratch.target[..s];

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
    for (&t, &i) in target.iter().zip(active) {
        a[i] = t as f32; // zero outside the support already
    }
    let c = &mut scratch.u;
    inhibit(dict, a, active, c);
    // One pass: move every neuron to u*, except those a* drives past the
    // threshold from rest — they are parked at the threshold for the dynamics,
    // and only the strongest is admitted with its exact coordinate-wise
    // optimum |u*_i| − λ (unit-norm atoms). Both keep the energy decreasing.
    let mut strongest: Option<(usize, f32)> = None;
    let mut best = 0.0f32;
    let nonneg = transfer.nonneg;
    // The soft threshold (the only one jumps handle), inlined for the hot pass.
    let soft = |v: f32| {
        let on = (v - lambda).max(0.0);
        if nonneg {
            on
        } else {
            on - (-v - lambda).max(0.0)
        }
    };
    for (i, ((ui, ai), (&ci, &bi))) in u
        .iter_mut()
        .zip(a.iter_mut())
        .zip(c.iter().zip(b))
        .enumerate()
    {
        let target_u = bi - ci;
        let out = soft(target_u);
        if *ai == 0.0 && out != 0.0 {
            if out.abs() > best {
                best = out.abs();
                strongest = Some((i, target_u));
            }
            *ui = lambda.copysign(target_u);
        } else {
            *ui = target_u;
            *ai = out;
        }
    }
    match strongest {
        Some((j, target_u)) => {
            u[j] = target_u;
            a[j] = transfer.value(target_u);
            Jump::Improved
        }
        None => Jump::Converged,
    }
}
