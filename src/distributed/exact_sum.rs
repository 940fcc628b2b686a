//! Sums of `f32` matrices whose result does not depend on how the terms are
//! grouped or ordered: the reproducible summation behind the one allreduce
//! per learning step.
//!
//! Floating-point addition is not associative, so an `MPI_SUM` of `f32`
//! partial updates over N ranks would give a result that depends on N (and
//! on the MPI library's reduction tree). Here, as in reproducible BLAS
//! (Demmel & Nguyen, "Parallel reproducible summation", IEEE TC 2015;
//! ReproBLAS), every term is first converted to a 64-bit integer in a fixed
//! point whose scale is fixed *before* any term is added:
//!
//! 1. each term `P_c` (one solver chunk's partial, `Σ_{s∈c} u_s v_sᵀ`) comes
//!    with a cheap bound per column, `max|u| · Σ_s |v_sj| ≥ |P_c[i, j]|`,
//!    computed from its inputs; the largest binary exponent of these bounds
//!    per column, over all terms of all ranks (a small `MPI_MAX` on `i32`),
//!    fixes the column's scale `2^S_j` so that the sum of all terms, each
//!    truncated to an integer, cannot overflow 62 bits;
//! 2. each term is scaled (by a power of two: exact) and truncated to `i64`
//!    — the only rounding, a function of the term alone, below one unit
//!    `2^−S_j`, i.e. some 2⁻⁵⁰ of the column's bound, far below f32's 2⁻²⁴;
//! 3. integer sums are exact and associative, so local accumulation, the
//!    `MPI_SUM` on `i64` and any reduction tree give the same integers;
//! 4. each sum is converted back once.
//!
//! One process runs exactly the same steps (its allreduce is the identity),
//! so a run on 1 rank, N ranks and the build without MPI agree bit for bit.
//! The result is also *more* accurate than one `f32` GEMM over the batch:
//! the chunk partials are `f32` sums of at most [`SIGNAL_CHUNK`](crate::solver::SIGNAL_CHUNK)
//! terms and everything after is exact up to ~2⁻⁵⁰.
//!
//! ```
//! use lca::distributed::{FixedPointSum, exponent_of, outer_bounds};
//! use nalgebra::DMatrix;
//! // Two terms of a 1×1 sum whose f32 sum depends on the order.
//! let (big, small) = (DMatrix::from_element(1, 1, 1.0e8f32), DMatrix::from_element(1, 1, 3.0f32));
//! let bound = exponent_of(1.0e8);
//! let mut a = FixedPointSum::new(1, 1, &[bound], 3);
//! let mut b = FixedPointSum::new(1, 1, &[bound], 3);
//! for t in [&big, &small, &small] { a.add(t); }
//! for t in [&small, &small, &big] { b.add(t); }
//! assert_eq!(a.integers(), b.integers());
//! // 1e8 + 6 rounded once to f32; adding in f32 from the left loses both 3s.
//! assert_eq!(a.to_f32()[(0, 0)], 100_000_008.0);
//! assert_eq!(1.0e8f32 + 3.0 + 3.0, 1.0e8);
//! // Bounds of a term Σ_s u_s v_sᵀ, per column of v's rows.
//! let u = DMatrix::from_column_slice(2, 2, &[1.0, -2.0, 0.5, 0.0]);
//! let v = DMatrix::from_column_slice(1, 2, &[3.0, -1.0]);
//! assert_eq!(outer_bounds(&u, &v), [8.0]);
//! ```

use nalgebra::DMatrix;

/// Headroom bits below the `i64` sign bit: every term is below
/// `2^(62 − ⌈log₂ terms⌉)` once scaled, so the sum of all terms stays below
/// `2^62` whatever their signs.
const TOP_BIT: i32 = 62;

/// The smallest `e` with `bound < 2^e` (for `bound > 0`), [`i32::MIN`] for
/// a zero bound (a column every term leaves at exactly zero). A non-finite
/// bound gives [`i32::MAX`], which [`FixedPointSum::new`] refuses.
pub fn exponent_of(bound: f64) -> i32 {
    if bound == 0.0 {
        return i32::MIN;
    }
    if !bound.is_finite() {
        return i32::MAX;
    }
    let biased = ((bound.abs().to_bits() >> 52) & 0x7ff) as i32;
    // b = 1.f × 2^(biased − 1023) < 2^(biased − 1022); subnormals below 2^−1022.
    biased.max(1) - 1022
}

