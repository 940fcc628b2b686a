//! The accelerated schedule of the rate convolutional LCA
//! ([`Schedule::Accelerated`](super::Schedule::Accelerated); the default
//! for the zero boundary, where the splitting schedule does not apply). Its
//! Fourier-domain problem and gradient are shared with the splitting
//! schedule.
//!
//! Every neuron integrates at once, with the lateral inhibition `Σ_n G_mn ∗
//! a_n` computed densely in the Fourier domain, and Nesterov momentum on the
//! outputs. In the LCA's terms each step sets the potentials to
//! `u = y + (b − (G + I)·y)/L` at the extrapolated outputs `y = a + β(a − a′)`
//! (the LCA step `u ← b − G·y` of the problem scaled by `1/L`, where `L` is
//! the largest eigenvalue of `G + I`, so the step is stable), then `a = T(u)`
//! with the threshold scaled by `1/L` likewise. With the soft threshold this
//! is FISTA (Beck & Teboulle 2009) with the gradient restart of O'Donoghue &
//! Candès (2015): the momentum is reset whenever it points uphill.
//!
//! Why dense and not event-driven: with strongly overlapping filters (the
//! `G:12x12x36` dictionary's `G + I` has eigenvalues up to ≈ 225) the
//! greedy asynchronous settling needs many small corrections for its tail
//! (BENCHMARKS.md), while one dense step costs two FFTs per filter map —
//! independent of how many neurons are active — and the accelerated dynamics
//! need a few hundred steps for a 1e-3 objective gap.
//!
//! The gradient `(G + I)a − b = Dᵀ(Da − x)` is evaluated once per step, at
//! the outputs `a` (not at `y`): being affine, its value at `y` follows as
//! `g(y) = g(a) + β(g(a) − g(a′))`. So the KKT conditions of every iterate
//! are checked exactly, for free, and a solve stops as soon as every neuron
//! is within `tol·max|b|` of its fixed point — the same stopping rule as the
//! greedy schedule.
//!
//! Geometry: planes are `P × Q` (`R × P × Q` for volumes; a 1-D signal is
//! one row). With the circular boundary `P × Q = H × W` and the FFTs'
//! wrap-around is the boundary. With the zero boundary the planes are padded
//! to `P ≥ H + kh − 1` (and every other axis likewise, rounded up to a fast
//! FFT length) so nothing wraps onto the signal, coefficients outside it
//! are held at 0 and the residual is cut to the signal, which is the zero
//! boundary exactly.
//!
//! Parallel over filter maps (FFTs) and over frequencies (the sums over
//! filters and channels); every sum runs in a fixed order, so the codes do
//! not depend on the thread count.

use rayon::prelude::*;
use rustfft::num_complex::Complex32;

use super::correlate::{axpy, for_each_run};
use super::dictionary::ConvDictionary;
use super::fourier::{Fft3, FftScratch, smooth_length};
use super::geometry::edge_inv_norm2_of;
use super::planes::{Boundary, Planes};
use super::settings::Termination;
use crate::neuron::{Threshold, Transfer, soft_threshold};

/// Frequencies per parallel task of the spectral sums.
const FREQUENCY_CHUNK: usize = 2048;

/// The residual is synthesised from the sparse outputs when `nnz·kh·kw` is
/// at most this fraction of the neurons (`n_filters·P·Q`; planes of one
/// slice only): there an atom per
/// output costs less than a forward FFT per map. On the 256×256 problem of
/// BENCHMARKS.md (one thread, 367 steps): 10.1 s CPU never sparse, 8.2 s at
/// 4, 7.4 s at 8, 7.7–7.9 s at 16 and 32.
const SPARSE_WORK: f64 = 8.0;

/// Rows per parallel task of the sparse synthesis.
const SYNTHESIS_BAND: usize = 16;

/// What one accelerated solve returns to [`super::ConvLca`].
pub(super) struct AcceleratedResult {
    pub(super) codes: Vec<f32>,
    pub(super) iterations: u32,
    pub(super) termination: Termination,
}

/// Settings of one solve, taken from the checked [`super::ConvLcaParams`].
pub(super) struct AcceleratedSettings {
    pub(super) transfer: Transfer,
    pub(super) tol: f32,
    pub(super) max_iters: usize,
    pub(super) boundary: Boundary,
}

