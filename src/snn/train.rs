//! Minibatch training with Adam, evaluation, and saved models.
//!
//! A minibatch is cut into fixed chunks of [`CHUNK`] samples; rayon computes
//! each chunk's gradient sum on any thread, and the sums are added in chunk
//! order. The result is therefore bit-identical for any number of threads.

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::data::{Dataset, Scaling};
use super::encoder::{EncoderConfig, SpikeTrain};
use super::eventprop::{self, Method, SpikeTiming};
use super::layer::SpikeMode;
use super::loss::Loss;
use super::network::Network;
use super::optim::Adam;
use super::samples::{CHUNK, Encoded, InputDropout, Samples};
use crate::error::{Error, Result};
use crate::io::atomic::write_bytes_atomic;

/// Optimisation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per Adam step.
    pub batch_size: usize,
    /// Initial learning rate.
    pub lr: f32,
    /// Cosine annealing ends at `lr · lr_final` in the last epoch.
    pub lr_final: f32,
    /// Seed of shuffling and stochastic encoders.
    pub seed: u64,
    /// Loss.
    pub loss: Loss,
    /// Keep the parameters of the epoch with the best validation accuracy
    /// (when a validation set is given).
    pub keep_best: bool,
    /// Decoupled weight decay (AdamW) of the weights `W` and `R` (not biases,
    /// decays or thresholds): each step shrinks them by `lr·weight_decay·θ`.
    #[serde(default)]
    pub weight_decay: f32,
    /// Input dropout: during training every entry of an input train is zeroed
    /// with this probability and the others are divided by `1 − p`, drawn
    /// anew for every sample and epoch from `seed` (evaluation sees the
    /// trains unchanged). In `[0, 1)`.
    #[serde(default)]
    pub input_dropout: f32,
    /// Gradient: surrogate BPTT or exact EventProp ([`eventprop`]); the
    /// network's [`SpikeTiming`] must match.
    #[serde(default)]
    pub method: Method,
}

crate::settings::setters!(TrainConfig {
    epochs: usize,
    batch_size: usize,
    lr: f32,
    lr_final: f32,
    seed: u64,
    loss: Loss,
    keep_best: bool,
    weight_decay: f32,
    input_dropout: f32,
    method: Method,
});

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 30,
            batch_size: 32,
            lr: 2e-3,
            lr_final: 0.05,
            seed: 0,
            loss: Loss::MaxVoltage,
            keep_best: true,
            weight_decay: 0.0,
            input_dropout: 0.0,
            method: Method::Surrogate,
        }
    }
}

