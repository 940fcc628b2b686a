//! Preprocessing that makes natural-image patches suitable for sparse coding,
//! with exact (or documented) inverses so reconstructions can be shown as
//! images.
//!
//! Natural images have a power spectrum falling like `1/f²`: raw patches are
//! dominated by a few smooth, low-frequency directions and dictionary learning
//! then spends its atoms on them. Two whitening options flatten the spectrum:
//!
//! * [`Whitening::OneOverF`] — Olshausen & Field (1996/1997): filter the whole
//!   image with `R(f) = f · exp(−(f/f0)⁴)` in the 2-D frequency domain. The
//!   `f` ramp whitens the `1/f` amplitude spectrum, the exponential rolls off
//!   the noisy corners of the spectrum. Translation-invariant and fit-free.
//! * [`Whitening::Zca`] — data-driven ZCA on patches (see [`Zca`]).
//!
//! After whitening, each patch can have its mean removed and be scaled to unit
//! norm ([`Preprocessing::remove_mean`], [`Preprocessing::unit_norm`]); the
//! removed mean and norm are returned as [`PatchStat`]s so the inverse can put
//! them back.

use std::sync::Arc;

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rayon::prelude::*;
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;
use serde::{Deserialize, Serialize};

use super::Image;
use super::folder::LoadOptions;
use crate::error::{Error, Result};
use crate::settings::Checked;

/// Olshausen's roll-off frequency: `f0 = 0.4` cycles/pixel (his `0.4·N`
/// cycles/picture for an `N`-pixel image), i.e. 0.8 × Nyquist.
pub const DEFAULT_F0: f32 = 0.4;
/// Default ZCA regulariser, in units of pixel variance (values in `[0, 1]`).
pub const DEFAULT_ZCA_EPSILON: f32 = 1e-3;
/// Per-pixel variance of an image after 1/f whitening (Olshausen scales his
/// whitened images to 0.1), so an 8×8 patch has a typical norm of about 2.5.
pub const WHITENED_VARIANCE: f32 = 0.1;
/// The inverse 1/f filter divides by `R(f)` only where `R(f)` exceeds this
/// fraction of its peak; other frequencies are set to zero (see
/// [`Preprocessor::inverse_image`]).
pub const INVERSE_CUTOFF: f32 = 1e-3;

/// Which whitening to apply before patches are normalised.
///
/// Serialised with a `kind` tag in kebab-case, e.g.
/// `{"kind":"one-over-f","f0":0.4}`; [`Whitening::from_name`] maps the CLI
/// names `none`, `one-over-f`, `zca` to their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Whitening {
    /// Keep pixels as they are.
    None,
    /// Whole-image filter `R(f) = f · exp(−(f/f0)⁴)`, `f` the radial spatial
    /// frequency in **cycles per pixel** (Nyquist = 0.5, so the result does
    /// not depend on the image size), applied per channel.
    OneOverF {
        /// Roll-off frequency in cycles/pixel (default [`DEFAULT_F0`]).
        f0: f32,
    },
    /// ZCA fitted on raw patches: `W = U (Λ + ε)^{-1/2} Uᵀ`.
    Zca {
        /// Regulariser ε added to the covariance eigenvalues, in pixel
        /// variance units; larger values whiten less and amplify less noise.
        epsilon: f32,
    },
}

/// Every preprocessing choice, recorded in a run's `config.json` so a learned
/// dictionary can be applied to new images the same way.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Preprocessing {
    /// Image shrink factor ≥ 1 (see [`LoadOptions::downscale`]).
    pub downscale: f32,
    /// RGB patches (`true`) or luminance (`false`).
    pub color: bool,
    /// Whitening applied before per-patch normalisation.
    pub whiten: Whitening,
    /// Subtract each patch's mean (over all its values, channels included):
    /// the DC is then carried exactly by the stats instead of by atoms.
    pub remove_mean: bool,
    /// Scale each patch to unit L2 norm, so one sparsity penalty λ fits bright
    /// and dim, high- and low-contrast patches alike.
    pub unit_norm: bool,
    /// Patches whose norm (after mean removal) is below this are "flat":
    /// dropped when sampling for learning, left unscaled when tiling.
    pub min_norm: f32,
}

