//! Real FFTs of signal-sized planes over 1 to 3 axes, for the dense
//! inhibition of the Fourier-domain schedules of the convolutional LCA
//! ([`super::Schedule::Splitting`], [`super::Schedule::Accelerated`]).
//!
//! rustfft and realfft transform along one axis; a 2-D transform is rows by
//! a real-to-complex FFT, then columns by a complex FFT. Spectra are kept
//! *transposed* — `cols/2 + 1` runs of `rows` complex values, one per
//! column frequency — so the column transforms run on contiguous memory and
//! nothing is transposed back: every use of a spectrum is elementwise.
//!
//! A volume of `depth` slices is transformed slice by slice as above, each
//! slice's spectrum spread with stride `depth` so that the depth transforms
//! then run on contiguous runs of `depth` values. With one slice (1-D and
//! 2-D signals) that is the 2-D transform exactly, and a 1-D signal is a
//! single row.

use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

/// Rows transformed together before their spectra are written transposed.
const ROW_BLOCK: usize = 8;

/// Planned forward and inverse real FFTs of `depth × rows × cols` planes.
pub(super) struct Fft3 {
    depth: usize,
    rows: usize,
    cols: usize,
    depth_forward: Arc<dyn Fft<f32>>,
    depth_inverse: Arc<dyn Fft<f32>>,
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
    /// Volumes: one slice's spectrum.
    slice: Vec<Complex32>,
}

impl Fft3 {
    /// Transforms of planes of extent `[depth, rows, cols]`.
    pub(super) fn new([depth, rows, cols]: [usize; 3]) -> Fft3 {
        let mut real = RealFftPlanner::<f32>::new();
        let mut complex = FftPlanner::<f32>::new();
        Fft3 {
            depth,
            rows,
            cols,
            depth_forward: complex.plan_fft_forward(depth),
            depth_inverse: complex.plan_fft_inverse(depth),
            row_forward: real.plan_fft_forward(cols),
            row_inverse: real.plan_fft_inverse(cols),
            col_forward: complex.plan_fft_forward(rows),
            col_inverse: complex.plan_fft_inverse(rows),
        }
    }

    /// Complex values per spectrum: `(cols/2 + 1)·rows·depth`.
    pub(super) fn spectrum_len(&self) -> usize {
        self.slice_spectrum_len() * self.depth
    }

    /// Complex values per slice's 2-D spectrum.
    fn slice_spectrum_len(&self) -> usize {
        (self.cols / 2 + 1) * self.rows
    }

    /// Index in a spectrum of frequency `(slice, row, col)`, `col ≤ cols/2`.
    #[cfg(test)]
    pub(super) fn spectrum_index(&self, slice: usize, row: usize, col: usize) -> usize {
        (col * self.rows + row) * self.depth + slice
    }

    pub(super) fn scratch(&self) -> FftScratch {
        let row_work = self
            .row_forward
            .get_scratch_len()
            .max(self.row_inverse.get_scratch_len());
        let col_work = self
            .col_forward
            .get_inplace_scratch_len()
            .max(self.col_inverse.get_inplace_scratch_len())
            .max(self.depth_forward.get_inplace_scratch_len())
            .max(self.depth_inverse.get_inplace_scratch_len());
        FftScratch {
            row: vec![0.0; self.cols],
            rows_spectrum: vec![Complex32::default(); ROW_BLOCK * (self.cols / 2 + 1)],
            row_work: vec![Complex32::default(); row_work],
            col_work: vec![Complex32::default(); col_work],
            slice: if self.depth > 1 {
                vec![Complex32::default(); self.slice_spectrum_len()]
            } else {
                Vec::new()
            },
        }
    }

    /// The spectrum of a `depth × rows × cols` plane (row-major), transposed.
    pub(super) fn forward(&self, plane: &[f32], spectrum: &mut [Complex32], s: &mut FftScratch) {
        if self.depth == 1 {
            return self.forward_slice(plane, spectrum, s);
        }
        let (n, sl) = (self.rows * self.cols, self.slice_spectrum_len());
        let mut slice = std::mem::take(&mut s.slice);
        for z in 0..self.depth {
            self.forward_slice(&plane[z * n..(z + 1) * n], &mut slice, s);
            for (i, &v) in slice.iter().enumerate() {
                spectrum[i * self.depth + z] = v;
            }
        }
        s.slice = slice;
        debug_assert_eq!(spectrum.len(), sl * self.depth);
        self.depth_forward
            .process_with_scratch(spectrum, &mut s.col_work);
    }

