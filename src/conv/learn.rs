//! Online convolutional dictionary learning from sufficient statistics.
//!
//! With circular boundaries the data term of a coded image,
//! `½‖x − Σ_m D_m ∗ A_m‖²`, is a quadratic in the filters whose coefficients
//! do not depend on the image size: `½‖x‖² − ⟨b, D⟩ + ½⟨D, H D⟩` with
//!
//! * `H[(m,i),(n,j)] = R_mn(i − j)`, `R_mn(δ) = Σ_t A_m(t) A_n(t + δ)` the
//!   cross-correlation of code maps at the `(2k−1)²` lags a pair of `k×k`
//!   filters can overlap at, and
//! * `b_mc(i) = Σ_t A_m(t) x_c(t − s + i)`, the image windows under each
//!   active coefficient (`s = (k−1)/2` rounded down, the centring of
//!   `scipy.signal.convolve2d(.., mode='same')`).
//!
//! The same holds over 1 and 3 axes: a kernel has extent `[kd, kh, kw]` (1
//! along unused leading axes: `[1, 1, k]` for 1-D, `[1, k, k]` for 2-D), the
//! lags are `(2kd−1)(2kh−1)(2kw−1)` and every sum below runs over the three
//! axes, visiting a 2-D problem's terms in the order it always did.
//!
//! The learner keeps exponentially weighted sums of `R` and `b` over every
//! image seen — the convolutional form of Mairal et al.'s (2010) online rule,
//! and the spatial-domain counterpart of Liu et al.'s (2018) Fourier-domain
//! surrogate (which needs one `M×M` matrix per frequency of a fixed image
//! size; `R` needs `M²(2k−1)²` numbers for any size). After each batch the
//! filters descend the surrogate by block-coordinate projected gradient, one
//! filter at a time (as Mairal's rule does for patch atoms), each step
//! `1/L_m` with `L_m = Σ_δ |R_mm(δ)|` ≥ the largest eigenvalue of its block
//! (Gershgorin), then rescaled to unit norm: `lca`'s convolutional
//! dictionaries have unit-norm filters, so λ weighs every filter alike (SPORCO
//! projects onto the ball `‖D_m‖ ≤ 1`, where used filters end on the sphere).
//! The exact block step (a Cholesky solve with the `k²×k²` block
//! `R_mm(i − j)`, whose largest eigenvalue is about half the Gershgorin
//! bound) was tried: it chased the noise of the last few crops and scored
//! worse on held-out images at equal steps (BENCHMARKS.md). The statistics are
//! accumulated from sparse codes: each active coefficient meets only the
//! active coefficients of its `(2k−1)²` neighbourhood.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::correlate::extent_text;
use crate::dictionary::OnlineStats;
use crate::error::{Error, Result};
use crate::settings::Checked;

/// Defaults of convolutional learning, read by [`ConvLearnParams::default`]
/// and the CLI (`lca learn --conv`).
pub mod defaults {
    /// Filter side `k`.
    pub const KERNEL_SIZE: usize = 12;
    /// Number of filters.
    pub const ATOMS: usize = 32;
    /// Sparsity penalty λ (SPORCO's online CDL examples use 0.1 on
    /// high-passed images in [0, 1]).
    pub const LAMBDA: f32 = 0.1;
    /// Tikhonov weight of the high-pass preprocessing (SPORCO's examples:
    /// `tikhonov_filter(img, 5, 16)`); 0 disables it.
    pub const HIGHPASS: f64 = 5.0;
    /// Side of the random square crops coded at each step (0: whole images).
    pub const CROP: usize = 128;
    /// Crops coded per step: two keep two cores busy (crops are coded in
    /// parallel, one task each; a single crop is coded on one thread).
    pub const IMAGES_PER_STEP: usize = 2;
    /// Images (the last ones in name order) held out and scored, never trained on.
    pub const HELDOUT_IMAGES: usize = 2;
    /// Side of the centre crop of each held-out image that is scored.
    pub const HELDOUT_SIZE: usize = 256;
    /// Steps between two scorings of the held-out images.
    pub const HELDOUT_EVERY: u64 = 50;
    /// Block-coordinate sweeps over the filters after each step.
    pub const DICT_SWEEPS: usize = 4;
    /// Forgetting window of the statistics ([`OnlineStats::forgetting`]'s
    /// `m`): the weight of old images decays like Mairal's schedule for
    /// batches of this many signals.
    pub const FORGETTING: usize = 8;
    /// Learning steps.
    pub const STEPS: u64 = 2000;
    /// KKT tolerance of the convolutional LCA while learning (and scoring the
    /// held-out images): 1e-2 codes a 128×128 crop about 4× faster than the
    /// coder's default 1e-3 (measured: 5 s against 20 s per step on the shared
    /// machine), and learning needs many rough codes more than few exact ones.
    pub const CODER_TOL: f32 = 1e-2;

    /// Defaults of 1-D learning (temporal kernels, e.g. audio) where they
    /// differ from the 2-D ones; [`ConvLearnParams::for_dims`] reads them.
    pub mod dims1 {
        /// Taps `k` of a temporal kernel: 8 ms at 16 kHz, room for the
        /// envelope of a band-pass wavelet down to ~500 Hz. 64 taps (4 ms)
        /// learned untapered low-frequency cycles on speech; 128 localised
        /// bursts with a decaying envelope and a lower held-out objective
        /// (BENCHMARKS.md, "Kernel length of 1-D learning").
        pub const KERNEL_SIZE: usize = 128;
        /// Samples of the random crops coded per step (a quarter second at
        /// 16 kHz; 64 kernel lengths).
        pub const CROP: usize = 4096;
        /// Samples of the centre crop scored on each held-out signal.
        pub const HELDOUT_SIZE: usize = 16384;
        /// No high-pass: recordings carry little below the kernels' band.
        pub const HIGHPASS: f64 = 0.0;
    }

