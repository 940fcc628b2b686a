//! Jumping straight to the fixed point the LCA dynamics are heading for.
//!
//! With the soft threshold, once the set `S` of active neurons and their signs
//! `s` are frozen, the LCA dynamics are linear and settle where
//! `Φ_SᵀΦ_S a_S = b_S − λ s`. Solving that small system — through a Cholesky
//! factor kept up to date as `S` changes (`gram_factor`) — lands where
//! many small steps would converge. The continuation chains such
//! jumps, each lowering the energy as in the feature-sign search of Lee et al.
//! (2007), until one is self-consistent: the outputs it implies keep exactly the
//! frozen support and signs and drive no other neuron past λ. That state is an
//! exact fixed point of the dynamics, i.e. the LASSO solution.
//!
//! Each jump costs one triangular solve (`O(|S|²)`) and, when it is accepted,
//! one sparse inhibition pass (`O(n_atoms·|S|)`); the pass over all neurons is
//! branch-free so it vectorises.

use crate::Dictionary;
use crate::neuron::{Threshold, Transfer};
use crate::solver::gram_factor::GramFactor;
use crate::solver::objective::sparse_energy_terms;

/// Work buffers for [`Chain::run`], sized once per worker. The
/// Gram factor carries over from signal to signal.
pub(crate) struct ProjectionScratch {
    factor: GramFactor,
    support: Vec<usize>,
    rhs: Vec<f64>,
    /// `G a` of the latest accepted jump.
    inhibition: Vec<f32>,
}

impl ProjectionScratch {
    pub(crate) fn new(n_atoms: usize, n_features: usize) -> Self {
        ProjectionScratch {
            factor: GramFactor::new(n_atoms, n_features),
            support: Vec::with_capacity(n_atoms),
            rhs: vec![0.0; n_features.min(n_atoms)],
            inhibition: vec![0.0; n_atoms],
        }
    }
}

/// Whether [`Chain::run`] applies: the soft threshold, whose fixed
/// point is the (non-negative) LASSO solution, a convex problem.
pub(crate) fn supports(transfer: &Transfer) -> bool {
    transfer.threshold == Threshold::Soft
}

/// Why a chain of jumps ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChainEnd {
    /// On the exact fixed point: the LASSO solution.
    Solved,
    /// Every allowed jump was spent.
    OutOfJumps,
    /// A jump failed to lower the energy or no recruit could be admitted
    /// (a degenerate or ill-conditioned support).
    Stalled,
}

/// How a continuation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Continuation {
    pub end: ChainEnd,
    /// Jumps taken.
    pub jumps: u32,
}

/// The fixed problem of one signal a chain of jumps works on.
pub(crate) struct Chain<'a, I> {
    pub dict: &'a Dictionary,
    /// Drive `b = Φᵀx`.
    pub b: &'a [f32],
    /// Soft threshold (see [`supports`]).
    pub transfer: &'a Transfer,
    /// Most jumps before the chain hands over to the dynamics.
    pub max_jumps: u32,
    /// How far past λ a silent neuron may be driven and still count as settled.
    pub slack: f32,
    /// `c = G a` over the active neurons (the solver's vectorised kernel).
    pub inhibit: I,
}

impl<I: Fn(&Dictionary, &[f32], &[usize], &mut [f32])> Chain<'_, I> {
    /// Jumps from `(u, a)` (with `T(u) = a`) until the exact fixed point or until
    /// `max_jumps` is spent. A silent neuron driven past λ by no more than
    /// `slack` counts as settled: the solver's tolerance on the distance to the
    /// fixed point, which also keeps rounding noise (λ = 0, supports as large as
    /// the dimension) from being mistaken for a violation.
    ///
    /// Let `a*` solve the system of the current support and signs. Each jump
    /// lowers the energy (a convex quadratic on the frozen orthant, minimised by
    /// `a*`):
    /// - some sign flips on the segment `a → a*`: move to the first zero crossing
    ///   and drop the neuron(s) reaching zero;
    /// - every sign holds: move to `a*` and let every neuron settle at
    ///   `u* = b − G a*`. If no inactive neuron is driven past λ this is the exact
    ///   fixed point; otherwise admit the most strongly driven ones (at most
    ///   [`MAX_RECRUITS`]) with the outputs exact coordinate-descent steps give
    ///   them, `|u*_i| − λ` (unit-norm atoms), shrunk jointly so the energy still
    ///   falls ([`scale_joint_step`]); a recruit in the span of the support is
    ///   swapped in instead ([`swap_in`]).
    ///
    /// An accepted jump that fails to lower the energy (possible only through
    /// rounding, with frozen systems near singular) ends the chain.
    ///
    /// Unsolved, the state is left consistent (`T(u) = a`) for the dynamics to go
    /// on from; solved, `u = u*` and `a = a*`.
    pub(crate) fn run(
        &self,
        u: &mut [f32],
        a: &mut [f32],
        scratch: &mut ProjectionScratch,
    ) -> Continuation {
        continue_to_fixed_point(self, u, a, scratch)
    }
}

