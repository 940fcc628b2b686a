//! One layer of CUBA-LIF neurons in discrete time, its forward pass and its
//! backpropagation through time.
//!
//! For input `x[t]` (spikes of the layer below, or the encoded input):
//!
//! ```text
//! i[t] = a·i[t−1] + W x[t] + R s[t−1] + b      (R only for recurrent layers)
//! v[t] = β·v̂[t−1] + i[t]
//! s[t] = H(v[t] − ϑ)                            (forward; φ(v[t] − ϑ) backward)
//! v̂[t] = reset(v[t], s[t])                      (v(1 − s) or v − ϑs)
//! ```
//!
//! computed with the shared kernels [`decay_accumulate`], [`fire`] and
//! [`reset`]; a readout layer stops at `v[t]` (a leaky, non-spiking
//! integrator). The only state kept for the backward pass is the pre-reset
//! voltage `v[t]`: spikes, post-reset voltages and currents are recomputed from
//! it, so a sample costs 4 bytes per neuron per step.

use serde::{Deserialize, Serialize};

use crate::neuron::{CubaLif, Reset, Surrogate};
use crate::neuron::{decay_accumulate, fire, reset};

/// Role of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerKind {
    /// Spiking neurons fed by the layer below only.
    FeedForward,
    /// Spiking neurons also fed by their own spikes of the previous step.
    Recurrent,
    /// Leaky integrators without spikes or reset: the network's output is
    /// their voltage trace.
    Readout,
}

/// How spikes are computed in the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SpikeMode {
    /// `s = H(v − ϑ)`, the real network (backward uses the surrogate φ).
    #[default]
    Heaviside,
    /// `s = S(v − ϑ)` with `S' = φ` ([`Surrogate::primitive`]): a smooth
    /// network whose exact gradient is what backpropagation computes, used to
    /// check it against finite differences.
    Smooth,
}

/// Architecture and initial neuron parameters of a layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSpec {
    /// Role.
    pub kind: LayerKind,
    /// Number of neurons.
    pub size: usize,
    /// Initial decays and threshold, reset rule (refractory must be 0).
    pub neuron: CubaLif,
    /// Train the current and voltage decays.
    pub train_decays: bool,
    /// Train the threshold.
    pub train_threshold: bool,
    /// Initial weights are `N(weight_mean, (weight_scale/√n_in)²)`.
    pub weight_scale: f32,
    /// Mean of the initial weights (0: balanced). A positive mean makes
    /// every neuron fire at the start, which EventProp needs: its exact
    /// gradient cannot reach a neuron that never spikes.
    #[serde(default)]
    pub weight_mean: f32,
    /// Initial recurrent weights are `N(0, (recurrent_scale/√size)²)`.
    pub recurrent_scale: f32,
}

impl LayerSpec {
    /// A layer with decays `a`, `β`, threshold 1, reset to zero, nothing but
    /// weights and biases trained.
    pub fn new(kind: LayerKind, size: usize, current_decay: f32, voltage_decay: f32) -> Self {
        LayerSpec {
            kind,
            size,
            neuron: CubaLif {
                current_decay,
                voltage_decay,
                threshold: 1.0,
                reset: Reset::Zero,
                refractory: 0,
            },
            train_decays: false,
            train_threshold: false,
            weight_scale: 1.0,
            weight_mean: 0.0,
            recurrent_scale: 0.5,
        }
    }
}

/// A layer inside a network: its spec, fan-in and place in the flat
/// parameter vector, laid out as `W` (`size × n_in`, column-major: the
/// weights from input `j` are contiguous), `R` (`size × size`, recurrent
/// only), `b` (`size`), then the scalars `a`, `β`, `ϑ`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Architecture.
    pub spec: LayerSpec,
    /// Inputs per neuron.
    pub n_in: usize,
    /// Index of the first parameter of this layer.
    pub offset: usize,
}

/// Parameters of one layer, borrowed from the flat vector.
struct Params<'a> {
    w: &'a [f32],
    r: &'a [f32],
    b: &'a [f32],
    a: f32,
    beta: f32,
    th: f32,
}

