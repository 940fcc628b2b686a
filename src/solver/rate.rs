//! The rate LCA of Rozell et al. (2008).
//!
//! Every neuron integrates `τ u̇ = b − u − G a` with drive `b = Φᵀx`, lateral
//! inhibition `G = ΦᵀΦ − I` and outputs `a = T_λ(u)`. With the soft threshold
//! the fixed point is the LASSO solution `argmin ½‖x − Φa‖² + λ‖a‖₁`.
//!
//! Signals are independent, so they are solved in parallel in fixed-size
//! chunks; each chunk's work depends only on its own signals, which makes the
//! codes bit-identical for any number of threads. Within a signal only active
//! neurons inhibit (`G a` is accumulated from the non-zero outputs), and a
//! signal stops as soon as its state is within the tolerance of the fixed point.

use multiversion::multiversion;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::Dictionary;
use crate::error::{Error, Result};
use crate::neuron::{Integrator, Transfer, leaky_step};
use crate::solver::batch::{self, Monitor, Signal, SignalOutput, SignalSolver, States};
use crate::solver::objective::sparse_energy_terms;
use crate::solver::projection::{self, Chain, ChainEnd, ProjectionScratch};

/// The settings ([`LcaParams`], [`Anneal`]) and their one check.
mod settings;
pub use settings::{Anneal, LcaParams};

/// Per-iteration record of one signal: what the energy trace plots show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// `½‖x − Φa‖² + λ‖a‖₁` of the initial state, at the start of each
    /// iteration, then of the final state.
    pub energy: Vec<f32>,
    /// `‖a‖₁`.
    pub l1: Vec<f32>,
    /// Number of non-zero outputs.
    pub active: Vec<u32>,
}

/// Why one signal's solve stopped, reported per signal in [`Encoding`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Termination {
    /// A chain of jumps ended on the exact fixed point of its active set
    /// (with the soft threshold: the LASSO solution).
    Solved,
    /// The dynamics came within the tolerance of their fixed point.
    Converged,
    /// The dynamics used up `max_iters` steps.
    MaxIterations,
    /// A chain of jumps stalled (a degenerate support, or out of jumps) and
    /// the dynamics that took over used up `max_iters` steps.
    Stalled,
}

impl Termination {
    /// Whether the signal met the tolerance.
    pub fn converged(self) -> bool {
        matches!(self, Termination::Solved | Termination::Converged)
    }

    /// A number for messages between processes ([`Termination::from_code`]).
    pub fn code(self) -> u32 {
        match self {
            Termination::Solved => 0,
            Termination::Converged => 1,
            Termination::MaxIterations => 2,
            Termination::Stalled => 3,
        }
    }

    /// The termination of [`Termination::code`] (an unknown code reads as
    /// [`Termination::MaxIterations`], i.e. not converged).
    pub fn from_code(code: u32) -> Self {
        match code {
            0 => Termination::Solved,
            1 => Termination::Converged,
            3 => Termination::Stalled,
            _ => Termination::MaxIterations,
        }
    }

    /// The name used in JSON summaries (`solved`, `converged`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Termination::Solved => "solved",
            Termination::Converged => "converged",
            Termination::MaxIterations => "max-iterations",
            Termination::Stalled => "stalled",
        }
    }
}

/// Result of encoding a batch of signals; every matrix has one column per signal.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Encoding {
    /// Sparse codes `a` (`n_atoms × n_signals`; numpy `(n_signals, n_atoms)`).
    pub codes: DMatrix<f32>,
    /// Final membrane states `u`, usable as a warm start.
    pub states: DMatrix<f32>,
    /// Steps of the dynamics each signal ran (0 when the first chain of jumps solved it).
    pub iterations: Vec<u32>,
    /// Fixed-point jumps each signal took (see [`LcaParams`]).
    pub jumps: Vec<u32>,
    /// How each signal's solve ended.
    pub termination: Vec<Termination>,
    /// One trace per signal when tracing is on, else empty.
    pub traces: Vec<Trace>,
}

