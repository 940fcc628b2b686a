//! Sparse coding feeding a spiking classifier, all on the same neuron kernels:
//! learn a dictionary on the 8×8 digits, encode every digit with the spiking
//! LCA, train a spiking network on the LCA's spike trains, print accuracy.
//!
//!     cargo run --release --example snn_pipeline [ATOMS] [EPOCHS] [LAMBDA] [LCA_STEPS] [BIN] [signed|nonneg]
//!
//! Defaults: 100 atoms, 30 epochs, λ = 0.1, 64 solver steps merged 2 by 2,
//! signed codes of mean-centred digits (96.9 % test accuracy).

use std::time::Instant;

use lca::dictionary::learn::{DictionaryLearner, LearnParams};
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
    let mut args = std::env::args().skip(1);
    let n_atoms: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let epochs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let lambda: f32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0.1);
    let lca_steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let bin: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    // Signed codes of mean-centred digits (ON/OFF neuron pairs), else
    // non-negative codes of the raw pixels.
    let signed = args.next().is_none_or(|a| a != "nonneg");
    let splits = data::digits_splits()?;
    let (train, test) = (&splits.train, &splits.test);
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
    let params = LearnParams {
        lca: lca_params,
        steps: 400,
        learning_rate: 1.0,
        ..LearnParams::default()
    };
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
    let mut net = Network::new(encoder_channels(&tr), &specs, phi, 0)?;
    let cfg = TrainConfig {
        epochs,
        batch_size: 16,
        lr: 2e-3,
        loss: Loss::MaxVoltage,
        ..TrainConfig::default()
    };
    let start = Instant::now();
    let log = lca::snn::train(&mut net, &tr, None, Some(&te), 10, &cfg, &mut |s| {
        if s.epoch % 10 == 0 {
            println!(
                "epoch {}: loss {:.4}, train {:.2}%, test {:.2}%",
                s.epoch,
                s.train_loss,
                100.0 * s.train_accuracy,
                100.0 * s.test_accuracy.unwrap_or(0.0)
            );
        }
    })?;
    let acc = lca::snn::accuracy(&net, &te, &cfg.loss);
    println!(
        "test accuracy from spiking-LCA spike trains: {:.2}% ({} epochs, {:.2} s/epoch)",
        100.0 * acc,
        log.len(),
        start.elapsed().as_secs_f64() / log.len() as f64
    );
    Ok(())
}

fn encoder_channels(ds: &SpikeDataset) -> usize {
    ds.trains.first().map_or(0, |t| t.channels)
}
