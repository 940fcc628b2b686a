//! Where the filters of a convolutional code fire: the image beside one
//! activation map per filter, the strongest filters first.
//!
//! Conv codes are sparse (a few percent of the pixels of a map are non-zero),
//! so a map shrunk for display keeps, in every block of pixels, the code of
//! largest magnitude (max-pooling), dilated by one pixel: an isolated
//! coefficient never averages away and shows as a dot. Each map is drawn over a faded grey copy of the image, red where the
//! code is positive and blue where it is negative, with an opacity rising
//! with the magnitude relative to that map's peak, so a reader sees at once
//! what in the image each filter responds to.

use std::path::Path;

use image::{Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::atoms::{atom_pixels, stack_under_title};
use super::{FONT, TEXT, draw_error, ensure_font, to_u8, write_rgb_png};
use crate::error::{Error, Result, check_finite};
use crate::image::Image;

/// Activation maps are shrunk by an integer factor to at most this many
/// pixels along their longer side (and small ones enlarged towards it).
pub const MAP_PIXELS: usize = 200;
/// The image panel is shrunk by an integer factor to at most this many pixels.
pub const IMAGE_PIXELS: usize = 400;
/// Filters shown beside their map are upscaled to at least this many pixels.
const FILTER_PIXELS: usize = 32;
/// Margin, gap between panels and height of a map's label band, in pixels.
const MARGIN: usize = 12;
const GAP: usize = 10;
const LABEL_FONT: f64 = 14.0;
/// Colours of positive and negative codes over the faded image.
const POSITIVE: [f32; 3] = [0.80, 0.05, 0.05];
const NEGATIVE: [f32; 3] = [0.05, 0.25, 0.85];

/// The filters of a dictionary, drawn beside their maps: `n_filters` filters of
/// `k×k` pixels and `channels` (1 or 3), pixel-interleaved
/// (`((m*k + y)*k + x)*channels + c`).
#[derive(Clone, Copy, Debug)]
pub struct FilterImages<'a> {
    /// The filter values.
    pub data: &'a [f32],
    /// Filter side `k`.
    pub kernel: usize,
    /// 1 (gray) or 3 (RGB).
    pub channels: usize,
}

/// The convolutional code of one image: `n_filters` maps of `height × width`,
/// map `m` pixel `(x, y)` at `(m*height + y)*width + x` (a slice of `lca
/// encode`'s `(N, M, H, W)` output).
#[derive(Clone, Copy, Debug)]
pub struct CodeMaps<'a> {
    /// The code values.
    pub data: &'a [f32],
    /// Number of filters `M`.
    pub n_filters: usize,
    /// Map height `H`.
    pub height: usize,
    /// Map width `W`.
    pub width: usize,
}

impl CodeMaps<'_> {
    fn map(&self, m: usize) -> &[f32] {
        let n = self.height * self.width;
        &self.data[m * n..(m + 1) * n]
    }
}

/// The filters ordered by the ℓ1 norm of their maps, largest first (ties by
/// index), with that norm; filters whose map is all zero are left out.
///
/// ```
/// use lca::plot::{CodeMaps, filter_strengths};
/// let data = [0.0, 1.0, /* map 1 */ -3.0, 0.5, /* map 2 */ 0.0, 0.0];
/// let codes = CodeMaps { data: &data, n_filters: 3, height: 1, width: 2 };
/// assert_eq!(filter_strengths(&codes), vec![(1, 3.5), (0, 1.0)]);
/// ```
pub fn filter_strengths(codes: &CodeMaps) -> Vec<(usize, f64)> {
    let mut order: Vec<(usize, f64)> = (0..codes.n_filters)
        .map(|m| {
            let l1 = codes.map(m).iter().map(|&v| f64::from(v.abs())).sum();
            (m, l1)
        })
        .filter(|&(_, l1)| l1 > 0.0)
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    order
}

