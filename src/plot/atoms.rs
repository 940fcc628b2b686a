//! A near-square grid of dictionary atoms shown as image patches, under a
//! title line.

use std::path::Path;

use image::{Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{FONT, TEXT, draw_error, ensure_font, to_u8, write_rgb_png};
use crate::error::{Error, Result, check_finite};

/// Atoms are upscaled (nearest neighbour) to at least this many pixels a side.
pub const MIN_ATOM_PIXELS: usize = 24;

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
/// Each atom is scaled to its own range: a gray atom symmetrically around 0,
/// so mid-grey is 0 and the value of largest magnitude is black or white; a
/// colour atom with its three channels jointly, its minimum black and its
/// maximum white. A constant gray atom of zeros is uniformly mid-grey.
///
/// The grid has `ceil(sqrt(n_atoms))` columns (filled row by row), each atom is
/// upscaled by the integer factor `s = max(1, ceil(24 / P))`, and atoms are
/// separated and framed by [`SEPARATOR_PIXELS`] of [`SEPARATOR_COLOR`]: the
/// image is `2 + cols*(P*s + 2)` by `2 + grid_rows*(P*s + 2)` pixels.
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
/// assert_eq!(img.dimensions(), (2 + 2 * (24 + 2), 2 + 24 + 2));
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

    let scale = MIN_ATOM_PIXELS.div_ceil(p).max(1);
    let cell = p * scale;
    let cols = grid_columns(n_atoms);
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

/// Height in pixels of the title band above the grid in [`atoms_figure`].
pub const TITLE_PIXELS: usize = 34;

/// The figure of [`atoms_figure`] is at least this wide, so its title fits
/// above a grid of few atoms.
pub const MIN_FIGURE_WIDTH: usize = 320;

/// The title of an atoms figure: the number of atoms and their patch size,
/// `"128 atoms, 8×8"` for gray atoms and `"48 atoms, 8×8×3 RGB"` for colour.
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

/// The atom grid of [`atom_grid`] under a title line ([`atoms_title`]), on a
/// white background.
///
/// The figure is `max(W, MIN_FIGURE_WIDTH)` by `TITLE_PIXELS + H` pixels for a
/// grid of `W×H` ([`MIN_FIGURE_WIDTH`], [`TITLE_PIXELS`]); the grid sits at the
/// bottom, centred horizontally (left offset `(width - W) / 2`), and the title
/// is centred in the band above it (its font shrinks if it would not fit).
///
/// ```
/// let d = vec![0.5f32; 10 * 64]; // ten 8×8 gray atoms: 4×3 cells of 24 px
/// let grid = lca::plot::atom_grid(&d, 10, 64, 1).unwrap();
/// let fig = lca::plot::atoms_figure(&d, 10, 64, 1).unwrap();
/// assert_eq!(grid.dimensions(), (2 + 4 * 26, 2 + 3 * 26));
/// assert_eq!(fig.dimensions(), (320, 34 + 2 + 3 * 26));
/// ```
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
    let grid = atom_grid(rows, n_atoms, n_features, channels)?;
    let patch = patch_side(n_features, channels)?;
    let title = atoms_title(n_atoms, patch, channels);
    let (gw, gh) = grid.dimensions();
    let width = gw.max(MIN_FIGURE_WIDTH as u32);
    let height = gh
        .checked_add(TITLE_PIXELS as u32)
        .ok_or_else(|| Error::Shape(format!("atom figure of {width}x{gh} pixels is too large")))?;
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    {
        ensure_font();
        let what = Path::new("atoms figure");
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        let mut size = 20.0;
        let style = loop {
            let style = (FONT, size).into_font().color(&TEXT);
            let (tw, _) = root
                .estimate_text_size(&title, &style)
                .map_err(|e| draw_error(what, e))?;
            if tw + 16 <= width || size <= 8.0 {
                break style;
            }
            size -= 1.0;
        };
        let style = style.pos(Pos::new(HPos::Center, VPos::Center));
        // plotters draws ab_glyph text about a quarter of its size too high.
        let y = (TITLE_PIXELS as f64 / 2.0 + size / 4.0).round() as i32;
        root.draw(&Text::new(title.as_str(), ((width / 2) as i32, y), style))
            .map_err(|e| draw_error(what, e))?;
        root.present().map_err(|e| draw_error(what, e))?;
    }
    let mut img = RgbImage::from_raw(width, height, buf).expect("the buffer has the figure's size");
    image::imageops::replace(
        &mut img,
        &grid,
        i64::from((width - gw) / 2),
        TITLE_PIXELS as i64,
    );
    Ok(img)
}

/// Renders the titled atom grid of [`atoms_figure`] and writes it to `path` as
/// a PNG, atomically.
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

/// The side `P` of square patches with `n_features = P*P*channels`.
fn patch_side(n_features: usize, channels: usize) -> Result<usize> {
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

/// Scales one atom to 8-bit RGB pixels (see [`atom_grid`]).
fn atom_pixels(atom: &[f32], channels: usize, out: &mut [[u8; 3]]) {
    if channels == 1 {
        let m = atom.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (px, &v) in out.iter_mut().zip(atom) {
            let t = if m > 0.0 { 0.5 + 0.5 * v / m } else { 0.5 };
            *px = [to_u8(t); 3];
        }
    } else {
        let (lo, hi) = atom
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let range = hi - lo;
        for (px, rgb) in out.iter_mut().zip(atom.chunks_exact(3)) {
            for (o, &v) in px.iter_mut().zip(rgb) {
                let t = if range > 0.0 { (v - lo) / range } else { 0.5 };
                *o = to_u8(t);
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
