//! The linear maps of convolutional sparse coding, computed directly in the
//! pixel domain: synthesis `x̂ = Σ_m D_m ∗ A_m` (from the non-zero
//! coefficients only), analysis `b = D ⋆ x` (the LCA drive), and the Gram
//! kernels `G_mn = D_m ⋆ D_n` through which neurons inhibit each other.
//!
//! Geometry: coefficient `(m, y, x)` places tap `(p, q)` of filter `m` on
//! pixel `(y + p − o, x + q − o)`, `o = (k − 1)/2` rounded down, which is
//! `scipy.signal.convolve2d(A[m], D[m, c], mode='same')` for odd and even
//! `k`. Beyond the edges the image wraps ([`Boundary::Circular`]) or is zero
//! ([`Boundary::Zero`]).

use rayon::prelude::*;

use super::dictionary::ConvDictionary;
use super::planes::{Boundary, Planes};
use crate::error::{Error, Result};

/// Calls `f(offset, index, len)` for each contiguous piece of the window
/// `start .. start + len` of an axis of `size` cells: wrapped around for the
/// circular boundary, clipped to `0..size` for the zero boundary. `offset` is
/// the position of the piece within the window.
#[inline(always)]
pub(crate) fn for_each_run(
    start: isize,
    len: usize,
    size: usize,
    boundary: Boundary,
    mut f: impl FnMut(usize, usize, usize),
) {
    match boundary {
        Boundary::Zero => {
            let lo = start.max(0);
            let hi = (start + len as isize).min(size as isize);
            if lo < hi {
                f((lo - start) as usize, lo as usize, (hi - lo) as usize);
            }
        }
        Boundary::Circular => {
            let mut offset = 0;
            let mut index = start.rem_euclid(size as isize) as usize;
            while offset < len {
                let n = (size - index).min(len - offset);
                f(offset, index, n);
                offset += n;
                index = 0;
            }
        }
    }
}

/// [`check_image`] for every image of a batch, naming the first that fails.
pub(crate) fn check_images(dict: &ConvDictionary, images: &[Planes]) -> Result<()> {
    for (i, image) in images.iter().enumerate() {
        check_image(dict, image).map_err(|e| Error::Shape(format!("image {i}: {e}")))?;
    }
    Ok(())
}

/// Fails unless `image` fits `dict`: same channels, and at least `k` pixels
/// high and wide (so no filter overlaps itself around a circular image).
pub fn check_image(dict: &ConvDictionary, image: &Planes) -> Result<()> {
    let k = dict.kernel_size();
    if image.channels != dict.channels() {
        return Err(Error::Shape(format!(
            "the image has {} channel(s) but the filters have {} (dictionary shape ({}, {}, {k}, {k}))",
            image.channels,
            dict.channels(),
            dict.n_filters(),
            dict.channels()
        )));
    }
    if image.height < k || image.width < k {
        return Err(Error::Shape(format!(
            "the image ({}×{}) is smaller than the {k}×{k} filters",
            image.height, image.width
        )));
    }
    Ok(())
}

/// Fails unless `codes` are `(n_filters, H, W)` maps.
fn check_codes(dict: &ConvDictionary, codes: &Planes) -> Result<()> {
    if codes.channels != dict.n_filters() {
        return Err(Error::Shape(format!(
            "codes have {} maps but the dictionary has {} filters",
            codes.channels,
            dict.n_filters()
        )));
    }
    let k = dict.kernel_size();
    if codes.height < k || codes.width < k {
        return Err(Error::Shape(format!(
            "code maps ({}×{}) are smaller than the {k}×{k} filters",
            codes.height, codes.width
        )));
    }
    Ok(())
}