/// What one pass through a layer shares with every other layer of the
/// network: the parameters, the spike rule and the number of steps.
pub(crate) struct Pass<'a> {
    /// The network's flat parameter vector.
    pub params: &'a [f32],
    /// Nascent delta of the backward pass (and of [`SpikeMode::Smooth`]).
    pub surrogate: &'a Surrogate,
    /// Heaviside or smooth spikes.
    pub mode: SpikeMode,
    /// Number of time steps.
    pub steps: usize,
    /// Treat the reset as a constant in the backward pass.
    pub detach_reset: bool,
}

/// What the backward pass reads of one layer's forward pass: its input,
/// its stored voltages and the gradient arriving from above (all
/// `[steps × width]`).
pub(crate) struct Recorded<'a> {
    /// Input `x` (`[steps × n_in]`).
    pub x: &'a [f32],
    /// Pre-reset voltages (`[steps × size]`).
    pub v: &'a [f32],
    /// `∂L/∂s` (spiking) or `∂L/∂v` (readout), `[steps × size]`.
    pub g_out: &'a [f32],
}

/// Where the backward pass writes: parameter gradients (added) and, when
/// the layer below needs it, `∂L/∂x` (overwritten).
pub(crate) struct Grads<'a> {
    /// Gradient of the whole flat parameter vector.
    pub params: &'a mut [f32],
    /// `∂L/∂x`, `[steps × n_in]`.
    pub input: Option<&'a mut [f32]>,
}

/// Per-neuron temporaries of [`Layer::backward`], allocated once and reused
/// for every sample (each buffer holds one value per neuron).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    gi_next: Vec<f32>,
    gv_next: Vec<f32>,
    gi: Vec<f32>,
    gv: Vec<f32>,
    grec: Vec<f32>,
    s: Vec<f32>,
    s_prev: Vec<f32>,
    phi: Vec<f32>,
    vhat_prev: Vec<f32>,
    vhat_prev2: Vec<f32>,
    s_tmp: Vec<f32>,
}

impl Scratch {
    /// Buffers for a layer of `n` neurons.
    pub(crate) fn new(n: usize) -> Self {
        let mut s = Scratch::default();
        s.sized(n);
        s
    }

    /// The buffers at length `n`, the adjoints carried between steps
    /// (`gi_next`, `gv_next`, `grec`) zeroed; grows only when `n` exceeds
    /// every earlier size.
    fn sized(&mut self, n: usize) -> &mut Self {
        for b in [
            &mut self.gi_next,
            &mut self.gv_next,
            &mut self.gi,
            &mut self.gv,
            &mut self.grec,
            &mut self.s,
            &mut self.s_prev,
            &mut self.phi,
            &mut self.vhat_prev,
            &mut self.vhat_prev2,
            &mut self.s_tmp,
        ] {
            b.resize(n, 0.0);
        }
        self.gi_next.fill(0.0);
        self.gv_next.fill(0.0);
        self.grec.fill(0.0);
        self
    }
}

#[inline]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

