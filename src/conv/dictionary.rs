//! Convolutional dictionaries: unit-norm filters in PyTorch's conv-weight
//! layout, over 1, 2 or 3 spatial axes.

use std::path::Path;

use super::dims::{dictionary_layout, shape_text};
use crate::error::{Error, Result, check_finite};
use crate::io::npy::{self, NpyArray};

/// Largest deviation of a filter's L2 norm from 1 that [`ConvDictionary::new`]
/// accepts (the patch encoders' policy, one constant); [`ConvDictionary::normalized`]
/// rescales anything.
pub use crate::dictionary::UNIT_NORM_TOLERANCE;

/// `n_filters` filters of `channels × k…` taps over `dims` spatial axes,
/// stored row-major as a PyTorch conv weight: `(n_filters, channels, k)`
/// (1-D), `(n_filters, channels, kh, kw)` (2-D) or `(n_filters, channels,
/// kd, kh, kw)` (3-D). Every filter has unit L2 norm (over all its
/// channels), so the Gram kernels have 1 at their centre and λ means the
/// same for every filter.
///
/// Internally every kernel has three axes `(depth, height, width)`, the
/// leading ones of extent 1 below three dimensions: one code path serves
/// D = 1, 2, 3, and a 2-D kernel's taps are visited exactly as before.
///
/// ```
/// use lca::conv::ConvDictionary;
/// // Two 2×2 grey filters; the second is rescaled to unit norm.
/// let d = ConvDictionary::normalized(2, 1, 2, vec![1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]).unwrap();
/// assert_eq!((d.n_filters(), d.channels(), d.kernel_size()), (2, 1, 2));
/// assert_eq!(d.filter(1), &[0.5, 0.5, 0.5, 0.5]);
/// assert!(ConvDictionary::new(1, 1, 2, vec![1.0, 1.0, 1.0, 1.0]).is_err());
/// // One 1-D filter of 3 taps over 2 channels.
/// let d = ConvDictionary::normalized_with_shape(1, 2, &[3], vec![1.0; 6]).unwrap();
/// assert_eq!((d.dims(), d.kernel_shape(), d.extent()), (1, &[3][..], [1, 1, 3]));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ConvDictionary {
    n_filters: usize,
    channels: usize,
    /// Spatial axes, 1 to 3.
    dims: usize,
    /// Kernel extent along (depth, height, width); 1 beyond `dims`.
    extent: [usize; 3],
    data: Vec<f32>,
}

impl ConvDictionary {
    /// Filters from `(n_filters, channels, k, k)` row-major values that
    /// already have unit norm (within [`UNIT_NORM_TOLERANCE`]; they are then
    /// rescaled exactly).
    pub fn new(n_filters: usize, channels: usize, k: usize, data: Vec<f32>) -> Result<Self> {
        Self::with_shape(n_filters, channels, &[k, k], data)
    }

    /// [`ConvDictionary::new`] for kernels of any shape over 1 to 3 axes:
    /// `kernel` is `[k]`, `[kh, kw]` or `[kd, kh, kw]`.
    pub fn with_shape(
        n_filters: usize,
        channels: usize,
        kernel: &[usize],
        data: Vec<f32>,
    ) -> Result<Self> {
        let d = Self::unchecked(n_filters, channels, kernel, data)?;
        for m in 0..n_filters {
            let norm = d.filter_norm(m);
            if (norm - 1.0).abs() > UNIT_NORM_TOLERANCE {
                return Err(Error::Shape(format!(
                    "filter {m} has L2 norm {norm:.6}, not 1 (tolerance {UNIT_NORM_TOLERANCE}); normalise the filters"
                )));
            }
        }
        Ok(d.rescaled())
    }

    /// Filters rescaled to unit norm; fails on an all-zero filter.
    pub fn normalized(n_filters: usize, channels: usize, k: usize, data: Vec<f32>) -> Result<Self> {
        Self::normalized_with_shape(n_filters, channels, &[k, k], data)
    }

    /// [`ConvDictionary::normalized`] for kernels of any shape (see
    /// [`ConvDictionary::with_shape`]).
    pub fn normalized_with_shape(
        n_filters: usize,
        channels: usize,
        kernel: &[usize],
        data: Vec<f32>,
    ) -> Result<Self> {
        let d = Self::unchecked(n_filters, channels, kernel, data)?;
        for m in 0..n_filters {
            if d.filter_norm(m) == 0.0 {
                return Err(Error::ZeroAtom { index: m });
            }
        }
        Ok(d.rescaled())
    }

    /// Reads a 2-D `(n_filters, k, k)` (one channel) or `(n_filters,
    /// channels, k, k)` f32/f64 `.npy` of square filters with unit norm (see
    /// [`ConvDictionary::new`]): what dictionary learning starts from.
    pub fn from_npy(path: &Path) -> Result<Self> {
        Self::read_square(path, false)
    }

    /// [`ConvDictionary::from_npy`] for filters of any norm, rescaled to 1.
    pub fn from_npy_normalized(path: &Path) -> Result<Self> {
        Self::read_square(path, true)
    }