/// Whether the accelerated schedule applies: it needs the soft threshold
/// (its step is the proximal map of `λ/L·‖a‖₁`) and, for the circular
/// boundary, filters no larger than the signal.
pub(super) fn applies(transfer: &Transfer, k: [usize; 3], size: [usize; 3], b: Boundary) -> bool {
    transfer.threshold == Threshold::Soft
        && (b == Boundary::Zero || k.iter().zip(&size).all(|(k, n)| k <= n))
}

/// The filters and the image in the Fourier domain, and the step bound.
pub(super) struct FourierProblem {
    pub(super) fft: Fft3,
    /// Padded plane extent `R × P × Q`.
    padded: [usize; 3],
    /// The signal's extent.
    size: [usize; 3],
    pub(super) n_filters: usize,
    pub(super) channels: usize,
    /// Spectra of the filters placed on the plane, `[m][c][frequency]`.
    pub(super) filters: Vec<Complex32>,
    /// Spectra of the image channels, `[c][frequency]`.
    pub(super) image: Vec<Complex32>,
    /// The image channels on the (padded) planes.
    image_planes: Vec<f32>,
    /// The filters' taps, `[m][c][kernel]`, their extent and origin: for
    /// synthesis from sparse outputs.
    kernels: Vec<f32>,
    k: [usize; 3],
    origin: [usize; 3],
    /// Upper bound on the largest eigenvalue of `DᵀD` (the gradient's Lipschitz constant).
    pub(super) lipschitz: f32,
    boundary: Boundary,
}

impl FourierProblem {
    pub(super) fn new(dict: &ConvDictionary, image: &Planes, boundary: Boundary) -> FourierProblem {
        let (size, k, o) = (image.extent(), dict.extent(), dict.origins());
        let padded = match boundary {
            Boundary::Circular => size,
            Boundary::Zero => [0, 1, 2].map(|a| smooth_length(size[a] + k[a] - 1)),
        };
        let [depth, rows, cols] = padded;
        let fft = Fft3::new(padded);
        let (nf, nc) = (dict.n_filters(), dict.channels());
        let s_len = fft.spectrum_len();
        // Filter m's tap (p, q) multiplies the coefficient at (y, x) onto pixel
        // (y + p − o, x + q − o): as a convolution kernel it sits at (p − o, q − o);
        // likewise along the depth axis.
        let plans: Vec<(usize, usize)> =
            (0..nf).flat_map(|m| (0..nc).map(move |c| (m, c))).collect();
        let mut filters = vec![Complex32::default(); nf * nc * s_len];
        filters
            .par_chunks_mut(s_len)
            .zip(plans.par_iter())
            .for_each_init(
                || (fft.scratch(), vec![0.0f32; depth * rows * cols]),
                |(s, plane), (spec, &(m, c))| {
                    plane.iter_mut().for_each(|v| *v = 0.0);
                    let kernel = dict.kernel(m, c);
                    for r in 0..k[0] {
                        let z = (r + depth - o[0] % depth) % depth;
                        for p in 0..k[1] {
                            let y = (p + rows - o[1] % rows) % rows;
                            for q in 0..k[2] {
                                let x = (q + cols - o[2] % cols) % cols;
                                plane[(z * rows + y) * cols + x] +=
                                    kernel[(r * k[1] + p) * k[2] + q];
                            }
                        }
                    }
                    fft.forward(plane, spec, s);
                },
            );
        let image_planes = embed(&image.data, nc, size, padded);
        let mut image_spec = vec![Complex32::default(); nc * s_len];
        image_spec
            .par_chunks_mut(s_len)
            .zip(image_planes.par_chunks(depth * rows * cols))
            .for_each_init(
                || fft.scratch(),
                |s, (spec, plane)| fft.forward(plane, spec, s),
            );
        let lipschitz = lipschitz_bound(&filters, nf, nc, s_len);
        FourierProblem {
            fft,
            padded,
            size,
            n_filters: nf,
            channels: nc,
            filters,
            image: image_spec,
            image_planes,
            kernels: dict.data().to_vec(),
            k,
            origin: o,
            lipschitz,
            boundary,
        }
    }

