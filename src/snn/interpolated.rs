//! The forward pass of the interpolated-spike-time model: every spike gets a
//! time inside its step and is delivered to the next sample as the current it
//! would have after decaying from that time ([`SpikeTiming::Interpolated`];
//! the model and why it is needed: [`crate::snn::eventprop`]).
//!
//! A leaf of its own because both sides need it: [`crate::snn::Network`]
//! runs an interpolated network through it, and EventProp's backward pass
//! (`eventprop.rs`) reads the spikes it records and the same parameter views.

use serde::{Deserialize, Serialize};

use super::encoder::SpikeTrain;
use super::layer::{Layer, LayerKind};
use crate::neuron::Reset;
use crate::neuron::decay_accumulate;

/// How a spike reaches the neurons it projects to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpikeTiming {
    /// A `1` at the step of the spike: the model surrogate BPTT trains.
    #[default]
    Step,
    /// Shared `1 − s*`, `s*` between the two steps after the interpolated
    /// crossing: the model whose exact gradient EventProp computes (module docs).
    Interpolated,
}

/// One spike and what the adjoint's jump needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpikeEvent {
    /// Step whose sample crossed the threshold.
    pub step: u32,
    /// Neuron within its layer.
    pub neuron: u32,
    /// Crossing point `s*` in `[0, 1]`: the spike time is `step − 1 + s*`.
    pub frac: f64,
    /// Voltage rise `Δ = v[t] − v̂[t−1]` over the step (∞ when the neuron
    /// started the step above threshold, which fixes `s* = 0`).
    pub rise: f64,
}

impl SpikeEvent {
    /// `(∂s*/∂v[t], ∂s*/∂v̂[t−1])`.
    pub(super) fn slopes(&self) -> (f64, f64) {
        if self.rise.is_finite() {
            (-self.frac / self.rise, (self.frac - 1.0) / self.rise)
        } else {
            (0.0, 0.0)
        }
    }
}

/// What the EventProp forward pass keeps for its backward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct EventTrace {
    /// Number of steps.
    pub steps: usize,
    /// Per layer, its spikes ordered by step then neuron (empty for a readout).
    pub spikes: Vec<Vec<SpikeEvent>>,
    /// Readout voltages `[steps × outputs]` (empty when the last layer spikes).
    pub readout: Vec<f64>,
    /// Per layer, every pre-reset voltage `[steps × size]`, only when asked
    /// for (to build a [`crate::snn::Trace`]); not needed by the gradient.
    pub voltages: Vec<Vec<f32>>,
}

impl EventTrace {
    /// Spikes of all layers.
    pub fn n_spikes(&self) -> usize {
        self.spikes.iter().map(Vec::len).sum()
    }

    /// Bytes the backward pass needs from the forward pass: the spikes and
    /// the readout voltages.
    pub fn stored_bytes(&self) -> usize {
        self.n_spikes() * std::mem::size_of::<SpikeEvent>()
            + self.readout.len() * std::mem::size_of::<f64>()
    }
}

/// One layer's parameters in an `f64` copy of the flat vector.
pub(super) struct View<'a> {
    pub(super) w: &'a [f64],
    pub(super) r: &'a [f64],
    pub(super) b: &'a [f64],
    pub(super) a: f64,
    pub(super) beta: f64,
    pub(super) th: f64,
}

pub(super) fn view<'a>(layer: &Layer, p: &'a [f64]) -> View<'a> {
    let n = layer.size();
    let (w, rest) = p[layer.offset..].split_at(n * layer.n_in);
    let n_rec = if layer.spec.kind == LayerKind::Recurrent {
        n * n
    } else {
        0
    };
    let (r, rest) = rest.split_at(n_rec);
    let s = layer.scalar_offset();
    View {
        w,
        r,
        b: &rest[..n],
        a: p[s],
        beta: p[s + 1],
        th: p[s + 2],
    }
}

/// Offsets of a layer's `W`, `R` and `b` in the flat vector.
pub(super) fn offsets(layer: &Layer) -> (usize, usize, usize) {
    let w = layer.offset;
    let r = w + layer.size() * layer.n_in;
    let b = layer.weight_range().end;
    (w, r, b)
}

#[inline]
pub(super) fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

