//! A near-square grid of dictionary atoms (or convolutional filters) shown as
//! image patches, under a title that says what was learned.

use std::path::Path;

use super::title::title_band;
use super::{to_u8, write_rgb_png};
use crate::error::{Error, Result, check_finite};
use image::{Rgb, RgbImage};

/// Atoms are upscaled (nearest neighbour) to at least this many pixels a side.
pub const MIN_ATOM_PIXELS: usize = 32;

/// A grid of few atoms is upscaled further, by an integer factor, until it is
/// about this wide (so the figure is not a thumbnail)...
pub const TARGET_GRID_WIDTH: usize = 512;

/// ...as long as atoms stay at most this many pixels a side.
pub const MAX_ATOM_PIXELS: usize = 96;

/// Width in pixels of the separators between atoms and of the outer border.
pub const SEPARATOR_PIXELS: usize = 2;

/// Colour of the separators and of unused grid cells (a dark slate blue, told
/// apart from both black and white atom pixels).
pub const SEPARATOR_COLOR: [u8; 3] = [52, 61, 82];

/// Renders all atoms of a dictionary as a near-square grid of image patches.
///
/// `rows` holds `n_atoms` atoms of `n_features` values each, numpy row-major
/// like `D.npy`. With `channels == 1` an atom is a gray `P×P` patch stored
/// `y*P + x`; with `channels == 3` it is an RGB patch stored pixel-interleaved
/// `(y*P + x)*3 + c`. `P` is inferred from `n_features / channels`, which must
/// be a perfect square.
///
/// Each atom is scaled to its own range, symmetrically around 0: mid-grey is
/// 0 and the value of largest magnitude is black or white (for a colour atom,
/// over its three channels jointly, so grey is "no colour" and a hue is the
/// sign pattern of the channels). An atom of zeros is uniformly mid-grey.
///
/// The grid has `ceil(sqrt(n_atoms))` columns (filled row by row), and each
/// atom is upscaled (nearest neighbour) by the integer factor of
/// [`atom_scale`]: at least [`MIN_ATOM_PIXELS`] a side, more for a grid of
/// few atoms. Atoms are separated and framed by [`SEPARATOR_PIXELS`] of
/// [`SEPARATOR_COLOR`]: the image is `2 + cols*(P*s + 2)` by
/// `2 + grid_rows*(P*s + 2)` pixels.
///
/// # Errors
///
/// [`Error::Shape`] when `rows.len() != n_atoms * n_features`, when there are
/// no atoms or when `n_features / channels` is not a perfect square;
/// [`Error::InvalidSetting`] when `channels` is not 1 or 3;
/// [`Error::NonFinite`] on NaN or Inf.
///
/// ```
/// // Two 2×2 gray atoms: 1.0 is white, -1.0 black, 0.0 mid-grey.
/// let d = [1.0, -1.0, 0.0, 0.5, /* atom 1 */ 0.0, 0.0, -2.0, 2.0];
/// let img = lca::plot::atom_grid(&d, 2, 4, 1).unwrap();
/// let s = lca::plot::atom_scale(2, 2) as u32; // 48: 96 px atoms
/// assert_eq!(img.dimensions(), (2 + 2 * (2 * s + 2), 2 + 2 * s + 2));
/// assert_eq!(img.get_pixel(2, 2).0, [255, 255, 255]); // atom 0, pixel (0, 0)
/// ```
pub fn atom_grid(
    rows: &[f32],
    n_atoms: usize,
    n_features: usize,
    channels: usize,
) -> Result<RgbImage> {
    if channels != 1 && channels != 3 {
        return Err(Error::setting(
            "channels",
            format!("atoms must have 1 (gray) or 3 (RGB) channels, got {channels}"),
        ));
    }
    if n_atoms == 0 {
        return Err(Error::Shape("the dictionary has no atoms to plot".into()));
    }
    if n_atoms.checked_mul(n_features) != Some(rows.len()) {
        return Err(Error::Shape(format!(
            "{n_atoms} atoms of {n_features} features need {} values, got {}",
            n_atoms.saturating_mul(n_features),
            rows.len()
        )));
    }
    let p = patch_side(n_features, channels)?;
    check_finite("dictionary", rows)?;

    let cols = grid_columns(n_atoms);
    let scale = atom_scale(p, n_atoms);
    let cell = p * scale;
    let grid_rows = n_atoms.div_ceil(cols);
    let width = SEPARATOR_PIXELS + cols * (cell + SEPARATOR_PIXELS);
    let height = SEPARATOR_PIXELS + grid_rows * (cell + SEPARATOR_PIXELS);
    let (w32, h32) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => {
            return Err(Error::Shape(format!(
                "atom grid of {width}x{height} pixels is too large"
            )));
        }
    };
    let mut img = RgbImage::from_pixel(w32, h32, Rgb(SEPARATOR_COLOR));

    let mut patch = vec![[0u8; 3]; p * p];
    for (k, atom) in rows.chunks_exact(n_features).enumerate() {
        atom_pixels(atom, channels, &mut patch);
        let x0 = SEPARATOR_PIXELS + (k % cols) * (cell + SEPARATOR_PIXELS);
        let y0 = SEPARATOR_PIXELS + (k / cols) * (cell + SEPARATOR_PIXELS);
        for dy in 0..cell {
            for dx in 0..cell {
                let px = patch[(dy / scale) * p + dx / scale];
                // Coordinates fit in u32: the whole image does.
                img.put_pixel((x0 + dx) as u32, (y0 + dy) as u32, Rgb(px));
            }
        }
    }
    Ok(img)
}

