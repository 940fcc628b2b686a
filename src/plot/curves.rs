//! Training curves: reconstruction error, sparsity, activity and energy
//! against the training step, in a 2×2 figure.

use std::ops::Range;
use std::path::Path;

use image::ExtendedColorType;
use plotters::prelude::*;

use super::{AXIS, BLUE, FONT, GRID, TEXT, draw_error, ensure_font, write_png};
use crate::dictionary::training_log::TrainingRow;
use crate::error::{Error, Result};

/// Size in pixels (width, height) of the figure of [`write_training_png`].
pub const TRAINING_FIGURE_SIZE: (u32, u32) = (1280, 960);

/// Draws the training log as a 2×2 figure of line charts against the step —
/// reconstruction error (MSE), L1 norm of the codes per signal, fraction of
/// active coefficients and LASSO energy — and writes it to `path` as a PNG of
/// [`TRAINING_FIGURE_SIZE`], atomically.
///
/// Each panel spans the range of its own finite values; NaN and Inf values are
/// left out (a panel without any finite value stays empty). Rows are plotted in
/// the order given.
///
/// # Errors
///
/// [`Error::Shape`] when `rows` is empty; [`Error::Io`] naming `path` when it
/// cannot be drawn or written.
pub fn write_training_png(path: &Path, rows: &[TrainingRow]) -> Result<()> {
    if rows.is_empty() {
        return Err(Error::Shape(format!(
            "{}: the training log has no rows to plot",
            path.display()
        )));
    }
    ensure_font();
    let (w, h) = TRAINING_FIGURE_SIZE;
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(path, e))?;
        let last = rows.last().expect("rows is not empty");
        let title = format!(
            "Dictionary training: {} logged steps, {} s",
            rows.len(),
            fmt_seconds(last.seconds)
        );
        // plotters draws ab_glyph text about a quarter of its size too high:
        // keep the title clear of the top edge.
        let body = root
            .margin(14, 0, 0, 0)
            .titled(&title, (FONT, 30).into_font().color(&TEXT))
            .map_err(|e| draw_error(path, e))?;
        let panels = body.margin(4, 12, 12, 24).split_evenly((2, 2));
        type Field = fn(&TrainingRow) -> f64;
        let specs: [(&str, &str, Field); 4] = [
            ("Reconstruction error", "MSE", |r| r.mse),
            ("Sparsity", "L1 norm per signal", |r| r.l1),
            ("Activity", "active fraction", |r| r.active_fraction),
            ("Energy", "energy", |r| r.energy),
        ];
        for (area, (title, ylabel, field)) in panels.iter().zip(specs) {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .map(|r| (r.step as f64, field(r)))
                .filter(|(_, y)| y.is_finite())
                .collect();
            let caption = match points.last() {
                Some(&(_, y)) => format!("{title} (last {})", fmt_tick(y)),
                None => format!("{title} (no finite values)"),
            };
            draw_panel(area, &caption, ylabel, rows, &points).map_err(|e| draw_error(path, e))?;
        }
        root.present().map_err(|e| draw_error(path, e))?;
    }
    write_png(path, w, h, &buf, ExtendedColorType::Rgb8)
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// One line chart of `points` (step, value) on `area`.
fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    ylabel: &str,
    rows: &[TrainingRow],
    points: &[(f64, f64)],
) -> DrawResult {
    let x_range = padded_range(rows.iter().map(|r| r.step as f64), 0.02);
    let y_range = padded_range(points.iter().map(|p| p.1), 0.06);
    let decimals = axis_decimals(&y_range);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 22).into_font().color(&TEXT))
        .margin(10)
        .margin_right(24)
        .x_label_area_size(52)
        .y_label_area_size(86)
        .build_cartesian_2d(x_range, y_range)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(ylabel)
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| fmt_step(*v))
        .y_label_formatter(&|v| match decimals {
            Some(d) => format!("{v:.d$}"),
            None => fmt_tick(*v),
        })
        .label_style((FONT, 16).into_font().color(&TEXT))
        .axis_desc_style((FONT, 18).into_font().color(&TEXT))
        .axis_style(AXIS)
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .draw()?;
    chart.draw_series(LineSeries::new(
        points.iter().copied(),
        BLUE.stroke_width(2),
    ))?;
    if points.len() <= 60 {
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))?;
    }
    Ok(())
}

/// The range of `values` widened by `pad` of its width on each side; a single
/// value (or none) gets a small range around it.
pub(crate) fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return 0.0..1.0;
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(lo.abs()).max(1e-300) {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - d)..(hi + d);
    }
    let d = (hi - lo) * pad;
    (lo - d)..(hi + d)
}

/// Decimals that tell apart the ~6 tick labels of an axis spanning `range`,
/// so all labels of an axis share them; `None` when the magnitudes call for
/// scientific notation.
pub(crate) fn axis_decimals(range: &Range<f64>) -> Option<usize> {
    let magnitude = range.start.abs().max(range.end.abs());
    let span = range.end - range.start;
    if !(1e-3..1e5).contains(&magnitude) || span.is_nan() || span <= 0.0 {
        return None;
    }
    Some((-(span / 6.0).log10().floor()).max(0.0) as usize)
}

/// Tick label of a value: three significant digits, scientific notation for
/// very small or large magnitudes.
pub(crate) fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        // 1.50e-4 -> 1.5e-4
        match s.split_once('e') {
            Some((m, e)) => {
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            }
            None => s,
        }
    } else {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// Tick label of a step: integers only (fractional ticks stay unlabelled).
fn fmt_step(v: f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

/// Seconds with a sensible number of decimals.
fn fmt_seconds(s: f64) -> String {
    if !s.is_finite() {
        "?".into()
    } else if s < 10.0 {
        format!("{s:.2}")
    } else if s < 100.0 {
        format!("{s:.1}")
    } else {
        format!("{s:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels() {
        assert_eq!(fmt_tick(0.0), "0");
        assert_eq!(fmt_tick(0.25), "0.25");
        assert_eq!(fmt_tick(1234.0), "1234");
        assert_eq!(fmt_tick(12.345), "12.3");
        assert_eq!(fmt_tick(0.000_15), "1.5e-4");
        assert_eq!(fmt_tick(-2.0), "-2");
    }

    #[test]
    fn axis_labels_share_their_decimals() {
        assert_eq!(axis_decimals(&(0.28..0.31)), Some(3));
        assert_eq!(axis_decimals(&(2.0..3.5)), Some(1));
        assert_eq!(axis_decimals(&(0.0..3000.0)), Some(0));
        assert_eq!(axis_decimals(&(0.0..1e-5)), None);
    }

    #[test]
    fn ranges_never_collapse() {
        let r = padded_range([3.0].into_iter(), 0.1);
        assert!(r.start < 3.0 && r.end > 3.0);
        let r = padded_range([f64::NAN].into_iter(), 0.1);
        assert_eq!(r, 0.0..1.0);
    }
}
