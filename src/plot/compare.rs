//! Images as PNG files, and original | reconstruction | residual comparisons.

use std::path::Path;

use image::ExtendedColorType;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{AXIS, FONT, TEXT, check_image_len, draw_error, ensure_font, to_u8, write_png};
use crate::error::{Error, Result, check_finite};

/// Small images are upscaled (nearest neighbour, integer factor) towards this
/// many pixels along their longer side.
const TARGET_PIXELS: usize = 256;
/// Minimum width of a panel column, so that labels fit.
const MIN_COLUMN: usize = 300;
/// Outer margin, gap between panels and height of the label band, in pixels.
const MARGIN: usize = 20;
const GAP: usize = 24;
const LABEL_BAND: usize = 40;
/// Label font size in pixels (shrunk if a label is wider than its column).
const LABEL_FONT: f64 = 20.0;

/// Writes an image as an 8-bit PNG, atomically: gray (`channels == 1`) or RGB
/// (`channels == 3`).
///
/// `data` is row-major HWC: pixel `(x, y)` channel `c` is
/// `data[(y*width + x)*channels + c]`, in [0, 1]; values outside are clamped.
///
/// # Errors
///
/// [`Error::Shape`] when `data.len() != width*height*channels` or the image is
/// empty; [`Error::InvalidSetting`] for other channel counts;
/// [`Error::NonFinite`] on NaN or Inf; [`Error::Io`] naming `path` when it
/// cannot be written.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("ramp.png");
/// lca::plot::write_image_png(&path, 3, 1, 1, &[0.0, 0.5, 2.0]).unwrap();
/// let img = image::open(&path).unwrap().to_luma8();
/// assert_eq!(img.as_raw(), &[0, 128, 255]);
/// ```
pub fn write_image_png(
    path: &Path,
    width: usize,
    height: usize,
    channels: usize,
    data: &[f32],
) -> Result<()> {
    check_image_len("image", width, height, channels, data.len())?;
    check_finite("image", data)?;
    let (w, h) = dims_u32(width, height)?;
    let bytes: Vec<u8> = data.iter().map(|&v| to_u8(v)).collect();
    let color = if channels == 1 {
        ExtendedColorType::L8
    } else {
        ExtendedColorType::Rgb8
    };
    write_png(path, w, h, &bytes, color)
}

/// Size in pixels (width, height) of the figure that [`write_compare_png`]
/// draws for images of `width × height` pixels.
///
/// Images are upscaled by `s = max(1, 256 / max(width, height))` (integer
/// division); each of the three columns is `max(width*s, 300)` wide, with
/// 20 px margins, 24 px gaps and a 40 px label band above the images.
pub fn compare_figure_size(width: usize, height: usize) -> (u32, u32) {
    let l = Layout::new(width, height);
    (l.total_w as u32, l.total_h as u32)
}

