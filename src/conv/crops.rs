//! What a convolutional learner draws from its images, the same way whether
//! they come from a folder ([`super::ConvTraining`]) or from the caller's
//! arrays ([`super::ConvArrayTraining`]): the crops of step `s` and the
//! initial filters, pure functions of the seed (and `s`), so a resumed run
//! draws what the uninterrupted one would and the two sources agree bit for
//! bit on the same images.
//!
//! Images are reached through a closure `image(i)` over the training images
//! `0..n`, so a folder decodes (and caches) only those it draws.

use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::learn::FilterShape;
use super::planes::Planes;
use crate::error::Result;

/// The `h×w` window at `(y0, x0)` of every plane of `img`.
pub(crate) fn crop_planes(img: &Planes, y0: usize, x0: usize, h: usize, w: usize) -> Planes {
    let mut data = Vec::with_capacity(img.channels * h * w);
    for c in 0..img.channels {
        let plane = img.plane(c);
        for y in y0..y0 + h {
            data.extend_from_slice(&plane[y * img.width + x0..y * img.width + x0 + w]);
        }
    }
    Planes {
        depth: 1,
        channels: img.channels,
        height: h,
        width: w,
        data,
    }
}

/// The centred `side×side` window of `img` (all of it where it is smaller).
pub(crate) fn centre_crop(img: &Planes, side: usize) -> Planes {
    let (h, w) = (side.min(img.height), side.min(img.width));
    crop_planes(img, (img.height - h) / 2, (img.width - w) / 2, h, w)
}

/// The crops of step `step`: `count` random images of `0..n`, a random
/// `crop×crop` window of each (the whole image for `crop = 0`, and at most
/// the image), drawn from the stream `step + 1` of `seed`.
pub(crate) fn step_crops(
    seed: u64,
    step: u64,
    count: usize,
    crop: usize,
    n: usize,
    mut image: impl FnMut(usize) -> Result<Arc<Planes>>,
) -> Result<Vec<Planes>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step.wrapping_add(1));
    (0..count)
        .map(|_| {
            let img = image(rng.random_range(0..n))?;
            let (ch, cw) = if crop == 0 {
                (img.height, img.width)
            } else {
                (crop.min(img.height), crop.min(img.width))
            };
            let y0 = rng.random_range(0..=img.height - ch);
            let x0 = rng.random_range(0..=img.width - cw);
            Ok(crop_planes(&img, y0, x0, ch, cw))
        })
        .collect()
}

/// Random `k×k` windows of the images `0..n`, each with non-negligible
/// energy while such can be found, scaled to unit norm, as the first
/// filters; a flat image gives a random filter rather than a zero one.
pub(crate) fn initial_filters(
    seed: u64,
    shape: FilterShape,
    n: usize,
    mut image: impl FnMut(usize) -> Result<Arc<Planes>>,
) -> Result<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = shape.kernel;
    let mut filters = Vec::with_capacity(shape.atoms * shape.filter_len());
    let mut tries = 0usize;
    while filters.len() < shape.atoms * shape.filter_len() {
        tries += 1;
        let img = image(rng.random_range(0..n))?;
        let y0 = rng.random_range(0..=img.height - k);
        let x0 = rng.random_range(0..=img.width - k);
        let window = crop_planes(&img, y0, x0, k, k);
        let norm = window.data.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 1e-3 || tries > 100 * shape.atoms {
            if norm <= 1e-12 {
                filters.extend((0..window.data.len()).map(|_| rng.random_range(-1.0f32..1.0)));
            } else {
                let scale = 1.0 / norm;
                filters.extend(window.data.iter().map(|v| v * scale));
            }
        }
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(c: usize, h: usize, w: usize) -> Planes {
        Planes::new(c, h, w, (0..c * h * w).map(|v| v as f32).collect()).unwrap()
    }

    #[test]
    fn crops_are_windows_of_the_images_and_depend_only_on_seed_and_step() {
        let images = [Arc::new(ramp(2, 9, 7)), Arc::new(ramp(2, 6, 11))];
        let get = |i: usize| Ok(Arc::clone(&images[i]));
        let a = step_crops(5, 3, 4, 5, 2, get).unwrap();
        assert_eq!(a, step_crops(5, 3, 4, 5, 2, get).unwrap());
        assert_ne!(a, step_crops(5, 4, 4, 5, 2, get).unwrap());
        for c in &a {
            assert_eq!((c.channels, c.height, c.width), (2, 5, 5));
            // A window of a ramp: consecutive values along each row.
            assert!(
                c.data
                    .chunks(5)
                    .all(|r| r.windows(2).all(|p| p[1] == p[0] + 1.0))
            );
        }
        let whole = step_crops(5, 3, 1, 0, 2, get).unwrap();
        assert!(images.iter().any(|i| **i == whole[0]));
    }

    #[test]
    fn initial_filters_are_unit_norm_windows() {
        let images = [Arc::new(ramp(1, 8, 8))];
        let shape = FilterShape {
            atoms: 3,
            channels: 1,
            kernel: 3,
        };
        let f = initial_filters(1, shape, 1, |i| Ok(Arc::clone(&images[i]))).unwrap();
        assert_eq!(f.len(), 27);
        for filter in f.chunks(9) {
            let norm: f32 = filter.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5);
        }
        assert_eq!(centre_crop(&images[0], 2).data, [27.0, 28.0, 35.0, 36.0]);
    }
}
