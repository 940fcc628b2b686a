//! Spike encoders: how a feature vector becomes a spike train.
//!
//! Every encoder produces a [`SpikeTrain`], a dense `[steps × channels]`
//! matrix of 0/1 values, so the network never needs to know where its spikes
//! came from: latency codes, Bernoulli rate codes, or spike trains recorded
//! from the spiking LCA (see [`SpikeTrain::from_events`]).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A dense spike raster: `data[t * channels + c]` is the spike (0.0 or 1.0,
/// or any real value for analog input) of channel `c` at step `t`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpikeTrain {
    /// Number of time steps `T`.
    pub steps: usize,
    /// Number of input channels (neurons).
    pub channels: usize,
    /// Row-major `[steps × channels]` values.
    pub data: Vec<f32>,
}

impl SpikeTrain {
    /// A silent train.
    pub fn zeros(steps: usize, channels: usize) -> Self {
        SpikeTrain {
            steps,
            channels,
            data: vec![0.0; steps * channels],
        }
    }

    /// A train from `(neuron, step)` events, the form spiking solvers record.
    /// Several events at the same place count once.
    ///
    /// ```
    /// use lca::snn::SpikeTrain;
    /// let s = SpikeTrain::from_events(3, 2, &[(1, 0), (0, 2)]).unwrap();
    /// assert_eq!(s.step(0), &[0.0, 1.0]);
    /// assert_eq!(s.events(), vec![(1, 0), (0, 2)]);
    /// ```
    pub fn from_events(steps: usize, channels: usize, events: &[(usize, usize)]) -> Result<Self> {
        let mut s = SpikeTrain::zeros(steps, channels);
        for &(n, t) in events {
            if n >= channels || t >= steps {
                return Err(Error::Shape(format!(
                    "spike event (neuron {n}, step {t}) outside a train of {channels} neurons × {steps} steps"
                )));
            }
            s.data[t * channels + n] = 1.0;
        }
        Ok(s)
    }

    /// Values of every channel at step `t`.
    #[inline]
    pub fn step(&self, t: usize) -> &[f32] {
        &self.data[t * self.channels..(t + 1) * self.channels]
    }

    /// Non-zero entries as `(neuron, step)`, in time order.
    pub fn events(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for t in 0..self.steps {
            for (n, &v) in self.step(t).iter().enumerate() {
                if v != 0.0 {
                    out.push((n, t));
                }
            }
        }
        out
    }

    /// Number of non-zero entries.
    pub fn count(&self) -> usize {
        self.data.iter().filter(|&&v| v != 0.0).count()
    }
}

/// Turns one feature vector (values in `[0, 1]`) into a spike train.
pub trait Encoder: Sync {
    /// Length of the produced trains.
    fn steps(&self) -> usize;
    /// Channels produced for `n_features` input features.
    fn channels(&self, n_features: usize) -> usize;
    /// Encodes `x`; `seed` makes stochastic encoders reproducible per sample.
    fn encode(&self, x: &[f32], seed: u64) -> SpikeTrain;
}

/// Time-to-first-spike coding: each feature fires once, the larger the value
/// the earlier: `t = round((1 − x)·(window − 1))`; values `≤ 0` stay silent.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Length of the train (the network keeps integrating after `window`).
    pub steps: usize,
    /// Steps over which spike times are spread (`≤ steps`).
    pub window: usize,
}

impl Encoder for Latency {
    fn steps(&self) -> usize {
        self.steps
    }
    fn channels(&self, n_features: usize) -> usize {
        n_features
    }
    fn encode(&self, x: &[f32], _seed: u64) -> SpikeTrain {
        let mut s = SpikeTrain::zeros(self.steps, x.len());
        let last = self.window.clamp(1, self.steps.max(1)) - 1;
        for (c, &v) in x.iter().enumerate() {
            if v > 0.0 && self.steps > 0 {
                let t = ((1.0 - v.min(1.0)) * last as f32).round() as usize;
                s.data[t * x.len() + c] = 1.0;
            }
        }
        s
    }
}

/// Bernoulli rate coding: at every step feature `x` spikes with probability
/// `max_rate · clamp(x, 0, 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Length of the train.
    pub steps: usize,
    /// Spike probability per step of a feature equal to 1.
    pub max_rate: f32,
}

impl Encoder for Rate {
    fn steps(&self) -> usize {
        self.steps
    }
    fn channels(&self, n_features: usize) -> usize {
        n_features
    }
    fn encode(&self, x: &[f32], seed: u64) -> SpikeTrain {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut s = SpikeTrain::zeros(self.steps, x.len());
        for t in 0..self.steps {
            for (c, &v) in x.iter().enumerate() {
                let p = self.max_rate * v.clamp(0.0, 1.0);
                if rng.random::<f32>() < p {
                    s.data[t * x.len() + c] = 1.0;
                }
            }
        }
        s
    }
}

/// The encoders a saved model can name.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EncoderConfig {
    /// [`Latency`].
    Latency(Latency),
    /// [`Rate`].
    Rate(Rate),
}

impl Encoder for EncoderConfig {
    fn steps(&self) -> usize {
        match self {
            EncoderConfig::Latency(e) => e.steps(),
            EncoderConfig::Rate(e) => e.steps(),
        }
    }
    fn channels(&self, n_features: usize) -> usize {
        match self {
            EncoderConfig::Latency(e) => e.channels(n_features),
            EncoderConfig::Rate(e) => e.channels(n_features),
        }
    }
    fn encode(&self, x: &[f32], seed: u64) -> SpikeTrain {
        match self {
            EncoderConfig::Latency(e) => e.encode(x, seed),
            EncoderConfig::Rate(e) => e.encode(x, seed),
        }
    }
}

