//! `lca encode`: sparse codes of the rows of X.npy over the atoms of D.npy,
//! streamed block by block (and sharded over the ranks under `mpirun`) by
//! [`lca::streamed_encoding`]; this module parses, calls and prints.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use lca::conv::ConvSpikingParams;
use lca::conv::{Boundary, Schedule};
use lca::distributed::Communicator;
use lca::io::npy;
use lca::neuron::{Integrator, Threshold};
use lca::settings::Checked;
use lca::solver::{Anneal, Mode, Monitor, SpikingParams};
use lca::streamed_encoding::{self, NpyStream, TerminationCounts, VsFloat};
use lca::{Dictionary, LcaParams};
use nalgebra::DMatrix;
use serde::Serialize;

#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Dictionary, shape (n_atoms, n_features) like scikit-learn's components_ (f32 or f64 .npy).
    /// Its rows must have unit L2 norm (within 1e-3), or pass --normalize.
    #[arg(long, short = 'd')]
    dictionary: PathBuf,
    /// Signals, shape (n_samples, n_features) (f32 or f64 .npy; read in blocks of rows, so any length fits in memory).
    #[arg(long, short = 'i')]
    input: PathBuf,
    /// Codes, shape (n_samples, n_atoms): dense f32 .npy, or scipy CSR when the name ends in .npz.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Solver: the rate LCA or the spiking LCA.
    #[arg(long, value_parser = super::named::<Mode>(), default_value_t = Mode::default())]
    mode: Mode,
    /// Threshold λ (the LASSO penalty for the soft threshold).
    #[arg(long, default_value_t = LcaParams::default().lambda)]
    lambda: f32,
    /// Only non-negative codes.
    #[arg(long)]
    nonneg: bool,
    /// Rescale atoms that are not unit-norm to unit norm (the codes are then those of the
    /// normalised dictionary; the summary says "normalized": true). Without it such a dictionary is refused.
    #[arg(long)]
    normalize: bool,
    /// Time step dt [default: 0.1 (rate), 0.5 (spiking, in units of max|b|)].
    #[arg(long)]
    dt: Option<f32>,
    /// Rows read and encoded per block (a multiple of 64) [default: what fits 64 MiB, at most
    /// 65536]. Hidden: outputs do not depend on it, it exists to test exactly that.
    #[arg(long, hide = true)]
    chunk_rows: Option<usize>,
    /// Convolutional dictionary (3-D/4-D .npy): edges of the image, circular or zero.
    #[arg(long, value_parser = super::named::<Boundary>(), default_value_t = Boundary::default())]
    boundary: Boundary,
    /// Convolutional dictionary, rate mode: how the neurons approach their fixed point —
    /// `splitting` (ADMM in the Fourier domain, circular boundary; else `accelerated`; on
    /// 1-D signals greedy settling at half the tolerance),
    /// `accelerated` (all at once, Fourier-domain inhibition, momentum) or `greedy`
    /// (event-driven settling, one neuron per segment at a time).
    #[arg(long, value_parser = super::named::<Schedule>(), default_value_t = Schedule::default())]
    conv_schedule: Schedule,
    /// Convolutional dictionary: spatial axes of the problem, 1 (signals (N, C, T), filters
    /// (M, C, k)), 2 (images) or 3 (volumes, video: (N, C, D, H, W)) [default: inferred
    /// where the shapes leave one reading; a picture is 2-D].
    #[arg(long, value_parser = parse_dims)]
    dims: Option<usize>,
    #[command(flatten)]
    rate: RateArgs,
    #[command(flatten)]
    spiking: SpikingArgs,
    #[command(flatten)]
    run: super::RunOptions,
}