crate::settings::setters!(Preprocessing {
    downscale: f32,
    color: bool,
    whiten: Whitening,
    remove_mean: bool,
    unit_norm: bool,
    min_norm: f32,
});

impl Default for Preprocessing {
    fn default() -> Self {
        Preprocessing {
            downscale: 1.0,
            color: false,
            whiten: Whitening::None,
            remove_mean: true,
            unit_norm: true,
            min_norm: 0.1,
        }
    }
}

impl Preprocessing {
    /// Fails with [`Error::InvalidSetting`] on a parameter out of range.
    pub fn check(self) -> Result<Checked<Preprocessing>> {
        self.load_options().check()?;
        if !(self.min_norm.is_finite() && self.min_norm >= 0.0) {
            return Err(Error::setting(
                "min_norm",
                format!("min_norm must be finite and >= 0, got {}", self.min_norm),
            ));
        }
        match self.whiten {
            Whitening::OneOverF { f0 } if !(f0.is_finite() && f0 > 0.0) => Err(Error::setting(
                "whitening",
                format!("one-over-f f0 must be > 0 cycles/pixel, got {f0}"),
            )),
            Whitening::Zca { epsilon } if !(epsilon.is_finite() && epsilon > 0.0) => {
                Err(Error::setting(
                    "whitening",
                    format!("zca epsilon must be > 0, got {epsilon}"),
                ))
            }
            _ => Ok(Checked::assume_valid(self)),
        }
    }

    /// The options an [`ImageSet`] must be loaded with for these settings.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            color: self.color,
            downscale: self.downscale,
        }
    }
}

/// What [`Preprocessor::forward_image`] removed from an image, needed to undo it.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageInfo {
    /// Per-channel mean subtracted before filtering (empty without 1/f whitening).
    pub channel_means: Vec<f32>,
    /// Factor the filtered image was multiplied by (1 without 1/f whitening).
    pub gain: f32,
}

/// What per-patch normalisation did to one patch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PatchStat {
    /// Mean subtracted (0 when `remove_mean` is off).
    pub mean: f32,
    /// L2 norm after mean removal, before any scaling.
    pub norm: f32,
    /// `norm >= min_norm`; only kept patches are scaled to unit norm.
    pub kept: bool,
}

// ---------------------------------------------------------------------------
// ZCA

/// ZCA whitening of patch vectors, fitted on a sample of patches.
///
/// `apply(x) = W (x − μ)` with `W = U (Λ + ε)^{-1/2} Uᵀ`, where `U Λ Uᵀ` is the
/// covariance of the fitting patches; `invert(y) = U (Λ + ε)^{1/2} Uᵀ y + μ`.
/// ZCA (unlike PCA whitening) stays in pixel space, so whitened patches still
/// look like patches and atoms can be displayed.
///
/// Stored as the mean μ, eigenvalues Λ and eigenvectors U (each exportable as
/// a numpy array through the accessors and [`Zca::from_parts`]); with serde it
/// serialises to `{"epsilon", "mean", "eigenvalues", "eigenvectors"}` where
/// `eigenvectors` is row-major `(n_features, n_features)` with eigenvector `k`
/// in column `k` (numpy's `eigh` convention).
///
/// ```
/// use lca::image::Zca;
/// use nalgebra::DMatrix;
/// let x = DMatrix::from_fn(2, 500, |r, c| ((c * 7 + r * 3) % 11) as f32 * (1.0 + r as f32));
/// let zca = Zca::fit(&x, 1e-6).unwrap();
/// let back = zca.invert(&zca.apply(&x).unwrap()).unwrap();
/// assert!((back - &x).abs().max() < 1e-3);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ZcaParts", into = "ZcaParts")]
pub struct Zca {
    epsilon: f32,
    mean: DVector<f32>,
    eigenvalues: DVector<f32>,
    eigenvectors: DMatrix<f32>,
    whiten: DMatrix<f32>,
    dewhiten: DMatrix<f32>,
}

