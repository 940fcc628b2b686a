//! Title bands of the picture figures (the learners say what goes in
//! them: `TrainingConfig::title`, `ConvTrainingConfig::title`).
//!
//! A title is a few lines: the first one larger (what the picture shows), the
//! others smaller (how it was obtained). Lines are wrapped at word boundaries
//! to the width of the picture below them, so a figure is never widened for
//! its title.

use std::path::Path;

use image::RgbImage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{FONT, TEXT, draw_error, ensure_font};
use crate::error::Result;

/// Font size in pixels of a title's first line, and of the lines after it.
const HEAD_FONT: f64 = 18.0;
const DETAIL_FONT: f64 = 14.0;
/// Smallest font a word too long for the band is shrunk to.
const MIN_FONT: f64 = 8.0;
/// Horizontal margin of the text and vertical padding of the band, in pixels.
const SIDE: u32 = 8;
const PAD: u32 = 6;

/// Draws `lines` centred on a white band `width` pixels wide, wrapping each at
/// word boundaries; the band is as tall as its text.
pub(crate) fn title_band(width: u32, lines: &[String]) -> Result<RgbImage> {
    ensure_font();
    let what = Path::new("figure title");
    // Measure on a scratch canvas, then draw on one of the final height.
    let mut scratch = vec![255u8; width as usize * 3];
    let laid: Vec<(String, f64)> = {
        let root = BitMapBackend::with_buffer(&mut scratch, (width, 1)).into_drawing_area();
        let fits = |text: &str, size: f64| -> Result<bool> {
            let style = (FONT, size).into_font().color(&TEXT);
            let (tw, _) = root
                .estimate_text_size(text, &style)
                .map_err(|e| draw_error(what, e))?;
            Ok(tw + 2 * SIDE <= width)
        };
        let mut laid = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let size = if i == 0 { HEAD_FONT } else { DETAIL_FONT };
            let mut current = String::new();
            for word in line.split_whitespace() {
                let candidate = if current.is_empty() {
                    word.to_string()
                } else {
                    format!("{current} {word}")
                };
                if current.is_empty() || fits(&candidate, size)? {
                    current = candidate;
                } else {
                    laid.push((std::mem::take(&mut current), size));
                    current = word.to_string();
                }
            }
            if !current.is_empty() {
                laid.push((current, size));
            }
        }
        // A single word wider than the band: shrink that line's font.
        let mut shrunk = Vec::with_capacity(laid.len());
        for (text, mut size) in laid {
            while size > MIN_FONT && !fits(&text, size)? {
                size -= 1.0;
            }
            shrunk.push((text, size));
        }
        shrunk
    };
    let line_height = |size: f64| (size * 1.4).ceil() as u32;
    let height = 2 * PAD + laid.iter().map(|(_, s)| line_height(*s)).sum::<u32>();
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        let mut top = PAD;
        for (text, size) in &laid {
            let lh = line_height(*size);
            let style = (FONT, *size)
                .into_font()
                .color(&TEXT)
                .pos(Pos::new(HPos::Center, VPos::Center));
            // plotters draws ab_glyph text about a quarter of its size too high.
            let y = (f64::from(top) + f64::from(lh) / 2.0 + size / 4.0).round() as i32;
            root.draw(&Text::new(text.as_str(), ((width / 2) as i32, y), style))
                .map_err(|e| draw_error(what, e))?;
            top += lh;
        }
        root.present().map_err(|e| draw_error(what, e))?;
    }
    Ok(RgbImage::from_raw(width, height, buf).expect("the buffer has the band's size"))
}
