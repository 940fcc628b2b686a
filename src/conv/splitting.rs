//! The splitting schedule of the rate convolutional LCA
//! ([`Schedule::Splitting`](super::Schedule::Splitting), the default for the
//! circular boundary).
//!
//! ADMM on the split `min ½‖Σ_m D_m ∗ X_m − s‖² + λ‖Y‖₁` subject to
//! `X = Y` (Wohlberg 2016, "Efficient algorithms for convolutional sparse
//! representations", the algorithm of SPORCO's `ConvBPDN` and SCICO's
//! `FBlockCircularConvolveSolver`), over-relaxed (α = 1.8):
//!
//! * `X = (DᵀD + ρI)⁻¹(Dᵀs + ρ(Y − U))`, solved exactly frequency by
//!   frequency in the Fourier domain: there `DᵀD` is a rank-`C` update of
//!   `ρI` (one channel: Sherman–Morrison), so with `w = (ρI + DDᴴ)⁻¹(ŝ − D ẑ)`
//!   (a `C × C` system per frequency, inverted once per solve) the solution
//!   is `x̂ = ẑ + Dᴴ w`, `ẑ` the spectrum of `Y − U`;
//! * `V = αX + (1 − α)Y + U`, `Y = T_{λ/ρ}(V)`, `U = V − Y`.
//!
//! In the LCA's terms `Y` are the outputs and `X` the potentials' exact
//! fixed point of the quadratic part: each step solves the whole inhibition
//! at once instead of following it by `1/L`, which is why it needs a fifth
//! of the accelerated schedule's steps on natural images with overlapping
//! filters (BENCHMARKS.md). A step costs the same two FFTs per filter map.
//!
//! The stopping rule is the KKT test of the other schedules, on the outputs
//! `Y`: every `CHECK_EVERY` steps the gradient `Dᵀ(DY − s)` is evaluated (one
//! inverse FFT per map, the residual synthesised from the sparse outputs) and
//! the solve stops when every neuron is within `tol·max|b|` of its fixed
//! point.
//!
//! Circular boundary only (the zero boundary's cut-off atoms break the
//! per-frequency solve; it keeps the accelerated schedule). A warm start sets
//! `Y` to the given codes and the scaled dual `U` to `−∇/ρ` there, its value
//! at the fixed point. Parallel over filter maps (FFTs) and frequencies; every
//! sum runs in a fixed order, so codes do not depend on the thread count.

use rayon::prelude::*;
use rustfft::num_complex::{Complex32, Complex64};

use super::accelerated::{AcceleratedResult, FourierProblem, Work};
use super::dictionary::ConvDictionary;
use super::planes::{Boundary, Planes};
use super::settings::Termination;
use crate::neuron::{Threshold, Transfer, soft_threshold};

/// Over-relaxation α of the `Y` and `U` steps (Wohlberg's and SCICO's 1.8).
pub(super) const RELAXATION: f32 = 1.8;

/// Steps between two KKT tests of the outputs: a test costs about half a
/// step, so testing every step would cost a third of the solve.
const CHECK_EVERY: u32 = 4;

/// Frequencies per parallel task of the per-frequency solve.
const FREQUENCY_CHUNK: usize = 2048;

/// ρ of a solve when none is given: `RHO_SCALE·L·λ/max|b|`, with `L` the
/// largest eigenvalue of `DᵀD` and `b = Dᵀs` the drive. ρ weighs the
/// quadratic `DᵀD` against the split, so it scales with `DᵀD`'s spectrum, and
/// with λ: the larger λ, the sparser the codes and the better conditioned
/// `DᵀD` restricted to them. Scaling the image and λ together changes
/// nothing. Measured on the 256×256 problem of BENCHMARKS.md (`G:12x12x36`,
/// `L` = 225, `max|b|` = 2.2): the fewest steps to a 1e-3 objective gap at ρ
/// ≈ 2 for λ = 0.05 and ρ ≈ 3–4 for λ = 0.1.
pub(super) const RHO_SCALE: f32 = 0.4;

