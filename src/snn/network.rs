//! A stack of layers sharing one flat parameter vector, its forward pass and
//! backpropagation through time for one sample.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::encoder::SpikeTrain;
use super::interpolated::{self, SpikeTiming};
use super::layer::{Grads, Layer, LayerKind, LayerSpec, Pass, Recorded, Scratch, SpikeMode};
use crate::error::{Error, Result};
use crate::neuron::Surrogate;

/// A feed-forward stack of (feed-forward or recurrent) spiking layers, ending
/// in a spiking layer or a leaky readout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Input channels.
    pub n_inputs: usize,
    /// Layers, input side first.
    pub layers: Vec<Layer>,
    /// Nascent delta used in the backward pass.
    pub surrogate: Surrogate,
    /// Treat the reset as a constant in the backward pass (as snnTorch does by
    /// default); `false` differentiates through it.
    pub detach_reset: bool,
    /// How spikes reach their targets: at their step (surrogate BPTT) or
    /// timed within it (EventProp, [`crate::snn::eventprop`]).
    #[serde(default)]
    pub timing: SpikeTiming,
    /// Every weight, bias, decay and threshold (see [`Layer`] for the layout).
    pub params: Vec<f32>,
}

/// What the forward pass keeps for the backward pass: the pre-reset voltage
/// of every neuron at every step, plus the output spikes of a spiking last
/// layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Number of steps.
    pub steps: usize,
    /// Per layer, `[steps × size]` voltages.
    pub voltages: Vec<Vec<f32>>,
    spikes_out: Option<Vec<f32>>,
}

impl Trace {
    /// The network output, `[steps × n_outputs]`: voltages of a readout, or
    /// spikes of a spiking last layer.
    pub fn output(&self) -> &[f32] {
        match &self.spikes_out {
            Some(s) => s,
            None => self.voltages.last().map(Vec::as_slice).unwrap_or(&[]),
        }
    }
}

impl Network {
    /// A network with weights drawn from `N(mean, (scale/√fan_in)²)` (seeded),
    /// zero biases and the specs' decays and thresholds.
    pub fn new(
        n_inputs: usize,
        specs: &[LayerSpec],
        surrogate: Surrogate,
        seed: u64,
    ) -> Result<Self> {
        if specs.is_empty() {
            return Err(Error::setting(
                "layers",
                "a network needs at least one layer",
            ));
        }
        if !(surrogate.tau > 0.0 && surrogate.alpha > 0.0) {
            return Err(Error::setting(
                "surrogate",
                format!(
                    "surrogate τ and α must be positive (got τ = {}, α = {})",
                    surrogate.tau, surrogate.alpha
                ),
            ));
        }
        let mut layers = Vec::with_capacity(specs.len());
        let (mut n_in, mut offset) = (n_inputs, 0);
        for (l, spec) in specs.iter().enumerate() {
            if spec.size == 0 || n_in == 0 {
                return Err(Error::setting(
                    "layers",
                    format!("layer {l} has no neurons or inputs"),
                ));
            }
            if spec.kind == LayerKind::Readout && l + 1 != specs.len() {
                return Err(Error::setting(
                    "layers",
                    "only the last layer can be a readout",
                ));
            }
            let c = spec.neuron;
            if !(0.0..=1.0).contains(&c.current_decay)
                || !(0.0..=1.0).contains(&c.voltage_decay)
                || c.threshold.is_nan()
                || c.threshold <= 0.0
                || c.refractory != 0
                || !spec.weight_mean.is_finite()
            {
                return Err(Error::setting(
                    "layers",
                    format!(
                        "layer {l}: decays must lie in [0, 1], the threshold be positive, refractory 0 and the weight mean finite"
                    ),
                ));
            }
            let layer = Layer {
                spec: spec.clone(),
                n_in,
                offset,
            };
            offset += layer.n_params();
            n_in = spec.size;
            layers.push(layer);
        }
        let mut params = vec![0.0f32; offset];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for layer in &layers {
            let n = layer.size();
            let sd = layer.spec.weight_scale / (layer.n_in as f32).sqrt();
            let normal = Normal::new(layer.spec.weight_mean, sd.max(0.0))
                .map_err(|e| Error::setting("weight_scale", format!("weight scale: {e}")))?;
            let w = layer.offset..layer.offset + n * layer.n_in;
            for p in &mut params[w.clone()] {
                *p = normal.sample(&mut rng);
            }
            if layer.spec.kind == LayerKind::Recurrent {
                let sd = layer.spec.recurrent_scale / (n as f32).sqrt();
                let normal = Normal::new(0.0f32, sd.max(0.0)).map_err(|e| {
                    Error::setting("recurrent_scale", format!("recurrent scale: {e}"))
                })?;
                for p in &mut params[w.end..w.end + n * n] {
                    *p = normal.sample(&mut rng);
                }
            }
            layer.init_scalars(&mut params);
        }
        Ok(Network {
            n_inputs,
            layers,
            surrogate,
            detach_reset: true,
            timing: SpikeTiming::Step,
            params,
        })
    }

