//! `training.png`: loss and accuracy curves of an SNN training run.

use std::path::Path;
use std::sync::Once;

use image::{ExtendedColorType, ImageEncoder};
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::train::EpochStats;
use crate::error::{Error, Result};
use crate::io::atomic::write_bytes_atomic;

const FONT: &str = "lca-snn-sans";
static FONT_DATA: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_DATA);
    });
}

/// Figure size in pixels.
pub const SIZE: (u32, u32) = (1200, 500);

/// Draws training loss (left) and train/validation/test accuracy (right)
/// against the epoch and writes the PNG to `path` atomically.
pub fn write_training_png(path: &Path, log: &[EpochStats]) -> Result<()> {
    if log.is_empty() {
        return Err(Error::Shape(format!(
            "{}: no epochs to plot",
            path.display()
        )));
    }
    ensure_font();
    let (w, h) = SIZE;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    draw(&mut buf, log).map_err(|e| {
        Error::io(
            path,
            std::io::Error::other(format!("cannot draw the figure: {e}")),
        )
    })?;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&buf, w, h, ExtendedColorType::Rgb8)
        .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
    write_bytes_atomic(path, &png)
}

/// A named curve: label, colour, and the value of an epoch.
type Series = (&'static str, RGBColor, fn(&EpochStats) -> Option<f64>);

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn draw(buf: &mut [u8], log: &[EpochStats]) -> DrawResult {
    let root = BitMapBackend::with_buffer(buf, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    let last = log.len() as f64 + 0.5;
    let finite = |v: f64| v.is_finite();

    let losses: Vec<(f64, f64)> = log
        .iter()
        .map(|s| (s.epoch as f64, s.train_loss))
        .filter(|p| finite(p.1))
        .collect();
    let lmax = losses.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-6) * 1.05;
    let mut c = ChartBuilder::on(&left)
        .caption("training loss", (FONT, 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5..last, 0.0..lmax)?;
    c.configure_mesh()
        .x_desc("epoch")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()?;
    c.draw_series(LineSeries::new(losses, BLUE.stroke_width(2)))?;

    let lo = log
        .iter()
        .flat_map(|s| {
            [
                Some(s.train_accuracy),
                s.validation_accuracy,
                s.test_accuracy,
            ]
        })
        .flatten()
        .fold(1.0f64, f64::min)
        .clamp(0.0, 0.95);
    let mut c = ChartBuilder::on(&right)
        .caption("accuracy", (FONT, 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5..last, lo..1.0)?;
    c.configure_mesh()
        .x_desc("epoch")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()?;
    let series: [Series; 3] = [
        ("train", RGBColor(31, 102, 170), |s| Some(s.train_accuracy)),
        ("validation", RGBColor(221, 112, 35), |s| {
            s.validation_accuracy
        }),
        ("test", RGBColor(44, 160, 44), |s| s.test_accuracy),
    ];
    for (name, color, get) in series {
        let pts: Vec<(f64, f64)> = log
            .iter()
            .filter_map(|s| get(s).map(|a| (s.epoch as f64, a)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        c.draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    c.configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}