#[derive(Serialize, Deserialize)]
struct ZcaParts {
    epsilon: f32,
    mean: Vec<f32>,
    eigenvalues: Vec<f32>,
    /// Row-major `(d, d)`, eigenvectors in columns.
    eigenvectors: Vec<f32>,
}

impl From<Zca> for ZcaParts {
    fn from(z: Zca) -> Self {
        ZcaParts {
            epsilon: z.epsilon,
            mean: z.mean.as_slice().to_vec(),
            eigenvalues: z.eigenvalues.as_slice().to_vec(),
            eigenvectors: z.eigenvectors.transpose().as_slice().to_vec(),
        }
    }
}

impl TryFrom<ZcaParts> for Zca {
    type Error = Error;
    fn try_from(p: ZcaParts) -> Result<Self> {
        let d = p.mean.len();
        if p.eigenvectors.len() != d * d {
            return Err(Error::Shape(format!(
                "zca eigenvectors have {} values, expected {d}×{d}",
                p.eigenvectors.len()
            )));
        }
        let u = DMatrix::from_row_slice(d, d, &p.eigenvectors);
        Zca::from_parts(p.mean, p.eigenvalues, u, p.epsilon)
    }
}

impl Zca {
    /// Fits ZCA on `patches` (one patch per column, at least 2 columns):
    /// covariance in `f32`, eigendecomposition in `f64`. Negative eigenvalues
    /// from rounding are clamped to 0.
    pub fn fit(patches: &DMatrix<f32>, epsilon: f32) -> Result<Zca> {
        let (d, n) = patches.shape();
        if n < 2 || d == 0 {
            return Err(Error::Shape(format!(
                "zca needs at least 2 patches of at least 1 value, got {n} of {d}"
            )));
        }
        crate::error::check_finite("zca patches", patches.as_slice())?;
        let mean: DVector<f32> = patches.column_mean();
        let mut centred = patches.clone();
        for mut col in centred.column_iter_mut() {
            col -= &mean;
        }
        let cov = (&centred * centred.transpose()) / (n - 1) as f32;
        drop(centred);
        let eig = SymmetricEigen::new(cov.map(f64::from));
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let eigenvalues: Vec<f32> = order
            .iter()
            .map(|&k| eig.eigenvalues[k].max(0.0) as f32)
            .collect();
        let eigenvectors = DMatrix::from_fn(d, d, |r, c| eig.eigenvectors[(r, order[c])] as f32);
        Zca::from_parts(mean.as_slice().to_vec(), eigenvalues, eigenvectors, epsilon)
    }

