//! Test helpers: random problems and an independent exact LASSO solver.
#![allow(clippy::needless_range_loop)]
#![allow(dead_code)]

pub mod cli;

use lca::Dictionary;
use nalgebra::DMatrix;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// Deterministic pseudo-random numbers in [-0.5, 0.5) (a 64-bit LCG): test
/// data without a random-number crate's version in the way.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// A random Gaussian dictionary (unit-norm atoms after construction).
pub fn random_dictionary(n_features: usize, n_atoms: usize, seed: u64) -> Dictionary {
    let mut rng = StdRng::seed_from_u64(seed);
    let data: Vec<f32> = (0..n_features * n_atoms)
        .map(|_| rng.sample(StandardNormal))
        .collect();
    Dictionary::from_rows(n_atoms, n_features, data).unwrap()
}

/// Signals made of `k` atoms with random weights plus a little noise, each
/// scaled to unit norm (like the normalised image patches users encode).
pub fn sparse_signals(dict: &Dictionary, m: usize, k: usize, seed: u64) -> DMatrix<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = dict.n_features();
    let mut x = DMatrix::zeros(n, m);
    for s in 0..m {
        for _ in 0..k {
            let j = rng.random_range(0..dict.n_atoms());
            let w: f32 = rng.sample(StandardNormal);
            for i in 0..n {
                x[(i, s)] += w * dict.atom(j)[i];
            }
        }
        for i in 0..n {
            let e: f32 = rng.sample(StandardNormal);
            x[(i, s)] += 0.05 * e;
        }
        let norm = x.column(s).norm();
        x.column_mut(s).scale_mut(1.0 / norm);
    }
    x
}

/// Exact LASSO by cyclic coordinate descent in f64, run until no coordinate
/// moves by more than 1e-12: independent of everything LCA does.
pub fn coordinate_descent(dict: &Dictionary, x: &[f32], lambda: f64, nonneg: bool) -> Vec<f64> {
    let (n, k) = (dict.n_features(), dict.n_atoms());
    let atom = |j: usize| {
        dict.atom(j)
            .iter()
            .map(|&v| f64::from(v))
            .collect::<Vec<f64>>()
    };
    let atoms: Vec<Vec<f64>> = (0..k).map(atom).collect();
    let norms: Vec<f64> = atoms
        .iter()
        .map(|a| a.iter().map(|v| v * v).sum())
        .collect();
    let mut r: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut a = vec![0.0f64; k];
    for _sweep in 0..100_000 {
        let mut biggest = 0.0f64;
        for j in 0..k {
            let rho: f64 = (0..n).map(|i| atoms[j][i] * r[i]).sum::<f64>() + norms[j] * a[j];
            let mut new = (rho.abs() - lambda).max(0.0).copysign(rho) / norms[j];
            if nonneg {
                new = new.max(0.0);
            }
            let delta = new - a[j];
            if delta != 0.0 {
                for i in 0..n {
                    r[i] -= delta * atoms[j][i];
                }
                a[j] = new;
                biggest = biggest.max(delta.abs());
            }
        }
        if biggest < 1e-12 {
            break;
        }
    }
    a
}

/// `½‖x − Φa‖² + λ‖a‖₁` in f64 for f64 codes.
pub fn objective(dict: &Dictionary, x: &[f32], a: &[f64], lambda: f64) -> f64 {
    let n = dict.n_features();
    let mut r: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    for (j, &aj) in a.iter().enumerate() {
        for i in 0..n {
            r[i] -= aj * f64::from(dict.atom(j)[i]);
        }
    }
    0.5 * r.iter().map(|v| v * v).sum::<f64>() + lambda * a.iter().map(|v| v.abs()).sum::<f64>()
}

/// Largest violation of the LASSO optimality (KKT) conditions by code `a`,
/// relative to λ: `Φᵀ(x − Φa) = λ sign(a)` on the support, `|·| ≤ λ` off it
/// (`≤ λ` one-sided for the non-negative problem).
pub fn kkt_violation(dict: &Dictionary, x: &[f32], a: &[f32], lambda: f64, nonneg: bool) -> f64 {
    let n = dict.n_features();
    let mut r: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    for (j, &aj) in a.iter().enumerate() {
        for i in 0..n {
            r[i] -= f64::from(aj) * f64::from(dict.atom(j)[i]);
        }
    }
    let mut worst = 0.0f64;
    for (j, &aj) in a.iter().enumerate() {
        let g: f64 = (0..n).map(|i| f64::from(dict.atom(j)[i]) * r[i]).sum();
        let v = if aj != 0.0 {
            (g - lambda * f64::from(aj).signum()).abs()
        } else if nonneg {
            (g - lambda).max(0.0)
        } else {
            (g.abs() - lambda).max(0.0)
        };
        worst = worst.max(v / lambda);
    }
    worst
}

/// `(ours − exact) / exact` for codes `a` of signal `x`, the exact LASSO
/// objective coming from [`coordinate_descent`].
pub fn relative_gap(dict: &Dictionary, x: &[f32], a: &[f32], lambda: f32, nonneg: bool) -> f64 {
    let exact = coordinate_descent(dict, x, f64::from(lambda), nonneg);
    let reference = objective(dict, x, &exact, f64::from(lambda));
    let ours = lca::solver::lasso_energy(dict, x, a, lambda);
    (ours - reference) / reference
}

/// `atoms` random filters of `len` values each, scaled to unit norm.
pub fn unit_filters(rng: &mut rand_chacha::ChaCha8Rng, atoms: usize, len: usize) -> Vec<f32> {
    let mut f: Vec<f32> = (0..atoms * len)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    for filter in f.chunks_mut(len) {
        let norm = filter.iter().map(|v| v * v).sum::<f32>().sqrt();
        filter.iter_mut().for_each(|v| *v /= norm);
    }
    f
}

/// The `step` column of a run's `training.csv`.
pub fn csv_steps(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}