/// Draws the image beside the activation maps of its `top` strongest
/// filters ([`filter_strengths`]), in a grid read row by row, each map
/// labelled with its filter index and its share of the code's ℓ1 norm, and
/// the filter itself beside the label when `filters` is given; `title` (a
/// few lines, the first larger) goes above.
///
/// `image` must have the maps' size. Maps are max-pooled by the integer
/// factor `ceil(max(H, W) / MAP_PIXELS)` (or enlarged by `MAP_PIXELS /
/// max(H, W)` when smaller), the image panel by `ceil(max(H, W) /
/// IMAGE_PIXELS)` (box average; or enlarged by `IMAGE_PIXELS / max(H, W)`).
///
/// # Errors
///
/// [`Error::Shape`] when the codes, image or filters do not fit together or
/// `top` is 0; [`Error::NonFinite`] on NaN or Inf in the codes.
pub fn codes_figure(
    image: &Image,
    codes: &CodeMaps,
    filters: Option<FilterImages>,
    top: usize,
    title: &[String],
) -> Result<RgbImage> {
    check_codes(image, codes, filters)?;
    if top == 0 {
        return Err(Error::Shape("no filter to show (top is 0)".into()));
    }
    let strengths = filter_strengths(codes);
    let total: f64 = strengths.iter().map(|s| s.1).sum();
    let shown = &strengths[..strengths.len().min(top)];

    let (h, w) = (codes.height, codes.width);
    let long = h.max(w);
    let photo = faded_gray(image);
    let panel = if long > IMAGE_PIXELS {
        shrink_image(image, long.div_ceil(IMAGE_PIXELS))
    } else {
        let g = (IMAGE_PIXELS / long).max(1) as u32;
        let small = shrink_image(image, 1);
        image::imageops::resize(
            &small,
            small.width() * g,
            small.height() * g,
            image::imageops::FilterType::Nearest,
        )
    };
    let (tile_w, tile_h, pool, grow) = if long > MAP_PIXELS {
        let f = long.div_ceil(MAP_PIXELS);
        (w.div_ceil(f), h.div_ceil(f), f, 1)
    } else {
        let g = (MAP_PIXELS / long).max(1);
        (w * g, h * g, 1, g)
    };
    let label_h = filters.map_or(24, |f| filter_scale(f.kernel) * f.kernel + 8);
    let cols = if shown.is_empty() {
        0
    } else {
        grid_columns(shown.len(), panel.height() as usize, tile_h + label_h)
    };
    let rows = shown.len().div_ceil(cols.max(1));
    let maps_w = cols * tile_w + cols.saturating_sub(1) * GAP;
    let maps_h = rows * (tile_h + label_h) + rows.saturating_sub(1) * GAP;
    let width = 2 * MARGIN + panel.width() as usize + if cols > 0 { GAP + maps_w } else { 0 };
    let height = 2 * MARGIN + (panel.height() as usize + 24).max(maps_h);
    let (w32, h32) = (to_u32(width)?, to_u32(height)?);
    let mut canvas = RgbImage::from_pixel(w32, h32, Rgb([255; 3]));
    image::imageops::replace(&mut canvas, &panel, MARGIN as i64, (MARGIN + 24) as i64);

    let maps_x0 = MARGIN + panel.width() as usize + GAP;
    let mut labels = Vec::with_capacity(shown.len() + 1);
    labels.push((
        "the image".to_string(),
        MARGIN,
        MARGIN,
        panel.width() as usize,
    ));
    for (i, &(m, l1)) in shown.iter().enumerate() {
        let x0 = maps_x0 + (i % cols) * (tile_w + GAP);
        let y0 = MARGIN + (i / cols) * (tile_h + label_h + GAP);
        let map = codes.map(m);
        let peak = map.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let pooled = pooled_map(map, w, h, tile_w, tile_h, pool, grow);
        for ty in 0..tile_h {
            for tx in 0..tile_w {
                let (sy, sx) = (ty / grow * pool, tx / grow * pool);
                let base = photo[sy.min(h - 1) * w + sx.min(w - 1)];
                let px = overlay(base, pooled[ty * tile_w + tx], peak);
                canvas.put_pixel((x0 + tx) as u32, (y0 + label_h + ty) as u32, Rgb(px));
            }
        }
        let mut text_x = x0;
        if let Some(f) = filters {
            let s = filter_scale(f.kernel);
            let len = f.kernel * f.kernel * f.channels;
            let mut patch = vec![[0u8; 3]; f.kernel * f.kernel];
            atom_pixels(&f.data[m * len..(m + 1) * len], f.channels, &mut patch);
            for dy in 0..f.kernel * s {
                for dx in 0..f.kernel * s {
                    let px = patch[(dy / s) * f.kernel + dx / s];
                    canvas.put_pixel((x0 + dx) as u32, (y0 + 2 + dy) as u32, Rgb(px));
                }
            }
            text_x += f.kernel * s + 6;
        }
        let share = if total > 0.0 { 100.0 * l1 / total } else { 0.0 };
        labels.push((
            format!("filter {m}: {}", percent(share)),
            text_x,
            y0 + label_h.saturating_sub(24) / 2,
            x0 + tile_w - text_x,
        ));
    }
    draw_labels(&mut canvas, &labels)?;
    stack_under_title(&canvas, title)
}