    /// Reads the filters of a `dims`-dimensional dictionary in any of its
    /// layouts ([`super::dims::dictionary_layout`]), rescaled to unit norm
    /// when `normalize` (else they must have it). Use
    /// [`super::dims::infer_dims`] to choose `dims` for a signal.
    pub fn read_npy(path: &Path, dims: usize, normalize: bool) -> Result<Self> {
        let array = npy::read_array(path)?.into_c_order();
        let shape = array.header.shape.clone();
        let (n, c, kernel) =
            dictionary_layout(dims, &shape).map_err(|e| Error::format(path, e.to_string()))?;
        let data = array
            .to_f32_vec()
            .ok_or_else(|| Error::format(path, "filters must be float32 or float64"))?;
        check_finite("dictionary", &data).map_err(|e| Error::format(path, e.to_string()))?;
        let built = if normalize {
            Self::normalized_with_shape(n, c, &kernel, data)
        } else {
            Self::with_shape(n, c, &kernel, data)
        };
        built.map_err(|e| match e {
            Error::Shape(msg) => Error::format(path, format!("{msg} or pass --normalize")),
            other => Error::format(path, other.to_string()),
        })
    }

    /// Whether the `.npy` at `path` has the shape of a convolutional
    /// dictionary (3 to 5 axes) rather than a patch dictionary (2); reads
    /// only the header.
    pub fn is_conv_npy(path: &Path) -> Result<bool> {
        Ok(matches!(npy::read_shape(path)?.len(), 3..=5))
    }

    fn read_square(path: &Path, normalize: bool) -> Result<Self> {
        let shape = npy::read_shape(path)?;
        let square = match shape[..] {
            [_, k, k2] | [_, _, k, k2] => k == k2,
            _ => true,
        };
        if !square {
            return Err(Error::format(
                path,
                format!("filters must be square, got shape {}", shape_text(&shape)),
            ));
        }
        Self::read_npy(path, 2, normalize)
    }

    /// Writes the filters as a C-order f32 `(n_filters, channels, k…)` `.npy`.
    pub fn write_npy(&self, path: &Path) -> Result<()> {
        let mut shape = vec![self.n_filters, self.channels];
        shape.extend_from_slice(self.kernel_shape());
        npy::write_npy(path, &NpyArray::from_f32(shape, &self.data)?)
    }

    /// Number of filters (coefficient maps per image).
    pub fn n_filters(&self) -> usize {
        self.n_filters
    }

    /// Channels of every filter (1 grey, 3 colour).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Spatial axes of the filters: 1, 2 or 3.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The kernel's extent along its `dims` axes: `[k]`, `[kh, kw]` or
    /// `[kd, kh, kw]`.
    pub fn kernel_shape(&self) -> &[usize] {
        &self.extent[3 - self.dims..]
    }

    /// The kernel's extent along (depth, height, width), 1 beyond `dims`.
    pub fn extent(&self) -> [usize; 3] {
        self.extent
    }

    /// Filter width (last axis): the side `k` of square 2-D filters.
    pub fn kernel_size(&self) -> usize {
        self.extent[2]
    }

    /// Taps per channel of a filter.
    pub fn kernel_len(&self) -> usize {
        self.extent.iter().product()
    }

    /// Taps per filter, `channels·kernel_len`.
    pub fn filter_len(&self) -> usize {
        self.channels * self.kernel_len()
    }

    /// Filter `m`: `(channels, k…)` row-major.
    pub fn filter(&self, m: usize) -> &[f32] {
        let n = self.filter_len();
        &self.data[m * n..(m + 1) * n]
    }

    /// Channel `c` of filter `m`: its kernel, row-major.
    pub fn kernel(&self, m: usize, c: usize) -> &[f32] {
        let kk = self.kernel_len();
        let start = m * self.filter_len() + c * kk;
        &self.data[start..start + kk]
    }

    /// All taps, `(n_filters, channels, k…)` row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Row and column, in a square 2-D filter, of the tap that lands on its
    /// coefficient's own pixel: `(k − 1) / 2` (rounded down), scipy's
    /// `convolve2d(..., mode='same')` centring for odd and even `k`.
    pub fn origin(&self) -> usize {
        (self.extent[2] - 1) / 2
    }

    /// [`ConvDictionary::origin`] along each of (depth, height, width).
    pub fn origins(&self) -> [usize; 3] {
        self.extent.map(|k| (k - 1) / 2)
    }

    fn unchecked(
        n_filters: usize,
        channels: usize,
        kernel: &[usize],
        data: Vec<f32>,
    ) -> Result<Self> {
        let shape = [&[n_filters, channels][..], kernel].concat();
        if !(1..=3).contains(&kernel.len()) {
            return Err(Error::Shape(format!(
                "filters have 1 to 3 spatial axes, got shape {}",
                shape_text(&shape)
            )));
        }
        if shape.contains(&0) {
            return Err(Error::Shape(format!(
                "a convolutional dictionary needs at least one filter, channel and tap, got {}",
                shape_text(&shape)
            )));
        }
        let expected = shape.iter().product::<usize>();
        if data.len() != expected {
            return Err(Error::Shape(format!(
                "filters of shape {} need {expected} values, got {}",
                shape_text(&shape),
                data.len()
            )));
        }
        check_finite("dictionary", &data)?;
        let mut extent = [1; 3];
        extent[3 - kernel.len()..].copy_from_slice(kernel);
        Ok(ConvDictionary {
            n_filters,
            channels,
            dims: kernel.len(),
            extent,
            data,
        })
    }

    fn filter_norm(&self, m: usize) -> f64 {
        self.filter(m)
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt()
    }

    /// Every filter scaled to unit norm; filters already within f32
    /// rounding of it are kept bit for bit, so files round-trip exactly.
    fn rescaled(mut self) -> Self {
        let n = self.filter_len();
        for m in 0..self.n_filters {
            let norm = self.filter_norm(m);
            if (norm - 1.0).abs() < 1e-6 {
                continue;
            }
            let inv = (1.0 / norm) as f32;
            for v in &mut self.data[m * n..(m + 1) * n] {
                *v *= inv;
            }
        }
        self
    }
}