/// The drive `b[m] = Σ_c D[m, c] ⋆ x[c]`: the correlation of every filter
/// with the image, `(n_filters, H, W)`; `b[m, y, x]` is the inner product of
/// the image with the atom of coefficient `(m, y, x)`. Filters run in parallel.
///
/// Direct correlation costs `n_filters·C·k²` multiply-adds per pixel, done
/// once per image as rows of contiguous multiply-adds; the solver's work
/// (thousands of Gram scatters) dwarfs it, so no FFT is needed.
pub fn correlate(dict: &ConvDictionary, image: &Planes, boundary: Boundary) -> Result<Planes> {
    check_image(dict, image)?;
    let (h, w) = (image.height, image.width);
    let k = dict.kernel_size();
    let o = dict.origin() as isize;
    let mut out = Planes::zeros(dict.n_filters(), h, w);
    out.data
        .par_chunks_mut(h * w)
        .enumerate()
        .for_each(|(m, bm)| {
            for c in 0..dict.channels() {
                let kernel = dict.kernel(m, c);
                let xc = image.plane(c);
                for p in 0..k {
                    for q in 0..k {
                        let tap = kernel[p * k + q];
                        if tap == 0.0 {
                            continue;
                        }
                        // b[y, x] += tap · x[y + p − o, x + q − o]
                        for_each_run(p as isize - o, h, h, boundary, |y0, sy, rows| {
                            for j in 0..rows {
                                let dst = &mut bm[(y0 + j) * w..(y0 + j + 1) * w];
                                let src = &xc[(sy + j) * w..(sy + j + 1) * w];
                                for_each_run(q as isize - o, w, w, boundary, |x0, sx, n| {
                                    axpy(&mut dst[x0..x0 + n], &src[sx..sx + n], tap);
                                });
                            }
                        });
                    }
                }
            }
        });
    Ok(out)
}

/// `dst += alpha·src`.
#[inline(always)]
pub(crate) fn axpy(dst: &mut [f32], src: &[f32], alpha: f32) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += alpha * s;
    }
}

/// The image the codes stand for: `x̂[c] = Σ_m D[m, c] ∗ A[m]`, one atom per
/// non-zero coefficient. See the module documentation of [`crate::conv`]
/// for the exact (scipy) convention.
pub fn reconstruct(dict: &ConvDictionary, codes: &Planes, boundary: Boundary) -> Result<Planes> {
    check_codes(dict, codes)?;
    let (h, w) = (codes.height, codes.width);
    let k = dict.kernel_size();
    let o = dict.origin() as isize;
    let mut out = Planes::zeros(dict.channels(), h, w);
    out.data
        .par_chunks_mut(h * w)
        .enumerate()
        .for_each(|(c, xc)| {
            for m in 0..dict.n_filters() {
                let kernel = dict.kernel(m, c);
                for (i, &a) in codes.plane(m).iter().enumerate() {
                    if a == 0.0 {
                        continue;
                    }
                    let (y, x) = ((i / w) as isize, (i % w) as isize);
                    for_each_run(y - o, k, h, boundary, |p0, py, rows| {
                        for j in 0..rows {
                            let row = &mut xc[(py + j) * w..(py + j + 1) * w];
                            let taps = &kernel[(p0 + j) * k..(p0 + j + 1) * k];
                            for_each_run(x - o, k, w, boundary, |q0, px, n| {
                                axpy(&mut row[px..px + n], &taps[q0..q0 + n], a);
                            });
                        }
                    });
                }
            }
        });
    Ok(out)
}