/// Spike trains of the spiking LCA ([`crate::solver::SpikingLca`]), one per
/// recorded signal: `[steps/bin × n_neurons]`, each network step holding the
/// number of spikes of each LCA neuron in `bin` consecutive solver steps
/// (ON/OFF pairs of signed codes are separate channels).
///
/// ```
/// use lca::snn::trains_from_record;
/// use lca::solver::SpikeRecord;
/// let rec = SpikeRecord { n_atoms: 2, n_neurons: 2, steps: 4, settle: 1,
///     signal: vec![0, 0, 1], neuron: vec![1, 1, 0], step: vec![0, 1, 3], quantum: vec![1.0, 1.0] };
/// let t = trains_from_record(&rec, 2).unwrap();
/// assert_eq!(t[0].data, vec![0.0, 2.0, 0.0, 0.0]);
/// assert_eq!(t[1].data, vec![0.0, 0.0, 1.0, 0.0]);
/// ```
pub fn trains_from_record(
    record: &crate::solver::SpikeRecord,
    bin: usize,
) -> Result<Vec<SpikeTrain>> {
    if bin == 0 {
        return Err(Error::setting(
            "bin",
            "spike bins must span at least one step",
        ));
    }
    let steps = record.steps.div_ceil(bin);
    let n = record.n_neurons;
    let mut trains = vec![SpikeTrain::zeros(steps, n); record.n_signals()];
    for ((&sig, &neuron), &step) in record.signal.iter().zip(&record.neuron).zip(&record.step) {
        let (sig, neuron, step) = (sig as usize, neuron as usize, step as usize);
        if sig >= trains.len() || neuron >= n || step >= record.steps {
            return Err(Error::Shape(format!(
                "spike (signal {sig}, neuron {neuron}, step {step}) outside the record"
            )));
        }
        trains[sig].data[(step / bin) * n + neuron] += 1.0;
    }
    Ok(trains)
}

/// The spiking LCA as an [`Encoder`]: features are a signal, the spike
/// train is what the solver's neurons fire while encoding it over a
/// dictionary ([`trains_from_record`] with `bin` solver steps per step).
/// Encoding whole datasets at once with [`crate::solver::SpikingLca::encode`]
/// and [`trains_from_record`] is faster (one parallel call).
pub struct SpikingLcaEncoder {
    /// Dictionary whose atoms the neurons stand for.
    pub dictionary: crate::Dictionary,
    /// Validated solver (spikes are recorded whatever its setting).
    pub solver: crate::solver::SpikingLca,
    /// Solver steps merged into one network step.
    pub bin: usize,
}

impl SpikingLcaEncoder {
    /// Encodes the columns of `signals` (`n_features × n_signals`) at once.
    pub fn encode_all(&self, signals: &nalgebra::DMatrix<f32>) -> Result<Vec<SpikeTrain>> {
        let params = self.solver.params().clone().record_spikes(true).check()?;
        let enc = params.encode(&self.dictionary, signals)?;
        let record = enc
            .spikes
            .ok_or_else(|| Error::Data("the solver recorded no spikes".into()))?;
        trains_from_record(&record, self.bin)
    }
}

impl Encoder for SpikingLcaEncoder {
    fn steps(&self) -> usize {
        self.solver.params().steps.div_ceil(self.bin.max(1))
    }
    fn channels(&self, _n_features: usize) -> usize {
        let k = self.dictionary.n_atoms();
        if self.solver.params().nonneg {
            k
        } else {
            2 * k
        }
    }
    fn encode(&self, x: &[f32], _seed: u64) -> SpikeTrain {
        let signal = nalgebra::DMatrix::from_column_slice(x.len(), 1, x);
        match self.encode_all(&signal) {
            Ok(mut t) if t.len() == 1 => t.pop().unwrap_or_else(|| SpikeTrain::zeros(0, 0)),
            _ => SpikeTrain::zeros(self.steps(), self.channels(x.len())),
        }
    }
}

/// Seed of sample `index` in pass `epoch` (SplitMix64 of the mixed words), so a
/// sample's random encoding never depends on the thread that drew it.
pub fn sample_seed(seed: u64, epoch: u64, index: u64) -> u64 {
    let mut z = seed
        ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_fires_once_earlier_for_larger_values() {
        let e = Latency {
            steps: 12,
            window: 11,
        };
        let s = e.encode(&[1.0, 0.5, 0.0, 0.1], 0);
        assert_eq!(s.events(), vec![(0, 0), (1, 5), (3, 9)]);
    }

    #[test]
    fn rate_matches_its_probability_and_seed() {
        let e = Rate {
            steps: 4000,
            max_rate: 0.5,
        };
        let a = e.encode(&[1.0, 0.2], 7);
        assert_eq!(a, e.encode(&[1.0, 0.2], 7));
        let c0 = (0..4000).filter(|&t| a.step(t)[0] > 0.0).count() as f32 / 4000.0;
        let c1 = (0..4000).filter(|&t| a.step(t)[1] > 0.0).count() as f32 / 4000.0;
        assert!(
            (c0 - 0.5).abs() < 0.03 && (c1 - 0.1).abs() < 0.02,
            "{c0} {c1}"
        );
    }
}