impl TrainConfig {
    /// Validates the settings; [`train()`] takes only checked ones. Errors
    /// name the setting ([`Error::setting`]).
    ///
    /// ```
    /// use lca::snn::TrainConfig;
    /// let bad = TrainConfig::default().batch_size(0);
    /// assert!(bad.check().unwrap_err().to_string().contains("batch_size"));
    /// let cfg = TrainConfig::default().check().unwrap();
    /// assert_eq!(cfg.epochs, TrainConfig::default().epochs);
    /// ```
    pub fn check(self) -> Result<CheckedTrainConfig> {
        let positive = |x: f32| x.is_finite() && x > 0.0;
        let non_negative = |x: f32| x.is_finite() && x >= 0.0;
        if self.epochs == 0 {
            return Err(Error::setting("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::setting("batch_size", "must be at least 1"));
        }
        if !positive(self.lr) {
            return Err(Error::setting(
                "lr",
                format!("must be finite and > 0 (got {})", self.lr),
            ));
        }
        if !non_negative(self.lr_final) {
            return Err(Error::setting(
                "lr_final",
                format!("must be finite and >= 0 (got {})", self.lr_final),
            ));
        }
        if !non_negative(self.weight_decay) {
            return Err(Error::setting(
                "weight_decay",
                format!("must be finite and >= 0 (got {})", self.weight_decay),
            ));
        }
        if !(0.0..1.0).contains(&self.input_dropout) {
            return Err(Error::setting(
                "input_dropout",
                format!("must lie in [0, 1) (got {})", self.input_dropout),
            ));
        }
        if let Loss::FirstSpike { tau0, tau1, gamma } = self.loss
            && !(positive(tau0) && positive(tau1) && gamma.is_finite())
        {
            return Err(Error::setting(
                "loss",
                format!("ttfs needs τ₀, τ₁ > 0 and a finite γ (got {tau0}, {tau1}, {gamma})"),
            ));
        }
        Ok(CheckedTrainConfig(self))
    }
}

/// A [`TrainConfig`] that passed [`TrainConfig::check`]; reads like one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckedTrainConfig(TrainConfig);

impl CheckedTrainConfig {
    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.0
    }
}

impl std::ops::Deref for CheckedTrainConfig {
    type Target = TrainConfig;
    fn deref(&self) -> &TrainConfig {
        &self.0
    }
}

/// One line of the training log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f32,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy during the epoch (parameters changing).
    pub train_accuracy: f64,
    /// Accuracy on the validation set after the epoch.
    pub validation_accuracy: Option<f64>,
    /// Accuracy on the test set after the epoch.
    pub test_accuracy: Option<f64>,
    /// Seconds spent on the training pass (evaluation excluded).
    pub seconds: f64,
    /// Mean bytes per sample the backward pass kept from the forward pass:
    /// `4 × neurons × steps` for BPTT, `24 × spikes` (+ readout voltages) for
    /// EventProp.
    #[serde(default)]
    pub backward_bytes: f64,
    /// Mean spikes per training sample (all layers; EventProp only).
    #[serde(default)]
    pub spikes_per_sample: Option<f64>,
}

impl EpochStats {
    /// Header of [`EpochStats::csv_line`].
    pub const CSV_HEADER: &'static str = "epoch,lr,train_loss,train_accuracy,validation_accuracy,test_accuracy,seconds,backward_bytes,spikes_per_sample";

    /// The stats as a CSV line (empty cells for missing accuracies).
    pub fn csv_line(&self) -> String {
        let opt = |v: Option<f64>| v.map(|a| format!("{a:.6}")).unwrap_or_default();
        format!(
            "{},{},{:.6},{:.6},{},{},{:.4},{:.0},{}",
            self.epoch,
            self.lr,
            self.train_loss,
            self.train_accuracy,
            opt(self.validation_accuracy),
            opt(self.test_accuracy),
            self.seconds,
            self.backward_bytes,
            self.spikes_per_sample
                .map(|s| format!("{s:.2}"))
                .unwrap_or_default()
        )
    }
}

fn check_compatible(net: &Network, loss: &Loss, n_classes: usize, method: Method) -> Result<()> {
    if let Loss::ExpVoltage { tau } = loss
        && (tau.is_nan() || *tau <= 0.0)
    {
        return Err(Error::setting(
            "exp_tau",
            format!("must be positive (got {tau})"),
        ));
    }
    match method {
        Method::EventProp => eventprop::check(net, loss)?,
        Method::Surrogate if net.timing != SpikeTiming::Step => {
            return Err(Error::setting(
                "method",
                "surrogate BPTT needs a network with step spike timing (Network::timing)",
            ));
        }
        Method::Surrogate => {}
    }
    if loss.needs_readout() != net.has_readout() {
        return Err(Error::setting(
            "loss",
            format!(
                "loss '{}' needs {} output layer",
                loss.name(),
                if loss.needs_readout() {
                    "a readout"
                } else {
                    "a spiking"
                }
            ),
        ));
    }
    if net.n_outputs() != n_classes {
        return Err(Error::Shape(format!(
            "the network has {} outputs for {n_classes} classes",
            net.n_outputs()
        )));
    }
    Ok(())
}