/// Flags of the rate LCA (`--mode rate`), refused in spiking mode.
#[derive(Args, Debug)]
#[command(next_help_heading = "Rate LCA (--mode rate)")]
struct RateArgs {
    /// Transfer (threshold) function of the neurons [default: soft].
    #[arg(long = "transfer", alias = "threshold", value_parser = super::named::<Threshold>())]
    transfer: Option<Threshold>,
    /// With --transfer firm: ramp width of the firm threshold [default: 0.1].
    #[arg(long)]
    firm_width: Option<f32>,
    /// Neuron time constant τ [default: 1].
    #[arg(long = "time-constant", alias = "tau", value_name = "TAU")]
    time_constant: Option<f32>,
    /// Discretisation of the neuron dynamics [default: euler].
    #[arg(long, value_parser = super::named::<Integrator>())]
    integrator: Option<Integrator>,
    /// Maximum dynamics steps per signal [default: 2000].
    #[arg(long)]
    max_iters: Option<usize>,
    /// Stop a signal when max|b − u − Ga| ≤ tol·max|b| (relative distance to the fixed point) [default: 1e-4].
    #[arg(long)]
    tol: Option<f32>,
    /// Pure dynamics, never jump to the fixed point implied by the active set.
    #[arg(long)]
    no_projection: bool,
    /// With --anneal-from: steps the active set must stay unchanged, once λ reached its target, before jumping to its fixed point [default: 1].
    #[arg(long)]
    patience: Option<usize>,
    /// Adapt dt to the energy's decay: grow it by 25 % per step while the energy
    /// falls, undo the step and halve dt when it rises.
    #[arg(long)]
    adaptive_dt: bool,
    /// Threshold annealing, start at FACTOR·λ and lower it to λ (see --anneal-decay).
    #[arg(long, value_name = "FACTOR")]
    anneal_from: Option<f32>,
    /// Per-iteration factor of the annealed threshold [default: 0.95].
    #[arg(long)]
    anneal_decay: Option<f32>,
    /// Warm start, initial membrane states, shape (n_samples, n_atoms) .npy.
    #[arg(long)]
    warm_start: Option<PathBuf>,
    /// Also write the final membrane states (n_samples, n_atoms) to this .npy (a later warm start).
    #[arg(long)]
    save_states: Option<PathBuf>,
    /// Write a per-iteration trace (mean energy, L1, active atoms over signals) to this CSV.
    #[arg(long)]
    trace: Option<PathBuf>,
}

/// Flags of the spiking LCA (`--mode spiking`), refused in rate mode.
#[derive(Args, Debug)]
#[command(next_help_heading = "Spiking LCA (--mode spiking)")]
struct SpikingArgs {
    /// Simulated time steps per signal [default: 256; 512 per image with a convolutional dictionary].
    #[arg(long = "time-steps", alias = "steps", value_name = "STEPS")]
    time_steps: Option<usize>,
    /// Steps discarded before averaging the rates [default: time-steps/4].
    #[arg(long)]
    settle: Option<usize>,
    /// Firing threshold ϑ relative to max|b| (threshold scaling) [default: 1].
    #[arg(long)]
    spike_threshold: Option<f32>,
    /// Fraction of the synaptic current kept per step, in [0, 1) [default: 0].
    #[arg(long)]
    current_decay: Option<f32>,
    /// Signed codes: excitation between the ON and OFF neuron of an atom, in [0, 1] [default: 0.5].
    #[arg(long)]
    pair_coupling: Option<f32>,
    /// Loihi-style integer arithmetic (24-bit states, 8-bit weights); reports its error against float.
    #[arg(long)]
    fixed_point: bool,
    /// With --fixed-point and a convolutional dictionary: 8-bit synapses per Gram tap, 1 or 2
    /// (the second carries the first's rounding residual) [default: 2].
    #[arg(long, value_name = "N")]
    weight_synapses: Option<u8>,
    /// Write every spike (signal, neuron, step) to this .npz.
    #[arg(long)]
    spikes: Option<PathBuf>,
    /// Also write the network as a NIR graph (input Affine dt·Φᵀ, IF neurons,
    /// recurrent −ϑ·G; integer weights in metadata with --fixed-point), for
    /// any NIR backend (`lca::snn::nir::spiking_lca_graph`).
    #[arg(long, value_name = "PATH")]
    export_nir: Option<PathBuf>,
}