/// How a solve's ρ and stopping test depend on the number of spatial axes.
/// The 2-D values were tuned on images (above) and are kept for 2-D and
/// 3-D, whose codes must not change. On 1-D audio (speech, 32 gammatone
/// kernels of 64 taps, ~3 % active; `scripts/conv1d_gap.py`) they stopped
/// at a 4e-3 objective gap: there a relative KKT residual of 1e-3 is far
/// from a 1e-3 gap (a few loud samples set `max|b|`, the quiet rest is
/// coded loosely), and ρ = 0.4·Lλ/max|b| is small enough that tightening
/// the test costs 2000+ steps (past the 1000-step cap). With ρ five times
/// larger the test converges in a third of the steps, so 1-D solves use
/// that ρ and a five times tighter test: gap 6e-4 in fewer steps than the
/// 2-D settings took to stop at 4e-3.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Tuning {
    /// Multiplies `L·λ/max|b|` into ρ.
    pub(super) rho_scale: f32,
    /// Multiplies the relative tolerance of the KKT test.
    pub(super) kkt_scale: f32,
}

/// The [`Tuning`] of a `dims`-dimensional problem.
pub(super) fn tuning(dims: usize) -> Tuning {
    if dims == 1 {
        Tuning {
            rho_scale: 2.0,
            kkt_scale: 0.2,
        }
    } else {
        Tuning {
            rho_scale: RHO_SCALE,
            kkt_scale: 1.0,
        }
    }
}

/// Settings of one solve, taken from the checked [`super::ConvLcaParams`].
pub(super) struct SplittingSettings {
    pub(super) transfer: Transfer,
    pub(super) tol: f32,
    pub(super) max_iters: usize,
    /// Penalty ρ of the split (`None`: [`default_rho`]).
    pub(super) rho: Option<f32>,
    /// ρ's scale and the stopping test's, by dimension ([`tuning`]).
    pub(super) tuning: Tuning,
}

/// Whether the splitting schedule applies: the soft threshold, the circular
/// boundary, filters no larger than the signal.
pub(super) fn applies(transfer: &Transfer, k: [usize; 3], size: [usize; 3], b: Boundary) -> bool {
    transfer.threshold == Threshold::Soft
        && b == Boundary::Circular
        && k.iter().zip(&size).all(|(k, n)| k <= n)
}

/// ρ for the penalty λ, the drive's largest magnitude `max|b|` and `L`,
/// `scale·L·λ/max|b|` ([`Tuning::rho_scale`]). Without a penalty (least
/// squares, where one step solves the problem whatever ρ) or without a
/// drive, `L`.
pub(super) fn default_rho(scale: f32, lambda: f32, max_drive: f32, lipschitz: f32) -> f32 {
    let rho = scale * lipschitz * lambda / max_drive;
    if rho.is_finite() && rho > 0.0 {
        rho
    } else {
        lipschitz
    }
}

/// `(ρI + D(f)D(f)ᴴ)⁻¹` for every frequency `f`, `[f][c][d]`, where
/// `D(f)_cm = F_mc(f)`: Hermitian positive definite, inverted in f64 by
/// Gauss–Jordan elimination (no pivoting needed).
fn inverses(problem: &FourierProblem, rho: f32) -> Vec<Complex32> {
    let (nf, nc, sl) = (
        problem.n_filters,
        problem.channels,
        problem.fft.spectrum_len(),
    );
    let filters = &problem.filters;
    let mut out = vec![Complex32::default(); sl * nc * nc];
    out.par_chunks_mut(FREQUENCY_CHUNK * nc * nc)
        .enumerate()
        .for_each(|(j, chunk)| {
            let mut a = vec![Complex64::default(); nc * nc];
            let mut inv = vec![Complex64::default(); nc * nc];
            for (i, block) in chunk.chunks_exact_mut(nc * nc).enumerate() {
                let f = j * FREQUENCY_CHUNK + i;
                for c in 0..nc {
                    for d in 0..nc {
                        let mut s = Complex64::default();
                        for m in 0..nf {
                            let x = filters[(m * nc + c) * sl + f];
                            let y = filters[(m * nc + d) * sl + f];
                            s += Complex64::new(x.re.into(), x.im.into())
                                * Complex64::new(y.re.into(), (-y.im).into());
                        }
                        a[c * nc + d] = s;
                        inv[c * nc + d] = Complex64::new(if c == d { 1.0 } else { 0.0 }, 0.0);
                    }
                    a[c * nc + c] += f64::from(rho);
                }
                for p in 0..nc {
                    let pivot = 1.0 / a[p * nc + p];
                    for d in 0..nc {
                        a[p * nc + d] *= pivot;
                        inv[p * nc + d] *= pivot;
                    }
                    for r in (0..nc).filter(|&r| r != p) {
                        let factor = a[r * nc + p];
                        for d in 0..nc {
                            let (ap, ip) = (a[p * nc + d], inv[p * nc + d]);
                            a[r * nc + d] -= factor * ap;
                            inv[r * nc + d] -= factor * ip;
                        }
                    }
                }
                for (o, v) in block.iter_mut().zip(&inv) {
                    *o = Complex32::new(v.re as f32, v.im as f32);
                }
            }
        });
    out
}

