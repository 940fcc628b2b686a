//! Spiking network: gradients against finite differences, data, determinism.

use std::path::Path;

use lca::neuron::{Reset, Surrogate, SurrogateKind};
use lca::snn::data::{self, parse_csv, stratified_split, yinyang, yinyang_class};
use lca::snn::{Encoded, InputDropout, Samples, batch_gradient};
use lca::snn::{
    Encoder, EncoderConfig, Latency, LayerKind, LayerSpec, Loss, Network, Rate, SpikeMode,
    SpikeTrain, TrainConfig,
};
use lca::snn::{EventDataset, StreamTask};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_train(steps: usize, channels: usize, seed: u64) -> SpikeTrain {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data = (0..steps * channels).map(|_| rng.random::<f32>()).collect();
    SpikeTrain {
        steps,
        channels,
        data,
    }
}

fn spec(kind: LayerKind, size: usize, reset: Reset) -> LayerSpec {
    let mut s = LayerSpec::new(kind, size, 0.7, 0.8);
    s.neuron.threshold = 0.6;
    s.neuron.reset = reset;
    s.train_decays = true;
    s.train_threshold = true;
    s.weight_scale = 1.5;
    s.recurrent_scale = 1.0;
    s
}

/// Loss of the smooth network for parameters `p`, in f64 accumulation.
fn smooth_loss(net: &Network, p: &[f32], x: &SpikeTrain, loss: &Loss, label: usize) -> f64 {
    let mut n = net.clone();
    n.params = p.to_vec();
    let tr = n.forward(x, SpikeMode::Smooth);
    let mut g = vec![0.0; tr.output().len()];
    loss.value_and_grad(tr.output(), tr.steps, n.n_outputs(), label, &mut g)
}

/// Compares backpropagation with central finite differences on every parameter.
fn check_gradient(net: &Network, loss: Loss, what: &str) {
    let x = random_train(9, net.n_inputs, 3);
    let label = 1;
    let tr = net.forward(&x, SpikeMode::Smooth);
    let mut g_out = vec![0.0; tr.output().len()];
    loss.value_and_grad(tr.output(), tr.steps, net.n_outputs(), label, &mut g_out);
    let mut grad = vec![0.0f32; net.params.len()];
    net.backward(&x, &tr, &g_out, SpikeMode::Smooth, &mut grad);

    let gmax = grad.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    assert!(gmax > 1e-3, "{what}: gradient vanishes ({gmax})");
    let mut worst = 0.0f32;
    for k in 0..net.params.len() {
        let h = 1e-3f32 * net.params[k].abs().max(0.5);
        let mut p = net.params.clone();
        p[k] += h;
        let up = smooth_loss(net, &p, &x, &loss, label);
        p[k] = net.params[k] - h;
        let down = smooth_loss(net, &p, &x, &loss, label);
        let fd = ((up - down) / (2.0 * f64::from(h))) as f32;
        let err = (fd - grad[k]).abs() / (grad[k].abs() + 0.02 * gmax);
        worst = worst.max(err);
        assert!(
            err < 0.05,
            "{what}: parameter {k}: backprop {} vs finite difference {fd} (max |g| {gmax})",
            grad[k]
        );
    }
    eprintln!("{what}: worst relative error {worst:.2e}");
}

fn network(hidden: LayerKind, out: LayerKind, reset: Reset, kind: SurrogateKind) -> Network {
    let specs = [spec(hidden, 5, reset), spec(out, 3, reset)];
    let phi = Surrogate {
        kind,
        tau: 0.4,
        alpha: 1.0,
    };
    let mut net = Network::new(3, &specs, phi, 11).unwrap();
    net.detach_reset = false;
    // non-zero biases so they are checked too
    let b0 = net.layers[0].offset
        + 5 * 3
        + if hidden == LayerKind::Recurrent {
            25
        } else {
            0
        };
    for i in 0..5 {
        net.params[b0 + i] = 0.05 * i as f32 - 0.1;
    }
    net
}

#[test]
fn feedforward_readout_gradients_match_finite_differences() {
    for reset in [Reset::Zero, Reset::Subtract] {
        for loss in [Loss::MaxVoltage, Loss::MeanVoltage] {
            let net = network(
                LayerKind::FeedForward,
                LayerKind::Readout,
                reset,
                SurrogateKind::Sigmoid,
            );
            check_gradient(&net, loss, &format!("ff/readout {reset:?} {}", loss.name()));
        }
    }
}

