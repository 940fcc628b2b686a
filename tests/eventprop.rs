//! EventProp: exact gradients against central finite differences (f64) and
//! against surrogate BPTT where the two must agree.

use lca::neuron::{Reset, Surrogate, SurrogateKind};
use lca::snn::eventprop::{self, forward, gradient};
use lca::snn::{LayerKind, LayerSpec, Loss, Network, SpikeMode, SpikeTiming, SpikeTrain};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Inputs with sparse, graded events so every layer gets a varied drive.
fn random_train(steps: usize, channels: usize, seed: u64) -> SpikeTrain {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data = (0..steps * channels)
        .map(|_| {
            if rng.random::<f32>() < 0.4 {
                rng.random::<f32>()
            } else {
                0.0
            }
        })
        .collect();
    SpikeTrain {
        steps,
        channels,
        data,
    }
}

fn spec(kind: LayerKind, size: usize, reset: Reset, scale: f32) -> LayerSpec {
    let mut s = LayerSpec::new(kind, size, 0.8, 0.85);
    s.neuron.threshold = 0.5;
    s.neuron.reset = reset;
    s.train_threshold = true;
    s.weight_scale = scale;
    s.recurrent_scale = 1.0;
    s
}

fn phi() -> Surrogate {
    Surrogate {
        kind: SurrogateKind::Box,
        tau: 0.2,
        alpha: 1.0,
    }
}

fn network(hidden: LayerKind, out: LayerKind, reset: Reset, seed: u64) -> Network {
    let out_scale = if out == LayerKind::Readout { 0.2 } else { 2.0 };
    let specs = [spec(hidden, 6, reset, 3.0), spec(out, 3, reset, out_scale)];
    let mut net = Network::new(3, &specs, phi(), seed).unwrap();
    net.timing = SpikeTiming::Interpolated;
    net
}

/// Which spikes happen (step and neuron per layer) and where each readout
/// maximum sits: finite differences are only meaningful while these stay put.
fn signature(net: &Network, p: &[f64], x: &SpikeTrain) -> Vec<(usize, u32, u32)> {
    let tr = forward(net, p, x, false);
    let mut sig: Vec<(usize, u32, u32)> = tr
        .spikes
        .iter()
        .enumerate()
        .flat_map(|(l, s)| s.iter().map(move |e| (l, e.step, e.neuron)))
        .collect();
    if !tr.readout.is_empty() {
        let k = net.n_outputs();
        for c in 0..k {
            let arg = (0..tr.steps)
                .max_by(|&a, &b| tr.readout[a * k + c].total_cmp(&tr.readout[b * k + c]))
                .unwrap();
            sig.push((usize::MAX, arg as u32, c as u32));
        }
    }
    sig
}

fn loss_at(net: &Network, p: &[f64], x: &SpikeTrain, loss: &Loss, label: usize) -> f64 {
    let tr = forward(net, p, x, false);
    eventprop::loss_and_grad(loss, &tr, net.n_outputs(), label).0
}

/// Worst error of EventProp against central differences over every trained
/// parameter, `|fd − g| / max(|g|, 10⁻³·max|g|)`; parameters whose
/// perturbation changes the spike pattern (FD across a jump) are skipped.
fn check(net: &Network, loss: Loss, what: &str, input_share: f64) -> f64 {
    let x = random_train(25, net.n_inputs, 5);
    let label = 1;
    let p: Vec<f64> = net.params.iter().map(|&v| f64::from(v)).collect();
    let g = gradient(net, &p, &x, &loss, label).unwrap();
    let hidden_spikes = g.trace.spikes[0].len();
    assert!(
        hidden_spikes > 3,
        "{what}: hidden layer nearly silent ({hidden_spikes} spikes)"
    );
    let gmax = g.grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(gmax > 1e-4, "{what}: gradient vanishes ({gmax})");
    // the spike times of the hidden layer must carry gradient to its weights
    let w0 = net.layers[0].weight_range();
    let g_in = g.grad[w0].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        g_in > input_share * gmax,
        "{what}: no gradient reaches the input weights ({g_in} of {gmax})"
    );

    let base = signature(net, &p, &x);
    let trained = |k: usize| {
        net.layers.iter().any(|l| {
            let s = l.scalar_offset();
            (l.offset..s).contains(&k) || (k == s + 2 && l.spec.train_threshold && l.spiking())
        })
    };
    let (mut worst, mut strict, mut skipped, mut checked) = (0.0f64, 0.0f64, 0, 0);
    for k in 0..p.len() {
        if !trained(k) {
            assert_eq!(
                g.grad[k], 0.0,
                "{what}: untrained parameter {k} has a gradient"
            );
            continue;
        }
        let h = 1e-5;
        let mut q = p.clone();
        q[k] = p[k] + h;
        let up_sig = signature(net, &q, &x);
        let up = loss_at(net, &q, &x, &loss, label);
        q[k] = p[k] - h;
        let down_sig = signature(net, &q, &x);
        let down = loss_at(net, &q, &x, &loss, label);
        if up_sig != base || down_sig != base {
            skipped += 1;
            continue;
        }
        checked += 1;
        let fd = (up - down) / (2.0 * h);
        let err = (fd - g.grad[k]).abs() / g.grad[k].abs().max(1e-3 * gmax);
        assert!(
            err < 1e-4,
            "{what}: parameter {k}: eventprop {} vs finite difference {fd} (max |g| {gmax})",
            g.grad[k]
        );
        worst = worst.max(err);
        if g.grad[k].abs() > 1e-6 * gmax {
            strict = strict.max((fd - g.grad[k]).abs() / g.grad[k].abs());
        }
    }
    assert!(
        skipped * 10 <= checked,
        "{what}: {skipped} of {} skipped",
        checked + skipped
    );
    eprintln!(
        "{what}: {} spikes, {checked} parameters, {skipped} skipped, worst error {worst:.1e} \
         (relative to max(|g|, 1e-3 max|g|)), {strict:.1e} (relative to |g|, for |g| > 1e-6 max|g|)",
        g.trace.n_spikes()
    );
    worst
}