    pub(super) fn plane_len(&self) -> usize {
        self.padded.iter().product()
    }

    /// `n` maps of the signal's extent placed on the padded planes.
    pub(super) fn embed(&self, maps: &[f32], n: usize) -> Vec<f32> {
        embed(maps, n, self.size, self.padded)
    }

    /// The signal's extent cut from `n` padded planes.
    pub(super) fn extract(&self, planes: &[f32], n: usize) -> Vec<f32> {
        let ([d, h, w], [_, rows, cols]) = (self.size, self.padded);
        let pl = self.plane_len();
        let mut out = vec![0.0f32; n * d * h * w];
        for m in 0..n {
            for z in 0..d {
                for y in 0..h {
                    let src = m * pl + (z * rows + y) * cols;
                    out[((m * d + z) * h + y) * w..][..w].copy_from_slice(&planes[src..src + w]);
                }
            }
        }
        out
    }

    /// `g = Dᵀ(Da − x)` for the maps `a` (`n_filters` planes).
    ///
    /// The residual `Da − x` is synthesised directly from the non-zero
    /// outputs when they are few (one atom each, cheaper than an FFT per
    /// map), else by FFT; either way its spectrum is correlated with the
    /// filters' and brought back with one inverse FFT per map.
    pub(super) fn gradient(&self, a: &[f32], g: &mut [f32], work: &mut Work) {
        let (pl, sl) = (self.plane_len(), self.fft.spectrum_len());
        work.nonzeros
            .par_iter_mut()
            .zip(a.par_chunks(pl))
            .for_each(|(list, plane)| {
                list.clear();
                list.extend(
                    plane
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| **v != 0.0)
                        .map(|(i, &v)| (i as u32, v)),
                );
            });
        let nnz: usize = work.nonzeros.iter().map(Vec::len).sum();
        let sparse = self.padded[0] == 1
            && (nnz * self.k[1] * self.k[2]) as f64 <= SPARSE_WORK * (self.n_filters * pl) as f64;
        if sparse {
            self.synthesize(&work.nonzeros, &mut work.residual);
            for c in 0..self.channels {
                let r = &mut work.residual[c * pl..(c + 1) * pl];
                for (v, x) in r.iter_mut().zip(&self.image_planes[c * pl..(c + 1) * pl]) {
                    *v -= x;
                }
                self.cut_to_image(r);
                let spec = &mut work.residual_spec[c * sl..(c + 1) * sl];
                self.fft.forward(r, spec, &mut work.scratch);
            }
        } else {
            work.spectra
                .par_chunks_mut(sl)
                .zip(a.par_chunks(pl))
                .for_each_init(
                    || self.fft.scratch(),
                    |s, (spec, plane)| self.fft.forward(plane, spec, s),
                );
            // Residual spectra R_c = Σ_m F_mc·A_m − X_c.
            for c in 0..self.channels {
                let r = &mut work.residual_spec[c * sl..(c + 1) * sl];
                r.par_chunks_mut(FREQUENCY_CHUNK)
                    .enumerate()
                    .for_each(|(j, chunk)| {
                        let f0 = j * FREQUENCY_CHUNK;
                        for (i, v) in chunk.iter_mut().enumerate() {
                            *v = -self.image[c * sl + f0 + i];
                        }
                        for m in 0..self.n_filters {
                            let f = &self.filters[(m * self.channels + c) * sl + f0..];
                            let s = &work.spectra[m * sl + f0..];
                            for (i, v) in chunk.iter_mut().enumerate() {
                                *v += f[i] * s[i];
                            }
                        }
                    });
            }
            if self.boundary == Boundary::Zero {
                // The residual counts on the image only.
                for c in 0..self.channels {
                    let spec = &mut work.residual_spec[c * sl..(c + 1) * sl];
                    work.copy.copy_from_slice(spec);
                    let r = &mut work.residual[c * pl..(c + 1) * pl];
                    self.fft.inverse(&mut work.copy, r, &mut work.scratch);
                    self.cut_to_image(r);
                    self.fft.forward(r, spec, &mut work.scratch);
                }
            }
        }
        // G_m = Σ_c conj(F_mc)·R_c, back to the pixel domain.
        work.spectra
            .par_chunks_mut(sl)
            .zip(g.par_chunks_mut(pl))
            .enumerate()
            .for_each_init(
                || self.fft.scratch(),
                |s, (m, (spec, plane))| {
                    for c in 0..self.channels {
                        let f = &self.filters[(m * self.channels + c) * sl..][..sl];
                        let r = &work.residual_spec[c * sl..(c + 1) * sl];
                        if c == 0 {
                            for ((v, f), r) in spec.iter_mut().zip(f).zip(r) {
                                *v = f.conj() * r;
                            }
                        } else {
                            for ((v, f), r) in spec.iter_mut().zip(f).zip(r) {
                                *v += f.conj() * r;
                            }
                        }
                    }
                    self.fft.inverse(spec, plane, s);
                },
            );
    }

    /// Zero boundary: zeroes a residual plane outside the signal.
    fn cut_to_image(&self, r: &mut [f32]) {
        if self.boundary == Boundary::Zero {
            let ([d, h, w], [_, rows, cols]) = (self.size, self.padded);
            for (z, slice) in r.chunks_exact_mut(rows * cols).enumerate() {
                for (y, row) in slice.chunks_exact_mut(cols).enumerate() {
                    if z < d && y < h {
                        row[w..].iter_mut().for_each(|v| *v = 0.0);
                    } else {
                        row.iter_mut().for_each(|v| *v = 0.0);
                    }
                }
            }
        }
    }

    /// `Σ_m D_mc ∗ a_m` on planes of one slice (wrapping around them) from
    /// each map's non-zero outputs, in bands of rows in parallel; every
    /// pixel sums its atoms in the order of the lists, whatever the banding.
    fn synthesize(&self, nonzeros: &[Vec<(u32, f32)>], out: &mut [f32]) {
        let ([_, rows, cols], [_, kh, kw]) = (self.padded, self.k);
        let (o, ow) = (self.origin[1], self.origin[2]);
        let pl = self.plane_len();
        for (c, plane) in out.chunks_exact_mut(pl).enumerate() {
            plane
                .par_chunks_mut(SYNTHESIS_BAND * cols)
                .enumerate()
                .for_each(|(band, chunk)| {
                    chunk.iter_mut().for_each(|v| *v = 0.0);
                    let r0 = (band * SYNTHESIS_BAND) as isize;
                    let r1 = r0 + (chunk.len() / cols) as isize;
                    let (k_, o_, rows_) = (kh as isize, o as isize, rows as isize);
                    for (m, list) in nonzeros.iter().enumerate() {
                        let kernel = &self.kernels[(m * self.channels + c) * kh * kw..][..kh * kw];
                        // A coefficient on row y (shifted by ±rows where its atom
                        // wraps) reaches rows y − o .. y − o + k − 1: the lists are
                        // in row-major order, so each shift is one range of them.
                        for shift in [-rows_, 0, rows_] {
                            let y_lo = (r0 - k_ + 1 + o_ - shift).max(0);
                            let y_hi = (r1 - 1 + o_ - shift).min(rows_ - 1);
                            if y_lo > y_hi {
                                continue;
                            }
                            let lo =
                                list.partition_point(|e| (e.0 as usize) < y_lo as usize * cols);
                            let hi = list
                                .partition_point(|e| (e.0 as usize) < (y_hi as usize + 1) * cols);
                            for &(i, v) in &list[lo..hi] {
                                let (y, x) = ((i as usize / cols) as isize, i as usize % cols);
                                let top = y + shift - o_;
                                let (p0, p1) = ((r0 - top).max(0), (r1 - top).min(k_));
                                // Column runs of the atom: one, or two where it wraps.
                                let mut runs = [(0usize, 0usize, 0usize); 2];
                                let mut n_runs = 0;
                                for_each_run(
                                    x as isize - ow as isize,
                                    kw,
                                    cols,
                                    Boundary::Circular,
                                    |q0, px, n| {
                                        runs[n_runs] = (q0, px, n);
                                        n_runs += 1;
                                    },
                                );
                                for p in p0..p1 {
                                    let local = (top + p - r0) as usize;
                                    let row = &mut chunk[local * cols..(local + 1) * cols];
                                    let taps = &kernel[p as usize * kw..(p as usize + 1) * kw];
                                    for &(q0, px, n) in &runs[..n_runs] {
                                        axpy(&mut row[px..px + n], &taps[q0..q0 + n], v);
                                    }
                                }
                            }
                        }
                    }
                });
        }
    }
}

