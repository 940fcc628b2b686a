//! Cutting patches out of images: random minibatches for dictionary learning
//! and a covering tiling (with its overlap-add inverse) for reconstruction.

use nalgebra::DMatrix;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::Image;
use super::folder::ImageSet;
use super::preprocess::{Preprocessing, Preprocessor, Whitening, Zca};
use crate::error::{Error, Result};

/// Copies the `patch × patch` patch with top-left corner `(x, y)` into `out`
/// (`patch² · channels` values, HWC order).
pub(crate) fn extract(img: &Image, x: usize, y: usize, patch: usize, out: &mut [f32]) {
    let row = patch * img.channels;
    for (dy, dst) in out.chunks_exact_mut(row).enumerate() {
        let start = ((y + dy) * img.width + x) * img.channels;
        dst.copy_from_slice(&img.data[start..start + row]);
    }
}

/// Draws `n` random `patch × patch` patches from `set`, preprocessed by `pre`
/// (one column each, `patch² · channels` rows).
///
/// Every valid patch position of every image is equally likely, so images
/// are chosen in proportion to their area. Flat patches (norm below
/// `min_norm`) are dropped and replaced by new draws, so exactly `n` columns
/// come back. All random numbers are drawn from `rng` up front in a fixed
/// order, so the result depends only on the seed, not on rayon's thread count
/// or the cache. Patches are grouped by image and each image is loaded once
/// per call (through the set's cache, whitened images cached as such), so
/// calling this once per learning step is cheap.
///
/// Fails if `pre` does not match the set's load options, if no image holds a
/// patch, or if nearly all draws are flat.
///
/// ```
/// use lca::image::{sample_patches, ImageSet, Preprocessing, Preprocessor};
/// use rand::SeedableRng;
/// let settings = Preprocessing::default();
/// let set = ImageSet::embedded(settings.load_options()).unwrap();
/// let pre = Preprocessor::new(settings).unwrap();
/// let a = sample_patches(&set, 32, 8, &pre, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1)).unwrap();
/// let b = sample_patches(&set, 32, 8, &pre, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1)).unwrap();
/// assert_eq!(a, b);
/// assert!(a.column_iter().all(|c| (c.norm() - 1.0).abs() < 1e-4));
/// ```
pub fn sample_patches(
    set: &ImageSet,
    n: usize,
    patch: usize,
    pre: &Preprocessor,
    rng: &mut ChaCha8Rng,
) -> Result<DMatrix<f32>> {
    let settings = pre.settings();
    let opts = set.options();
    if opts.color != settings.color || opts.downscale != settings.downscale {
        return Err(Error::setting(
            "preprocessing",
            format!(
                "images were loaded with color={} downscale={} but preprocessing expects color={} downscale={}",
                opts.color, opts.downscale, settings.color, settings.downscale
            ),
        ));
    }
    set.check_patch(patch)?;
    let d = patch * patch * set.channels();
    // cumulative[i] = number of patch positions in images 0..=i
    let mut cumulative = Vec::with_capacity(set.len());
    let mut total = 0u64;
    for i in 0..set.len() {
        let (w, h) = set.dims(i);
        if w >= patch && h >= patch {
            total += ((w - patch + 1) * (h - patch + 1)) as u64;
        }
        cumulative.push(total);
    }
    let key = pre.image_key();
    let mut out = DMatrix::<f32>::zeros(d, n);
    let mut got = 0;
    let mut drawn = 0usize;
    while got < n {
        let need = n - got;
        if drawn > 100 * n + 10_000 {
            return Err(Error::setting(
                "min_norm",
                format!(
                    "only {got} of {drawn} sampled patches had norm >= min_norm {}; lower min_norm",
                    settings.min_norm
                ),
            ));
        }
        drawn += need;
        // Draw (image, x, y) for each slot, in slot order.
        let mut draws: Vec<(usize, usize, usize, usize)> = (0..need)
            .map(|slot| {
                let r = rng.random_range(0..total);
                let img = cumulative.partition_point(|&c| c <= r);
                let before = if img == 0 { 0 } else { cumulative[img - 1] };
                let (w, _) = set.dims(img);
                let nx = (w - patch + 1) as u64;
                let off = r - before;
                (img, (off % nx) as usize, (off / nx) as usize, slot)
            })
            .collect();
        draws.sort_unstable_by_key(|&(img, _, _, slot)| (img, slot));
        let groups: Vec<&[(usize, usize, usize, usize)]> =
            draws.chunk_by(|a, b| a.0 == b.0).collect();
        let filled: Vec<Vec<(usize, Vec<f32>)>> = groups
            .par_iter()
            .map(|group| {
                let img = set.load_derived(group[0].0, key, |raw| Ok(pre.forward_image(raw)?.0))?;
                Ok(group
                    .iter()
                    .map(|&(_, x, y, slot)| {
                        let mut v = vec![0.0; d];
                        extract(&img, x, y, patch, &mut v);
                        (slot, v)
                    })
                    .collect())
            })
            .collect::<Result<_>>()?;
        let mut batch = DMatrix::<f32>::zeros(d, need);
        for (slot, v) in filled.into_iter().flatten() {
            batch.column_mut(slot).copy_from_slice(&v);
        }
        let stats = pre.forward_patches(&mut batch)?;
        for (col, s) in batch.column_iter().zip(&stats) {
            if s.kept {
                out.column_mut(got).copy_from(&col);
                got += 1;
            }
        }
    }
    Ok(out)
}