#[test]
fn readout_losses_match_finite_differences() {
    for reset in [Reset::Zero, Reset::Subtract] {
        for loss in [
            Loss::MaxVoltage,
            Loss::MeanVoltage,
            Loss::ExpVoltage { tau: 8.0 },
        ] {
            let net = network(LayerKind::FeedForward, LayerKind::Readout, reset, 3);
            check(
                &net,
                loss,
                &format!("ff/readout {reset:?} {}", loss.name()),
                1e-4,
            );
        }
    }
}

#[test]
fn recurrent_layers_match_finite_differences() {
    for reset in [Reset::Zero, Reset::Subtract] {
        let net = network(LayerKind::Recurrent, LayerKind::Readout, reset, 4);
        check(
            &net,
            Loss::MeanVoltage,
            &format!("recurrent {reset:?} mean"),
            1e-3,
        );
    }
}

#[test]
fn first_spike_loss_matches_finite_differences() {
    for reset in [Reset::Zero, Reset::Subtract] {
        let mut net = network(LayerKind::FeedForward, LayerKind::FeedForward, reset, 22);
        // a small drive so every output neuron fires, early or late
        let b = net.layers[1].weight_range().end;
        for k in 0..3 {
            net.params[b + k] = 0.05;
        }
        let loss = Loss::FirstSpike {
            tau0: 2.0,
            tau1: 20.0,
            gamma: 0.1,
        };
        let p: Vec<f64> = net.params.iter().map(|&v| f64::from(v)).collect();
        let x = random_train(25, 3, 5);
        let tr = forward(&net, &p, &x, false);
        let (times, _) = eventprop::first_spike_times(&tr, 3);
        assert!(
            times.iter().all(|&t| t < 25.0),
            "outputs too silent: {times:?}"
        );
        // the first output spikes come early: few hidden spikes precede them,
        // so little reaches the input weights
        check(&net, loss, &format!("ttfs {reset:?}"), 1e-5);
    }
}

/// BPTT gradient (f32) of a step-timed copy of `net`.
fn bptt(net: &Network, x: &SpikeTrain, loss: &Loss, label: usize) -> Vec<f32> {
    let mut n = net.clone();
    n.timing = SpikeTiming::Step;
    let tr = n.forward(x, SpikeMode::Heaviside);
    let mut g_out = vec![0.0; tr.output().len()];
    loss.value_and_grad(tr.output(), tr.steps, n.n_outputs(), label, &mut g_out);
    let mut grad = vec![0.0f32; n.params.len()];
    n.backward(x, &tr, &g_out, SpikeMode::Heaviside, &mut grad);
    grad
}

fn assert_agree(net: &Network, loss: Loss, what: &str) {
    let x = random_train(25, net.n_inputs, 9);
    let p: Vec<f64> = net.params.iter().map(|&v| f64::from(v)).collect();
    let ep = gradient(net, &p, &x, &loss, 2).unwrap();
    let bp = bptt(net, &x, &loss, 2);
    let gmax = ep.grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(gmax > 1e-3, "{what}: gradient vanishes");
    for (k, (&e, &b)) in ep.grad.iter().zip(&bp).enumerate() {
        let err = (e - f64::from(b)).abs() / gmax;
        assert!(
            err < 1e-5,
            "{what}: parameter {k}: eventprop {e} vs bptt {b}"
        );
    }
}