/// Buffers of one image's gradient evaluations.
pub(super) struct Work {
    /// Each map's non-zero outputs: (plane index, value).
    nonzeros: Vec<Vec<(u32, f32)>>,
    spectra: Vec<Complex32>,
    residual_spec: Vec<Complex32>,
    residual: Vec<f32>,
    copy: Vec<Complex32>,
    scratch: FftScratch,
}

impl Work {
    pub(super) fn new(problem: &FourierProblem) -> Work {
        let (nf, nc) = (problem.n_filters, problem.channels);
        let (pl, sl) = (problem.plane_len(), problem.fft.spectrum_len());
        Work {
            nonzeros: vec![Vec::new(); nf],
            spectra: vec![Complex32::default(); nf * sl],
            residual_spec: vec![Complex32::default(); nc * sl],
            residual: vec![0.0; nc * pl],
            copy: vec![Complex32::default(); sl],
            scratch: problem.fft.scratch(),
        }
    }
}

/// `max_f λ_max(Σ_m F_m(f) F_m(f)ᴴ)` over frequencies `f`, bounded above by
/// the smaller of the trace and the largest absolute row sum of the
/// `C × C` matrix (exact for one channel).
fn lipschitz_bound(filters: &[Complex32], nf: usize, nc: usize, sl: usize) -> f32 {
    let per_chunk: Vec<f64> = (0..sl.div_ceil(FREQUENCY_CHUNK))
        .into_par_iter()
        .map(|j| {
            let mut best = 0.0f64;
            let mut s = vec![(0.0f64, 0.0f64); nc * nc];
            for f in j * FREQUENCY_CHUNK..((j + 1) * FREQUENCY_CHUNK).min(sl) {
                s.iter_mut().for_each(|v| *v = (0.0, 0.0));
                for m in 0..nf {
                    for c in 0..nc {
                        let a = filters[(m * nc + c) * sl + f];
                        for d in 0..nc {
                            let b = filters[(m * nc + d) * sl + f];
                            // a·conj(b)
                            let (re, im) = (
                                f64::from(a.re) * f64::from(b.re)
                                    + f64::from(a.im) * f64::from(b.im),
                                f64::from(a.im) * f64::from(b.re)
                                    - f64::from(a.re) * f64::from(b.im),
                            );
                            let e = &mut s[c * nc + d];
                            e.0 += re;
                            e.1 += im;
                        }
                    }
                }
                let trace: f64 = (0..nc).map(|c| s[c * nc + c].0).sum();
                let row_sum = (0..nc)
                    .map(|c| {
                        (0..nc)
                            .map(|d| s[c * nc + d].0.hypot(s[c * nc + d].1))
                            .sum::<f64>()
                    })
                    .fold(0.0f64, f64::max);
                best = best.max(trace.min(row_sum));
            }
            best
        })
        .collect();
    // A hair above the bound: f32 rounding must not make the step unstable.
    (per_chunk.into_iter().fold(0.0f64, f64::max) * (1.0 + 1e-4)) as f32
}

