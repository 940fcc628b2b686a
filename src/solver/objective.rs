//! The LASSO objective `½‖x − Φa‖² + λ‖a‖₁` that LCA minimises at its fixed
//! point; used for traces, summaries and accuracy checks.

use nalgebra::DMatrix;
use rayon::prelude::*;

use crate::Dictionary;

/// `½‖x − Φa‖² + λ‖a‖₁` for one signal, accumulated in f64.
///
/// ```
/// use lca::{Dictionary, solver::lasso_energy};
/// let d = Dictionary::from_rows(2, 2, vec![1.0, 0.0, 0.0, 1.0]).unwrap();
/// // residual (0.5, 0), ‖a‖₁ = 0.5: ½·0.25 + 0.1·0.5
/// let e = lasso_energy(&d, &[1.0, 0.0], &[0.5, 0.0], 0.1);
/// assert!((e - 0.175).abs() < 1e-8);
/// ```
pub fn lasso_energy(dict: &Dictionary, x: &[f32], a: &[f32], lambda: f32) -> f64 {
    let n = dict.n_features();
    let mut residual: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut l1 = 0.0f64;
    for (j, &aj) in a.iter().enumerate() {
        if aj != 0.0 {
            l1 += f64::from(aj.abs());
            let atom = &dict.as_rows()[j * n..(j + 1) * n];
            for (r, &p) in residual.iter_mut().zip(atom) {
                *r -= f64::from(aj) * f64::from(p);
            }
        }
    }
    0.5 * residual.iter().map(|r| r * r).sum::<f64>() + f64::from(lambda) * l1
}

/// [`lasso_energy`] of every signal (columns of `signals` and `codes`).
pub fn lasso_objectives(
    dict: &Dictionary,
    signals: &DMatrix<f32>,
    codes: &DMatrix<f32>,
    lambda: f32,
) -> Vec<f64> {
    let n = dict.n_features();
    let k = dict.n_atoms();
    signals
        .as_slice()
        .par_chunks(n.max(1))
        .zip(codes.as_slice().par_chunks(k))
        .map(|(x, a)| lasso_energy(dict, x, a, lambda))
        .collect()
}

/// The signal-dependent part of the energy of a sparse code, from quantities
/// the solvers already hold: `(−2aᵀb + aᵀGa + ‖a‖², ‖a‖₁)` summed over
/// `active`, with `b = Φᵀx` and `ga = G a`. Then
/// `½‖x − Φa‖² + λ‖a‖₁ = ½(‖x‖² + first) + λ·second`, with no reconstruction.
pub(crate) fn sparse_energy_terms(
    b: &[f32],
    a: &[f32],
    ga: &[f32],
    active: &[usize],
) -> (f64, f64) {
    let (mut quadratic, mut l1) = (0.0f64, 0.0f64);
    for &j in active {
        let aj = f64::from(a[j]);
        quadratic += aj * (f64::from(ga[j]) + aj - 2.0 * f64::from(b[j]));
        l1 += aj.abs();
    }
    (quadratic, l1)
}
