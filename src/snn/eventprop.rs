//! EventProp (Wunderlich & Pehle 2021): exact gradients of a spiking network
//! from its spikes, with memory that grows with the number of spikes rather
//! than the number of time steps.
//!
//! # Which gradient
//!
//! The networks of [`crate::snn`] run in discrete time, so the target here is
//! the **exact gradient of the discretised model**, not a discretisation of the
//! continuous adjoint ODEs: the backward pass is the adjoint of the very
//! recursion the forward pass runs, step for step, and agrees with central
//! finite differences to rounding (`tests/eventprop.rs`). For the gradient to
//! reach hidden layers, a spike must move its targets continuously when its
//! time moves; with spikes delivered as a `1` at their step it cannot, and the
//! exact gradient through hidden spikes is zero. The model EventProp trains
//! ([`SpikeTiming::Interpolated`]) therefore gives every spike a time inside
//! its step and delivers the synaptic current it would have after decaying
//! from that time to the next sample:
//!
//! ```text
//! i[t] = a·i[t−1] + b + Σ_k W·d_k[t] + Σ_k R·d_k[t−1]     (spikes k of the layer below; own spikes)
//! v[t] = β·v̂[t−1] + i[t]
//! spike at step t when v[t] ≥ ϑ, at time t_k = t − 1 + s*,  s* = (ϑ − v̂[t−1]) / (v[t] − v̂[t−1])
//! d_k = (1 − s*) at step t, s* at step t + 1                (the impulse split linearly)
//! v̂[t] = 0 or v[t] − ϑ after a spike, v[t] otherwise
//! ```
//!
//! `s*` is where the straight line from `v̂[t−1]` to `v[t]` crosses the
//! threshold; the spike, one step late, is shared linearly between the two
//! samples after it, so its targets move continuously as it moves, also
//! across step boundaries (a spike at `s* = 1` of step `t` lands where one at
//! `s* → 0` of step `t + 1` does). An earlier version weighted the delivery
//! by `a^{t−t_k}` at step `t` only: its gradient was exact too, but the model
//! jumps at every step boundary, the within-step slope points the wrong way,
//! and training diverged.
//!
//! # The adjoint
//!
//! Walking back from the last step, each layer keeps `λ_V = ∂L/∂v[t]` and
//! `λ_I = ∂L/∂i[t]`; between spikes they follow the transposed recursion
//! `λ_V[t] = β λ_V[t+1] + ∂L/∂v[t]`, `λ_I[t] = λ_V[t] + a λ_I[t+1]`. At a spike
//! (the jump) the neuron receives `G = ∂L/∂s*` — the loss's own term (first
//! spike times) plus
//! — for each target the difference of its `λ_I` at the two steps the spike is
//! shared between, `W·(λ_I^{post}[t+1] − λ_I^{post}[t])` — and passes it to
//! its voltage through the crossing: `λ_V[t] += G·∂s*/∂v[t] = −G s*/Δ` and
//! `∂L/∂v̂[t−1] += G (s*−1)/Δ` with `Δ = v[t] − v̂[t−1]` (the discrete
//! `V̇` of the continuous jump condition); a reset to zero cuts `λ_V` there.
//! Weight gradients are sampled at presynaptic spikes, `∂L/∂W_{ij} += (1−s*)
//! λ_I,i[t] + s* λ_I,i[t+1]`; biases collect `Σ_t λ_I`, thresholds `G/Δ` per spike (and `−∂L/∂v̂`
//! for the subtractive reset). Decays are not trained by EventProp.
//!
//! The forward pass keeps, per spike, its step, neuron, `s*` and `Δ`
//! ([`SpikeEvent`], 24 bytes) plus the readout voltages (`steps × classes`);
//! the adjoint state is `2 × neurons` numbers. Between spikes the adjoint is
//! stepped with the forward pass's own recursion rather than jumped in closed
//! form, so the arithmetic is the same as BPTT's (`O(steps × neurons)`) while
//! memory is `O(spikes)`. Everything is computed in `f64`.
//!
//! ```
//! use lca::neuron::{Surrogate, SurrogateKind};
//! use lca::snn::{eventprop, Latency, Encoder, LayerKind, LayerSpec, Loss, Network, SpikeTiming};
//! let specs = [
//!     LayerSpec::new(LayerKind::FeedForward, 8, 0.8, 0.9),
//!     LayerSpec::new(LayerKind::Readout, 3, 0.8, 0.9),
//! ];
//! let phi = Surrogate { kind: SurrogateKind::FastSigmoid, tau: 0.1, alpha: 1.0 };
//! let mut net = Network::new(4, &specs, phi, 0).unwrap();
//! net.timing = SpikeTiming::Interpolated;
//! let x = Latency { steps: 20, window: 16 }.encode(&[0.1, 0.9, 0.9, 0.1], 0);
//! let params: Vec<f64> = net.params.iter().map(|&p| f64::from(p)).collect();
//! let g = eventprop::gradient(&net, &params, &x, &Loss::MaxVoltage, 1).unwrap();
//! assert_eq!(g.grad.len(), net.params.len());
//! assert!(g.loss > 0.0);
//! ```

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::encoder::SpikeTrain;
pub use super::interpolated::{EventTrace, SpikeEvent, SpikeTiming};
use super::interpolated::{View, axpy, dot, offsets, view};
use super::layer::Layer;
use super::loss::Loss;
use super::network::Network;
use super::samples::{CHUNK, Samples};
use crate::error::{Error, Result};
use crate::neuron::Reset;