fn continue_to_fixed_point<I: Fn(&Dictionary, &[f32], &[usize], &mut [f32])>(
    chain: &Chain<'_, I>,
    u: &mut [f32],
    a: &mut [f32],
    scratch: &mut ProjectionScratch,
) -> Continuation {
    let Chain {
        dict,
        b,
        transfer,
        max_jumps,
        slack,
        ref inhibit,
    } = *chain;
    let lambda = transfer.lambda;
    let nonneg = transfer.nonneg;
    let ProjectionScratch {
        factor,
        support,
        rhs,
        inhibition,
    } = scratch;
    support.clear();
    support.extend(
        a.iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, _)| i),
    );
    let mut jumps = 0;
    // Each atom's right-hand side b_i − λ·s_i: fixed while it stays active,
    // since a sign change always passes through zero and drops the atom.
    let target = |i: usize, sign: f32| f64::from(b[i]) - f64::from(lambda.copysign(sign));
    if !factor.sync(dict, support, |i| target(i, a[i])) {
        // Too many or dependent atoms to start from: start from rest instead.
        a.fill(0.0);
        factor.sync(dict, &[], |_| 0.0);
    }
    let mut accepted_energy = f64::INFINITY;
    let mut end = ChainEnd::OutOfJumps;
    'jumps: while jumps < max_jumps {
        jumps += 1;
        // a* of the frozen support and signs, in the factor's row order.
        let s = factor.order().len();
        let rhs = &mut rhs[..s];
        factor.solve_kept(rhs);

        // First zero crossing on the segment a → a*, if any sign flips.
        let mut step = 1.0f64;
        for (&to, &i) in rhs.iter().zip(factor.order()) {
            let from = f64::from(a[i]);
            if to * from <= 0.0 {
                step = step.min(from / (from - to));
            }
        }
        if step < 1.0 {
            support.clear();
            for (&to, &i) in rhs.iter().zip(factor.order()) {
                let from = f64::from(a[i]);
                if to * from <= 0.0 && from / (from - to) <= step {
                    a[i] = 0.0;
                    support.push(i);
                } else {
                    a[i] = (from + step * (to - from)) as f32;
                }
            }
            for &i in support.iter() {
                factor.remove_atom(i);
            }
            continue;
        }

        // Every sign holds: settle all neurons at u* = b − G a*.
        for (&t, &i) in rhs.iter().zip(factor.order()) {
            a[i] = t as f32;
        }
        inhibit(dict, a, factor.order(), inhibition);
        let strongest = if nonneg {
            settle::<true>(b, inhibition, a, u)
        } else {
            settle::<false>(b, inhibition, a, u)
        };
        // Every accepted jump must lower the energy (up to the constant
        // ½‖x‖²: −aᵀb + ½aᵀGa + ½‖a‖² + λ‖a‖₁). It cannot in exact arithmetic,
        // but with supports as large as the dimension the frozen systems can be
        // too ill-conditioned for f32 inhibition weights, and jumps would cycle.
        let (quadratic, l1) = sparse_energy_terms(b, a, inhibition, factor.order());
        let energy = 0.5 * quadratic + f64::from(lambda) * l1;
        if energy >= accepted_energy {
            end = ChainEnd::Stalled;
            break 'jumps;
        }
        accepted_energy = energy;
        if strongest <= lambda + slack {
            return Continuation {
                end: ChainEnd::Solved,
                jumps,
            };
        }
        // Admit the most strongly driven inactive neurons (the first, on ties).
        let floor = lambda + ADMIT_FLOOR * (strongest - lambda);
        let recruits = strongest_inactive(u, a, floor, nonneg);
        let mut admitted = Recruits::default();
        for (n, &j) in recruits.iter().enumerate() {
            if factor.push(dict, j, target(j, u[j])) {
                a[j] = transfer.value(u[j]);
                admitted.offer_last(j);
            } else if n > 0 {
                break; // the next jump settles the others
            } else {
                let recruit = Recruit {
                    index: j,
                    drive: u[j],
                    rhs: target(j, u[j]),
                };
                if !swap_in(dict, recruit, a, factor, rhs, support) {
                    end = ChainEnd::Stalled;
                    break 'jumps;
                }
            }
        }
        scale_joint_step(dict, a, &admitted);
    }
    // Out of jumps (or the system turned singular): hand a consistent state
    // back to the dynamics — active neurons λ beyond their output, inactive
    // ones parked within the threshold.
    for (ui, &ai) in u.iter_mut().zip(a.iter()) {
        *ui = if ai != 0.0 {
            ai + lambda.copysign(ai)
        } else if nonneg {
            ui.min(lambda)
        } else {
            ui.clamp(-lambda, lambda)
        };
    }
    Continuation { end, jumps }
}

