//! Encoding an `.npy` file of signals into a codes file, block by block.
//!
//! Rows are read, encoded and written a block at a time (outputs go to
//! temporary files renamed into place at the end), so memory stays bounded
//! whatever the number of rows. Blocks are multiples of the solvers' own
//! chunk ([`SIGNAL_CHUNK`]) and every report value is summed signal by
//! signal in input order, so outputs and reports are bit-identical for any
//! block size, as they are for any number of threads.
//!
//! The same call runs on every rank of a [`Communicator`]: every rank reads
//! the same blocks (the reader streams rows in order, so each block is read
//! whole) and solves its share of each block's chunks
//! ([`crate::distributed::share`]); rank 0 gathers codes, states, spikes and
//! counters in row order and writes the files, so the output is the
//! single-process file byte for byte. Each block goes through the one coding
//! driver (`solver::batch`) on every rank.
//!
//! ```
//! use lca::distributed::SingleProcess;
//! use lca::streamed_encoding::{NpyStream, encode_rate};
//! use lca::io::npy;
//! # let dir = std::env::temp_dir().join(format!("lca-doc-stream-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let (input, output) = (dir.join("x.npy"), dir.join("codes.npy"));
//! let mut w = npy::MatrixWriter::create(&input, 3, 2).unwrap();
//! w.write_rows(&[1.0, 0.0, 0.0, 2.0, 0.5, 0.5]).unwrap();
//! w.finish().unwrap();
//! let dict = lca::Dictionary::from_rows(2, 2, vec![1.0, 0.0, 0.0, 1.0]).unwrap();
//! let lca = lca::LcaParams::new().lambda(0.1).check().unwrap();
//! let files = NpyStream::new(&input, &output).check().unwrap();
//! let report = encode_rate(&SingleProcess, &lca, &dict, &files, Default::default())
//!     .unwrap()
//!     .expect("rank 0 gets the report");
//! assert_eq!(report.n_signals, 3);
//! let codes = npy::read_matrix(&output).unwrap();
//! assert_eq!((codes.rows, codes.cols), (3, 2));
//! assert!((codes.data[0] - 0.9).abs() < 1e-5); // soft threshold of 1 by λ = 0.1
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use nalgebra::DMatrix;
use serde::Serialize;

use crate::Dictionary;
use crate::distributed::{Communicator, encode_gathered, encode_spiking_gathered};
use crate::error::{Error, Result};
use crate::io::{atomic, npy, npz};
use crate::settings::Checked;
use crate::solver::{
    Encoding, Lca, Monitor, SIGNAL_CHUNK, SpikeRecord, SpikingEncoding, SpikingLca, Termination,
    Trace, lasso_objectives,
};

/// Working set per block of rows when no block size is given.
const BLOCK_BYTES: usize = 64 << 20;
/// Most rows per block: enough parallel work for many cores.
const MAX_BLOCK_ROWS: usize = 65536;

/// The files of one streamed encoding. Rate-only files (warm start, saved
/// states, trace) are refused by [`encode_spiking`], the spike record by
/// [`encode_rate`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NpyStream {
    /// Signals `(n_samples, n_features)`, f32 or f64 `.npy`.
    pub input: PathBuf,
    /// Codes `(n_samples, n_atoms)`: dense f32 `.npy`, or scipy CSR `.npz`.
    pub output: PathBuf,
    /// Rows per block, a positive multiple of [`SIGNAL_CHUNK`]; `None`:
    /// what fits 64 MiB, at most 65536 ([`default_block_rows`]).
    pub block_rows: Option<usize>,
    /// Rate: initial membrane states `(n_samples, n_atoms)` `.npy`.
    pub warm_start: Option<PathBuf>,
    /// Rate: where to write the final states `(n_samples, n_atoms)` `.npy`.
    pub save_states: Option<PathBuf>,
    /// Rate: where to write the per-iteration trace CSV (the solver must
    /// record traces, `LcaParams::trace`).
    pub trace: Option<PathBuf>,
    /// Spiking: where to write every spike `.npz` (the solver must record
    /// them, `SpikingParams::record_spikes`).
    pub spikes: Option<PathBuf>,
    /// Spiking, fixed point: also run the same network in f32 and report
    /// the difference ([`VsFloat`]).
    pub compare_float: bool,
}

