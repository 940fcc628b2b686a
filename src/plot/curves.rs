//! Training curves: reconstruction error, sparsity, activity and energy
//! against the training step, in a 2×2 figure.
//!
//! Each panel shows the raw per-step values faintly and a centred moving
//! average boldly; the energy panel adds the exact held-out energy where the
//! log has it. Y ranges ignore the extreme percent of the values at either end
//! and every line is clipped to its panel's plotting area, so an outlier
//! neither flattens the curves nor draws over titles or neighbouring panels.

use std::ops::Range;
use std::path::Path;

use image::RgbImage;
use plotters::prelude::*;

use super::{AXIS, BLUE, FONT, GRID, ORANGE, TEXT, draw_error, ensure_font, write_rgb_png};
use crate::error::{Error, Result};
use crate::learning::TrainingRow;

/// Size in pixels (width, height) of the figure of [`write_training_png`].
pub const TRAINING_FIGURE_SIZE: (u32, u32) = (1280, 960);

/// At most this many points are drawn per series (raw, smoothed, held-out):
/// longer series are decimated (see [`write_training_png`]).
pub const MAX_POINTS_PER_SERIES: usize = 4000;

/// Colour of the raw per-step values: a light tint of the smoothed curve's blue.
pub const RAW_COLOR: RGBColor = RGBColor(188, 210, 233);
/// Colour of the smoothed training curves.
pub const SMOOTHED_COLOR: RGBColor = BLUE;
/// Colour of the held-out energy (line and points) in the energy panel.
pub const HELDOUT_COLOR: RGBColor = ORANGE;

/// Legend entry of the smoothed training energy.
const SMOOTHED_LABEL: &str = "training batch (smoothed)";
/// Legend entry of the held-out energy.
const HELDOUT_LABEL: &str = "held-out (exact)";

/// The pixel rectangle of a panel's plotting area in the figure: where its
/// data is drawn, inside the axes (`x` columns, `y` rows, end exclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlotArea {
    /// Pixel columns.
    pub x: Range<u32>,
    /// Pixel rows (0 at the top).
    pub y: Range<u32>,
}

impl PlotArea {
    /// Whether pixel `(x, y)` lies in the area.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        self.x.contains(&x) && self.y.contains(&y)
    }
}

/// The training figure of [`write_training_png`], before it is encoded.
#[derive(Clone, Debug)]
pub struct TrainingFigure {
    /// The picture, [`TRAINING_FIGURE_SIZE`].
    pub image: RgbImage,
    /// Plotting areas of the panels: MSE, L1, active fraction, energy (top
    /// left, top right, bottom left, bottom right). Every series is clipped to
    /// its panel's area; nothing of the data is drawn outside.
    pub plot_areas: [PlotArea; 4],
}

/// Rows averaged by the moving average of a log of `n` rows: `2⌊n/100⌋ + 1`,
/// an odd window of about `n/50` rows (1, no smoothing, below 100 rows).
///
/// ```
/// use lca::plot::smoothing_window;
/// assert_eq!(smoothing_window(60), 1);
/// assert_eq!(smoothing_window(1000), 21);
/// ```
pub fn smoothing_window(n: usize) -> usize {
    2 * (n / 100) + 1
}