    /// Defaults of 3-D learning (volumes, video) where they differ from the
    /// 2-D ones.
    pub mod dims3 {
        /// Kernel side `kh = kw`.
        pub const KERNEL_SIZE: usize = 7;
        /// Kernel depth `kd` (frames of video).
        pub const KERNEL_DEPTH: usize = 5;
        /// Side `H = W` of the random crops.
        pub const CROP: usize = 32;
        /// Depth of the random crops.
        pub const CROP_DEPTH: usize = 16;
        /// Side of the centre crop scored on each held-out volume.
        pub const HELDOUT_SIZE: usize = 64;
        /// Depth of the centre crop scored on each held-out volume.
        pub const HELDOUT_DEPTH: usize = 16;
        /// No high-pass by default (with one, each slice is high-passed).
        pub const HIGHPASS: f64 = 0.0;
    }
}

/// Settings of convolutional learning (the `conv` section of a run's
/// `config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ConvLearnParams {
    /// Filter side `k` (filters are `k×k`, or `C×k×k` in colour).
    pub kernel_size: usize,
    /// Sparsity penalty λ of `½‖x − Σ D_m ∗ A_m‖² + λ Σ ‖A_m‖₁`.
    pub lambda: f32,
    /// Tikhonov weight `L` of the high-pass preprocessing (0: none).
    pub highpass: f64,
    /// Side of the random square crops coded per step (0: whole images).
    pub crop: usize,
    /// Crops coded per step.
    pub images_per_step: usize,
    /// Images held out (the last ones in name order); 0: none.
    pub heldout_images: usize,
    /// Side of the centre crop scored on each held-out image.
    pub heldout_size: usize,
    /// Steps between two scorings of the held-out images.
    pub heldout_every: u64,
    /// Block-coordinate sweeps over the filters per step.
    pub dict_sweeps: usize,
    /// Forgetting window of the statistics.
    pub forgetting: usize,
    /// Spatial axes of the signals and filters: 1, 2 (pictures) or 3.
    /// Absent from a 2-D run's `config.json` (which reads back as 2).
    #[serde(skip_serializing_if = "is_two")]
    pub dims: usize,
    /// Kernel depth `kd` of 3-D filters (1 otherwise); `kernel_size` is
    /// then `kh = kw`, and for 1-D filters the taps `k`.
    #[serde(skip_serializing_if = "is_one")]
    pub kernel_depth: usize,
    /// Depth of the 3-D crops (1 otherwise); `crop` is their side.
    #[serde(skip_serializing_if = "is_one")]
    pub crop_depth: usize,
    /// Depth of the scored 3-D held-out crops (1 otherwise).
    #[serde(skip_serializing_if = "is_one")]
    pub heldout_depth: usize,
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

fn is_two(v: &usize) -> bool {
    *v == 2
}

crate::settings::setters!(ConvLearnParams {
    kernel_size: usize,
    lambda: f32,
    highpass: f64,
    crop: usize,
    images_per_step: usize,
    heldout_images: usize,
    heldout_size: usize,
    heldout_every: u64,
    dict_sweeps: usize,
    forgetting: usize,
    dims: usize,
    kernel_depth: usize,
    crop_depth: usize,
    heldout_depth: usize,
});

impl Default for ConvLearnParams {
    fn default() -> Self {
        ConvLearnParams {
            kernel_size: defaults::KERNEL_SIZE,
            lambda: defaults::LAMBDA,
            highpass: defaults::HIGHPASS,
            crop: defaults::CROP,
            images_per_step: defaults::IMAGES_PER_STEP,
            heldout_images: defaults::HELDOUT_IMAGES,
            heldout_size: defaults::HELDOUT_SIZE,
            heldout_every: defaults::HELDOUT_EVERY,
            dict_sweeps: defaults::DICT_SWEEPS,
            forgetting: defaults::FORGETTING,
            dims: 2,
            kernel_depth: 1,
            crop_depth: 1,
            heldout_depth: 1,
        }
    }
}

impl ConvLearnParams {
    /// The defaults of `dims`-dimensional learning ([`defaults`], and
    /// [`defaults::dims1`] / [`defaults::dims3`] where they differ); 2 gives
    /// [`ConvLearnParams::default`].
    ///
    /// ```
    /// use lca::conv::ConvLearnParams;
    /// let p = ConvLearnParams::for_dims(3).unwrap();
    /// assert_eq!((p.kernel_extent(), p.crop_extent()), ([5, 7, 7], Some([16, 32, 32])));
    /// assert_eq!(ConvLearnParams::for_dims(1).unwrap().kernel_extent(), [1, 1, 128]);
    /// assert_eq!(ConvLearnParams::for_dims(2).unwrap(), ConvLearnParams::default());
    /// ```
    pub fn for_dims(dims: usize) -> Result<ConvLearnParams> {
        let d = ConvLearnParams::default();
        Ok(match super::dims::check_dims(dims)? {
            1 => ConvLearnParams {
                dims,
                kernel_size: defaults::dims1::KERNEL_SIZE,
                crop: defaults::dims1::CROP,
                heldout_size: defaults::dims1::HELDOUT_SIZE,
                highpass: defaults::dims1::HIGHPASS,
                ..d
            },
            3 => ConvLearnParams {
                dims,
                kernel_size: defaults::dims3::KERNEL_SIZE,
                kernel_depth: defaults::dims3::KERNEL_DEPTH,
                crop: defaults::dims3::CROP,
                crop_depth: defaults::dims3::CROP_DEPTH,
                heldout_size: defaults::dims3::HELDOUT_SIZE,
                heldout_depth: defaults::dims3::HELDOUT_DEPTH,
                highpass: defaults::dims3::HIGHPASS,
                ..d
            },
            _ => d,
        })
    }

    /// Kernel extent `[kd, kh, kw]`, 1 along unused leading axes.
    pub fn kernel_extent(&self) -> [usize; 3] {
        self.extent_of(self.kernel_depth, self.kernel_size)
    }

