//! The one driver every patch solver runs under.
//!
//! A solver only says how to solve *one* signal given its drive `b = Φᵀx`
//! ([`SignalSolver`]); [`solve_batch`] does the rest, the same way for every
//! solver: it validates the inputs (shapes, finite values, warm starts), cuts
//! the signals into chunks of [`SIGNAL_CHUNK`], computes each chunk's drive
//! with one GEMM, solves the chunks in parallel with scratch allocated once
//! per chunk, reports progress as chunks finish and returns the first error
//! in signal order. The partition into chunks is a constant, and each chunk's
//! work depends only on its own signals, so the results are bit-identical
//! for any number of threads.
//!
//! A caller can also stop a long batch between chunks ([`Monitor::cancel`]):
//! a chunk that starts after the flag was raised is skipped and the batch
//! returns [`Error::Interrupted`]. The check is one atomic load per chunk and
//! never touches a chunk's arithmetic, so a batch that completes gives the
//! same codes with or without a flag.

use std::sync::atomic::{AtomicUsize, Ordering};

use nalgebra::DMatrix;
use rayon::prelude::*;

use crate::Dictionary;
use crate::error::{Error, Result, check_finite};
use crate::solver::SIGNAL_CHUNK;

/// What one signal's solve reads.
pub(crate) struct Signal<'a> {
    /// Position of the signal in the batch.
    pub index: usize,
    /// The signal `x` (`n_features` values).
    pub x: &'a [f32],
    /// Its drive `b = Φᵀx` (`n_atoms` values).
    pub drive: &'a [f32],
}

/// What one signal's solve writes.
pub(crate) struct SignalOutput<'a> {
    /// The code `a` (`n_atoms` values), zero on entry.
    pub code: &'a mut [f32],
    /// The membrane state `u`: the warm start on entry (zeros from rest),
    /// the final state on exit; empty for a solver without [`States`].
    pub state: &'a mut [f32],
}

/// A solver of one signal at a time.
pub(crate) trait SignalSolver: Sync {
    /// Work buffers of one chunk, sized once and reused for its signals.
    type Scratch;
    /// What one signal's solve reports besides its code.
    type Report: Send;

    /// Buffers for a chunk of signals over `dict`.
    fn scratch(&self, dict: &Dictionary) -> Self::Scratch;

    /// Solves one signal.
    fn solve(
        &self,
        dict: &Dictionary,
        signal: Signal<'_>,
        out: SignalOutput<'_>,
        scratch: &mut Self::Scratch,
    ) -> Result<Self::Report>;
}

/// The membrane states a batch starts from.
#[derive(Clone, Copy)]
pub(crate) enum States<'a> {
    /// The solver keeps no state that callers see.
    Stateless,
    /// Every neuron at rest (`u = 0`).
    Rest,
    /// A warm start, `n_atoms × n_signals`.
    Warm(&'a DMatrix<f32>),
}

/// Everything a batch produced, one column or entry per signal.
pub(crate) struct Solved<R> {
    pub codes: DMatrix<f32>,
    /// Final states, unless the batch was [`States::Stateless`].
    pub states: Option<DMatrix<f32>>,
    pub reports: Vec<R>,
}

/// How a caller follows and stops a long batch (both optional; the
/// default does neither).
///
/// ```
/// use std::sync::atomic::AtomicUsize;
/// use lca::solver::{LcaParams, Monitor};
/// use lca::Error;
/// # let dict = lca::Dictionary::from_atoms(nalgebra::DMatrix::identity(4, 4)).unwrap();
/// # let signals = nalgebra::DMatrix::from_element(4, 200, 0.5f32);
/// let lca = LcaParams::new().lambda(0.1).check().unwrap();
/// // A raised flag (e.g. set by a Ctrl-C handler) stops the batch before its next chunk.
/// let stop = AtomicUsize::new(1);
/// let monitor = Monitor { progress: None, cancel: Some(&stop) };
/// let result = lca.encode_monitored(&dict, &signals, None, monitor);
/// assert!(matches!(result, Err(Error::Interrupted)));
/// // Not raised: the codes of a plain `encode`.
/// let go = AtomicUsize::new(0);
/// let monitor = Monitor { progress: None, cancel: Some(&go) };
/// let codes = lca.encode_monitored(&dict, &signals, None, monitor).unwrap().codes;
/// assert_eq!(codes, lca.encode(&dict, &signals).unwrap().codes);
/// ```
#[derive(Clone, Copy, Default)]
pub struct Monitor<'a> {
    /// Called with the number of signals finished each time a chunk completes.
    pub progress: Option<&'a (dyn Fn(usize) + Sync)>,
    /// Non-zero: skip the chunks not yet started and return
    /// [`Error::Interrupted`] (the convention of the crate's interrupt flags,
    /// which hold the signal number).
    pub cancel: Option<&'a AtomicUsize>,
}