impl Encoding {
    /// Mean number of non-zero coefficients per signal.
    pub fn mean_active(&self) -> f64 {
        let n = self.codes.ncols().max(1);
        self.codes.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64
    }

    /// Signals that did not meet the tolerance.
    pub fn unconverged(&self) -> usize {
        self.termination.iter().filter(|t| !t.converged()).count()
    }
}

/// A validated rate-LCA solver. Build it with [`LcaParams::check`].
///
/// ```
/// use lca::{Dictionary, LcaParams};
/// use nalgebra::DMatrix;
/// // Three atoms in the plane; the signal is the first atom itself.
/// let d = Dictionary::from_rows(3, 2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
/// let x = DMatrix::from_column_slice(2, 1, &[1.0, 0.0]);
/// let enc = LcaParams::new().lambda(0.1).check().unwrap().encode(&d, &x).unwrap();
/// let a = enc.codes.column(0);
/// assert!((a[0] - 0.9).abs() < 1e-3 && a[1] == 0.0 && a[2] == 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct Lca {
    params: LcaParams,
    gain: f32,
}

/// Work buffers of one chunk, allocated once and reused for all its signals.
pub(crate) struct Scratch {
    inhibition: Vec<f32>,
    /// The last accepted state, for undoing a step of the adaptive time step.
    accepted: Vec<f32>,
    /// The adaptive step's previous update of `u`, to detect oscillation.
    last_update: Vec<f32>,
    active: Vec<usize>,
    signs: Vec<bool>,
    projection: ProjectionScratch,
}

/// What one signal's solve reports to the batch driver.
pub(crate) struct SignalReport {
    iterations: u32,
    jumps: u32,
    termination: Termination,
    trace: Option<Trace>,
}

