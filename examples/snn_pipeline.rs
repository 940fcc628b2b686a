//! Sparse coding feeding a spiking classifier, all on the same neuron kernels:
//! learn a dictionary on the 8×8 digits, encode every digit with the spiking
//! LCA, train a spiking network on the LCA's spike trains, print accuracy.
//!
//!     cargo run --release --example snn_pipeline [ATOMS] [EPOCHS] [LAMBDA] [LCA_STEPS] [BIN] [signed|nonneg]
//!         [--seed N] [--weight-decay W] [--dropout P] [--validate FRACTION]
//!
//! Defaults: 100 atoms, 40 epochs, λ = 0.1, 64 solver steps merged 2 by 2,
//! signed codes of mean-centred digits, AdamW weight decay 1 and input
//! dropout 0.4 (98.0–98.7 % test accuracy over seeds 0–4, mean 98.4 %).
//!
//! `--validate F` carves a stratified fraction F (seed 1) off the training
//! digits, learns the dictionary and trains on the rest, prints the
//! validation accuracy and never touches the test digits: settings are
//! chosen that way, then the default run trains on all training digits for
//! the chosen epochs and reports the test accuracy of the last epoch.

use std::time::Instant;

use lca::dictionary::{DictionaryLearner, LearnParams};
use lca::neuron::{Surrogate, SurrogateKind};
use lca::snn::data::{self, Dataset};
use lca::snn::{LayerKind, LayerSpec, Loss, Network, SpikeDataset, SpikingLcaEncoder, TrainConfig};
use lca::solver::SpikingParams;
use lca::{Dictionary, LcaParams};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Samples as columns.
fn columns(ds: &Dataset) -> DMatrix<f32> {
    DMatrix::from_column_slice(ds.n_features, ds.len(), &ds.features)
}

