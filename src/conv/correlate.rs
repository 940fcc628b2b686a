//! The linear maps of convolutional sparse coding, computed directly in the
//! pixel domain: synthesis `x̂ = Σ_m D_m ∗ A_m` (from the non-zero
//! coefficients only), analysis `b = D ⋆ x` (the LCA drive), and the Gram
//! kernels `G_mn = D_m ⋆ D_n` through which neurons inhibit each other.
//!
//! Geometry: coefficient `(m, y, x)` places tap `(p, q)` of filter `m` on
//! pixel `(y + p − o, x + q − o)`, `o = (k − 1)/2` rounded down, which is
//! `scipy.signal.convolve2d(A[m], D[m, c], mode='same')` for odd and even
//! `k`; likewise along each axis of 1-D and 3-D signals (`scipy.ndimage` /
//! `scipy.signal.convolve(..., mode='same')` centring). Beyond the edges the
//! signal wraps ([`Boundary::Circular`]) or is zero ([`Boundary::Zero`]).
//! Every map is walked as (depth, height, width), the leading axes of
//! extent 1 below three dimensions.

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

/// `k×k`, `kd×kh×kw`: a kernel's or a signal's extent along `dims` axes.
pub(super) fn extent_text(extent: [usize; 3], dims: usize) -> String {
    extent[3 - dims..]
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("×")
}

/// Whether a signal of extent `size` spans no more than `dims` axes.
fn fits_dims(size: [usize; 3], dims: usize) -> bool {
    size[..3 - dims].iter().all(|&n| n == 1)
}

/// Fails unless `image` fits `dict`: same channels, no more spatial axes
/// than the filters, and at least as large as the filters along every axis
/// (so no filter overlaps itself around a circular signal).
pub fn check_image(dict: &ConvDictionary, image: &Planes) -> Result<()> {
    if image.channels != dict.channels() {
        let mut shape = vec![dict.n_filters(), dict.channels()];
        shape.extend_from_slice(dict.kernel_shape());
        return Err(Error::Shape(format!(
            "the image has {} channel(s) but the filters have {} (dictionary shape {})",
            image.channels,
            dict.channels(),
            super::dims::shape_text(&shape)
        )));
    }
    let what = if dict.dims() == 2 { "image" } else { "signal" };
    check_extent(dict, image.extent(), what)
}

/// Fails unless maps of extent `size` fit the filters of `dict`.
fn check_extent(dict: &ConvDictionary, size: [usize; 3], what: &str) -> Result<()> {
    let (k, dims) = (dict.extent(), dict.dims());
    if !fits_dims(size, dims) {
        return Err(Error::Shape(format!(
            "the {what} has extent {} but the filters are {dims}-D",
            extent_text(size, 3)
        )));
    }
    if size.iter().zip(&k).any(|(n, k)| n < k) {
        return Err(Error::Shape(format!(
            "the {what} ({}) is smaller than the {} filters",
            extent_text(size, dims),
            extent_text(k, dims)
        )));
    }
    Ok(())
}

/// Fails unless `codes` are `(n_filters, …)` maps.
fn check_codes(dict: &ConvDictionary, codes: &Planes) -> Result<()> {
    if codes.channels != dict.n_filters() {
        return Err(Error::Shape(format!(
            "codes have {} maps but the dictionary has {} filters",
            codes.channels,
            dict.n_filters()
        )));
    }
    check_extent(dict, codes.extent(), "code map")
}

/// The drive `b[m] = Σ_c D[m, c] ⋆ x[c]`: the correlation of every filter
/// with the image, `(n_filters, …)` maps of the image's extent; `b[m, p]` is
/// the inner product of the image with the atom of coefficient `(m, p)`.
/// Filters run in parallel.
///
/// Direct correlation costs `n_filters·C·|k|` multiply-adds per position,
/// done once per image as rows of contiguous multiply-adds; the solver's
/// work (thousands of Gram scatters) dwarfs it, so no FFT is needed.
pub fn correlate(dict: &ConvDictionary, image: &Planes, boundary: Boundary) -> Result<Planes> {
    check_image(dict, image)?;
    let [d, h, w] = image.extent();
    let padded: Vec<Vec<f32>> = (0..dict.channels())
        .map(|c| pad_plane(image.plane(c), image.extent(), dict, boundary))
        .collect();
    let mut out = Planes::zeros_with_extent(dict.n_filters(), image.extent());
    out.data
        .par_chunks_mut(d * h * w)
        .enumerate()
        .for_each(|(m, bm)| {
            for (c, xp) in padded.iter().enumerate() {
                correlate_padded(bm, dict.kernel(m, c), xp, image.extent(), dict.extent());
            }
        });
    Ok(out)
}