    /// The plane of a spectrum (which is used up as work space), scaled so
    /// that `inverse(forward(x)) = x`.
    pub(super) fn inverse(
        &self,
        spectrum: &mut [Complex32],
        plane: &mut [f32],
        s: &mut FftScratch,
    ) {
        if self.depth == 1 {
            return self.inverse_slice(spectrum, plane, s);
        }
        self.depth_inverse
            .process_with_scratch(spectrum, &mut s.col_work);
        let n = self.rows * self.cols;
        let scale = 1.0 / self.depth as f32;
        let mut slice = std::mem::take(&mut s.slice);
        for z in 0..self.depth {
            for (i, v) in slice.iter_mut().enumerate() {
                *v = spectrum[i * self.depth + z];
            }
            let out = &mut plane[z * n..(z + 1) * n];
            self.inverse_slice(&mut slice, out, s);
            for v in out {
                *v *= scale;
            }
        }
        s.slice = slice;
    }

    /// The spectrum of one `rows × cols` slice (row-major), transposed.
    fn forward_slice(&self, plane: &[f32], spectrum: &mut [Complex32], s: &mut FftScratch) {
        let (rows, cols) = (self.rows, self.cols);
        let half = cols / 2 + 1;
        debug_assert_eq!(plane.len(), rows * cols);
        debug_assert_eq!(spectrum.len(), self.slice_spectrum_len());
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

    /// The slice of a transposed 2-D spectrum (which is used up as work
    /// space), scaled so that `inverse_slice(forward_slice(x)) = x`.
    fn inverse_slice(&self, spectrum: &mut [Complex32], plane: &mut [f32], s: &mut FftScratch) {
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

    /// The 3-D DFT written out, for a plane of extent `[d, rows, cols]`.
    fn naive(plane: &[f32], [d, rows, cols]: [usize; 3], [fz, fy, fx]: [usize; 3]) -> (f64, f64) {
        let (mut re, mut im) = (0.0, 0.0);
        for z in 0..d {
            for y in 0..rows {
                for x in 0..cols {
                    let phase = -2.0
                        * std::f64::consts::PI
                        * ((fz * z) as f64 / d as f64
                            + (fy * y) as f64 / rows as f64
                            + (fx * x) as f64 / cols as f64);
                    let v = f64::from(plane[(z * rows + y) * cols + x]);
                    re += v * phase.cos();
                    im += v * phase.sin();
                }
            }
        }
        (re, im)
    }

    #[test]
    fn forward_is_the_dft_and_inverse_undoes_it() {
        for extent in [
            [1, 6, 8],
            [1, 5, 7],
            [1, 9, 4],
            [1, 1, 10],
            [3, 4, 5],
            [4, 1, 6],
        ] {
            let n: usize = extent.iter().product();
            let plane: Vec<f32> = (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0).collect();
            let fft = Fft3::new(extent);
            let mut s = fft.scratch();
            let mut spec = vec![Complex32::default(); fft.spectrum_len()];
            fft.forward(&plane, &mut spec, &mut s);
            let [d, rows, cols] = extent;
            for fz in 0..d {
                for fy in 0..rows {
                    for fx in 0..=cols / 2 {
                        let (re, im) = naive(&plane, extent, [fz, fy, fx]);
                        let v = spec[fft.spectrum_index(fz, fy, fx)];
                        assert!(
                            (f64::from(v.re) - re).abs() < 1e-4,
                            "{extent:?} ({fz},{fy},{fx})"
                        );
                        assert!(
                            (f64::from(v.im) - im).abs() < 1e-4,
                            "{extent:?} ({fz},{fy},{fx})"
                        );
                    }
                }
            }
            let mut back = vec![0.0; n];
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
