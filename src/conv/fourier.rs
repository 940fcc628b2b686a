//! Real 2-D FFTs of image-sized planes, for the dense inhibition of the
//! Fourier-domain schedules of the convolutional LCA
//! ([`super::Schedule::Splitting`], [`super::Schedule::Accelerated`]).
//!
//! rustfft and realfft transform along one axis; a 2-D transform is rows by
//! a real-to-complex FFT, then columns by a complex FFT. Spectra are kept
//! *transposed* — `cols/2 + 1` runs of `rows` complex values, one per
//! column frequency — so the column transforms run on contiguous memory and
//! nothing is transposed back: every use of a spectrum is elementwise.

use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

/// Rows transformed together before their spectra are written transposed.
const ROW_BLOCK: usize = 8;

/// Planned forward and inverse 2-D real FFTs of `rows × cols` planes.
pub(super) struct Fft2 {
    rows: usize,
    cols: usize,
    row_forward: Arc<dyn RealToComplex<f32>>,
    row_inverse: Arc<dyn ComplexToReal<f32>>,
    col_forward: Arc<dyn Fft<f32>>,
    col_inverse: Arc<dyn Fft<f32>>,
}

/// Work buffers of one thread's transforms.
pub(super) struct FftScratch {
    row: Vec<f32>,
    /// Spectra of a block of rows.
    rows_spectrum: Vec<Complex32>,
    row_work: Vec<Complex32>,
    col_work: Vec<Complex32>,
}

impl Fft2 {
    pub(super) fn new(rows: usize, cols: usize) -> Fft2 {
        let mut real = RealFftPlanner::<f32>::new();
        let mut complex = FftPlanner::<f32>::new();
        Fft2 {
            rows,
            cols,
            row_forward: real.plan_fft_forward(cols),
            row_inverse: real.plan_fft_inverse(cols),
            col_forward: complex.plan_fft_forward(rows),
            col_inverse: complex.plan_fft_inverse(rows),
        }
    }

    /// Complex values per spectrum: `(cols/2 + 1)·rows`.
    pub(super) fn spectrum_len(&self) -> usize {
        (self.cols / 2 + 1) * self.rows
    }

    /// Index in a spectrum of frequency `(row, col)`, `col ≤ cols/2`.
    #[cfg(test)]
    pub(super) fn spectrum_index(&self, row: usize, col: usize) -> usize {
        col * self.rows + row
    }

    pub(super) fn scratch(&self) -> FftScratch {
        let row_work = self
            .row_forward
            .get_scratch_len()
            .max(self.row_inverse.get_scratch_len());
        let col_work = self
            .col_forward
            .get_inplace_scratch_len()
            .max(self.col_inverse.get_inplace_scratch_len());
        FftScratch {
            row: vec![0.0; self.cols],
            rows_spectrum: vec![Complex32::default(); ROW_BLOCK * (self.cols / 2 + 1)],
            row_work: vec![Complex32::default(); row_work],
            col_work: vec![Complex32::default(); col_work],
        }
    }

    /// The spectrum of a `rows × cols` plane (row-major), transposed.
    pub(super) fn forward(&self, plane: &[f32], spectrum: &mut [Complex32], s: &mut FftScratch) {
        let (rows, cols) = (self.rows, self.cols);
        let half = cols / 2 + 1;
        debug_assert_eq!(plane.len(), rows * cols);
        debug_assert_eq!(spectrum.len(), self.spectrum_len());
        // Rows in blocks, so the transposed writes fill whole cache lines.
        for r0 in (0..rows).step_by(ROW_BLOCK) {
            let block = ROW_BLOCK.min(rows - r0);
            for j in 0..block {
                let r = r0 + j;
                s.row.copy_from_slice(&plane[r * cols..(r + 1) * cols]);
                self.row_forward
                    .process_with_scratch(
                        &mut s.row,
                        &mut s.rows_spectrum[j * half..(j + 1) * half],
                        &mut s.row_work,
                    )
                    .expect("buffer lengths match the plan");
            }
            for c in 0..half {
                let out = &mut spectrum[c * rows + r0..c * rows + r0 + block];
                for (j, v) in out.iter_mut().enumerate() {
                    *v = s.rows_spectrum[j * half + c];
                }
            }
        }
        self.col_forward
            .process_with_scratch(spectrum, &mut s.col_work);
    }