impl EncodeArgs {
    fn transfer(&self) -> Threshold {
        self.rate.transfer.unwrap_or_default()
    }

    fn threshold(&self) -> Threshold {
        self.transfer().with_firm_width(self.rate.firm_width)
    }

    fn params(&self) -> LcaParams {
        let d = LcaParams::default();
        LcaParams::new()
            .lambda(self.lambda)
            .nonneg(self.nonneg)
            .threshold(self.threshold())
            .tau(self.rate.time_constant.unwrap_or(d.tau))
            .dt(self.dt.unwrap_or(d.dt))
            .integrator(self.rate.integrator.unwrap_or_default())
            .max_iters(self.rate.max_iters.unwrap_or(d.max_iters))
            .tol(self.rate.tol.unwrap_or(d.tol))
            .trace(self.rate.trace.is_some())
            .projection(!self.rate.no_projection)
            .patience(self.rate.patience.unwrap_or(d.patience))
            .adaptive_dt(self.rate.adaptive_dt)
            .anneal(
                self.rate
                    .anneal_from
                    .map(|start| Anneal::from_start(start, self.rate.anneal_decay)),
            )
    }

    fn spiking_params(&self) -> SpikingParams {
        let d = SpikingParams::default();
        let mut p = SpikingParams::new()
            .lambda(self.lambda)
            .nonneg(self.nonneg)
            .dt(self.dt.unwrap_or(d.dt))
            .threshold(self.spiking.spike_threshold.unwrap_or(d.threshold))
            .steps(self.spiking.time_steps.unwrap_or(d.steps))
            .current_decay(self.spiking.current_decay.unwrap_or(d.current_decay))
            .pair_coupling(self.spiking.pair_coupling.unwrap_or(d.pair_coupling))
            .fixed_point(self.spiking.fixed_point)
            .record_spikes(self.spiking.spikes.is_some());
        if let Some(settle) = self.spiking.settle {
            p = p.settle(settle);
        }
        p
    }

    /// The spiking convolutional LCA's settings from the shared spiking flags
    /// (λ and the boundary are set by the convolutional path).
    fn conv_spiking_params(&self) -> ConvSpikingParams {
        let d = ConvSpikingParams::default();
        let mut p = ConvSpikingParams::new()
            .dt(self.dt.unwrap_or(d.dt))
            .threshold(self.spiking.spike_threshold.unwrap_or(d.threshold))
            .steps(self.spiking.time_steps.unwrap_or(d.steps))
            .fixed_point(self.spiking.fixed_point)
            .weight_synapses(self.spiking.weight_synapses.unwrap_or(d.weight_synapses));
        if let Some(settle) = self.spiking.settle {
            p = p.settle(settle);
        }
        p
    }

    /// Rejects the flags of the patch solvers that a convolutional
    /// dictionary has no use for, rather than ignoring them.
    fn check_conv_flags(&self) -> anyhow::Result<()> {
        let patch_only = [
            ("--current-decay", self.spiking.current_decay.is_some()),
            ("--pair-coupling", self.spiking.pair_coupling.is_some()),
            ("--spikes", self.spiking.spikes.is_some()),
            ("--export-nir", self.spiking.export_nir.is_some()),
            ("--time-constant", self.rate.time_constant.is_some()),
            ("--integrator", self.rate.integrator.is_some()),
            ("--no-projection", self.rate.no_projection),
            ("--patience", self.rate.patience.is_some()),
            ("--adaptive-dt", self.rate.adaptive_dt),
            ("--anneal-from", self.rate.anneal_from.is_some()),
            ("--warm-start", self.rate.warm_start.is_some()),
            ("--save-states", self.rate.save_states.is_some()),
            ("--trace", self.rate.trace.is_some()),
            ("--chunk-rows", self.chunk_rows.is_some()),
            (
                "--dt (in --mode rate)",
                self.dt.is_some() && matches!(self.mode, Mode::Rate),
            ),
        ];
        if let Some((flag, _)) = patch_only.iter().find(|(_, given)| *given) {
            bail!(
                "{flag} does not apply to a convolutional dictionary ({} is one)",
                self.dictionary.display()
            );
        }
        Ok(())
    }

