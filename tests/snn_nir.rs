//! NIR export and import of spiking networks: lca → NIR → lca round trips,
//! graphs made elsewhere against an Euler simulation of the NIR ODEs written
//! here, and refusals of graphs lca cannot run.

use std::collections::BTreeMap;

use lca::io::hdf5::{Array, Entry, Kind};
use lca::neuron::{Reset, Surrogate, SurrogateKind};
use lca::snn::nir::{self, Defaults, Graph, Node};
use lca::snn::{LayerKind, LayerSpec, Loss, Model, Network, SpikeMode, SpikeTiming, SpikeTrain};
use lca::snn::{Scaling, defaults};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn surrogate() -> Surrogate {
    Surrogate {
        kind: SurrogateKind::FastSigmoid,
        tau: 0.1,
        alpha: 1.0,
    }
}

/// A model whose every parameter, decays and thresholds included, differs
/// from its initial value (as after training).
fn trained_like(recurrent: bool, readout: bool, reset: Reset, seed: u64) -> Model {
    let hidden = if recurrent {
        LayerKind::Recurrent
    } else {
        LayerKind::FeedForward
    };
    let mut specs = vec![
        LayerSpec::new(hidden, 7, 0.8, 0.9),
        LayerSpec::new(LayerKind::FeedForward, 5, 0.6, 0.95),
        LayerSpec::new(
            if readout {
                LayerKind::Readout
            } else {
                LayerKind::FeedForward
            },
            3,
            0.85,
            0.9,
        ),
    ];
    for s in &mut specs {
        s.neuron.reset = reset;
        s.train_decays = true;
        s.train_threshold = true;
    }
    let mut net = Network::new(4, &specs, surrogate(), seed).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    for p in net.params.iter_mut() {
        *p += 0.1 * (rng.random::<f32>() - 0.5);
    }
    for l in net.layers.clone() {
        let o = l.scalar_offset();
        net.params[o] = rng.random_range(0.3..0.97);
        net.params[o + 1] = rng.random_range(0.5..0.99);
        if l.spiking() {
            // a readout's threshold is never trained (it does not spike)
            net.params[o + 2] = rng.random_range(0.5..1.5);
        } else {
            net.params[o + 2] = l.spec.neuron.threshold;
        }
    }
    if !readout {
        net.timing = SpikeTiming::Interpolated;
    }
    let recipe = defaults::for_dataset("yinyang");
    Model {
        format: Model::FORMAT.to_string(),
        dataset: "yinyang".into(),
        n_classes: 3,
        scaling: Scaling::identity(4),
        encoder: recipe.encoder(),
        loss: if readout {
            Loss::ExpVoltage { tau: 12.5 }
        } else {
            Loss::SpikeCount
        },
        seed,
        network: net,
        events: None,
    }
}

fn hint() -> Defaults {
    Defaults {
        recipe: defaults::for_dataset("yinyang"),
        dataset: "yinyang".into(),
        events: None,
    }
}

fn random_spikes(steps: usize, channels: usize, seed: u64) -> SpikeTrain {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    SpikeTrain {
        steps,
        channels,
        data: (0..steps * channels)
            .map(|_| f32::from(rng.random::<f32>() < 0.3))
            .collect(),
    }
}

#[test]
fn models_survive_lca_to_nir_to_lca_identically() {
    let dir = tempfile::tempdir().unwrap();
    for (k, (recurrent, readout, reset)) in [
        (false, true, Reset::Zero),
        (true, true, Reset::Zero),
        (true, false, Reset::Subtract),
        (false, false, Reset::Zero),
    ]
    .into_iter()
    .enumerate()
    {
        let model = trained_like(recurrent, readout, reset, k as u64);
        let path = dir.path().join(format!("m{k}.nir"));
        nir::write_model(&model, &path).unwrap();
        let back = nir::read_model(&path, &hint()).unwrap();
        assert_eq!(back, model, "case {k}");
    }
}