    /// Number of outputs (neurons of the last layer).
    pub fn n_outputs(&self) -> usize {
        self.layers.last().map_or(0, Layer::size)
    }

    /// Whether the output is a voltage trace (readout) rather than spikes.
    pub fn has_readout(&self) -> bool {
        self.layers
            .last()
            .is_some_and(|l| l.spec.kind == LayerKind::Readout)
    }

    /// Bytes of state kept for the backward pass per sample and time step
    /// (one f32 voltage per neuron), not counting the input train.
    pub fn state_bytes_per_step(&self) -> usize {
        4 * self.layers.iter().map(Layer::size).sum::<usize>()
    }

    /// Re-applies the valid ranges of trained decays and thresholds.
    pub fn clamp(&mut self) {
        for l in &self.layers {
            l.clamp(&mut self.params);
        }
    }

    /// Checks that `x` fits the network.
    pub fn check_input(&self, x: &SpikeTrain) -> Result<()> {
        if x.channels != self.n_inputs || x.data.len() != x.steps * x.channels {
            return Err(Error::Shape(format!(
                "the network takes {} input channels, the spike train has {} ({} values for {} steps)",
                self.n_inputs,
                x.channels,
                x.data.len(),
                x.steps
            )));
        }
        Ok(())
    }

    /// Runs the network over `x` (an [`SpikeTiming::Interpolated`] network
    /// runs the EventProp forward pass, always with true spikes).
    pub fn forward(&self, x: &SpikeTrain, mode: SpikeMode) -> Trace {
        if self.timing == SpikeTiming::Interpolated {
            return self.forward_interpolated(x);
        }
        self.forward_stepped(x, mode, None)
    }

    /// The step-timed forward pass with true spikes, also counting the
    /// spikes of every neuron of each hidden layer (input side first): what
    /// cross-checks against other simulators compare.
    pub fn forward_counting(&self, x: &SpikeTrain) -> (Trace, Vec<Vec<u32>>) {
        let mut counts = Vec::new();
        let trace = self.forward_stepped(x, SpikeMode::Heaviside, Some(&mut counts));
        (trace, counts)
    }

    fn forward_stepped(
        &self,
        x: &SpikeTrain,
        mode: SpikeMode,
        mut counts: Option<&mut Vec<Vec<u32>>>,
    ) -> Trace {
        let steps = x.steps;
        let mut voltages = Vec::with_capacity(self.layers.len());
        let mut input: Vec<f32> = Vec::new();
        let mut spikes_out = None;
        for (l, layer) in self.layers.iter().enumerate() {
            let n = layer.size();
            let mut v = vec![0.0f32; steps * n];
            let mut s = if layer.spiking() {
                vec![0.0f32; steps * n]
            } else {
                Vec::new()
            };
            let xin = if l == 0 { &x.data } else { &input };
            layer.forward(&self.pass(steps, mode), xin, &mut v, &mut s);
            voltages.push(v);
            if l + 1 == self.layers.len() {
                if layer.spiking() {
                    spikes_out = Some(s);
                }
            } else {
                if let Some(c) = counts.as_deref_mut() {
                    let mut per = vec![0u32; n];
                    for (k, &spike) in s.iter().enumerate() {
                        per[k % n] += u32::from(spike != 0.0);
                    }
                    c.push(per);
                }
                input = s;
            }
        }
        Trace {
            steps,
            voltages,
            spikes_out,
        }
    }