impl Lca {
    /// This solver with threshold `lambda` instead (a learning run's λ
    /// schedule): only λ is checked, everything else was when it was built.
    pub fn with_lambda(&self, lambda: f32) -> Result<Lca> {
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(Error::setting(
                "lambda",
                format!("lambda must be finite and >= 0, got {lambda}"),
            ));
        }
        Ok(Lca {
            params: LcaParams {
                lambda,
                ..self.params.clone()
            },
            gain: self.gain,
        })
    }

    /// The validated settings.
    pub fn params(&self) -> &LcaParams {
        &self.params
    }

    fn transfer(&self) -> Transfer {
        Transfer {
            threshold: self.params.threshold,
            lambda: self.params.lambda,
            nonneg: self.params.nonneg,
        }
    }

    /// Encodes the columns of `signals` from rest (`u = 0`).
    pub fn encode(&self, dict: &Dictionary, signals: &DMatrix<f32>) -> Result<Encoding> {
        self.encode_from(dict, signals, None, None)
    }

    /// Encodes the columns of `signals`, starting from `initial_states` when
    /// given (warm start, `n_atoms × n_signals`), and calling `progress` with
    /// the number of signals finished each time a chunk completes.
    pub fn encode_from(
        &self,
        dict: &Dictionary,
        signals: &DMatrix<f32>,
        initial_states: Option<&DMatrix<f32>>,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> Result<Encoding> {
        self.encode_monitored(
            dict,
            signals,
            initial_states,
            Monitor::with_progress(progress),
        )
    }

    /// [`Lca::encode_from`] that a caller can also stop between chunks of
    /// signals ([`Monitor::cancel`]; then [`Error::Interrupted`](crate::Error::Interrupted)).
    pub fn encode_monitored(
        &self,
        dict: &Dictionary,
        signals: &DMatrix<f32>,
        initial_states: Option<&DMatrix<f32>>,
        monitor: Monitor<'_>,
    ) -> Result<Encoding> {
        let initial = match initial_states {
            Some(s) => States::Warm(s),
            None => States::Rest,
        };
        let solved = batch::solve_batch(self, dict, signals, initial, monitor)?;
        let m = solved.reports.len();
        let mut encoding = Encoding {
            codes: solved.codes,
            states: solved
                .states
                .unwrap_or_else(|| DMatrix::zeros(dict.n_atoms(), m)),
            iterations: Vec::with_capacity(m),
            jumps: Vec::with_capacity(m),
            termination: Vec::with_capacity(m),
            traces: Vec::new(),
        };
        for report in solved.reports {
            encoding.iterations.push(report.iterations);
            encoding.jumps.push(report.jumps);
            encoding.termination.push(report.termination);
            encoding.traces.extend(report.trace);
        }
        Ok(encoding)
    }

    /// Runs one signal to its fixed point (see [`LcaParams`] for the strategy):
    /// a chain of jumps from the start, then the dynamics — with their time
    /// step, λ schedule and projection gate — until the tolerance or
    /// `max_iters`.
    fn iterate(
        &self,
        signal: &SignalProblem<'_>,
        u: &mut [f32],
        a: &mut [f32],
        scratch: &mut Scratch,
        mut trace: Option<&mut Trace>,
    ) -> SignalReport {
        let params = &self.params;
        let &SignalProblem { dict, b, x_sq } = signal;
        let transfer = self.transfer();
        let tol = params.tol * b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let chain = Chain {
            dict,
            b,
            transfer: &transfer,
            // Room for every atom to enter and leave twice; beyond that the
            // dynamics take over until the support settles again.
            max_jumps: (2 * dict.n_features().min(dict.n_atoms()) + 16) as u32,
            slack: tol,
            inhibit,
        };
        let mut lambda = LambdaSchedule::new(params);
        let mut step = TimeStep::new(params, self.gain, lambda.current);
        let mut gate = ProjectionGate::new(params, &transfer);
        let mut jumps = 0u32;
        let mut stalled = false;
        let report = |iterations: usize, jumps: u32, termination: Termination| SignalReport {
            iterations: iterations as u32,
            jumps,
            termination,
            trace: None,
        };
        let target = lambda.target;
        // λ of the last step, under which its energy is judged.
        let mut step_lambda = lambda.current;
        lambda.transfer(&transfer).apply(u, a);
        // Jump straight from the initial state: from rest the continuation
        // recruits the strongest causes one jump at a time, whereas the first
        // steps of the dynamics activate every neuron whose drive crosses λ
        // before inhibition builds up, and each wrong one costs a jump to drop.
        if gate.open && lambda.at_target() {
            if let Some(t) = trace.as_deref_mut() {
                active_indices(a, &mut scratch.active);
                inhibit(dict, a, &scratch.active, &mut scratch.inhibition);
                record(t, x_sq, b, a, &scratch.inhibition, &scratch.active, target);
            }
            let run = chain.run(u, a, &mut scratch.projection);
            jumps += run.jumps;
            if run.end == ChainEnd::Solved {
                return report(0, jumps, Termination::Solved);
            }
            // A chain that cannot finish (a support as large as the dimension,
            // or out of jumps) would only restart from the same trouble: the
            // dynamics finish the signal.
            gate.open = false;
            stalled = true;
        }
        update_support(a, &mut scratch.active, &mut scratch.signs);
        for it in 0..params.max_iters {
            inhibit(dict, a, &scratch.active, &mut scratch.inhibition);
            // The energy only decides once λ is fixed: while it anneals the
            // objective moves under the state.
            if let TimeStep::Adaptive(adaptive) = &mut step
                && step_lambda == target
            {
                // Compare both states under the threshold the step used.
                let (e, l1) = energy(
                    x_sq,
                    b,
                    a,
                    &scratch.inhibition,
                    &scratch.active,
                    step_lambda,
                );
                if adaptive.rose(e, step_lambda) {
                    // The last step raised the energy: undo it and shrink dt.
                    u.copy_from_slice(&scratch.accepted);
                    lambda.transfer(&transfer).apply(u, a);
                    update_support(a, &mut scratch.active, &mut scratch.signs);
                    adaptive.shrink();
                    gate.stable = 0;
                    continue;
                }
                adaptive.accepted = Accepted {
                    energy: e,
                    l1,
                    lambda: step_lambda,
                };
                scratch.accepted.copy_from_slice(u);
            }
            if let Some(t) = trace.as_deref_mut() {
                record(t, x_sq, b, a, &scratch.inhibition, &scratch.active, target);
            }
            let distance = leaky_step(u, b, &scratch.inhibition, step.gain());
            lambda.transfer(&transfer).apply(u, a);
            step_lambda = lambda.current;
            if distance <= tol && lambda.at_target() {
                return report(it + 1, jumps, Termination::Converged);
            }
            if let TimeStep::Adaptive(adaptive) = &mut step
                && lambda.at_target()
            {
                // Successive updates pointing against each other mean the step
                // is near the stability limit, where the stiffest mode decays
                // slowly while the energy still falls: back off. Otherwise grow.
                let mut turn = 0.0f32;
                for ((&new, &old), last) in u
                    .iter()
                    .zip(&scratch.accepted)
                    .zip(&mut scratch.last_update)
                {
                    let update = new - old;
                    turn += update * *last;
                    *last = update;
                }
                adaptive.adapt(turn);
            }
            lambda.advance();
            let changed = update_support(a, &mut scratch.active, &mut scratch.signs);
            gate.observe(changed);
            if gate.ready(&lambda) {
                gate.stable = 0;
                let run = chain.run(u, a, &mut scratch.projection);
                jumps += run.jumps;
                if run.end == ChainEnd::Solved {
                    return report(it + 1, jumps, Termination::Solved);
                }
                gate.open = false;
                stalled = true;
                update_support(a, &mut scratch.active, &mut scratch.signs);
                if let TimeStep::Adaptive(adaptive) = &mut step {
                    adaptive.accepted.energy = f64::INFINITY; // the jump moved the state
                }
            }
        }
        let termination = if stalled {
            Termination::Stalled
        } else {
            Termination::MaxIterations
        };
        report(params.max_iters, jumps, termination)
    }
}