#[test]
fn the_exported_graph_states_the_discretisation() {
    let model = trained_like(true, true, Reset::Zero, 1);
    let g = nir::to_nir(&model).unwrap();
    let kinds: Vec<(&str, &str)> = g
        .nodes
        .iter()
        .map(|(k, n)| (k.as_str(), n.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("fc0", "Affine"),
            ("fc1", "Affine"),
            ("fc2", "Affine"),
            ("input", "Input"),
            ("li2", "CubaLI"),
            ("lif0", "CubaLIF"),
            ("lif1", "CubaLIF"),
            ("output", "Output"),
            ("rec0", "Linear"),
        ]
    );
    assert!(g.edges.contains(&("lif0".into(), "rec0".into())));
    assert!(g.edges.contains(&("rec0".into(), "lif0".into())));
    let l0 = &model.network.layers[0];
    let a = f64::from(model.network.params[l0.scalar_offset()]);
    let tau_syn = g.nodes["lif0"].params["tau_syn"].data[0];
    assert!((tau_syn - nir::DT / (1.0 - a)).abs() < 1e-15);
    assert!((g.nodes["lif0"].params["w_in"].data[0] - tau_syn / nir::DT).abs() < 1e-9);
    match &g.metadata["dt"] {
        Entry::Array(dt) => assert_eq!(dt.data, [nir::DT]),
        other => panic!("{other:?}"),
    }
}

fn arr(shape: &[usize], data: Vec<f64>) -> Array {
    Array::new(shape.to_vec(), data, Kind::F64)
}

fn node(kind: &str, params: &[(&str, Array)]) -> Node {
    Node {
        kind: kind.into(),
        params: params
            .iter()
            .map(|(k, a)| (k.to_string(), a.clone()))
            .collect(),
        metadata: BTreeMap::new(),
        graph: None,
    }
}

/// snnTorch-style graph: Affine → LIF (Leaky, τ = dt/(1−β), r = τ/dt) →
/// Affine → recurrent CubaLIF as a subgraph (RSynaptic) → Affine → LI.
fn foreign_graph(nan: bool) -> Graph {
    let dt = 1e-3;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut w = |r: usize, c: usize| {
        arr(
            &[r, c],
            (0..r * c).map(|_| rng.random_range(-1.0..1.5)).collect(),
        )
    };
    let (w1, w2, wr, w3) = (w(5, 3), w(4, 5), w(4, 4), w(2, 4));
    let mut w1 = w1;
    if nan {
        w1.data[3] = f64::NAN;
    }
    let v = |x: f64, n: usize| arr(&[n], vec![x; n]);
    let mut sub = Graph::default();
    sub.nodes
        .insert("input".into(), node("Input", &[("shape", v(4.0, 1))]));
    sub.nodes
        .insert("output".into(), node("Output", &[("shape", v(4.0, 1))]));
    sub.nodes.insert(
        "lif".into(),
        node(
            "CubaLIF",
            &[
                ("tau_syn", v(4e-3, 4)),
                ("tau_mem", v(8e-3, 4)),
                ("r", v(1.5, 4)),
                ("w_in", v(2.0, 4)),
                ("v_leak", v(0.0, 4)),
                ("v_threshold", v(0.7, 4)),
                ("v_reset", v(0.0, 4)),
            ],
        ),
    );
    sub.nodes
        .insert("w_rec".into(), node("Linear", &[("weight", wr)]));
    for (a, b) in [
        ("input", "lif"),
        ("lif", "w_rec"),
        ("w_rec", "lif"),
        ("lif", "output"),
    ] {
        sub.edges.push((a.into(), b.into()));
    }
    let mut g = Graph::default();
    g.nodes
        .insert("input".into(), node("Input", &[("shape", v(3.0, 1))]));
    g.nodes.insert(
        "0".into(),
        node("Affine", &[("weight", w1), ("bias", v(0.1, 5))]),
    );
    g.nodes.insert(
        "1".into(),
        node(
            "LIF",
            &[
                ("tau", v(5e-3, 5)),
                ("r", v(5.0, 5)),
                ("v_leak", v(0.0, 5)),
                ("v_threshold", v(1.0, 5)),
            ],
        ),
    );
    g.nodes
        .insert("2".into(), node("Linear", &[("weight", w2)]));
    let mut rs = node("NIRGraph", &[]);
    rs.graph = Some(Box::new(sub));
    g.nodes.insert("3".into(), rs);
    g.nodes.insert(
        "4".into(),
        node("Affine", &[("weight", w3), ("bias", v(-0.2, 2))]),
    );
    g.nodes.insert(
        "5".into(),
        node(
            "LI",
            &[("tau", v(4e-3, 2)), ("r", v(4.0, 2)), ("v_leak", v(0.0, 2))],
        ),
    );
    g.nodes
        .insert("output".into(), node("Output", &[("shape", v(2.0, 1))]));
    for (a, b) in [
        ("input", "0"),
        ("0", "1"),
        ("1", "2"),
        ("2", "3"),
        ("3", "4"),
        ("4", "5"),
        ("5", "output"),
    ] {
        g.edges.push((a.into(), b.into()));
    }
    g.metadata
        .insert("dt".into(), Entry::Array(Array::scalar(dt, Kind::F64)));
    g
}

