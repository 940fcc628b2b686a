//! The batch loop of the convolutional solvers: images in parallel, in
//! image order, with cancellation and progress.

use rayon::prelude::*;

use super::planes::Planes;
use crate::error::{Error, Result};
use crate::solver::Monitor;

/// `work(index, image)` for every image in parallel, in image order: an
/// image not yet started once the caller cancelled gives
/// [`Error::Interrupted`], and each finished one is reported to the
/// monitor's progress. The batch loop of both convolutional solvers.
pub(super) fn each_image<T: Send>(
    images: &[Planes],
    monitor: Monitor<'_>,
    work: impl Fn(usize, &Planes) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    images
        .par_iter()
        .enumerate()
        .map(|(i, image)| {
            if monitor.cancelled() {
                return Err(Error::Interrupted);
            }
            let out = work(i, image)?;
            if let Some(progress) = monitor.progress {
                progress(1);
            }
            Ok(out)
        })
        .collect()
}