impl SignalSolver for Lca {
    type Scratch = Scratch;
    type Report = SignalReport;

    fn scratch(&self, dict: &Dictionary) -> Scratch {
        let (k, n) = (dict.n_atoms(), dict.n_features());
        let adaptive = if self.params.adaptive_dt { k } else { 0 };
        Scratch {
            inhibition: vec![0.0; k],
            accepted: vec![0.0; adaptive],
            last_update: vec![0.0; adaptive],
            active: Vec::with_capacity(k),
            signs: Vec::with_capacity(k),
            projection: ProjectionScratch::new(k, n),
        }
    }

    fn solve(
        &self,
        dict: &Dictionary,
        signal: Signal<'_>,
        out: SignalOutput<'_>,
        scratch: &mut Scratch,
    ) -> Result<SignalReport> {
        let (b, u, a) = (signal.drive, out.state, out.code);
        let mut trace = self.params.trace.then(Trace::default);
        // ‖x‖², for energies: traces and the adaptive step only.
        let x_sq = if self.params.trace || self.params.adaptive_dt {
            signal.x.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
        } else {
            0.0
        };
        let problem = SignalProblem { dict, b, x_sq };
        let mut report = self.iterate(&problem, u, a, scratch, trace.as_mut());
        if let Some(t) = trace.as_mut() {
            // A trace ends with the final state, however the signal stopped.
            active_indices(a, &mut scratch.active);
            inhibit(dict, a, &scratch.active, &mut scratch.inhibition);
            let (inhibition, active) = (&scratch.inhibition, &scratch.active);
            record(t, x_sq, b, a, inhibition, active, self.params.lambda);
        }
        report.trace = trace;
        Ok(report)
    }
}

/// What one signal's solve reads.
struct SignalProblem<'a> {
    dict: &'a Dictionary,
    /// Drive `b = Φᵀx`.
    b: &'a [f32],
    /// `‖x‖²` (only computed when energies are needed, else 0).
    x_sq: f64,
}

/// The threshold of one signal: λ, or annealed from `start·λ` down to it.
struct LambdaSchedule {
    current: f32,
    target: f32,
    decay: Option<f32>,
}

