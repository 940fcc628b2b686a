//! Convolutional filters of 1 and 3 axes, as learned by `lca learn --conv
//! --dims 1|3`: temporal kernels as curves (one panel per filter, a line per
//! channel), volume kernels as their slices side by side (one row per
//! channel). 2-D filters are image patches ([`super::atom_grid`]).

use std::path::Path;

use image::{Rgb, RgbImage};

use super::atoms::stack_under_title;
use super::{SEPARATOR_COLOR, SEPARATOR_PIXELS, to_u8, write_rgb_png};
use crate::conv::FilterShapeNd;
use crate::error::{Error, Result, check_finite};

/// Size in pixels of the panel of one 1-D kernel.
pub const CURVE_PANEL: (usize, usize) = (168, 84);

/// Pixels a side a slice of a 3-D kernel is upscaled to (at least).
const SLICE_PIXELS: usize = 28;

/// Colours of the channels' curves (then repeated).
const CURVE_COLORS: [[u8; 3]; 4] = [
    [31, 102, 170],
    [221, 112, 35],
    [44, 160, 44],
    [148, 103, 189],
];

/// The filters `(M, C, k…)` of `shape` (1-D or 3-D) as a grid of panels
/// under `title`, written to `path` as a PNG, atomically.
///
/// ```
/// use lca::conv::FilterShapeNd;
/// let dir = tempfile::tempdir().unwrap();
/// let shape = FilterShapeNd::with_kernel(3, 1, &[16]).unwrap();
/// let taps: Vec<f32> = (0..48).map(|i| (i as f32 * 0.7).sin()).collect();
/// let path = dir.path().join("k.png");
/// lca::plot::write_kernels_png(&path, &taps, shape, &["three curves".into()]).unwrap();
/// assert!(path.exists());
/// ```
///
/// # Errors
///
/// [`Error::Shape`] when `filters` does not hold `M` filters of the shape or
/// the shape is 2-D, [`Error::NonFinite`] on NaN or Inf, [`Error::Io`]
/// naming `path` when it cannot be written.
pub fn write_kernels_png(
    path: &Path,
    filters: &[f32],
    shape: FilterShapeNd,
    title: &[String],
) -> Result<()> {
    write_rgb_png(path, &kernels_figure(filters, shape, title)?)
}

/// The grid of [`kernel_grid`] under `title` (see [`write_kernels_png`]).
///
/// # Errors
///
/// Those of [`kernel_grid`].
pub fn kernels_figure(filters: &[f32], shape: FilterShapeNd, title: &[String]) -> Result<RgbImage> {
    stack_under_title(&kernel_grid(filters, shape)?, title)
}

/// The grid of [`write_kernels_png`] without its title.
///
/// # Errors
///
/// Those of [`write_kernels_png`] but the writing.
pub fn kernel_grid(filters: &[f32], shape: FilterShapeNd) -> Result<RgbImage> {
    if shape.dims == 2 || shape.atoms == 0 || filters.len() != shape.atoms * shape.filter_len() {
        return Err(Error::Shape(format!(
            "{} values are not {} {}-D filters of {}",
            filters.len(),
            shape.atoms,
            shape.dims,
            shape.describe()
        )));
    }
    check_finite("filters", filters)?;
    let [kd, kh, kw] = shape.extent;
    let scale = SLICE_PIXELS.div_ceil(kh.max(kw)).max(1);
    let (cell_w, cell_h) = if shape.dims == 1 {
        CURVE_PANEL
    } else {
        (
            kd * kw * scale + (kd - 1) * SEPARATOR_PIXELS,
            shape.channels * kh * scale + (shape.channels - 1) * SEPARATOR_PIXELS,
        )
    };
    // Near-square figure: columns from the cells' aspect.
    let m = shape.atoms;
    let ratio = (cell_h as f64 / cell_w as f64).max(0.05);
    let cols = ((m as f64 * ratio).sqrt().ceil() as usize).clamp(1, m);
    let rows = m.div_ceil(cols);
    let sep = SEPARATOR_PIXELS;
    let (w, h) = (cols * (cell_w + sep) + sep, rows * (cell_h + sep) + sep);
    let (w32, h32) = (u32::try_from(w), u32::try_from(h));
    let (Ok(w32), Ok(h32)) = (w32, h32) else {
        return Err(Error::Shape(format!(
            "a figure of {w}x{h} pixels is too large"
        )));
    };
    let mut img = RgbImage::from_pixel(w32, h32, Rgb(SEPARATOR_COLOR));
    for (i, filter) in filters.chunks_exact(shape.filter_len()).enumerate() {
        let (x0, y0) = (
            (i % cols) * (cell_w + sep) + sep,
            (i / cols) * (cell_h + sep) + sep,
        );
        if shape.dims == 1 {
            draw_curves(&mut img, (x0, y0), filter, shape.channels);
        } else {
            draw_slices(&mut img, (x0, y0), filter, shape, scale);
        }
    }
    Ok(img)
}