/// One channel `(D, H, W)` padded to `(D + kd − 1, H + kh − 1, W + kw − 1)`
/// with what each filter tap reads beyond the edges — the wrapped signal
/// (circular) or zeros — so that `b[z, y, x]` reads
/// `padded[z + r, y + p, x + q]` for tap `(r, p, q)`, with no boundary test
/// in the loop.
fn pad_plane(
    xc: &[f32],
    [d, h, w]: [usize; 3],
    dict: &ConvDictionary,
    boundary: Boundary,
) -> Vec<f32> {
    let [kd, kh, kw] = dict.extent();
    let [oz, oy, ox] = dict.origins().map(|o| o as isize);
    let (pd, ph, pw) = (d + kd - 1, h + kh - 1, w + kw - 1);
    let source = |u: usize, o: isize, n: usize| -> Option<usize> {
        let i = u as isize - o;
        match boundary {
            Boundary::Circular => Some(i.rem_euclid(n as isize) as usize),
            Boundary::Zero => (0..n as isize).contains(&i).then_some(i as usize),
        }
    };
    let mut out = vec![0.0f32; pd * ph * pw];
    for u in 0..pd {
        let Some(z) = source(u, oz, d) else { continue };
        for v in 0..ph {
            let Some(y) = source(v, oy, h) else { continue };
            let row = &xc[(z * h + y) * w..][..w];
            let dst = &mut out[(u * ph + v) * pw..][..pw];
            for (t, cell) in dst.iter_mut().enumerate() {
                if let Some(x) = source(t, ox, w) {
                    *cell = row[x];
                }
            }
        }
    }
    out
}

/// Lanes of one block of outputs in [`correlate_padded`].
const CORRELATE_LANES: usize = 16;

/// `b[z, y, x] += Σ_(r,p,q) D[r, p, q]·padded[z + r, y + p, x + q]` for one
/// filter and channel ([`pad_plane`]): blocks of `B·16` outputs of a row
/// held in registers while every tap is added, the taps in the order of
/// the kernel — per output, the same terms in the same order as one axpy
/// per tap (no fused multiply-add), so the drive is the same to the bit —
/// instead of one pass over the whole plane per tap, which was bound by
/// memory traffic. Cloned for AVX2 only: dense 512-bit arithmetic here
/// lowered the clock for the settling around it, and a learning run with an
/// AVX-512 clone was slower than with none (BENCHMARKS.md).
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn correlate_padded(
    bm: &mut [f32],
    kernel: &[f32],
    xp: &[f32],
    [d, h, w]: [usize; 3],
    k: [usize; 3],
) {
    const L: usize = CORRELATE_LANES;
    let (ph, pw) = (h + k[1] - 1, w + k[2] - 1);
    for z in 0..d {
        for y in 0..h {
            let out = &mut bm[(z * h + y) * w..][..w];
            // Rows of the padded plane this output row reads, by (r, p).
            let src = |r: usize, p: usize| &xp[((z + r) * ph + y + p) * pw..][..pw];
            let mut x0 = 0;
            while x0 + 4 * L <= w {
                correlate_block::<4>(out, x0, kernel, k, &src);
                x0 += 4 * L;
            }
            while x0 + L <= w {
                correlate_block::<1>(out, x0, kernel, k, &src);
                x0 += L;
            }
            // The rest of the row, one output at a time, in the same order.
            for (x, o) in out.iter_mut().enumerate().skip(x0) {
                let mut acc = *o;
                for r in 0..k[0] {
                    for p in 0..k[1] {
                        for (q, &sv) in src(r, p)[x..][..k[2]].iter().enumerate() {
                            let tap = kernel[(r * k[1] + p) * k[2] + q];
                            if tap != 0.0 {
                                acc += tap * sv;
                            }
                        }
                    }
                }
                *o = acc;
            }
        }
    }
}