impl LambdaSchedule {
    fn new(params: &LcaParams) -> Self {
        let target = params.lambda;
        LambdaSchedule {
            current: params.anneal.map_or(target, |an| target * an.start),
            target,
            decay: params.anneal.map(|an| an.decay),
        }
    }

    fn at_target(&self) -> bool {
        self.current == self.target
    }

    /// One step of the schedule.
    fn advance(&mut self) {
        if let Some(decay) = self.decay
            && self.current > self.target
        {
            self.current = (self.current * decay).max(self.target);
        }
    }

    /// The transfer function under the current threshold.
    fn transfer(&self, base: &Transfer) -> Transfer {
        Transfer {
            lambda: self.current,
            ..*base
        }
    }
}

/// The time step of the dynamics: fixed, or adapted to the energy's decay.
enum TimeStep {
    Fixed { gain: f32 },
    Adaptive(AdaptiveStep),
}

impl TimeStep {
    fn new(params: &LcaParams, gain: f32, lambda: f32) -> Self {
        if !params.adaptive_dt {
            return TimeStep::Fixed { gain };
        }
        TimeStep::Adaptive(AdaptiveStep {
            dt: params.dt,
            gain,
            smallest: params.dt / 64.0,
            // A step that raised the energy caps dt below it for the rest of
            // the run: steps near the stability limit oscillate without
            // converging.
            ceiling: max_adaptive_dt(params.integrator, params.tau),
            integrator: params.integrator,
            tau: params.tau,
            accepted: Accepted {
                energy: f64::INFINITY,
                l1: 0.0,
                lambda,
            },
        })
    }

    /// The leak gain of the current step (see [`Integrator::gain`]).
    fn gain(&self) -> f32 {
        match self {
            TimeStep::Fixed { gain } => *gain,
            TimeStep::Adaptive(step) => step.gain,
        }
    }
}

/// The adaptive step: grows while the energy falls, is undone and halved
/// when it rises, backs off when successive updates oscillate.
struct AdaptiveStep {
    dt: f32,
    gain: f32,
    /// The step never shrinks below this (`dt/64` of the settings).
    smallest: f32,
    ceiling: f32,
    integrator: Integrator,
    tau: f32,
    /// The last state whose energy was accepted.
    accepted: Accepted,
}

/// Energy, L1 norm and λ of the last accepted state.
struct Accepted {
    energy: f64,
    l1: f64,
    lambda: f32,
}

impl AdaptiveStep {
    /// Whether energy `e`, reached by a step under `lambda`, rose above the
    /// accepted state's (re-evaluated under the same λ).
    fn rose(&self, e: f64, lambda: f32) -> bool {
        let a = &self.accepted;
        let reference = a.energy + f64::from(lambda - a.lambda) * a.l1;
        e > reference + 1e-6 * reference.abs() + 1e-12
    }

    /// Halves dt after a rejected step and never grows past it again.
    fn shrink(&mut self) {
        self.ceiling = 0.9 * self.dt;
        self.dt = (0.5 * self.dt).max(self.smallest);
        self.gain = self.integrator.gain(self.dt, self.tau);
    }

    /// Grows dt, or backs off when the last two updates turned (`turn < 0`).
    fn adapt(&mut self, turn: f32) {
        self.dt = if turn < 0.0 {
            (self.dt * ADAPTIVE_BACKOFF).max(self.smallest)
        } else {
            (self.dt * ADAPTIVE_GROWTH).min(self.ceiling).max(self.dt)
        };
        self.gain = self.integrator.gain(self.dt, self.tau);
    }
}

/// When the dynamics hand over to a chain of jumps: the soft threshold, λ at
/// its target and the support unchanged for `patience` steps.
struct ProjectionGate {
    open: bool,
    stable: usize,
    patience: usize,
}

impl ProjectionGate {
    fn new(params: &LcaParams, transfer: &Transfer) -> Self {
        ProjectionGate {
            open: params.projection && projection::supports(transfer),
            stable: 0,
            patience: params.patience,
        }
    }

    fn observe(&mut self, support_changed: bool) {
        if support_changed {
            self.stable = 0;
        } else {
            self.stable += 1;
        }
    }