/// `w = (ρI + DDᴴ)⁻¹(ŝ − D ẑ)` for every frequency from the spectra `ẑ` of
/// the maps. Laid out in blocks of [`FREQUENCY_CHUNK`] frequencies, each
/// `[c][frequency]`, so that every later pass reads it contiguously.
fn dual_weights(
    problem: &FourierProblem,
    inverses: &[Complex32],
    z: &[Complex32],
    w: &mut [Complex32],
) {
    let (nf, nc, sl) = (
        problem.n_filters,
        problem.channels,
        problem.fft.spectrum_len(),
    );
    w.par_chunks_mut(FREQUENCY_CHUNK * nc)
        .enumerate()
        .for_each_init(
            || vec![Complex32::default(); FREQUENCY_CHUNK * nc],
            |r, (j, chunk)| {
                let f0 = j * FREQUENCY_CHUNK;
                let n = chunk.len() / nc;
                // r_c = ŝ_c − Σ_m F_mc ẑ_m, in map order.
                for c in 0..nc {
                    let r = &mut r[c * n..(c + 1) * n];
                    r.copy_from_slice(&problem.image[c * sl + f0..c * sl + f0 + n]);
                    for m in 0..nf {
                        let f = &problem.filters[(m * nc + c) * sl + f0..][..n];
                        multiply_subtract(r, f, &z[m * sl + f0..][..n]);
                    }
                }
                if nc == 1 {
                    // The inverse of a 1×1 Hermitian matrix is real.
                    for ((o, r), i) in chunk.iter_mut().zip(&r[..n]).zip(&inverses[f0..f0 + n]) {
                        *o = r * i.re;
                    }
                } else {
                    for i in 0..n {
                        let inv = &inverses[(f0 + i) * nc * nc..(f0 + i + 1) * nc * nc];
                        for c in 0..nc {
                            let mut s = Complex32::default();
                            for d in 0..nc {
                                s += inv[c * nc + d] * r[d * n + i];
                            }
                            chunk[c * n + i] = s;
                        }
                    }
                }
            },
        );
}

/// `r −= f·z`, elementwise.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn multiply_subtract(r: &mut [Complex32], f: &[Complex32], z: &[Complex32]) {
    for ((r, f), z) in r.iter_mut().zip(f).zip(z) {
        r.re -= f.re * z.re - f.im * z.im;
        r.im -= f.re * z.im + f.im * z.re;
    }
}

/// `x += conj(f)·w`, elementwise.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn conjugate_multiply_add(x: &mut [Complex32], f: &[Complex32], w: &[Complex32]) {
    for ((x, f), w) in x.iter_mut().zip(f).zip(w) {
        x.re += f.re * w.re + f.im * w.im;
        x.im += f.re * w.im - f.im * w.re;
    }
}

/// The relaxed `Y` and `U` steps of one map from its `X` (overwritten by
/// `Y − U`, the next step's input). Elementwise, so it vectorises.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn relax_and_shrink(x: &mut [f32], y: &mut [f32], u: &mut [f32], threshold: f32, floor: f32) {
    for ((x, y), u) in x.iter_mut().zip(y.iter_mut()).zip(u.iter_mut()) {
        let v = RELAXATION * *x + (1.0 - RELAXATION) * *y + *u;
        let out = soft_threshold(v, threshold, floor);
        *y = out;
        *u = v - out;
        *x = out - *u;
    }
}