#[test]
fn recurrent_gradients_match_finite_differences() {
    for kind in [
        SurrogateKind::Sigmoid,
        SurrogateKind::Exponential,
        SurrogateKind::FastSigmoid,
    ] {
        for reset in [Reset::Zero, Reset::Subtract] {
            let net = network(LayerKind::Recurrent, LayerKind::Readout, reset, kind);
            check_gradient(
                &net,
                Loss::MeanVoltage,
                &format!("rec/readout {kind:?} {reset:?}"),
            );
        }
    }
}

#[test]
fn spiking_output_gradients_match_finite_differences() {
    let ttfs = Loss::FirstSpike {
        tau0: 2.0,
        tau1: 20.0,
        gamma: 0.01,
    };
    for loss in [Loss::SpikeCount, ttfs] {
        for (hidden, out) in [
            (LayerKind::FeedForward, LayerKind::FeedForward),
            (LayerKind::Recurrent, LayerKind::FeedForward),
            (LayerKind::FeedForward, LayerKind::Recurrent),
        ] {
            for reset in [Reset::Zero, Reset::Subtract] {
                let net = network(hidden, out, reset, SurrogateKind::Sigmoid);
                check_gradient(
                    &net,
                    loss,
                    &format!("{hidden:?}/{out:?} {reset:?} {}", loss.name()),
                );
            }
        }
    }
}

#[test]
fn heaviside_forward_spikes_are_binary_and_backward_runs() {
    let net = network(
        LayerKind::Recurrent,
        LayerKind::FeedForward,
        Reset::Zero,
        SurrogateKind::Box,
    );
    let x = Latency {
        steps: 30,
        window: 20,
    }
    .encode(&[0.2, 0.9, 0.5], 0);
    let tr = net.forward(&x, SpikeMode::Heaviside);
    assert!(tr.output().iter().all(|&s| s == 0.0 || s == 1.0));
    assert_eq!(net.state_bytes_per_step(), 4 * (5 + 3));
    let mut g_out = vec![0.0; tr.output().len()];
    Loss::SpikeCount.value_and_grad(tr.output(), tr.steps, 3, 0, &mut g_out);
    let mut grad = vec![0.0; net.params.len()];
    net.backward(&x, &tr, &g_out, SpikeMode::Heaviside, &mut grad);
    assert!(grad.iter().all(|g| g.is_finite()));
}

#[test]
fn yinyang_has_balanced_labelled_points_in_the_disc() {
    let ds = yinyang(3000, 42);
    assert_eq!(ds, yinyang(3000, 42));
    assert_ne!(ds, yinyang(3000, 41));
    assert_eq!((ds.len(), ds.n_features, ds.n_classes), (3000, 4, 3));
    for i in 0..ds.len() {
        let r = ds.row(i);
        let (x, y) = (f64::from(r[0]), f64::from(r[1]));
        assert!(((x - 0.5).powi(2) + (y - 0.5).powi(2)).sqrt() <= 0.5 + 1e-6);
        assert!((r[0] + r[2] - 1.0).abs() < 1e-6 && (r[1] + r[3] - 1.0).abs() < 1e-6);
        assert_eq!(yinyang_class(x, y), ds.labels[i]);
    }
    for c in ds.class_counts() {
        assert!((900..1100).contains(&c), "{:?}", ds.class_counts());
    }
    // the dots are discs of radius 0.1 centred at (0.25, 0.5) and (0.75, 0.5)
    assert_eq!(yinyang_class(0.25, 0.5), 2);
    assert_eq!(yinyang_class(0.75, 0.5), 2);
    let s = data::yinyang_splits();
    assert_eq!(
        (s.train.len(), s.validation.unwrap().len(), s.test.len()),
        (5000, 1000, 1000)
    );
}

