//! Labelled spike trains as the trainers read them: the [`Samples`] trait,
//! its sources (features encoded on the fly, trains computed beforehand,
//! input dropout over either) and the fixed chunk of parallel work. A leaf:
//! networks, EventProp, training and event streams all build on it.

use std::borrow::Cow;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::data::Dataset;
use super::encoder::{Encoder, SpikeTrain, sample_seed};

/// Samples per unit of parallel work; fixed so results do not depend on the
/// thread count.
pub const CHUNK: usize = 8;

/// Labelled spike trains, produced on demand.
pub trait Samples: Sync {
    /// Number of samples.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Class of sample `i`.
    fn label(&self, i: usize) -> usize;
    /// Spike train of sample `i` in pass `epoch` (stochastic encoders draw a
    /// new train per epoch, reproducibly).
    fn spikes(&self, i: usize, epoch: u64) -> Cow<'_, SpikeTrain>;
}

/// A dataset encoded on the fly.
pub struct Encoded<'a, E: Encoder + ?Sized> {
    /// Features in `[0, 1]` and labels.
    pub data: &'a Dataset,
    /// The encoder.
    pub encoder: &'a E,
    /// Seed of stochastic encoders.
    pub seed: u64,
}

impl<E: Encoder + ?Sized> Samples for Encoded<'_, E> {
    fn len(&self) -> usize {
        self.data.len()
    }
    fn label(&self, i: usize) -> usize {
        self.data.labels[i]
    }
    fn spikes(&self, i: usize, epoch: u64) -> Cow<'_, SpikeTrain> {
        Cow::Owned(
            self.encoder
                .encode(self.data.row(i), sample_seed(self.seed, epoch, i as u64)),
        )
    }
}

/// Spike trains computed beforehand (e.g. by the spiking LCA) with labels.
#[derive(Clone, Debug, PartialEq)]
pub struct SpikeDataset {
    /// One train per sample.
    pub trains: Vec<SpikeTrain>,
    /// One class per sample.
    pub labels: Vec<usize>,
}

impl Samples for SpikeDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn label(&self, i: usize) -> usize {
        self.labels[i]
    }
    fn spikes(&self, i: usize, _epoch: u64) -> Cow<'_, SpikeTrain> {
        Cow::Borrowed(&self.trains[i])
    }
}

/// Training samples with input dropout (see [`crate::snn::TrainConfig::input_dropout`]):
/// the mask of sample `i` in pass `epoch` is drawn from
/// [`sample_seed`]`(seed, epoch, i)`, so it does not depend on the thread.
pub struct InputDropout<'a> {
    /// The samples.
    pub inner: &'a dyn Samples,
    /// Drop probability, in `[0, 1)`.
    pub p: f32,
    /// Seed of the masks.
    pub seed: u64,
}

impl Samples for InputDropout<'_> {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn label(&self, i: usize) -> usize {
        self.inner.label(i)
    }
    fn spikes(&self, i: usize, epoch: u64) -> Cow<'_, SpikeTrain> {
        let x = self.inner.spikes(i, epoch);
        if self.p <= 0.0 {
            return x;
        }
        let mut x = x.into_owned();
        let mut rng = ChaCha8Rng::seed_from_u64(sample_seed(self.seed, epoch, i as u64));
        let keep = 1.0 / (1.0 - self.p);
        for v in &mut x.data {
            if *v != 0.0 {
                *v = if rng.random::<f32>() < self.p {
                    0.0
                } else {
                    *v * keep
                };
            }
        }
        Cow::Owned(x)
    }
}