/// The scalars of one accelerated step.
#[derive(Clone, Copy)]
struct StepSettings {
    /// Momentum `β`.
    beta: f32,
    /// `1/L`.
    step: f32,
    /// λ, for the KKT check.
    lambda: f32,
    /// `λ/L`, the threshold of the step.
    scaled_lambda: f32,
    nonneg: bool,
}

/// Lanes of the vectorised reductions.
const LANES: usize = 8;

/// The KKT violation of `a` (`max_i |T(n_i a_i − g_i)/n_i − a_i|`) and the
/// next outputs `T_{λ/L}(y − g(y)/L)` of one map, and `Σ (y − a⁺)(a⁺ − a)`
/// (positive: the momentum went uphill). Branch-free, in lanes, so it
/// vectorises; the sums run in a fixed order.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn prox_step(
    s: &StepSettings,
    a: &[f32],
    next: &mut [f32],
    [g, gp]: [&[f32]; 2],
    norm2: Option<&[f32]>,
) -> (f32, f64) {
    // The planes are separate arguments, not fields of a struct: only then
    // does the compiler know `next` aliases nothing, and vectorise.
    let s = StepSettings { ..*s };
    let floor = if s.nonneg { 0.0 } else { f32::NEG_INFINITY };
    let mut acc = Lanes {
        violation: [0.0; LANES],
        uphill: [0.0; LANES],
    };
    let ones = [1.0f32; LANES];
    let chunks = a
        .chunks_exact(LANES)
        .zip(next.chunks_exact_mut(LANES))
        .zip(g.chunks_exact(LANES).zip(gp.chunks_exact(LANES)));
    match norm2 {
        None => {
            for ((a, next), (g, gp)) in chunks {
                step_lanes(&s, floor, &mut acc, [a, g, gp], next, &ones);
            }
        }
        Some(norm2) => {
            for (((a, next), (g, gp)), n) in chunks.zip(norm2.chunks_exact(LANES)) {
                let n = n.try_into().expect("a chunk of LANES");
                step_lanes(&s, floor, &mut acc, [a, g, gp], next, n);
            }
        }
    }
    // The tail of planes whose size is not a multiple of the lanes, padded.
    let tail = a.len() / LANES * LANES;
    if tail < a.len() {
        let pad = |v: &[f32]| {
            let mut out = [0.0f32; LANES];
            out[..v.len() - tail].copy_from_slice(&v[tail..]);
            out
        };
        let (ta, tg, tgp) = (pad(a), pad(g), pad(gp));
        let mut tnext = pad(next);
        let n = norm2.map_or(ones, pad);
        step_lanes(&s, floor, &mut acc, [&ta, &tg, &tgp], &mut tnext, &n);
        let len = a.len() - tail;
        next[tail..].copy_from_slice(&tnext[..len]);
    }
    (
        acc.violation.iter().fold(0.0f32, |m, &v| m.max(v)),
        acc.uphill.iter().map(|&v| f64::from(v)).sum(),
    )
}