#[test]
fn digits_load_and_split_stratified() {
    let ds = data::digits().unwrap();
    assert_eq!((ds.len(), ds.n_features, ds.n_classes), (1797, 64, 10));
    assert!(ds.features.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let (train, test) = stratified_split(&ds, 0.25, 0);
    assert_eq!(train.len() + test.len(), 1797);
    for (c, (&a, &b)) in train
        .class_counts()
        .iter()
        .zip(&test.class_counts())
        .enumerate()
    {
        let frac = b as f64 / (a + b) as f64;
        assert!((frac - 0.25).abs() < 0.02, "class {c}: {a}/{b}");
    }
    assert_eq!(data::digits_splits().unwrap().test, test);
}

#[test]
fn csv_errors_name_the_line() {
    let p = Path::new("bad.csv");
    let err = |text: &str, classes| parse_csv(text, p, classes).unwrap_err().to_string();
    let e = err("1,2,0\n3,4,1\n5,1\n", None);
    assert!(
        e.contains("bad.csv") && e.contains("line 3") && e.contains("expected 3 columns, found 2"),
        "{e}"
    );
    let e = err("x,y,label\n1,2,0\n3,abc,1\n", None);
    assert!(e.contains("line 3, column 2") && e.contains("'abc'"), "{e}");
    let e = err("1,2,0\n3,4,7\n", Some(3));
    assert!(
        e.contains("line 2") && e.contains("label 7 out of range"),
        "{e}"
    );
    let e = err("1,2,0\n3,4,-1\n", None);
    assert!(e.contains("line 2") && e.contains("label '-1'"), "{e}");
    let e = err("1,2,0\n3,4,nan\n", None);
    assert!(e.contains("line 2"), "{e}");
    let ok = parse_csv("a,b,c\n1,2,0\n\n3,4,2\n", p, None).unwrap();
    assert_eq!((ok.len(), ok.n_features, ok.n_classes), (2, 2, 3));
}

/// The small recurrent network on rate-coded Yin-Yang that training tests share.
fn tiny_specs() -> [LayerSpec; 2] {
    [
        LayerSpec::new(LayerKind::Recurrent, 12, 0.8, 0.9),
        LayerSpec::new(LayerKind::Readout, 3, 0.8, 0.9),
    ]
}

fn tiny_surrogate() -> Surrogate {
    Surrogate {
        kind: SurrogateKind::FastSigmoid,
        tau: 0.2,
        alpha: 1.0,
    }
}

fn tiny_encoder() -> EncoderConfig {
    EncoderConfig::Rate(Rate {
        steps: 20,
        max_rate: 0.5,
    })
}

#[test]
fn training_is_identical_for_one_and_two_threads() {
    let ds = yinyang(64, 1);
    let enc = tiny_encoder();
    let samples = Encoded {
        data: &ds,
        encoder: &enc,
        seed: 5,
    };
    let (specs, phi) = (tiny_specs(), tiny_surrogate());
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut net = Network::new(4, &specs, phi, 3).unwrap();
            let cfg = TrainConfig::default()
                .epochs(2)
                .batch_size(20)
                .check()
                .unwrap();
            let idx: Vec<usize> = (0..64).collect();
            let g = batch_gradient(&net, &samples, &idx, 0, &cfg.loss).0;
            lca::snn::train(
                &mut net,
                &samples,
                Some(&samples),
                None,
                3,
                &cfg,
                &mut |_| {},
            )
            .unwrap();
            (g, net.params)
        })
    };
    let (g1, p1) = run(1);
    let (g2, p2) = run(2);
    assert!(g1.iter().any(|&g| g != 0.0));
    assert_eq!(g1, g2);
    assert_eq!(p1, p2);
}

#[test]
fn a_small_network_learns_yinyang_above_chance() {
    let ds = yinyang(600, 3);
    let enc = Latency {
        steps: 30,
        window: 25,
    };
    let samples = Encoded {
        data: &ds,
        encoder: &enc,
        seed: 0,
    };
    let specs = [
        {
            let mut s = LayerSpec::new(LayerKind::FeedForward, 32, 0.85, 0.9);
            s.weight_scale = 3.0;
            s
        },
        LayerSpec::new(LayerKind::Readout, 3, 0.85, 0.9),
    ];
    let phi = Surrogate {
        kind: SurrogateKind::FastSigmoid,
        tau: 0.1,
        alpha: 1.0,
    };
    let mut net = Network::new(4, &specs, phi, 1).unwrap();
    let cfg = TrainConfig::default()
        .epochs(8)
        .batch_size(16)
        .lr(5e-3)
        .check()
        .unwrap();
    let log = lca::snn::train(&mut net, &samples, None, None, 3, &cfg, &mut |_| {}).unwrap();
    let last = log.last().unwrap();
    assert!(last.train_accuracy > 0.6, "{last:?}");
    assert!(log[0].train_loss > last.train_loss);
}