/// The convolutional LASSO objective `½‖x − Σ_m D_m ∗ A_m‖² + λ Σ|A|`,
/// accumulated in f64.
///
/// ```
/// use lca::conv::{Boundary, ConvDictionary, Planes, objective};
/// // One 1×1 filter: the objective is that of the plain LASSO per pixel.
/// let d = ConvDictionary::new(1, 1, 1, vec![1.0]).unwrap();
/// let x = Planes::new(1, 1, 2, vec![1.0, 0.0]).unwrap();
/// let a = Planes::new(1, 1, 2, vec![0.5, 0.0]).unwrap();
/// let e = objective(&d, &x, &a, 0.1, Boundary::Circular).unwrap();
/// assert!((e - (0.5 * 0.25 + 0.1 * 0.5)).abs() < 1e-9);
/// ```
pub fn objective(
    dict: &ConvDictionary,
    image: &Planes,
    codes: &Planes,
    lambda: f32,
    boundary: Boundary,
) -> Result<f64> {
    check_image(dict, image)?;
    if (codes.height, codes.width) != (image.height, image.width) {
        return Err(Error::Shape(format!(
            "code maps are {}×{} but the image is {}×{}",
            codes.height, codes.width, image.height, image.width
        )));
    }
    let recon = reconstruct(dict, codes, boundary)?;
    let residual: f64 = image
        .data
        .iter()
        .zip(&recon.data)
        .map(|(&x, &r)| (f64::from(x) - f64::from(r)).powi(2))
        .sum();
    let l1: f64 = codes.data.iter().map(|&a| f64::from(a.abs())).sum();
    Ok(0.5 * residual + f64::from(lambda) * l1)
}

/// The Gram kernels `G_mn(Δ) = Σ_c Σ_t D_m[c, t]·D_n[c, t − Δ]`: the inner
/// product of the atom of coefficient `(m, y)` with that of `(n, y + Δ)`,
/// for offsets `Δ ∈ [−(k−1), k−1]²` (zero beyond). A coefficient change `δ`
/// of `(m, y)` lowers the input of `(n, y + Δ)` by `δ·G_mn(Δ)`.
#[derive(Clone, Debug)]
pub struct GramKernels {
    n_filters: usize,
    k: usize,
    /// `[m][n][Δy + k − 1][Δx + k − 1]`, so one coefficient's scatter reads
    /// one contiguous block.
    taps: Vec<f32>,
}

impl GramKernels {
    /// All `n_filters²` kernels of `(2k − 1)²` taps (filter pairs in parallel).
    pub fn new(dict: &ConvDictionary) -> GramKernels {
        let (nf, k, ch) = (dict.n_filters(), dict.kernel_size(), dict.channels());
        let span = 2 * k - 1;
        let mut taps = vec![0.0f32; nf * nf * span * span];
        taps.par_chunks_mut(span * span)
            .enumerate()
            .for_each(|(pair, g)| {
                let (m, n) = (pair / nf, pair % nf);
                let mut acc = vec![0.0f64; span * span];
                for c in 0..ch {
                    let (dm, dn) = (dict.kernel(m, c), dict.kernel(n, c));
                    for (t, &wm) in dm.iter().enumerate() {
                        let (ty, tx) = (t / k, t % k);
                        for (s, &wn) in dn.iter().enumerate() {
                            // Δ = t − s, stored at Δ + k − 1.
                            let (sy, sx) = (s / k, s % k);
                            acc[(ty + k - 1 - sy) * span + (tx + k - 1 - sx)] +=
                                f64::from(wm) * f64::from(wn);
                        }
                    }
                }
                for (gi, ai) in g.iter_mut().zip(&acc) {
                    *gi = *ai as f32;
                }
            });
        GramKernels {
            n_filters: nf,
            k,
            taps,
        }
    }

    /// Side of every kernel, `2k − 1`.
    pub fn span(&self) -> usize {
        2 * self.k - 1
    }

    /// The kernels of filter `m` against every filter: `n_filters` blocks
    /// of `span²` taps.
    pub fn row(&self, m: usize) -> &[f32] {
        let block = self.n_filters * self.span() * self.span();
        &self.taps[m * block..(m + 1) * block]
    }

    /// `G_mn(Δy, Δx)`.
    pub fn get(&self, m: usize, n: usize, dy: isize, dx: isize) -> f32 {
        let r = self.k as isize - 1;
        if dy.abs() > r || dx.abs() > r {
            return 0.0;
        }
        let span = self.span();
        self.row(m)[n * span * span + (dy + r) as usize * span + (dx + r) as usize]
    }
}