    /// Extent of the random crops (`None`: whole signals).
    pub fn crop_extent(&self) -> Option<[usize; 3]> {
        (self.crop != 0).then(|| self.extent_of(self.crop_depth, self.crop))
    }

    /// Extent of the scored centre crop of each held-out signal.
    pub fn heldout_extent(&self) -> [usize; 3] {
        self.extent_of(self.heldout_depth, self.heldout_size)
    }

    /// `[depth, side, side]` over the run's axes.
    fn extent_of(&self, depth: usize, side: usize) -> [usize; 3] {
        match self.dims {
            1 => [1, 1, side],
            3 => [depth, side, side],
            _ => [1, side, side],
        }
    }

    /// The filter shape of `atoms` filters over `channels` channels.
    pub fn filter_shape(&self, atoms: usize, channels: usize) -> FilterShapeNd {
        FilterShapeNd {
            atoms,
            channels,
            dims: self.dims,
            extent: self.kernel_extent(),
        }
    }

    /// Checks every setting.
    pub fn check(self) -> Result<Checked<ConvLearnParams>> {
        super::dims::check_dims(self.dims)?;
        if self.kernel_size == 0 || self.kernel_depth == 0 {
            return Err(Error::setting("kernel-size", "must be at least 1"));
        }
        if self.dims != 3 && (self.kernel_depth, self.crop_depth, self.heldout_depth) != (1, 1, 1) {
            return Err(Error::setting(
                "conv",
                "kernel, crop and held-out depths other than 1 need 3-D signals",
            ));
        }
        if self.dims != 2 {
            return self.check_nd();
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::setting(
                "lambda",
                format!("must be finite and >= 0, got {}", self.lambda),
            ));
        }
        if !(self.highpass.is_finite() && self.highpass >= 0.0) {
            return Err(Error::setting(
                "highpass",
                format!("must be finite and >= 0, got {}", self.highpass),
            ));
        }
        if self.crop != 0 && self.crop < 2 * self.kernel_size - 1 {
            return Err(Error::setting(
                "crop",
                format!(
                    "crops of {} pixels are smaller than 2k−1 = {} for {}×{} filters",
                    self.crop,
                    2 * self.kernel_size - 1,
                    self.kernel_size,
                    self.kernel_size
                ),
            ));
        }
        if self.images_per_step == 0 || self.dict_sweeps == 0 || self.forgetting == 0 {
            return Err(Error::setting(
                "conv",
                "images per step, dictionary sweeps and forgetting window must be at least 1",
            ));
        }
        if self.heldout_every == 0 || self.heldout_size < 2 * self.kernel_size - 1 {
            return Err(Error::setting(
                "heldout",
                "scoring interval must be >= 1 step and the scored crop >= 2k−1 pixels",
            ));
        }
        Ok(Checked::assume_valid(self))
    }

    /// [`ConvLearnParams::check`] over 1 or 3 axes.
    fn check_nd(self) -> Result<Checked<ConvLearnParams>> {
        let k = self.kernel_extent();
        let fits = |e: [usize; 3]| e.iter().zip(&k).all(|(&e, &k)| e >= 2 * k - 1);
        let text = |e: &[usize]| {
            (e.iter())
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("×")
        };
        let kernel = text(&k[3 - self.dims..]);
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::setting(
                "lambda",
                format!("must be finite and >= 0, got {}", self.lambda),
            ));
        }
        if !(self.highpass.is_finite() && self.highpass >= 0.0) {
            return Err(Error::setting(
                "highpass",
                format!("must be finite and >= 0, got {}", self.highpass),
            ));
        }
        if let Some(c) = self.crop_extent().filter(|&c| !fits(c)) {
            return Err(Error::setting(
                "crop",
                format!(
                    "crops of {} samples are smaller than 2k−1 along an axis for {kernel} filters",
                    text(&c[3 - self.dims..])
                ),
            ));
        }
        if self.images_per_step == 0 || self.dict_sweeps == 0 || self.forgetting == 0 {
            return Err(Error::setting(
                "conv",
                "images per step, dictionary sweeps and forgetting window must be at least 1",
            ));
        }
        if self.heldout_every == 0 || !fits(self.heldout_extent()) {
            return Err(Error::setting(
                "heldout",
                format!(
                    "scoring interval must be >= 1 step and the scored crop >= 2k−1 samples along each axis for {kernel} filters"
                ),
            ));
        }
        Ok(Checked::assume_valid(self))
    }
}

/// Shape of a 2-D filter bank: `atoms` filters of `channels × k × k` (the
/// spelling of square 2-D filters; [`FilterShapeNd`] is the general one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterShape {
    /// Number of filters `M`.
    pub atoms: usize,
    /// Channels `C`.
    pub channels: usize,
    /// Side `k`.
    pub kernel: usize,
}

impl FilterShape {
    /// Values per filter `C·k·k`.
    pub fn filter_len(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }
    /// Lags per filter pair `(2k−1)²`.
    pub fn lags(&self) -> usize {
        (2 * self.kernel - 1).pow(2)
    }
}

/// Shape of a filter bank over 1 to 3 axes: `atoms` filters of `channels`
/// kernels of extent `[kd, kh, kw]` (1 along the leading axes a
/// `dims`-dimensional kernel does not have).
///
/// ```
/// use lca::conv::{FilterShape, FilterShapeNd};
/// let s = FilterShapeNd::with_kernel(8, 2, &[64]).unwrap();
/// assert_eq!((s.dims, s.extent, s.lags(), s.filter_len()), (1, [1, 1, 64], 127, 128));
/// let square: FilterShapeNd = FilterShape { atoms: 4, channels: 1, kernel: 5 }.into();
/// assert_eq!((square.dims, square.kernel_shape()), (2, &[5, 5][..]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterShapeNd {
    /// Number of filters `M`.
    pub atoms: usize,
    /// Channels `C`.
    pub channels: usize,
    /// Spatial axes, 1 to 3.
    pub dims: usize,
    /// Kernel extent along (depth, height, width).
    pub extent: [usize; 3],
}

