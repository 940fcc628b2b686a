//! The Cholesky factor of `Φ_SᵀΦ_S` for a changing set `S` of atoms.
//!
//! The fixed-point jumps of the rate LCA solve `Φ_SᵀΦ_S a_S = r` for supports
//! that differ by a few atoms from one jump to the next (and from one signal to
//! the next, since the matrix does not depend on the signal). Refactoring costs
//! O(|S|³); adding an atom (one triangular solve) or removing one (a rank-one
//! update of the trailing block) costs O(|S|²), as in LARS implementations.
//! The factor also keeps the forward half `z = L⁻¹r` of the solve for a
//! right-hand side `r` that is fixed per atom (the jumps' `b_i − λs_i`), so
//! each jump only runs the backward sweep.

use crate::Dictionary;

/// Updates between full refactorisations, bounding the drift of rounding.
const REFRESH_AFTER: usize = 256;

/// Lower-triangular `L` with `L Lᵀ = Φ_SᵀΦ_S`, rows in the order atoms joined.
pub(crate) struct GramFactor {
    order: Vec<usize>,
    /// Row-major with row stride `cap`.
    l: Vec<f64>,
    cap: usize,
    /// Position of each atom in `order`, or `usize::MAX`.
    position: Vec<usize>,
    wanted: Vec<bool>,
    work: Vec<f64>,
    updates: usize,
    /// Right-hand side of each row and the forward solution `L z = r`,
    /// maintained through pushes and removals.
    r: Vec<f64>,
    z: Vec<f64>,
}

impl GramFactor {
    /// Room for supports of up to `min(n_atoms, n_features)` atoms.
    pub(crate) fn new(n_atoms: usize, n_features: usize) -> Self {
        let cap = n_features.min(n_atoms);
        GramFactor {
            order: Vec::with_capacity(cap),
            // Grown row by row: supports stay far below `cap` in practice.
            l: Vec::new(),
            cap,
            position: vec![usize::MAX; n_atoms],
            wanted: vec![false; n_atoms],
            work: vec![0.0; cap],
            updates: 0,
            r: vec![0.0; cap],
            z: vec![0.0; cap],
        }
    }

    /// The atoms of the factor, in row order.
    pub(crate) fn order(&self) -> &[usize] {
        &self.order
    }

    fn clear(&mut self) {
        for &j in &self.order {
            self.position[j] = usize::MAX;
        }
        self.order.clear();
        self.updates = 0;
    }

    /// Makes the factor describe exactly the atoms in `support`, with the
    /// right-hand side `rhs(atom)`. Returns `false` (and leaves the factor
    /// empty) if `Φ_SᵀΦ_S` is singular or too large to factor.
    pub(crate) fn sync(
        &mut self,
        dict: &Dictionary,
        support: &[usize],
        rhs: impl Fn(usize) -> f64,
    ) -> bool {
        let ok = self.sync_atoms(dict, support);
        // Rows kept from an earlier signal carry its right-hand side: renew all.
        for (p, &j) in self.order.iter().enumerate() {
            self.r[p] = rhs(j);
        }
        let m = self.order.len();
        self.z[..m].copy_from_slice(&self.r[..m]);
        let mut z = std::mem::take(&mut self.z);
        self.forward(&mut z[..m]);
        self.z = z;
        ok
    }

    fn sync_atoms(&mut self, dict: &Dictionary, support: &[usize]) -> bool {
        if support.len() > self.cap {
            self.clear();
            return false;
        }
        if self.updates > REFRESH_AFTER {
            self.clear();
        }
        for &j in support {
            self.wanted[j] = true;
        }
        let mut p = self.order.len();
        while p > 0 {
            p -= 1;
            if !self.wanted[self.order[p]] {
                self.remove(p);
            }
        }
        let mut ok = true;
        for &j in support {
            if ok && self.position[j] == usize::MAX {
                ok = self.push(dict, j, 0.0); // right-hand sides follow
            }
            self.wanted[j] = false;
        }
        if !ok {
            self.clear();
        }
        ok
    }