/// `B` blocks of 16 outputs from `x0` on, in registers over all taps
/// (inlined into each clone of [`correlate_padded`]).
#[inline(always)]
fn correlate_block<'a, const B: usize>(
    out: &mut [f32],
    x0: usize,
    kernel: &[f32],
    [kd, kh, kw]: [usize; 3],
    src: &impl Fn(usize, usize) -> &'a [f32],
) {
    const L: usize = CORRELATE_LANES;
    let mut acc = [[0.0f32; L]; B];
    for (b, a) in acc.iter_mut().enumerate() {
        a.copy_from_slice(&out[x0 + b * L..][..L]);
    }
    for r in 0..kd {
        for p in 0..kh {
            let row = src(r, p);
            for q in 0..kw {
                let tap = kernel[(r * kh + p) * kw + q];
                if tap == 0.0 {
                    continue;
                }
                for (b, a) in acc.iter_mut().enumerate() {
                    let s: &[f32; L] = row[x0 + b * L + q..][..L].try_into().expect("L lanes");
                    for l in 0..L {
                        a[l] += tap * s[l];
                    }
                }
            }
        }
    }
    for (b, a) in acc.iter().enumerate() {
        out[x0 + b * L..][..L].copy_from_slice(a);
    }
}

/// `b[z, y, x] += Σ_(r,p,q) D[r, p, q]·x[z + r − oz, y + p − oy, x + q − ox]`
/// for one filter and channel: tap by tap, an axpy along every row of the
/// signal — the plain form [`correlate_padded`] must match bit for bit. The runs of each axis are found first, so the loops hold no
/// closure (closures are compiled for the baseline target, not for the
/// target this function is cloned for).
#[cfg(test)]
fn correlate_plane(
    bm: &mut [f32],
    kernel: &[f32],
    xc: &[f32],
    [d, h, w]: [usize; 3],
    dict: &ConvDictionary,
    boundary: Boundary,
) {
    let [kd, kh, kw] = dict.extent();
    let [oz, oy, ox] = dict.origins().map(|o| o as isize);
    for r in 0..kd {
        let (slices, n_slices) = window_runs(r as isize - oz, d, d, boundary);
        for p in 0..kh {
            let (rows, n_rows) = window_runs(p as isize - oy, h, h, boundary);
            for q in 0..kw {
                let tap = kernel[(r * kh + p) * kw + q];
                if tap == 0.0 {
                    continue;
                }
                let (cols, n_cols) = window_runs(q as isize - ox, w, w, boundary);
                for &(z0, sz, n_z) in &slices[..n_slices] {
                    for i in 0..n_z {
                        let (bz, xz) = ((z0 + i) * h * w, (sz + i) * h * w);
                        for &(y0, sy, n_y) in &rows[..n_rows] {
                            for j in 0..n_y {
                                let dst = &mut bm[bz + (y0 + j) * w..][..w];
                                let src = &xc[xz + (sy + j) * w..][..w];
                                for &(x0, sx, n) in &cols[..n_cols] {
                                    for (dv, &sv) in
                                        dst[x0..x0 + n].iter_mut().zip(&src[sx..sx + n])
                                    {
                                        *dv += tap * sv;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The pieces `(offset, index, len)` of a window along one axis
/// ([`for_each_run`]) and their number: a Gram window, at most `2·size − 1`
/// cells, wraps into at most three.
#[inline(always)]
pub(crate) fn window_runs(
    start: isize,
    len: usize,
    size: usize,
    boundary: Boundary,
) -> ([(usize, usize, usize); 3], usize) {
    let mut runs = [(0usize, 0usize, 0usize); 3];
    let mut n = 0;
    for_each_run(start, len, size, boundary, |off, i, count| {
        runs[n] = (off, i, count);
        n += 1;
    });
    (runs, n)
}

/// Adds `Σ_t D_m[t]·D_n[t − Δ]` of one channel to the taps `acc`.
///
/// Row by row of both kernels: a tap gathers its products in the order of
/// `t`, as the plain four-fold loop over `(t, s)` would (same sums, same
/// bits; no fused multiply-add), with the innermost loop a contiguous axpy
/// along `tx`.
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
fn gram_pair(acc: &mut [f64], dm: &[f32], dn: &[f32], k: [usize; 3]) {
    let [kd, kh, kw] = k;
    let spans = k.map(|k| 2 * k - 1);
    let mut wm = vec![0.0f64; kw];
    for (row_t, tm) in dm.chunks_exact(kw).enumerate() {
        let (tz, ty) = (row_t / kh, row_t % kh);
        for (w, &v) in wm.iter_mut().zip(tm) {
            *w = f64::from(v);
        }
        for (row_s, sn) in dn.chunks_exact(kw).enumerate() {
            let (sz, sy) = (row_s / kh, row_s % kh);
            let lag_row = ((tz + kd - 1 - sz) * spans[1] + (ty + kh - 1 - sy)) * spans[2];
            for (sx, &wn) in sn.iter().enumerate() {
                // Δx = tx − sx, stored at tx + kw − 1 − sx.
                let wn = f64::from(wn);
                for (a, &w) in acc[lag_row + kw - 1 - sx..][..kw].iter_mut().zip(&wm) {
                    *a += w * wn;
                }
            }
        }
    }
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
    let [d, h, w] = codes.extent();
    let [kd, kh, kw] = dict.extent();
    let [oz, oy, ox] = dict.origins().map(|o| o as isize);
    let mut out = Planes::zeros_with_extent(dict.channels(), codes.extent());
    out.data
        .par_chunks_mut(d * h * w)
        .enumerate()
        .for_each(|(c, xc)| {
            for m in 0..dict.n_filters() {
                let kernel = dict.kernel(m, c);
                for (i, &a) in codes.plane(m).iter().enumerate() {
                    if a == 0.0 {
                        continue;
                    }
                    let (z, y, x) = (
                        (i / (h * w)) as isize,
                        (i / w % h) as isize,
                        (i % w) as isize,
                    );
                    for_each_run(z - oz, kd, d, boundary, |r0, pz, slices| {
                        for s in 0..slices {
                            let (slice, taps) = ((pz + s) * h * w, (r0 + s) * kh * kw);
                            for_each_run(y - oy, kh, h, boundary, |p0, py, rows| {
                                for j in 0..rows {
                                    let row = &mut xc[slice + (py + j) * w..][..w];
                                    let taps = &kernel[taps + (p0 + j) * kw..][..kw];
                                    for_each_run(x - ox, kw, w, boundary, |q0, px, n| {
                                        axpy(&mut row[px..px + n], &taps[q0..q0 + n], a);
                                    });
                                }
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
    if codes.extent() != image.extent() {
        return Err(Error::Shape(format!(
            "code maps are {} but the image is {}",
            extent_text(codes.extent(), dict.dims()),
            extent_text(image.extent(), dict.dims())
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
/// product of the atom of coefficient `(m, p)` with that of `(n, p + Δ)`,
/// for offsets `Δ` within `±(k − 1)` along every axis (zero beyond). A
/// coefficient change `δ` of `(m, p)` lowers the input of `(n, p + Δ)` by
/// `δ·G_mn(Δ)`.
#[derive(Clone, Debug)]
pub struct GramKernels {
    n_filters: usize,
    /// Kernel extent along (depth, height, width).
    k: [usize; 3],
    /// `[m][n][Δz + kd − 1][Δy + kh − 1][Δx + kw − 1]`, so one coefficient's
    /// scatter reads one contiguous block.
    taps: Vec<f32>,
}

impl GramKernels {
    /// All `n_filters²` kernels of `Π(2k − 1)` taps (filter pairs in parallel).
    pub fn new(dict: &ConvDictionary) -> GramKernels {
        let (nf, ch) = (dict.n_filters(), dict.channels());
        let k = dict.extent();
        let block: usize = k.iter().map(|k| 2 * k - 1).product();
        let mut taps = vec![0.0f32; nf * nf * block];
        taps.par_chunks_mut(block)
            .enumerate()
            .for_each(|(pair, g)| {
                let (m, n) = (pair / nf, pair % nf);
                let mut acc = vec![0.0f64; block];
                for c in 0..ch {
                    gram_pair(&mut acc, dict.kernel(m, c), dict.kernel(n, c), k);
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

    /// Side of every kernel along the width axis, `2kw − 1` (the side of
    /// square 2-D kernels).
    pub fn span(&self) -> usize {
        2 * self.k[2] - 1
    }

    /// Taps of one kernel, `Π(2k − 1)` over the three axes.
    pub fn block(&self) -> usize {
        self.k.iter().map(|k| 2 * k - 1).product()
    }

    /// The kernels of filter `m` against every filter: `n_filters` blocks
    /// of [`GramKernels::block`] taps.
    pub fn row(&self, m: usize) -> &[f32] {
        let block = self.n_filters * self.block();
        &self.taps[m * block..(m + 1) * block]
    }

    /// `G_mn(Δy, Δx)` of 1-D or 2-D kernels (`Δy = 0` for 1-D).
    pub fn get(&self, m: usize, n: usize, dy: isize, dx: isize) -> f32 {
        self.get3(m, n, [0, dy, dx])
    }

    /// `G_mn(Δz, Δy, Δx)`.
    pub fn get3(&self, m: usize, n: usize, delta: [isize; 3]) -> f32 {
        let r = self.k.map(|k| k as isize - 1);
        if (0..3).any(|a| delta[a].abs() > r[a]) {
            return 0.0;
        }
        let spans = self.k.map(|k| 2 * k - 1);
        let at = ((delta[0] + r[0]) as usize * spans[1] + (delta[1] + r[1]) as usize) * spans[2]
            + (delta[2] + r[2]) as usize;
        self.row(m)[n * self.block() + at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` values in [−0.5, 0.5) from a linear congruential generator.
    fn noise(state: &mut u64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (*state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn drive_matches_one_axpy_per_tap_bit_for_bit() {
        let mut seed = 11u64;
        let mut noise = |n: usize| noise(&mut seed, n);
        // 2-D square and wide kernels on rows of 64+16+3, 16 and 13 cells
        // (the 4-block, 1-block and one-at-a-time paths), even kernels,
        // 1-D, 3-D, two channels, a zero tap.
        let cases: [(&[usize], usize, [usize; 3]); 6] = [
            (&[12, 12], 1, [1, 30, 83]),
            (&[3, 5], 2, [1, 9, 16]),
            (&[4, 4], 1, [1, 7, 13]),
            (&[9], 2, [1, 1, 200]),
            (&[2, 3, 4], 2, [5, 6, 21]),
            (&[5, 5], 3, [1, 12, 70]),
        ];
        for (shape, channels, extent) in cases {
            let len: usize = shape.iter().product::<usize>() * channels;
            let mut data = noise(3 * len);
            data[1] = 0.0;
            let dict = ConvDictionary::normalized_with_shape(3, channels, shape, data).unwrap();
            let plane: usize = extent.iter().product();
            let image = Planes::with_extent(channels, extent, noise(channels * plane)).unwrap();
            for boundary in [Boundary::Circular, Boundary::Zero] {
                let got = correlate(&dict, &image, boundary).unwrap();
                let mut want = vec![0.0f32; 3 * plane];
                for (m, bm) in want.chunks_mut(plane).enumerate() {
                    for c in 0..channels {
                        let k = dict.kernel(m, c);
                        correlate_plane(bm, k, image.plane(c), extent, &dict, boundary);
                    }
                }
                assert!(
                    got.data
                        .iter()
                        .zip(&want)
                        .all(|(g, w)| g.to_bits() == w.to_bits()),
                    "{shape:?} on {extent:?}, {boundary:?}"
                );
            }
        }
    }

    #[test]
    fn gram_kernels_match_the_plain_fourfold_loop_bit_for_bit() {
        // 3-D kernels with two channels, and 2-D ones wider than tall.
        for (shape, channels) in [(vec![2usize, 3, 4], 2usize), (vec![3, 5], 1)] {
            let len: usize = shape.iter().product::<usize>() * channels;
            let data = noise(&mut 7, 3 * len);
            let dict = ConvDictionary::normalized_with_shape(3, channels, &shape, data).unwrap();
            let gram = GramKernels::new(&dict);
            let [kd, kh, kw] = dict.extent();
            let spans = [2 * kd - 1, 2 * kh - 1, 2 * kw - 1];
            for m in 0..3 {
                for n in 0..3 {
                    let mut acc = vec![0.0f64; gram.block()];
                    for c in 0..channels {
                        let (dm, dn) = (dict.kernel(m, c), dict.kernel(n, c));
                        for (t, &wm) in dm.iter().enumerate() {
                            let (tz, ty, tx) = (t / (kh * kw), t / kw % kh, t % kw);
                            for (s, &wn) in dn.iter().enumerate() {
                                let (sz, sy, sx) = (s / (kh * kw), s / kw % kh, s % kw);
                                let at = ((tz + kd - 1 - sz) * spans[1] + (ty + kh - 1 - sy))
                                    * spans[2]
                                    + (tx + kw - 1 - sx);
                                acc[at] += f64::from(wm) * f64::from(wn);
                            }
                        }
                    }
                    let got = &gram.row(m)[n * gram.block()..][..gram.block()];
                    assert!(
                        got.iter()
                            .zip(&acc)
                            .all(|(g, a)| g.to_bits() == (*a as f32).to_bits()),
                        "{shape:?}: pair ({m}, {n})"
                    );
                }
            }
        }
    }
}