/// Most neurons admitted by one accepted jump. Admitting several at once cuts
/// the jumps per 8×8/128 signal from 16 to about 8 (16×16/512: 23 to 11);
/// more recruits cost more sign flips than they save.
const MAX_RECRUITS: usize = 4;
/// Recruits beyond the strongest must exceed λ by at least this fraction of
/// the strongest's excess: weakly driven neurons rarely belong to the
/// solution, and each wrong admission costs a jump to drop it again.
const ADMIT_FLOOR: f32 = 0.5;

/// The inactive neurons driven beyond `floor`, strongest first, at most
/// [`MAX_RECRUITS`] (the first index on ties). Blocks without a candidate are
/// ruled out by a branch-free test that vectorises.
fn strongest_inactive(u: &[f32], a: &[f32], floor: f32, nonneg: bool) -> Recruits {
    const BLOCK: usize = 16;
    let mut best = Recruits::default();
    for (block, (uq, aq)) in u.chunks(BLOCK).zip(a.chunks(BLOCK)).enumerate() {
        let hit = uq.iter().zip(aq).fold(false, |h, (&ui, &ai)| {
            h | ((ai == 0.0) & (drive::<false>(ui, nonneg) > floor))
        });
        if !hit {
            continue;
        }
        for (l, (&ui, &ai)) in uq.iter().zip(aq).enumerate() {
            let d = drive::<false>(ui, nonneg);
            if ai == 0.0 && d > floor {
                best.offer(block * BLOCK + l, d);
            }
        }
    }
    best
}

/// A short list of candidates kept sorted by decreasing drive.
#[derive(Default)]
struct Recruits {
    index: [usize; MAX_RECRUITS],
    drive: [f32; MAX_RECRUITS],
    len: usize,
}

impl Recruits {
    fn offer(&mut self, i: usize, d: f32) {
        let mut p = self.len;
        while p > 0 && d > self.drive[p - 1] {
            p -= 1;
        }
        if p == MAX_RECRUITS {
            return;
        }
        let end = (self.len + 1).min(MAX_RECRUITS);
        for q in (p + 1..end).rev() {
            self.index[q] = self.index[q - 1];
            self.drive[q] = self.drive[q - 1];
        }
        self.index[p] = i;
        self.drive[p] = d;
        self.len = end;
    }

    /// Appends `i` (the caller keeps the order).
    fn offer_last(&mut self, i: usize) {
        self.index[self.len] = i;
        self.len += 1;
    }

    fn iter(&self) -> std::slice::Iter<'_, usize> {
        self.index[..self.len].iter()
    }
}

/// Shrinks the outputs of neurons admitted together so the energy falls.
///
/// Each recruit's coordinate-wise optimum `δ_j` alone lowers the energy by
/// `δ_j²/2`; together they change it by `−tΣδ_j² + ½t²‖Φδ‖²` along `t·δ`,
/// which correlated atoms can make positive at `t = 1`. The best step
/// `t = min(1, Σδ_j²/‖Φδ‖²)` guarantees a decrease of at least `tΣδ_j²/2`.
fn scale_joint_step(dict: &Dictionary, a: &mut [f32], admitted: &Recruits) {
    if admitted.len < 2 {
        return;
    }
    let (mut own, mut joint) = (0.0f64, 0.0f64);
    for (p, &j) in admitted.iter().enumerate() {
        let dj = f64::from(a[j]);
        own += dj * dj;
        joint += dj * dj;
        let g = dict.inhibition_column(j);
        for &k in &admitted.index[..p] {
            joint += 2.0 * dj * f64::from(a[k]) * f64::from(g[k]);
        }
    }
    if joint > own {
        let t = own / joint;
        for &j in admitted.iter() {
            a[j] = (f64::from(a[j]) * t) as f32;
        }
    }
}