/// Loss gradient summed over `indices` (divided by nothing), with the summed
/// loss and the number of correct predictions.
pub fn batch_gradient(
    net: &Network,
    samples: &dyn Samples,
    indices: &[usize],
    epoch: u64,
    loss: &Loss,
) -> (Vec<f32>, f64, usize) {
    let classes = net.n_outputs();
    let parts: Vec<(Vec<f32>, f64, usize)> = indices
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut grad = vec![0.0f32; net.params.len()];
            let mut ws = net.workspace();
            let (mut total, mut correct) = (0.0f64, 0usize);
            for &i in chunk {
                let x = samples.spikes(i, epoch);
                let trace = net.forward(&x, SpikeMode::Heaviside);
                let out = trace.output();
                let label = samples.label(i);
                let mut g_out = vec![0.0f32; out.len()];
                total += loss.value_and_grad(out, trace.steps, classes, label, &mut g_out);
                correct += usize::from(loss.predict(out, trace.steps, classes) == label);
                net.backward_with(&x, &trace, &g_out, SpikeMode::Heaviside, &mut grad, &mut ws);
            }
            (grad, total, correct)
        })
        .collect();
    let mut grad = vec![0.0f32; net.params.len()];
    let (mut total, mut correct) = (0.0, 0);
    for (g, l, c) in parts {
        for (a, b) in grad.iter_mut().zip(&g) {
            *a += b;
        }
        total += l;
        correct += c;
    }
    (grad, total, correct)
}

/// Fraction of `samples` classified correctly (stochastic encoders use a
/// fixed evaluation pass).
pub fn accuracy(net: &Network, samples: &dyn Samples, loss: &Loss) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let classes = net.n_outputs();
    // spike-timed networks are read with their interpolated spike times
    let timed: Option<Vec<f64>> = (net.timing == SpikeTiming::Interpolated)
        .then(|| net.params.iter().map(|&p| f64::from(p)).collect());
    let correct: usize = (0..samples.len())
        .into_par_iter()
        .map(|i| {
            let x = samples.spikes(i, u64::MAX);
            let predicted = match &timed {
                Some(p) => {
                    eventprop::predict(loss, &eventprop::forward(net, p, &x, false), classes)
                }
                None => {
                    let trace = net.forward(&x, SpikeMode::Heaviside);
                    loss.predict(trace.output(), trace.steps, classes)
                }
            };
            usize::from(predicted == samples.label(i))
        })
        .sum();
    correct as f64 / samples.len() as f64
}

