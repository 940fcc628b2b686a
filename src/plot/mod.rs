//! PNG figures: dictionary atoms and convolutional filters, where the filters
//! of a convolutional code fire, training curves, original/reconstruction
//! comparisons and spike rasters.
//!
//! Everything is drawn into an in-memory RGB buffer (plotters' bitmap backend
//! for charts and text) and encoded with the `image` crate, then written
//! atomically (temporary file + rename), so an interrupted run never leaves a
//! truncated PNG. Text uses DejaVu Sans, embedded in the binary: no system
//! font lookup.

mod atoms;
mod codes;
mod compare;
mod curves;
mod kernels;
mod raster;
mod title;

use std::io;
use std::path::Path;
use std::sync::Once;

use image::{ExtendedColorType, ImageEncoder, RgbImage};
use plotters::style::{FontStyle, RGBColor};

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;

pub use atoms::{
    MAX_ATOM_PIXELS, MIN_ATOM_PIXELS, MIN_FIGURE_WIDTH, SEPARATOR_COLOR, SEPARATOR_PIXELS,
    TARGET_GRID_WIDTH, atom_grid, atom_scale, atoms_figure, atoms_title, interleave_channels,
    titled_atoms_figure, write_atoms_png, write_titled_atoms_png,
};
pub use codes::{
    CodeMaps, FilterImages, IMAGE_PIXELS, MAP_PIXELS, codes_figure, filter_strengths,
    write_codes_png,
};
pub use compare::{compare_figure_size, write_compare_png, write_image_png};
pub use curves::{
    HELDOUT_COLOR, MAX_POINTS_PER_SERIES, PlotArea, RAW_COLOR, SMOOTHED_COLOR,
    TRAINING_FIGURE_SIZE, TrainingFigure, smoothing_window, training_figure, write_training_png,
};
pub use kernels::{CURVE_PANEL, kernel_grid, kernels_figure, write_kernels_png};
pub use raster::{raster_figure_size, write_raster_png};

/// Font family name under which the embedded DejaVu Sans is registered.
pub(crate) const FONT: &str = "sans-serif";

/// Text colour of titles and labels.
pub(crate) const TEXT: RGBColor = RGBColor(33, 37, 41);
/// Colour of axes, frames and tick marks.
pub(crate) const AXIS: RGBColor = RGBColor(90, 96, 104);
/// Light grid lines.
pub(crate) const GRID: RGBColor = RGBColor(228, 231, 235);
/// Main data colour (a muted blue).
pub(crate) const BLUE: RGBColor = RGBColor(31, 102, 170);
/// Second data colour (a muted orange).
pub(crate) const ORANGE: RGBColor = RGBColor(221, 112, 35);

static FONT_DATA: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font with plotters, once per process.
pub(crate) fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse; failure would be a
        // build problem, caught by the tests.
        let registered = plotters::style::register_font(FONT, FontStyle::Normal, FONT_DATA);
        debug_assert!(registered.is_ok(), "embedded font failed to parse");
    });
}

/// Writes an RGB image to `path` as an 8-bit PNG, atomically.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("red.png");
/// let img = image::RgbImage::from_pixel(4, 3, image::Rgb([255, 0, 0]));
/// lca::plot::write_rgb_png(&path, &img).unwrap();
/// assert_eq!(image::image_dimensions(&path).unwrap(), (4, 3));
/// ```
pub fn write_rgb_png(path: &Path, image: &RgbImage) -> Result<()> {
    write_png(
        path,
        image.width(),
        image.height(),
        image.as_raw(),
        ExtendedColorType::Rgb8,
    )
}

/// Encodes `bytes` (row-major pixels of `color`) as PNG into `path`, atomically.
pub(crate) fn write_png(
    path: &Path,
    width: u32,
    height: u32,
    bytes: &[u8],
    color: ExtendedColorType,
) -> Result<()> {
    write_atomic(path, |w| {
        let mut file = KeepFirstError {
            inner: w,
            first: None,
        };
        let encoded = image::codecs::png::PngEncoder::new(&mut file)
            .write_image(bytes, width, height, color)
            .map_err(|e| match e {
                image::ImageError::IoError(e) => e,
                other => io::Error::other(format!("cannot encode PNG: {other}")),
            });
        match (encoded, file.first) {
            (Err(_), Some(first)) => Err(first),
            (result, _) => result,
        }
    })
}

/// A writer that keeps the first error of the file behind it: the PNG
/// encoder turns I/O errors into text, which loses their kind (a full disk,
/// a read-only folder), and the kind says how to continue.
struct KeepFirstError<W> {
    inner: W,
    first: Option<io::Error>,
}

impl<W: io::Write> io::Write for KeepFirstError<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.keep(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.keep(e))
    }
}

impl<W> KeepFirstError<W> {
    /// Keeps `e` (if first) and hands the encoder a copy.
    fn keep(&mut self, e: io::Error) -> io::Error {
        let copy = io::Error::new(e.kind(), e.to_string());
        if e.kind() != io::ErrorKind::Interrupted {
            self.first.get_or_insert(e);
        }
        copy
    }
}

/// An error while drawing the figure for `path`.
pub(crate) fn draw_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(
        path,
        io::Error::other(format!("cannot draw the figure: {e}")),
    )
}

/// Maps a value in [0, 1] (clamped; NaN as 0) to an 8-bit intensity.
pub(crate) fn to_u8(v: f32) -> u8 {
    // `as` saturates and maps NaN to 0.
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Checks a pixel count `width * height * channels` against `len`.
pub(crate) fn check_image_len(
    what: &str,
    width: usize,
    height: usize,
    channels: usize,
    len: usize,
) -> Result<()> {
    if channels != 1 && channels != 3 {
        return Err(Error::setting(
            "channels",
            format!("{what}: channels must be 1 (gray) or 3 (RGB), got {channels}"),
        ));
    }
    if width == 0 || height == 0 {
        return Err(Error::Shape(format!(
            "{what}: image size {width}x{height} is empty"
        )));
    }
    let expected = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(channels))
        .ok_or_else(|| Error::Shape(format!("{what}: image size {width}x{height} overflows")))?;
    if len != expected {
        return Err(Error::Shape(format!(
            "{what}: {width}x{height}x{channels} image needs {expected} values, got {len}"
        )));
    }
    Ok(())
}