/// How gradients are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Backpropagation through time with a surrogate spike derivative, on a
    /// [`SpikeTiming::Step`] network.
    #[default]
    Surrogate,
    /// Exact gradients by EventProp, on a [`SpikeTiming::Interpolated`]
    /// network; trains weights, biases and thresholds, not decays.
    EventProp,
}

/// Checks that EventProp can differentiate `net` under `loss`.
pub fn check(net: &Network, loss: &Loss) -> Result<()> {
    if net.timing != SpikeTiming::Interpolated {
        return Err(Error::setting(
            "method",
            "eventprop needs a network with interpolated spike timing (Network::timing)",
        ));
    }
    if matches!(loss, Loss::SpikeCount) {
        return Err(Error::setting(
            "loss",
            "spike counts do not move continuously with the parameters, so their exact gradient \
             is zero: use ttfs, max, mean or exp with eventprop",
        ));
    }
    for (l, layer) in net.layers.iter().enumerate() {
        if layer.spec.train_decays {
            return Err(Error::setting(
                "method",
                format!("layer {l}: eventprop does not train decays; keep them fixed"),
            ));
        }
    }
    Ok(())
}

/// Runs the [`SpikeTiming::Interpolated`] network with parameters `p` (the
/// layout of [`Network::params`], in `f64`) over `x`, recording every spike.
pub fn forward(net: &Network, p: &[f64], x: &SpikeTrain, record_voltages: bool) -> EventTrace {
    super::interpolated::forward(&net.layers, p, x, record_voltages)
}

/// `∂L/∂output` of an [`EventTrace`]: per readout voltage, and per spike of
/// the last layer (`∂L/∂s*`, the derivative by its time).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutputGrad {
    /// `[steps × outputs]`, empty when the last layer spikes.
    pub readout: Vec<f64>,
    /// One per spike of the last layer, empty for a readout.
    pub spikes: Vec<f64>,
}

/// `−log softmax(z)_y` and its gradient, in `f64`.
fn cross_entropy(z: &[f64], y: usize) -> (f64, Vec<f64>) {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|&v| (v - m).exp()).collect();
    let sum: f64 = e.iter().sum();
    let g = e
        .iter()
        .enumerate()
        .map(|(k, &ek)| ek / sum - if k == y { 1.0 } else { 0.0 })
        .collect();
    (sum.ln() - (z[y] - m), g)
}

/// First-spike time `step − 1 + s*` of every output neuron (`steps` if
/// silent) and the index of that spike in the last layer's list.
pub fn first_spike_times(trace: &EventTrace, classes: usize) -> (Vec<f64>, Vec<Option<usize>>) {
    let mut times = vec![trace.steps as f64; classes];
    let mut first = vec![None; classes];
    if let Some(out) = trace.spikes.last() {
        for (idx, e) in out.iter().enumerate() {
            let k = e.neuron as usize;
            if first[k].is_none() {
                first[k] = Some(idx);
                times[k] = f64::from(e.step) - 1.0 + e.frac;
            }
        }
    }
    (times, first)
}