#[test]
fn without_hidden_spikes_eventprop_equals_bptt() {
    // a readout on the input: no spikes anywhere, the two models coincide
    for loss in [
        Loss::MaxVoltage,
        Loss::MeanVoltage,
        Loss::ExpVoltage { tau: 5.0 },
    ] {
        let mut net = Network::new(
            3,
            &[spec(LayerKind::Readout, 3, Reset::Zero, 1.0)],
            phi(),
            1,
        )
        .unwrap();
        net.timing = SpikeTiming::Interpolated;
        assert_agree(&net, loss, &format!("readout only, {}", loss.name()));
    }
    // a silent hidden layer, its voltage farther than the box surrogate's
    // width below threshold: both give it exactly zero gradient
    let mut net = network(LayerKind::FeedForward, LayerKind::Readout, Reset::Zero, 3);
    let th = net.layers[0].scalar_offset() + 2;
    net.params[th] = 100.0;
    assert_agree(&net, Loss::MeanVoltage, "silent hidden layer");
}

#[test]
fn interpolated_network_forward_is_the_eventprop_forward() {
    let net = network(LayerKind::FeedForward, LayerKind::Readout, Reset::Zero, 3);
    let x = random_train(25, 3, 5);
    let p: Vec<f64> = net.params.iter().map(|&v| f64::from(v)).collect();
    let ep = forward(&net, &p, &x, false);
    let tr = net.forward(&x, SpikeMode::Heaviside);
    assert_eq!(tr.output().len(), ep.readout.len());
    for (&a, &b) in tr.output().iter().zip(&ep.readout) {
        assert_eq!(a, b as f32);
    }
    // spikes move the readout differently from step-timed delivery
    let mut step = net.clone();
    step.timing = SpikeTiming::Step;
    assert_ne!(step.forward(&x, SpikeMode::Heaviside).output(), tr.output());
}

#[test]
fn eventprop_refuses_what_it_cannot_differentiate() {
    let net = network(
        LayerKind::FeedForward,
        LayerKind::FeedForward,
        Reset::Zero,
        3,
    );
    let x = random_train(10, 3, 1);
    let p: Vec<f64> = net.params.iter().map(|&v| f64::from(v)).collect();
    assert!(gradient(&net, &p, &x, &Loss::SpikeCount, 0).is_err());
    let mut step = net.clone();
    step.timing = SpikeTiming::Step;
    assert!(gradient(&step, &p, &x, &Loss::MaxVoltage, 0).is_err());
    let mut decays = network(LayerKind::FeedForward, LayerKind::Readout, Reset::Zero, 3);
    decays.layers[0].spec.train_decays = true;
    assert!(gradient(&decays, &p, &x, &Loss::MaxVoltage, 0).is_err());
}

#[test]
fn accuracy_of_a_spike_timed_network_reads_interpolated_first_spike_times() {
    use lca::snn::SpikeDataset;
    let net = network(
        LayerKind::FeedForward,
        LayerKind::FeedForward,
        Reset::Zero,
        4,
    );
    let loss = Loss::FirstSpike {
        tau0: 2.0,
        tau1: 20.0,
        gamma: 0.0,
    };
    let trains: Vec<SpikeTrain> = (0..40).map(|s| random_train(25, 3, 100 + s)).collect();
    let p: Vec<f64> = net.params.iter().map(|&v| f64::from(v)).collect();
    // labels: the interpolated prediction for even samples, another class for odd ones
    let labels: Vec<usize> = trains
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let k = eventprop::predict(&loss, &forward(&net, &p, x, false), 3);
            if i % 2 == 0 { k } else { (k + 1) % 3 }
        })
        .collect();
    let data = SpikeDataset { trains, labels };
    assert_eq!(lca::snn::accuracy(&net, &data, &loss), 0.5);
}

#[test]
fn a_positive_weight_mean_shifts_the_initial_weights() {
    let mut s = spec(LayerKind::FeedForward, 200, Reset::Zero, 0.1);
    s.weight_mean = 0.5;
    let net = Network::new(50, &[s.clone()], phi(), 0).unwrap();
    let w = &net.params[net.layers[0].weight_range()];
    let mean = w.iter().sum::<f32>() / w.len() as f32;
    let sd = (w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / w.len() as f32).sqrt();
    assert!((mean - 0.5).abs() < 0.002, "{mean}");
    assert!((sd - 0.1 / 50f32.sqrt()).abs() < 0.001, "{sd}");
    s.weight_mean = f32::NAN;
    let err = Network::new(50, &[s], phi(), 0).unwrap_err().to_string();
    assert!(err.contains("weight mean"), "{err}");
}
