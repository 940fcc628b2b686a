//! Spike-stream datasets: per sample, a list of events (time, channel) and a
//! label, as neural interfaces deliver them, binned onto the simulation steps
//! only when a sample is used.
//!
//! # File layout (`.npz`, CSR-like)
//!
//! | entry | dtype | shape | meaning |
//! | --- | --- | --- | --- |
//! | `times` | float32 or float64 | `(n_events,)` | event times, all samples concatenated, in `[0, duration]` |
//! | `channels` | int32 or int64 | `(n_events,)` | channel of each event, in `0..n_channels` |
//! | `offsets` | int32 or int64 | `(n_samples + 1,)` | sample `i` owns events `offsets[i]..offsets[i+1]`; `offsets[0] = 0`, non-decreasing, last = `n_events` |
//! | `labels` | int32 or int64 | `(n_samples,)` | class of each sample, `>= 0` |
//! | `n_channels` | integer | `()` or `(1,)`, optional | default: largest channel + 1 |
//! | `duration` | float | `()` or `(1,)`, optional | length of every sample, same unit as `times`; default: the largest time |
//!
//! Written from numpy with
//! `np.savez(path, times=t.astype(np.float32), channels=c, offsets=o, labels=y, n_channels=np.int64(C), duration=np.float32(T))`.
//! Events need not be sorted. A sample of `steps` steps puts the event at
//! time `t` into step `floor(t / duration · steps)` (the last step for
//! `t = duration`); several events of one channel in one step add up.
//!
//! ```
//! use lca::snn::{EventDataset, StreamTask};
//! let data = StreamTask { samples: 12, ..StreamTask::default() }.generate(0);
//! let train = data.bin(0, 50);
//! assert_eq!((train.steps, train.channels), (50, 20));
//! assert_eq!(train.data.iter().sum::<f32>() as usize, data.events(0).0.len());
//! ```

use std::borrow::Cow;
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson};
use serde::{Deserialize, Serialize};

use super::encoder::SpikeTrain;
use super::samples::Samples;
use crate::error::{Error, Result};
use crate::io::npy::{Dtype, NpyArray};
use crate::io::npz;

/// Labelled event streams in the CSR layout of the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct EventDataset {
    /// Input channels.
    pub n_channels: usize,
    /// Length of every sample (unit of `times`).
    pub duration: f32,
    /// Event times, all samples concatenated.
    pub times: Vec<f32>,
    /// Channel of each event.
    pub channels: Vec<u32>,
    /// `len + 1` offsets into `times` / `channels`.
    pub offsets: Vec<usize>,
    /// Class of each sample.
    pub labels: Vec<usize>,
    /// Number of classes (largest label + 1 unless given).
    pub n_classes: usize,
}

/// How a model reads event streams: `steps` bins over `duration`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binning {
    /// Simulation steps per sample.
    pub steps: usize,
    /// Length of a sample.
    pub duration: f32,
    /// Input channels.
    pub n_channels: usize,
}