#[inline]
pub(super) fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// Runs the [`SpikeTiming::Interpolated`] network of `layers` with
/// parameters `p` (the layout of [`crate::snn::Network::params`], in `f64`)
/// over `x`, recording every spike.
pub fn forward(layers: &[Layer], p: &[f64], x: &SpikeTrain, record_voltages: bool) -> EventTrace {
    let steps = x.steps;
    let mut spikes: Vec<Vec<SpikeEvent>> = Vec::with_capacity(layers.len());
    let mut readout = Vec::new();
    let mut voltages = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        let (n, ni) = (layer.size(), layer.n_in);
        let pv = view(layer, p);
        let spiking = layer.spiking();
        let reset = layer.spec.neuron.reset;
        let mut cur = vec![0.0f64; n];
        let mut vol = vec![0.0f64; n];
        let mut vhat_prev = vec![0.0f64; n];
        let mut drive = vec![0.0f64; n];
        let mut out: Vec<SpikeEvent> = Vec::new();
        let mut rec_v = if record_voltages {
            Vec::with_capacity(steps * n)
        } else {
            Vec::new()
        };
        if !spiking {
            readout = Vec::with_capacity(steps * n);
        }
        // spikes of the layer below at steps t − 1 and t; own spikes at t − 2 and t − 1
        let (mut below_cur, mut own_cur) = (0..0, 0..0);
        for t in 0..steps {
            drive.copy_from_slice(pv.b);
            if l == 0 {
                for (j, &xj) in x.data[t * ni..(t + 1) * ni].iter().enumerate() {
                    if xj != 0.0 {
                        axpy(f64::from(xj), &pv.w[j * n..(j + 1) * n], &mut drive);
                    }
                }
            } else {
                let below = &spikes[l - 1];
                let mut end = below_cur.end;
                while end < below.len() && below[end].step as usize == t {
                    end += 1;
                }
                let below_prev = below_cur.clone();
                below_cur = below_cur.end..end;
                deliver(
                    &below[below_prev.clone()],
                    &below[below_cur.clone()],
                    pv.w,
                    &mut drive,
                );
            }
            if !pv.r.is_empty() {
                // own spikes of step t − 1 are out[own_cur.end..]
                let own_prev = own_cur.clone();
                own_cur = own_cur.end..out.len();
                deliver(
                    &out[own_prev.clone()],
                    &out[own_cur.clone()],
                    pv.r,
                    &mut drive,
                );
            }
            decay_accumulate(&mut cur, &drive, pv.a);
            vhat_prev.copy_from_slice(&vol);
            decay_accumulate(&mut vol, &cur, pv.beta);
            if record_voltages {
                rec_v.extend(vol.iter().map(|&v| v as f32));
            }
            if spiking {
                for i in 0..n {
                    if vol[i] >= pv.th {
                        let vp = vhat_prev[i];
                        let (frac, rise) = if vp < pv.th {
                            let rise = vol[i] - vp;
                            ((pv.th - vp) / rise, rise)
                        } else {
                            (0.0, f64::INFINITY)
                        };
                        out.push(SpikeEvent {
                            step: t as u32,
                            neuron: i as u32,
                            frac,
                            rise,
                        });
                        vol[i] = match reset {
                            Reset::Zero => 0.0,
                            Reset::Subtract => vol[i] - pv.th,
                        };
                    }
                }
            } else {
                readout.extend_from_slice(&vol);
            }
        }
        spikes.push(out);
        voltages.push(rec_v);
    }
    if !record_voltages {
        voltages.clear();
    }
    EventTrace {
        steps,
        spikes,
        readout,
        voltages,
    }
}

/// Adds the delivery of spikes to `drive`: those one step old with weight
/// `s*`, the newest with `1 − s*` (columns of `w`, one per source neuron).
fn deliver(older: &[SpikeEvent], newer: &[SpikeEvent], w: &[f64], drive: &mut [f64]) {
    let n = drive.len();
    for e in older {
        let j = e.neuron as usize;
        axpy(e.frac, &w[j * n..(j + 1) * n], drive);
    }
    for e in newer {
        let j = e.neuron as usize;
        axpy(1.0 - e.frac, &w[j * n..(j + 1) * n], drive);
    }
}