    /// Rejects flags that do not apply to the chosen mode (a flag that is
    /// accepted and ignored makes a script believe it changed something), and
    /// checks the flags whose names differ from the library's settings.
    fn check_flags(&self) -> anyhow::Result<()> {
        if self.rate.anneal_decay.is_some() && self.rate.anneal_from.is_none() {
            bail!("--anneal-decay needs --anneal-from");
        }
        let spiking_only = [
            ("--time-steps", self.spiking.time_steps.is_some()),
            ("--settle", self.spiking.settle.is_some()),
            ("--spike-threshold", self.spiking.spike_threshold.is_some()),
            ("--current-decay", self.spiking.current_decay.is_some()),
            ("--pair-coupling", self.spiking.pair_coupling.is_some()),
            ("--fixed-point", self.spiking.fixed_point),
            ("--weight-synapses", self.spiking.weight_synapses.is_some()),
            ("--spikes", self.spiking.spikes.is_some()),
            ("--export-nir", self.spiking.export_nir.is_some()),
        ];
        let transfer = format!("--transfer {}", self.transfer());
        let rate_only = [
            ("--time-constant", self.rate.time_constant.is_some()),
            ("--integrator", self.rate.integrator.is_some()),
            ("--max-iters", self.rate.max_iters.is_some()),
            ("--tol", self.rate.tol.is_some()),
            ("--patience", self.rate.patience.is_some()),
            ("--no-projection", self.rate.no_projection),
            ("--adaptive-dt", self.rate.adaptive_dt),
            ("--anneal-from", self.rate.anneal_from.is_some()),
            // The spiking LCA solves the LASSO: its threshold is the soft one.
            (
                transfer.as_str(),
                !matches!(self.transfer(), Threshold::Soft),
            ),
            ("--firm-width", self.rate.firm_width.is_some()),
            ("--warm-start", self.rate.warm_start.is_some()),
            ("--save-states", self.rate.save_states.is_some()),
            ("--trace", self.rate.trace.is_some()),
        ];
        let (mode, other_mode, other) = match self.mode {
            Mode::Rate => ("rate", "spiking", &spiking_only[..]),
            Mode::Spiking => ("spiking", "rate", &rate_only[..]),
        };
        if let Some((flag, _)) = other.iter().find(|(_, given)| *given) {
            bail!("{flag} does not apply to --mode {mode}: it is a --mode {other_mode} flag");
        }
        if self.rate.firm_width.is_some() && !matches!(self.transfer(), Threshold::Firm { .. }) {
            bail!("--firm-width needs --transfer firm");
        }
        if let Some(t) = self
            .rate
            .time_constant
            .filter(|t| !(t.is_finite() && *t > 0.0))
        {
            bail!("--time-constant (τ) must be finite and > 0, got {t}");
        }
        if self.spiking.time_steps == Some(0) {
            bail!("--time-steps must be at least 1, got 0");
        }
        Ok(())
    }
}

/// Reads a 2-D `.npy` as columns (one per row of the file), rejecting NaN/Inf.
pub(crate) fn read_columns(path: &Path, what: &str) -> anyhow::Result<DMatrix<f32>> {
    let m = npy::read_matrix(path)?;
    if let Some(i) = m.data.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: {what} contains a non-finite value (NaN or Inf) at row {}, column {}",
            path.display(),
            i / m.cols.max(1),
            i % m.cols.max(1)
        );
    }
    Ok(DMatrix::from_vec(m.cols, m.rows, m.data))
}

