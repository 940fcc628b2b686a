//! `lca encode`: sparse codes of the rows of X.npy over the atoms of D.npy.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use lca::io::{atomic, npy, npz};
use lca::neuron::{Integrator, Threshold};
use lca::solver::{Anneal, SpikingParams, lasso_objectives};
use lca::{Dictionary, LcaParams};
use nalgebra::DMatrix;

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
    #[arg(long, short = 'd')]
    dictionary: PathBuf,
    /// Signals, shape (n_samples, n_features) (f32 or f64 .npy).
    #[arg(long, short = 'i')]
    input: PathBuf,
    /// Codes, shape (n_samples, n_atoms): dense f32 .npy, or scipy CSR when the name ends in .npz.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Solver: the rate LCA or the spiking LCA.
    #[arg(long, value_enum, default_value_t = ModeArg::Rate)]
    mode: ModeArg,
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
    /// Time step dt [default: 0.1 (rate), 0.5 (spiking, in units of max|b|)].
    #[arg(long, allow_hyphen_values = true)]
    dt: Option<f32>,
    /// Discretisation of the neuron dynamics.
    #[arg(long, value_enum, default_value_t = IntegratorArg::Euler)]
    integrator: IntegratorArg,
    /// Maximum iterations per signal.
    #[arg(long, default_value_t = LcaParams::default().max_iters)]
    max_iters: usize,
    /// Stop a signal when max|b − u − Ga| ≤ tol·max|b| (relative distance to the fixed point).
    #[arg(long, default_value_t = LcaParams::default().tol)]
    tol: f32,
    /// Pure dynamics: never jump to the fixed point implied by the active set.
    #[arg(long)]
    no_projection: bool,
    /// With --anneal-from: steps the active set must stay unchanged, once λ reached its target, before jumping to its fixed point.
    #[arg(long, default_value_t = LcaParams::default().patience)]
    patience: usize,
    /// Adapt dt to the energy's decay: grow it by 25 % per step while the energy
    /// falls, undo the step and halve dt when it rises.
    #[arg(long)]
    adaptive_dt: bool,
    /// Threshold annealing: start at FACTOR·λ and lower it to λ (see --anneal-decay).
    #[arg(long, value_name = "FACTOR")]
    anneal_from: Option<f32>,
    /// Per-iteration factor of the annealed threshold [default: 0.95].
    #[arg(long)]
    anneal_decay: Option<f32>,
    /// Warm start: initial membrane states, shape (n_samples, n_atoms) .npy.
    #[arg(long)]
    warm_start: Option<PathBuf>,
    /// Also write the final membrane states (n_samples, n_atoms) to this .npy (a later warm start).
    #[arg(long)]
    save_states: Option<PathBuf>,
    /// Write a per-iteration trace (mean energy, L1, active atoms over signals) to this CSV.
    #[arg(long)]
    trace: Option<PathBuf>,
    #[command(flatten)]
    run: super::RunOptions,
    /// Spiking: time steps per signal [default: 256].
    #[arg(long)]
    steps: Option<usize>,
    /// Spiking: steps discarded before averaging the rates [default: steps/4].
    #[arg(long)]
    settle: Option<usize>,
    /// Spiking: firing threshold ϑ relative to max|b| (threshold scaling) [default: 1].
    #[arg(long, allow_hyphen_values = true)]
    spike_threshold: Option<f32>,
    /// Spiking: fraction of the synaptic current kept per step, in [0, 1) [default: 0].
    #[arg(long, allow_hyphen_values = true)]
    current_decay: Option<f32>,
    /// Spiking, signed codes: excitation between the ON and OFF neuron of an atom, in [0, 1] [default: 0.5].
    #[arg(long, allow_hyphen_values = true)]
    pair_coupling: Option<f32>,
    /// Spiking: Loihi-style integer arithmetic (24-bit states, 8-bit weights); reports its error against float.
    #[arg(long)]
    fixed_point: bool,
    /// Spiking: write every spike (signal, neuron, step) to this .npz.
    #[arg(long)]
    spikes: Option<PathBuf>,
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
            .dt(self.dt.unwrap_or(LcaParams::default().dt))
            .integrator(match self.integrator {
                IntegratorArg::Euler => Integrator::ForwardEuler,
                IntegratorArg::Exponential => Integrator::ExponentialEuler,
            })
            .max_iters(self.max_iters)
            .tol(self.tol)
            .trace(self.trace.is_some())
            .projection(!self.no_projection)
            .patience(self.patience)
            .adaptive_dt(self.adaptive_dt)
            .anneal(self.anneal_from.map(|start| Anneal {
                start,
                decay: self.anneal_decay.unwrap_or(0.95),
            }))
    }

    fn spiking_params(&self) -> SpikingParams {
        let d = SpikingParams::default();
        let mut p = SpikingParams::new()
            .lambda(self.lambda)
            .nonneg(self.nonneg)
            .dt(self.dt.unwrap_or(d.dt))
            .threshold(self.spike_threshold.unwrap_or(d.threshold))
            .steps(self.steps.unwrap_or(d.steps))
            .current_decay(self.current_decay.unwrap_or(d.current_decay))
            .pair_coupling(self.pair_coupling.unwrap_or(d.pair_coupling))
            .fixed_point(self.fixed_point)
            .record_spikes(self.spikes.is_some());
        if let Some(settle) = self.settle {
            p = p.settle(settle);
        }
        p
    }

    /// Rejects flags that do not apply to the chosen mode.
    fn check_mode_flags(&self) -> anyhow::Result<()> {
        if self.anneal_decay.is_some() && self.anneal_from.is_none() {
            bail!("--anneal-decay needs --anneal-from");
        }
        let spiking_only = [
            ("--steps", self.steps.is_some()),
            ("--settle", self.settle.is_some()),
            ("--spike-threshold", self.spike_threshold.is_some()),
            ("--current-decay", self.current_decay.is_some()),
            ("--pair-coupling", self.pair_coupling.is_some()),
            ("--fixed-point", self.fixed_point),
            ("--spikes", self.spikes.is_some()),
        ];
        let rate_only = [
            ("--warm-start", self.warm_start.is_some()),
            ("--save-states", self.save_states.is_some()),
            ("--trace", self.trace.is_some()),
            ("--no-projection", self.no_projection),
            ("--adaptive-dt", self.adaptive_dt),
            ("--anneal-from", self.anneal_from.is_some()),
            (
                "--threshold hard/firm",
                !matches!(self.threshold, ThresholdArg::Soft),
            ),
        ];
        let (mode, other) = match self.mode {
            ModeArg::Rate => ("rate", &spiking_only[..]),
            ModeArg::Spiking => ("spiking", &rate_only[..]),
        };
        if let Some((flag, _)) = other.iter().find(|(_, given)| *given) {
            bail!("{flag} does not apply to --mode {mode}");
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
    args.check_mode_flags()?;
    if args.mode == ModeArg::Spiking {
        return run_spiking(args);
    }
    let lca = args.params().check()?;
    check_extension(&args.output, &["npy", "npz"])?;
    super::check_writable(&args.output)?;
    for extra in [&args.save_states, &args.trace].into_iter().flatten() {
        super::check_writable(extra)?;
    }
    if let Some(p) = &args.save_states {
        check_extension(p, &["npy"])?;
    }

    let (dict, signals) = load_inputs(&args)?;
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
    let bar = super::progress::bar(m as u64, "signals", args.run.quiet);
    let report = |done: usize| bar.inc(done as u64);
    let k = dict.n_atoms();
    // One pool for the solve and, overlapped, the output and the summary's energies.
    let (enc, seconds, energies) = super::with_threads(args.run.threads, || {
        let start = Instant::now();
        let enc = lca.encode_from(&dict, &signals, warm.as_ref(), Some(&report))?;
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let (written, energies) = rayon::join(
            || write_codes(&args.output, m, k, &enc.codes),
            || lasso_objectives(&dict, &signals, &enc.codes, args.lambda),
        );
        written.map(|()| (enc, seconds, energies))
    })??;
    if let Some(p) = &args.save_states {
        npy::write_matrix(p, m, k, enc.states.as_slice())?;
    }
    if let Some(p) = &args.trace {
        atomic::write_bytes_atomic(p, trace_csv(&enc.traces).as_bytes())?;
    }

    let mean = |v: &mut dyn Iterator<Item = f64>| v.sum::<f64>() / m.max(1) as f64;
    let unconverged = enc.converged.iter().filter(|&&c| !c).count();
    let summary = serde_json::json!({
        "n_signals": m,
        "n_atoms": k,
        "lambda": args.lambda,
        "mean_energy": mean(&mut energies.iter().copied()),
        "mean_active": enc.mean_active(),
        "iterations": mean(&mut enc.iterations.iter().map(|&i| f64::from(i))),
        "jumps": mean(&mut enc.jumps.iter().map(|&i| f64::from(i))),
        "max_iterations_used": enc.iterations.iter().copied().max().unwrap_or(0),
        "unconverged": unconverged,
        "seconds": seconds,
        "signals_per_second": m as f64 / seconds.max(1e-12),
        "output": args.output.display().to_string(),
    });
    if unconverged > 0 && !args.run.quiet {
        eprintln!(
            "warning: {unconverged} of {m} signals did not reach tol {} within {} iterations",
            args.tol, args.max_iters
        );
    }
    if args.run.json {
        println!("{summary}");
    } else if !args.run.quiet {
        println!(
            "encoded {m} signals over {k} atoms in {seconds:.3} s ({:.0} signals/s): mean energy {:.6}, mean active {:.2}, mean iterations {:.1}, mean jumps {:.1}",
            summary["signals_per_second"].as_f64().unwrap_or(0.0),
            summary["mean_energy"].as_f64().unwrap_or(0.0),
            enc.mean_active(),
            summary["iterations"].as_f64().unwrap_or(0.0),
            summary["jumps"].as_f64().unwrap_or(0.0),
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

/// Reads the dictionary and the signals and checks that they fit together.
fn load_inputs(args: &EncodeArgs) -> anyhow::Result<(Dictionary, DMatrix<f32>)> {
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
    Ok((dict, signals))
}

/// Writes codes (`k × m`, one column per signal) as dense .npy or CSR .npz.
fn write_codes(path: &Path, m: usize, k: usize, codes: &DMatrix<f32>) -> anyhow::Result<()> {
    if path.extension().and_then(|e| e.to_str()) == Some("npz") {
        npz::write_csr(
            path,
            &npz::CsrMatrix::from_dense_rows(m, k, codes.as_slice()),
        )?;
    } else {
        npy::write_matrix(path, m, k, codes.as_slice())?;
    }
    Ok(())
}

/// `lca encode --mode spiking`: spike-rate codes, optionally every spike.
fn run_spiking(args: EncodeArgs) -> anyhow::Result<()> {
    let solver = args.spiking_params().check()?;
    let p = solver.params().clone();
    check_extension(&args.output, &["npy", "npz"])?;
    super::check_writable(&args.output)?;
    if let Some(path) = &args.spikes {
        check_extension(path, &["npz"])?;
        super::check_writable(path)?;
    }
    let (dict, signals) = load_inputs(&args)?;

    let m = signals.ncols();
    let bar = super::progress::bar(m as u64, "signals", args.run.quiet);
    let start = Instant::now();
    let report = |done: usize| bar.inc(done as u64);
    let enc = super::with_threads(args.run.threads, || {
        solver.encode_with(&dict, &signals, Some(&report))
    })??;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();

    // The fixed-point error is measured against the same network in f32.
    let float = if p.fixed_point {
        let float = p.clone().fixed_point(false).record_spikes(false).check()?;
        Some(super::with_threads(args.run.threads, || {
            float.encode(&dict, &signals)
        })??)
    } else {
        None
    };

    let k = dict.n_atoms();
    write_codes(&args.output, m, k, &enc.codes)?;
    if let (Some(path), Some(record)) = (&args.spikes, &enc.spikes) {
        record.write_npz(path)?;
    }

    let energies = lasso_objectives(&dict, &signals, &enc.codes, args.lambda);
    let mean = |v: &mut dyn Iterator<Item = f64>| v.sum::<f64>() / m.max(1) as f64;
    let mean_energy = mean(&mut energies.iter().copied());
    let saturated = enc.saturated.iter().filter(|&&s| s).count();
    let mut summary = serde_json::json!({
        "mode": "spiking",
        "n_signals": m,
        "n_atoms": k,
        "lambda": args.lambda,
        "mean_energy": mean_energy,
        "mean_active": enc.mean_active(),
        "iterations": p.steps,
        "max_iterations_used": p.steps,
        "steps": p.steps,
        "settle": p.settle_steps(),
        "dt": p.dt,
        "spike_threshold": p.threshold,
        "current_decay": p.current_decay,
        "pair_coupling": p.pair_coupling,
        "fixed_point": p.fixed_point,
        "spikes_per_signal": enc.mean_spikes(),
        "saturated": saturated,
        "seconds": seconds,
        "signals_per_second": m as f64 / seconds.max(1e-12),
        "output": args.output.display().to_string(),
    });
    if let Some(float) = &float {
        let float_energies = lasso_objectives(&dict, &signals, &float.codes, args.lambda);
        let float_energy = mean(&mut float_energies.iter().copied());
        let diff = &enc.codes - &float.codes;
        let rel = f64::from(diff.norm()) / f64::from(float.codes.norm()).max(f64::MIN_POSITIVE);
        summary["vs_float"] = serde_json::json!({
            "mean_energy_float": float_energy,
            "energy_rel_diff": (mean_energy - float_energy) / float_energy.abs().max(f64::MIN_POSITIVE),
            "rel_code_error": rel,
            "max_abs_code_error": diff.amax(),
            "spikes_per_signal_float": float.mean_spikes(),
        });
    }
    if saturated > 0 && !args.run.quiet {
        eprintln!(
            "warning: in {saturated} of {m} signals a neuron fired at every step, so its rate was capped; lower --dt or raise --spike-threshold"
        );
    }
    if args.run.json {
        println!("{summary}");
    } else if !args.run.quiet {
        println!(
            "encoded {m} signals over {k} atoms with {} spiking neurons in {seconds:.3} s ({:.0} signals/s): mean energy {mean_energy:.6}, mean active {:.2}, {} steps, {:.1} spikes per signal",
            if p.fixed_point {
                "fixed-point"
            } else {
                "float"
            },
            summary["signals_per_second"].as_f64().unwrap_or(0.0),
            enc.mean_active(),
            p.steps,
            enc.mean_spikes(),
        );
        if let Some(v) = summary.get("vs_float") {
            println!(
                "fixed point vs float: relative code error {:.3e}, energy relative difference {:.3e}",
                v["rel_code_error"].as_f64().unwrap_or(0.0),
                v["energy_rel_diff"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}
