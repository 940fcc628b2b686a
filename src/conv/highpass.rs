//! Tikhonov high-pass filtering, the usual preprocessing of convolutional
//! sparse coding: the smooth (low-pass) part of an image is carried by a
//! quadratic model, so the filters only have to represent edges and texture.
//!
//! Matches SPORCO's `sporco.signal.tikhonov_filter(s, L, npd)` exactly: the
//! low-pass part minimises `½‖x − s‖² + (L/2)(‖G_r x‖² + ‖G_c x‖²)` with
//! `G_r`, `G_c` the circular forward differences `[−1, 1]` along rows and
//! columns, solved in the Fourier domain on the image padded by `npd` samples
//! of numpy `'symmetric'` padding (edge sample repeated), then cropped back;
//! the high-pass part is `s` minus it.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::error::{Error, Result};

/// Padding SPORCO's examples use (`tikhonov_filter(img, L, 16)`).
pub const DEFAULT_PAD: usize = 16;

/// Low-pass part of a `height × width` plane (row-major), as SPORCO's
/// `tikhonov_filter(s, lambda, pad)[0]` computes it (in `f64`).
///
/// ```
/// use lca::conv::tikhonov_lowpass;
/// // A constant image has no gradient: it is all low-pass.
/// let low = tikhonov_lowpass(&[0.5; 12], 3, 4, 5.0, 16).unwrap();
/// assert!(low.iter().all(|v| (v - 0.5).abs() < 1e-6));
/// ```
///
/// # Errors
///
/// [`Error::Shape`] when `plane` does not hold `height × width` values or is
/// empty, [`Error::InvalidSetting`] when `lambda` is negative or not finite.
pub fn tikhonov_lowpass(
    plane: &[f32],
    height: usize,
    width: usize,
    lambda: f64,
    pad: usize,
) -> Result<Vec<f32>> {
    if height == 0 || width == 0 || height.checked_mul(width) != Some(plane.len()) {
        return Err(Error::Shape(format!(
            "plane has {} values, expected a non-empty {height}×{width} image",
            plane.len()
        )));
    }
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(Error::setting(
            "highpass",
            format!("the Tikhonov weight must be finite and >= 0, got {lambda}"),
        ));
    }
    let (ph, pw) = (height + 2 * pad, width + 2 * pad);
    let mut planner = FftPlanner::<f64>::new();
    let (row_fwd, row_inv) = (planner.plan_fft_forward(pw), planner.plan_fft_inverse(pw));
    let (col_fwd, col_inv) = (planner.plan_fft_forward(ph), planner.plan_fft_inverse(ph));
    let mut buf: Vec<Complex<f64>> = (0..ph * pw)
        .map(|i| {
            let y = symmetric_index(i / pw, pad, height);
            let x = symmetric_index(i % pw, pad, width);
            Complex::new(f64::from(plane[y * width + x]), 0.0)
        })
        .collect();
    fft2(&mut buf, ph, pw, &row_fwd, &col_fwd);
    // |1 − e^{−iω}|² = 2 − 2 cos ω for each difference operator.
    let response = |n: usize, len: usize| {
        2.0 - 2.0 * (2.0 * std::f64::consts::PI * n as f64 / len as f64).cos()
    };
    let col_resp: Vec<f64> = (0..pw).map(|u| response(u, pw)).collect();
    for v in 0..ph {
        let rv = response(v, ph);
        for (u, z) in buf[v * pw..(v + 1) * pw].iter_mut().enumerate() {
            *z /= 1.0 + lambda * (rv + col_resp[u]);
        }
    }
    fft2(&mut buf, ph, pw, &row_inv, &col_inv);
    let scale = 1.0 / (ph * pw) as f64;
    let mut low = Vec::with_capacity(height * width);
    for y in 0..height {
        let row = &buf[(y + pad) * pw + pad..(y + pad) * pw + pad + width];
        low.extend(row.iter().map(|z| (z.re * scale) as f32));
    }
    Ok(low)
}

/// High-pass part `s − lowpass(s)` of a plane (SPORCO's
/// `tikhonov_filter(s, lambda, pad)[1]`).
///
/// ```
/// use lca::conv::tikhonov_highpass;
/// let ramp: Vec<f32> = (0..64).map(|i| (i % 8) as f32 / 8.0).collect();
/// let high = tikhonov_highpass(&ramp, 8, 8, 5.0, 16).unwrap();
/// // The high-pass part of a smooth image is small and has (nearly) zero mean.
/// assert!(high.iter().sum::<f32>().abs() < 0.05);
/// ```
///
/// # Errors
///
/// Those of [`tikhonov_lowpass`].
pub fn tikhonov_highpass(
    plane: &[f32],
    height: usize,
    width: usize,
    lambda: f64,
    pad: usize,
) -> Result<Vec<f32>> {
    let low = tikhonov_lowpass(plane, height, width, lambda, pad)?;
    Ok(plane.iter().zip(&low).map(|(s, l)| s - l).collect())
}

/// Index into the original axis of length `n` for position `i` of the axis
/// padded by `pad` on each side, numpy `'symmetric'` style (`… b a | a b c |
/// c b …`, repeated for pads longer than the axis).
fn symmetric_index(i: usize, pad: usize, n: usize) -> usize {
    let period = 2 * n as i64;
    let r = (i as i64 - pad as i64).rem_euclid(period);
    if r < n as i64 {
        r as usize
    } else {
        (period - 1 - r) as usize
    }
}

/// In-place 2-D FFT of a row-major `rows × cols` buffer (unnormalised).
fn fft2(
    buf: &mut [Complex<f64>],
    rows: usize,
    cols: usize,
    row_fft: &Arc<dyn Fft<f64>>,
    col_fft: &Arc<dyn Fft<f64>>,
) {
    row_fft.process(buf);
    let mut column = vec![Complex::new(0.0, 0.0); rows];
    for x in 0..cols {
        for (y, c) in column.iter_mut().enumerate() {
            *c = buf[y * cols + x];
        }
        col_fft.process(&mut column);
        for (y, c) in column.iter().enumerate() {
            buf[y * cols + x] = *c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_padding_is_numpys() {
        // np.pad([0, 1, 2], 4, 'symmetric') == [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]
        let got: Vec<usize> = (0..11).map(|i| symmetric_index(i, 4, 3)).collect();
        assert_eq!(got, vec![2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]);
    }

    #[test]
    fn zero_weight_keeps_everything_low() {
        let s: Vec<f32> = (0..20).map(|i| ((i * 7) % 5) as f32).collect();
        let low = tikhonov_lowpass(&s, 4, 5, 0.0, 3).unwrap();
        for (a, b) in s.iter().zip(&low) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
