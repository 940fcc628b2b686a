//! Training recipes: every hyperparameter of a run, per dataset and
//! gradient method, in one place. `lca snn train` starts from
//! [`for_method`] (surrogate BPTT: [`for_dataset`]; `--method eventprop`:
//! [`eventprop`]) and overrides only what the user passes; `--json` reports
//! the recipe it used, `lca snn recipe --dataset D [--method M]` prints it.
//!
//! The recipes are the ones measured in BENCHMARKS.md ("Spiking network"):
//! Yin-Yang 98.2 ± 0.3 %, digits 97.7 ± 0.4 % and the synthetic streams
//! task ~87 % test accuracy over seeds 0–4. They differ because the inputs differ: Yin-Yang has 4 dense
//! latency-coded features, so each hidden neuron needs strong weights
//! (scale 3) and trained decays and thresholds to read 60 fine time steps;
//! the digits have 64 pixels, most of them blank, over 20 steps, where the
//! same weight scale saturates the hidden layer and trained decays overfit
//! the 1347 training images (no validation set keeps the best epoch).
//! EventProp keeps each dataset's network but fixes the decays (its adjoint
//! does not train them) and reads the readout by an integral of its
//! voltage rather than its maximum (see [`yinyang_eventprop`]).
//!
//! ```
//! use lca::snn::defaults;
//! let r = defaults::for_dataset("digits");
//! assert_eq!((r.time_steps, r.hidden.as_slice(), r.train.epochs), (20, &[128][..], 30));
//! let net = r.network(64, 10, 0).unwrap();
//! assert_eq!(net.n_outputs(), 10);
//! ```

use serde::{Deserialize, Serialize};

use super::encoder::{EncoderConfig, Latency, Rate};
use super::eventprop::Method;
use super::layer::{LayerKind, LayerSpec};
use super::loss::Loss;
use super::network::Network;
use super::train::TrainConfig;
use crate::error::Result;
use crate::neuron::{CubaLif, Reset, Surrogate, SurrogateKind};

/// The time-to-first-spike loss with the settings `--loss ttfs` starts from:
/// τ₀ = 2 steps, τ₁ = 20 steps, no regulariser.
pub const TTFS: Loss = Loss::FirstSpike {
    tau0: 2.0,
    tau1: 20.0,
    gamma: 0.0,
};

/// How features become spikes (event streams are binned instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// [`Latency`] coding.
    Latency,
    /// [`Rate`] coding.
    Rate,
}

/// Every hyperparameter of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Recurrent hidden layers.
    pub recurrent: bool,
    /// Feature encoding (ignored for event streams).
    pub encoder: EncoderKind,
    /// Simulated steps per sample (bins of an event stream).
    pub time_steps: usize,
    /// Latency window; `None`: `time_steps − 10` (at least 1).
    pub window: Option<usize>,
    /// Spike probability per step of a feature equal to 1 (rate coding).
    pub max_rate: f32,
    /// Surrogate gradient.
    pub surrogate: Surrogate,
    /// Initial decays, threshold and reset of every layer.
    pub neuron: CubaLif,
    /// Train the decays (per layer).
    pub train_decays: bool,
    /// Train the thresholds (per layer).
    pub train_threshold: bool,
    /// Differentiate through the reset.
    pub reset_gradient: bool,
    /// Initial weight scale of hidden layers.
    pub weight_scale: f32,
    /// Initial weight scale of the output layer.
    pub output_scale: f32,
    /// Mean of the initial weights of hidden layers.
    #[serde(default)]
    pub weight_mean: f32,
    /// Mean of the initial weights of the output layer.
    #[serde(default)]
    pub output_mean: f32,
    /// Optimisation and loss.
    pub train: TrainConfig,
}

/// The recipe of a dataset: `yinyang`, `digits`, `streams` (the synthetic
/// spike-stream task; event files `*.npz` get the same recipe), anything
/// else (CSV files) the Yin-Yang recipe.
pub fn for_dataset(name: &str) -> Recipe {
    match name {
        _ if is_shd(name) => shd(),
        "digits" => digits(),
        "streams" => streams(),
        path if path.ends_with(".npz") => streams(),
        _ => yinyang(),
    }
}

/// The recipe of a dataset for a gradient method: [`for_dataset`] for
/// surrogate BPTT, [`eventprop`] for EventProp.
///
/// ```
/// use lca::snn::{defaults, Method};
/// let r = defaults::for_method("yinyang", Method::EventProp);
/// assert_eq!(r.train.method, Method::EventProp);
/// assert!(!r.train_decays);
/// assert_eq!(defaults::for_method("digits", Method::Surrogate), defaults::digits());
/// ```
pub fn for_method(name: &str, method: Method) -> Recipe {
    match method {
        Method::Surrogate => for_dataset(name),
        Method::EventProp => eventprop(name),
    }
}

