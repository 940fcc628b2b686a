//! Stacks of planes (images or coefficient maps; 1-D signals and 3-D
//! volumes too) and how their edges are treated by convolutions.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::Image;

/// A `(channels, height, width)` stack of planes in row-major order: an image
/// (`channels` colour planes) or the code maps of one image (`channels =
/// n_filters`), the layout of one item of a numpy `(N, C, H, W)` batch.
///
/// The same type holds the channels of a 1-D signal (`depth = height = 1`,
/// `width` samples: one item of `(N, C, T)`) and of a 3-D volume (`depth`
/// slices of `height × width`: one item of `(N, C, D, H, W)`); each channel
/// ("plane") is then its `depth·height·width` values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Planes {
    /// Number of planes.
    pub channels: usize,
    /// Slices of every plane: 1 except for 3-D volumes.
    pub depth: usize,
    /// Rows of every plane.
    pub height: usize,
    /// Columns of every plane.
    pub width: usize,
    /// `channels·depth·height·width` values, plane after plane, each row-major.
    pub data: Vec<f32>,
}

impl Planes {
    /// Wraps `data`; fails unless it holds exactly `channels·height·width` values.
    ///
    /// ```
    /// use lca::conv::Planes;
    /// let p = Planes::new(2, 1, 3, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    /// assert_eq!(p.plane(1), &[3.0, 4.0, 5.0]);
    /// assert_eq!(p.get(1, 0, 2), 5.0);
    /// assert!(Planes::new(2, 2, 2, vec![0.0; 7]).is_err());
    /// ```
    pub fn new(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Result<Planes> {
        let expected = channels
            .checked_mul(height)
            .and_then(|v| v.checked_mul(width));
        if expected != Some(data.len()) {
            return Err(Error::Shape(format!(
                "planes of shape ({channels}, {height}, {width}) need {} values, got {}",
                expected.map_or("too many".into(), |n| n.to_string()),
                data.len()
            )));
        }
        Ok(Planes {
            channels,
            depth: 1,
            height,
            width,
            data,
        })
    }

    /// The planes of an image: interleaved channels (HWC, how images are
    /// decoded) become one plane per channel (CHW, how filters see them).
    ///
    /// ```
    /// use lca::conv::Planes;
    /// use lca::image::Image;
    /// let rgb = Image::new(2, 1, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    /// let p = Planes::from_image(&rgb);
    /// assert_eq!(p.data, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    /// assert_eq!(p.to_image().unwrap(), rgb);
    /// ```
    pub fn from_image(img: &Image) -> Planes {
        let (w, h, c) = (img.width, img.height, img.channels);
        let mut p = Planes::zeros(c, h, w);
        for (i, px) in img.data.chunks_exact(c).enumerate() {
            for (ch, &v) in px.iter().enumerate() {
                p.data[ch * h * w + i] = v;
            }
        }
        p
    }

    /// The image of these planes, channels interleaved again (HWC).
    pub fn to_image(&self) -> Result<Image> {
        let (c, h, w) = self.shape();
        let mut data = vec![0.0; c * h * w];
        for ch in 0..c {
            for (i, &v) in self.plane(ch).iter().enumerate() {
                data[i * c + ch] = v;
            }
        }
        Image::new(w, h, c, data)
    }

    /// All-zero planes.
    pub fn zeros(channels: usize, height: usize, width: usize) -> Planes {
        Planes {
            channels,
            depth: 1,
            height,
            width,
            data: vec![0.0; channels * height * width],
        }
    }

    /// Wraps `data` as `channels` planes of extent `[depth, height, width]`
    /// (1-D signals: `[1, 1, T]`); fails unless the lengths agree.
    ///
    /// ```
    /// use lca::conv::Planes;
    /// let v = Planes::with_extent(1, [2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    /// assert_eq!((v.depth, v.plane_len(), v.extent()), (2, 4, [2, 1, 2]));
    /// ```
    pub fn with_extent(channels: usize, extent: [usize; 3], data: Vec<f32>) -> Result<Planes> {
        let expected = extent.iter().try_fold(channels, |n, &e| n.checked_mul(e));
        if expected != Some(data.len()) {
            return Err(Error::Shape(format!(
                "planes of {channels} channel(s) of extent {extent:?} need {} values, got {}",
                expected.map_or("too many".into(), |n| n.to_string()),
                data.len()
            )));
        }
        let [depth, height, width] = extent;
        Ok(Planes {
            channels,
            depth,
            height,
            width,
            data,
        })
    }

    /// All-zero planes of extent `[depth, height, width]`.
    pub fn zeros_with_extent(channels: usize, extent: [usize; 3]) -> Planes {
        let n = channels * extent.iter().product::<usize>();
        Planes::with_extent(channels, extent, vec![0.0; n]).expect("lengths agree")
    }

    /// `[depth, height, width]` of every plane.
    pub fn extent(&self) -> [usize; 3] {
        [self.depth, self.height, self.width]
    }

    /// Values per plane, `depth·height·width`.
    pub fn plane_len(&self) -> usize {
        self.depth * self.height * self.width
    }

    /// Plane `c`, row-major.
    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.plane_len();
        &self.data[c * n..(c + 1) * n]
    }

    /// Plane `c`, mutable.
    pub fn plane_mut(&mut self, c: usize) -> &mut [f32] {
        let n = self.plane_len();
        &mut self.data[c * n..(c + 1) * n]
    }

    /// The value of plane `c` at row `y`, column `x` (of its first slice).
    pub fn get(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.plane_len()) + y * self.width + x]
    }

    /// Number of non-zero values.
    pub fn nnz(&self) -> usize {
        self.data.iter().filter(|v| **v != 0.0).count()
    }

    /// `(channels, height, width)` (see [`Planes::extent`] for the depth).
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.channels, self.height, self.width)
    }
}

/// What a convolution sees beyond the edges of an image.
///
/// `Circular` treats the image as periodic (scipy's `boundary='wrap'`, the
/// DFT-domain convention of SPORCO); `Zero` pads it with zeros (scipy's
/// `boundary='fill'`), so atoms near the edge are cut off by it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Boundary {
    /// Periodic image.
    #[default]
    Circular,
    /// Zeros outside the image.
    Zero,
}
