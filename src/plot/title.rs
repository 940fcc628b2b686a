//! Title bands of the picture figures, and the titles that say what a
//! learning run learned.
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
use crate::conv::ConvTrainingConfig;
use crate::dictionary::{Rule, TrainingConfig};
use crate::error::Result;
use crate::image::Whitening;

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

/// Where a run's images came from, for a title: the embedded samples or the
/// folder's name.
fn source(images: Option<&Path>) -> String {
    match images {
        None => "the embedded photos".into(),
        Some(dir) => {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string());
            format!("the photos in {name}/")
        }
    }
}

/// `"2000 steps"`, or `"1 step"`.
fn steps(n: u64) -> String {
    if n == 1 {
        "1 step".into()
    } else {
        format!("{n} steps")
    }
}

/// The title of `atoms.png` of a patch dictionary learning run after
/// `steps_done` steps: what was learned (atoms, patch size, colour, source
/// photos), then how (rule, λ, steps, minibatch, whitening).
///
/// ```
/// use lca::dictionary::TrainingConfig;
/// let lines = lca::plot::patch_run_title(&TrainingConfig::default(), 2000);
/// assert_eq!(lines[0], "128 atoms of 8×8 pixels learned from the embedded photos");
/// assert_eq!(lines[1], "LCA dictionary learning: hebbian rule, λ = 0.1, 2000 steps of 256 patches");
/// ```
pub fn patch_run_title(config: &TrainingConfig, steps_done: u64) -> Vec<String> {
    let p = config.patch_size;
    let colour = if config.preprocessing.color {
        " RGB"
    } else {
        ""
    };
    let rule = match config.learning.rule {
        Rule::Hebbian => "hebbian",
        Rule::Online => "online",
    };
    let whiten = match config.preprocessing.whiten {
        Whitening::None => "",
        Whitening::OneOverF { .. } => ", 1/f-whitened",
        Whitening::Zca { .. } => ", ZCA-whitened",
    };
    vec![
        format!(
            "{} atoms of {p}×{p}{colour} pixels learned from {}",
            config.atoms,
            source(config.images.as_deref())
        ),
        format!(
            "LCA dictionary learning: {rule} rule, λ = {}, {} of {} patches{whiten}",
            config.learning.lca.lambda,
            steps(steps_done),
            config.batch_size
        ),
    ]
}

/// The title of `atoms.png` of a convolutional dictionary learning run after
/// `steps_done` steps: what was learned (filters, size, colour, source
/// photos), then how (λ, steps, crops, high-pass).
///
/// ```
/// use lca::conv::ConvTrainingConfig;
/// let lines = lca::plot::conv_run_title(&ConvTrainingConfig::default(), 2000);
/// assert_eq!(lines[0], "32 convolutional filters of 12×12 pixels learned from the embedded photos");
/// ```
pub fn conv_run_title(config: &ConvTrainingConfig, steps_done: u64) -> Vec<String> {
    let k = config.conv.kernel_size;
    let colour = if config.color { "×3 RGB" } else { "" };
    let crops = if config.conv.crop == 0 {
        "whole images".to_string()
    } else {
        format!("{c}×{c} crops", c = config.conv.crop)
    };
    let highpass = if config.conv.highpass > 0.0 {
        format!(", high-pass L={}", config.conv.highpass)
    } else {
        String::new()
    };
    vec![
        format!(
            "{} convolutional filters of {k}×{k}{colour} pixels learned from {}",
            config.atoms,
            source(config.images.as_deref())
        ),
        format!(
            "convolutional LCA: λ = {}, {} on {crops}{highpass}",
            config.conv.lambda,
            steps(steps_done)
        ),
    ]
}

/// The title of the run whose output folder is `dir`, from its `config.json`
/// ([`patch_run_title`] or [`conv_run_title`], with the steps it records), or
/// `None` when the folder holds no readable run config: `lca plot atoms
/// OUT/dictionary.npy` titles the redrawn figure as the run did.
pub fn run_title(dir: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    if crate::conv::is_conv_config(&text) {
        let config: ConvTrainingConfig = serde_json::from_str(&text).ok()?;
        let steps = config.progress.as_ref().map_or(0, |p| p.steps_done);
        Some(conv_run_title(&config, steps))
    } else {
        let config: TrainingConfig = serde_json::from_str(&text).ok()?;
        let steps = config.progress.as_ref().map_or(0, |p| p.steps_done);
        Some(patch_run_title(&config, steps))
    }
}