/// Writes three panels side by side — original | reconstruction | residual —
/// each under its label, as a PNG, atomically.
///
/// `original` and `reconstruction` are row-major HWC images as in
/// [`write_image_png`], shown clamped to [0, 1]. The residual
/// `original − reconstruction` (of the values as given) is shown centred on
/// mid-grey and scaled to its own range: mid-grey is 0, the largest magnitude
/// black or white (colour residuals are scaled jointly over the channels).
/// `labels` are the texts above the three panels, e.g.
/// `("original", "reconstruction (PSNR 31.2 dB)", "residual")`.
/// The figure size is [`compare_figure_size`].
///
/// # Errors
///
/// [`Error::Shape`] when a buffer does not hold `width*height*channels`
/// values; [`Error::InvalidSetting`] for channel counts other than 1 or 3;
/// [`Error::NonFinite`] on NaN or Inf; [`Error::Io`] naming `path` when it
/// cannot be drawn or written.
pub fn write_compare_png(
    path: &Path,
    width: usize,
    height: usize,
    channels: usize,
    original: &[f32],
    reconstruction: &[f32],
    labels: (&str, &str, &str),
) -> Result<()> {
    check_image_len("original", width, height, channels, original.len())?;
    check_image_len(
        "reconstruction",
        width,
        height,
        channels,
        reconstruction.len(),
    )?;
    check_finite("original", original)?;
    check_finite("reconstruction", reconstruction)?;
    dims_u32(width, height)?;
    let layout = Layout::new(width, height);
    let (tw, th) = (layout.total_w, layout.total_h);
    dims_u32(tw, th)?;

    let residual: Vec<f32> = original
        .iter()
        .zip(reconstruction)
        .map(|(o, r)| o - r)
        .collect();
    let m = residual.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let residual_shown: Vec<f32> = residual
        .iter()
        .map(|&r| if m > 0.0 { 0.5 + 0.5 * r / m } else { 0.5 })
        .collect();
    let panels: [(&str, &[f32]); 3] = [
        (labels.0, original),
        (labels.1, reconstruction),
        (labels.2, &residual_shown),
    ];

    ensure_font();
    let mut buf = vec![255u8; tw * th * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (tw as u32, th as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(path, e))?;
        for (i, (label, _)) in panels.iter().enumerate() {
            let center = layout.column_x(i) + layout.col_w / 2;
            // Shrink long labels until they fit their column.
            let mut size = LABEL_FONT;
            loop {
                let style = TextStyle::from((FONT, size).into_font());
                let (text_w, _) = root
                    .estimate_text_size(label, &style)
                    .map_err(|e| draw_error(path, e))?;
                if text_w as usize <= layout.col_w || size <= 10.0 {
                    break;
                }
                size -= 1.0;
            }
            let style = (FONT, size)
                .into_font()
                .color(&TEXT)
                .pos(Pos::new(HPos::Center, VPos::Center));
            let y = MARGIN + LABEL_BAND / 2 - 2;
            root.draw_text(label, &style, (center as i32, y as i32))
                .map_err(|e| draw_error(path, e))?;
        }
        root.present().map_err(|e| draw_error(path, e))?;
    }

    for (i, (_, data)) in panels.iter().enumerate() {
        let x0 = layout.column_x(i) + (layout.col_w - layout.img_w) / 2;
        let y0 = MARGIN + LABEL_BAND;
        frame(&mut buf, tw, x0, y0, layout.img_w, layout.img_h);
        for dy in 0..layout.img_h {
            for dx in 0..layout.img_w {
                let src = (dy / layout.scale) * width + dx / layout.scale;
                let rgb = if channels == 1 {
                    [to_u8(data[src]); 3]
                } else {
                    [
                        to_u8(data[3 * src]),
                        to_u8(data[3 * src + 1]),
                        to_u8(data[3 * src + 2]),
                    ]
                };
                let o = ((y0 + dy) * tw + x0 + dx) * 3;
                buf[o..o + 3].copy_from_slice(&rgb);
            }
        }
    }
    write_png(path, tw as u32, th as u32, &buf, ExtendedColorType::Rgb8)
}

/// Pixel geometry of the comparison figure.
struct Layout {
    scale: usize,
    img_w: usize,
    img_h: usize,
    col_w: usize,
    total_w: usize,
    total_h: usize,
}

impl Layout {
    fn new(width: usize, height: usize) -> Layout {
        let scale = (TARGET_PIXELS / width.max(height).max(1)).max(1);
        let img_w = width.saturating_mul(scale);
        let img_h = height.saturating_mul(scale);
        let col_w = img_w.max(MIN_COLUMN);
        Layout {
            scale,
            img_w,
            img_h,
            col_w,
            total_w: col_w.saturating_mul(3).saturating_add(2 * MARGIN + 2 * GAP),
            total_h: img_h.saturating_add(2 * MARGIN + LABEL_BAND),
        }
    }

    fn column_x(&self, i: usize) -> usize {
        MARGIN + i * (self.col_w + GAP)
    }
}

/// A one-pixel frame just outside the `w × h` rectangle at `(x0, y0)`.
fn frame(buf: &mut [u8], stride: usize, x0: usize, y0: usize, w: usize, h: usize) {
    let c = [AXIS.0, AXIS.1, AXIS.2];
    let mut put = |x: usize, y: usize| {
        let o = (y * stride + x) * 3;
        buf[o..o + 3].copy_from_slice(&c);
    };
    for x in x0 - 1..=x0 + w {
        put(x, y0 - 1);
        put(x, y0 + h);
    }
    for y in y0..y0 + h {
        put(x0 - 1, y);
        put(x0 + w, y);
    }
}

fn dims_u32(width: usize, height: usize) -> Result<(u32, u32)> {
    match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) if w < 1 << 16 && h < 1 << 16 => Ok((w, h)),
        _ => Err(Error::Shape(format!(
            "image of {width}x{height} pixels is too large for a figure"
        ))),
    }
}