/// `max_i |T_λ(a_i − g_i) − a_i|`: the KKT violation of unit-norm atoms'
/// outputs `a` with gradient `g`.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn kkt_violation(a: &[f32], g: &[f32], lambda: f32, floor: f32) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0f32; LANES];
    let lanes = a.chunks_exact(LANES).zip(g.chunks_exact(LANES));
    for (a, g) in lanes {
        for j in 0..LANES {
            let d = soft_threshold(a[j] - g[j], lambda, floor) - a[j];
            let d = if d > 0.0 { d } else { -d };
            acc[j] = if d > acc[j] { d } else { acc[j] };
        }
    }
    let tail = a.len() / LANES * LANES;
    for (a, g) in a[tail..].iter().zip(&g[tail..]) {
        let d = (soft_threshold(a - g, lambda, floor) - a).abs();
        acc[0] = acc[0].max(d);
    }
    acc.iter().fold(0.0f32, |m, &v| m.max(v))
}

/// Solves one image from `start` (`n_filters × H × W`, or zeros).
pub(super) fn solve(
    dict: &ConvDictionary,
    image: &Planes,
    start: Option<&[f32]>,
    settings: &SplittingSettings,
) -> AcceleratedResult {
    let problem = FourierProblem::new(dict, image, Boundary::Circular);
    let (nf, nc, pl, sl) = (
        problem.n_filters,
        problem.channels,
        problem.plane_len(),
        problem.fft.spectrum_len(),
    );
    let transfer = settings.transfer;
    let floor = if transfer.nonneg {
        0.0
    } else {
        f32::NEG_INFINITY
    };
    let mut work = Work::new(&problem);
    let mut g = vec![0.0f32; nf * pl];
    // The drive b = −∇ at zero sets the tolerance's scale, and ρ's.
    problem.gradient(&vec![0.0f32; nf * pl], &mut g, &mut work);
    let max_drive = g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let tuning = settings.tuning;
    let tol = if tuning.kkt_scale == 1.0 {
        settings.tol * max_drive
    } else {
        settings.tol * tuning.kkt_scale * max_drive
    };
    let rho = settings.rho.unwrap_or_else(|| {
        default_rho(
            tuning.rho_scale,
            transfer.lambda,
            max_drive,
            problem.lipschitz,
        )
    });
    let threshold = transfer.lambda / rho;
    let mut y = vec![0.0f32; nf * pl];
    let mut u = vec![0.0f32; nf * pl];
    if let Some(start) = start.filter(|s| s.iter().any(|&v| v != 0.0)) {
        y.copy_from_slice(start);
        problem.gradient(&y, &mut g, &mut work);
        for (u, g) in u.iter_mut().zip(&g) {
            *u = -g / rho;
        }
    }
    let inverses = inverses(&problem, rho);
    // ẑ: the spectra of Y − U.
    let mut z = vec![Complex32::default(); nf * sl];
    z.par_chunks_mut(sl)
        .zip(y.par_chunks(pl).zip(u.par_chunks(pl)))
        .for_each_init(
            || (problem.fft.scratch(), vec![0.0f32; pl]),
            |(s, plane), (spec, (y, u))| {
                for ((p, y), u) in plane.iter_mut().zip(y).zip(u) {
                    *p = y - u;
                }
                problem.fft.forward(plane, spec, s);
            },
        );
    let mut w = vec![Complex32::default(); sl * nc];
    let mut iterations = 0u32;
    let termination = loop {
        if iterations.is_multiple_of(CHECK_EVERY) || iterations as usize >= settings.max_iters {
            problem.gradient(&y, &mut g, &mut work);
            let violation = y
                .par_chunks(pl)
                .zip(g.par_chunks(pl))
                .map(|(y, g)| kkt_violation(y, g, transfer.lambda, floor))
                .collect::<Vec<f32>>()
                .into_iter()
                .fold(0.0f32, f32::max);
            if violation <= tol {
                break Termination::Converged;
            }
        }
        if iterations as usize >= settings.max_iters {
            break Termination::MaxIterations;
        }
        dual_weights(&problem, &inverses, &z, &mut w);
        // Per map: x̂ = ẑ + Dᴴw, X, the Y and U steps, and the next ẑ.
        z.par_chunks_mut(sl)
            .zip(y.par_chunks_mut(pl).zip(u.par_chunks_mut(pl)))
            .enumerate()
            .for_each_init(
                || (problem.fft.scratch(), vec![0.0f32; pl]),
                |(s, x), (m, (spec, (y, u)))| {
                    for (j, w) in w.chunks(FREQUENCY_CHUNK * nc).enumerate() {
                        let f0 = j * FREQUENCY_CHUNK;
                        let n = w.len() / nc;
                        for (c, w) in w.chunks_exact(n).enumerate() {
                            let f = &problem.filters[(m * nc + c) * sl + f0..][..n];
                            conjugate_multiply_add(&mut spec[f0..f0 + n], f, w);
                        }
                    }
                    problem.fft.inverse(spec, x, s);
                    relax_and_shrink(x, y, u, threshold, floor);
                    problem.fft.forward(x, spec, s);
                },
            );
        iterations += 1;
    };
    AcceleratedResult {
        codes: y,
        iterations,
        termination,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic filters and image for `C` channels.
    fn problem(channels: usize) -> FourierProblem {
        let (nf, k, h, w) = (3, 3, 6, 5);
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let taps: Vec<f32> = (0..nf * channels * k * k).map(|_| next()).collect();
        let dict = ConvDictionary::normalized(nf, channels, k, taps).unwrap();
        let image = Planes::new(
            channels,
            h,
            w,
            (0..channels * h * w).map(|_| next()).collect(),
        );
        FourierProblem::new(&dict, &image.unwrap(), Boundary::Circular)
    }

    #[test]
    fn inverses_invert_rho_plus_d_dh_at_every_frequency() {
        for channels in [1, 3] {
            let p = problem(channels);
            let (nf, nc, sl) = (p.n_filters, p.channels, p.fft.spectrum_len());
            let rho = 0.7;
            let inv = inverses(&p, rho);
            for f in 0..sl {
                for c in 0..nc {
                    for e in 0..nc {
                        // (ρI + DDᴴ)·inverse, entry (c, e).
                        let mut s = Complex32::default();
                        for d in 0..nc {
                            let mut a = Complex32::default();
                            for m in 0..nf {
                                a += p.filters[(m * nc + c) * sl + f]
                                    * p.filters[(m * nc + d) * sl + f].conj();
                            }
                            if c == d {
                                a += rho;
                            }
                            s += a * inv[(f * nc + d) * nc + e];
                        }
                        let want = if c == e { 1.0 } else { 0.0 };
                        assert!(
                            (s.re - want).abs() < 1e-4 && s.im.abs() < 1e-4,
                            "{s} at {f}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn default_rho_scales_with_lambda_over_the_drive() {
        let r = RHO_SCALE;
        assert!((default_rho(r, 0.05, 2.0, 200.0) - RHO_SCALE * 200.0 * 0.025).abs() < 1e-5);
        // The image and λ scaled together: the same ρ.
        assert!((default_rho(r, 0.5, 20.0, 200.0) - default_rho(r, 0.05, 2.0, 200.0)).abs() < 1e-5);
        // No penalty or no drive: L.
        assert_eq!(default_rho(r, 0.0, 2.0, 200.0), 200.0);
        assert_eq!(default_rho(r, 0.1, 0.0, 200.0), 200.0);
    }

    #[test]
    fn images_and_volumes_keep_the_tuning_of_images() {
        let image = Tuning {
            rho_scale: RHO_SCALE,
            kkt_scale: 1.0,
        };
        assert_eq!((tuning(2), tuning(3)), (image, image));
        // 1-D: a larger ρ and a tighter test (see `Tuning`).
        let t = tuning(1);
        assert!(t.rho_scale > RHO_SCALE && t.kkt_scale < 1.0);
    }
}