impl From<FilterShape> for FilterShapeNd {
    fn from(s: FilterShape) -> Self {
        FilterShapeNd {
            atoms: s.atoms,
            channels: s.channels,
            dims: 2,
            extent: [1, s.kernel, s.kernel],
        }
    }
}

impl FilterShapeNd {
    /// `atoms` filters of `channels × kernel`, `kernel` being `[k]`, `[kh,
    /// kw]` or `[kd, kh, kw]`.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] for a kernel of no axis or more than three.
    pub fn with_kernel(atoms: usize, channels: usize, kernel: &[usize]) -> Result<Self> {
        let dims = kernel.len();
        if !(1..=3).contains(&dims) {
            return Err(Error::Shape(format!(
                "a kernel has 1 to 3 axes, got {kernel:?}"
            )));
        }
        let mut extent = [1; 3];
        extent[3 - dims..].copy_from_slice(kernel);
        Ok(FilterShapeNd {
            atoms,
            channels,
            dims,
            extent,
        })
    }

    /// The kernel's `dims` axes: `[k]`, `[kh, kw]` or `[kd, kh, kw]`.
    pub fn kernel_shape(&self) -> &[usize] {
        &self.extent[3 - self.dims..]
    }

    /// Taps per channel.
    pub fn kernel_len(&self) -> usize {
        self.extent.iter().product()
    }

    /// Values per filter `C·kd·kh·kw`.
    pub fn filter_len(&self) -> usize {
        self.channels * self.kernel_len()
    }

    /// Lag extent `[2kd−1, 2kh−1, 2kw−1]`.
    pub fn lag_extent(&self) -> [usize; 3] {
        self.extent.map(|k| 2 * k - 1)
    }

    /// Lags per filter pair `(2kd−1)(2kh−1)(2kw−1)`.
    pub fn lags(&self) -> usize {
        self.lag_extent().iter().product()
    }

    /// The 2-D spelling (side = the last axis), for callers of
    /// [`ConvLearner::shape`].
    pub fn square(&self) -> FilterShape {
        FilterShape {
            atoms: self.atoms,
            channels: self.channels,
            kernel: self.extent[2],
        }
    }

    /// `C×k…` as text, e.g. `1×12×12`, `2×64`.
    pub fn describe(&self) -> String {
        std::iter::once(self.channels)
            .chain(self.kernel_shape().iter().copied())
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("×")
    }

    /// `(M, C, k…)`: the PyTorch layout of the filters.
    pub fn torch_shape(&self) -> Vec<usize> {
        let mut shape = vec![self.atoms, self.channels];
        shape.extend_from_slice(self.kernel_shape());
        shape
    }
}

/// Everything the learner needs to continue bit for bit (what checkpoints hold).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvLearnerState {
    /// Steps (dictionary updates) done.
    pub step: u64,
    /// Filters `(M, C, kd, kh, kw)` row-major (`(M, C, k, k)` in 2-D).
    pub filters: Vec<f32>,
    /// `R_mn(δ)`, `(M, M, 2kd−1, 2kh−1, 2kw−1)` row-major, lag `δ = (dz,
    /// dy, dx)` at index `(dz + kd − 1, dy + kh − 1, dx + kw − 1)`.
    pub stat_r: Vec<f64>,
    /// `b_mc(i)`, `(M, C, kd, kh, kw)` row-major.
    pub stat_b: Vec<f64>,
}

/// One coded image for [`ConvLearner::update`]: the (pre-processed) image
/// `(C, H, W)` and its codes `(M, H, W)`, row-major.
#[derive(Clone, Copy, Debug)]
pub struct CodedImage<'a> {
    /// Height `H`.
    pub height: usize,
    /// Width `W`.
    pub width: usize,
    /// Image `(C, H, W)`.
    pub image: &'a [f32],
    /// Codes `(M, H, W)`.
    pub codes: &'a [f32],
}

/// One coded signal of 1 to 3 axes for [`ConvLearner::update_signals`]: the
/// signal `(C, D, H, W)` and its codes `(M, D, H, W)`, row-major, of extent
/// `[D, H, W]` (1 along unused leading axes).
#[derive(Clone, Copy, Debug)]
pub struct CodedSignal<'a> {
    /// Extent `[D, H, W]`.
    pub extent: [usize; 3],
    /// Signal `(C, D, H, W)`.
    pub signal: &'a [f32],
    /// Codes `(M, D, H, W)`.
    pub codes: &'a [f32],
}

impl<'a> From<CodedImage<'a>> for CodedSignal<'a> {
    fn from(i: CodedImage<'a>) -> Self {
        CodedSignal {
            extent: [1, i.height, i.width],
            signal: i.image,
            codes: i.codes,
        }
    }
}

/// Learns convolutional filters from coded images (or signals of 1 or 3 axes).
///
/// ```
/// use lca::conv::{CodedImage, ConvLearner, FilterShape};
/// // One 3×3 filter; an image that is the filter [0,1,0;1,2,1;0,1,0]/√8
/// // centred at two places, coded by two unit spikes.
/// let shape = FilterShape { atoms: 1, channels: 1, kernel: 3 };
/// let target = [0.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 0.0].map(|v: f32| v / 8f32.sqrt());
/// let (h, w) = (8, 8);
/// let mut image = vec![0.0f32; h * w];
/// let mut codes = vec![0.0f32; h * w];
/// for &(y, x) in &[(2usize, 2usize), (5, 5)] {
///     codes[y * w + x] = 1.0;
///     for i in 0..3 { for j in 0..3 { image[(y + i - 1) * w + x + j - 1] += target[i * 3 + j]; } }
/// }
/// let mut learner = ConvLearner::new(shape, vec![1.0 / 3.0; 9], 8, 4).unwrap();
/// for _ in 0..20 {
///     learner.update(&[CodedImage { height: h, width: w, image: &image, codes: &codes }]).unwrap();
/// }
/// let err: f32 = learner.filters().iter().zip(&target).map(|(a, b)| (a - b).abs()).sum();
/// assert!(err < 1e-3, "{err}");
/// ```
#[derive(Clone, Debug)]
pub struct ConvLearner {
    shape: FilterShapeNd,
    forgetting: usize,
    sweeps: usize,
    state: ConvLearnerState,
}