/// The EventProp recipe of a dataset (same names as [`for_dataset`]).
pub fn eventprop(name: &str) -> Recipe {
    match name {
        _ if is_shd(name) => shd(),
        "digits" => digits_eventprop(),
        "streams" => streams_eventprop(),
        path if path.ends_with(".npz") => streams_eventprop(),
        _ => yinyang_eventprop(),
    }
}

/// Whether `name` names the Spiking Heidelberg Digits or Spiking Speech
/// Commands (`shd`, `ssc`, or a file as `shd:PATH.h5` / `ssc:PATH.h5`).
pub fn is_shd(name: &str) -> bool {
    matches!(name, "shd" | "ssc") || name.starts_with("shd:") || name.starts_with("ssc:")
}

/// SHD and SSC ([`crate::snn::shd`]) after Nowotny, Turner & Knight, "Loss
/// shaping enhances exact gradient learning with EventProp in spiking neural
/// networks" (arXiv 2212.01232): EventProp on one recurrent hidden layer
/// (700-256-20/35), τ_syn = 5 ms and τ_mem = 20 ms at 1 ms steps (decays
/// e^{−1/5}, e^{−1/20}; 1000 steps), fixed decays, and their loss shaping:
/// the cross-entropy of the exponentially weighted readout voltage
/// (`exp`, τ = the sample length), Adam at 10⁻³ in minibatches of 32.
/// Their best results (SHD 93.5 ± 0.7 %, SSC 74.1 ± 0.9 %) also use
/// augmentations (shift, blend), a delay-line input and spike-count
/// regularisation that lca does not implement; SHD cannot be downloaded
/// here, so this recipe is untested on it (`lca snn recipe --dataset shd`).
pub fn shd() -> Recipe {
    let mut r = yinyang();
    r.hidden = vec![256];
    r.recurrent = true;
    r.time_steps = 1000;
    r.neuron.current_decay = (-1.0f32 / 5.0).exp();
    r.neuron.voltage_decay = (-1.0f32 / 20.0).exp();
    r.train_decays = false;
    r.train_threshold = true;
    r.weight_scale = 1.0;
    r.weight_mean = 0.0;
    r.output_scale = 0.5;
    r.train.method = Method::EventProp;
    r.train.loss = Loss::ExpVoltage { tau: 1000.0 };
    r.train.batch_size = 32;
    r.train.lr = 1e-3;
    r.train.epochs = 100;
    r
}

/// Yin-Yang (and CSV files): 4-100-3, latency over 60 steps, trained decays
/// and thresholds, max-voltage readout, 60 epochs.
pub fn yinyang() -> Recipe {
    Recipe {
        hidden: vec![100],
        recurrent: false,
        encoder: EncoderKind::Latency,
        time_steps: 60,
        window: None,
        max_rate: 0.5,
        surrogate: Surrogate {
            kind: SurrogateKind::FastSigmoid,
            tau: 0.1,
            alpha: 1.0,
        },
        neuron: CubaLif {
            current_decay: 0.9,
            voltage_decay: 0.95,
            threshold: 1.0,
            reset: Reset::Zero,
            refractory: 0,
        },
        train_decays: true,
        train_threshold: true,
        reset_gradient: false,
        weight_scale: 3.0,
        output_scale: 0.05,
        weight_mean: 0.0,
        output_mean: 0.0,
        train: TrainConfig {
            epochs: 60,
            batch_size: 16,
            lr: 2e-3,
            lr_final: 0.05,
            keep_best: true,
            ..TrainConfig::default()
        },
    }
}

/// The 8×8 digits: 64-128-10, latency over 20 steps (window 16), fixed
/// faster decays and thresholds, smaller hidden and larger output weights,
/// 30 epochs.
pub fn digits() -> Recipe {
    let mut r = yinyang();
    r.hidden = vec![128];
    r.time_steps = 20;
    r.window = Some(16);
    r.neuron.current_decay = 0.85;
    r.neuron.voltage_decay = 0.9;
    r.train_decays = false;
    r.train_threshold = false;
    r.weight_scale = 1.5;
    r.output_scale = 1.0;
    r.train.epochs = 30;
    r
}