/// Admits neuron `j` when `φ_j` lies in the span of the support (the support
/// already has as many atoms as there are features, or is nearly dependent).
///
/// With `φ_j = Φ_S w`, moving `a_S ← a_S − t w`, `a_j ← t` leaves `Φa`, hence
/// the reconstruction, unchanged, while `‖a‖₁` falls at the rate
/// `λ(|wᵀs| − 1) > 0` per unit of `|t|` in the direction of `sign(u_j)`: `u_j`
/// exceeds λ exactly when `|wᵀs| > 1`, since `u_j = φ_jᵀ(x − Φa) = λ wᵀs` at
/// the frozen fixed point. The move runs to the first zero crossing, whose
/// atom leaves as `j` enters. Returns `false` if no such move exists.
/// A neuron about to join the support.
#[derive(Clone, Copy)]
struct Recruit {
    index: usize,
    /// Its state `u_j`.
    drive: f32,
    /// Its right-hand side `b_j − λ·sign(u_j)`.
    rhs: f64,
}

fn swap_in(
    dict: &Dictionary,
    recruit: Recruit,
    a: &mut [f32],
    factor: &mut GramFactor,
    w: &mut [f64],
    leaving: &mut Vec<usize>,
) -> bool {
    let Recruit {
        index: j,
        drive: u_j,
        rhs: rhs_j,
    } = recruit;
    let s = factor.order().len();
    let w = &mut w[..s];
    let column = dict.inhibition_column(j);
    for (wp, &i) in w.iter_mut().zip(factor.order()) {
        *wp = f64::from(column[i]);
    }
    factor.solve(w);
    let direction = if u_j > 0.0 { 1.0 } else { -1.0 };
    // a_i(t) = a_i − direction·t·w_i reaches zero at t = a_i / (direction·w_i).
    let mut step = f64::INFINITY;
    for (&wp, &i) in w.iter().zip(factor.order()) {
        let rate = direction * wp;
        let from = f64::from(a[i]);
        if rate * from > 0.0 {
            step = step.min(from / rate);
        }
    }
    if !step.is_finite() {
        return false;
    }
    leaving.clear();
    for (&wp, &i) in w.iter().zip(factor.order()) {
        let rate = direction * wp;
        let from = f64::from(a[i]);
        if rate * from > 0.0 && from / rate <= step {
            a[i] = 0.0;
            leaving.push(i);
        } else {
            a[i] = (from - step * rate) as f32;
        }
    }
    for &i in leaving.iter() {
        factor.remove_atom(i);
    }
    a[j] = (direction * step) as f32;
    if factor.push(dict, j, rhs_j) {
        true
    } else {
        a[j] = 0.0;
        false
    }
}

/// How strongly `u` drives a neuron towards activity: `|u|`, or `u` for
/// non-negative codes.
#[inline(always)]
fn drive<const NONNEG: bool>(u: f32, nonneg: bool) -> f32 {
    if NONNEG || nonneg { u } else { u.abs() }
}