/// The integer upscaling factor of `P×P` atoms in a grid of `n_atoms`.
///
/// At least `ceil(MIN_ATOM_PIXELS / P)`, so every atom is at least
/// [`MIN_ATOM_PIXELS`] a side; beyond that, the largest factor keeping the
/// grid within [`TARGET_GRID_WIDTH`] and atoms within [`MAX_ATOM_PIXELS`].
///
/// ```
/// use lca::plot::atom_scale;
/// assert_eq!(atom_scale(8, 128), 5);  // 12 columns of 40 px: a 506 px grid
/// assert_eq!(atom_scale(12, 32), 6);  // 6 columns of 72 px
/// assert_eq!(atom_scale(16, 256), 2); // 16 columns of 32 px (the minimum)
/// assert_eq!(atom_scale(200, 4), 1);  // large patches are not upscaled
/// ```
pub fn atom_scale(patch: usize, n_atoms: usize) -> usize {
    let p = patch.max(1);
    let cols = grid_columns(n_atoms.max(1));
    let minimum = MIN_ATOM_PIXELS.div_ceil(p);
    let fill = (TARGET_GRID_WIDTH.saturating_sub(SEPARATOR_PIXELS) / cols)
        .saturating_sub(SEPARATOR_PIXELS)
        .min(MAX_ATOM_PIXELS)
        / p;
    minimum.max(fill).max(1)
}

/// The figure of [`atoms_figure`] is at least this wide, so that its title
/// wraps into a few lines above a grid of few atoms.
pub const MIN_FIGURE_WIDTH: usize = 240;

/// The short title of an atoms figure when nothing is known of how the atoms
/// were learned: their number and patch size, `"128 atoms, 8×8"` for gray
/// atoms and `"48 atoms, 8×8×3 RGB"` for colour.
///
/// ```
/// assert_eq!(lca::plot::atoms_title(128, 8, 1), "128 atoms, 8×8");
/// assert_eq!(lca::plot::atoms_title(1, 5, 3), "1 atom, 5×5×3 RGB");
/// ```
pub fn atoms_title(n_atoms: usize, patch: usize, channels: usize) -> String {
    let noun = if n_atoms == 1 { "atom" } else { "atoms" };
    let colour = if channels == 3 { "×3 RGB" } else { "" };
    format!("{n_atoms} {noun}, {patch}×{patch}{colour}")
}

/// The atom grid of [`atom_grid`] under the short title of [`atoms_title`]:
/// [`titled_atoms_figure`] with that one line.
///
/// # Errors
///
/// Those of [`atom_grid`].
pub fn atoms_figure(
    rows: &[f32],
    n_atoms: usize,
    n_features: usize,
    channels: usize,
) -> Result<RgbImage> {
    let patch = patch_side(n_features, channels)?;
    let title = [atoms_title(n_atoms, patch, channels)];
    titled_atoms_figure(rows, n_atoms, n_features, channels, &title)
}

/// The atom grid of [`atom_grid`] under a title (its first line larger, each
/// line wrapped at word boundaries to the figure's width), on white.
///
/// The figure is as wide as the grid (at least [`MIN_FIGURE_WIDTH`]); the grid
/// sits at the bottom, centred horizontally, under a band as tall as the
/// title's text.
///
/// ```
/// let d = vec![0.5f32; 10 * 64]; // ten 8×8 gray atoms: 4×3 cells
/// let grid = lca::plot::atom_grid(&d, 10, 64, 1).unwrap();
/// let title = ["ten flat atoms".to_string()];
/// let fig = lca::plot::titled_atoms_figure(&d, 10, 64, 1, &title).unwrap();
/// assert_eq!(fig.width(), grid.width());
/// assert!(fig.height() > grid.height());
/// ```
///
/// # Errors
///
/// Those of [`atom_grid`].
pub fn titled_atoms_figure(
    rows: &[f32],
    n_atoms: usize,
    n_features: usize,
    channels: usize,
    title: &[String],
) -> Result<RgbImage> {
    let grid = atom_grid(rows, n_atoms, n_features, channels)?;
    stack_under_title(&grid, title)
}

/// `picture` centred under the title band of `title`, as wide as the picture
/// (at least [`MIN_FIGURE_WIDTH`]).
pub(crate) fn stack_under_title(picture: &RgbImage, title: &[String]) -> Result<RgbImage> {
    let (gw, gh) = picture.dimensions();
    let width = gw.max(MIN_FIGURE_WIDTH as u32);
    let band = title_band(width, title)?;
    let height = gh
        .checked_add(band.height())
        .ok_or_else(|| Error::Shape(format!("a figure of {width}x{gh} pixels is too large")))?;
    let mut img = RgbImage::from_pixel(width, height, Rgb([255; 3]));
    image::imageops::replace(&mut img, &band, 0, 0);
    image::imageops::replace(
        &mut img,
        picture,
        i64::from((width - gw) / 2),
        i64::from(band.height()),
    );
    Ok(img)
}