impl EventDataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Times and channels of sample `i`'s events.
    pub fn events(&self, i: usize) -> (&[f32], &[u32]) {
        let r = self.offsets[i]..self.offsets[i + 1];
        (&self.times[r.clone()], &self.channels[r])
    }

    /// Sample `i` binned onto `steps` steps (see the module docs).
    pub fn bin(&self, i: usize, steps: usize) -> SpikeTrain {
        let mut s = SpikeTrain::zeros(steps, self.n_channels);
        if steps == 0 {
            return s;
        }
        let (times, channels) = self.events(i);
        let scale = steps as f32 / self.duration;
        for (&t, &c) in times.iter().zip(channels) {
            let k = ((t * scale) as usize).min(steps - 1);
            s.data[k * self.n_channels + c as usize] += 1.0;
        }
        s
    }

    /// Events per channel of sample `i` (what a count-only decoder sees).
    pub fn counts(&self, i: usize) -> Vec<f32> {
        let mut c = vec![0.0; self.n_channels];
        for &ch in self.events(i).1 {
            c[ch as usize] += 1.0;
        }
        c
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> EventDataset {
        let mut out = EventDataset {
            times: Vec::new(),
            channels: Vec::new(),
            offsets: vec![0],
            labels: Vec::with_capacity(indices.len()),
            ..self.clone_header()
        };
        for &i in indices {
            let (t, c) = self.events(i);
            out.times.extend_from_slice(t);
            out.channels.extend_from_slice(c);
            out.offsets.push(out.times.len());
            out.labels.push(self.labels[i]);
        }
        out
    }

    fn clone_header(&self) -> EventDataset {
        EventDataset {
            n_channels: self.n_channels,
            duration: self.duration,
            times: Vec::new(),
            channels: Vec::new(),
            offsets: Vec::new(),
            labels: Vec::new(),
            n_classes: self.n_classes,
        }
    }

    /// The binning a network trained on these streams with `steps` steps uses.
    pub fn binning(&self, steps: usize) -> Binning {
        Binning {
            steps,
            duration: self.duration,
            n_channels: self.n_channels,
        }
    }

    /// Writes the streams in the layout of the module docs (times float32,
    /// channels int32, offsets and labels int64, both optional scalars),
    /// atomically.
    pub fn write_npz(&self, path: &Path) -> Result<()> {
        let offsets: Vec<i64> = self.offsets.iter().map(|&o| o as i64).collect();
        let labels: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
        let channels: Vec<i32> = self.channels.iter().map(|&c| c as i32).collect();
        let times = NpyArray::from_f32(vec![self.times.len()], &self.times)?;
        let channels = NpyArray::from_i32(vec![channels.len()], &channels)?;
        let offsets = NpyArray::from_i64(vec![offsets.len()], &offsets)?;
        let labels = NpyArray::from_i64(vec![labels.len()], &labels)?;
        let n_channels = NpyArray::from_i64(vec![], &[self.n_channels as i64])?;
        let duration = NpyArray::from_f32(vec![], &[self.duration])?;
        npz::write_npz(
            path,
            &[
                ("times", &times),
                ("channels", &channels),
                ("offsets", &offsets),
                ("labels", &labels),
                ("n_channels", &n_channels),
                ("duration", &duration),
            ],
        )
    }

    /// Reads streams in the layout of the module docs; `n_classes` (else
    /// the largest label + 1) fixes the classes. Memory is proportional to
    /// the number of events (entry sizes are checked against the archive
    /// before decompression, see [`crate::io::npz`]); every inconsistency is
    /// an error naming the file and the entry.
    pub fn read_npz(path: &Path, n_classes: Option<usize>) -> Result<EventDataset> {
        let mut arrays = npz::read_npz(path)?;
        let mut take = |name: &str| -> Option<NpyArray> {
            let i = arrays.iter().position(|(n, _)| n == name)?;
            Some(arrays.swap_remove(i).1)
        };
        let bad = |name: &str, msg: String| Error::format(path.join(format!("{name}.npy")), msg);
        let need = |name: &str, a: Option<NpyArray>| {
            a.ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "missing entry '{name}.npy': an event file holds times, channels, offsets and labels"
                    ),
                )
            })
        };
        let one_d = |name: &str, a: &NpyArray| -> Result<()> {
            if a.header.shape.len() != 1 {
                return Err(bad(
                    name,
                    format!("expected a 1-D array, found shape {:?}", a.header.shape),
                ));
            }
            Ok(())
        };
        let ints = |name: &str, a: NpyArray| -> Result<Vec<i64>> {
            one_d(name, &a)?;
            if !matches!(a.header.dtype, Dtype::I32 | Dtype::I64) {
                return Err(bad(
                    name,
                    format!("dtype {} is not int32 or int64", a.header.dtype),
                ));
            }
            Ok(a.to_i64_vec().unwrap_or_default())
        };
        let scalar = |name: &str, a: &NpyArray| -> Result<()> {
            if a.len() != 1 || a.header.shape.len() > 1 {
                return Err(bad(
                    name,
                    format!("expected one value, found shape {:?}", a.header.shape),
                ));
            }
            Ok(())
        };

        let times = need("times", take("times"))?;
        one_d("times", &times)?;
        let times = times.to_f32_vec().ok_or_else(|| {
            bad(
                "times",
                format!("dtype {} is not float32 or float64", times.header.dtype),
            )
        })?;
        let channels = ints("channels", need("channels", take("channels"))?)?;
        let offsets = ints("offsets", need("offsets", take("offsets"))?)?;
        let labels = ints("labels", need("labels", take("labels"))?)?;
        if channels.len() != times.len() {
            return Err(Error::format(
                path,
                format!(
                    "{} times but {} channels: every event needs both",
                    times.len(),
                    channels.len()
                ),
            ));
        }
        if offsets.len() != labels.len() + 1 {
            return Err(Error::format(
                path,
                format!(
                    "offsets has {} entries, expected labels + 1 = {}",
                    offsets.len(),
                    labels.len() + 1
                ),
            ));
        }
        if labels.is_empty() {
            return Err(Error::format(path, "no samples (labels is empty)"));
        }
        if offsets[0] != 0 || offsets[offsets.len() - 1] != times.len() as i64 {
            return Err(Error::format(
                path,
                format!(
                    "offsets must run from 0 to the number of events {} (found {} .. {})",
                    times.len(),
                    offsets[0],
                    offsets[offsets.len() - 1]
                ),
            ));
        }
        if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
            return Err(bad(
                "offsets",
                format!(
                    "decreases at sample {i} ({} then {})",
                    offsets[i],
                    offsets[i + 1]
                ),
            ));
        }
        if let Some(k) = channels
            .iter()
            .position(|&c| !(0..=u32::MAX as i64).contains(&c))
        {
            return Err(bad(
                "channels",
                format!("event {k} has negative channel {}", channels[k]),
            ));
        }
        if let Some(k) = labels.iter().position(|&l| !(0..1_000_000).contains(&l)) {
            return Err(bad(
                "labels",
                format!(
                    "sample {k} has label {}: expected a class in 0..10⁶",
                    labels[k]
                ),
            ));
        }
        if let Some(k) = times.iter().position(|t| !(t.is_finite() && *t >= 0.0)) {
            return Err(bad(
                "times",
                format!(
                    "event {k} has time {}: expected a finite time >= 0",
                    times[k]
                ),
            ));
        }
        let max_channel = channels.iter().copied().max().map_or(0, |c| c + 1);
        let n_channels = match take("n_channels") {
            Some(a) => {
                scalar("n_channels", &a)?;
                match a.to_i64_vec().as_deref() {
                    Some(&[c]) if c >= max_channel && c > 0 => c as usize,
                    Some(&[c]) => {
                        return Err(bad(
                            "n_channels",
                            format!(
                                "{c} channels, but an event uses channel {}",
                                max_channel - 1
                            ),
                        ));
                    }
                    _ => return Err(bad("n_channels", "expected an integer".into())),
                }
            }
            None if max_channel > 0 => max_channel as usize,
            None => {
                return Err(Error::format(
                    path,
                    "no events and no n_channels: cannot tell the number of inputs",
                ));
            }
        };
        let max_time = times.iter().copied().fold(0.0f32, f32::max);
        let duration = match take("duration") {
            Some(a) => {
                scalar("duration", &a)?;
                match a.to_f32_vec().as_deref() {
                    Some(&[d]) if d.is_finite() && d > 0.0 && d >= max_time => d,
                    Some(&[d]) => {
                        return Err(bad(
                            "duration",
                            format!(
                                "{d} must be finite, positive and cover the latest event ({max_time})"
                            ),
                        ));
                    }
                    _ => return Err(bad("duration", "expected a float".into())),
                }
            }
            None if max_time > 0.0 => max_time,
            None => 1.0,
        };
        let labels: Vec<usize> = labels.into_iter().map(|l| l as usize).collect();
        let largest = labels.iter().max().map_or(0, |m| m + 1);
        let n_classes = match n_classes {
            Some(k) if largest > k => {
                return Err(bad(
                    "labels",
                    format!("label {} out of range (classes 0..{})", largest - 1, k - 1),
                ));
            }
            Some(k) => k,
            None => largest,
        };
        Ok(EventDataset {
            n_channels,
            duration,
            times,
            channels: channels.into_iter().map(|c| c as u32).collect(),
            offsets: offsets.into_iter().map(|o| o as usize).collect(),
            labels,
            n_classes,
        })
    }
}