/// Reads and validates a dictionary file, normalising its atoms.
///
/// For `reconstruct` and `learn --init`, which only use `Φa` (the rebuilt
/// image does not change when an atom and its code trade a scale factor)
/// or start learning from it; `encode`, whose codes are the output, uses
/// [`read_unit_dictionary`] instead.
pub(crate) fn read_dictionary(path: &Path) -> anyhow::Result<Dictionary> {
    let atoms = read_columns(path, "dictionary")?;
    Dictionary::from_atoms(atoms).with_context(|| path.display().to_string())
}

/// Reads the dictionary for `encode`, under the library's unit-norm policy
/// ([`Dictionary::for_encoding`]): the dictionary and whether an atom was rescaled.
fn read_unit_dictionary(path: &Path, normalize: bool) -> anyhow::Result<(Dictionary, bool)> {
    let atoms = read_columns(path, "dictionary")?;
    Dictionary::for_encoding(atoms, normalize).with_context(|| path.display().to_string())
}

/// The number of signals in `--input`, checked against the dictionary here
/// so the message names both files.
fn count_signals(args: &EncodeArgs, dict: &Dictionary) -> anyhow::Result<usize> {
    let input = npy::MatrixReader::open(&args.input)?;
    if input.cols() != dict.n_features() {
        bail!(
            "{}: signals have {} features (shape ({}, {})) but the atoms of {} have {} (shape ({}, {}))",
            args.input.display(),
            input.cols(),
            input.rows(),
            input.cols(),
            args.dictionary.display(),
            dict.n_features(),
            dict.n_atoms(),
            dict.n_features()
        );
    }
    Ok(input.rows())
}

/// Mean over `m` signals, 0 for none.
fn mean(total: f64, m: usize) -> f64 {
    total / m.max(1) as f64
}

/// The files of the run; rank 0 checks first that it can write them.
fn stream(args: &EncodeArgs, root: bool) -> anyhow::Result<Checked<NpyStream>> {
    let files = NpyStream::new(&args.input, &args.output)
        .block_rows(args.chunk_rows)
        .warm_start(args.rate.warm_start.clone())
        .save_states(args.rate.save_states.clone())
        .trace(args.rate.trace.clone())
        .spikes(args.spiking.spikes.clone())
        .compare_float(true)
        .check()
        .map_err(|e| match e {
            // The library's setting under the flag's name.
            lca::Error::InvalidSetting {
                name: "block_rows",
                reason,
            } => anyhow::anyhow!("--chunk-rows {reason}"),
            e => e.into(),
        })?;
    if root {
        let extra = [&files.save_states, &files.trace, &files.spikes];
        for path in std::iter::once(&files.output).chain(extra.into_iter().flatten()) {
            super::check_writable(path)?;
        }
    }
    Ok(files)
}

pub fn run(args: EncodeArgs, comm: &dyn Communicator) -> anyhow::Result<()> {
    if super::conv::is_conv_dictionary(&args.dictionary)? {
        args.check_flags()?;
        args.check_conv_flags()?;
        if args.spiking.weight_synapses.is_some() && !args.spiking.fixed_point {
            bail!("--weight-synapses needs --fixed-point");
        }
        let boundary = args.boundary;
        let spiking = matches!(args.mode, Mode::Spiking).then(|| {
            args.conv_spiking_params()
                .lambda(args.lambda)
                .boundary(boundary)
        });
        let settings = super::conv::ConvSettings {
            lambda: args.lambda,
            nonneg: args.nonneg,
            normalize: args.normalize,
            boundary,
            schedule: args.conv_schedule,
            threshold: args.threshold(),
            spiking,
            max_iters: args.rate.max_iters,
            tol: args.rate.tol,
            dims: args.dims,
            run: args.run,
        };
        return super::conv::encode(&args.dictionary, &args.input, &args.output, &settings);
    }
    args.check_flags()?;
    if args.dims.is_some() {
        bail!(
            "--dims applies to convolutional dictionaries ({} is a patch dictionary)",
            args.dictionary.display()
        );
    }
    if args.spiking.weight_synapses.is_some() {
        bail!(
            "--weight-synapses applies to convolutional dictionaries ({} is a patch dictionary)",
            args.dictionary.display()
        );
    }
    match args.mode {
        Mode::Rate => run_rate(args, comm),
        Mode::Spiking => run_spiking(args, comm),
    }
}