impl ConvLearner {
    /// A learner starting from `filters` `(M, C, k…)` (rescaled to unit
    /// norm), with the forgetting window and sweeps per update. `shape` is a
    /// [`FilterShape`] (2-D) or a [`FilterShapeNd`].
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when `filters` has the wrong length,
    /// [`Error::NonFinite`] on NaN or Inf, [`Error::ZeroAtom`] on a zero filter.
    pub fn new(
        shape: impl Into<FilterShapeNd>,
        mut filters: Vec<f32>,
        forgetting: usize,
        sweeps: usize,
    ) -> Result<Self> {
        let shape = shape.into();
        let (m, c) = (shape.atoms, shape.channels);
        if m == 0 || c == 0 || shape.kernel_len() == 0 || filters.len() != m * shape.filter_len() {
            let kernel: Vec<String> = shape.kernel_shape().iter().map(|k| k.to_string()).collect();
            return Err(Error::Shape(format!(
                "{} filter values do not form {m} filters of {c}×{}",
                filters.len(),
                kernel.join("×")
            )));
        }
        crate::error::check_finite("filters", &filters)?;
        for (index, f) in filters.chunks_mut(shape.filter_len()).enumerate() {
            let norm = f.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
            if norm <= 1e-12 {
                return Err(Error::ZeroAtom { index });
            }
            f.iter_mut()
                .for_each(|v| *v = (f64::from(*v) / norm) as f32);
        }
        let state = ConvLearnerState {
            step: 0,
            filters,
            stat_r: vec![0.0; m * m * shape.lags()],
            stat_b: vec![0.0; m * shape.filter_len()],
        };
        Self::resume(shape, forgetting, sweeps, state)
    }

    /// A learner continuing from a saved state.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when the state's arrays do not fit `shape`.
    pub fn resume(
        shape: impl Into<FilterShapeNd>,
        forgetting: usize,
        sweeps: usize,
        state: ConvLearnerState,
    ) -> Result<Self> {
        let shape = shape.into();
        let m = shape.atoms;
        if state.filters.len() != m * shape.filter_len()
            || state.stat_b.len() != m * shape.filter_len()
            || state.stat_r.len() != m * m * shape.lags()
        {
            return Err(Error::Shape(
                "learner state does not fit the filter shape".into(),
            ));
        }
        if forgetting == 0 || sweeps == 0 {
            return Err(Error::setting(
                "conv",
                "forgetting window and sweeps must be at least 1",
            ));
        }
        Ok(ConvLearner {
            shape,
            forgetting,
            sweeps,
            state,
        })
    }

    /// The filter shape in its 2-D spelling (side = the last axis; see
    /// [`ConvLearner::shape_nd`] for 1-D and 3-D filters).
    pub fn shape(&self) -> FilterShape {
        self.shape.square()
    }

    /// The filter shape over its 1 to 3 axes.
    pub fn shape_nd(&self) -> FilterShapeNd {
        self.shape
    }

    /// Current filters `(M, C, k…)`.
    pub fn filters(&self) -> &[f32] {
        &self.state.filters
    }

    /// The whole state (for checkpoints).
    pub fn state(&self) -> &ConvLearnerState {
        &self.state
    }

    /// Steps done.
    pub fn steps_done(&self) -> u64 {
        self.state.step
    }