/// Draws the training log as a 2×2 figure of line charts against the step —
/// reconstruction error (MSE), L1 norm of the codes per signal, fraction of
/// active coefficients and LASSO energy — and writes it to `path` as a PNG of
/// [`TRAINING_FIGURE_SIZE`], atomically.
///
/// Each panel draws the raw per-step values thin in [`RAW_COLOR`] and, bold in
/// [`SMOOTHED_COLOR`], their *centred* moving average over
/// [`smoothing_window`] rows (the mean of the finite values among the rows from
/// `w/2` before to `w/2` after each row; the window shrinks to the rows
/// available at either end of the log, so the curve does not lag behind the
/// raw values). The energy panel also draws the exact held-out energy of the
/// rows that have one (`heldout_energy` is `Some`) as a line with points in
/// [`HELDOUT_COLOR`], with a legend; a log without held-out values draws no
/// held-out colour and no legend.
///
/// The y range of a panel spans the 1st to the 99th percentile of the centred
/// moving *median* over the same window (robust: outliers filling less than
/// half a window do not move it) together with every finite held-out value,
/// padded by 10 % on each side. Values beyond it (outliers and the smoothed
/// curve's bumps over them, the first steps' transient, the tails of noisy raw
/// values) leave the panel through its top or bottom edge:
/// every series is clipped to the plotting area, so nothing is drawn over the
/// titles, the axes' labels or the neighbouring panels. NaN and Inf values are
/// left out (a panel without any finite value stays empty). Rows are plotted in
/// the order given.
///
/// Long logs are decimated after smoothing: a series of more than
/// [`MAX_POINTS_PER_SERIES`] points keeps, for each of
/// `MAX_POINTS_PER_SERIES / 2` consecutive buckets of rows, its smallest and
/// largest value (the envelope of the raw values survives), and the moving
/// average is evaluated at `MAX_POINTS_PER_SERIES` evenly spaced rows only.
///
/// # Errors
///
/// [`Error::Shape`] when `rows` is empty; [`Error::Io`] naming `path` when it
/// cannot be drawn or written.
pub fn write_training_png(path: &Path, rows: &[TrainingRow]) -> Result<()> {
    let figure = render(path, rows)?;
    write_rgb_png(path, &figure.image)
}

/// The figure of [`write_training_png`] as an image, with the plotting area of
/// each panel.
///
/// ```
/// use lca::dictionary::TrainingRow;
/// let rows: Vec<TrainingRow> = (0..300u64)
///     .map(|s| TrainingRow {
///         step: s,
///         seconds: s as f64,
///         mse: 1.0 / (1.0 + s as f64),
///         l1: 2.0,
///         active_fraction: 0.1,
///         energy: 0.5 / (1.0 + s as f64),
///         heldout_energy: s.is_multiple_of(100).then_some(0.6 / (1.0 + s as f64)),
///     })
///     .collect();
/// let fig = lca::plot::training_figure(&rows).unwrap();
/// assert_eq!(fig.image.dimensions(), lca::plot::TRAINING_FIGURE_SIZE);
/// // The energy panel is the bottom-right one.
/// assert!(fig.plot_areas[3].x.start > fig.plot_areas[2].x.end);
/// assert!(fig.plot_areas[3].y.start > fig.plot_areas[1].y.end);
/// ```
///
/// # Errors
///
/// [`Error::Shape`] when `rows` is empty.
pub fn training_figure(rows: &[TrainingRow]) -> Result<TrainingFigure> {
    render(Path::new("training figure"), rows)
}

/// One panel's content: what to draw and in which ranges.
struct Panel {
    caption: String,
    ylabel: &'static str,
    raw: Vec<(f64, f64)>,
    smoothed: Vec<(f64, f64)>,
    heldout: Vec<(f64, f64)>,
    x_range: Range<f64>,
    y_range: Range<f64>,
}