    /// Rebuilds a fitted ZCA from its mean, eigenvalues and eigenvectors
    /// (columns of `eigenvectors`), e.g. as read back from `.npy` files.
    pub fn from_parts(
        mean: Vec<f32>,
        eigenvalues: Vec<f32>,
        eigenvectors: DMatrix<f32>,
        epsilon: f32,
    ) -> Result<Zca> {
        let d = mean.len();
        if eigenvalues.len() != d || eigenvectors.shape() != (d, d) {
            return Err(Error::Shape(format!(
                "zca parts do not fit: mean {d}, eigenvalues {}, eigenvectors {:?}",
                eigenvalues.len(),
                eigenvectors.shape()
            )));
        }
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(Error::setting(
                "zca_epsilon",
                format!("zca epsilon must be > 0, got {epsilon}"),
            ));
        }
        crate::error::check_finite("zca mean", &mean)?;
        crate::error::check_finite("zca eigenvalues", &eigenvalues)?;
        crate::error::check_finite("zca eigenvectors", eigenvectors.as_slice())?;
        let scaled = |p: f64| {
            let mut us = eigenvectors.map(f64::from);
            for (k, mut col) in us.column_iter_mut().enumerate() {
                col *= (f64::from(eigenvalues[k].max(0.0)) + f64::from(epsilon)).powf(p);
            }
            (&us * eigenvectors.map(f64::from).transpose()).map(|v| v as f32)
        };
        let whiten = scaled(-0.5);
        let dewhiten = scaled(0.5);
        Ok(Zca {
            epsilon,
            mean: DVector::from_vec(mean),
            eigenvalues: DVector::from_vec(eigenvalues),
            eigenvectors,
            whiten,
            dewhiten,
        })
    }

    /// Patch length this ZCA was fitted for.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// The regulariser ε.
    pub fn epsilon(&self) -> f32 {
        self.epsilon
    }

    /// Mean patch μ of the fitting data.
    pub fn mean(&self) -> &DVector<f32> {
        &self.mean
    }

    /// Covariance eigenvalues Λ, largest first after [`Zca::fit`]; entry `k`
    /// belongs to column `k` of [`Zca::eigenvectors`].
    pub fn eigenvalues(&self) -> &DVector<f32> {
        &self.eigenvalues
    }

    /// Covariance eigenvectors U, one per column.
    pub fn eigenvectors(&self) -> &DMatrix<f32> {
        &self.eigenvectors
    }

    /// The symmetric whitening matrix W.
    pub fn whitening_matrix(&self) -> &DMatrix<f32> {
        &self.whiten
    }

    fn check(&self, x: &DMatrix<f32>) -> Result<()> {
        if x.nrows() != self.n_features() {
            return Err(Error::Shape(format!(
                "zca fitted for patches of {} values, got {}",
                self.n_features(),
                x.nrows()
            )));
        }
        Ok(())
    }

    /// Whitens patches (columns): `W (x − μ)`.
    pub fn apply(&self, x: &DMatrix<f32>) -> Result<DMatrix<f32>> {
        self.check(x)?;
        let mut c = x.clone();
        for mut col in c.column_iter_mut() {
            col -= &self.mean;
        }
        Ok(&self.whiten * c)
    }

    /// Undoes [`Zca::apply`]: `W⁻¹ y + μ`.
    pub fn invert(&self, y: &DMatrix<f32>) -> Result<DMatrix<f32>> {
        self.check(y)?;
        let mut x = &self.dewhiten * y;
        for mut col in x.column_iter_mut() {
            col += &self.mean;
        }
        Ok(x)
    }
}

// ---------------------------------------------------------------------------
// Per-patch normalisation

/// Removes each column's mean (if `remove_mean`) and scales kept columns to
/// unit norm (if `unit_norm`), in place; returns what was done per column.
///
/// ```
/// use lca::image::{Preprocessing, normalize_patches};
/// use nalgebra::DMatrix;
/// let s = Preprocessing::default().min_norm(0.5);
/// let mut x = DMatrix::from_column_slice(2, 2, &[1.0, 3.0, 2.0, 2.1]);
/// let stats = normalize_patches(&s, &mut x);
/// assert_eq!((stats[0].mean, stats[0].kept, stats[1].kept), (2.0, true, false));
/// assert!((x.column(0).norm() - 1.0).abs() < 1e-6);
/// ```
pub fn normalize_patches(settings: &Preprocessing, patches: &mut DMatrix<f32>) -> Vec<PatchStat> {
    patches
        .column_iter_mut()
        .map(|mut col| {
            let mean = if settings.remove_mean && !col.is_empty() {
                let m = (col.iter().map(|&v| f64::from(v)).sum::<f64>() / col.len() as f64) as f32;
                col.add_scalar_mut(-m);
                m
            } else {
                0.0
            };
            let norm = col
                .iter()
                .map(|&v| f64::from(v).powi(2))
                .sum::<f64>()
                .sqrt() as f32;
            let kept = norm >= settings.min_norm && norm > 0.0;
            if kept && settings.unit_norm {
                col /= norm;
            }
            PatchStat { mean, norm, kept }
        })
        .collect()
}