impl<'a> Monitor<'a> {
    /// Progress reporting only.
    pub fn with_progress(progress: Option<&'a (dyn Fn(usize) + Sync)>) -> Self {
        Monitor {
            progress,
            cancel: None,
        }
    }

    /// Whether the caller asked to stop.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|f| f.load(Ordering::Relaxed) != 0)
    }
}

/// Solves every column of `signals` with `solver` (see the module doc).
pub(crate) fn solve_batch<S: SignalSolver>(
    solver: &S,
    dict: &Dictionary,
    signals: &DMatrix<f32>,
    initial: States<'_>,
    monitor: Monitor<'_>,
) -> Result<Solved<S::Report>> {
    let (n, k, m) = (dict.n_features(), dict.n_atoms(), signals.ncols());
    if signals.nrows() != n {
        return Err(Error::Shape(format!(
            "signals have {} features but the dictionary's atoms have {n}",
            signals.nrows()
        )));
    }
    check_finite("signals", signals.as_slice())?;
    let mut states = match initial {
        States::Stateless => None,
        States::Rest => Some(DMatrix::zeros(k, m)),
        States::Warm(s) => {
            if s.shape() != (k, m) {
                return Err(Error::Shape(format!(
                    "initial states are {}×{} but {k} atoms × {m} signals are needed",
                    s.nrows(),
                    s.ncols()
                )));
            }
            check_finite("initial states", s.as_slice())?;
            Some(s.clone())
        }
    };
    let mut codes = DMatrix::zeros(k, m);
    if m == 0 {
        return Ok(Solved {
            codes,
            states,
            reports: Vec::new(),
        });
    }
    let n_chunks = m.div_ceil(SIGNAL_CHUNK);
    let state_chunks: Vec<&mut [f32]> = match states.as_mut() {
        Some(s) => s.as_mut_slice().chunks_mut(SIGNAL_CHUNK * k).collect(),
        None => (0..n_chunks).map(|_| &mut [][..]).collect(),
    };
    let per_chunk: Vec<Result<Vec<S::Report>>> = codes
        .as_mut_slice()
        .par_chunks_mut(SIGNAL_CHUNK * k)
        .zip(state_chunks.into_par_iter())
        .enumerate()
        .map(|(chunk, (a, u))| {
            if monitor.cancelled() {
                return Err(Error::Interrupted);
            }
            let first = chunk * SIGNAL_CHUNK;
            let len = (m - first).min(SIGNAL_CHUNK);
            let drive = dict.drive(&signals.columns(first, len));
            let mut scratch = solver.scratch(dict);
            let mut reports = Vec::with_capacity(len);
            for s in 0..len {
                let signal = Signal {
                    index: first + s,
                    x: &signals.as_slice()[(first + s) * n..(first + s + 1) * n],
                    drive: &drive.as_slice()[s * k..(s + 1) * k],
                };
                let state = if u.is_empty() {
                    &mut [][..]
                } else {
                    &mut u[s * k..(s + 1) * k]
                };
                let out = SignalOutput {
                    code: &mut a[s * k..(s + 1) * k],
                    state,
                };
                reports.push(solver.solve(dict, signal, out, &mut scratch)?);
            }
            if let Some(report) = monitor.progress {
                report(len);
            }
            Ok(reports)
        })
        .collect();
    let mut reports = Vec::with_capacity(m);
    for chunk in per_chunk {
        reports.extend(chunk?);
    }
    Ok(Solved {
        codes,
        states,
        reports,
    })
}