/// The per-lane reductions of [`prox_step`].
struct Lanes {
    violation: [f32; LANES],
    uphill: [f32; LANES],
}

/// [`prox_step`] on one chunk of `LANES` neurons: `[a, g, g′]`, the
/// previous outputs `next` (overwritten by the next ones) and `‖atom‖²`.
/// Comparisons rather than `f32::max`/`abs`, fixed-length arrays rather than
/// slices: in this form the lanes vectorise.
#[inline(always)]
fn step_lanes(
    s: &StepSettings,
    floor: f32,
    acc: &mut Lanes,
    [a, g, gp]: [&[f32]; 3],
    next: &mut [f32],
    n: &[f32; LANES],
) {
    let a: &[f32; LANES] = a.try_into().expect("a chunk of LANES");
    let g: &[f32; LANES] = g.try_into().expect("a chunk of LANES");
    let gp: &[f32; LANES] = gp.try_into().expect("a chunk of LANES");
    let next: &mut [f32; LANES] = next.try_into().expect("a chunk of LANES");
    for j in 0..LANES {
        // 1/‖atom‖², and 0 where the neuron never activates (padding,
        // atoms cut off entirely).
        let active = n[j] > 0.0;
        let inv = if active { 1.0 / n[j] } else { 0.0 };
        let keep = if active { 1.0 } else { 0.0 };
        let fixed_point = soft_threshold(n[j] * a[j] - g[j], s.lambda, floor) * inv;
        let d = fixed_point - a[j];
        let v = if d > 0.0 { d } else { -d };
        let y = a[j] + s.beta * (a[j] - next[j]);
        let gy = g[j] + s.beta * (g[j] - gp[j]);
        let out = soft_threshold(y - s.step * gy, s.scaled_lambda, floor) * keep;
        next[j] = out;
        acc.violation[j] = if v > acc.violation[j] {
            v
        } else {
            acc.violation[j]
        };
        acc.uphill[j] += (y - out) * (out - a[j]);
    }
}