    /// The plane of a transposed spectrum (which is used up as work space),
    /// scaled so that `inverse(forward(x)) = x`.
    pub(super) fn inverse(
        &self,
        spectrum: &mut [Complex32],
        plane: &mut [f32],
        s: &mut FftScratch,
    ) {
        let (rows, cols) = (self.rows, self.cols);
        debug_assert_eq!(plane.len(), rows * cols);
        self.col_inverse
            .process_with_scratch(spectrum, &mut s.col_work);
        let scale = 1.0 / (rows * cols) as f32;
        let half = cols / 2 + 1;
        for r0 in (0..rows).step_by(ROW_BLOCK) {
            let block = ROW_BLOCK.min(rows - r0);
            for c in 0..half {
                let run = &spectrum[c * rows + r0..c * rows + r0 + block];
                for (j, &v) in run.iter().enumerate() {
                    s.rows_spectrum[j * half + c] = v;
                }
            }
            for j in 0..block {
                let r = r0 + j;
                let row = &mut s.rows_spectrum[j * half..(j + 1) * half];
                // The spectrum of a real row: the zero (and, for even lengths,
                // the Nyquist) frequency is real; drop the rounding left there.
                row[0].im = 0.0;
                if cols % 2 == 0 {
                    row[half - 1].im = 0.0;
                }
                let out = &mut plane[r * cols..(r + 1) * cols];
                self.row_inverse
                    .process_with_scratch(row, out, &mut s.row_work)
                    .expect("buffer lengths match the plan");
                for v in out {
                    *v *= scale;
                }
            }
        }
    }
}

/// The smallest length `≥ n` whose prime factors are 2, 3, 5 and 7 (FFTs of
/// such lengths are the fast ones).
pub(super) fn smooth_length(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut r = m;
        for p in [2, 3, 5, 7] {
            while r.is_multiple_of(p) {
                r /= p;
            }
        }
        if r == 1 {
            return m;
        }
        m += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 2-D DFT written out, for a plane of `rows × cols`.
    fn naive(plane: &[f32], rows: usize, cols: usize, fy: usize, fx: usize) -> (f64, f64) {
        let (mut re, mut im) = (0.0, 0.0);
        for y in 0..rows {
            for x in 0..cols {
                let phase = -2.0
                    * std::f64::consts::PI
                    * ((fy * y) as f64 / rows as f64 + (fx * x) as f64 / cols as f64);
                re += f64::from(plane[y * cols + x]) * phase.cos();
                im += f64::from(plane[y * cols + x]) * phase.sin();
            }
        }
        (re, im)
    }

    #[test]
    fn forward_is_the_dft_and_inverse_undoes_it() {
        for (rows, cols) in [(6, 8), (5, 7), (9, 4)] {
            let plane: Vec<f32> = (0..rows * cols)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
                .collect();
            let fft = Fft2::new(rows, cols);
            let mut s = fft.scratch();
            let mut spec = vec![Complex32::default(); fft.spectrum_len()];
            fft.forward(&plane, &mut spec, &mut s);
            for fy in 0..rows {
                for fx in 0..=cols / 2 {
                    let (re, im) = naive(&plane, rows, cols, fy, fx);
                    let v = spec[fft.spectrum_index(fy, fx)];
                    assert!(
                        (f64::from(v.re) - re).abs() < 1e-4,
                        "{rows}x{cols} ({fy},{fx})"
                    );
                    assert!(
                        (f64::from(v.im) - im).abs() < 1e-4,
                        "{rows}x{cols} ({fy},{fx})"
                    );
                }
            }
            let mut back = vec![0.0; rows * cols];
            fft.inverse(&mut spec, &mut back, &mut s);
            for (a, b) in plane.iter().zip(&back) {
                assert!((a - b).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn smooth_lengths() {
        assert_eq!(smooth_length(256), 256);
        assert_eq!(smooth_length(267), 270);
        assert_eq!(smooth_length(11), 12);
        assert_eq!(smooth_length(0), 1);
    }
}