fn small_regularised_run(
    threads: usize,
    weight_decay: f32,
    input_dropout: f32,
) -> (Vec<f32>, Vec<f32>, f32) {
    let ds = yinyang(64, 1);
    let enc = tiny_encoder();
    let samples = Encoded {
        data: &ds,
        encoder: &enc,
        seed: 5,
    };
    let (specs, phi) = (tiny_specs(), tiny_surrogate());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut net = Network::new(4, &specs, phi, 3).unwrap();
        let start = net.params.clone();
        // one epoch of one batch: a single optimiser step
        let cfg = TrainConfig::default()
            .epochs(1)
            .batch_size(64)
            .weight_decay(weight_decay)
            .input_dropout(input_dropout)
            .check()
            .unwrap();
        let log = lca::snn::train(&mut net, &samples, None, None, 3, &cfg, &mut |_| {}).unwrap();
        (start, net.params, log[0].lr)
    })
}

#[test]
fn weight_decay_adds_the_decoupled_shrink_to_the_adam_step() {
    let (p0, plain, lr) = small_regularised_run(1, 0.0, 0.0);
    let (p0b, decayed, lr_b) = small_regularised_run(1, 0.5, 0.0);
    assert_eq!(p0, p0b);
    assert_eq!(lr, lr_b);
    // the same network, to find the weight ranges
    let net = Network::new(4, &tiny_specs(), tiny_surrogate(), 3).unwrap();
    let mut is_weight = vec![false; p0.len()];
    for l in &net.layers {
        for k in l.weight_range() {
            is_weight[k] = true;
        }
    }
    // W and R of both layers, nothing else
    assert_eq!(
        is_weight.iter().filter(|&&w| w).count(),
        12 * 4 + 12 * 12 + 3 * 12
    );
    for k in 0..p0.len() {
        if is_weight[k] {
            let expected = plain[k] - lr * 0.5 * p0[k];
            assert!(
                (decayed[k] - expected).abs() <= 1e-6 * (1.0 + expected.abs()),
                "weight {k}: {} vs {expected}",
                decayed[k]
            );
        } else {
            assert_eq!(decayed[k], plain[k], "parameter {k} is not a weight");
        }
    }
}

#[test]
fn regularised_training_is_identical_for_one_and_two_threads() {
    let (_, p1, _) = small_regularised_run(1, 0.3, 0.4);
    let (_, p2, _) = small_regularised_run(2, 0.3, 0.4);
    assert_eq!(p1, p2);
    let (_, plain, _) = small_regularised_run(1, 0.3, 0.0);
    assert_ne!(p1, plain, "dropout changed nothing");
}

#[test]
fn input_dropout_zeroes_a_fraction_and_rescales_the_rest() {
    let x = SpikeTrain {
        steps: 100,
        channels: 50,
        data: vec![2.0; 5000],
    };
    let ds = lca::snn::SpikeDataset {
        trains: vec![x],
        labels: vec![0],
    };
    let d = InputDropout {
        inner: &ds,
        p: 0.4,
        seed: 9,
    };
    let a = d.spikes(0, 3);
    assert_eq!(a, d.spikes(0, 3));
    assert_ne!(a, d.spikes(0, 4));
    let dropped = a.data.iter().filter(|&&v| v == 0.0).count() as f32 / 5000.0;
    assert!((dropped - 0.4).abs() < 0.03, "{dropped}");
    assert!(
        a.data
            .iter()
            .all(|&v| v == 0.0 || (v - 2.0 / 0.6).abs() < 1e-6)
    );
}