    /// Appends atom `j` with right-hand side `rhs`: its row solves
    /// `L y = Φ_Sᵀφ_j`, its diagonal is `sqrt(1 − ‖y‖²)` (unit-norm atoms).
    /// Returns `false`, leaving the factor as it was, when `φ_j` is
    /// (numerically) in the span of the factor's atoms.
    pub(crate) fn push(&mut self, dict: &Dictionary, j: usize, rhs: f64) -> bool {
        let m = self.order.len();
        let cap = self.cap;
        if m == cap {
            return false;
        }
        let column = dict.inhibition_column(j);
        if self.l.len() < (m + 1) * cap {
            self.l.resize((m + 1) * cap, 0.0);
        }
        let (done, rest) = self.l.split_at_mut(m * cap);
        let row = &mut rest[..cap];
        let mut norm = 0.0;
        for q in 0..m {
            let lq = &done[q * cap..q * cap + q + 1];
            let v = (f64::from(column[self.order[q]]) - dot(&row[..q], &lq[..q])) / lq[q];
            row[q] = v;
            norm += v * v;
        }
        let d = 1.0 - norm;
        if d.is_nan() || d <= 1e-10 {
            return false;
        }
        row[m] = d.sqrt();
        self.r[m] = rhs;
        self.z[m] = (rhs - dot(&row[..m], &self.z[..m])) / row[m];
        self.position[j] = m;
        self.order.push(j);
        self.updates += 1;
        true
    }

    /// Removes atom `j`, if present.
    pub(crate) fn remove_atom(&mut self, j: usize) {
        let p = self.position[j];
        if p != usize::MAX {
            self.remove(p);
        }
    }

    /// Deletes row and column `p`: rows below move up, and the trailing block
    /// absorbs the removed column by a rank-one update.
    fn remove(&mut self, p: usize) {
        let m = self.order.len();
        let cap = self.cap;
        let l = &mut self.l;
        let x = &mut self.work[..m - p - 1];
        // z below p absorbs the removed row's z_p by the same rotations.
        let mut carried = self.z[p];
        self.r.copy_within(p + 1..m, p);
        self.z.copy_within(p + 1..m, p);
        for i in p + 1..m {
            x[i - p - 1] = l[i * cap + p];
            for j in 0..p {
                l[(i - 1) * cap + j] = l[i * cap + j];
            }
            for j in p + 1..=i {
                l[(i - 1) * cap + j - 1] = l[i * cap + j];
            }
        }
        // L₂₂ L₂₂ᵀ + x xᵀ, rotated back into lower-triangular form.
        for k in 0..x.len() {
            let row = (p + k) * cap;
            let lkk = l[row + p + k];
            // Entries are bounded by 1 (unit-norm atoms): no overflow guard needed.
            let r = (lkk * lkk + x[k] * x[k]).sqrt();
            let (c, s) = (r / lkk, x[k] / lkk);
            let (cos, sin) = (lkk / r, x[k] / r);
            let zk = self.z[p + k];
            self.z[p + k] = cos * zk + sin * carried;
            carried = cos * carried - sin * zk;
            l[row + p + k] = r;
            for (i, xi) in x.iter_mut().enumerate().skip(k + 1) {
                let at = (p + i) * cap + p + k;
                l[at] = (l[at] + s * *xi) / c;
                *xi = c * *xi - s * l[at];
            }
        }
        self.position[self.order[p]] = usize::MAX;
        self.order.remove(p);
        for (q, &j) in self.order.iter().enumerate().skip(p) {
            self.position[j] = q;
        }
        self.updates += 1;
    }

    /// Solves `L Lᵀ x = rhs` in place (`rhs` in row order).
    pub(crate) fn solve(&self, rhs: &mut [f64]) {
        self.forward(rhs);
        self.backward(rhs);
    }

    /// Solves `L Lᵀ x = r` for the maintained right-hand side into `out` (row
    /// order): only the backward sweep, from the kept `z`.
    pub(crate) fn solve_kept(&self, out: &mut [f64]) {
        let m = self.order.len();
        out[..m].copy_from_slice(&self.z[..m]);
        self.backward(out);
    }