/// Spike streams (the synthetic task, event files): 50 bins, 100 hidden
/// neurons with faster decays (a = 0.8, β = 0.9: coincidences of a burst
/// matter, not slow integration), input dropout 0.2 against overfitting the
/// 2250 training streams, 30 epochs.
pub fn streams() -> Recipe {
    let mut r = yinyang();
    r.time_steps = 50;
    r.neuron.current_decay = 0.8;
    r.neuron.voltage_decay = 0.9;
    r.output_scale = 0.5;
    r.train.input_dropout = 0.2;
    r.train.epochs = 30;
    r
}

/// Yin-Yang by EventProp: the surrogate recipe's network with its decays
/// fixed at their initial values, the readout read by its time-averaged
/// voltage (`mean`), minibatches of 32 at learning rate 3·10⁻³.
///
/// The loss decides whether exact gradients learn (BENCHMARKS.md,
/// "EventProp recipes"): with the max-voltage readout of the surrogate
/// recipe the gradient reaches the hidden layer only through the spikes
/// just before each output's maximum, and training stalls near 75 %; the
/// integrated voltage gives every hidden spike a gradient (how much earlier
/// or later it moves the area under the readout).
pub fn yinyang_eventprop() -> Recipe {
    let mut r = yinyang();
    r.train.method = Method::EventProp;
    r.train_decays = false;
    r.train.loss = Loss::MeanVoltage;
    r.train.batch_size = 32;
    r.train.lr = 3e-3;
    r
}

/// Digits by EventProp: the surrogate recipe (its decays are fixed already)
/// with the exponentially weighted readout voltage, τ = 20 steps (the
/// length of a sample), instead of its maximum.
pub fn digits_eventprop() -> Recipe {
    let mut r = digits();
    r.train.method = Method::EventProp;
    r.train_decays = false;
    r.train.loss = Loss::ExpVoltage { tau: 20.0 };
    r
}

/// Spike streams by EventProp: the surrogate recipe with fixed decays and
/// the integrated readout voltage (not tuned: the Yin-Yang choice).
pub fn streams_eventprop() -> Recipe {
    let mut r = streams();
    r.train.method = Method::EventProp;
    r.train_decays = false;
    r.train.loss = Loss::MeanVoltage;
    r
}

impl Recipe {
    /// The feature encoder.
    pub fn encoder(&self) -> EncoderConfig {
        match self.encoder {
            EncoderKind::Latency => EncoderConfig::Latency(Latency {
                steps: self.time_steps,
                window: self
                    .window
                    .unwrap_or(self.time_steps.saturating_sub(10).max(1)),
            }),
            EncoderKind::Rate => EncoderConfig::Rate(Rate {
                steps: self.time_steps,
                max_rate: self.max_rate,
            }),
        }
    }

    /// Layers for `n_classes` outputs: the hidden layers, then a readout
    /// (voltage losses) or a spiking output layer.
    pub fn layer_specs(&self, n_classes: usize) -> Vec<LayerSpec> {
        let layer = |kind, size, scale, mean| {
            let mut s = LayerSpec::new(
                kind,
                size,
                self.neuron.current_decay,
                self.neuron.voltage_decay,
            );
            s.neuron = self.neuron;
            s.train_decays = self.train_decays;
            s.train_threshold = self.train_threshold;
            s.weight_scale = scale;
            s.weight_mean = mean;
            s
        };
        let hidden_kind = if self.recurrent {
            LayerKind::Recurrent
        } else {
            LayerKind::FeedForward
        };
        let mut specs: Vec<LayerSpec> = self
            .hidden
            .iter()
            .filter(|&&h| h > 0)
            .map(|&h| layer(hidden_kind, h, self.weight_scale, self.weight_mean))
            .collect();
        let out_kind = if self.train.loss.needs_readout() {
            LayerKind::Readout
        } else {
            LayerKind::FeedForward
        };
        specs.push(layer(
            out_kind,
            n_classes,
            self.output_scale,
            self.output_mean,
        ));
        specs
    }

    /// The initial network for `n_inputs` channels and `n_classes` classes.
    pub fn network(&self, n_inputs: usize, n_classes: usize, seed: u64) -> Result<Network> {
        let specs = self.layer_specs(n_classes);
        let mut net = Network::new(n_inputs, &specs, self.surrogate, seed)?;
        net.detach_reset = !self.reset_gradient;
        if self.train.method == super::Method::EventProp {
            // EventProp differentiates spikes timed within their step.
            net.timing = super::SpikeTiming::Interpolated;
        }
        Ok(net)
    }
}