/// Sets `u = b − c` and returns the strongest drive of an inactive neuron
/// (`a = 0`), 0 if none. Branch-free with independent lane maxima, so it
/// vectorises.
#[inline]
fn settle<const NONNEG: bool>(b: &[f32], c: &[f32], a: &[f32], u: &mut [f32]) -> f32 {
    const LANES: usize = 16;
    let n = u.len();
    let (b, c, a) = (&b[..n], &c[..n], &a[..n]);
    let mut best = [0.0f32; LANES];
    let mut uc = u.chunks_exact_mut(LANES);
    let mut bc = b.chunks_exact(LANES);
    let mut cc = c.chunks_exact(LANES);
    let mut ac = a.chunks_exact(LANES);
    for (((uq, bq), cq), aq) in (&mut uc).zip(&mut bc).zip(&mut cc).zip(&mut ac) {
        for l in 0..LANES {
            let t = bq[l] - cq[l];
            uq[l] = t;
            let d = if aq[l] == 0.0 {
                drive::<NONNEG>(t, false)
            } else {
                0.0
            };
            best[l] = if d > best[l] { d } else { best[l] };
        }
    }
    let mut tail = 0.0f32;
    for (((ui, &bi), &ci), &ai) in uc
        .into_remainder()
        .iter_mut()
        .zip(bc.remainder())
        .zip(cc.remainder())
        .zip(ac.remainder())
    {
        let t = bi - ci;
        *ui = t;
        let d = if ai == 0.0 {
            drive::<NONNEG>(t, false)
        } else {
            0.0
        };
        tail = if d > tail { d } else { tail };
    }
    best.iter().fold(tail, |m, &w| if w > m { w } else { m })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solver::lasso_energy;

    /// A fixed pseudo-random dictionary of 40 atoms in 16 dimensions.
    fn dict() -> Dictionary {
        crate::solver::test_dictionary(16, 40, 11)
    }

    fn inhibit(d: &Dictionary, a: &[f32], active: &[usize], c: &mut [f32]) {
        c.fill(0.0);
        for &j in active {
            for (ci, g) in c.iter_mut().zip(d.inhibition_column(j)) {
                *ci += a[j] * g;
            }
        }
    }

    fn signal(d: &Dictionary) -> Vec<f32> {
        let x: Vec<f32> = (0..16)
            .map(|i| {
                d.atom(3)[i] - 0.6 * d.atom(17)[i] + 0.3 * d.atom(29)[i] + 0.02 * (i as f32).sin()
            })
            .collect();
        let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt();
        x.iter().map(|v| v / norm).collect()
    }

    /// Candidates come out strongest first, at most `MAX_RECRUITS`, the first
    /// index winning ties, active neurons and those below the floor skipped.
    #[test]
    fn recruits_are_the_strongest_silent_neurons_in_order() {
        let mut u = vec![0.0f32; 40];
        let mut a = vec![0.0f32; 40];
        for (i, v) in [
            (3, 0.5),
            (17, -0.9),
            (20, 0.7),
            (21, -0.7),
            (30, 0.95),
            (33, 0.3),
            (39, 0.6),
        ] {
            u[i] = v;
        }
        a[30] = 0.85; // active: never a recruit
        let got: Vec<usize> = strongest_inactive(&u, &a, 0.4, false)
            .iter()
            .copied()
            .collect();
        assert_eq!(got, [17, 20, 21, 39][..MAX_RECRUITS.min(4)]);
        // Non-negative codes only count positive drive.
        let got: Vec<usize> = strongest_inactive(&u, &a, 0.4, true)
            .iter()
            .copied()
            .collect();
        assert_eq!(got, [20, 39, 3]);
        assert!(
            strongest_inactive(&u, &a, 1.0, false)
                .iter()
                .next()
                .is_none()
        );
    }

    /// Out of jumps, the state is consistent and no worse; resuming solves it
    /// to the point where the LASSO optimality conditions hold.
    #[test]
    fn an_interrupted_continuation_resumes_to_the_lasso_solution() {
        let d = dict();
        let x = signal(&d);
        let b: Vec<f32> = (0..40)
            .map(|j| d.atom(j).iter().zip(&x).map(|(p, v)| p * v).sum())
            .collect();
        for nonneg in [false, true] {
            let transfer = Transfer {
                threshold: Threshold::Soft,
                lambda: 0.05,
                nonneg,
            };
            let (mut u, mut a) = (vec![0.0f32; 40], vec![0.0f32; 40]);
            let mut scratch = ProjectionScratch::new(40, 16);
            let mut energy = lasso_energy(&d, &x, &a, 0.05);
            let mut total = 0;
            loop {
                let chain = Chain {
                    dict: &d,
                    b: &b,
                    transfer: &transfer,
                    max_jumps: 1,
                    slack: 0.0,
                    inhibit,
                };
                let run = chain.run(&mut u, &mut a, &mut scratch);
                total += run.jumps;
                let now = lasso_energy(&d, &x, &a, 0.05);
                assert!(now <= energy + 1e-7, "energy rose: {energy} -> {now}");
                energy = now;
                if run.end == ChainEnd::Solved {
                    break;
                }
                for (&ui, &ai) in u.iter().zip(&a) {
                    let t = transfer.value(ui);
                    assert!(
                        (t - ai).abs() <= 1e-6 * ai.abs(),
                        "inconsistent: {t} vs {ai}"
                    );
                }
                assert!(total < 200, "no convergence");
            }
            // KKT: |φ_jᵀ(x − Φa)| ≤ λ, with equality and the sign of a_j on the support.
            let mut c = vec![0.0; 40];
            let support: Vec<usize> = (0..40).filter(|&j| a[j] != 0.0).collect();
            inhibit(&d, &a, &support, &mut c);
            for j in 0..40 {
                let g = b[j] - c[j] - a[j];
                if a[j] != 0.0 {
                    assert!((g - 0.05f32.copysign(a[j])).abs() < 1e-5, "{j}: {g}");
                    assert!(!nonneg || a[j] > 0.0);
                } else if nonneg {
                    assert!(g <= 0.05 + 1e-5, "{j}: {g}");
                } else {
                    assert!(g.abs() <= 0.05 + 1e-5, "{j}: {g}");
                }
            }
            assert!(support.len() >= 3, "{support:?}");
        }
    }
}