/// Draws the figure; drawing errors name `path`.
fn render(path: &Path, rows: &[TrainingRow]) -> Result<TrainingFigure> {
    if rows.is_empty() {
        return Err(Error::Shape(format!(
            "{}: the training log has no rows to plot",
            path.display()
        )));
    }
    ensure_font();
    let window = smoothing_window(rows.len());
    let steps: Vec<f64> = rows.iter().map(|r| r.step as f64).collect();
    let x_range = padded_range(steps.iter().copied(), 0.02);
    let heldout: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.heldout_energy.map(|h| (r.step as f64, h)))
        .filter(|(_, h)| h.is_finite())
        .collect();

    type Field = fn(&TrainingRow) -> f64;
    let specs: [(&str, &'static str, Field); 4] = [
        ("Reconstruction error", "MSE", |r| r.mse),
        ("Sparsity", "L1 norm per signal", |r| r.l1),
        ("Activity", "active fraction", |r| r.active_fraction),
        ("Energy", "energy", |r| r.energy),
    ];
    let panels: Vec<Panel> = specs
        .iter()
        .enumerate()
        .map(|(i, &(title, ylabel, field))| {
            let values: Vec<f64> = rows.iter().map(field).collect();
            let heldout = if i == 3 { heldout.clone() } else { Vec::new() };
            let last = values.iter().rev().find(|v| v.is_finite());
            let caption = match (last, heldout.last()) {
                (Some(&y), Some(&(_, h))) => {
                    format!("{title} (last {}, held-out {})", fmt_tick(y), fmt_tick(h))
                }
                (Some(&y), None) => format!("{title} (last {})", fmt_tick(y)),
                (None, _) => format!("{title} (no finite values)"),
            };
            let y_range = robust_range(
                &values,
                window,
                MAX_POINTS_PER_SERIES,
                heldout.iter().map(|p| p.1),
            );
            Panel {
                caption,
                ylabel,
                raw: decimate(&steps, &values, MAX_POINTS_PER_SERIES),
                smoothed: moving_average(&steps, &values, window, MAX_POINTS_PER_SERIES),
                heldout: decimate_points(&heldout, MAX_POINTS_PER_SERIES),
                x_range: x_range.clone(),
                y_range,
            }
        })
        .collect();

    let (w, h) = TRAINING_FIGURE_SIZE;
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    let mut areas = Vec::with_capacity(4);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(path, e))?;
        let last = rows.last().expect("rows is not empty");
        let smoothing = if window > 1 {
            format!(" · bold: moving average of {window} rows")
        } else {
            String::new()
        };
        let title = format!(
            "Dictionary training: {} logged steps, {} s{smoothing}",
            rows.len(),
            fmt_seconds(last.seconds)
        );
        // plotters draws ab_glyph text about a quarter of its size too high:
        // keep the title clear of the top edge.
        let body = root
            .margin(14, 0, 0, 0)
            .titled(&title, (FONT, 28).into_font().color(&TEXT))
            .map_err(|e| draw_error(path, e))?;
        let cells = body.margin(4, 12, 12, 24).split_evenly((2, 2));
        for (area, panel) in cells.iter().zip(&panels) {
            let plot = draw_panel(area, panel).map_err(|e| draw_error(path, e))?;
            areas.push(plot);
        }
        root.present().map_err(|e| draw_error(path, e))?;
    }
    let image = RgbImage::from_raw(w, h, buf).expect("the buffer has the figure's size");
    let plot_areas: [PlotArea; 4] = areas.try_into().expect("four panels");
    Ok(TrainingFigure { image, plot_areas })
}

type DrawResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One panel on `area`; returns its plotting area.
fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    panel: &Panel,
) -> DrawResult<PlotArea> {
    let (xr, yr) = (panel.x_range.clone(), panel.y_range.clone());
    let decimals = axis_decimals(&yr);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, (FONT, 22).into_font().color(&TEXT))
        .margin(10)
        .margin_right(24)
        .x_label_area_size(52)
        .y_label_area_size(86)
        .build_cartesian_2d(xr.clone(), yr.clone())?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(panel.ylabel)
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

    let clip = |points: &[(f64, f64)]| clipped_runs(points, &xr, &yr);
    let inside = |p: &&(f64, f64)| in_rect(**p, &xr, &yr);
    // Raw values: thin and light, only worth drawing when smoothing hides them.
    if panel.raw != panel.smoothed {
        chart.draw_series(
            clip(&panel.raw)
                .into_iter()
                .map(|run| PathElement::new(run, RAW_COLOR.stroke_width(1))),
        )?;
    }
    let smoothed = chart.draw_series(
        clip(&panel.smoothed)
            .into_iter()
            .map(|run| PathElement::new(run, SMOOTHED_COLOR.stroke_width(2))),
    )?;
    if !panel.heldout.is_empty() {
        smoothed.label(SMOOTHED_LABEL).legend(|(x, y)| {
            PathElement::new(vec![(x, y), (x + 24, y)], SMOOTHED_COLOR.stroke_width(3))
        });
    }
    if panel.smoothed.len() <= 60 {
        chart.draw_series(
            panel
                .smoothed
                .iter()
                .filter(inside)
                .map(|&p| Circle::new(p, 4, SMOOTHED_COLOR.filled())),
        )?;
    }
    if !panel.heldout.is_empty() {
        chart
            .draw_series(
                clip(&panel.heldout)
                    .into_iter()
                    .map(|run| PathElement::new(run, HELDOUT_COLOR.stroke_width(2))),
            )?
            .label(HELDOUT_LABEL)
            .legend(|(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], HELDOUT_COLOR.stroke_width(2))
                    + Circle::new((12, 0), 4, HELDOUT_COLOR.filled())
            });
        if panel.heldout.len() <= 200 {
            chart.draw_series(
                panel
                    .heldout
                    .iter()
                    .filter(inside)
                    .map(|&p| Circle::new(p, 4, HELDOUT_COLOR.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .margin(8)
            .background_style(WHITE)
            .border_style(AXIS)
            .label_font((FONT, 16).into_font().color(&TEXT))
            .draw()?;
    }
    let (px, py) = chart.plotting_area().get_pixel_range();
    let to_u32 = |r: Range<i32>| r.start.max(0) as u32..r.end.max(0) as u32;
    Ok(PlotArea {
        x: to_u32(px),
        y: to_u32(py),
    })
}

/// The y range of a panel: the 1st to 99th percentile of the centred moving
/// median over `window` rows of the finite `values` (evaluated at `max_points`
/// rows at most), widened to every finite value of `extra`, padded by 10 % of
/// its width on each side.
///
/// The median, unlike the mean, does not move for outliers filling less than
/// half its window, and the percentiles drop what longer runs of them leave.
fn robust_range(
    values: &[f64],
    window: usize,
    max_points: usize,
    extra: impl Iterator<Item = f64>,
) -> Range<f64> {
    let n = values.len();
    let half = window / 2;
    let mut scratch = Vec::with_capacity(window);
    let mut medians: Vec<f64> = sample_rows(n, max_points)
        .filter_map(|i| {
            scratch.clear();
            let window = &values[i.saturating_sub(half)..(i + half + 1).min(n)];
            scratch.extend(window.iter().copied().filter(|v| v.is_finite()));
            if scratch.is_empty() {
                return None;
            }
            let mid = scratch.len() / 2;
            let (_, &mut m, _) = scratch.select_nth_unstable_by(mid, f64::total_cmp);
            Some(m)
        })
        .collect();
    let mut bounds = Vec::with_capacity(2);
    if !medians.is_empty() {
        let last = (medians.len() - 1) as f64;
        let lo_rank = (0.01 * last).floor() as usize;
        let hi_rank = (0.99 * last).ceil() as usize;
        let (_, &mut lo, _) = medians.select_nth_unstable_by(lo_rank, f64::total_cmp);
        bounds.push(lo);
        let (_, &mut hi, _) = medians.select_nth_unstable_by(hi_rank, f64::total_cmp);
        bounds.push(hi);
    }
    padded_range(bounds.into_iter().chain(extra), 0.10)
}

/// The rows at which a smoothed series of `n` rows is evaluated: all of them,
/// or `max_points` evenly spaced ones (first and last included).
fn sample_rows(n: usize, max_points: usize) -> impl Iterator<Item = usize> {
    let m = n.min(max_points.max(2));
    let last = n.saturating_sub(1) as f64;
    let denom = m.saturating_sub(1).max(1) as f64;
    (0..m).map(move |k| {
        if n <= max_points {
            k
        } else {
            (k as f64 * last / denom).round() as usize
        }
    })
}

/// The centred moving average over `window` rows of the finite `values`
/// against `steps`, evaluated at every row, or at `max_points` evenly spaced
/// rows of a longer log. A row whose window holds no finite value is left out.
///
/// Each window is summed afresh (no running sum), so an outlier of any size
/// only affects the windows that contain it.
fn moving_average(
    steps: &[f64],
    values: &[f64],
    window: usize,
    max_points: usize,
) -> Vec<(f64, f64)> {
    let n = values.len();
    let half = window / 2;
    let mean_at = |i: usize| {
        let lo = i.saturating_sub(half);
        let hi = (i + half + 1).min(n);
        let (sum, count) = values[lo..hi]
            .iter()
            .filter(|v| v.is_finite())
            .fold((0.0, 0usize), |(s, c), &v| (s + v, c + 1));
        (count > 0).then(|| (steps[i], sum / count as f64))
    };
    sample_rows(n, max_points).filter_map(mean_at).collect()
}

/// The finite `(step, value)` points, decimated to at most `max_points`: a
/// longer series keeps the smallest and largest value of each of
/// `max_points / 2` consecutive buckets, in their order.
fn decimate(steps: &[f64], values: &[f64], max_points: usize) -> Vec<(f64, f64)> {
    let points: Vec<(f64, f64)> = steps
        .iter()
        .zip(values)
        .map(|(&x, &y)| (x, y))
        .filter(|p| p.1.is_finite())
        .collect();
    decimate_points(&points, max_points)
}

/// [`decimate`] of finite points.
fn decimate_points(points: &[(f64, f64)], max_points: usize) -> Vec<(f64, f64)> {
    if points.len() <= max_points {
        return points.to_vec();
    }
    let buckets = (max_points / 2).max(1);
    let mut out = Vec::with_capacity(2 * buckets);
    for b in 0..buckets {
        let chunk = &points[b * points.len() / buckets..(b + 1) * points.len() / buckets];
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.1 < chunk[lo].1 {
                lo = i;
            }
            if p.1 > chunk[hi].1 {
                hi = i;
            }
        }
        if chunk.is_empty() {
            continue;
        }
        out.push(chunk[lo.min(hi)]);
        if lo != hi {
            out.push(chunk[lo.max(hi)]);
        }
    }
    out
}

/// The parts of the polyline through `points` that lie inside `x × y`, as
/// separate polylines (a segment leaving the rectangle ends at its edge; one
/// coming back starts at its edge). A single point is kept when inside.
fn clipped_runs(points: &[(f64, f64)], x: &Range<f64>, y: &Range<f64>) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    if let [p] = points {
        if in_rect(*p, x, y) {
            runs.push(vec![*p]);
        }
        return runs;
    }
    let mut run: Vec<(f64, f64)> = Vec::new();
    for pair in points.windows(2) {
        match clip_segment(pair[0], pair[1], x, y) {
            None => {
                if run.len() > 1 {
                    runs.push(std::mem::take(&mut run));
                }
                run.clear();
            }
            Some((a, b)) => {
                if run.last() != Some(&a) {
                    if run.len() > 1 {
                        runs.push(std::mem::take(&mut run));
                    }
                    run.clear();
                    run.push(a);
                }
                run.push(b);
                if b != pair[1] {
                    runs.push(std::mem::take(&mut run));
                }
            }
        }
    }
    if run.len() > 1 {
        runs.push(run);
    }
    runs
}