    fn ready(&self, lambda: &LambdaSchedule) -> bool {
        self.open && lambda.at_target() && self.stable >= self.patience
    }
}

/// Growth of the adaptive time step per accepted step.
const ADAPTIVE_GROWTH: f32 = 1.25;
/// Shrinking of the adaptive time step when successive updates oscillate.
const ADAPTIVE_BACKOFF: f32 = 0.7;

/// Largest adaptive step: forward Euler's leak overshoots beyond `dt = 2τ`;
/// the exponential integrator cannot overshoot, and gains nothing past ~`5τ`.
fn max_adaptive_dt(integrator: Integrator, tau: f32) -> f32 {
    match integrator {
        Integrator::ForwardEuler => 1.9 * tau,
        Integrator::ExponentialEuler => 5.0 * tau,
    }
}

/// Refreshes the list of active neurons and their signs; returns whether
/// either changed (the projection waits for a stable support).
#[inline]
fn update_support(a: &[f32], active: &mut Vec<usize>, signs: &mut Vec<bool>) -> bool {
    let mut changed = false;
    let mut n = 0;
    for (i, &v) in a.iter().enumerate() {
        if v != 0.0 {
            let positive = v > 0.0;
            if n >= active.len() {
                active.push(i);
                signs.push(positive);
                changed = true;
            } else if active[n] != i || signs[n] != positive {
                active[n] = i;
                signs[n] = positive;
                changed = true;
            }
            n += 1;
        }
    }
    if n != active.len() {
        active.truncate(n);
        signs.truncate(n);
        changed = true;
    }
    changed
}

/// Indices of the non-zero outputs.
#[inline]
fn active_indices(a: &[f32], active: &mut Vec<usize>) {
    active.clear();
    active.extend(
        a.iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, _)| i),
    );
}

/// `c = G a`, summing only the columns of active neurons, four at a time so
/// `c` is loaded and stored once per four columns.
///
/// Compiled for AVX-512 and AVX2 as well as the baseline, chosen at run time.
/// No fused multiply-adds and a fixed summation order, so every version gives
/// bit-identical results.
#[multiversion(targets("x86_64+avx2"))]
fn inhibit(dict: &Dictionary, a: &[f32], active: &[usize], c: &mut [f32]) {
    c.fill(0.0);
    let n = c.len();
    let mut quads = active.chunks_exact(4);
    for q in &mut quads {
        let column = |p: usize| &dict.inhibition_column(q[p])[..n];
        let (g0, g1, g2, g3) = (column(0), column(1), column(2), column(3));
        let (a0, a1, a2, a3) = (a[q[0]], a[q[1]], a[q[2]], a[q[3]]);
        for ((((ci, &x0), &x1), &x2), &x3) in c.iter_mut().zip(g0).zip(g1).zip(g2).zip(g3) {
            *ci += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
        }
    }
    for &j in quads.remainder() {
        let aj = a[j];
        for (ci, &g) in c.iter_mut().zip(&dict.inhibition_column(j)[..n]) {
            *ci += aj * g;
        }
    }
}

/// The energy `½‖x − Φa‖² + λ‖a‖₁` of the current outputs and their L1 norm,
/// O(active) given `Ga` (see [`sparse_energy_terms`]).
fn energy(
    x_sq: f64,
    b: &[f32],
    a: &[f32],
    ga: &[f32],
    active: &[usize],
    lambda: f32,
) -> (f64, f64) {
    let (quadratic, l1) = sparse_energy_terms(b, a, ga, active);
    let residual = (x_sq + quadratic).max(0.0);
    (0.5 * residual + f64::from(lambda) * l1, l1)
}

/// Appends the energy of the current outputs to a trace.
fn record(
    t: &mut Trace,
    x_sq: f64,
    b: &[f32],
    a: &[f32],
    ga: &[f32],
    active: &[usize],
    lambda: f32,
) {
    let (energy, l1) = energy(x_sq, b, a, ga, active, lambda);
    t.energy.push(energy as f32);
    t.l1.push(l1 as f32);
    t.active.push(active.len() as u32);
}