/// One 1-D filter's channels as curves on a white panel, around a grey zero
/// line, scaled to the filter's largest magnitude.
fn draw_curves(img: &mut RgbImage, (x0, y0): (usize, usize), filter: &[f32], channels: usize) {
    let (pw, ph) = CURVE_PANEL;
    for y in 0..ph {
        for x in 0..pw {
            img.put_pixel((x0 + x) as u32, (y0 + y) as u32, Rgb([255; 3]));
        }
    }
    let mid = ph / 2;
    for x in 0..pw {
        img.put_pixel((x0 + x) as u32, (y0 + mid) as u32, Rgb([205, 208, 214]));
    }
    let peak = filter.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let taps = filter.len() / channels.max(1);
    let margin = 4.0;
    let at = |t: usize, v: f32| -> (f64, f64) {
        let x = margin + (pw as f64 - 2.0 * margin) * t as f64 / (taps.max(2) - 1) as f64;
        let v = if peak > 0.0 { f64::from(v / peak) } else { 0.0 };
        (x, mid as f64 - v * (ph as f64 / 2.0 - margin))
    };
    for (c, kernel) in filter.chunks_exact(taps).enumerate().rev() {
        let color = Rgb(CURVE_COLORS[c % CURVE_COLORS.len()]);
        for t in 1..taps.max(2) {
            let (a, b) = (
                at(t - 1, kernel[t - 1]),
                at(t.min(taps - 1), kernel[t.min(taps - 1)]),
            );
            line(img, (x0, y0), (pw, ph), a, b, color);
        }
    }
}

/// A straight segment from `a` to `b` (panel coordinates), clipped to the panel.
fn line(
    img: &mut RgbImage,
    (x0, y0): (usize, usize),
    (pw, ph): (usize, usize),
    a: (f64, f64),
    b: (f64, f64),
    color: Rgb<u8>,
) {
    let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1) * 2;
    for s in 0..=n {
        let f = s as f64 / n as f64;
        let (x, y) = (a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1));
        let (x, y) = (x.round(), y.round());
        if x >= 0.0 && y >= 0.0 && (x as usize) < pw && (y as usize) < ph {
            img.put_pixel((x0 + x as usize) as u32, (y0 + y as usize) as u32, color);
        }
    }
}

/// One 3-D filter's slices left to right, a row per channel, grey around
/// mid-grey and scaled to the filter's largest magnitude.
fn draw_slices(
    img: &mut RgbImage,
    (x0, y0): (usize, usize),
    filter: &[f32],
    shape: FilterShapeNd,
    scale: usize,
) {
    let [kd, kh, kw] = shape.extent;
    let peak = filter.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let level = |v: f32| {
        to_u8(if peak > 0.0 {
            0.5 + 0.5 * v / peak
        } else {
            0.5
        })
    };
    let sep = SEPARATOR_PIXELS;
    for c in 0..shape.channels {
        for z in 0..kd {
            for y in 0..kh {
                for x in 0..kw {
                    let v = level(filter[((c * kd + z) * kh + y) * kw + x]);
                    let (px, py) = (
                        x0 + z * (kw * scale + sep) + x * scale,
                        y0 + c * (kh * scale + sep) + y * scale,
                    );
                    for dy in 0..scale {
                        for dx in 0..scale {
                            img.put_pixel((px + dx) as u32, (py + dy) as u32, Rgb([v; 3]));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_cross_the_panel_and_slices_show_their_values() {
        let shape = FilterShapeNd::with_kernel(2, 1, &[8]).unwrap();
        let taps: Vec<f32> = (0..16)
            .map(|i| if i % 8 == 3 { 1.0 } else { 0.0 })
            .collect();
        let img = kernel_grid(&taps, shape).unwrap();
        // Two wide panels, one above the other; the spike reaches the top quarter.
        let s = SEPARATOR_PIXELS;
        assert_eq!(img.width() as usize, CURVE_PANEL.0 + 2 * s);
        assert_eq!(img.height() as usize, 2 * (CURVE_PANEL.1 + s) + s);
        let blue = Rgb(CURVE_COLORS[0]);
        let top = (0..CURVE_PANEL.1 / 4).any(|y| {
            (0..CURVE_PANEL.0).any(|x| *img.get_pixel((x + 2) as u32, (y + 2) as u32) == blue)
        });
        assert!(top);
        let shape = FilterShapeNd::with_kernel(1, 1, &[2, 1, 1]).unwrap();
        let img = kernel_grid(&[1.0, -1.0], shape).unwrap();
        let sep = SEPARATOR_PIXELS as u32;
        assert_eq!(*img.get_pixel(sep, sep), Rgb([255; 3]));
        let second = sep + SLICE_PIXELS as u32 + sep;
        assert_eq!(*img.get_pixel(second, sep), Rgb([0; 3]));
        assert!(
            kernel_grid(
                &[1.0; 4],
                FilterShapeNd::with_kernel(1, 1, &[2, 2]).unwrap()
            )
            .is_err()
        );
    }
}