/// Per column `j` of a term `P = Σ_s u_s v_sᵀ` (`u`: columns `u_s`, `v`:
/// columns `v_s`, so `P = U Vᵀ`), the bound `max|U| · Σ_s |V[j, s]|` of
/// every `|P[i, j]|`. `O((rows(U) + rows(V)) · terms)`, no product formed.
pub fn outer_bounds(u: &DMatrix<f32>, v: &DMatrix<f32>) -> Vec<f64> {
    let umax = u.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    let k = v.nrows();
    let mut sums = vec![0.0f64; k];
    for col in v.column_iter() {
        for (s, &x) in sums.iter_mut().zip(col.iter()) {
            *s += f64::from(x.abs());
        }
    }
    sums.iter().map(|s| s * f64::from(umax)).collect()
}

/// `2^e` for `e` in the normal range of `f64`.
fn pow2(e: i32) -> f64 {
    f64::from_bits(((e.clamp(-1022, 1023) + 1023) as u64) << 52)
}

/// An exact, order-independent accumulator of `rows × cols` `f32` terms in
/// per-column fixed point (see the module docs).
#[derive(Clone, Debug)]
pub struct FixedPointSum {
    rows: usize,
    /// `2^S_j` per column (0 for a column fixed at zero).
    scale: Vec<f64>,
    /// `2^−S_j` per column.
    unscale: Vec<f64>,
    /// Column-major integer sums.
    acc: Vec<i64>,
}

impl FixedPointSum {
    /// An empty sum of at most `terms` terms whose column `j` is bounded by
    /// `2^exponents[j]` in every term (`exponents` as from [`exponent_of`],
    /// maximised over every term of every rank).
    ///
    /// # Panics
    /// When a bound is not finite (`i32::MAX`): the terms were not finite,
    /// which the solver's input checks rule out.
    pub fn new(rows: usize, cols: usize, exponents: &[i32], terms: usize) -> Self {
        assert_eq!(exponents.len(), cols, "one exponent per column");
        let headroom = TOP_BIT - (terms.max(1).next_power_of_two().trailing_zeros() as i32);
        let mut scale = Vec::with_capacity(cols);
        let mut unscale = Vec::with_capacity(cols);
        for &e in exponents {
            assert!(e != i32::MAX, "a fixed-point sum of non-finite terms");
            if e == i32::MIN {
                scale.push(0.0);
                unscale.push(0.0);
            } else {
                let s = headroom - e;
                scale.push(pow2(s));
                unscale.push(pow2(-s));
            }
        }
        FixedPointSum {
            rows,
            scale,
            unscale,
            acc: vec![0; rows * cols],
        }
    }

    /// Adds one term (truncated to the fixed point of its column).
    pub fn add(&mut self, term: &DMatrix<f32>) {
        assert_eq!(term.nrows(), self.rows, "term rows");
        assert_eq!(term.ncols(), self.scale.len(), "term columns");
        let rows = self.rows.max(1);
        for ((acc, col), &scale) in self
            .acc
            .chunks_exact_mut(rows)
            .zip(term.as_slice().chunks_exact(rows))
            .zip(&self.scale)
        {
            for (a, &x) in acc.iter_mut().zip(col) {
                *a += (f64::from(x) * scale) as i64;
            }
        }
    }

    /// Adds another accumulator's integers (exact; any order gives the same).
    pub fn merge(&mut self, other: &FixedPointSum) {
        for (a, b) in self.acc.iter_mut().zip(&other.acc) {
            *a += b;
        }
    }

    /// The integer sums, column-major: what an allreduce adds up.
    pub fn integers(&self) -> &[i64] {
        &self.acc
    }

    /// Mutable integer sums, to receive an allreduce's result.
    pub fn integers_mut(&mut self) -> &mut [i64] {
        &mut self.acc
    }