/// `n` maps of extent `size` placed at the start of planes of extent
/// `padded` (zeros elsewhere).
fn embed(maps: &[f32], n: usize, size: [usize; 3], padded: [usize; 3]) -> Vec<f32> {
    let ([d, h, w], [pd, rows, cols]) = (size, padded);
    let pl = pd * rows * cols;
    let mut out = vec![0.0f32; n * pl];
    for m in 0..n {
        for z in 0..d {
            for y in 0..h {
                let dst = m * pl + (z * rows + y) * cols;
                out[dst..dst + w].copy_from_slice(&maps[((m * d + z) * h + y) * w..][..w]);
            }
        }
    }
    out
}

/// Solves one signal from `start` (`n_filters` maps of its extent, or zeros).
pub(super) fn solve(
    dict: &ConvDictionary,
    image: &Planes,
    start: Option<&[f32]>,
    settings: &AcceleratedSettings,
) -> AcceleratedResult {
    let problem = FourierProblem::new(dict, image, settings.boundary);
    let (nf, pl) = (problem.n_filters, problem.plane_len());
    let mut work = Work::new(&problem);
    // Outputs a, previous outputs a′, and the gradients at both.
    let mut a = match start {
        Some(start) => problem.embed(start, nf),
        None => vec![0.0f32; nf * pl],
    };
    let mut prev = a.clone();
    let mut g = vec![0.0f32; nf * pl];
    let mut g_prev = vec![0.0f32; nf * pl];
    // Zero boundary: ‖atom‖² of the coefficients, their atoms cut by the edges.
    let norm2: Option<Vec<f32>> = (settings.boundary == Boundary::Zero).then(|| {
        let norm2: Vec<f32> = edge_inv_norm2_of(dict, problem.size)
            .into_iter()
            .map(|v| if v > 0.0 { 1.0 / v } else { 0.0 })
            .collect();
        problem.embed(&norm2, nf)
    });
    let scale = if start.is_some_and(|s| s.iter().any(|&v| v != 0.0)) {
        let zeros = vec![0.0f32; nf * pl];
        problem.gradient(&zeros, &mut g, &mut work);
        g.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    } else {
        0.0
    };
    let tol_setting = settings.tol;
    let mut tol = scale * tol_setting;
    let step = 1.0 / problem.lipschitz;
    let transfer = settings.transfer;
    let scaled_lambda = transfer.lambda * step;
    let nonneg = transfer.nonneg;
    let mut t = 1.0f64;
    let mut restart = false;
    let mut iterations = 0u32;
    let termination = loop {
        problem.gradient(&a, &mut g, &mut work);
        if iterations == 0 && tol == 0.0 && scale == 0.0 {
            // From zero outputs the gradient is −b.
            tol = tol_setting * g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        }
        let beta = if iterations == 0 || restart {
            t = 1.0;
            0.0
        } else {
            let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let beta = (t - 1.0) / t_next;
            t = t_next;
            beta as f32
        };
        // One pass per map: the KKT violation of a, and the next outputs
        // (written over a′, which the step no longer needs).
        let step_settings = StepSettings {
            beta,
            step,
            lambda: transfer.lambda,
            scaled_lambda,
            nonneg,
        };
        let stats: Vec<(f32, f64)> = prev
            .par_chunks_mut(pl)
            .zip(a.par_chunks(pl))
            .zip(g.par_chunks(pl).zip(g_prev.par_chunks(pl)))
            .enumerate()
            .map(|(m, ((next, a), (g, gp)))| {
                let n = norm2.as_ref().map(|n| &n[m * pl..(m + 1) * pl]);
                prox_step(&step_settings, a, next, [g, gp], n)
            })
            .collect();
        let violation = stats.iter().fold(0.0f32, |m, s| m.max(s.0));
        let uphill: f64 = stats.iter().map(|s| s.1).sum();
        if violation <= tol {
            break Termination::Converged;
        }
        if iterations as usize >= settings.max_iters {
            break Termination::MaxIterations;
        }
        // Gradient restart: the step undid the momentum.
        restart = uphill > 0.0;
        std::mem::swap(&mut a, &mut prev);
        std::mem::swap(&mut g, &mut g_prev);
        iterations += 1;
    };
    AcceleratedResult {
        codes: problem.extract(&a, nf),
        iterations,
        termination,
    }
}
