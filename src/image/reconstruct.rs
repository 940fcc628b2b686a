//! Whole-image reconstruction: tile an image into overlapping patches, encode
//! them, rebuild each patch from its code, and average the overlaps.

use nalgebra::DMatrix;

use super::{Image, Preprocessor, overlap_add, tile};
use crate::error::{Error, Result};
use crate::{Dictionary, Lca};

/// An image rebuilt from sparse codes.
#[derive(Clone, Debug)]
pub struct Reconstruction {
    /// The reconstructed image, in the original's value range.
    pub image: Image,
    /// One column of codes per patch (`n_atoms × n_patches`).
    pub codes: DMatrix<f32>,
    /// Top-left corner `(x, y)` of each patch.
    pub positions: Vec<(usize, usize)>,
}

impl Reconstruction {
    /// Mean number of non-zero coefficients per patch.
    pub fn mean_active(&self) -> f64 {
        self.codes.iter().filter(|&&v| v != 0.0).count() as f64 / self.codes.ncols().max(1) as f64
    }
}

/// Peak signal-to-noise ratio in dB of `b` against `a` for values in [0, 1]
/// (`b` clamped to that range, as it would be displayed).
///
/// ```
/// use lca::image::{Image, psnr};
/// let a = Image::new(2, 1, 1, vec![0.0, 1.0]).unwrap();
/// let b = Image::new(2, 1, 1, vec![0.1, 1.0]).unwrap();
/// assert!((psnr(&a, &b) - 23.0103).abs() < 1e-3); // MSE 0.005
/// ```
pub fn psnr(a: &Image, b: &Image) -> f64 {
    let mse = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y.clamp(0.0, 1.0))).powi(2))
        .sum::<f64>()
        / a.data.len().max(1) as f64;
    10.0 * (1.0 / mse.max(1e-20)).log10()
}

/// Reconstructs `image` with `dict`: whiten (if configured) → tile with
/// `stride` → per-patch normalisation → LCA codes → `Φa` → undo the patch
/// normalisation → overlap-add → undo the whitening.
pub fn reconstruct(
    image: &Image,
    dict: &Dictionary,
    lca: &Lca,
    pre: &Preprocessor,
    patch: usize,
    stride: usize,
) -> Result<Reconstruction> {
    let d = patch * patch * image.channels;
    if d != dict.n_features() {
        return Err(Error::Shape(format!(
            "{patch}×{patch}×{} patches have {d} values but the dictionary's atoms have {}",
            image.channels,
            dict.n_features()
        )));
    }
    let (white, info) = pre.forward_image(image)?;
    let (mut patches, positions) = tile(&white, patch, stride)?;
    let stats = pre.forward_patches(&mut patches)?;
    let codes = lca.encode(dict, &patches)?.codes;
    let mut rebuilt = dict.reconstruct(&codes);
    pre.inverse_patches(&mut rebuilt, &stats)?;
    let merged = overlap_add(
        &rebuilt,
        &positions,
        image.width,
        image.height,
        image.channels,
        patch,
    )?;
    let image = pre.inverse_image(&merged, &info)?;
    Ok(Reconstruction {
        image,
        codes,
        positions,
    })
}