/// Undoes [`normalize_patches`]: scales kept columns back by their norm and
/// adds their mean back, in place.
pub fn denormalize_patches(
    settings: &Preprocessing,
    patches: &mut DMatrix<f32>,
    stats: &[PatchStat],
) -> Result<()> {
    if stats.len() != patches.ncols() {
        return Err(Error::Shape(format!(
            "{} patch stats for {} patches",
            stats.len(),
            patches.ncols()
        )));
    }
    for (mut col, s) in patches.column_iter_mut().zip(stats) {
        if s.kept && settings.unit_norm {
            col *= s.norm;
        }
        if settings.remove_mean {
            col.add_scalar_mut(s.mean);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 1/f whitening

/// `R(f) = f · exp(−(f/f0)⁴)` and its peak `(f0/√2)·e^{−1/4}`.
fn response(f: f32, f0: f32) -> f32 {
    f * (-(f / f0).powi(4)).exp()
}

fn frequency(k: usize, n: usize) -> f32 {
    let k = if k <= n / 2 {
        k as f32
    } else {
        k as f32 - n as f32
    };
    k / n as f32
}

/// Filters up to two channels at once (packed as real and imaginary parts;
/// valid because the filter is real and even) on the mirror-extended image.
fn filter_channels(img: &Image, chans: &[usize], f0: f32, inverse: bool, out: &mut Image) {
    let (w, h, nc) = (img.width, img.height, img.channels);
    let (pw, ph) = (2 * w, 2 * h);
    let mirror = |i: usize, n: usize| if i < n { i } else { 2 * n - 1 - i };
    let mut buf: Vec<Complex<f32>> = vec![Complex::new(0.0, 0.0); pw * ph];
    buf.par_chunks_mut(pw).enumerate().for_each(|(y, row)| {
        let sy = mirror(y, h);
        for (x, v) in row.iter_mut().enumerate() {
            let base = (sy * w + mirror(x, w)) * nc;
            let re = img.data[base + chans[0]];
            let im = chans.get(1).map_or(0.0, |&c| img.data[base + c]);
            *v = Complex::new(re, im);
        }
    });
    let mut planner = FftPlanner::<f32>::new();
    let (row_fwd, row_inv) = (planner.plan_fft_forward(pw), planner.plan_fft_inverse(pw));
    let (col_fwd, col_inv) = (planner.plan_fft_forward(ph), planner.plan_fft_inverse(ph));
    let rows = |buf: &mut Vec<Complex<f32>>, len: usize, fft: &Arc<dyn rustfft::Fft<f32>>| {
        buf.par_chunks_mut(len * 16).for_each(|c| fft.process(c));
    };
    rows(&mut buf, pw, &row_fwd);
    let mut t = transpose(&buf, pw, ph); // now ph-long rows, one per x
    rows(&mut t, ph, &col_fwd);
    let peak = response(f0 / std::f32::consts::SQRT_2, f0);
    let scale = 1.0 / (pw * ph) as f32;
    t.par_chunks_mut(ph).enumerate().for_each(|(kx, col)| {
        let fx = frequency(kx, pw);
        for (ky, v) in col.iter_mut().enumerate() {
            let fy = frequency(ky, ph);
            let r = response((fx * fx + fy * fy).sqrt(), f0);
            let g = if !inverse {
                r
            } else if r > INVERSE_CUTOFF * peak {
                1.0 / r
            } else {
                0.0
            };
            *v *= g * scale;
        }
    });
    rows(&mut t, ph, &col_inv);
    let mut buf = transpose(&t, ph, pw);
    rows(&mut buf, pw, &row_inv);
    for y in 0..h {
        for x in 0..w {
            let v = buf[y * pw + x];
            let base = (y * w + x) * nc;
            out.data[base + chans[0]] = v.re;
            if let Some(&c) = chans.get(1) {
                out.data[base + c] = v.im;
            }
        }
    }
}

/// Transposes a row-major `rows × cols` buffer (given as `cols` wide rows).
fn transpose(src: &[Complex<f32>], cols: usize, rows: usize) -> Vec<Complex<f32>> {
    let mut dst = vec![Complex::new(0.0, 0.0); src.len()];
    dst.par_chunks_mut(rows).enumerate().for_each(|(c, out)| {
        for (r, v) in out.iter_mut().enumerate() {
            *v = src[r * cols + c];
        }
    });
    dst
}

/// Applies the 1/f filter (or its inverse) to every channel of `img`.
fn filter_image(img: &Image, f0: f32, inverse: bool) -> Image {
    let mut out = Image::zeros(img.width, img.height, img.channels);
    let chans: Vec<usize> = (0..img.channels).collect();
    for pair in chans.chunks(2) {
        filter_channels(img, pair, f0, inverse, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------
// Preprocessor

/// Applies [`Preprocessing`] to images and patch batches, and undoes it.
///
/// Forward order: whiten the image (1/f) → cut patches → ZCA → remove mean →
/// unit norm. The inverse runs the same steps backwards.
///
/// ```
/// use lca::image::{Image, Preprocessing, Preprocessor, Whitening};
/// let pre = Preprocessor::new(Preprocessing::default()).unwrap();
/// let img = Image::new(32, 32, 1, (0..1024).map(|i| ((i % 32) as f32 / 9.0).sin() * 0.2 + 0.5).collect()).unwrap();
/// let (white, info) = pre.forward_image(&img).unwrap();
/// let back = pre.inverse_image(&white, &info).unwrap();
/// let err = back.data.iter().zip(&img.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
/// assert!(err < 1e-3);
/// ```
#[derive(Clone, Debug)]
pub struct Preprocessor {
    settings: Preprocessing,
    zca: Option<Zca>,
}

impl Preprocessor {
    /// Validates `settings`. With ZCA whitening the result is not usable on
    /// patches until [`Preprocessor::set_zca`] (or use [`Preprocessor::fit`]).
    pub fn new(settings: Preprocessing) -> Result<Self> {
        settings.check()?;
        Ok(Preprocessor {
            settings,
            zca: None,
        })
    }

    /// Installs a fitted ZCA (e.g. loaded with a dictionary). Fails unless the
    /// settings select ZCA whitening with the same ε.
    pub fn set_zca(&mut self, zca: Zca) -> Result<()> {
        match self.settings.whiten {
            Whitening::Zca { epsilon } if epsilon == zca.epsilon() => {
                self.zca = Some(zca);
                Ok(())
            }
            other => Err(Error::setting(
                "whitening",
                format!(
                    "a ZCA transform (epsilon {}) does not match whitening {other:?}",
                    zca.epsilon()
                ),
            )),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Preprocessing {
        &self.settings
    }

    /// The fitted ZCA, if any.
    pub fn zca(&self) -> Option<&Zca> {
        self.zca.as_ref()
    }

    /// Key under which [`ImageSet`] caches images as [`Self::forward_image`]
    /// returns them (0: the raw image).
    pub(crate) fn image_key(&self) -> u64 {
        match self.settings.whiten {
            Whitening::OneOverF { f0 } => 1 + u64::from(f0.to_bits()),
            _ => 0,
        }
    }

    /// Whole-image step. With 1/f whitening: subtract each channel's mean,
    /// mirror-extend the image to `2W × 2H` (no wrap-around edges in the
    /// FFT), filter each channel by `R(f)`, and scale by one gain so the
    /// result has per-pixel variance [`WHITENED_VARIANCE`]. Otherwise returns
    /// the image unchanged.
    pub fn forward_image(&self, img: &Image) -> Result<(Image, ImageInfo)> {
        let Whitening::OneOverF { f0 } = self.settings.whiten else {
            return Ok((
                img.clone(),
                ImageInfo {
                    channel_means: Vec::new(),
                    gain: 1.0,
                },
            ));
        };
        crate::error::check_finite("image", &img.data)?;
        let nc = img.channels;
        let pixels = (img.width * img.height).max(1) as f64;
        let mut means = vec![0f64; nc];
        for px in img.data.chunks_exact(nc) {
            for (m, &v) in means.iter_mut().zip(px) {
                *m += f64::from(v);
            }
        }
        let channel_means: Vec<f32> = means.iter().map(|m| (m / pixels) as f32).collect();
        let mut centred = img.clone();
        for px in centred.data.chunks_exact_mut(nc) {
            for (v, m) in px.iter_mut().zip(&channel_means) {
                *v -= m;
            }
        }
        let mut out = filter_image(&centred, f0, false);
        let var = out.data.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>()
            / out.data.len().max(1) as f64;
        let gain = if var > 1e-20 {
            (f64::from(WHITENED_VARIANCE) / var).sqrt() as f32
        } else {
            1.0
        };
        out.data.iter_mut().for_each(|v| *v *= gain);
        Ok((
            out,
            ImageInfo {
                channel_means,
                gain,
            },
        ))
    }

    /// Undoes [`Self::forward_image`]. With 1/f whitening: divide by the gain,
    /// filter by `1/R(f)` where `R(f) > INVERSE_CUTOFF × peak(R)` and by 0
    /// elsewhere, then add the channel means back.
    ///
    /// What is lost: the DC (`R(0) = 0`) is restored exactly from the means;
    /// frequencies below about `0.001 · 0.22 ≈ 2·10⁻⁴` cycles/pixel (none on
    /// grids under ~2500 pixels after mirror extension) and, at the default
    /// `f0 = 0.4`, above about 0.67 cycles/pixel — only the diagonal corners of
    /// the spectrum, near (±0.5, ±0.5) — come back as zero. Everything else is
    /// recovered to float precision.
    pub fn inverse_image(&self, img: &Image, info: &ImageInfo) -> Result<Image> {
        let Whitening::OneOverF { f0 } = self.settings.whiten else {
            return Ok(img.clone());
        };
        if info.channel_means.len() != img.channels || !(info.gain.is_finite() && info.gain != 0.0)
        {
            return Err(Error::Shape(format!(
                "image info ({} channel means, gain {}) does not fit a {}-channel image",
                info.channel_means.len(),
                info.gain,
                img.channels
            )));
        }
        let mut scaled = img.clone();
        scaled.data.iter_mut().for_each(|v| *v /= info.gain);
        let mut out = filter_image(&scaled, f0, true);
        for px in out.data.chunks_exact_mut(img.channels) {
            for (v, m) in px.iter_mut().zip(&info.channel_means) {
                *v += m;
            }
        }
        Ok(out)
    }

    /// Patch step, in place: ZCA (if selected) → remove mean → unit norm.
    /// Returns one [`PatchStat`] per column.
    pub fn forward_patches(&self, patches: &mut DMatrix<f32>) -> Result<Vec<PatchStat>> {
        if let Some(zca) = self.zca_for_patches()? {
            *patches = zca.apply(patches)?;
        }
        Ok(normalize_patches(&self.settings, patches))
    }

    /// Undoes [`Self::forward_patches`] in place, e.g. on reconstructions
    /// `Φa` of normalised patches.
    pub fn inverse_patches(&self, patches: &mut DMatrix<f32>, stats: &[PatchStat]) -> Result<()> {
        denormalize_patches(&self.settings, patches, stats)?;
        if let Some(zca) = self.zca_for_patches()? {
            *patches = zca.invert(patches)?;
        }
        Ok(())
    }

    fn zca_for_patches(&self) -> Result<Option<&Zca>> {
        match (&self.settings.whiten, &self.zca) {
            (Whitening::Zca { .. }, None) => Err(Error::setting(
                "whitening",
                "zca whitening selected but no ZCA transform was fitted or loaded",
            )),
            (_, z) => Ok(z.as_ref()),
        }
    }
}