    /// Adds the statistics of `batch` (images coded with the current
    /// filters), then updates the filters.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when an image or code array does not fit, or an image
    /// is smaller than `2k − 1` (circular lags would alias).
    pub fn update(&mut self, batch: &[CodedImage<'_>]) -> Result<()> {
        let signals: Vec<CodedSignal<'_>> = batch.iter().map(|&i| i.into()).collect();
        self.update_signals(&signals)
    }

    /// [`ConvLearner::update`] for signals of any of the filters' axes.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when a signal or code array does not fit, or a
    /// signal is shorter than `2k − 1` along an axis.
    pub fn update_signals(&mut self, batch: &[CodedSignal<'_>]) -> Result<()> {
        let (m, c) = (self.shape.atoms, self.shape.channels);
        let k = self.shape.extent;
        let mut pixels = 0usize;
        for item in batch {
            let [d, h, w] = item.extent;
            let hw = d * h * w;
            if item.signal.len() != c * hw || item.codes.len() != m * hw {
                return Err(Error::Shape(format!(
                    "coded image of {} needs {} image and {} code values, got {} and {}",
                    extent_text(item.extent, self.shape.dims),
                    c * hw,
                    m * hw,
                    item.signal.len(),
                    item.codes.len()
                )));
            }
            if (0..3).any(|a| item.extent[a] < 2 * k[a] - 1) {
                return Err(Error::Shape(if self.shape.dims == 2 {
                    let k = k[2];
                    format!(
                        "a {h}×{w} image is smaller than 2k−1 = {} for {k}×{k} filters",
                        2 * k - 1
                    )
                } else {
                    format!(
                        "a signal of {} is shorter than 2k−1 along an axis for {} filters",
                        extent_text(item.extent, self.shape.dims),
                        extent_text(k, self.shape.dims)
                    )
                }));
            }
            pixels += hw;
        }
        if pixels == 0 {
            return Ok(());
        }
        let (r_new, b_new) = batch_statistics(self.shape, batch);
        let beta = f64::from(OnlineStats::forgetting(self.state.step, self.forgetting));
        let scale = 1.0 / pixels as f64;
        for (s, n) in self.state.stat_r.iter_mut().zip(&r_new) {
            *s = beta * *s + scale * n;
        }
        for (s, n) in self.state.stat_b.iter_mut().zip(&b_new) {
            *s = beta * *s + scale * n;
        }
        let overlapped = overlapping_pairs(self.shape, &self.state.stat_r);
        for _ in 0..self.sweeps {
            self.sweep(&overlapped);
        }
        self.state.step += 1;
        Ok(())
    }

    /// Surrogate value `½⟨D, H D⟩ − ⟨b, D⟩` of the current filters (the
    /// weighted data term without its constant `½‖x‖²`).
    pub fn surrogate(&self) -> f64 {
        let d: Vec<f64> = self.state.filters.iter().map(|&v| f64::from(v)).collect();
        let hd = hessian_product(self.shape, &self.state.stat_r, &d);
        d.iter()
            .zip(&hd)
            .zip(&self.state.stat_b)
            .map(|((d, h), b)| 0.5 * d * h - b * d)
            .sum()
    }

    /// One Gauss–Seidel sweep of projected gradient steps, filter by filter.
    ///
    /// `overlapped[m·M + n]`: whether filters `m` and `n` ever overlapped
    /// (`R_mn ≠ 0`); terms of the others are zero and skipped.
    fn sweep(&mut self, overlapped: &[bool]) {
        let shape = self.shape;
        let (m, len) = (shape.atoms, shape.filter_len());
        let lags = shape.lags();
        let mut d: Vec<f64> = self.state.filters.iter().map(|&v| f64::from(v)).collect();
        for mi in 0..m {
            let r_mm = &self.state.stat_r[(mi * m + mi) * lags..(mi * m + mi + 1) * lags];
            let lipschitz: f64 = r_mm.iter().map(|v| v.abs()).sum();
            if lipschitz <= 0.0 {
                continue; // never active: nothing to learn from yet
            }
            let hd = filter_product(shape, &self.state.stat_r, &d, mi, overlapped);
            let b = &self.state.stat_b[mi * len..(mi + 1) * len];
            let step: Vec<f64> = d[mi * len..(mi + 1) * len]
                .iter()
                .zip(&hd)
                .zip(b)
                .map(|((v, h), b)| v - (h - b) / lipschitz)
                .collect();
            let norm = step.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 1e-12 {
                for (v, s) in d[mi * len..(mi + 1) * len].iter_mut().zip(&step) {
                    *v = s / norm;
                }
            }
        }
        for (out, v) in self.state.filters.iter_mut().zip(&d) {
            *out = *v as f32;
        }
    }
}

/// `(H D)_m`: the Hessian of the surrogate applied to the filters, row `mi`,
/// the terms `R_mn ⋆ D_n` added in the order of `n`. One thread: a term is
/// about a microsecond of work, less than waking another thread for it.
fn filter_product(
    shape: FilterShapeNd,
    stat_r: &[f64],
    d: &[f64],
    mi: usize,
    overlapped: &[bool],
) -> Vec<f64> {
    let (m, c) = (shape.atoms, shape.channels);
    let (len, kk) = (shape.filter_len(), shape.kernel_len());
    let lags = shape.lags();
    let mut g = vec![0.0f64; len];
    let mut term = vec![0.0f64; len];
    for n in (0..m).filter(|&n| overlapped[mi * m + n]) {
        let start = (mi * m + n) * lags;
        term.fill(0.0);
        for ch in 0..c {
            let dn = &d[n * len + ch * kk..n * len + (ch + 1) * kk];
            lag_product(
                &mut term[ch * kk..(ch + 1) * kk],
                &stat_r[start..],
                dn,
                shape.extent,
            );
        }
        for (gv, t) in g.iter_mut().zip(&term) {
            *gv += t;
        }
    }
    g
}

/// Which filter pairs have overlapped in some coded signal (`R_mn ≠ 0`).
fn overlapping_pairs(shape: FilterShapeNd, stat_r: &[f64]) -> Vec<bool> {
    stat_r
        .chunks_exact(shape.lags())
        .map(|r| r.iter().any(|&v| v != 0.0))
        .collect()
}

/// Row of the lags `R(i − j)` that output row `q` meets at kernel row `p`
/// (rows are `(z, y)` pairs of a `[kd, kh, kw]` extent; lag `i − j` sits at
/// index `i − j + k − 1` per axis).
#[inline(always)]
fn lag_row(q: usize, p: usize, [kd, kh, _]: [usize; 3]) -> usize {
    let (iz, iy, jz, jy) = (q / kh, q % kh, p / kh, p % kh);
    (iz + kd - 1 - jz) * (2 * kh - 1) + iy + kh - 1 - jy
}

/// `out(i) = Σ_j R(i − j)·D(j)` over one channel of a filter (`out` all
/// zeros on entry; `r` starts at the pair's lags and may go on), each output
/// summed in the order of `j` (slices, rows, columns) with one product and
/// one sum per term (no fused multiply-add: the bits of the plain loop).
///
/// Rows of up to 16 columns are done four output rows at a time, each a
/// 16-wide accumulator kept in registers for the whole sum; lanes past the
/// row read whatever follows (the next lags, or zero padding at the end of
/// the statistics) and are dropped. Longer rows (1-D kernels of many taps)
/// run along the output rows in memory.
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
fn lag_product(out: &mut [f64], r: &[f64], dn: &[f64], extent: [usize; 3]) {
    const LANES: usize = 16;
    const ROWS: usize = 4;
    let [kd, kh, kw] = extent;
    let (rows, lw) = (kd * kh, 2 * kw - 1);
    if kw > LANES {
        for (p, taps) in dn.chunks_exact(kw).enumerate() {
            for (jx, &dv) in taps.iter().enumerate() {
                for (q, row) in out.chunks_exact_mut(kw).enumerate() {
                    let lags = &r[lag_row(q, p, extent) * lw + kw - 1 - jx..][..kw];
                    for (o, &rv) in row.iter_mut().zip(lags) {
                        *o += rv * dv;
                    }
                }
            }
        }
        return;
    }
    let lags = (2 * kd - 1) * (2 * kh - 1) * lw;
    let padded;
    let r = if r.len() >= lags + LANES {
        r
    } else {
        let mut p = vec![0.0f64; lags + LANES];
        p[..lags].copy_from_slice(&r[..lags]);
        padded = p;
        &padded[..]
    };
    for q0 in (0..rows).step_by(ROWS) {
        // Rows past the last are computed on the last row's lags and dropped.
        let group = [0, 1, 2, 3].map(|t| (q0 + t).min(rows - 1));
        let mut acc = [[0.0f64; LANES]; ROWS];
        for (p, taps) in dn.chunks_exact(kw).enumerate() {
            let base = group.map(|q| lag_row(q, p, extent) * lw + kw - 1);
            for (jx, &dv) in taps.iter().enumerate() {
                for (lanes, &b) in acc.iter_mut().zip(&base) {
                    let lags: &[f64; LANES] = r[b - jx..b - jx + LANES].try_into().unwrap();
                    for (a, &rv) in lanes.iter_mut().zip(lags) {
                        *a += rv * dv;
                    }
                }
            }
        }
        for (t, lanes) in acc.iter().enumerate().take(rows - q0) {
            out[(q0 + t) * kw..][..kw].copy_from_slice(&lanes[..kw]);
        }
    }
}

/// `H D` for all filters.
fn hessian_product(shape: FilterShapeNd, stat_r: &[f64], d: &[f64]) -> Vec<f64> {
    let overlapped = overlapping_pairs(shape, stat_r);
    (0..shape.atoms)
        .into_par_iter()
        .flat_map_iter(|mi| filter_product(shape, stat_r, d, mi, &overlapped))
        .collect()
}

/// An active coefficient of one code map.
struct Active {
    z: usize,
    y: usize,
    x: usize,
    value: f64,
}

/// The active coefficients of one coded signal: by row (`(x, map, value)`
/// sorted by `x`, one row per `(z, y)`, for neighbourhood look-ups) and by
/// map (in row-major order).
struct SparseCodes {
    rows: Vec<Vec<(usize, usize, f64)>>,
    by_map: Vec<Vec<Active>>,
}

impl SparseCodes {
    fn new(item: &CodedSignal<'_>, m: usize) -> Self {
        let [_, h, w] = item.extent;
        let n_pos: usize = item.extent.iter().product();
        let mut rows = vec![Vec::new(); n_pos / w.max(1)];
        let mut by_map: Vec<Vec<Active>> = (0..m).map(|_| Vec::new()).collect();
        for (n, map) in by_map.iter_mut().enumerate() {
            for (t, &v) in item.codes[n * n_pos..(n + 1) * n_pos].iter().enumerate() {
                if v != 0.0 {
                    let (row, x, value) = (t / w, t % w, f64::from(v));
                    rows[row].push((x, n, value));
                    map.push(Active {
                        z: row / h,
                        y: row % h,
                        x,
                        value,
                    });
                }
            }
        }
        for row in &mut rows {
            row.sort_by_key(|e| e.0); // stable: maps stay in order at one x
        }
        SparseCodes { rows, by_map }
    }
}

/// The entries of a row sorted by `x` whose `x` lies in `lo..=hi`.
fn span(row: &[(usize, usize, f64)], lo: usize, hi: usize) -> &[(usize, usize, f64)] {
    let start = row.partition_point(|e| e.0 < lo);
    let end = row.partition_point(|e| e.0 <= hi);
    &row[start..end.max(start)]
}

/// `R` and `b` of a batch (unweighted sums), each filter's share computed by
/// one task so the sums do not depend on the thread count. Every lag of `R`
/// and tap of `b` receives at most one term per active coefficient, in the
/// coefficients' row-major order, whatever the loops visit in between.
fn batch_statistics(shape: FilterShapeNd, batch: &[CodedSignal<'_>]) -> (Vec<f64>, Vec<f64>) {
    let (m, c) = (shape.atoms, shape.channels);
    let [kd, kh, kw] = shape.extent;
    let [_, lh, lw] = shape.lag_extent();
    let (len, lags, kk) = (shape.filter_len(), shape.lags(), shape.kernel_len());
    let [sd, sh, sw] = shape.extent.map(|k| (k - 1) / 2);
    let [rd, rh, rw] = shape.extent.map(|k| k as isize - 1);
    let sparse: Vec<SparseCodes> = batch.iter().map(|i| SparseCodes::new(i, m)).collect();
    let per_filter: Vec<(Vec<f64>, Vec<f64>)> = (0..m)
        .into_par_iter()
        .map(|mi| {
            let mut r = vec![0.0f64; m * lags];
            let mut b = vec![0.0f64; len];
            for (item, codes) in batch.iter().zip(&sparse) {
                let [d, h, w] = item.extent;
                let plane_len = d * h * w;
                let (wi, x_reach) = (w as isize, rw);
                for a in &codes.by_map[mi] {
                    for dz in -rd..=rd {
                        let z2 = (a.z as isize + dz).rem_euclid(d as isize) as usize;
                        for dy in -rh..=rh {
                            let y2 = (a.y as isize + dy).rem_euclid(h as isize) as usize;
                            let lag_row = ((dz + rd) as usize * lh + (dy + rh) as usize) * lw;
                            let row = &codes.rows[z2 * h + y2];
                            // The window x − reach ..= x + reach, wrapped:
                            // at most two runs of the sorted row.
                            let (lo, hi) = (a.x as isize - x_reach, a.x as isize + x_reach);
                            let runs: [(isize, isize, isize); 2] = if lo < 0 {
                                [(0, hi, 0), (lo + wi, wi - 1, -wi)]
                            } else if hi >= wi {
                                [(lo, wi - 1, 0), (0, hi - wi, wi)]
                            } else {
                                [(lo, hi, 0), (1, 0, 0)]
                            };
                            for (from, to, shift) in runs {
                                if from > to {
                                    continue;
                                }
                                for &(x2, n, v2) in span(row, from as usize, to as usize) {
                                    let dx = x2 as isize + shift - a.x as isize;
                                    r[n * lags + lag_row + (dx + x_reach) as usize] += a.value * v2;
                                }
                            }
                        }
                    }
                    for ch in 0..c {
                        let plane = &item.signal[ch * plane_len..(ch + 1) * plane_len];
                        let bc = &mut b[ch * kk..(ch + 1) * kk];
                        for iz in 0..kd {
                            let z = (a.z + d + iz - sd) % d;
                            for iy in 0..kh {
                                let y = (a.y + h + iy - sh) % h;
                                let src = &plane[(z * h + y) * w..(z * h + y + 1) * w];
                                let dst = &mut bc[(iz * kh + iy) * kw..(iz * kh + iy + 1) * kw];
                                for (ix, out) in dst.iter_mut().enumerate() {
                                    let x = (a.x + w + ix - sw) % w;
                                    *out += a.value * f64::from(src[x]);
                                }
                            }
                        }
                    }
                }
            }
            (r, b)
        })
        .collect();
    let mut r = Vec::with_capacity(m * m * lags);
    let mut b = Vec::with_capacity(m * len);
    for (ri, bi) in per_filter {
        r.extend(ri);
        b.extend(bi);
    }
    (r, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [−1, 1) (a test-local LCG).
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    /// `(H D)_m` by the plain loop over outputs, then filters, then lags —
    /// the order every sum of [`filter_product`] keeps.
    fn plain_product(shape: FilterShapeNd, stat_r: &[f64], d: &[f64], mi: usize) -> Vec<f64> {
        let (m, c) = (shape.atoms, shape.channels);
        let [kd, kh, kw] = shape.extent;
        let [_, lh, lw] = shape.lag_extent();
        let (len, kk, lags) = (shape.filter_len(), shape.kernel_len(), shape.lags());
        let mut g = vec![0.0f64; len];
        for n in 0..m {
            let r = &stat_r[(mi * m + n) * lags..][..lags];
            if r.iter().all(|&v| v == 0.0) {
                continue;
            }
            for ch in 0..c {
                let dn = &d[n * len + ch * kk..][..kk];
                for i in 0..kk {
                    let (iz, iy, ix) = (i / (kh * kw), i / kw % kh, i % kw);
                    let mut acc = 0.0;
                    for (j, dv) in dn.iter().enumerate() {
                        let (jz, jy, jx) = (j / (kh * kw), j / kw % kh, j % kw);
                        let plane = (iz + kd - 1 - jz) * lh + iy + kh - 1 - jy;
                        acc += r[plane * lw + ix + kw - 1 - jx] * dv;
                    }
                    g[ch * kk + i] += acc;
                }
            }
        }
        g
    }

    #[test]
    fn hessian_rows_match_the_plain_loop_bit_for_bit() {
        // 2-D k = 12 and 5: register blocks (5 leaves a partial group of
        // rows); 17 and 64 taps: wider than the 16 lanes; 1-D and 3-D
        // extents; one pair that never overlapped.
        let cases: [([usize; 3], usize, usize); 8] = [
            ([1, 12, 12], 1, 2),
            ([1, 5, 5], 2, 2),
            ([1, 17, 17], 1, 2),
            ([1, 1, 1], 3, 2),
            ([1, 1, 64], 1, 1),
            ([1, 1, 9], 2, 1),
            ([3, 5, 7], 2, 3),
            ([2, 2, 17], 1, 3),
        ];
        for (extent, c, dims) in cases {
            let shape = FilterShapeNd {
                atoms: 3,
                channels: c,
                dims,
                extent,
            };
            let seed = extent.iter().product::<usize>() as u64;
            let mut stat_r = values(9 * shape.lags(), seed);
            let never = (3 + 2) * shape.lags();
            stat_r[never..never + shape.lags()].fill(0.0);
            let d = values(3 * shape.filter_len(), 99 + seed);
            let product = hessian_product(shape, &stat_r, &d);
            for mi in 0..3 {
                let plain = plain_product(shape, &stat_r, &d, mi);
                let row = &product[mi * shape.filter_len()..][..shape.filter_len()];
                assert!(
                    row.iter()
                        .zip(&plain)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{extent:?}, c = {c}, filter {mi}"
                );
            }
        }
    }

    #[test]
    fn a_2d_config_reads_and_writes_as_before() {
        let text = serde_json::to_string(&ConvLearnParams::default()).unwrap();
        for new_key in ["dims", "kernel_depth", "crop_depth", "heldout_depth"] {
            assert!(!text.contains(new_key), "{text}");
        }
        let old: ConvLearnParams =
            serde_json::from_str(r#"{"kernel_size": 5, "crop": 32}"#).unwrap();
        assert_eq!((old.dims, old.kernel_extent()), (2, [1, 5, 5]));
        let p = ConvLearnParams::for_dims(3).unwrap();
        let back: ConvLearnParams =
            serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn checks_every_axis() {
        let p = ConvLearnParams::for_dims(1).unwrap();
        assert!(p.clone().check().is_ok());
        assert!(p.clone().crop(200).check().is_err()); // < 2·128 − 1
        assert!(p.kernel_depth(2).check().is_err()); // depth needs 3-D
        let v = ConvLearnParams::for_dims(3).unwrap();
        assert!(v.clone().check().is_ok());
        assert!(v.crop_depth(8).check().is_err()); // < 2·5 − 1
    }
}
