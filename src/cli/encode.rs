//! `lca encode`: sparse codes of the rows of X.npy over the atoms of D.npy.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use lca::io::{atomic, npy, npz};
use lca::neuron::{Integrator, Threshold};
use lca::solver::lasso_objectives;
use lca::{Dictionary, LcaParams};
use nalgebra::DMatrix;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ThresholdArg {
    Soft,
    Hard,
    Firm,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum IntegratorArg {
    Euler,
    Exponential,
}

#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Dictionary, shape (n_atoms, n_features) like scikit-learn's components_ (f32 or f64 .npy).
    #[arg(long, short = 'd')]
    dictionary: PathBuf,
    /// Signals, shape (n_samples, n_features) (f32 or f64 .npy).
    #[arg(long, short = 'i')]
    input: PathBuf,
    /// Codes, shape (n_samples, n_atoms): dense f32 .npy, or scipy CSR when the name ends in .npz.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Threshold λ (the LASSO penalty for the soft threshold).
    #[arg(long, default_value_t = LcaParams::default().lambda, allow_hyphen_values = true)]
    lambda: f32,
    /// Only non-negative codes.
    #[arg(long)]
    nonneg: bool,
    /// Transfer function.
    #[arg(long, value_enum, default_value_t = ThresholdArg::Soft)]
    threshold: ThresholdArg,
    /// Ramp width of the firm threshold.
    #[arg(long, default_value_t = 0.1)]
    firm_width: f32,
    /// Neuron time constant τ.
    #[arg(long, default_value_t = LcaParams::default().tau, allow_hyphen_values = true)]
    tau: f32,
    /// Time step dt.
    #[arg(long, default_value_t = LcaParams::default().dt, allow_hyphen_values = true)]
    dt: f32,
    /// Discretisation of the neuron dynamics.
    #[arg(long, value_enum, default_value_t = IntegratorArg::Euler)]
    integrator: IntegratorArg,
    /// Maximum iterations per signal.
    #[arg(long, default_value_t = LcaParams::default().max_iters)]
    max_iters: usize,
    /// Stop a signal when max|b − u − Ga| ≤ tol·max|b| (relative distance to the fixed point).
    #[arg(long, default_value_t = LcaParams::default().tol)]
    tol: f32,
    /// Pure dynamics: never jump to the fixed point implied by a stable active set.
    #[arg(long)]
    no_projection: bool,
    /// Iterations the active set must stay unchanged before jumping to its fixed point.
    #[arg(long, default_value_t = LcaParams::default().patience)]
    patience: usize,
    /// Warm start: initial membrane states, shape (n_samples, n_atoms) .npy.
    #[arg(long)]
    warm_start: Option<PathBuf>,
    /// Also write the final membrane states (n_samples, n_atoms) to this .npy (a later warm start).
    #[arg(long)]
    save_states: Option<PathBuf>,
    /// Write a per-iteration trace (mean energy, L1, active atoms over signals) to this CSV.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar, no summary (errors are still printed).
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Print the final summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

impl EncodeArgs {
    fn params(&self) -> LcaParams {
        LcaParams::new()
            .lambda(self.lambda)
            .nonneg(self.nonneg)
            .threshold(match self.threshold {
                ThresholdArg::Soft => Threshold::Soft,
                ThresholdArg::Hard => Threshold::Hard,
                ThresholdArg::Firm => Threshold::Firm {
                    width: self.firm_width,
                },
            })
            .tau(self.tau)
            .dt(self.dt)
            .integrator(match self.integrator {
                IntegratorArg::Euler => Integrator::ForwardEuler,
                IntegratorArg::Exponential => Integrator::ExponentialEuler,
            })
            .max_iters(self.max_iters)
            .tol(self.tol)
            .trace(self.trace.is_some())
            .projection(!self.no_projection)
            .patience(self.patience)
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

/// Reads and validates a dictionary file.
pub(crate) fn read_dictionary(path: &Path) -> anyhow::Result<Dictionary> {
    let atoms = read_columns(path, "dictionary")?;
    Dictionary::from_atoms(atoms).with_context(|| path.display().to_string())
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

pub fn run(args: EncodeArgs) -> anyhow::Result<()> {
    let lca = args.params().check()?;
    check_extension(&args.output, &["npy", "npz"])?;
    super::check_writable(&args.output)?;
    for extra in [&args.save_states, &args.trace].into_iter().flatten() {
        super::check_writable(extra)?;
    }
    if let Some(p) = &args.save_states {
        check_extension(p, &["npy"])?;
    }

    let dict = read_dictionary(&args.dictionary)?;
    let signals = read_columns(&args.input, "input")?;
    if signals.nrows() != dict.n_features() {
        bail!(
            "{}: signals have {} features (shape ({}, {})) but the atoms of {} have {} (shape ({}, {}))",
            args.input.display(),
            signals.nrows(),
            signals.ncols(),
            signals.nrows(),
            args.dictionary.display(),
            dict.n_features(),
            dict.n_atoms(),
            dict.n_features()
        );
    }
    let warm = match &args.warm_start {
        None => None,
        Some(p) => {
            let s = read_columns(p, "warm-start states")?;
            if s.shape() != (dict.n_atoms(), signals.ncols()) {
                bail!(
                    "{}: warm-start states have shape ({}, {}), expected ({}, {}) = (n_samples, n_atoms)",
                    p.display(),
                    s.ncols(),
                    s.nrows(),
                    signals.ncols(),
                    dict.n_atoms()
                );
            }
            Some(s)
        }
    };

    let m = signals.ncols();
    let bar = super::progress::bar(m as u64, "signals", args.quiet);
    let start = Instant::now();
    let report = |done: usize| bar.inc(done as u64);
    let enc = super::with_threads(args.threads, || {
        lca.encode_from(&dict, &signals, warm.as_ref(), Some(&report))
    })??;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let k = dict.n_atoms();
    if args.output.extension().and_then(|e| e.to_str()) == Some("npz") {
        npz::write_csr(
            &args.output,
            &npz::CsrMatrix::from_dense_rows(m, k, enc.codes.as_slice()),
        )?;
    } else {
        npy::write_matrix(&args.output, m, k, enc.codes.as_slice())?;
    }
    if let Some(p) = &args.save_states {
        npy::write_matrix(p, m, k, enc.states.as_slice())?;
    }
    if let Some(p) = &args.trace {
        atomic::write_bytes_atomic(p, trace_csv(&enc.traces).as_bytes())?;
    }

    let energies = lasso_objectives(&dict, &signals, &enc.codes, args.lambda);
    let mean = |v: &mut dyn Iterator<Item = f64>| v.sum::<f64>() / m.max(1) as f64;
    let unconverged = enc.converged.iter().filter(|&&c| !c).count();
    let summary = serde_json::json!({
        "n_signals": m,
        "n_atoms": k,
        "lambda": args.lambda,
        "mean_energy": mean(&mut energies.iter().copied()),
        "mean_active": enc.mean_active(),
        "iterations": mean(&mut enc.iterations.iter().map(|&i| f64::from(i))),
        "max_iterations_used": enc.iterations.iter().copied().max().unwrap_or(0),
        "unconverged": unconverged,
        "seconds": seconds,
        "signals_per_second": m as f64 / seconds.max(1e-12),
        "output": args.output.display().to_string(),
    });
    if unconverged > 0 && !args.quiet {
        eprintln!(
            "warning: {unconverged} of {m} signals did not reach tol {} within {} iterations",
            args.tol, args.max_iters
        );
    }
    if args.json {
        println!("{summary}");
    } else if !args.quiet {
        println!(
            "encoded {m} signals over {k} atoms in {seconds:.3} s ({:.0} signals/s): mean energy {:.6}, mean active {:.2}, mean iterations {:.1}",
            summary["signals_per_second"].as_f64().unwrap_or(0.0),
            summary["mean_energy"].as_f64().unwrap_or(0.0),
            enc.mean_active(),
            summary["iterations"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(())
}

/// Per-iteration means over all signals; a signal that stopped early keeps
/// contributing its final values, so the curve is the batch's true energy.
fn trace_csv(traces: &[lca::solver::Trace]) -> String {
    let longest = traces.iter().map(|t| t.energy.len()).max().unwrap_or(0);
    let n = traces.len().max(1) as f64;
    let mut out = String::from("iteration,mean_energy,mean_l1,mean_active,running\n");
    for it in 0..longest {
        let (mut e, mut l1, mut act, mut running) = (0.0f64, 0.0f64, 0.0f64, 0usize);
        for t in traces {
            let last = t.energy.len().saturating_sub(1);
            let i = it.min(last);
            if t.energy.is_empty() {
                continue;
            }
            running += usize::from(it < t.energy.len());
            e += f64::from(t.energy[i]);
            l1 += f64::from(t.l1[i]);
            act += f64::from(t.active[i]);
        }
        out.push_str(&format!(
            "{it},{},{},{},{running}\n",
            e / n,
            l1 / n,
            act / n
        ));
    }
    out
}