/// Forward Euler of the NIR ODEs of [`foreign_graph`] at its dt, written
/// from the NIR definitions (not from lca's layers): the readout voltages.
fn euler_reference(g: &Graph, x: &SpikeTrain) -> Vec<f64> {
    let dt = 1e-3;
    let p = |n: &str, k: &str| g.nodes[n].params[k].data.clone();
    let sub = g.nodes["3"].graph.as_ref().unwrap();
    let q = |k: &str| sub.nodes["lif"].params[k].data[0];
    let wr = sub.nodes["w_rec"].params["weight"].data.clone();
    let mv = |w: &[f64], cols: usize, x: &[f64]| -> Vec<f64> {
        w.chunks(cols)
            .map(|r| r.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    };
    let (mut v1, mut i2, mut v2, mut s2, mut v3) = (
        vec![0.0; 5],
        vec![0.0; 4],
        vec![0.0; 4],
        vec![0.0; 4],
        vec![0.0; 2],
    );
    let mut out = Vec::new();
    for t in 0..x.steps {
        let xt: Vec<f64> = x.data[t * 3..(t + 1) * 3]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        // LIF: τ v̇ = −v + R·(W x + b)
        let d1 = mv(&p("0", "weight"), 3, &xt);
        let mut s1 = vec![0.0; 5];
        for i in 0..5 {
            let inp = d1[i] + p("0", "bias")[i];
            v1[i] += dt / 5e-3 * (-v1[i] + 5.0 * inp);
            if v1[i] >= 1.0 {
                s1[i] = 1.0;
                v1[i] = 0.0;
            }
        }
        // CubaLIF with recurrence (spikes of the previous step)
        let d2 = mv(&p("2", "weight"), 5, &s1);
        let dr = mv(&wr, 4, &s2);
        for i in 0..4 {
            i2[i] += dt / q("tau_syn") * (-i2[i] + q("w_in") * (d2[i] + dr[i]));
            v2[i] += dt / q("tau_mem") * (-v2[i] + q("r") * i2[i]);
            s2[i] = 0.0;
            if v2[i] >= q("v_threshold") {
                s2[i] = 1.0;
                v2[i] = 0.0;
            }
        }
        // LI readout
        let d3 = mv(&p("4", "weight"), 4, &s2);
        for i in 0..2 {
            v3[i] += dt / 4e-3 * (-v3[i] + 4.0 * (d3[i] + p("4", "bias")[i]));
        }
        out.extend_from_slice(&v3);
    }
    out
}

#[test]
fn a_foreign_graph_runs_as_the_euler_steps_of_its_equations() {
    let g = foreign_graph(false);
    let net = g.to_network(surrogate()).unwrap();
    assert_eq!(net.n_inputs, 3);
    let kinds: Vec<LayerKind> = net.layers.iter().map(|l| l.spec.kind).collect();
    assert_eq!(
        kinds,
        [
            LayerKind::FeedForward,
            LayerKind::Recurrent,
            LayerKind::Readout
        ]
    );
    let x = random_spikes(40, 3, 2);
    let ours = net.forward(&x, SpikeMode::Heaviside);
    let reference = euler_reference(&g, &x);
    let worst = ours
        .output()
        .iter()
        .zip(&reference)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.1, "the readout stays silent: {scale}");
    assert!(
        worst < 1e-4 * scale.max(1.0),
        "largest difference {worst} (scale {scale})"
    );
    // and through a file, with the defaults of the named recipe
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.nir");
    g.write(&path).unwrap();
    let model = nir::read_model(&path, &hint()).unwrap();
    assert_eq!(model.network, net);
    assert_eq!(model.n_classes, 2);
    assert_eq!(model.loss, defaults::for_dataset("yinyang").train.loss);
}

