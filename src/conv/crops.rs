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

use super::learn::FilterShapeNd;
use super::planes::Planes;
use crate::error::Result;

/// The window of extent `extent` at `origin` (both `[z, y, x]`) of every
/// plane of `img`.
pub(crate) fn crop_planes(img: &Planes, origin: [usize; 3], extent: [usize; 3]) -> Planes {
    let [z0, y0, x0] = origin;
    let [d, h, w] = extent;
    let mut data = Vec::with_capacity(img.channels * d * h * w);
    for c in 0..img.channels {
        let plane = img.plane(c);
        for z in z0..z0 + d {
            for y in y0..y0 + h {
                let row = (z * img.height + y) * img.width + x0;
                data.extend_from_slice(&plane[row..row + w]);
            }
        }
    }
    Planes {
        depth: d,
        channels: img.channels,
        height: h,
        width: w,
        data,
    }
}

/// The centred window of extent `extent` of `img` (all of it along axes
/// where it is smaller).
pub(crate) fn centre_crop(img: &Planes, extent: [usize; 3]) -> Planes {
    let full = img.extent();
    let size: [usize; 3] = std::array::from_fn(|a| extent[a].min(full[a]));
    let origin: [usize; 3] = std::array::from_fn(|a| (full[a] - size[a]) / 2);
    crop_planes(img, origin, size)
}

/// A random origin of a window of extent `size` in one of extent `full`,
/// drawn along the last `dims` axes only (depth, then rows, then columns):
/// a 2-D crop draws its row and then its column, as it always did.
fn random_origin(
    rng: &mut ChaCha8Rng,
    dims: usize,
    full: [usize; 3],
    size: [usize; 3],
) -> [usize; 3] {
    let mut origin = [0; 3];
    let axes = origin.iter_mut().zip(full.iter().zip(&size));
    for (o, (f, s)) in axes.skip(3 - dims) {
        *o = rng.random_range(0..=f - s);
    }
    origin
}

/// The crops of step `step`: `count` random signals of `0..n`, a random
/// window of extent `crop` of each (the whole signal for `None`, and at most
/// the signal along each axis), drawn from the stream `step + 1` of `seed`.
pub(crate) fn step_crops(
    seed: u64,
    step: u64,
    count: usize,
    (dims, crop): (usize, Option<[usize; 3]>),
    n: usize,
    mut image: impl FnMut(usize) -> Result<Arc<Planes>>,
) -> Result<Vec<Planes>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step.wrapping_add(1));
    (0..count)
        .map(|_| {
            let img = image(rng.random_range(0..n))?;
            let full = img.extent();
            let size = match crop {
                None => full,
                Some(c) => std::array::from_fn(|a| c[a].min(full[a])),
            };
            let origin = random_origin(&mut rng, dims, full, size);
            Ok(crop_planes(&img, origin, size))
        })
        .collect()
}

/// Random kernel-sized windows of the signals `0..n`, each with
/// non-negligible energy while such can be found, scaled to unit norm, as
/// the first filters; a flat signal gives a random filter rather than a zero
/// one.
pub(crate) fn initial_filters(
    seed: u64,
    shape: FilterShapeNd,
    n: usize,
    mut image: impl FnMut(usize) -> Result<Arc<Planes>>,
) -> Result<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut filters = Vec::with_capacity(shape.atoms * shape.filter_len());
    let mut tries = 0usize;
    while filters.len() < shape.atoms * shape.filter_len() {
        tries += 1;
        let img = image(rng.random_range(0..n))?;
        let origin = random_origin(&mut rng, shape.dims, img.extent(), shape.extent);
        let window = crop_planes(&img, origin, shape.extent);
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
        let sq = (2, Some([1, 5, 5]));
        let a = step_crops(5, 3, 4, sq, 2, get).unwrap();
        assert_eq!(a, step_crops(5, 3, 4, sq, 2, get).unwrap());
        assert_ne!(a, step_crops(5, 4, 4, sq, 2, get).unwrap());
        for c in &a {
            assert_eq!((c.channels, c.height, c.width), (2, 5, 5));
            // A window of a ramp: consecutive values along each row.
            assert!(
                c.data
                    .chunks(5)
                    .all(|r| r.windows(2).all(|p| p[1] == p[0] + 1.0))
            );
        }
        let whole = step_crops(5, 3, 1, (2, None), 2, get).unwrap();
        assert!(images.iter().any(|i| **i == whole[0]));
    }

    #[test]
    fn initial_filters_are_unit_norm_windows() {
        let images = [Arc::new(ramp(1, 8, 8))];
        let shape = FilterShapeNd::from(crate::conv::FilterShape {
            atoms: 3,
            channels: 1,
            kernel: 3,
        });
        let f = initial_filters(1, shape, 1, |i| Ok(Arc::clone(&images[i]))).unwrap();
        assert_eq!(f.len(), 27);
        for filter in f.chunks(9) {
            let norm: f32 = filter.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5);
        }
        assert_eq!(
            centre_crop(&images[0], [1, 2, 2]).data,
            [27.0, 28.0, 35.0, 36.0]
        );
    }
}