/// Trains `net` on `train` with Adam and cosine-annealed learning rate,
/// evaluating `validation` and `test` after every epoch; `on_epoch` sees each
/// epoch's stats as they come (for progress bars and logs).
pub fn train(
    net: &mut Network,
    train: &dyn Samples,
    validation: Option<&dyn Samples>,
    test: Option<&dyn Samples>,
    n_classes: usize,
    cfg: &CheckedTrainConfig,
    on_epoch: &mut dyn FnMut(&EpochStats),
) -> Result<Vec<EpochStats>> {
    check_compatible(net, &cfg.loss, n_classes, cfg.method)?;
    if train.is_empty() {
        return Err(Error::Data("the training set is empty".into()));
    }
    let dropped = InputDropout {
        inner: train,
        p: cfg.input_dropout,
        // a stream apart from the shuffling's
        seed: cfg.seed ^ 0x5851_F42D_4C95_7F2D,
    };
    let decayed: Vec<std::ops::Range<usize>> =
        net.layers.iter().map(|l| l.weight_range()).collect();
    let mut adam = Adam::new(net.params.len());
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut log = Vec::with_capacity(cfg.epochs);
    let mut best: Option<(f64, Vec<f32>)> = None;
    for epoch in 0..cfg.epochs {
        let progress = if cfg.epochs > 1 {
            epoch as f32 / (cfg.epochs - 1) as f32
        } else {
            1.0
        };
        let lr = cfg.lr
            * (cfg.lr_final
                + (1.0 - cfg.lr_final) * 0.5 * (1.0 + (std::f32::consts::PI * progress).cos()));
        order.shuffle(&mut rng);
        let start = Instant::now();
        let (mut total, mut correct) = (0.0f64, 0usize);
        let (mut stored, mut spikes) = (0usize, 0usize);
        for batch in order.chunks(cfg.batch_size) {
            let (mut grad, l, c) = match cfg.method {
                Method::Surrogate => {
                    stored += batch.len()
                        * net.state_bytes_per_step()
                        * dropped.spikes(batch[0], epoch as u64).steps;
                    batch_gradient(net, &dropped, batch, epoch as u64, &cfg.loss)
                }
                Method::EventProp => {
                    let b =
                        eventprop::batch_gradient(net, &dropped, batch, epoch as u64, &cfg.loss);
                    stored += b.stored_bytes;
                    spikes += b.spikes;
                    (b.grad, b.loss, b.correct)
                }
            };
            let scale = 1.0 / batch.len() as f32;
            for g in &mut grad {
                *g *= scale;
            }
            adam.step_weight_decay(&mut net.params, &grad, lr, cfg.weight_decay, &decayed);
            net.clamp();
            total += l;
            correct += c;
        }
        let seconds = start.elapsed().as_secs_f64();
        if !net.params.iter().all(|p| p.is_finite()) {
            return Err(Error::NonFinite {
                what: format!("network parameters after epoch {}", epoch + 1),
                index: net.params.iter().position(|p| !p.is_finite()).unwrap_or(0),
            });
        }
        let validation_accuracy = validation.map(|v| accuracy(net, v, &cfg.loss));
        let test_accuracy = test.map(|t| accuracy(net, t, &cfg.loss));
        if cfg.keep_best
            && let Some(acc) = validation_accuracy
            && best.as_ref().is_none_or(|(b, _)| acc > *b)
        {
            best = Some((acc, net.params.clone()));
        }
        let stats = EpochStats {
            epoch: epoch + 1,
            lr,
            train_loss: total / train.len() as f64,
            train_accuracy: correct as f64 / train.len() as f64,
            validation_accuracy,
            test_accuracy,
            seconds,
            backward_bytes: stored as f64 / train.len() as f64,
            spikes_per_sample: (cfg.method == Method::EventProp)
                .then(|| spikes as f64 / train.len() as f64),
        };
        on_epoch(&stats);
        log.push(stats);
    }
    if let Some((_, params)) = best {
        net.params = params;
    }
    Ok(log)
}

/// A trained network with everything needed to classify raw features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// File format tag, `lca-snn/1`.
    pub format: String,
    /// Dataset the model was trained on (`yinyang`, `digits` or a path).
    pub dataset: String,
    /// Number of classes.
    pub n_classes: usize,
    /// Feature scaling fitted on the training set.
    pub scaling: Scaling,
    /// Input encoder.
    pub encoder: EncoderConfig,
    /// Loss (also decides how outputs are read).
    pub loss: Loss,
    /// Seed of stochastic encoders.
    pub seed: u64,
    /// The network.
    pub network: Network,
    /// How event streams are binned, for a model trained on them (the
    /// encoder and scaling are then unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<super::streams::Binning>,
}

/// One sample run through a model ([`Model::run_samples`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRun {
    /// The encoded input.
    pub input: SpikeTrain,
    /// The predicted class.
    pub predicted: usize,
    /// Per hidden layer (input side first), every neuron's spike count.
    pub hidden_counts: Vec<Vec<u32>>,
}

impl Model {
    /// The format tag written by this version.
    pub const FORMAT: &'static str = "lca-snn/1";

