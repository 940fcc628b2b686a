//! Spike rasters of spiking LCA, with the rate code of each neuron beside them.

use std::path::Path;

use image::ExtendedColorType;
use plotters::prelude::*;

use super::curves::fmt_tick;
use super::{AXIS, BLUE, FONT, GRID, ORANGE, TEXT, draw_error, ensure_font, write_png};
use crate::error::{Error, Result, check_finite};

/// Width of the raster figure in pixels.
const WIDTH: u32 = 1200;

/// Size in pixels (width, height) of the figure that [`write_raster_png`]
/// draws for `n_neurons` neurons: 1200 wide, `200 + 8*n_neurons` high,
/// clamped to [480, 1400].
pub fn raster_figure_size(n_neurons: usize) -> (u32, u32) {
    let h = n_neurons
        .saturating_mul(8)
        .saturating_add(200)
        .clamp(480, 1400);
    (WIDTH, h as u32)
}

/// Draws a spike raster — time step on x, neuron on y, one tick per spike —
/// with a bar chart of the neurons' rate codes beside it on the same neuron
/// axis, and writes it to `path` as a PNG of [`raster_figure_size`],
/// atomically.
///
/// `spikes` are `(neuron, time step)` pairs in any order, with
/// `neuron < n_neurons` and `step < n_steps`; `rates` holds one rate per
/// neuron (any sign). Neuron 0 is at the bottom.
///
/// # Errors
///
/// [`Error::Shape`] when `n_neurons` or `n_steps` is 0, `rates.len() !=
/// n_neurons` or a spike lies outside the raster; [`Error::NonFinite`] on a
/// NaN or Inf rate; [`Error::Io`] naming `path` when it cannot be drawn or
/// written.
pub fn write_raster_png(
    path: &Path,
    n_neurons: usize,
    n_steps: usize,
    spikes: &[(u32, u32)],
    rates: &[f32],
    title: &str,
) -> Result<()> {
    if n_neurons == 0 || n_steps == 0 {
        return Err(Error::Shape(format!(
            "spike raster of {n_neurons} neurons over {n_steps} steps is empty"
        )));
    }
    if rates.len() != n_neurons {
        return Err(Error::Shape(format!(
            "{n_neurons} neurons need {n_neurons} rates, got {}",
            rates.len()
        )));
    }
    check_finite("rates", rates)?;
    if let Some((i, &(n, t))) = spikes
        .iter()
        .enumerate()
        .find(|(_, (n, t))| *n as usize >= n_neurons || *t as usize >= n_steps)
    {
        return Err(Error::Shape(format!(
            "spike {i} (neuron {n}, step {t}) lies outside the raster of {n_neurons} neurons over {n_steps} steps"
        )));
    }

    ensure_font();
    let (w, h) = raster_figure_size(n_neurons);
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    draw(&mut buf, (w, h), n_neurons, n_steps, spikes, rates, title)
        .map_err(|e| draw_error(path, e))?;
    write_png(path, w, h, &buf, ExtendedColorType::Rgb8)
}

fn draw(
    buf: &mut [u8],
    (w, h): (u32, u32),
    n_neurons: usize,
    n_steps: usize,
    spikes: &[(u32, u32)],
    rates: &[f32],
    title: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("{title}  ({} spikes)", spikes.len());
    // plotters draws ab_glyph text about a quarter of its size too high:
    // keep the title clear of the top edge.
    let body = root
        .margin(14, 0, 0, 0)
        .titled(&title, (FONT, 28).into_font().color(&TEXT))?;
    let body = body.margin(4, 12, 12, 24);
    let split = (body.dim_in_pixel().0 as f64 * 0.76) as u32;
    let (left, right) = body.split_horizontally(split);

    // Both charts share top/bottom margins and label areas, so their neuron
    // axes line up pixel for pixel.
    let y_range = -0.5..n_neurons as f64 - 0.5;
    let (top, bottom, x_area) = (12, 8, 52);
    let label_style = (FONT, 16).into_font().color(&TEXT);
    let desc_style = (FONT, 18).into_font().color(&TEXT);
    let int_label = |v: &f64| {
        if (v - v.round()).abs() < 1e-6 {
            format!("{}", v.round() as i64)
        } else {
            String::new()
        }
    };

    let mut raster = ChartBuilder::on(&left)
        .margin_top(top)
        .margin_bottom(bottom)
        .margin_left(8)
        .margin_right(16)
        .x_label_area_size(x_area)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.5..n_steps as f64 - 0.5, y_range.clone())?;
    raster
        .configure_mesh()
        .x_desc("time step")
        .y_desc("neuron")
        .x_labels(10)
        .y_labels(n_neurons.min(12))
        .x_label_formatter(&int_label)
        .y_label_formatter(&int_label)
        .label_style(label_style.clone())
        .axis_desc_style(desc_style.clone())
        .axis_style(AXIS)
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .draw()?;
    let plot_w = raster.plotting_area().dim_in_pixel().0 as f64;
    let plot_h = raster.plotting_area().dim_in_pixel().1 as f64;
    // Ticks a bit narrower than a time step and shorter than a neuron row.
    let tick_w = ((plot_w / n_steps as f64) * 0.5).clamp(1.0, 3.0) as u32;
    let half = if plot_h / n_neurons as f64 >= 3.0 {
        0.38
    } else {
        0.5
    };
    raster.draw_series(spikes.iter().map(|&(n, t)| {
        let (n, t) = (n as f64, t as f64);
        PathElement::new(
            vec![(t, n - half), (t, n + half)],
            BLUE.stroke_width(tick_w),
        )
    }))?;

    let lo = rates.iter().fold(0.0f32, |m, &r| m.min(r)) as f64;
    let hi = rates.iter().fold(0.0f32, |m, &r| m.max(r)) as f64;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let x_rates = (lo - 0.04 * span * f64::from(lo < 0.0))..(hi + 0.06 * span);
    let mut bars = ChartBuilder::on(&right)
        .margin_top(top)
        .margin_bottom(bottom)
        .margin_left(0)
        .margin_right(8)
        .x_label_area_size(x_area)
        .y_label_area_size(4)
        .build_cartesian_2d(x_rates, y_range)?;
    bars.configure_mesh()
        .x_desc("rate")
        .x_labels(4)
        .y_labels(n_neurons.min(12))
        .y_label_formatter(&|_| String::new())
        .x_label_formatter(&|v| fmt_tick(*v))
        .label_style(label_style)
        .axis_desc_style(desc_style)
        .axis_style(AXIS)
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .draw()?;
    let bar_half = if plot_h / n_neurons as f64 >= 3.0 {
        0.38
    } else {
        0.5
    };
    bars.draw_series(rates.iter().enumerate().map(|(i, &r)| {
        let y = i as f64;
        Rectangle::new(
            [(0.0, y - bar_half), (r as f64, y + bar_half)],
            ORANGE.filled(),
        )
    }))?;
    root.present()?;
    Ok(())
}