    /// `L y = x` in place, along rows of `L` (contiguous).
    fn forward(&self, x: &mut [f64]) {
        let (m, cap, l) = (self.order.len(), self.cap, &self.l);
        for i in 0..m {
            let row = &l[i * cap..i * cap + i + 1];
            x[i] = (x[i] - dot(&row[..i], &x[..i])) / row[i];
        }
    }

    /// `Lᵀ y = x` in place, as column-oriented updates along rows of `L`.
    fn backward(&self, x: &mut [f64]) {
        let (m, cap, l) = (self.order.len(), self.cap, &self.l);
        for i in (0..m).rev() {
            let row = &l[i * cap..i * cap + i + 1];
            let xi = x[i] / row[i];
            x[i] = xi;
            for (r, &v) in x[..i].iter_mut().zip(&row[..i]) {
                *r -= v * xi;
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed pseudo-random dictionary of 12 atoms in 8 dimensions.
    fn dict() -> Dictionary {
        crate::solver::test_dictionary(8, 12, 7)
    }

    /// The kept forward solution gives the same answer as a full solve of
    /// the kept right-hand side.
    fn kept_matches_full_solve(f: &GramFactor) -> bool {
        let m = f.order().len();
        let mut full = f.r[..m].to_vec();
        f.solve(&mut full);
        let mut kept = vec![0.0; m];
        f.solve_kept(&mut kept);
        full.iter().zip(&kept).all(|(a, b)| (a - b).abs() < 1e-9)
    }

    /// Pushes and removals (from the middle, too) keep `z` in step with `L`.
    #[test]
    fn the_kept_right_hand_side_follows_pushes_and_removals() {
        let d = dict();
        let mut f = GramFactor::new(12, 8);
        assert!(f.sync(&d, &[], |_| 0.0));
        for (j, r) in [(3, 0.5), (7, -1.0), (1, 0.25), (10, 2.0), (5, -0.75)] {
            assert!(f.push(&d, j, r));
            assert!(kept_matches_full_solve(&f));
        }
        for j in [7, 3, 5] {
            f.remove_atom(j);
            assert!(kept_matches_full_solve(&f), "after removing {j}");
        }
        assert_eq!(f.order(), [1, 10]);
        assert_eq!(&f.r[..2], [0.25, 2.0]);
    }

    /// Solves Φ_SᵀΦ_S x = 1 through the factor and checks the residual.
    fn residual(f: &GramFactor, d: &Dictionary) -> f64 {
        let order = f.order().to_vec();
        let mut x = vec![1.0; order.len()];
        f.solve(&mut x);
        let mut worst = 0.0f64;
        for (p, &i) in order.iter().enumerate() {
            let mut v = 0.0;
            for (q, &j) in order.iter().enumerate() {
                let g = if i == j {
                    1.0
                } else {
                    f64::from(d.inhibition_column(i)[j])
                };
                v += g * x[q];
            }
            worst = worst.max((v - 1.0).abs());
            let _ = p;
        }
        worst
    }

    #[test]
    fn updates_match_the_system_after_adds_and_removals() {
        let d = dict();
        let mut f = GramFactor::new(12, 8);
        for support in [
            vec![0, 3, 5],
            vec![0, 1, 3, 5, 9],
            vec![1, 9],
            vec![2, 4, 6, 7, 9, 11],
            vec![],
        ] {
            assert!(f.sync(&d, &support, |j| j as f64 - 4.0));
            let mut got = f.order().to_vec();
            got.sort();
            assert_eq!(got, support);
            if !support.is_empty() {
                assert!(residual(&f, &d) < 1e-9, "{support:?}: {}", residual(&f, &d));
                assert!(kept_matches_full_solve(&f), "{support:?}");
            }
        }
        // More atoms than dimensions cannot be factored.
        assert!(!f.sync(&d, &(0..9).collect::<Vec<_>>(), |_| 1.0));
        assert!(f.order().is_empty());
    }
}