crate::settings::setters!(NpyStream {
    block_rows: Option<usize>,
    warm_start: Option<PathBuf>,
    save_states: Option<PathBuf>,
    trace: Option<PathBuf>,
    spikes: Option<PathBuf>,
    compare_float: bool,
});

impl NpyStream {
    /// Encode `input` into `output`, nothing else written.
    pub fn new(input: impl Into<PathBuf>, output: impl Into<PathBuf>) -> Self {
        NpyStream {
            input: input.into(),
            output: output.into(),
            block_rows: None,
            warm_start: None,
            save_states: None,
            trace: None,
            spikes: None,
            compare_float: false,
        }
    }

    /// Checks the block size and the files' extensions.
    pub fn check(self) -> Result<Checked<NpyStream>> {
        if let Some(c) = self.block_rows.filter(|c| *c == 0 || c % SIGNAL_CHUNK != 0) {
            return Err(Error::setting(
                "block_rows",
                format!("must be a positive multiple of {SIGNAL_CHUNK}, got {c}"),
            ));
        }
        check_extension("output", &self.output, &["npy", "npz"])?;
        if let Some(p) = &self.save_states {
            check_extension("save_states", p, &["npy"])?;
        }
        if let Some(p) = &self.spikes {
            check_extension("spikes", p, &["npz"])?;
        }
        Ok(Checked::assume_valid(self))
    }
}

fn check_extension(setting: &'static str, path: &Path, allowed: &[&str]) -> Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if allowed.contains(&ext) {
        return Ok(());
    }
    let names: Vec<String> = allowed.iter().map(|e| format!(".{e}")).collect();
    Err(Error::setting(
        setting,
        format!("{}: must end in {}", path.display(), names.join(" or ")),
    ))
}

/// Rows read, encoded and written per block by default: what fits
/// [`BLOCK_BYTES`] (signals, drive, codes and states of a row), cut to a
/// multiple of [`SIGNAL_CHUNK`] so blocks split the input only where the
/// solvers split it anyway, which keeps the codes independent of the block.
pub fn default_block_rows(n_features: usize, n_atoms: usize) -> usize {
    let per_row = 4 * (n_features + 3 * n_atoms).max(1);
    (BLOCK_BYTES / per_row).clamp(SIGNAL_CHUNK, MAX_BLOCK_ROWS) / SIGNAL_CHUNK * SIGNAL_CHUNK
}

/// How many signals ended each way (see [`Termination`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct TerminationCounts {
    pub solved: usize,
    pub converged: usize,
    pub max_iterations: usize,
    pub stalled: usize,
}

impl TerminationCounts {
    fn add(&mut self, t: Termination) {
        match t {
            Termination::Solved => self.solved += 1,
            Termination::Converged => self.converged += 1,
            Termination::MaxIterations => self.max_iterations += 1,
            Termination::Stalled => self.stalled += 1,
        }
    }
}

/// What a rate encoding of a file did (rank 0's figures for all signals).
#[derive(Clone, Debug, PartialEq)]
pub struct RateReport {
    pub n_signals: usize,
    pub n_atoms: usize,
    /// Mean LASSO objective per signal (soft-threshold objective at the λ
    /// of the solver, whatever its threshold).
    pub mean_energy: f64,
    /// Mean non-zero codes per signal.
    pub mean_active: f64,
    /// Dynamics steps, summed over signals.
    pub iterations: u64,
    /// Jumps to fixed points of active sets, summed over signals.
    pub jumps: u64,
    pub max_iterations_used: u32,
    /// Signals that did not reach the tolerance.
    pub unconverged: usize,
    pub termination: TerminationCounts,
    /// Seconds spent solving (reading and writing excluded).
    pub seconds: f64,
}

