//! `lca encode`: sparse codes of the rows of X.npy over the atoms of D.npy.
//!
//! The input is streamed: rows are read, encoded and written a block at a
//! time (outputs go to temporary files renamed into place at the end), so
//! memory stays bounded whatever the number of rows. Blocks are multiples of
//! the solvers' own chunk ([`SIGNAL_CHUNK`]) and every summary value is
//! summed signal by signal in input order, so outputs and summaries are
//! bit-identical for any block size, as they are for any number of threads.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use lca::conv::ConvSpikingParams;
use lca::io::{atomic, npy, npz};
use lca::neuron::{Integrator, Threshold};
use lca::solver::{
    Anneal, SIGNAL_CHUNK, SpikeRecord, SpikingParams, Termination, Trace, lasso_objectives,
};
use lca::{Dictionary, LcaParams};
use nalgebra::DMatrix;
use serde::Serialize;

/// What ranks other than 0 run under `mpirun` (rows split over ranks).
mod shard;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ThresholdArg {
    Soft,
    Hard,
    Firm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    /// Rate LCA: continuous outputs, stops at the fixed point.
    Rate,
    /// Spiking LCA: integrate-and-fire neurons, codes are spike rates.
    Spiking,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum IntegratorArg {
    Euler,
    Exponential,
}

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
    #[arg(long, value_enum, default_value_t = ModeArg::Rate)]
    mode: ModeArg,
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
    #[arg(long, value_parser = ["circular", "zero"], default_value = "circular")]
    boundary: String,
    /// Convolutional dictionary, rate mode: how the neurons approach their fixed point —
    /// `splitting` (ADMM in the Fourier domain, circular boundary; else `accelerated`),
    /// `accelerated` (all at once, Fourier-domain inhibition, momentum) or `greedy`
    /// (event-driven settling, one neuron per segment at a time).
    #[arg(long, value_parser = ["splitting", "accelerated", "greedy"], default_value = "splitting")]
    conv_schedule: String,
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
    #[arg(long = "transfer", alias = "threshold", value_enum)]
    transfer: Option<ThresholdArg>,
    /// With --transfer firm: ramp width of the firm threshold [default: 0.1].
    #[arg(long)]
    firm_width: Option<f32>,
    /// Neuron time constant τ [default: 1].
    #[arg(long = "time-constant", alias = "tau", value_name = "TAU")]
    time_constant: Option<f32>,
    /// Discretisation of the neuron dynamics [default: euler].
    #[arg(long, value_enum)]
    integrator: Option<IntegratorArg>,
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
    fn transfer(&self) -> ThresholdArg {
        self.rate.transfer.unwrap_or(ThresholdArg::Soft)
    }

    fn threshold(&self) -> Threshold {
        match self.transfer() {
            ThresholdArg::Soft => Threshold::Soft,
            ThresholdArg::Hard => Threshold::Hard,
            ThresholdArg::Firm => Threshold::Firm {
                width: self.rate.firm_width.unwrap_or(0.1),
            },
        }
    }