/// Patches cut by [`tile`] (one column each) and the top-left corner `(x, y)`
/// of each in the image.
pub type Tiles = (DMatrix<f32>, Vec<(usize, usize)>);

/// Start offsets covering `0..len` with windows of `patch`, every `stride`,
/// the last one flush with the end.
fn starts(len: usize, patch: usize, stride: usize) -> Vec<usize> {
    let last = len - patch;
    let mut v: Vec<usize> = (0..=last).step_by(stride).collect();
    if v.last() != Some(&last) {
        v.push(last);
    }
    v
}

/// Cuts `image` into `patch × patch` patches every `stride` pixels, adding a
/// last row and column of tiles flush with the bottom and right borders so
/// every pixel is covered. Returns the patches (one column each) and the
/// top-left corner `(x, y)` of each, in row-major order of tiles.
///
/// Fails if `stride` is not in `1..=patch` (tiles would leave gaps) or the
/// image is smaller than the patch.
///
/// ```
/// use lca::image::{overlap_add, tile, Image};
/// let img = Image::new(5, 4, 1, (0..20).map(|v| v as f32).collect()).unwrap();
/// let (p, pos) = tile(&img, 3, 2).unwrap();
/// assert_eq!(pos, vec![(0, 0), (2, 0), (0, 1), (2, 1)]);
/// assert_eq!(p.column(1).as_slice(), &[2.0, 3.0, 4.0, 7.0, 8.0, 9.0, 12.0, 13.0, 14.0]);
/// assert_eq!(overlap_add(&p, &pos, 5, 4, 1, 3).unwrap(), img);
/// ```
pub fn tile(image: &Image, patch: usize, stride: usize) -> Result<Tiles> {
    if patch == 0 || stride == 0 || stride > patch {
        return Err(Error::setting(
            "stride",
            format!(
                "stride must be between 1 and the patch size {patch} so tiles cover the image, got {stride}"
            ),
        ));
    }
    if image.width < patch || image.height < patch {
        return Err(Error::setting(
            "patch_size",
            format!(
                "a {}×{} image is smaller than the {patch}×{patch} patch",
                image.width, image.height
            ),
        ));
    }
    let xs = starts(image.width, patch, stride);
    let ys = starts(image.height, patch, stride);
    let positions: Vec<(usize, usize)> = ys
        .iter()
        .flat_map(|&y| xs.iter().map(move |&x| (x, y)))
        .collect();
    let d = patch * patch * image.channels;
    let mut m = DMatrix::<f32>::zeros(d, positions.len());
    m.as_mut_slice()
        .par_chunks_mut(d)
        .zip(&positions)
        .for_each(|(col, &(x, y))| extract(image, x, y, patch, col));
    Ok((m, positions))
}

/// Reassembles patches (columns) at their top-left `positions` into a
/// `width × height × channels` image, averaging where patches overlap;
/// pixels no patch covers are 0. With the output of [`tile`] this returns the
/// tiled image exactly.
pub fn overlap_add(
    patches: &DMatrix<f32>,
    positions: &[(usize, usize)],
    width: usize,
    height: usize,
    channels: usize,
    patch: usize,
) -> Result<Image> {
    let d = patch * patch * channels;
    if patches.nrows() != d || patches.ncols() != positions.len() {
        return Err(Error::Shape(format!(
            "{}×{} patch matrix for {} positions of {patch}×{patch}×{channels} patches",
            patches.nrows(),
            patches.ncols(),
            positions.len()
        )));
    }
    if let Some(&(x, y)) = positions
        .iter()
        .find(|&&(x, y)| x + patch > width || y + patch > height)
    {
        return Err(Error::Shape(format!(
            "patch at ({x}, {y}) does not fit a {width}×{height} image"
        )));
    }
    let mut img = Image::new(
        width,
        height,
        channels,
        vec![0.0; width * height * channels],
    )?;
    let mut count = vec![0u32; width * height];
    let row = patch * channels;
    for (col, &(x, y)) in patches.column_iter().zip(positions) {
        for (dy, src) in col.as_slice().chunks_exact(row).enumerate() {
            let start = ((y + dy) * width + x) * channels;
            for (dst, &v) in img.data[start..start + row].iter_mut().zip(src) {
                *dst += v;
            }
            for c in &mut count[(y + dy) * width + x..(y + dy) * width + x + patch] {
                *c += 1;
            }
        }
    }
    for (px, &c) in img.data.chunks_exact_mut(channels).zip(&count) {
        if c > 1 {
            let inv = 1.0 / c as f32;
            px.iter_mut().for_each(|v| *v *= inv);
        }
    }
    Ok(img)
}
// Beside the sampler it uses: fitting ZCA needs raw patches of the set,
// and the sampler needs a preprocessor, so the fit lives here.
impl Preprocessor {
    /// Like [`Preprocessor::new`], fitting ZCA (when selected) on
    /// `max(10 000, 10·d)` raw `patch × patch` patches sampled from `set`.
    pub fn fit(
        settings: Preprocessing,
        set: &ImageSet,
        patch: usize,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Result<Self> {
        let mut pre = Self::new(settings)?;
        if let Whitening::Zca { epsilon } = settings.whiten {
            let raw = Preprocessor::new(Preprocessing {
                whiten: Whitening::None,
                remove_mean: false,
                unit_norm: false,
                min_norm: 0.0,
                ..settings
            })?;
            let d = patch * patch * set.channels();
            let x = sample_patches(set, (10 * d).max(10_000), patch, &raw, rng)?;
            pre.set_zca(Zca::fit(&x, epsilon)?)?;
        }
        Ok(pre)
    }
}