    fn pass(&self, steps: usize, mode: SpikeMode) -> Pass<'_> {
        Pass {
            params: &self.params,
            surrogate: &self.surrogate,
            mode,
            steps,
            detach_reset: self.detach_reset,
        }
    }

    fn forward_interpolated(&self, x: &SpikeTrain) -> Trace {
        let p: Vec<f64> = self.params.iter().map(|&v| f64::from(v)).collect();
        let et = interpolated::forward(&self.layers, &p, x, true);
        let spikes_out = self.layers.last().filter(|l| l.spiking()).map(|l| {
            let n = l.size();
            let mut s = vec![0.0f32; x.steps * n];
            for e in et.spikes.last().into_iter().flatten() {
                s[e.step as usize * n + e.neuron as usize] = 1.0;
            }
            s
        });
        Trace {
            steps: x.steps,
            voltages: et.voltages,
            spikes_out,
        }
    }

    /// Adds `∂L/∂θ` into `grad` (same layout as `params`) given the trace of
    /// [`Network::forward`] on `x` and `g_out = ∂L/∂output` (`[steps × n_outputs]`).
    /// Allocates its temporaries; [`Network::backward_with`] reuses them.
    pub fn backward(
        &self,
        x: &SpikeTrain,
        trace: &Trace,
        g_out: &[f32],
        mode: SpikeMode,
        grad: &mut [f32],
    ) {
        let mut ws = self.workspace();
        self.backward_with(x, trace, g_out, mode, grad, &mut ws);
    }

    /// Temporaries of [`Network::backward_with`] for this network: one per
    /// worker, reused for every sample it processes.
    pub fn workspace(&self) -> Workspace {
        Workspace {
            layers: self.layers.iter().map(Layer::scratch).collect(),
            ..Workspace::default()
        }
    }

    /// [`Network::backward`] with its temporaries in `ws` (from
    /// [`Network::workspace`]): after the first sample of a given length it
    /// allocates nothing.
    pub fn backward_with(
        &self,
        x: &SpikeTrain,
        trace: &Trace,
        g_out: &[f32],
        mode: SpikeMode,
        grad: &mut [f32],
        ws: &mut Workspace,
    ) {
        let steps = trace.steps;
        let pass = self.pass(steps, mode);
        if ws.layers.len() != self.layers.len() {
            *ws = self.workspace();
        }
        let Workspace {
            layers: scratch,
            g,
            g_x,
            input,
        } = ws;
        g.clear();
        g.extend_from_slice(g_out);
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            if l > 0 {
                let below = &self.layers[l - 1];
                input.resize(steps * below.size(), 0.0);
                below.spikes_of(
                    &self.params,
                    &trace.voltages[l - 1],
                    &self.surrogate,
                    mode,
                    input,
                );
                g_x.resize(input.len(), 0.0);
            }
            let rec = Recorded {
                x: if l == 0 { &x.data } else { input },
                v: &trace.voltages[l],
                g_out: g,
            };
            let grads = Grads {
                params: grad,
                input: (l > 0).then_some(g_x.as_mut_slice()),
            };
            layer.backward(&pass, &rec, grads, &mut scratch[l]);
            if l > 0 {
                std::mem::swap(g, g_x);
            }
        }
    }
}

/// Reusable temporaries of [`Network::backward_with`]: per-layer scratch,
/// the gradient flowing down and the recomputed spikes of the layer below.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    layers: Vec<Scratch>,
    g: Vec<f32>,
    g_x: Vec<f32>,
    input: Vec<f32>,
}