    fn params(&self) -> LcaParams {
        let d = LcaParams::default();
        LcaParams::new()
            .lambda(self.lambda)
            .nonneg(self.nonneg)
            .threshold(self.threshold())
            .tau(self.rate.time_constant.unwrap_or(d.tau))
            .dt(self.dt.unwrap_or(d.dt))
            .integrator(match self.rate.integrator.unwrap_or(IntegratorArg::Euler) {
                IntegratorArg::Euler => Integrator::ForwardEuler,
                IntegratorArg::Exponential => Integrator::ExponentialEuler,
            })
            .max_iters(self.rate.max_iters.unwrap_or(d.max_iters))
            .tol(self.rate.tol.unwrap_or(d.tol))
            .trace(self.rate.trace.is_some())
            .projection(!self.rate.no_projection)
            .patience(self.rate.patience.unwrap_or(d.patience))
            .adaptive_dt(self.rate.adaptive_dt)
            .anneal(self.rate.anneal_from.map(|start| Anneal {
                start,
                decay: self.rate.anneal_decay.unwrap_or(0.95),
            }))
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
                self.dt.is_some() && matches!(self.mode, ModeArg::Rate),
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
        let transfer = match self.transfer() {
            ThresholdArg::Soft => "--transfer soft",
            ThresholdArg::Hard => "--transfer hard",
            ThresholdArg::Firm => "--transfer firm",
        };
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
            (transfer, !matches!(self.transfer(), ThresholdArg::Soft)),
            ("--firm-width", self.rate.firm_width.is_some()),
            ("--warm-start", self.rate.warm_start.is_some()),
            ("--save-states", self.rate.save_states.is_some()),
            ("--trace", self.rate.trace.is_some()),
        ];
        let (mode, other_mode, other) = match self.mode {
            ModeArg::Rate => ("rate", "spiking", &spiking_only[..]),
            ModeArg::Spiking => ("spiking", "rate", &rate_only[..]),
        };
        if let Some((flag, _)) = other.iter().find(|(_, given)| *given) {
            bail!("{flag} does not apply to --mode {mode}: it is a --mode {other_mode} flag");
        }
        if self.rate.firm_width.is_some() && !matches!(self.transfer(), ThresholdArg::Firm) {
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
        if let Some(c) = self.chunk_rows.filter(|c| *c == 0 || c % SIGNAL_CHUNK != 0) {
            bail!("--chunk-rows must be a positive multiple of {SIGNAL_CHUNK}, got {c}");
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

/// Relative tolerance on each atom's L2 norm: rows normalised in f32 are
/// within 1e-6 of 1, a rescaled dictionary is far outside.
const UNIT_NORM_TOLERANCE: f64 = 1e-3;

/// Reads the dictionary for `encode`. The solvers work with unit-norm atoms,
/// so for other atoms the codes would solve the LASSO of the normalised
/// dictionary, not of the one given: such a file is refused unless
/// `normalize`. Returns the dictionary and whether an atom was rescaled.
fn read_unit_dictionary(path: &Path, normalize: bool) -> anyhow::Result<(Dictionary, bool)> {
    let atoms = read_columns(path, "dictionary")?;
    let norms: Vec<f64> = atoms
        .column_iter()
        .map(|a| a.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt())
        .collect();
    let off = norms
        .iter()
        .position(|&n| (n - 1.0).abs() > UNIT_NORM_TOLERANCE);
    // A zero atom gets the dictionary's own error.
    let zero = norms.iter().any(|&n| n <= 1e-12);
    if let (Some(row), false, false) = (off, zero, normalize) {
        bail!(
            "{}: row {row} (an atom) has L2 norm {:.6}, not 1 (tolerance {UNIT_NORM_TOLERANCE}): the codes would solve the LASSO for the normalised atoms, not for this dictionary; normalise its rows or pass --normalize",
            path.display(),
            norms[row]
        );
    }
    let dict = Dictionary::from_atoms(atoms).with_context(|| path.display().to_string())?;
    Ok((dict, off.is_some()))
}

fn check_extension(path: &Path, allowed: &[&str]) -> anyhow::Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !allowed.contains(&ext) {
        bail!(
            "{}: output must end in {}",
            path.display(),
            allowed
                .iter()
                .map(|e| format!(".{e}"))
                .collect::<Vec<_>>()
                .join(" or ")
        );
    }
    Ok(())
}

/// Working set per block of rows when no `--chunk-rows` is given.
const BLOCK_BYTES: usize = 64 << 20;
/// Most rows per block: enough parallel work for many cores.
const MAX_BLOCK_ROWS: usize = 65536;

/// Rows read, encoded and written per block: what fits [`BLOCK_BYTES`]
/// (signals, drive, codes and states of a row), cut to a multiple of
/// [`SIGNAL_CHUNK`] so blocks split the input only where the solvers split
/// it anyway, which keeps the codes independent of the block size.
fn block_rows(args: &EncodeArgs, n_features: usize, n_atoms: usize) -> usize {
    if let Some(rows) = args.chunk_rows {
        return rows;
    }
    let per_row = 4 * (n_features + 3 * n_atoms).max(1);
    (BLOCK_BYTES / per_row).clamp(SIGNAL_CHUNK, MAX_BLOCK_ROWS) / SIGNAL_CHUNK * SIGNAL_CHUNK
}

/// Opens the signals for streaming and checks them against the dictionary.
fn open_input(args: &EncodeArgs, dict: &Dictionary) -> anyhow::Result<npy::MatrixReader> {
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
    Ok(input)
}

/// The next `rows` rows of `reader` as columns, rejecting NaN/Inf with
/// their position in the whole file.
fn next_block(
    reader: &mut npy::MatrixReader,
    rows: usize,
    path: &Path,
    what: &str,
) -> anyhow::Result<DMatrix<f32>> {
    let first = reader.rows() - reader.remaining();
    let cols = reader.cols();
    let data = reader.read_rows(rows)?;
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: {what} contains a non-finite value (NaN or Inf) at row {}, column {}",
            path.display(),
            first + i / cols.max(1),
            i % cols.max(1)
        );
    }
    Ok(DMatrix::from_vec(cols, rows, data))
}