/// `lca encode --mode rate` on every rank; rank 0 writes and prints.
fn run_rate(args: EncodeArgs, comm: &dyn Communicator) -> anyhow::Result<()> {
    let lca = args.params().check()?;
    let files = stream(&args, comm.is_root())?;
    let (dict, normalized) = read_unit_dictionary(&args.dictionary, args.normalize)?;
    let m = count_signals(&args, &dict)?;
    let bar = super::progress::bar(m as u64, "signals", args.run.quiet || !comm.is_root());
    let report = |done: usize| bar.inc(done as u64);
    let monitor = Monitor::with_progress(Some(&report));
    let report = super::with_threads(args.run.threads, || {
        streamed_encoding::encode_rate(comm, &lca, &dict, &files, monitor)
    })??;
    bar.finish_and_clear();
    let Some(r) = report else {
        return Ok(());
    };
    let summary = RateSummary {
        mode: "rate",
        n_signals: m,
        n_atoms: r.n_atoms,
        lambda: args.lambda,
        normalized,
        mean_energy: r.mean_energy,
        mean_active: r.mean_active,
        iterations: mean(r.iterations as f64, m),
        jumps: mean(r.jumps as f64, m),
        max_iterations_used: r.max_iterations_used,
        unconverged: r.unconverged,
        termination: r.termination,
        seconds: r.seconds,
        signals_per_second: m as f64 / r.seconds.max(1e-12),
        output: args.output.display().to_string(),
    };
    if !args.run.quiet {
        note_normalized(&args, normalized);
        if r.unconverged > 0 {
            eprintln!(
                "warning: {} of {m} signals did not reach tol {} within {} iterations",
                r.unconverged,
                lca.params().tol,
                lca.params().max_iters
            );
        }
    }
    if args.run.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !args.run.quiet {
        if m == 0 {
            println!(
                "encoded 0 signals over {} atoms: the input has no rows",
                r.n_atoms
            );
        } else {
            // The default solver jumps between the fixed points of active sets
            // and rarely needs a step of the dynamics, so both are reported.
            let jumps = if lca.params().projection {
                format!(
                    ", {:.1} jumps per signal (to fixed points of active sets)",
                    summary.jumps
                )
            } else {
                String::new()
            };
            println!(
                "encoded {m} signals over {} atoms in {:.3} s ({:.0} signals/s): mean energy {:.6}, mean active {:.2}{jumps}, {:.1} dynamics steps per signal",
                r.n_atoms,
                r.seconds,
                summary.signals_per_second,
                r.mean_energy,
                r.mean_active,
                summary.iterations,
            );
        }
    }
    Ok(())
}

/// Says that the codes are those of the rescaled dictionary.
fn note_normalized(args: &EncodeArgs, normalized: bool) {
    if normalized {
        eprintln!(
            "note: {}: atoms rescaled to unit norm (--normalize); the codes are those of the normalised dictionary",
            args.dictionary.display()
        );
    }
}

/// The `--json` summary of `lca encode --mode rate` (keys are a contract).
#[derive(Serialize)]
struct RateSummary {
    mode: &'static str,
    n_signals: usize,
    n_atoms: usize,
    lambda: f32,
    normalized: bool,
    mean_energy: f64,
    mean_active: f64,
    /// Mean dynamics steps per signal.
    iterations: f64,
    /// Mean jumps per signal.
    jumps: f64,
    max_iterations_used: u32,
    unconverged: usize,
    /// Signals per way their solve ended.
    termination: TerminationCounts,
    seconds: f64,
    signals_per_second: f64,
    output: String,
}