fn refusal(g: &Graph) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.nir");
    g.write(&path).unwrap();
    let e = nir::read_model(&path, &hint()).unwrap_err().to_string();
    assert!(e.contains("bad.nir"), "{e}");
    e
}

#[test]
fn graphs_lca_cannot_run_are_refused_naming_the_node() {
    let mut g = foreign_graph(false);
    g.nodes.insert("1".into(), node("Conv2d", &[]));
    let e = refusal(&g);
    assert!(e.contains("'1'") && e.contains("Conv2d"), "{e}");

    let e = refusal(&foreign_graph(true));
    assert!(e.contains("'0'") && e.contains("NaN"), "{e}");

    let mut g = foreign_graph(false);
    g.nodes
        .get_mut("2")
        .unwrap()
        .params
        .insert("weight".into(), arr(&[4, 6], vec![0.1; 24]));
    let e = refusal(&g);
    assert!(e.contains("'2'") && e.contains("takes 6 inputs"), "{e}");

    let mut g = foreign_graph(false);
    g.edges.push(("5".into(), "2".into()));
    let e = refusal(&g);
    assert!(e.contains("'5'") || e.contains("'2'"), "{e}");

    let mut g = foreign_graph(false);
    g.nodes.get_mut("1").unwrap().params.insert(
        "v_threshold".into(),
        arr(&[5], vec![1.0, 1.0, 2.0, 1.0, 1.0]),
    );
    let e = refusal(&g);
    assert!(e.contains("'1'") && e.contains("v_threshold"), "{e}");
}

#[test]
fn files_that_are_not_nir_graphs_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.h5");
    let mut t = lca::io::hdf5::Tree::new();
    t.insert("x".into(), Entry::Array(Array::scalar(1.0, Kind::F64)));
    lca::io::hdf5::write_tree(&path, &t).unwrap();
    let e = nir::read_model(&path, &hint()).unwrap_err().to_string();
    assert!(
        e.contains("plain.h5") && e.contains("not a NIR graph"),
        "{e}"
    );
}