/// Renders the atom grid of [`atoms_figure`] (short title) and writes it to
/// `path` as a PNG, atomically.
///
/// # Errors
///
/// Those of [`atom_grid`], and [`Error::Io`] naming `path` when it cannot be
/// written.
pub fn write_atoms_png(
    path: &Path,
    rows: &[f32],
    n_atoms: usize,
    n_features: usize,
    channels: usize,
) -> Result<()> {
    let img = atoms_figure(rows, n_atoms, n_features, channels)?;
    write_rgb_png(path, &img)
}

/// Renders the atom grid of [`titled_atoms_figure`] under `title` (see
/// [`TrainingConfig::title`](crate::dictionary::TrainingConfig::title) and
/// [`ConvTrainingConfig::title`](crate::conv::ConvTrainingConfig::title)) and writes it to `path` as a
/// PNG, atomically.
///
/// # Errors
///
/// Those of [`write_atoms_png`].
pub fn write_titled_atoms_png(
    path: &Path,
    rows: &[f32],
    n_atoms: usize,
    n_features: usize,
    channels: usize,
    title: &[String],
) -> Result<()> {
    let img = titled_atoms_figure(rows, n_atoms, n_features, channels, title)?;
    write_rgb_png(path, &img)
}

/// Convolutional filters in PyTorch's planar layout `(n, C, k, k)` (`pixels =
/// k*k` values per channel) as the pixel-interleaved rows `(n, k, k, C)` that
/// [`atom_grid`] draws.
///
/// ```
/// // One 1×2 filter of 3 channels: planes R = [1, 2], G = [3, 4], B = [5, 6].
/// let planar = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let rows = lca::plot::interleave_channels(&planar, 1, 3, 2);
/// assert_eq!(rows, [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
/// ```
pub fn interleave_channels(planar: &[f32], n: usize, channels: usize, pixels: usize) -> Vec<f32> {
    let len = channels * pixels;
    let mut out = vec![0.0f32; planar.len()];
    for m in 0..n.min(planar.len() / len.max(1)) {
        for c in 0..channels {
            for p in 0..pixels {
                out[m * len + p * channels + c] = planar[m * len + c * pixels + p];
            }
        }
    }
    out
}

/// The side `P` of square patches with `n_features = P*P*channels`.
pub(crate) fn patch_side(n_features: usize, channels: usize) -> Result<usize> {
    let fail = |why: String| {
        let layout = if channels == 1 {
            "a gray P×P patch".to_string()
        } else {
            format!("a P×P×{channels} colour patch")
        };
        Err(Error::Shape(format!(
            "{n_features} features per atom do not form {layout}: {why}"
        )))
    };
    if n_features == 0 {
        return fail("there are no features".into());
    }
    if !n_features.is_multiple_of(channels) {
        return fail(format!("{n_features} is not a multiple of {channels}"));
    }
    let pixels = n_features / channels;
    let p = pixels.isqrt();
    if p * p != pixels {
        return if channels == 1 {
            fail(format!("{pixels} is not a perfect square"))
        } else {
            fail(format!(
                "{n_features}/{channels} = {pixels} is not a perfect square"
            ))
        };
    }
    Ok(p)
}

/// Columns of a near-square grid holding `n` cells.
fn grid_columns(n: usize) -> usize {
    n.isqrt() + usize::from(n.isqrt() * n.isqrt() < n)
}

/// Scales one atom to 8-bit RGB pixels (see [`atom_grid`]): symmetrically
/// around mid-grey, its value of largest magnitude (over all channels) black
/// or white.
pub(crate) fn atom_pixels(atom: &[f32], channels: usize, out: &mut [[u8; 3]]) {
    let m = atom.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let level = |v: f32| to_u8(if m > 0.0 { 0.5 + 0.5 * v / m } else { 0.5 });
    if channels == 1 {
        for (px, &v) in out.iter_mut().zip(atom) {
            *px = [level(v); 3];
        }
    } else {
        for (px, rgb) in out.iter_mut().zip(atom.chunks_exact(3)) {
            for (o, &v) in px.iter_mut().zip(rgb) {
                *o = level(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_near_square() {
        let cols: Vec<usize> = (1..=10).map(grid_columns).collect();
        assert_eq!(cols, [1, 2, 2, 2, 3, 3, 3, 3, 3, 4]);
    }

    #[test]
    fn patch_side_accepts_squares_only() {
        assert_eq!(patch_side(64, 1).unwrap(), 8);
        assert_eq!(patch_side(192, 3).unwrap(), 8);
        assert!(patch_side(63, 1).is_err());
        assert!(patch_side(64, 3).is_err());
        assert!(patch_side(0, 1).is_err());
    }
}