/// Renders [`codes_figure`] and writes it to `path` as a PNG, atomically.
///
/// # Errors
///
/// Those of [`codes_figure`], and [`Error::Io`] naming `path` when it cannot
/// be written.
pub fn write_codes_png(
    path: &Path,
    image: &Image,
    codes: &CodeMaps,
    filters: Option<FilterImages>,
    top: usize,
    title: &[String],
) -> Result<()> {
    let img = codes_figure(image, codes, filters, top, title)?;
    write_rgb_png(path, &img)
}

fn check_codes(image: &Image, codes: &CodeMaps, filters: Option<FilterImages>) -> Result<()> {
    let per_map = codes.height.checked_mul(codes.width);
    if codes.n_filters == 0 || per_map.is_none_or(|n| n == 0) {
        return Err(Error::Shape(format!(
            "codes of {} maps of {}x{} are empty",
            codes.n_filters, codes.height, codes.width
        )));
    }
    if per_map.and_then(|n| n.checked_mul(codes.n_filters)) != Some(codes.data.len()) {
        return Err(Error::Shape(format!(
            "{} maps of {}x{} need {} values, got {}",
            codes.n_filters,
            codes.height,
            codes.width,
            codes
                .n_filters
                .saturating_mul(per_map.unwrap_or(usize::MAX)),
            codes.data.len()
        )));
    }
    check_finite("codes", codes.data)?;
    if (image.height, image.width) != (codes.height, codes.width) {
        return Err(Error::Shape(format!(
            "the image is {}x{} (W×H) but the code maps are {}x{}",
            image.width, image.height, codes.width, codes.height
        )));
    }
    if let Some(f) = filters {
        if f.channels != 1 && f.channels != 3 {
            return Err(Error::Shape(format!(
                "filters must have 1 or 3 channels, got {}",
                f.channels
            )));
        }
        let len = f.kernel * f.kernel * f.channels;
        if f.kernel == 0 || f.data.len() != len * codes.n_filters {
            return Err(Error::Shape(format!(
                "{} filters of {}x{}x{} need {} values, got {} (the codes have {} maps)",
                codes.n_filters,
                f.kernel,
                f.kernel,
                f.channels,
                len * codes.n_filters,
                f.data.len(),
                codes.n_filters
            )));
        }
        check_finite("filters", f.data)?;
    }
    Ok(())
}

/// Columns of the map grid: the fewest that keep it about as tall as the
/// image panel (at most 6 rows), so that the figure is wider than tall.
fn grid_columns(n: usize, panel_h: usize, row_h: usize) -> usize {
    let rows_fit = (panel_h.max(row_h) / row_h).clamp(2, 6);
    n.div_ceil(rows_fit).max(1)
}

/// The upscaling factor of a `k×k` filter drawn beside its map.
fn filter_scale(kernel: usize) -> usize {
    FILTER_PIXELS.div_ceil(kernel.max(1)).max(1)
}

/// Luminance of every pixel, faded towards white (the background of a map).
fn faded_gray(image: &Image) -> Vec<f32> {
    (0..image.width * image.height)
        .map(|i| {
            let px = &image.data[i * image.channels..(i + 1) * image.channels];
            let lum = if image.channels == 3 {
                0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]
            } else {
                px[0]
            };
            0.62 + 0.3 * lum.clamp(0.0, 1.0)
        })
        .collect()
}