/// Whether `p` lies in the closed rectangle `x × y`.
fn in_rect(p: (f64, f64), x: &Range<f64>, y: &Range<f64>) -> bool {
    (x.start..=x.end).contains(&p.0) && (y.start..=y.end).contains(&p.1)
}

/// The part of segment `a`–`b` inside the rectangle `x × y` (Liang–Barsky),
/// or `None` when it misses it.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    x: &Range<f64>,
    y: &Range<f64>,
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x.start),
        (dx, x.end - a.0),
        (-dy, a.1 - y.start),
        (dy, y.end - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                if r > t1 {
                    return None;
                }
                t0 = t0.max(r);
            } else {
                if r < t0 {
                    return None;
                }
                t1 = t1.min(r);
            }
        }
    }
    let at = |t: f64| {
        if t == 0.0 {
            a
        } else if t == 1.0 {
            b
        } else {
            // Clamp: rounding must not put an edge point a hair outside.
            (
                (a.0 + t * dx).clamp(x.start, x.end),
                (a.1 + t * dy).clamp(y.start, y.end),
            )
        }
    };
    let (p0, p1) = (at(t0), at(t1));
    let finite = |p: (f64, f64)| p.0.is_finite() && p.1.is_finite();
    (finite(p0) && finite(p1)).then_some((p0, p1))
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

    #[test]
    fn segments_are_clipped_to_the_rectangle() {
        let (x, y) = (0.0..10.0, 0.0..1.0);
        // Inside: unchanged.
        assert_eq!(
            clip_segment((1.0, 0.2), (2.0, 0.8), &x, &y),
            Some(((1.0, 0.2), (2.0, 0.8)))
        );
        // Up to an outlier: ends on the top edge.
        let (a, b) = clip_segment((1.0, 0.5), (2.0, 1e6), &x, &y).unwrap();
        assert_eq!(a, (1.0, 0.5));
        assert_eq!(b.1, 1.0);
        assert!(b.0 > 1.0 && b.0 < 1.0 + 1e-5);
        // Entirely outside.
        assert_eq!(clip_segment((1.0, 2.0), (2.0, 3.0), &x, &y), None);
        assert_eq!(clip_segment((1.0, -1e300), (2.0, -1e300), &x, &y), None);
    }

    #[test]
    fn polylines_split_where_they_leave_the_rectangle() {
        let (x, y) = (0.0..10.0, 0.0..1.0);
        let points = [(0.0, 0.5), (1.0, 0.5), (2.0, 1e6), (3.0, 0.5), (4.0, 0.4)];
        let runs = clipped_runs(&points, &x, &y);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0][..2], [(0.0, 0.5), (1.0, 0.5)]);
        assert_eq!(runs[0].last().unwrap().1, 1.0);
        assert_eq!(runs[1][0].1, 1.0);
        assert_eq!(runs[1][1..], [(3.0, 0.5), (4.0, 0.4)]);
        for p in runs.iter().flatten() {
            assert!(in_rect(*p, &x, &y), "{p:?}");
        }
        assert_eq!(clipped_runs(&[(1.0, 0.5)], &x, &y), [vec![(1.0, 0.5)]]);
        assert!(clipped_runs(&[(1.0, 5.0)], &x, &y).is_empty());
    }

    #[test]
    fn moving_average_is_centred_and_skips_non_finite_values() {
        let steps: Vec<f64> = (0..7).map(f64::from).collect();
        let values = [1.0, 2.0, 3.0, f64::NAN, 5.0, 6.0, 7.0];
        let m = moving_average(&steps, &values, 3, 100);
        let means: Vec<f64> = m.iter().map(|p| p.1).collect();
        assert_eq!(means, [1.5, 2.0, 2.5, 4.0, 5.5, 6.0, 6.5]);
        // Long series: evaluated at `max_points` rows, first and last included.
        let steps: Vec<f64> = (0..10_000).map(f64::from).collect();
        let m = moving_average(&steps, &steps, 201, 4000);
        assert_eq!(m.len(), 4000);
        assert_eq!((m[0].0, m[3999].0), (0.0, 9999.0));
        assert_eq!(m[0].1, 50.0);
    }

    #[test]
    fn decimation_keeps_the_envelope() {
        let steps: Vec<f64> = (0..100_000).map(f64::from).collect();
        let mut values: Vec<f64> = steps.iter().map(|s| (s * 0.1).sin()).collect();
        values[77_777] = 50.0;
        let d = decimate(&steps, &values, 4000);
        assert!(d.len() <= 4000);
        assert!(d.contains(&(77_777.0, 50.0)));
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(decimate(&steps[..10], &values[..10], 4000).len(), 10);
    }

    #[test]
    fn y_ranges_ignore_outliers_but_not_held_out_values() {
        let mut values: Vec<f64> = (0..1000).map(|i| 1.0 + f64::from(i) / 1000.0).collect();
        values[500] = 1e6;
        values[501] = -1e6;
        let r = robust_range(&values, 21, 4000, std::iter::empty());
        assert!(
            r.start > 0.8 && r.start < 1.0 && r.end > 2.0 && r.end < 2.2,
            "{r:?}"
        );
        let r = robust_range(&values, 21, 4000, [5.0].into_iter());
        assert!(r.end > 5.0 && r.end < 5.5, "{r:?}");
        let r = robust_range(&[f64::NAN; 3], 1, 4000, std::iter::empty());
        assert_eq!(r, 0.0..1.0);
    }
}