/// Where the codes go: dense rows streamed into a `.npy`, or, for `.npz`,
/// CSR arrays gathered block by block (they hold only the non-zeros, a small
/// fraction of a sparse code) and written at the end.
enum CodesSink {
    Dense(npy::MatrixWriter),
    Sparse(PathBuf, npz::CsrMatrix),
}

impl CodesSink {
    fn create(path: &Path, m: usize, k: usize) -> anyhow::Result<CodesSink> {
        Ok(
            if path.extension().and_then(|e| e.to_str()) == Some("npz") {
                CodesSink::Sparse(
                    path.to_path_buf(),
                    npz::CsrMatrix {
                        rows: 0,
                        cols: k,
                        data: Vec::new(),
                        indices: Vec::new(),
                        indptr: vec![0],
                    },
                )
            } else {
                CodesSink::Dense(npy::MatrixWriter::create(path, m, k)?)
            },
        )
    }

    /// Appends the codes of a block (`k × rows`, one column per signal).
    fn write(&mut self, codes: &DMatrix<f32>) -> anyhow::Result<()> {
        match self {
            CodesSink::Dense(w) => w.write_rows(codes.as_slice())?,
            CodesSink::Sparse(_, csr) => {
                let block =
                    npz::CsrMatrix::from_dense_rows(codes.ncols(), csr.cols, codes.as_slice());
                let base = csr.indptr.last().copied().unwrap_or(0);
                csr.data.extend_from_slice(&block.data);
                csr.indices.extend_from_slice(&block.indices);
                csr.indptr
                    .extend(block.indptr[1..].iter().map(|&p| p + base));
                csr.rows += block.rows;
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            CodesSink::Dense(w) => w.finish()?,
            CodesSink::Sparse(path, csr) => npz::write_csr(&path, &csr)?,
        }
        Ok(())
    }
}

/// The trace CSV's per-iteration sums, accumulated one signal at a time.
///
/// A signal that stopped early keeps contributing its final values, so the
/// curve is the batch's true energy. The sums are formed in input order, and
/// an iteration first reached by a later signal starts from the running sum
/// of the earlier signals' final values, which is the same sequence of
/// additions: the file is identical however the input is cut into blocks.
#[derive(Default)]
struct TraceSums {
    /// Per iteration: energy, L1 and active sums, and signals still running.
    energy: Vec<f64>,
    l1: Vec<f64>,
    active: Vec<f64>,
    running: Vec<usize>,
    /// Sums of the final values of the signals so far.
    tail: [f64; 3],
    signals: usize,
}

impl TraceSums {
    fn add(&mut self, t: &Trace) {
        self.signals += 1;
        let Some(last) = t.energy.len().checked_sub(1) else {
            return;
        };
        let len = last + 1;
        if len > self.energy.len() {
            self.energy.resize(len, self.tail[0]);
            self.l1.resize(len, self.tail[1]);
            self.active.resize(len, self.tail[2]);
            self.running.resize(len, 0);
        }
        for it in 0..self.energy.len() {
            let i = it.min(last);
            self.energy[it] += f64::from(t.energy[i]);
            self.l1[it] += f64::from(t.l1[i]);
            self.active[it] += f64::from(t.active[i]);
            self.running[it] += usize::from(it < len);
        }
        self.tail[0] += f64::from(t.energy[last]);
        self.tail[1] += f64::from(t.l1[last]);
        self.tail[2] += f64::from(t.active[last]);
    }