/// A map as drawn, `tile_w × tile_h`: blocks of `pool × pool` codes reduced
/// to their code of largest magnitude, or each code repeated `grow × grow`
/// times. A shrunk map is then dilated by one pixel (largest magnitude over
/// 3×3), so that an isolated code shows as a visible dot, not a lone pixel.
fn pooled_map(
    map: &[f32],
    w: usize,
    h: usize,
    tile_w: usize,
    tile_h: usize,
    pool: usize,
    grow: usize,
) -> Vec<f32> {
    let stronger = |a: f32, b: f32| if b.abs() > a.abs() { b } else { a };
    let mut tile = vec![0.0f32; tile_w * tile_h];
    for ty in 0..tile_h {
        for tx in 0..tile_w {
            let (sy, sx) = (ty / grow * pool, tx / grow * pool);
            let mut v = 0.0f32;
            for y in sy..(sy + pool).min(h) {
                for x in sx..(sx + pool).min(w) {
                    v = stronger(v, map[y * w + x]);
                }
            }
            tile[ty * tile_w + tx] = v;
        }
    }
    if pool == 1 {
        return tile;
    }
    let mut dilated = tile.clone();
    for ty in 0..tile_h {
        for tx in 0..tile_w {
            let mut v = 0.0f32;
            for y in ty.saturating_sub(1)..(ty + 2).min(tile_h) {
                for x in tx.saturating_sub(1)..(tx + 2).min(tile_w) {
                    v = stronger(v, tile[y * tile_w + x]);
                }
            }
            dilated[ty * tile_w + tx] = v;
        }
    }
    dilated
}

/// `"93%"`, `"6.4%"`, `"0.3%"`, `"<0.1%"`: a share with the digits that tell
/// small ones apart.
fn percent(share: f64) -> String {
    if share >= 10.0 {
        format!("{share:.0}%")
    } else if share >= 0.1 {
        format!("{share:.1}%")
    } else {
        "<0.1%".into()
    }
}

/// One pixel of a map: the faded image, blended towards red or blue with an
/// opacity of `0.35 + 0.65·sqrt(|v| / peak)` where the code is non-zero: every
/// active coefficient is visible, the strongest opaque.
fn overlay(base: f32, v: f32, peak: f32) -> [u8; 3] {
    let alpha = if peak > 0.0 && v != 0.0 {
        0.35 + 0.65 * (v.abs() / peak).sqrt()
    } else {
        0.0
    };
    let colour = if v >= 0.0 { POSITIVE } else { NEGATIVE };
    colour.map(|c| to_u8(base + alpha * (c - base)))
}

/// The image shrunk by `factor` (box average) as 8-bit RGB.
fn shrink_image(image: &Image, factor: usize) -> RgbImage {
    let f = factor.max(1);
    let (w, h) = (image.width.div_ceil(f), image.height.div_ceil(f));
    let mut out = RgbImage::new(w as u32, h as u32);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (x0, y0) = (x as usize * f, y as usize * f);
        let mut sum = [0.0f32; 3];
        let mut count = 0.0f32;
        for yy in y0..(y0 + f).min(image.height) {
            for xx in x0..(x0 + f).min(image.width) {
                for (c, s) in sum.iter_mut().enumerate() {
                    *s += image.get(xx, yy, c.min(image.channels - 1));
                }
                count += 1.0;
            }
        }
        *px = Rgb(sum.map(|s| to_u8(s / count)));
    }
    out
}

/// Draws each `(text, x, y, max_width)` left-aligned in a 24 px band at
/// `(x, y)`, shrinking its font until it fits.
fn draw_labels(canvas: &mut RgbImage, labels: &[(String, usize, usize, usize)]) -> Result<()> {
    ensure_font();
    let what = Path::new("codes figure");
    let (w, h) = canvas.dimensions();
    let root = BitMapBackend::with_buffer(canvas.as_mut(), (w, h)).into_drawing_area();
    for (text, x, y, max_w) in labels {
        let mut size = LABEL_FONT;
        let style = loop {
            let style = (FONT, size).into_font().color(&TEXT);
            let (tw, _) = root
                .estimate_text_size(text, &style)
                .map_err(|e| draw_error(what, e))?;
            if tw as usize <= *max_w || size <= 8.0 {
                break style;
            }
            size -= 1.0;
        };
        let style = style.pos(Pos::new(HPos::Left, VPos::Center));
        // plotters draws ab_glyph text about a quarter of its size too high.
        let ty = (*y as f64 + 12.0 + size / 4.0).round() as i32;
        root.draw(&Text::new(text.as_str(), (*x as i32, ty), style))
            .map_err(|e| draw_error(what, e))?;
    }
    root.present().map_err(|e| draw_error(what, e))?;
    Ok(())
}

fn to_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Shape(format!("a figure of {n} pixels is too large")))
}