/// An [`EventDataset`] binned onto `steps` steps on demand (one sample's
/// train in memory per worker).
pub struct Binned<'a> {
    /// The streams.
    pub data: &'a EventDataset,
    /// Simulation steps per sample.
    pub steps: usize,
}

impl Samples for Binned<'_> {
    fn len(&self) -> usize {
        self.data.len()
    }
    fn label(&self, i: usize) -> usize {
        self.data.labels[i]
    }
    fn spikes(&self, i: usize, _epoch: u64) -> Cow<'_, SpikeTrain> {
        Cow::Owned(self.data.bin(i, self.steps))
    }
}

/// A synthetic multi-channel decoding task where spike timing matters.
///
/// Classes come in pairs: `n_classes / 2` rate profiles × 2 temporal orders.
/// Profile `p` owns two groups of `group` channels, `A_p` and `B_p`, which
/// fire tonically at `tonic_rate` on top of the `background_rate` every
/// channel has, and each emit a burst of `burst_spikes` spikes per channel:
/// in class `2p` group `A_p` bursts at a random onset and `B_p` `lag` later,
/// in class `2p + 1` the other way round. Burst spikes are jittered by
/// `N(0, jitter²)` and each is dropped with probability `drop`. The two
/// classes of a pair have the same distribution of per-channel counts, so a
/// decoder of counts alone cannot tell them apart (it can reach at best
/// `1/2` on them), while the order of the bursts separates them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamTask {
    /// Number of samples (classes drawn uniformly).
    pub samples: usize,
    /// Number of classes (even, ≥ 2).
    pub n_classes: usize,
    /// Channels per burst group.
    pub group: usize,
    /// Extra channels that carry only background events.
    pub noise_channels: usize,
    /// Length of a sample (seconds).
    pub duration: f32,
    /// Background rate of every channel (events per second).
    pub background_rate: f32,
    /// Extra rate of the active profile's channels (events per second).
    pub tonic_rate: f32,
    /// Spikes per channel in a burst (before dropping).
    pub burst_spikes: usize,
    /// Delay between the two bursts (seconds).
    pub lag: f32,
    /// Standard deviation of burst spike times (seconds).
    pub jitter: f32,
    /// Probability that a burst spike is dropped.
    pub drop: f32,
    /// Earliest and latest onset of the first burst (seconds).
    pub onset: (f32, f32),
}

