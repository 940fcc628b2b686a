//! Natural images for sparse coding: loading photo folders with a bounded
//! cache, whitening and per-patch normalisation, random patch sampling for
//! dictionary learning, and tiling / overlap-add for reconstruction.
//!
//! Conventions shared with the rest of the crate:
//!
//! * An [`Image`] is row-major, pixel-interleaved (HWC) `f32` with 1 (gray) or
//!   3 (RGB) channels; loaded images have values in `[0, 1]`.
//! * A batch of patches is a `DMatrix<f32>` with **one column per patch**
//!   (numpy's row-major `(n_patches, n_features)`). A `P×P` patch is flattened
//!   like scikit-learn's `extract_patches_2d(...).reshape(n, -1)`: value
//!   `(y * P + x) * channels + c`.
//!
//! ```
//! use lca::image::{ImageSet, Preprocessing, Preprocessor, sample_patches};
//! use rand::SeedableRng;
//! let settings = Preprocessing::default().downscale(2.0);
//! let set = ImageSet::embedded(settings.load_options()).unwrap();
//! let pre = Preprocessor::new(settings).unwrap();
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
//! let x = sample_patches(&set, 16, 8, &pre, &mut rng).unwrap();
//! assert_eq!((x.nrows(), x.ncols()), (64, 16));
//! ```

mod folder;
mod patch_stream;
mod patches;
mod preprocess;
mod reconstruct;

use std::path::Path;

use crate::error::{Error, Result};

pub use folder::{
    DEFAULT_CACHE_BYTES, ImageSet, LoadOptions, MAX_DECODE_ALLOC, MAX_DIMENSION, MAX_PIXEL_BYTES,
};
pub use patch_stream::{
    DEFAULT_IMAGES_PER_BLOCK, DEFAULT_POOL_BYTES, DEFAULT_POOL_PATCHES, DEFAULT_WINDOW,
    HELDOUT_IMAGES, PatchStream, PatchStreamParams, heldout_rows, zca_rng,
};
pub use patches::{Tiles, overlap_add, sample_patches, tile};
pub use preprocess::{
    DEFAULT_F0, DEFAULT_ZCA_EPSILON, INVERSE_CUTOFF, ImageInfo, PatchStat, Preprocessing,
    Preprocessor, WHITENED_VARIANCE, Whitening, Zca, denormalize_patches, normalize_patches,
};
pub use reconstruct::{Reconstruction, psnr, reconstruct};

/// An image as `f32` samples, row-major with interleaved channels (HWC).
///
/// Kept deliberately plain so patches can be cut with index arithmetic and the
/// same type carries raw pixels (`[0, 1]`) and whitened images (any sign).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// 1 (gray) or 3 (RGB).
    pub channels: usize,
    /// `height * width * channels` values; pixel `(x, y)` channel `c` is at
    /// `(y * width + x) * channels + c`.
    pub data: Vec<f32>,
}

impl Image {
    /// Builds an image, checking that `data` has `width * height * channels`
    /// values and that `channels` is 1 or 3.
    ///
    /// ```
    /// use lca::image::Image;
    /// let img = Image::new(2, 1, 1, vec![0.0, 1.0]).unwrap();
    /// assert_eq!(img.get(1, 0, 0), 1.0);
    /// assert!(Image::new(2, 2, 1, vec![0.0; 3]).is_err());
    /// ```
    pub fn new(width: usize, height: usize, channels: usize, data: Vec<f32>) -> Result<Self> {
        if channels != 1 && channels != 3 {
            return Err(Error::Shape(format!(
                "image must have 1 or 3 channels, got {channels}"
            )));
        }
        if width
            .checked_mul(height)
            .and_then(|p| p.checked_mul(channels))
            != Some(data.len())
        {
            return Err(Error::Shape(format!(
                "image data has {} values, expected {width}×{height}×{channels}",
                data.len()
            )));
        }
        Ok(Image {
            width,
            height,
            channels,
            data,
        })
    }

    /// A black image of the given size.
    pub fn zeros(width: usize, height: usize, channels: usize) -> Self {
        Image {
            width,
            height,
            channels,
            data: vec![0.0; width * height * channels],
        }
    }

    /// Value of channel `c` at pixel `(x, y)`.
    #[inline]
    pub fn get(&self, x: usize, y: usize, c: usize) -> f32 {
        self.data[(y * self.width + x) * self.channels + c]
    }

    /// Bytes held by the pixel data (what the image cache counts).
    pub fn byte_size(&self) -> usize {
        self.data.len() * std::mem::size_of::<f32>()
    }

    /// Writes the image as an 8-bit PNG (gray or RGB), values clamped to
    /// `[0, 1]`; the file is replaced atomically so a crash never leaves a
    /// truncated image.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use lca::image::Image;
    /// let path = dir.path().join("out.png");
    /// Image::new(2, 1, 1, vec![0.0, 1.0]).unwrap().save_png(&path).unwrap();
    /// assert!(path.exists());
    /// ```
    pub fn save_png(&self, path: &Path) -> Result<()> {
        let bytes: Vec<u8> = self
            .data
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        let color = if self.channels == 3 {
            image::ExtendedColorType::Rgb8
        } else {
            image::ExtendedColorType::L8
        };
        let mut encoded = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut encoded),
            &bytes,
            self.width as u32,
            self.height as u32,
            color,
        )
        .map_err(|e| Error::format(path, format!("cannot encode PNG ({e})")))?;
        crate::io::atomic::write_bytes_atomic(path, &encoded)
    }
}