/// Per-class scores (larger: more likely) of an EventProp trace, the
/// interpolated counterpart of [`Loss::scores`].
pub fn scores(loss: &Loss, trace: &EventTrace, classes: usize) -> Vec<f64> {
    let steps = trace.steps;
    let v = |t: usize, k: usize| trace.readout[t * classes + k];
    match *loss {
        Loss::MaxVoltage => (0..classes)
            .map(|k| {
                (0..steps)
                    .map(|t| v(t, k))
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .collect(),
        Loss::MeanVoltage => (0..classes)
            .map(|k| (0..steps).map(|t| v(t, k)).sum::<f64>() / steps as f64)
            .collect(),
        Loss::ExpVoltage { tau } => {
            let w = exp_weights(steps, tau);
            (0..classes)
                .map(|k| (0..steps).map(|t| w[t] * v(t, k)).sum())
                .collect()
        }
        Loss::FirstSpike { tau0, .. } => first_spike_times(trace, classes)
            .0
            .iter()
            .map(|t| -t / f64::from(tau0))
            .collect(),
        Loss::SpikeCount => {
            let mut c = vec![0.0; classes];
            if let Some(out) = trace.spikes.last() {
                for e in out {
                    c[e.neuron as usize] += 1.0;
                }
            }
            c
        }
    }
}

fn exp_weights(steps: usize, tau: f32) -> Vec<f64> {
    let w: Vec<f64> = (0..steps)
        .map(|t| (-(t as f64) / f64::from(tau)).exp())
        .collect();
    let sum: f64 = w.iter().sum();
    w.iter().map(|&x| x / sum).collect()
}

/// Predicted class: the largest score, ties to the lower index.
pub fn predict(loss: &Loss, trace: &EventTrace, classes: usize) -> usize {
    let s = scores(loss, trace, classes);
    (1..classes).fold(0, |best, k| if s[k] > s[best] { k } else { best })
}

/// Loss of `trace` for `label` and its [`OutputGrad`].
pub fn loss_and_grad(
    loss: &Loss,
    trace: &EventTrace,
    classes: usize,
    label: usize,
) -> (f64, OutputGrad) {
    let steps = trace.steps;
    let (ce, dscore) = cross_entropy(&scores(loss, trace, classes), label);
    let mut g = OutputGrad::default();
    match *loss {
        Loss::MaxVoltage | Loss::MeanVoltage | Loss::ExpVoltage { .. } => {
            g.readout = vec![0.0; steps * classes];
            let w = match *loss {
                Loss::ExpVoltage { tau } => exp_weights(steps, tau),
                _ => vec![1.0 / steps as f64; steps],
            };
            for (k, &dk) in dscore.iter().enumerate() {
                if *loss == Loss::MaxVoltage {
                    let mut arg = 0;
                    for t in 1..steps {
                        if trace.readout[t * classes + k] > trace.readout[arg * classes + k] {
                            arg = t;
                        }
                    }
                    if steps > 0 {
                        g.readout[arg * classes + k] = dk;
                    }
                } else {
                    for (t, &wt) in w.iter().enumerate() {
                        g.readout[t * classes + k] = dk * wt;
                    }
                }
            }
            (ce, g)
        }
        Loss::FirstSpike { tau0, tau1, gamma } => {
            let out_len = trace.spikes.last().map_or(0, Vec::len);
            g.spikes = vec![0.0; out_len];
            let (times, first) = first_spike_times(trace, classes);
            let mut total = ce;
            for k in 0..classes {
                let mut dl_dt = -dscore[k] / f64::from(tau0);
                if k == label && gamma != 0.0 {
                    let e = (times[k] / f64::from(tau1)).exp();
                    total += f64::from(gamma) * (e - 1.0);
                    dl_dt += f64::from(gamma) * e / f64::from(tau1);
                }
                if let Some(idx) = first[k] {
                    g.spikes[idx] = dl_dt;
                }
            }
            (total, g)
        }
        // No gradient: counts are piecewise constant ([`check`] refuses it).
        Loss::SpikeCount => {
            g.spikes = vec![0.0; trace.spikes.last().map_or(0, Vec::len)];
            (ce, g)
        }
    }
}

/// Adds `∂L/∂θ` (layout of [`Network::params`]) into `grad` by the adjoint
/// pass over `trace`, the [`forward`] pass of `x` with parameters `p`.
pub fn backward(
    net: &Network,
    p: &[f64],
    x: &SpikeTrain,
    trace: &EventTrace,
    g_out: &OutputGrad,
    grad: &mut [f64],
) {
    let steps = trace.steps;
    let n_layers = net.layers.len();
    let views: Vec<View> = net.layers.iter().map(|l| view(l, p)).collect();
    let sizes: Vec<usize> = net.layers.iter().map(Layer::size).collect();
    let mut lam_i: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    let mut lam_v = lam_i.clone();
    // ∂L/∂v̂[t] from the crossing of a spike at t + 1
    let mut from_next = lam_i.clone();
    // λ_I one step later than lam_i (after a layer's update at t: its value at t + 1)
    let mut later = lam_i.clone();
    // per neuron, the jump G = ∂L/∂s* of its spike at the current step
    let mut jump: Vec<Vec<Option<(f64, SpikeEvent)>>> =
        sizes.iter().map(|&n| vec![None; n]).collect();
    let mut at: Vec<usize> = trace.spikes.iter().map(Vec::len).collect();
    let mut g_th = vec![0.0f64; n_layers];

    for t in (0..steps).rev() {
        for l in (0..n_layers).rev() {
            let layer = &net.layers[l];
            let n = sizes[l];
            let pv = &views[l];
            // 1. the jumps of this step's spikes
            let hi = at[l];
            let mut lo = hi;
            while lo > 0 && trace.spikes[l][lo - 1].step as usize == t {
                lo -= 1;
            }
            at[l] = lo;
            for idx in lo..hi {
                let e = trace.spikes[l][idx];
                let j = e.neuron as usize;
                let mut g = if l + 1 == n_layers {
                    g_out.spikes.get(idx).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
                if l + 1 < n_layers {
                    // delivered (1 − s*) at t and s* at t + 1
                    let m = sizes[l + 1];
                    let col = &views[l + 1].w[j * m..(j + 1) * m];
                    let (now, next) = (&lam_i[l + 1], &later[l + 1]);
                    g += dot(col, next) - dot(col, now);
                    let w0 = offsets(&net.layers[l + 1]).0;
                    let gw = &mut grad[w0 + j * m..w0 + (j + 1) * m];
                    axpy(1.0 - e.frac, now, gw);
                    axpy(e.frac, next, gw);
                }
                if !pv.r.is_empty() {
                    // delivered (1 − s*) at t + 1 and s* at t + 2: lam_i[l]
                    // still holds step t + 1, later[l] step t + 2
                    let col = &pv.r[j * n..(j + 1) * n];
                    let (now, next) = (&lam_i[l], &later[l]);
                    g += dot(col, next) - dot(col, now);
                    let r0 = offsets(layer).1;
                    let gr = &mut grad[r0 + j * n..r0 + (j + 1) * n];
                    axpy(1.0 - e.frac, now, gr);
                    axpy(e.frac, next, gr);
                }
                jump[l][j] = Some((g, e));
            }
            // 2. the adjoint recursion of step t, with the jumps
            let reset = layer.spec.neuron.reset;
            let readout = !layer.spiking();
            let b0 = offsets(layer).2;
            later[l].copy_from_slice(&lam_i[l]);
            for i in 0..n {
                let dvhat = pv.beta * lam_v[l][i] + from_next[l][i];
                let mut lv = dvhat;
                let mut next = 0.0;
                if let Some((g, e)) = jump[l][i].take() {
                    let (dv, dvp) = e.slopes();
                    if reset == Reset::Zero {
                        lv = 0.0;
                    } else {
                        g_th[l] -= dvhat;
                    }
                    lv += g * dv;
                    next = g * dvp;
                    g_th[l] -= g * (dv + dvp);
                }
                if readout {
                    lv += g_out.readout[t * n + i];
                }
                lam_v[l][i] = lv;
                from_next[l][i] = next;
                lam_i[l][i] = lv + pv.a * lam_i[l][i];
                grad[b0 + i] += lam_i[l][i];
            }
            // 3. weights from the encoded input, sampled at its events
            if l == 0 {
                let ni = layer.n_in;
                let w0 = offsets(layer).0;
                for (j, &xj) in x.data[t * ni..(t + 1) * ni].iter().enumerate() {
                    if xj != 0.0 {
                        axpy(
                            f64::from(xj),
                            &lam_i[0],
                            &mut grad[w0 + j * n..w0 + (j + 1) * n],
                        );
                    }
                }
            }
        }
    }
    for (l, layer) in net.layers.iter().enumerate() {
        if layer.spec.train_threshold && layer.spiking() {
            grad[layer.scalar_offset() + 2] += g_th[l];
        }
    }
}

/// Loss, gradient and forward record of one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleGradient {
    /// Loss value.
    pub loss: f64,
    /// `∂L/∂θ`, layout of [`Network::params`].
    pub grad: Vec<f64>,
    /// The forward pass.
    pub trace: EventTrace,
}

/// Loss and exact gradient for sample `x` of class `label`, at parameters `p`
/// (`f64`, layout of [`Network::params`]; `net` gives the architecture).
pub fn gradient(
    net: &Network,
    p: &[f64],
    x: &SpikeTrain,
    loss: &Loss,
    label: usize,
) -> Result<SampleGradient> {
    check(net, loss)?;
    net.check_input(x)?;
    let trace = forward(net, p, x, false);
    let (value, g_out) = loss_and_grad(loss, &trace, net.n_outputs(), label);
    let mut grad = vec![0.0; p.len()];
    backward(net, p, x, &trace, &g_out, &mut grad);
    Ok(SampleGradient {
        loss: value,
        grad,
        trace,
    })
}

/// Gradient sum of a minibatch with what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchGradient {
    /// `Σ ∂L/∂θ` over the batch.
    pub grad: Vec<f32>,
    /// `Σ L`.
    pub loss: f64,
    /// Correct predictions.
    pub correct: usize,
    /// Spikes stored, summed over the samples.
    pub spikes: usize,
    /// Bytes stored for the backward passes, summed over the samples.
    pub stored_bytes: usize,
}

/// [`crate::snn::batch_gradient`] by EventProp: chunks of
/// [`CHUNK`] samples in parallel, added in order (thread-count independent).
pub fn batch_gradient(
    net: &Network,
    samples: &dyn Samples,
    indices: &[usize],
    epoch: u64,
    loss: &Loss,
) -> BatchGradient {
    let classes = net.n_outputs();
    let p: Vec<f64> = net.params.iter().map(|&v| f64::from(v)).collect();
    let parts: Vec<(Vec<f64>, f64, usize, usize, usize)> = indices
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut grad = vec![0.0f64; p.len()];
            let (mut total, mut correct, mut spikes, mut bytes) = (0.0, 0, 0, 0);
            for &i in chunk {
                let x = samples.spikes(i, epoch);
                let label = samples.label(i);
                let trace = forward(net, &p, &x, false);
                let (l, g_out) = loss_and_grad(loss, &trace, classes, label);
                backward(net, &p, &x, &trace, &g_out, &mut grad);
                total += l;
                correct += usize::from(predict(loss, &trace, classes) == label);
                spikes += trace.n_spikes();
                bytes += trace.stored_bytes();
            }
            (grad, total, correct, spikes, bytes)
        })
        .collect();
    let mut out = BatchGradient {
        grad: vec![0.0; p.len()],
        loss: 0.0,
        correct: 0,
        spikes: 0,
        stored_bytes: 0,
    };
    let mut sum = vec![0.0f64; p.len()];
    for (g, l, c, s, b) in parts {
        for (a, v) in sum.iter_mut().zip(&g) {
            *a += v;
        }
        out.loss += l;
        out.correct += c;
        out.spikes += s;
        out.stored_bytes += b;
    }
    for (o, s) in out.grad.iter_mut().zip(&sum) {
        *o = *s as f32;
    }
    out
}