    /// Per-iteration means over all signals.
    fn csv(&self) -> String {
        let n = self.signals.max(1) as f64;
        let mut out = String::from("iteration,mean_energy,mean_l1,mean_active,running\n");
        for it in 0..self.energy.len() {
            out.push_str(&format!(
                "{it},{},{},{},{}\n",
                self.energy[it] / n,
                self.l1[it] / n,
                self.active[it] / n,
                self.running[it]
            ));
        }
        out
    }
}

/// Sum of the per-signal values of the summary, in input order (so the
/// means do not depend on the blocks) and from +0 (an empty input reports 0).
#[derive(Default)]
struct Totals {
    energy: f64,
    active: u64,
}

impl Totals {
    fn add(&mut self, codes: &DMatrix<f32>, energies: &[f64]) {
        for &e in energies {
            self.energy += e;
        }
        self.active += codes.iter().filter(|&&v| v != 0.0).count() as u64;
    }
}

/// Mean over `m` signals, 0 for none.
fn mean(total: f64, m: usize) -> f64 {
    total / m.max(1) as f64
}

pub fn run(args: EncodeArgs) -> anyhow::Result<()> {
    if super::conv::is_conv_dictionary(&args.dictionary)? {
        args.check_flags()?;
        args.check_conv_flags()?;
        if args.spiking.weight_synapses.is_some() && !args.spiking.fixed_point {
            bail!("--weight-synapses needs --fixed-point");
        }
        let boundary = lca::conv::Boundary::from_name(&args.boundary)?;
        let spiking = matches!(args.mode, ModeArg::Spiking).then(|| {
            args.conv_spiking_params()
                .lambda(args.lambda)
                .boundary(boundary)
        });
        let settings = super::conv::ConvSettings {
            lambda: args.lambda,
            nonneg: args.nonneg,
            normalize: args.normalize,
            boundary,
            schedule: super::conv::schedule_from_name(&args.conv_schedule)?,
            threshold: args.threshold(),
            spiking,
            max_iters: args.rate.max_iters,
            tol: args.rate.tol,
            run: args.run,
        };
        return super::conv::encode(&args.dictionary, &args.input, &args.output, &settings);
    }
    args.check_flags()?;
    if args.spiking.weight_synapses.is_some() {
        bail!(
            "--weight-synapses applies to convolutional dictionaries ({} is a patch dictionary)",
            args.dictionary.display()
        );
    }
    match args.mode {
        ModeArg::Rate => run_rate(args),
        ModeArg::Spiking => run_spiking(args),
    }
}

/// `lca encode --mode rate`, streamed block by block.
fn run_rate(args: EncodeArgs) -> anyhow::Result<()> {
    let lca = args.params().check()?;
    if !lca::distributed::world().is_root() {
        return shard::follow(&args, &lca);
    }
    check_extension(&args.output, &["npy", "npz"])?;
    super::check_writable(&args.output)?;
    for extra in [&args.rate.save_states, &args.rate.trace]
        .into_iter()
        .flatten()
    {
        super::check_writable(extra)?;
    }
    if let Some(p) = &args.rate.save_states {
        check_extension(p, &["npy"])?;
    }

    let (dict, normalized) = read_unit_dictionary(&args.dictionary, args.normalize)?;
    let mut input = open_input(&args, &dict)?;
    let (m, k) = (input.rows(), dict.n_atoms());
    let mut warm = match &args.rate.warm_start {
        None => None,
        Some(p) => {
            let s = npy::MatrixReader::open(p)?;
            if (s.rows(), s.cols()) != (m, k) {
                bail!(
                    "{}: warm-start states have shape ({}, {}), expected ({m}, {k}) = (n_samples, n_atoms)",
                    p.display(),
                    s.rows(),
                    s.cols(),
                );
            }
            Some(s)
        }
    };
    let block = block_rows(&args, dict.n_features(), k);

    let bar = super::progress::bar(m as u64, "signals", args.run.quiet);
    let report = |done: usize| bar.inc(done as u64);
    let mut codes_out = CodesSink::create(&args.output, m, k)?;
    let mut states_out = match &args.rate.save_states {
        Some(p) => Some(npy::MatrixWriter::create(p, m, k)?),
        None => None,
    };
    let mut totals = Totals::default();
    let mut traces = args.rate.trace.is_some().then(TraceSums::default);
    let (mut iterations, mut jumps, mut max_iterations, mut unconverged) = (0u64, 0u64, 0u32, 0);
    let mut terminations = TerminationCounts::default();
    let mut seconds = 0.0;
    super::with_threads(args.run.threads, || -> anyhow::Result<()> {
        while input.remaining() > 0 {
            let rows = block.min(input.remaining());
            let signals = next_block(&mut input, rows, &args.input, "input")?;
            let initial = match (&mut warm, &args.rate.warm_start) {
                (Some(r), Some(p)) => Some(next_block(r, rows, p, "warm-start states")?),
                _ => None,
            };
            let start = Instant::now();
            let comm = lca::distributed::world();
            let enc = lca::distributed::encode_gathered(
                comm,
                &lca,
                &dict,
                &signals,
                initial.as_ref(),
                Some(&report),
            )?
            .expect("rank 0 receives the gathered encoding");
            seconds += start.elapsed().as_secs_f64();
            // The next block's solve waits for this one's output anyway, so
            // the writes overlap the summary's energies only.
            let (written, energies) = rayon::join(
                || -> anyhow::Result<()> {
                    codes_out.write(&enc.codes)?;
                    if let Some(w) = states_out.as_mut() {
                        w.write_rows(enc.states.as_slice())?;
                    }
                    Ok(())
                },
                || lasso_objectives(&dict, &signals, &enc.codes, args.lambda),
            );
            written?;
            totals.add(&enc.codes, &energies);
            iterations += enc.iterations.iter().map(|&i| u64::from(i)).sum::<u64>();
            jumps += enc.jumps.iter().map(|&i| u64::from(i)).sum::<u64>();
            max_iterations = max_iterations.max(enc.iterations.iter().copied().max().unwrap_or(0));
            unconverged += enc.unconverged();
            for t in &enc.termination {
                terminations.add(*t);
            }
            if let Some(t) = traces.as_mut() {
                enc.traces.iter().for_each(|trace| t.add(trace));
            }
        }
        Ok(())
    })??;
    bar.finish_and_clear();
    codes_out.finish()?;
    if let Some(w) = states_out {
        w.finish()?;
    }
    if let (Some(p), Some(t)) = (&args.rate.trace, &traces) {
        atomic::write_bytes_atomic(p, t.csv().as_bytes())?;
    }

    let summary = RateSummary {
        mode: "rate",
        n_signals: m,
        n_atoms: k,
        lambda: args.lambda,
        normalized,
        mean_energy: mean(totals.energy, m),
        mean_active: mean(totals.active as f64, m),
        iterations: mean(iterations as f64, m),
        jumps: mean(jumps as f64, m),
        max_iterations_used: max_iterations,
        unconverged,
        termination: terminations,
        seconds,
        signals_per_second: m as f64 / seconds.max(1e-12),
        output: args.output.display().to_string(),
    };
    if !args.run.quiet {
        if normalized {
            eprintln!(
                "note: {}: atoms rescaled to unit norm (--normalize); the codes are those of the normalised dictionary",
                args.dictionary.display()
            );
        }
        if unconverged > 0 {
            eprintln!(
                "warning: {unconverged} of {m} signals did not reach tol {} within {} iterations",
                lca.params().tol,
                lca.params().max_iters
            );
        }
    }
    if args.run.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !args.run.quiet {
        if m == 0 {
            println!("encoded 0 signals over {k} atoms: the input has no rows");
        } else {
            // The default solver jumps between the fixed points of active sets
            // and rarely needs a step of the dynamics, so both are reported.
            let jumps = if lca.params().projection {
                format!(
                    ", {:.1} jumps per signal (to fixed points of active sets)",
                    mean(jumps as f64, m)
                )
            } else {
                String::new()
            };
            println!(
                "encoded {m} signals over {k} atoms in {seconds:.3} s ({:.0} signals/s): mean energy {:.6}, mean active {:.2}{jumps}, {:.1} dynamics steps per signal",
                m as f64 / seconds.max(1e-12),
                mean(totals.energy, m),
                mean(totals.active as f64, m),
                mean(iterations as f64, m),
            );
        }
    }
    Ok(())
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

/// How many signals ended each way (see [`Termination`]).
#[derive(Default, Serialize)]
struct TerminationCounts {
    solved: usize,
    converged: usize,
    max_iterations: usize,
    stalled: usize,
}

impl TerminationCounts {
    fn add(&mut self, t: Termination) {
        match t {
            Termination::Solved => self.solved += 1,
            Termination::Converged => self.converged += 1,
            Termination::MaxIterations => self.max_iterations += 1,
            Termination::Stalled => self.stalled += 1,
            _ => {}
        }
    }
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

/// Fixed point against float in the spiking summary.
#[derive(Serialize)]
struct VsFloat {
    mean_energy_float: f64,
    energy_rel_diff: f64,
    rel_code_error: f64,
    max_abs_code_error: f32,
    spikes_per_signal_float: f64,
}

/// Fixed point against float, summed over the blocks in input order.
#[derive(Default)]
struct FloatComparison {
    energy: f64,
    diff_sq: f64,
    float_sq: f64,
    max_abs: f32,
    spikes: u64,
}

/// `lca encode --mode spiking`: spike-rate codes, optionally every spike,
/// streamed block by block like the rate mode.
fn run_spiking(args: EncodeArgs) -> anyhow::Result<()> {
    let solver = args.spiking_params().check()?;
    let p = solver.params().clone();
    // The fixed-point error is measured against the same network in f32.
    let float = if p.fixed_point {
        Some(p.clone().fixed_point(false).record_spikes(false).check()?)
    } else {
        None
    };
    let comm = lca::distributed::world();
    if !comm.is_root() {
        return shard::follow_spiking(&args, &solver, float.as_ref());
    }
    check_extension(&args.output, &["npy", "npz"])?;
    super::check_writable(&args.output)?;
    if let Some(path) = &args.spiking.spikes {
        check_extension(path, &["npz"])?;
        super::check_writable(path)?;
    }
    let (dict, normalized) = read_unit_dictionary(&args.dictionary, args.normalize)?;
    if let Some(path) = &args.spiking.export_nir {
        super::check_writable(path)?;
        lca::snn::nir::spiking_lca_graph(&dict, &p)?.write(path)?;
    }
    let mut input = open_input(&args, &dict)?;
    let (m, k) = (input.rows(), dict.n_atoms());
    if p.record_spikes && m > u32::MAX as usize {
        bail!(
            "{}: {m} signals are more than a spike record can index",
            args.input.display()
        );
    }
    let block = block_rows(&args, dict.n_features(), k);

    let bar = super::progress::bar(m as u64, "signals", args.run.quiet);
    let report = |done: usize| bar.inc(done as u64);
    let mut codes_out = CodesSink::create(&args.output, m, k)?;
    let mut record = p.record_spikes.then(|| SpikeRecord {
        n_atoms: k,
        n_neurons: if p.nonneg { k } else { 2 * k },
        steps: p.steps,
        settle: p.settle_steps(),
        ..SpikeRecord::default()
    });
    let mut totals = Totals::default();
    let (mut spikes, mut saturated) = (0u64, 0usize);
    let mut vs_float = float.as_ref().map(|_| FloatComparison::default());
    let mut seconds = 0.0;
    super::with_threads(args.run.threads, || -> anyhow::Result<()> {
        while input.remaining() > 0 {
            let first = m - input.remaining();
            let rows = block.min(input.remaining());
            let signals = next_block(&mut input, rows, &args.input, "input")?;
            let start = Instant::now();
            let enc = lca::distributed::encode_spiking_gathered(
                comm,
                &solver,
                &dict,
                &signals,
                Some(&report),
            )?
            .expect("rank 0 receives the gathered encoding");
            seconds += start.elapsed().as_secs_f64();
            let (written, energies) = rayon::join(
                || codes_out.write(&enc.codes),
                || lasso_objectives(&dict, &signals, &enc.codes, args.lambda),
            );
            written?;
            totals.add(&enc.codes, &energies);
            spikes += enc.spike_counts.iter().sum::<u64>();
            saturated += enc.saturated.iter().filter(|&&s| s).count();
            if let (Some(r), Some(b)) = (record.as_mut(), &enc.spikes) {
                // Block-local signal numbers become rows of the whole input.
                let base = first as u32;
                r.signal.extend(b.signal.iter().map(|&s| s + base));
                r.neuron.extend_from_slice(&b.neuron);
                r.step.extend_from_slice(&b.step);
                r.quantum.extend_from_slice(&b.quantum);
            }
            if let (Some(v), Some(float)) = (vs_float.as_mut(), &float) {
                let f =
                    lca::distributed::encode_spiking_gathered(comm, float, &dict, &signals, None)?
                        .expect("rank 0 receives the gathered encoding");
                for e in lasso_objectives(&dict, &signals, &f.codes, args.lambda) {
                    v.energy += e;
                }
                for (&a, &b) in enc.codes.iter().zip(f.codes.iter()) {
                    let d = a - b;
                    v.diff_sq += f64::from(d) * f64::from(d);
                    v.float_sq += f64::from(b) * f64::from(b);
                    v.max_abs = v.max_abs.max(d.abs());
                }
                v.spikes += f.spike_counts.iter().sum::<u64>();
            }
        }
        Ok(())
    })??;
    bar.finish_and_clear();
    codes_out.finish()?;
    if let (Some(path), Some(record)) = (&args.spiking.spikes, &record) {
        record.write_npz(path)?;
    }

    let mean_energy = mean(totals.energy, m);
    let mean_active = mean(totals.active as f64, m);
    let mean_spikes = mean(spikes as f64, m);
    let summary = SpikingSummary {
        mode: "spiking",
        n_signals: m,
        n_atoms: k,
        lambda: args.lambda,
        normalized,
        mean_energy,
        mean_active,
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
        saturated,
        seconds,
        signals_per_second: m as f64 / seconds.max(1e-12),
        output: args.output.display().to_string(),
        vs_float: vs_float.as_ref().map(|v| {
            let float_energy = mean(v.energy, m);
            VsFloat {
                mean_energy_float: float_energy,
                energy_rel_diff: (mean_energy - float_energy)
                    / float_energy.abs().max(f64::MIN_POSITIVE),
                rel_code_error: v.diff_sq.sqrt() / v.float_sq.sqrt().max(f64::MIN_POSITIVE),
                max_abs_code_error: v.max_abs,
                spikes_per_signal_float: mean(v.spikes as f64, m),
            }
        }),
    };
    if !args.run.quiet {
        if normalized {
            eprintln!(
                "note: {}: atoms rescaled to unit norm (--normalize); the codes are those of the normalised dictionary",
                args.dictionary.display()
            );
        }
        if saturated > 0 {
            eprintln!(
                "warning: in {saturated} of {m} signals a neuron fired at every step, so its rate was capped; lower --dt or raise --spike-threshold"
            );
        }
    }
    if args.run.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !args.run.quiet {
        if m == 0 {
            println!("encoded 0 signals over {k} atoms: the input has no rows");
        } else {
            println!(
                "encoded {m} signals over {k} atoms with {} spiking neurons in {seconds:.3} s ({:.0} signals/s): mean energy {mean_energy:.6}, mean active {mean_active:.2}, {} time steps, {mean_spikes:.1} spikes per signal",
                if p.fixed_point {
                    "fixed-point"
                } else {
                    "float"
                },
                m as f64 / seconds.max(1e-12),
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