/// Fixed point against float, as reported when [`NpyStream::compare_float`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VsFloat {
    pub mean_energy_float: f64,
    pub energy_rel_diff: f64,
    pub rel_code_error: f64,
    pub max_abs_code_error: f32,
    pub spikes_per_signal_float: f64,
}

/// What a spiking encoding of a file did (rank 0's figures for all signals).
#[derive(Clone, Debug, PartialEq)]
pub struct SpikingReport {
    pub n_signals: usize,
    pub n_atoms: usize,
    pub mean_energy: f64,
    pub mean_active: f64,
    /// Spikes, summed over signals.
    pub spikes: u64,
    /// Signals in which a neuron fired at every step (its rate was capped).
    pub saturated: usize,
    pub seconds: f64,
    pub vs_float: Option<VsFloat>,
}

/// Mean over `m` signals, 0 for none.
fn mean(total: f64, m: usize) -> f64 {
    total / m.max(1) as f64
}

/// The signals of a stream, checked against the dictionary.
fn open_input(path: &Path, dict: &Dictionary) -> Result<npy::MatrixReader> {
    let input = npy::MatrixReader::open(path)?;
    if input.cols() != dict.n_features() {
        return Err(Error::format(
            path,
            format!(
                "signals have {} features (shape ({}, {})) but the dictionary's atoms have {} (shape ({}, {}))",
                input.cols(),
                input.rows(),
                input.cols(),
                dict.n_features(),
                dict.n_atoms(),
                dict.n_features()
            ),
        ));
    }
    Ok(input)
}

/// The warm-start states of `m` signals over `k` atoms.
fn open_warm(path: &Path, m: usize, k: usize) -> Result<npy::MatrixReader> {
    let s = npy::MatrixReader::open(path)?;
    if (s.rows(), s.cols()) != (m, k) {
        return Err(Error::format(
            path,
            format!(
                "warm-start states have shape ({}, {}), expected ({m}, {k}) = (n_samples, n_atoms)",
                s.rows(),
                s.cols()
            ),
        ));
    }
    Ok(s)
}