/// The `--json` summary of `lca encode --mode spiking` (keys are a contract).
#[derive(Serialize)]
struct SpikingSummary {
    mode: &'static str,
    n_signals: usize,
    n_atoms: usize,
    lambda: f32,
    normalized: bool,
    mean_energy: f64,
    mean_active: f64,
    iterations: usize,
    max_iterations_used: usize,
    steps: usize,
    settle: usize,
    dt: f32,
    spike_threshold: f32,
    current_decay: f32,
    pair_coupling: f32,
    fixed_point: bool,
    spikes_per_signal: f64,
    saturated: usize,
    seconds: f64,
    signals_per_second: f64,
    output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    vs_float: Option<VsFloat>,
}

/// `lca encode --mode spiking`: spike-rate codes, optionally every spike,
/// streamed block by block like the rate mode.
fn run_spiking(args: EncodeArgs, comm: &dyn Communicator) -> anyhow::Result<()> {
    let solver = args.spiking_params().check()?;
    let p = solver.params().clone();
    let files = stream(&args, comm.is_root())?;
    let (dict, normalized) = read_unit_dictionary(&args.dictionary, args.normalize)?;
    if let Some(path) = args.spiking.export_nir.as_ref().filter(|_| comm.is_root()) {
        super::check_writable(path)?;
        lca::snn::nir::spiking_lca_graph(&dict, &p)?.write(path)?;
    }
    let m = count_signals(&args, &dict)?;
    let bar = super::progress::bar(m as u64, "signals", args.run.quiet || !comm.is_root());
    let report = |done: usize| bar.inc(done as u64);
    let monitor = Monitor::with_progress(Some(&report));
    let report = super::with_threads(args.run.threads, || {
        streamed_encoding::encode_spiking(comm, &solver, &dict, &files, monitor)
    })??;
    bar.finish_and_clear();
    let Some(r) = report else {
        return Ok(());
    };
    let mean_spikes = mean(r.spikes as f64, m);
    let summary = SpikingSummary {
        mode: "spiking",
        n_signals: m,
        n_atoms: r.n_atoms,
        lambda: args.lambda,
        normalized,
        mean_energy: r.mean_energy,
        mean_active: r.mean_active,
        iterations: p.steps,
        max_iterations_used: p.steps,
        steps: p.steps,
        settle: p.settle_steps(),
        dt: p.dt,
        spike_threshold: p.threshold,
        current_decay: p.current_decay,
        pair_coupling: p.pair_coupling,
        fixed_point: p.fixed_point,
        spikes_per_signal: mean_spikes,
        saturated: r.saturated,
        seconds: r.seconds,
        signals_per_second: m as f64 / r.seconds.max(1e-12),
        output: args.output.display().to_string(),
        vs_float: r.vs_float,
    };
    if !args.run.quiet {
        note_normalized(&args, normalized);
        if r.saturated > 0 {
            eprintln!(
                "warning: in {} of {m} signals a neuron fired at every step, so its rate was capped; lower --dt or raise --spike-threshold",
                r.saturated
            );
        }
    }
    if args.run.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !args.run.quiet {
        if m == 0 {
            println!(
                "encoded 0 signals over {} atoms: the input has no rows",
                r.n_atoms
            );
        } else {
            println!(
                "encoded {m} signals over {} atoms with {} spiking neurons in {:.3} s ({:.0} signals/s): mean energy {:.6}, mean active {:.2}, {} time steps, {mean_spikes:.1} spikes per signal",
                r.n_atoms,
                if p.fixed_point {
                    "fixed-point"
                } else {
                    "float"
                },
                r.seconds,
                summary.signals_per_second,
                r.mean_energy,
                r.mean_active,
                p.steps,
            );
        }
        if let Some(v) = &summary.vs_float {
            println!(
                "fixed point vs float: relative code error {:.3e}, energy relative difference {:.3e}",
                v.rel_code_error, v.energy_rel_diff
            );
        }
    }
    Ok(())
}

/// `--dims`, parsed by the library.
pub(crate) fn parse_dims(text: &str) -> Result<usize, String> {
    lca::conv::parse_dims(text).map_err(|e| e.to_string())
}