fn main() -> lca::Result<()> {
    // `--name value` options, then positional arguments.
    let (mut seed, mut weight_decay, mut dropout, mut validate) = (0u64, 1.0f32, 0.4f32, 0.0f64);
    let mut positional = Vec::new();
    let mut raw = std::env::args().skip(1);
    while let Some(a) = raw.next() {
        let mut value = || raw.next().unwrap_or_default();
        match a.as_str() {
            "--seed" => seed = value().parse().unwrap_or(seed),
            "--weight-decay" => weight_decay = value().parse().unwrap_or(weight_decay),
            "--dropout" => dropout = value().parse().unwrap_or(dropout),
            "--validate" => validate = value().parse().unwrap_or(validate),
            _ => positional.push(a),
        }
    }
    let mut args = positional.into_iter();
    let n_atoms: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let epochs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let lambda: f32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0.1);
    let lca_steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let bin: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    // Signed codes of mean-centred digits (ON/OFF neuron pairs), else
    // non-negative codes of the raw pixels.
    let signed = args.next().is_none_or(|a| a != "nonneg");
    let splits = data::digits_splits()?;
    // With --validate the held-out part of the training digits plays the
    // test set's role.
    let carved;
    let (train, test, held_out) = if validate > 0.0 {
        carved = data::stratified_split(&splits.train, validate, 1);
        (&carved.0, &carved.1, "validation")
    } else {
        (&splits.train, &splits.test, "test")
    };
    let (mut xtr, mut xte) = (columns(train), columns(test));
    if signed {
        let mean = xtr.column_mean();
        for mut c in xtr.column_iter_mut().chain(xte.column_iter_mut()) {
            c -= &mean;
        }
    }

    // 1. Dictionary: atoms start as random training digits, then 400 steps of
    //    LCA-coded minibatches (non-negative codes).
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut order: Vec<usize> = (0..train.len()).collect();
    order.shuffle(&mut rng);
    let mut init = Vec::with_capacity(n_atoms * 64);
    for &i in order.iter().cycle().take(n_atoms) {
        init.extend(xtr.column(i).iter().map(|v| v + 1e-3));
    }
    let lca_params = LcaParams::new().lambda(lambda).nonneg(!signed);
    let params = LearnParams::default()
        .lca(lca_params)
        .steps(400)
        .learning_rate(1.0);
    let mut learner = DictionaryLearner::new(params, Dictionary::from_rows(n_atoms, 64, init)?)?;
    for step in 0..400 {
        let idx: Vec<usize> = (0..64)
            .map(|k| order[(step * 64 + k) % order.len()])
            .collect();
        let batch = DMatrix::from_fn(64, idx.len(), |r, c| xtr[(r, idx[c])]);
        learner.step(&batch)?;
    }
    let dict = learner.dictionary()?;
    println!(
        "dictionary: {n_atoms} atoms learned in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    // 2. Spiking LCA spike trains (LCA_STEPS solver steps, BIN per network step).
    let start = Instant::now();
    let solver = SpikingParams::new()
        .lambda(lambda)
        .nonneg(!signed)
        .steps(lca_steps)
        .record_spikes(true)
        .check()?;
    let encoder = SpikingLcaEncoder {
        dictionary: dict,
        solver,
        bin,
    };
    let tr = SpikeDataset {
        trains: encoder.encode_all(&xtr)?,
        labels: train.labels.clone(),
    };
    let te = SpikeDataset {
        trains: encoder.encode_all(&xte)?,
        labels: test.labels.clone(),
    };
    let spikes: f64 = tr
        .trains
        .iter()
        .map(|t| t.data.iter().sum::<f32>() as f64)
        .sum();
    println!(
        "spiking LCA: {} + {} digits encoded in {:.1} s, {:.1} spikes per digit over {} steps",
        tr.labels.len(),
        te.labels.len(),
        start.elapsed().as_secs_f64(),
        spikes / tr.labels.len() as f64,
        tr.trains[0].steps
    );

    // 3. Spiking classifier on the spike trains.
    let mut hidden = LayerSpec::new(LayerKind::FeedForward, 128, 0.85, 0.9);
    hidden.weight_scale = 1.5;
    let specs = [hidden, LayerSpec::new(LayerKind::Readout, 10, 0.85, 0.9)];
    let phi = Surrogate {
        kind: SurrogateKind::FastSigmoid,
        tau: 0.1,
        alpha: 1.0,
    };
    let mut net = Network::new(encoder_channels(&tr), &specs, phi, seed)?;
    // The spike trains are deterministic, one per digit, and the network
    // fits them all within a few epochs: decoupled weight decay of the
    // weights and dropout of input entries keep it from memorising them.
    let cfg = TrainConfig::default()
        .epochs(epochs)
        .batch_size(16)
        .lr(2e-3)
        .seed(seed)
        .loss(Loss::MaxVoltage)
        .weight_decay(weight_decay)
        .input_dropout(dropout)
        .keep_best(false)
        .check()?;
    let start = Instant::now();
    // Held-out digits are evaluated only while validating.
    let watch = (validate > 0.0).then_some(&te as &dyn lca::snn::Samples);
    let log = lca::snn::train(&mut net, &tr, watch, None, 10, &cfg, &mut |s| {
        if s.epoch % 10 == 0 {
            println!(
                "epoch {}: loss {:.4}, train {:.2}%{}",
                s.epoch,
                s.train_loss,
                100.0 * s.train_accuracy,
                s.validation_accuracy
                    .map(|a| format!(", validation {:.2}%", 100.0 * a))
                    .unwrap_or_default()
            );
        }
    })?;
    let acc = lca::snn::accuracy(&net, &te, &cfg.loss);
    println!(
        "{held_out} accuracy from spiking-LCA spike trains: {:.2}% (seed {seed}, {} epochs, {:.2} s/epoch)",
        100.0 * acc,
        log.len(),
        start.elapsed().as_secs_f64() / log.len() as f64
    );
    Ok(())
}

fn encoder_channels(ds: &SpikeDataset) -> usize {
    ds.trains.first().map_or(0, |t| t.channels)
}