/// The next `rows` rows of `reader` as columns, rejecting NaN/Inf with
/// their position in the whole file.
fn next_block(
    reader: &mut npy::MatrixReader,
    rows: usize,
    path: &Path,
    what: &str,
) -> Result<DMatrix<f32>> {
    let first = reader.rows() - reader.remaining();
    let cols = reader.cols();
    let data = reader.read_rows(rows)?;
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(Error::format(
            path,
            format!(
                "{what} contains a non-finite value (NaN or Inf) at row {}, column {}",
                first + i / cols.max(1),
                i % cols.max(1)
            ),
        ));
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
    fn create(path: &Path, m: usize, k: usize) -> Result<CodesSink> {
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
    fn write(&mut self, codes: &DMatrix<f32>) -> Result<()> {
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

    fn finish(self) -> Result<()> {
        match self {
            CodesSink::Dense(w) => w.finish(),
            CodesSink::Sparse(path, csr) => npz::write_csr(&path, &csr),
        }
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

/// Sum of the per-signal values of a report, in input order (so the means
/// do not depend on the blocks) and from +0 (an empty input reports 0).
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

/// Writes a block's codes (and `more`) while the energies of the report are
/// computed: the next block's solve waits for this one's output anyway.
fn write_and_score(
    dict: &Dictionary,
    signals: &DMatrix<f32>,
    codes: &DMatrix<f32>,
    lambda: f32,
    write: impl FnOnce() -> Result<()> + Send,
) -> Result<Vec<f64>> {
    let (written, energies) = rayon::join(write, || lasso_objectives(dict, signals, codes, lambda));
    written?;
    Ok(energies)
}

/// Rate encoding of one block over the ranks: the whole [`Encoding`] on
/// rank 0, `None` elsewhere. One process takes the monitor whole (progress
/// and cancel); several ranks hear progress only (a cancel raised on one
/// rank alone would leave the others waiting).
fn rate_block(
    comm: &dyn Communicator,
    lca: &Lca,
    dict: &Dictionary,
    signals: &DMatrix<f32>,
    initial: Option<&DMatrix<f32>>,
    monitor: Monitor<'_>,
) -> Result<Option<Encoding>> {
    if comm.size() == 1 {
        return lca
            .encode_monitored(dict, signals, initial, monitor)
            .map(Some);
    }
    encode_gathered(comm, lca, dict, signals, initial, monitor.progress)
}

/// As [`rate_block`] for the spiking LCA.
fn spiking_block(
    comm: &dyn Communicator,
    solver: &SpikingLca,
    dict: &Dictionary,
    signals: &DMatrix<f32>,
    monitor: Monitor<'_>,
) -> Result<Option<SpikingEncoding>> {
    if comm.size() == 1 {
        return solver.encode_monitored(dict, signals, monitor).map(Some);
    }
    encode_spiking_gathered(comm, solver, dict, signals, monitor.progress)
}

/// Refuses files that belong to the other solver.
fn refuse(files: &NpyStream, mode: &str, which: &[(&'static str, bool)]) -> Result<()> {
    match which.iter().find(|(_, given)| *given) {
        Some(&(name, _)) => Err(Error::setting(
            name,
            format!(
                "does not apply to the {mode} LCA ({})",
                files.output.display()
            ),
        )),
        None => Ok(()),
    }
}

/// The rate LCA over every row of `files.input` (see the module doc).
/// Every rank of `comm` calls it with the same arguments; rank 0 writes the
/// files and gets the report, the others `None`.
pub fn encode_rate(
    comm: &dyn Communicator,
    lca: &Lca,
    dict: &Dictionary,
    files: &Checked<NpyStream>,
    monitor: Monitor<'_>,
) -> Result<Option<RateReport>> {
    refuse(files, "rate", &[("spikes", files.spikes.is_some())])?;
    if files.trace.is_some() != lca.params().trace {
        return Err(Error::setting(
            "trace",
            "a trace file needs a solver that records traces, and such a solver a trace file",
        ));
    }
    let root = comm.is_root();
    let mut input = open_input(&files.input, dict)?;
    let (m, k) = (input.rows(), dict.n_atoms());
    let mut warm = match &files.warm_start {
        Some(p) => Some((open_warm(p, m, k)?, p)),
        None => None,
    };
    let block = files
        .block_rows
        .unwrap_or_else(|| default_block_rows(dict.n_features(), k));
    let mut codes_out = root
        .then(|| CodesSink::create(&files.output, m, k))
        .transpose()?;
    let mut states_out = match (&files.save_states, root) {
        (Some(p), true) => Some(npy::MatrixWriter::create(p, m, k)?),
        _ => None,
    };
    let mut totals = Totals::default();
    let mut traces = files.trace.is_some().then(TraceSums::default);
    let (mut iterations, mut jumps, mut max_iterations, mut unconverged) = (0u64, 0u64, 0u32, 0);
    let mut termination = TerminationCounts::default();
    let mut seconds = 0.0;
    while input.remaining() > 0 {
        let rows = block.min(input.remaining());
        let signals = next_block(&mut input, rows, &files.input, "input")?;
        let initial = match &mut warm {
            Some((r, p)) => Some(next_block(r, rows, p, "warm-start states")?),
            None => None,
        };
        let start = Instant::now();
        let enc = rate_block(comm, lca, dict, &signals, initial.as_ref(), monitor)?;
        seconds += start.elapsed().as_secs_f64();
        let (Some(enc), Some(codes_out)) = (enc, codes_out.as_mut()) else {
            continue;
        };
        let energies = write_and_score(dict, &signals, &enc.codes, lca.params().lambda, || {
            codes_out.write(&enc.codes)?;
            if let Some(w) = states_out.as_mut() {
                w.write_rows(enc.states.as_slice())?;
            }
            Ok(())
        })?;
        totals.add(&enc.codes, &energies);
        iterations += enc.iterations.iter().map(|&i| u64::from(i)).sum::<u64>();
        jumps += enc.jumps.iter().map(|&i| u64::from(i)).sum::<u64>();
        max_iterations = max_iterations.max(enc.iterations.iter().copied().max().unwrap_or(0));
        unconverged += enc.unconverged();
        for t in &enc.termination {
            termination.add(*t);
        }
        if let Some(t) = traces.as_mut() {
            enc.traces.iter().for_each(|trace| t.add(trace));
        }
    }
    let Some(codes_out) = codes_out else {
        return Ok(None);
    };
    codes_out.finish()?;
    if let Some(w) = states_out {
        w.finish()?;
    }
    if let (Some(p), Some(t)) = (&files.trace, &traces) {
        atomic::write_bytes_atomic(p, t.csv().as_bytes())?;
    }
    Ok(Some(RateReport {
        n_signals: m,
        n_atoms: k,
        mean_energy: mean(totals.energy, m),
        mean_active: mean(totals.active as f64, m),
        iterations,
        jumps,
        max_iterations_used: max_iterations,
        unconverged,
        termination,
        seconds,
    }))
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

impl FloatComparison {
    fn add(&mut self, energies: &[f64], fixed: &DMatrix<f32>, float: &SpikingEncoding) {
        for e in energies {
            self.energy += e;
        }
        for (&a, &b) in fixed.iter().zip(float.codes.iter()) {
            let d = a - b;
            self.diff_sq += f64::from(d) * f64::from(d);
            self.float_sq += f64::from(b) * f64::from(b);
            self.max_abs = self.max_abs.max(d.abs());
        }
        self.spikes += float.spike_counts.iter().sum::<u64>();
    }

    fn report(&self, mean_energy: f64, m: usize) -> VsFloat {
        let float_energy = mean(self.energy, m);
        VsFloat {
            mean_energy_float: float_energy,
            energy_rel_diff: (mean_energy - float_energy)
                / float_energy.abs().max(f64::MIN_POSITIVE),
            rel_code_error: self.diff_sq.sqrt() / self.float_sq.sqrt().max(f64::MIN_POSITIVE),
            max_abs_code_error: self.max_abs,
            spikes_per_signal_float: mean(self.spikes as f64, m),
        }
    }
}

/// Appends a block's spikes to the record of the whole input; the block
/// starts at row `first`.
fn append_spikes(record: &mut SpikeRecord, block: &SpikeRecord, first: usize) {
    // Block-local signal numbers become rows of the whole input.
    let base = first as u32;
    record.signal.extend(block.signal.iter().map(|&s| s + base));
    record.neuron.extend_from_slice(&block.neuron);
    record.step.extend_from_slice(&block.step);
    record.quantum.extend_from_slice(&block.quantum);
}

/// Checks `files` against the spiking `solver` and returns the network in
/// f32 that a fixed-point run is compared with, when asked for.
fn float_reference(files: &NpyStream, solver: &SpikingLca) -> Result<Option<SpikingLca>> {
    refuse(
        files,
        "spiking",
        &[
            ("warm_start", files.warm_start.is_some()),
            ("save_states", files.save_states.is_some()),
            ("trace", files.trace.is_some()),
        ],
    )?;
    let p = solver.params();
    if files.spikes.is_some() != p.record_spikes {
        return Err(Error::setting(
            "record_spikes",
            "a spike file needs a solver that records spikes, and such a solver a spike file",
        ));
    }
    if !(files.compare_float && p.fixed_point) {
        return Ok(None);
    }
    Ok(Some(
        p.clone().fixed_point(false).record_spikes(false).check()?,
    ))
}

/// The spiking LCA over every row of `files.input`, as [`encode_rate`].
/// With [`NpyStream::compare_float`] and a fixed-point solver, the same
/// network in f32 encodes every block too and the report says how far the
/// codes are apart.
pub fn encode_spiking(
    comm: &dyn Communicator,
    solver: &SpikingLca,
    dict: &Dictionary,
    files: &Checked<NpyStream>,
    monitor: Monitor<'_>,
) -> Result<Option<SpikingReport>> {
    let float = float_reference(files, solver)?;
    let p = solver.params();
    let root = comm.is_root();
    let mut input = open_input(&files.input, dict)?;
    let (m, k) = (input.rows(), dict.n_atoms());
    if p.record_spikes && m > u32::MAX as usize {
        return Err(Error::format(
            &files.input,
            format!("{m} signals are more than a spike record can index"),
        ));
    }
    let block = files
        .block_rows
        .unwrap_or_else(|| default_block_rows(dict.n_features(), k));
    let mut codes_out = root
        .then(|| CodesSink::create(&files.output, m, k))
        .transpose()?;
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
    while input.remaining() > 0 {
        let first = m - input.remaining();
        let rows = block.min(input.remaining());
        let signals = next_block(&mut input, rows, &files.input, "input")?;
        let start = Instant::now();
        let enc = spiking_block(comm, solver, dict, &signals, monitor)?;
        seconds += start.elapsed().as_secs_f64();
        let reference = match &float {
            Some(f) => spiking_block(comm, f, dict, &signals, Monitor::default())?,
            None => None,
        };
        let (Some(enc), Some(codes_out)) = (enc, codes_out.as_mut()) else {
            continue;
        };
        let energies = write_and_score(dict, &signals, &enc.codes, p.lambda, || {
            codes_out.write(&enc.codes)
        })?;
        totals.add(&enc.codes, &energies);
        spikes += enc.spike_counts.iter().sum::<u64>();
        saturated += enc.saturated.iter().filter(|&&s| s).count();
        if let (Some(r), Some(b)) = (record.as_mut(), &enc.spikes) {
            append_spikes(r, b, first);
        }
        if let (Some(v), Some(f)) = (vs_float.as_mut(), &reference) {
            let energies = lasso_objectives(dict, &signals, &f.codes, p.lambda);
            v.add(&energies, &enc.codes, f);
        }
    }
    let Some(codes_out) = codes_out else {
        return Ok(None);
    };
    codes_out.finish()?;
    if let (Some(path), Some(record)) = (&files.spikes, &record) {
        record.write_npz(path)?;
    }
    let mean_energy = mean(totals.energy, m);
    Ok(Some(SpikingReport {
        n_signals: m,
        n_atoms: k,
        mean_energy,
        mean_active: mean(totals.active as f64, m),
        spikes,
        saturated,
        seconds,
        vs_float: vs_float.map(|v| v.report(mean_energy, m)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributed::SingleProcess;
    use crate::solver::{LcaParams, SpikingParams, test_dictionary};

    /// 200 signals of 12 features (not a multiple of any block), as rows.
    fn signals() -> DMatrix<f32> {
        let mut state = 7u64;
        DMatrix::from_fn(12, 200, |_, _| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f32 / (1u64 << 31) as f32 - 0.5
        })
    }

    fn write_rows(path: &Path, m: &DMatrix<f32>) {
        let mut w = npy::MatrixWriter::create(path, m.ncols(), m.nrows()).unwrap();
        w.write_rows(m.as_slice()).unwrap();
        w.finish().unwrap();
    }

    fn read_columns(path: &Path) -> DMatrix<f32> {
        let m = npy::read_matrix(path).unwrap();
        DMatrix::from_vec(m.cols, m.rows, m.data)
    }

    #[test]
    fn rate_files_hold_the_codes_and_states_of_one_call_for_any_block() {
        let dir = tempfile::tempdir().unwrap();
        let (dict, x) = (test_dictionary(12, 20, 3), signals());
        write_rows(&dir.path().join("x.npy"), &x);
        let lca = LcaParams::new().lambda(0.05).check().unwrap();
        let warm = lca.encode(&dict, &x).unwrap().states * 0.5;
        write_rows(&dir.path().join("warm.npy"), &warm);
        let expected = lca.encode_from(&dict, &x, Some(&warm), None).unwrap();
        for block in [None, Some(64), Some(128)] {
            let files = NpyStream::new(dir.path().join("x.npy"), dir.path().join("a.npz"))
                .block_rows(block)
                .warm_start(Some(dir.path().join("warm.npy")))
                .save_states(Some(dir.path().join("u.npy")))
                .check()
                .unwrap();
            let report = encode_rate(&SingleProcess, &lca, &dict, &files, Monitor::default())
                .unwrap()
                .unwrap();
            let csr = npz::read_csr(&dir.path().join("a.npz")).unwrap();
            let dense = npz::CsrMatrix::from_dense_rows(200, 20, expected.codes.as_slice());
            assert_eq!(
                (csr.data, csr.indices, csr.indptr),
                (dense.data, dense.indices, dense.indptr)
            );
            assert_eq!(read_columns(&dir.path().join("u.npy")), expected.states);
            assert_eq!(report.n_signals, 200);
            let energy: f64 = lasso_objectives(&dict, &x, &expected.codes, 0.05)
                .iter()
                .sum();
            assert!((report.mean_energy - energy / 200.0).abs() < 1e-12);
        }
    }

    #[test]
    fn spiking_files_hold_the_codes_and_spikes_of_one_call() {
        let dir = tempfile::tempdir().unwrap();
        let (dict, x) = (test_dictionary(12, 20, 4), signals());
        write_rows(&dir.path().join("x.npy"), &x);
        let solver = SpikingParams::new()
            .steps(64)
            .record_spikes(true)
            .check()
            .unwrap();
        let expected = solver.encode(&dict, &x).unwrap();
        let files = NpyStream::new(dir.path().join("x.npy"), dir.path().join("a.npy"))
            .block_rows(Some(64))
            .spikes(Some(dir.path().join("s.npz")))
            .check()
            .unwrap();
        let report = encode_spiking(&SingleProcess, &solver, &dict, &files, Monitor::default())
            .unwrap()
            .unwrap();
        assert_eq!(read_columns(&dir.path().join("a.npy")), expected.codes);
        assert_eq!(report.spikes, expected.spike_counts.iter().sum::<u64>());
        let record = SpikeRecord::read_npz(&dir.path().join("s.npz")).unwrap();
        assert_eq!(Some(record), expected.spikes);
    }

    #[test]
    fn files_of_the_other_solver_and_bad_blocks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let dict = test_dictionary(12, 20, 5);
        write_rows(&dir.path().join("x.npy"), &signals());
        let bad = |e: Error, setting: &str| {
            assert!(
                matches!(e, Error::InvalidSetting { name, .. } if name == setting),
                "{e}"
            );
        };
        let files = |out: &str| NpyStream::new(dir.path().join("x.npy"), dir.path().join(out));
        bad(
            files("a.npy").block_rows(Some(100)).check().unwrap_err(),
            "block_rows",
        );
        bad(files("a.csv").check().unwrap_err(), "output");
        let rate_only = files("a.npy").save_states(Some(dir.path().join("u.npy")));
        let spiking = SpikingParams::new().check().unwrap();
        let monitor = Monitor::default();
        let err = encode_spiking(
            &SingleProcess,
            &spiking,
            &dict,
            &rate_only.check().unwrap(),
            monitor,
        );
        bad(err.unwrap_err(), "save_states");
        assert!(!dir.path().join("a.npy").exists());
    }
}
