//! Convolutional dictionaries: unit-norm filters in PyTorch's conv-weight layout.

use std::path::Path;

use crate::error::{Error, Result, check_finite};
use crate::io::npy::{self, NpyArray};

/// Largest deviation of a filter's L2 norm from 1 that [`ConvDictionary::new`]
/// accepts (the patch encoders' policy, one constant); [`ConvDictionary::normalized`]
/// rescales anything.
pub use crate::dictionary::UNIT_NORM_TOLERANCE;

/// `n_filters` filters of `channels × k × k` taps, stored row-major as a
/// PyTorch conv weight `(n_filters, channels, k, k)`; every filter has unit
/// L2 norm (over all its channels), so the Gram kernels have 1 at their
/// centre and λ means the same for every filter.
///
/// ```
/// use lca::conv::ConvDictionary;
/// // Two 2×2 grey filters; the second is rescaled to unit norm.
/// let d = ConvDictionary::normalized(2, 1, 2, vec![1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]).unwrap();
/// assert_eq!((d.n_filters(), d.channels(), d.kernel_size()), (2, 1, 2));
/// assert_eq!(d.filter(1), &[0.5, 0.5, 0.5, 0.5]);
/// assert!(ConvDictionary::new(1, 1, 2, vec![1.0, 1.0, 1.0, 1.0]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ConvDictionary {
    n_filters: usize,
    channels: usize,
    k: usize,
    data: Vec<f32>,
}

impl ConvDictionary {
    /// Filters from `(n_filters, channels, k, k)` row-major values that
    /// already have unit norm (within [`UNIT_NORM_TOLERANCE`]; they are then
    /// rescaled exactly).
    pub fn new(n_filters: usize, channels: usize, k: usize, data: Vec<f32>) -> Result<Self> {
        let d = Self::unchecked(n_filters, channels, k, data)?;
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
        let d = Self::unchecked(n_filters, channels, k, data)?;
        for m in 0..n_filters {
            if d.filter_norm(m) == 0.0 {
                return Err(Error::ZeroAtom { index: m });
            }
        }
        Ok(d.rescaled())
    }

    /// Reads a `(n_filters, k, k)` (one channel) or `(n_filters, channels, k, k)`
    /// f32/f64 `.npy` whose filters have unit norm (see [`ConvDictionary::new`]).
    pub fn from_npy(path: &Path) -> Result<Self> {
        Self::read(path, false)
    }

    /// [`ConvDictionary::from_npy`] for filters of any norm, rescaled to 1.
    pub fn from_npy_normalized(path: &Path) -> Result<Self> {
        Self::read(path, true)
    }

    /// Whether the `.npy` at `path` has the shape of a convolutional
    /// dictionary (3-D or 4-D) rather than a patch dictionary (2-D); reads
    /// only the header.
    pub fn is_conv_npy(path: &Path) -> Result<bool> {
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let (header, _) = npy::read_header(&mut file, path)?;
        Ok(matches!(header.shape.len(), 3 | 4))
    }

    fn read(path: &Path, normalize: bool) -> Result<Self> {
        let array = npy::read_array(path)?.into_c_order();
        let shape = array.header.shape.clone();
        let (n, c, k, k2) = match shape[..] {
            [n, k, k2] => (n, 1, k, k2),
            [n, c, k, k2] => (n, c, k, k2),
            _ => {
                return Err(Error::format(
                    path,
                    format!(
                        "a convolutional dictionary has shape (n_filters, k, k) or (n_filters, channels, k, k), got {shape:?}"
                    ),
                ));
            }
        };
        if k != k2 || k == 0 || n == 0 || c == 0 {
            return Err(Error::format(
                path,
                format!("filters must be non-empty and square, got shape {shape:?}"),
            ));
        }
        let data = array
            .to_f32_vec()
            .ok_or_else(|| Error::format(path, "filters must be float32 or float64"))?;
        check_finite("dictionary", &data).map_err(|e| Error::format(path, e.to_string()))?;
        let built = if normalize {
            Self::normalized(n, c, k, data)
        } else {
            Self::new(n, c, k, data)
        };
        built.map_err(|e| match e {
            Error::Shape(msg) => Error::format(path, format!("{msg} or pass --normalize")),
            other => Error::format(path, other.to_string()),
        })
    }

    /// Writes the filters as a C-order f32 `(n_filters, channels, k, k)` `.npy`.
    pub fn write_npy(&self, path: &Path) -> Result<()> {
        let shape = vec![self.n_filters, self.channels, self.k, self.k];
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

    /// Filter height and width `k`.
    pub fn kernel_size(&self) -> usize {
        self.k
    }

    /// Taps per filter, `channels·k·k`.
    pub fn filter_len(&self) -> usize {
        self.channels * self.k * self.k
    }

    /// Filter `m`: `(channels, k, k)` row-major.
    pub fn filter(&self, m: usize) -> &[f32] {
        let n = self.filter_len();
        &self.data[m * n..(m + 1) * n]
    }

    /// Channel `c` of filter `m`: `k × k` row-major.
    pub fn kernel(&self, m: usize, c: usize) -> &[f32] {
        let kk = self.k * self.k;
        let start = m * self.filter_len() + c * kk;
        &self.data[start..start + kk]
    }

    /// All taps, `(n_filters, channels, k, k)` row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Row and column, in a filter, of the tap that lands on its
    /// coefficient's own pixel: `(k − 1) / 2` (rounded down), scipy's
    /// `convolve2d(..., mode='same')` centring for odd and even `k`.
    pub fn origin(&self) -> usize {
        (self.k - 1) / 2
    }

    fn unchecked(n_filters: usize, channels: usize, k: usize, data: Vec<f32>) -> Result<Self> {
        if n_filters == 0 || channels == 0 || k == 0 {
            return Err(Error::Shape(format!(
                "a convolutional dictionary needs at least one filter, channel and tap, got ({n_filters}, {channels}, {k}, {k})"
            )));
        }
        let expected = n_filters * channels * k * k;
        if data.len() != expected {
            return Err(Error::Shape(format!(
                "filters of shape ({n_filters}, {channels}, {k}, {k}) need {expected} values, got {}",
                data.len()
            )));
        }
        check_finite("dictionary", &data)?;
        Ok(ConvDictionary {
            n_filters,
            channels,
            k,
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