impl Default for StreamTask {
    fn default() -> Self {
        StreamTask {
            samples: 3000,
            n_classes: 6,
            group: 3,
            noise_channels: 2,
            duration: 1.0,
            background_rate: 2.0,
            tonic_rate: 3.0,
            burst_spikes: 2,
            lag: 0.15,
            jitter: 0.015,
            drop: 0.2,
            onset: (0.1, 0.6),
        }
    }
}

impl StreamTask {
    /// Number of channels: two groups per profile plus the noise channels.
    pub fn n_channels(&self) -> usize {
        self.n_classes / 2 * 2 * self.group + self.noise_channels
    }

    /// Checks the settings.
    pub fn check(&self) -> Result<()> {
        if self.n_classes < 2 || !self.n_classes.is_multiple_of(2) {
            return Err(Error::setting(
                "n_classes",
                format!("must be even and >= 2 (got {})", self.n_classes),
            ));
        }
        if self.group == 0 || self.samples == 0 || self.burst_spikes == 0 {
            return Err(Error::setting(
                "group",
                "groups, samples and burst spikes must be at least 1",
            ));
        }
        let (lo, hi) = self.onset;
        if !(self.duration > 0.0 && lo >= 0.0 && hi >= lo && hi + self.lag <= self.duration) {
            return Err(Error::setting(
                "onset",
                "onsets must lie in [0, duration − lag] with the duration positive",
            ));
        }
        if !((0.0..1.0).contains(&self.drop)
            && self.jitter >= 0.0
            && self.background_rate >= 0.0
            && self.tonic_rate >= 0.0
            && self.lag >= 0.0)
        {
            return Err(Error::setting(
                "drop",
                "drop must lie in [0, 1); jitter, rates and lag be >= 0",
            ));
        }
        Ok(())
    }

    /// Draws the dataset; the same `seed` gives the same events. Events of a
    /// sample are in time order.
    ///
    /// # Panics
    ///
    /// If the settings fail [`StreamTask::check`].
    pub fn generate(&self, seed: u64) -> EventDataset {
        if let Err(e) = self.check() {
            panic!("{e}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5354_5245_414D_5321);
        let n_channels = self.n_channels();
        let jitter = Normal::new(0.0f32, self.jitter).expect("jitter checked");
        let poisson = |rate: f32| Poisson::new(f64::from(rate * self.duration)).ok();
        let background = poisson(self.background_rate);
        let tonic = poisson(self.tonic_rate);
        let mut out = EventDataset {
            n_channels,
            duration: self.duration,
            times: Vec::new(),
            channels: Vec::new(),
            offsets: vec![0],
            labels: Vec::with_capacity(self.samples),
            n_classes: self.n_classes,
        };
        let mut events: Vec<(f32, u32)> = Vec::new();
        for _ in 0..self.samples {
            let label = rng.random_range(0..self.n_classes);
            let (profile, order) = (label / 2, label % 2);
            let a = profile * 2 * self.group;
            let groups = [a..a + self.group, a + self.group..a + 2 * self.group];
            events.clear();
            let mut uniform = |rng: &mut ChaCha8Rng, c: usize, n: f64| {
                for _ in 0..n as usize {
                    events.push((rng.random::<f32>() * self.duration, c as u32));
                }
            };
            for c in 0..n_channels {
                if let Some(d) = background {
                    let n = d.sample(&mut rng);
                    uniform(&mut rng, c, n);
                }
                if groups.iter().any(|g| g.contains(&c))
                    && let Some(d) = tonic
                {
                    let n = d.sample(&mut rng);
                    uniform(&mut rng, c, n);
                }
            }
            let onset = self.onset.0 + rng.random::<f32>() * (self.onset.1 - self.onset.0);
            let (first, second) = if order == 0 { (0, 1) } else { (1, 0) };
            for (g, at) in [(first, onset), (second, onset + self.lag)] {
                for c in groups[g].clone() {
                    for _ in 0..self.burst_spikes {
                        let t = at + jitter.sample(&mut rng);
                        let keep = rng.random::<f32>() >= self.drop;
                        if keep && (0.0..self.duration).contains(&t) {
                            events.push((t, c as u32));
                        }
                    }
                }
            }
            events.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            for &(t, c) in &events {
                out.times.push(t);
                out.channels.push(c);
            }
            out.offsets.push(out.times.len());
            out.labels.push(label);
        }
        out
    }
}