#[test]
fn the_spiking_lca_graph_holds_drive_neurons_and_inhibition() {
    use lca::Dictionary;
    use lca::solver::SpikingParams;
    let s = 0.5f32.sqrt();
    // three unit atoms in 2-D: G has off-diagonal overlaps
    let dict = Dictionary::from_rows(3, 2, vec![1.0, 0.0, s, s, 0.0, 1.0]).unwrap();
    let g_of = |i: usize, j: usize| f64::from(dict.inhibition()[(i, j)]);
    let p = SpikingParams::default().lambda(0.2).threshold(1.5);
    let g = nir::spiking_lca_graph(&dict, &p).unwrap();
    let kinds: Vec<&str> = g.nodes.values().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["Affine", "Linear", "Input", "IF", "Output"]);
    let (drive, inh) = (&g.nodes["drive"], &g.nodes["inhibition"]);
    assert_eq!(drive.params["weight"].shape, [6, 2]);
    // OFF neuron 3 + i carries −φ_i; the bias is −dt·λ
    let w = &drive.params["weight"].data;
    let dt = f64::from(p.dt);
    assert!((w[2] - dt * f64::from(s)).abs() < 1e-7 && (w[4 * 2] + dt * f64::from(s)).abs() < 1e-7);
    assert!((drive.params["bias"].data[0] + dt * 0.2).abs() < 1e-7);
    let r = &inh.params["weight"].data;
    let th = 1.5;
    // ON ← ON: −ϑ·G; ON ← OFF: +ϑ·G; the pair: +κ·ϑ
    assert!((r[1] + th * g_of(0, 1)).abs() < 1e-6);
    assert!((r[4] - th * g_of(0, 1)).abs() < 1e-6);
    assert!((r[3] - th * f64::from(p.pair_coupling)).abs() < 1e-6);
    assert!(inh.metadata.is_empty());

    let fixed = nir::spiking_lca_graph(&dict, &p.clone().nonneg(true).fixed_point(true)).unwrap();
    let md = &fixed.nodes["inhibition"].metadata;
    assert!(md.contains_key("weight_int") && md.contains_key("weight_exponent"));
    assert_eq!(fixed.nodes["inhibition"].params["weight"].shape, [3, 3]);

    let e = nir::spiking_lca_graph(&dict, &p.current_decay(0.5))
        .unwrap_err()
        .to_string();
    assert!(e.contains("current_decay") && e.contains("IF"), "{e}");
}

/// `Model::run_samples`, what the snnTorch cross-check compares, runs the
/// samples as `evaluate` does: its predictions give `evaluate`'s accuracy, its
/// inputs are the encoder's trains and its hidden counts are the threshold
/// crossings of the forward pass's (pre-reset) voltages.
#[test]
fn sample_runs_match_evaluation_and_the_forward_pass() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let n = 40;
    let data = lca::snn::Dataset {
        n_features: 4,
        features: (0..n * 4).map(|_| rng.random::<f32>()).collect(),
        labels: (0..n).map(|i| i % 3).collect(),
        n_classes: 3,
    };
    for readout in [true, false] {
        let model = trained_like(false, readout, Reset::Zero, 3);
        let runs = model.run_samples(&data).unwrap();
        assert_eq!(runs.len(), n);
        let correct = runs
            .iter()
            .zip(&data.labels)
            .filter(|(r, l)| r.predicted == **l)
            .count();
        assert_eq!(correct as f64 / n as f64, model.evaluate(&data).unwrap());
        let net = &model.network;
        for (i, r) in runs.iter().enumerate() {
            let x =
                lca::snn::Encoder::encode(&model.encoder, &data.features[i * 4..(i + 1) * 4], 0);
            assert_eq!(r.input.data, x.data);
            assert_eq!(r.hidden_counts.len(), 2);
            if net.timing == SpikeTiming::Step {
                let trace = net.forward(&x, SpikeMode::Heaviside);
                for (l, counts) in r.hidden_counts.iter().enumerate() {
                    let layer = &net.layers[l];
                    let th = net.params[layer.scalar_offset() + 2];
                    let size = layer.size();
                    for (k, &c) in counts.iter().enumerate() {
                        let crossings = (0..x.steps)
                            .filter(|t| trace.voltages[l][t * size + k] >= th)
                            .count();
                        assert_eq!(c as usize, crossings, "layer {l} neuron {k}");
                    }
                }
            } else {
                assert!(r.hidden_counts.iter().all(|c| c.len() == 7 || c.len() == 5));
            }
        }
    }
}