    /// The sum as `f32` (each integer converted once).
    pub fn to_f32(&self) -> DMatrix<f32> {
        let rows = self.rows;
        let cols = self.scale.len();
        let mut out = DMatrix::zeros(rows, cols);
        if rows == 0 {
            return out;
        }
        for ((o, acc), &u) in out
            .as_mut_slice()
            .chunks_exact_mut(rows)
            .zip(self.acc.chunks_exact(rows))
            .zip(&self.unscale)
        {
            for (o, &a) in o.iter_mut().zip(acc) {
                *o = (a as f64 * u) as f32;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(state: &mut u64) -> f32 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    #[test]
    fn exponents_bound_their_values() {
        for b in [1e-300, 1e-30, 0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 1e30] {
            let e = exponent_of(b);
            assert!(b < pow2(e) && b >= pow2(e - 1), "{b}: {e}");
        }
        assert_eq!(exponent_of(0.0), i32::MIN);
        assert_eq!(exponent_of(f64::NAN), i32::MAX);
    }

    /// Products `U Vᵀ` of random chunks: the bounds hold, the fixed-point sum
    /// of the chunk products is within f32 rounding of the exact (f64) sum —
    /// no worse than one f32 GEMM over all chunks — and its integers are the
    /// same for every grouping of the chunks into "ranks" and every order.
    #[test]
    fn chunked_sums_are_exact_up_to_f32_rounding_and_grouping_independent() {
        let (n, k, chunks, len) = (24, 10, 9, 64);
        let mut st = 99u64;
        let us: Vec<DMatrix<f32>> = (0..chunks)
            .map(|c| DMatrix::from_fn(n, len, |_, _| lcg(&mut st) * (1 + c) as f32))
            .collect();
        let vs: Vec<DMatrix<f32>> = (0..chunks)
            .map(|_| {
                DMatrix::from_fn(k, len, |_, _| {
                    let x = lcg(&mut st);
                    if x.abs() < 0.3 { 0.0 } else { x }
                })
            })
            .collect();
        let mut exps = vec![i32::MIN; k];
        for (u, v) in us.iter().zip(&vs) {
            let p = u * v.transpose();
            for (j, b) in outer_bounds(u, v).into_iter().enumerate() {
                for i in 0..n {
                    assert!(f64::from(p[(i, j)].abs()) <= b * (1.0 + 1e-5));
                }
                exps[j] = exps[j].max(exponent_of(b));
            }
        }
        let sum_of = |order: &[usize]| {
            let mut s = FixedPointSum::new(n, k, &exps, chunks);
            for &c in order {
                s.add(&(&us[c] * vs[c].transpose()));
            }
            s
        };
        let reference = sum_of(&(0..chunks).collect::<Vec<_>>());
        // Groupings: contiguous runs per "rank", summed locally then merged.
        for ranks in 1..=4 {
            let mut total = FixedPointSum::new(n, k, &exps, chunks);
            for r in (0..ranks).rev() {
                let part: Vec<usize> = (chunks * r / ranks..chunks * (r + 1) / ranks).collect();
                total.merge(&sum_of(&part));
            }
            assert_eq!(total.integers(), reference.integers(), "{ranks} ranks");
        }
        let reversed: Vec<usize> = (0..chunks).rev().collect();
        assert_eq!(sum_of(&reversed).integers(), reference.integers());

        // Accuracy against f64, next to one f32 GEMM over the whole batch.
        let got = reference.to_f32();
        let u_all = DMatrix::from_fn(n, chunks * len, |i, s| us[s / len][(i, s % len)]);
        let v_all = DMatrix::from_fn(k, chunks * len, |j, s| vs[s / len][(j, s % len)]);
        let gemm = &u_all * v_all.transpose();
        let (mut err_fixed, mut err_gemm) = (0.0f64, 0.0f64);
        for i in 0..n {
            for j in 0..k {
                let (mut exact, mut abs) = (0.0f64, 0.0f64);
                for s in 0..chunks * len {
                    let t = f64::from(u_all[(i, s)]) * f64::from(v_all[(j, s)]);
                    exact += t;
                    abs += t.abs();
                }
                // A recursive f32 sum of N terms errs by at most ~N·ε·Σ|t|;
                // the chunked one by len·ε·Σ|t| plus the final rounding.
                let eps = f64::from(f32::EPSILON);
                let e = (f64::from(got[(i, j)]) - exact).abs();
                assert!(e <= (len as f64 * eps) * abs + eps * exact.abs(), "{i},{j}");
                err_fixed = err_fixed.max(e / abs.max(1e-30));
                err_gemm = err_gemm.max((f64::from(gemm[(i, j)]) - exact).abs() / abs.max(1e-30));
            }
        }
        assert!(
            err_fixed <= 2.0 * err_gemm + 1e-7,
            "{err_fixed} vs {err_gemm}"
        );
    }

    #[test]
    fn zero_columns_stay_zero() {
        let mut s = FixedPointSum::new(2, 2, &[i32::MIN, 0], 1);
        s.add(&DMatrix::from_column_slice(2, 2, &[0.0, 0.0, 0.25, -0.5]));
        assert_eq!(s.to_f32().as_slice(), &[0.0, 0.0, 0.25, -0.5]);
    }
}