#[test]
fn train_config_check_names_the_bad_setting() {
    let base = TrainConfig::default;
    let cases = [
        (base().epochs(0), "epochs"),
        (base().lr(f32::NAN), "lr"),
        (base().input_dropout(1.0), "input_dropout"),
        (base().weight_decay(-1.0), "weight_decay"),
        (
            base().loss(Loss::FirstSpike {
                tau0: 0.0,
                tau1: 1.0,
                gamma: 0.0,
            }),
            "loss",
        ),
    ];
    for (cfg, name) in cases {
        let err = cfg.check().unwrap_err();
        assert!(
            matches!(&err, lca::Error::InvalidSetting { name: n, .. } if *n == name),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
    }
}

#[test]
fn a_reused_workspace_gives_the_gradient_of_a_fresh_one() {
    // Recurrent hidden layer, trained decays: every scratch buffer is used.
    let net = network(
        LayerKind::Recurrent,
        LayerKind::Readout,
        Reset::Subtract,
        SurrogateKind::FastSigmoid,
    );
    let mut ws = net.workspace();
    for (steps, seed) in [(12, 1), (5, 2), (9, 3)] {
        let x = random_train(steps, net.n_inputs, seed);
        let tr = net.forward(&x, SpikeMode::Heaviside);
        let mut g_out = vec![0.0; tr.output().len()];
        Loss::MaxVoltage.value_and_grad(tr.output(), tr.steps, 3, 0, &mut g_out);
        let mut fresh = vec![0.0f32; net.params.len()];
        net.backward(&x, &tr, &g_out, SpikeMode::Heaviside, &mut fresh);
        let mut reused = vec![0.0f32; net.params.len()];
        net.backward_with(&x, &tr, &g_out, SpikeMode::Heaviside, &mut reused, &mut ws);
        assert_eq!(fresh, reused, "{steps} steps");
        assert!(fresh.iter().any(|&g| g != 0.0));
    }
}

#[test]
fn event_files_round_trip_and_bin_every_event() {
    let data = StreamTask {
        samples: 40,
        ..StreamTask::default()
    }
    .generate(7);
    assert_eq!(
        data,
        StreamTask {
            samples: 40,
            ..StreamTask::default()
        }
        .generate(7)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.npz");
    data.write_npz(&path).unwrap();
    let back = EventDataset::read_npz(&path, None).unwrap();
    assert_eq!(back, data);
    for i in 0..data.len() {
        let train = back.bin(i, 50);
        let (times, channels) = data.events(i);
        assert_eq!(train.data.iter().sum::<f32>() as usize, times.len());
        // each event sits in the step of its time
        for (&t, &c) in times.iter().zip(channels) {
            let k = ((t / data.duration * 50.0) as usize).min(49);
            assert!(train.step(k)[c as usize] >= 1.0);
        }
        assert_eq!(
            back.counts(i),
            (0..data.n_channels)
                .map(|c| (0..50).map(|k| train.step(k)[c]).sum::<f32>())
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn event_at_the_end_of_a_sample_falls_in_the_last_step() {
    let data = EventDataset {
        n_channels: 2,
        duration: 1.0,
        times: vec![0.0, 0.5, 0.5, 1.0],
        channels: vec![0, 1, 1, 0],
        offsets: vec![0, 4],
        labels: vec![0],
        n_classes: 1,
    };
    let s = data.bin(0, 4);
    assert_eq!(s.step(0), &[1.0, 0.0]);
    assert_eq!(s.step(2), &[0.0, 2.0]);
    assert_eq!(s.step(3), &[1.0, 0.0]);
}

#[test]
fn bad_event_files_name_the_file_and_the_entry() {
    use lca::io::{npy::NpyArray, npz};
    let dir = tempfile::tempdir().unwrap();
    let f32s = |v: &[f32]| NpyArray::from_f32(vec![v.len()], v).unwrap();
    let i64s = |v: &[i64]| NpyArray::from_i64(vec![v.len()], v).unwrap();
    type Case = (&'static str, Vec<(&'static str, NpyArray)>, &'static str);
    let cases: [Case; 5] = [
        (
            "nolabels.npz",
            vec![
                ("times", f32s(&[0.1])),
                ("channels", i64s(&[0])),
                ("offsets", i64s(&[0, 1])),
            ],
            "missing entry 'labels.npy'",
        ),
        (
            "offsets.npz",
            vec![
                ("times", f32s(&[0.1, 0.2])),
                ("channels", i64s(&[0, 1])),
                ("offsets", i64s(&[0, 2, 1, 2])),
                ("labels", i64s(&[0, 1, 0])),
            ],
            "offsets.npy: decreases at sample 1",
        ),
        (
            "count.npz",
            vec![
                ("times", f32s(&[0.1, 0.2])),
                ("channels", i64s(&[0])),
                ("offsets", i64s(&[0, 2])),
                ("labels", i64s(&[0])),
            ],
            "2 times but 1 channels",
        ),
        (
            "negative.npz",
            vec![
                ("times", f32s(&[-0.1])),
                ("channels", i64s(&[0])),
                ("offsets", i64s(&[0, 1])),
                ("labels", i64s(&[0])),
            ],
            "times.npy: event 0 has time -0.1",
        ),
        (
            "duration.npz",
            vec![
                ("times", f32s(&[0.1, 2.0])),
                ("channels", i64s(&[0, 0])),
                ("offsets", i64s(&[0, 2])),
                ("labels", i64s(&[0])),
                ("duration", NpyArray::from_f32(vec![], &[1.0]).unwrap()),
            ],
            "cover the latest event",
        ),
    ];
    for (name, arrays, msg) in cases {
        let path = dir.path().join(name);
        let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(n, a)| (*n, a)).collect();
        npz::write_npz(&path, &refs).unwrap();
        let err = EventDataset::read_npz(&path, None).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(msg), "{name}: {err}");
    }
}

#[test]
fn stream_classes_of_a_pair_share_counts_and_differ_in_burst_order() {
    let task = StreamTask {
        samples: 3000,
        ..StreamTask::default()
    };
    let data = task.generate(3);
    let g = task.group;
    // mean count per channel, per class
    let mut counts = vec![vec![0.0f64; data.n_channels]; task.n_classes];
    let mut n = vec![0usize; task.n_classes];
    let mut order_ok = 0usize;
    for i in 0..data.len() {
        let y = data.labels[i];
        n[y] += 1;
        for (c, v) in data.counts(i).iter().enumerate() {
            counts[y][c] += f64::from(*v);
        }
    }
    // Without background and tonic events, the median time of each group's
    // events is its burst time: the order must match the class.
    let quiet = StreamTask {
        background_rate: 0.0,
        tonic_rate: 0.0,
        ..task
    }
    .generate(3);
    for i in 0..quiet.len() {
        let y = quiet.labels[i];
        let a = (y / 2) * 2 * g;
        let (times, channels) = quiet.events(i);
        let median = |lo: usize| {
            let mut t: Vec<f32> = times
                .iter()
                .zip(channels)
                .filter(|&(_, &c)| (lo..lo + g).contains(&(c as usize)))
                .map(|(&t, _)| t)
                .collect();
            t.sort_by(f32::total_cmp);
            t.get(t.len() / 2).copied().unwrap_or(0.5)
        };
        let a_first = median(a) < median(a + g);
        order_ok += usize::from(a_first == y.is_multiple_of(2));
    }
    for p in 0..task.n_classes / 2 {
        for (c, (x0, x1)) in counts[2 * p].iter().zip(&counts[2 * p + 1]).enumerate() {
            let (m0, m1) = (x0 / n[2 * p] as f64, x1 / n[2 * p + 1] as f64);
            // ~500 streams per class: 0.6 is about 4 standard errors
            assert!(
                (m0 - m1).abs() < 0.6,
                "class pair {p}, channel {c}: {m0} vs {m1}"
            );
        }
    }
    // timing separates the pair (the median order is right most of the time)
    assert!(order_ok as f64 > 0.99 * quiet.len() as f64, "{order_ok}");
}

#[test]
fn recipes_build_the_networks_they_describe() {
    use lca::snn::defaults;
    let d = defaults::for_dataset("digits");
    let net = d.network(64, 10, 0).unwrap();
    assert_eq!(net.layers.len(), 2);
    assert_eq!(net.layers[0].size(), 128);
    assert!(!net.layers[0].spec.train_decays && net.has_readout());
    assert_eq!(net.layers[0].spec.neuron.current_decay, 0.85);
    assert_eq!(defaults::for_dataset("yinyang"), defaults::yinyang());
    assert_eq!(defaults::for_dataset("x.npz"), defaults::streams());
    assert_eq!(defaults::for_dataset("x.csv"), defaults::yinyang());
    assert!(d.train.clone().check().is_ok());
}

#[test]
fn eventprop_recipes_build_spike_timed_networks_eventprop_can_train() {
    use lca::snn::{Method, SpikeTiming, defaults, eventprop};
    for name in ["yinyang", "digits", "streams", "x.npz", "x.csv"] {
        let r = defaults::for_method(name, Method::EventProp);
        assert_eq!(r, defaults::eventprop(name));
        assert_eq!(r.train.method, Method::EventProp, "{name}");
        assert_eq!(
            defaults::for_method(name, Method::Surrogate),
            defaults::for_dataset(name)
        );
        let classes = if name == "digits" { 10 } else { 3 };
        let net = r.network(4, classes, 0).unwrap();
        assert_eq!(net.timing, SpikeTiming::Interpolated, "{name}");
        eventprop::check(&net, &r.train.loss).unwrap();
        assert!(r.train.clone().check().is_ok(), "{name}");
    }
}