    /// Writes the model as JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec(self)
            .map_err(|e| Error::format(path, format!("cannot serialise the model: {e}")))?;
        write_bytes_atomic(path, &json)
    }

    /// Reads a model written by [`Model::save`].
    pub fn load(path: &Path) -> Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let model: Model = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(path, format!("not an lca SNN model: {e}")))?;
        if model.format != Self::FORMAT {
            return Err(Error::format(
                path,
                format!(
                    "unsupported model format '{}' (expected {})",
                    model.format,
                    Self::FORMAT
                ),
            ));
        }
        let expected: usize = model.network.layers.iter().map(|l| l.n_params()).sum();
        if model.network.params.len() != expected {
            return Err(Error::format(
                path,
                format!(
                    "{} parameters where the layers need {expected}",
                    model.network.params.len()
                ),
            ));
        }
        Ok(model)
    }

    /// Accuracy on event streams (a model trained on streams).
    pub fn evaluate_events(&self, data: &super::streams::EventDataset) -> Result<f64> {
        let Some(b) = self.events else {
            return Err(Error::Data(
                "this model reads features, not event streams".into(),
            ));
        };
        if data.n_channels > b.n_channels {
            return Err(Error::Shape(format!(
                "the streams have {} channels, the model was trained on {}",
                data.n_channels, b.n_channels
            )));
        }
        if let Some(i) = data.labels.iter().position(|&l| l >= self.n_classes) {
            return Err(Error::Shape(format!(
                "sample {i} has label {} but the model knows {} classes",
                data.labels[i], self.n_classes
            )));
        }
        let mut data = data.clone();
        data.n_channels = b.n_channels;
        data.duration = b.duration;
        let samples = super::streams::Binned {
            data: &data,
            steps: b.steps,
        };
        Ok(accuracy(&self.network, &samples, &self.loss))
    }

    /// Runs every sample of raw (unscaled) data as [`Model::evaluate`] does,
    /// keeping what a cross-check against another simulator compares: the
    /// encoded input, the predicted class and the hidden layers' spike counts.
    pub fn run_samples(&self, data: &Dataset) -> Result<Vec<SampleRun>> {
        let mut data = data.clone();
        self.scaling.apply(&mut data)?;
        let samples = Encoded {
            data: &data,
            encoder: &self.encoder,
            seed: self.seed,
        };
        let net = &self.network;
        let classes = net.n_outputs();
        let hidden = net.layers.len().saturating_sub(1);
        let timed: Option<Vec<f64>> = (net.timing == SpikeTiming::Interpolated)
            .then(|| net.params.iter().map(|&p| f64::from(p)).collect());
        Ok((0..samples.len())
            .into_par_iter()
            .map(|i| {
                let x = samples.spikes(i, u64::MAX);
                let (predicted, hidden_counts) = match &timed {
                    Some(p) => {
                        let et = eventprop::forward(net, p, &x, false);
                        let counts = (0..hidden)
                            .map(|l| {
                                let mut c = vec![0u32; net.layers[l].size()];
                                for e in &et.spikes[l] {
                                    c[e.neuron as usize] += 1;
                                }
                                c
                            })
                            .collect();
                        (eventprop::predict(&self.loss, &et, classes), counts)
                    }
                    None => {
                        let (trace, counts) = net.forward_counting(&x);
                        let predicted = self.loss.predict(trace.output(), trace.steps, classes);
                        (predicted, counts)
                    }
                };
                SampleRun {
                    input: x.into_owned(),
                    predicted,
                    hidden_counts,
                }
            })
            .collect())
    }

    /// Accuracy on raw (unscaled) data.
    pub fn evaluate(&self, data: &Dataset) -> Result<f64> {
        let mut data = data.clone();
        self.scaling.apply(&mut data)?;
        if let Some(i) = data.labels.iter().position(|&l| l >= self.n_classes) {
            return Err(Error::Shape(format!(
                "sample {i} has label {} but the model knows {} classes",
                data.labels[i], self.n_classes
            )));
        }
        let samples = Encoded {
            data: &data,
            encoder: &self.encoder,
            seed: self.seed,
        };
        Ok(accuracy(&self.network, &samples, &self.loss))
    }
}