#[inline]
fn dot(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

impl Layer {
    /// Number of neurons.
    pub fn size(&self) -> usize {
        self.spec.size
    }

    /// Whether the layer spikes (everything but the readout).
    pub fn spiking(&self) -> bool {
        self.spec.kind != LayerKind::Readout
    }

    fn n_rec(&self) -> usize {
        if self.spec.kind == LayerKind::Recurrent {
            self.size() * self.size()
        } else {
            0
        }
    }

    /// Number of parameters, scalars included.
    pub fn n_params(&self) -> usize {
        let n = self.size();
        n * self.n_in + self.n_rec() + n + 3
    }

    /// Indices of this layer's weights `W` and `R` in the flat vector (not
    /// the biases or scalars): what weight decay shrinks.
    pub fn weight_range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.size() * self.n_in + self.n_rec()
    }

    /// Index of the current decay `a` (then `β`, then `ϑ`) in the flat vector.
    pub fn scalar_offset(&self) -> usize {
        self.offset + self.n_params() - 3
    }

    fn params<'a>(&self, p: &'a [f32]) -> Params<'a> {
        let n = self.size();
        let p = &p[self.offset..self.offset + self.n_params()];
        let (w, rest) = p.split_at(n * self.n_in);
        let (r, rest) = rest.split_at(self.n_rec());
        let (b, s) = rest.split_at(n);
        Params {
            w,
            r,
            b,
            a: s[0],
            beta: s[1],
            th: s[2],
        }
    }

    /// Writes this layer's initial scalars into the flat vector.
    pub(crate) fn init_scalars(&self, p: &mut [f32]) {
        let o = self.scalar_offset();
        p[o] = self.spec.neuron.current_decay;
        p[o + 1] = self.spec.neuron.voltage_decay;
        p[o + 2] = self.spec.neuron.threshold;
    }

    /// Keeps trained scalars meaningful: decays in `[0, 1]`, threshold ≥ 0.01.
    pub(crate) fn clamp(&self, p: &mut [f32]) {
        let o = self.scalar_offset();
        p[o] = p[o].clamp(0.0, 1.0);
        p[o + 1] = p[o + 1].clamp(0.0, 1.0);
        p[o + 2] = p[o + 2].max(0.01);
    }

    fn spikes(mode: SpikeMode, sur: &Surrogate, v: &[f32], th: f32, s: &mut [f32]) {
        match mode {
            SpikeMode::Heaviside => {
                fire(v, th, s);
            }
            SpikeMode::Smooth => sur.primitive_slice(v, th, s),
        }
    }

    /// Recomputes the spikes of a stored voltage trace (`[steps × size]`).
    pub(crate) fn spikes_of(
        &self,
        p: &[f32],
        v: &[f32],
        sur: &Surrogate,
        mode: SpikeMode,
        out: &mut [f32],
    ) {
        let th = self.params(p).th;
        let n = self.size();
        for (vt, st) in v.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            Self::spikes(mode, sur, vt, th, st);
        }
    }

    /// Runs the layer over `x` (`[steps × n_in]`), writing the pre-reset
    /// voltages into `v_out` and, for spiking layers, the spikes into `s_out`
    /// (both `[steps × size]`; `s_out` is untouched for a readout).
    pub(crate) fn forward(&self, pass: &Pass<'_>, x: &[f32], v_out: &mut [f32], s_out: &mut [f32]) {
        let (n, ni) = (self.size(), self.n_in);
        let pr = self.params(pass.params);
        let reset_mode = self.spec.neuron.reset;
        let mut cur = vec![0.0f32; n];
        let mut vol = vec![0.0f32; n];
        let mut drive = vec![0.0f32; n];
        let mut s = vec![0.0f32; n];
        for t in 0..pass.steps {
            drive.copy_from_slice(pr.b);
            for (j, &xj) in x[t * ni..(t + 1) * ni].iter().enumerate() {
                if xj != 0.0 {
                    axpy(xj, &pr.w[j * n..(j + 1) * n], &mut drive);
                }
            }
            if !pr.r.is_empty() && t > 0 {
                for (j, &sj) in s.iter().enumerate() {
                    if sj != 0.0 {
                        axpy(sj, &pr.r[j * n..(j + 1) * n], &mut drive);
                    }
                }
            }
            decay_accumulate(&mut cur, &drive, pr.a);
            decay_accumulate(&mut vol, &cur, pr.beta);
            v_out[t * n..(t + 1) * n].copy_from_slice(&vol);
            if self.spiking() {
                Self::spikes(pass.mode, pass.surrogate, &vol, pr.th, &mut s);
                reset(&mut vol, &s, pr.th, reset_mode);
                s_out[t * n..(t + 1) * n].copy_from_slice(&s);
            }
        }
    }

    /// Backpropagation through time over the recorded pass `rec`.
    /// `rec.g_out[t·size + i]` is `∂L/∂s_i[t]` for a spiking layer and
    /// `∂L/∂v_i[t]` for a readout; gradients of this layer's parameters are
    /// added into `grads.params` (the flat vector), and `∂L/∂x` is written
    /// into `grads.input` when given. `scratch` (from [`Layer::scratch`], or
    /// any scratch of a layer at least this wide) holds every temporary, so
    /// the call allocates nothing.
    pub(crate) fn backward(
        &self,
        pass: &Pass<'_>,
        rec: &Recorded<'_>,
        grads: Grads<'_>,
        scratch: &mut Scratch,
    ) {
        let (n, ni) = (self.size(), self.n_in);
        let steps = pass.steps;
        let (x, v, g_out) = (rec.x, rec.v, rec.g_out);
        let (mode, sur) = (pass.mode, pass.surrogate);
        let pr = self.params(pass.params);
        let spiking = self.spiking();
        let reset_mode = self.spec.neuron.reset;
        let train_decays = self.spec.train_decays;
        let Grads {
            params: grad,
            input: mut g_x,
        } = grads;

        let g = &mut grad[self.offset..self.offset + self.n_params()];
        let (gw, rest) = g.split_at_mut(n * ni);
        let (gr, rest) = rest.split_at_mut(self.n_rec());
        let (gb, gsc) = rest.split_at_mut(n);

        let Scratch {
            gi_next,
            gv_next,
            gi,
            gv,
            grec,
            s,
            s_prev,
            phi,
            vhat_prev,
            vhat_prev2,
            s_tmp,
        } = scratch.sized(n);
        let (mut g_a, mut g_beta, mut g_th) = (0.0f64, 0.0f64, 0.0f64);

        // v̂[k] from the stored v[k] (v̂ = v for a readout).
        let post_reset = |k: usize, out: &mut [f32], s_buf: &mut [f32]| {
            let vk = &v[k * n..(k + 1) * n];
            out.copy_from_slice(vk);
            if spiking {
                Self::spikes(mode, sur, vk, pr.th, s_buf);
                reset(out, s_buf, pr.th, reset_mode);
            }
        };

        for t in (0..steps).rev() {
            let vt = &v[t * n..(t + 1) * n];
            if spiking {
                Self::spikes(mode, sur, vt, pr.th, s);
                sur.grad_slice(vt, pr.th, phi);
            }
            if t > 0 {
                post_reset(t - 1, vhat_prev, s_prev);
                if !spiking {
                    s_prev.fill(0.0);
                }
            } else {
                vhat_prev.fill(0.0);
                s_prev.fill(0.0);
            }
            let go = &g_out[t * n..(t + 1) * n];
            for i in 0..n {
                let gvhat = pr.beta * gv_next[i];
                let gvi = if spiking {
                    let mut gs = go[i] + grec[i];
                    let (dv, ds) = match reset_mode {
                        Reset::Zero => (1.0 - s[i], -vt[i]),
                        Reset::Subtract => (1.0, -pr.th),
                    };
                    if !pass.detach_reset {
                        gs += gvhat * ds;
                    }
                    g_th -= f64::from(gs * phi[i]);
                    if reset_mode == Reset::Subtract {
                        g_th -= f64::from(gvhat * s[i]);
                    }
                    gvhat * dv + gs * phi[i]
                } else {
                    go[i] + gvhat
                };
                gv[i] = gvi;
                gi[i] = gvi + pr.a * gi_next[i];
                gb[i] += gi[i];
            }
            if train_decays {
                g_beta += f64::from(dot(gv, vhat_prev));
                if t > 0 {
                    // i[t−1] = v[t−1] − β v̂[t−2]
                    if t > 1 {
                        post_reset(t - 2, vhat_prev2, s_tmp);
                    } else {
                        vhat_prev2.fill(0.0);
                    }
                    let vp = &v[(t - 1) * n..t * n];
                    let mut acc = 0.0f32;
                    for i in 0..n {
                        acc += gi[i] * (vp[i] - pr.beta * vhat_prev2[i]);
                    }
                    g_a += f64::from(acc);
                }
            }
            let xt = &x[t * ni..(t + 1) * ni];
            for (j, &xj) in xt.iter().enumerate() {
                if xj != 0.0 {
                    axpy(xj, gi, &mut gw[j * n..(j + 1) * n]);
                }
            }
            if let Some(gx) = g_x.as_deref_mut() {
                for (j, gxj) in gx[t * ni..(t + 1) * ni].iter_mut().enumerate() {
                    *gxj = dot(&pr.w[j * n..(j + 1) * n], gi);
                }
            }
            if !pr.r.is_empty() {
                for (j, &sj) in s_prev.iter().enumerate() {
                    if sj != 0.0 {
                        axpy(sj, gi, &mut gr[j * n..(j + 1) * n]);
                    }
                }
                for (j, gj) in grec.iter_mut().enumerate() {
                    *gj = dot(&pr.r[j * n..(j + 1) * n], gi);
                }
            }
            std::mem::swap(gi, gi_next);
            std::mem::swap(gv, gv_next);
        }
        if train_decays {
            gsc[0] += g_a as f32;
            gsc[1] += g_beta as f32;
        }
        if self.spec.train_threshold && spiking {
            gsc[2] += g_th as f32;
        }
    }

    /// Scratch space for [`Layer::backward`] of this layer.
    pub(crate) fn scratch(&self) -> Scratch {
        Scratch::new(self.size())
    }
}
