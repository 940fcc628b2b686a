//! `lca learn`: wires flags to the library's training loop
//! ([`lca::dictionary::training`]), draws progress, and turns SIGINT/SIGTERM
//! into a clean stop (current step finished, every output and a checkpoint
//! written, exit code 130/143).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use indicatif::ProgressBar;
use lca::dictionary::TrainingRow;
use lca::dictionary::{HorizonRule, LearnParams, Rule, TimeUse, UNBOUNDED_STEPS};
use lca::dictionary::{
    Observer, StartInfo, Status, Training, TrainingConfig, TrainingReport, defaults, steps_label,
};
use lca::dictionary::{PatchMatrixParams, PatchMatrixTraining};
use lca::distributed::Communicator;
use lca::image::{Preprocessing, Whitening};
use lca::solver::LcaParams;

fn lp() -> LearnParams {
    LearnParams::default()
}

#[derive(Args, Debug)]
pub struct LearnArgs {
    /// Folder of images (PNG, JPEG, TIFF, BMP). Without it, the sample images embedded in the binary.
    /// With --conv, also a folder of .wav recordings (1-D) or an .npy of signals (see --dims).
    dir: Option<PathBuf>,
    /// Learn from these patches instead of images: rows of a (n_patches, n_features) .npy, used
    /// as they are (no preprocessing, no held-out set), in seeded shuffled passes — what Python's
    /// `lca.DictionaryLearning().fit(X)` runs. Writes dictionary.npy and training.csv to --output.
    #[arg(long, value_name = "X.npy", conflicts_with_all = [
        "dir", "resume", "recursive", "patch_size", "color", "downscale", "whiten", "remove_mean",
        "no_remove_mean", "unit_norm", "no_unit_norm", "min_norm", "heldout_patches", "heldout_every",
        "checkpoint_every",
    ])]
    patches: Option<PathBuf>,
    /// Also read images in sub-folders.
    #[arg(long)]
    recursive: bool,
    /// Patch side P (patches are P×P).
    #[arg(long, default_value_t = defaults::PATCH_SIZE)]
    patch_size: usize,
    /// Number of atoms.
    #[arg(long, default_value_t = defaults::ATOMS)]
    atoms: usize,
    /// Update rule: online (sufficient statistics, Mairal et al. 2010, as SPAMS
    /// trainDL) or hebbian (gradient on the reconstruction error, as PetaVision).
    #[arg(long, value_parser = super::named::<Rule>(), default_value_t = Rule::default())]
    rule: Rule,
    /// Sparsity penalty λ (at the first step).
    #[arg(long, default_value_t = LcaParams::default().lambda)]
    lambda: f32,
    /// λ at the last step (geometric schedule).
    #[arg(long)]
    lambda_final: Option<f32>,
    /// Learning steps (minibatches), the horizon of the learning-rate schedule:
    /// the same result on every machine. Default: 2000 for 128 atoms of 8×8,
    /// scaled by √(atoms × values / 8192) for larger problems; with --max-seconds
    /// alone, chosen by the run to fill the budget. 0: no step limit (needs
    /// --max-seconds and a rule without a schedule, e.g. --rule online).
    #[arg(long)]
    steps: Option<u64>,
    /// Time budget in seconds: the run ends within about this much wall time,
    /// final scoring and writing included (as SPAMS's iter=-S). Without --steps
    /// the run measures its pace and sizes its schedule to use the whole budget
    /// (the horizon is recorded in config.json, and --resume keeps it); with
    /// --steps it ends at whichever comes first.
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Patches per minibatch.
    #[arg(long, default_value_t = defaults::BATCH_SIZE)]
    batch_size: usize,
    /// Learning rate η at the first step (hebbian rule).
    #[arg(long, default_value_t = lp().learning_rate)]
    learning_rate: f32,
    /// Learning rate at the last step (hebbian rule; geometric schedule from --learning-rate),
    /// whatever the horizon. Default: 0.4 at the problem-size horizon (see --steps), lower for
    /// longer horizons, as 0.4 · (that horizon / steps)^0.75.
    #[arg(long)]
    learning_rate_final: Option<f32>,
    /// Momentum of the dictionary update (hebbian rule).
    #[arg(long, default_value_t = lp().momentum)]
    momentum: f32,
    /// Re-seed an atom unused for this many consecutive steps (0: never).
    #[arg(long, default_value_t = lp().resample_after)]
    resample_after: u64,
    /// Held-out patches (from the bottom twentieth of up to 32 images, never
    /// trained on) scored with the exact objective; 0: none.
    #[arg(long, default_value_t = defaults::HELDOUT_PATCHES)]
    heldout_patches: usize,
    /// Steps between two scorings of the held-out patches (column heldout_energy of training.csv).
    #[arg(long, default_value_t = defaults::HELDOUT_EVERY)]
    heldout_every: u64,
    /// Seed of every random choice (patch sampling, initial atoms).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Start from this dictionary (n_atoms, n_features) instead of random patches.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Keep RGB: each patch holds P×P×3 values (pixel-interleaved).
    #[arg(long)]
    color: bool,
    /// Shrink images by this factor before sampling.
    #[arg(long, default_value_t = Preprocessing::default().downscale)]
    downscale: f32,
    /// Whitening: none, one-over-f (Olshausen & Field, whole images) or zca (patches).
    #[arg(long, value_parser = super::named::<Whitening>(), default_value_t = Preprocessing::default().whiten)]
    whiten: Whitening,
    /// Remove each patch's mean (on by default).
    #[arg(long, overrides_with = "no_remove_mean")]
    remove_mean: bool,
    /// Keep each patch's mean.
    #[arg(long)]
    no_remove_mean: bool,
    /// Scale each patch to unit norm (on by default).
    #[arg(long, overrides_with = "no_unit_norm")]
    unit_norm: bool,
    /// Keep patch norms.
    #[arg(long)]
    no_unit_norm: bool,
    /// Patches whose norm after mean removal is below this are skipped as flat.
    #[arg(long, default_value_t = Preprocessing::default().min_norm)]
    min_norm: f32,
    /// Output folder: dictionary.npy, atoms.png, training.csv, training.png, config.json, checkpoint.npz.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Write a checkpoint every K steps (0: every 60 s of training). A checkpoint
    /// is also written at the end and on Ctrl-C / SIGTERM, so `--resume` continues
    /// any run bit for bit; after kill -9 it continues from the last checkpoint.
    #[arg(long, default_value_t = 0)]
    checkpoint_every: u64,
    /// Continue the run in this folder from its checkpoint; its config.json
    /// fixes every setting (only --threads, --quiet and --json may be given).
    #[arg(long)]
    resume: Option<PathBuf>,
    // Convolutional learning (`src/cli/learn/conv.rs`).
    /// Learn convolutional filters on whole images (or large random crops)
    /// coded by the convolutional LCA, instead of patch atoms.
    #[arg(long)]
    conv: bool,
    /// With --conv: spatial axes of the signals, 1 (a folder of .wav files or an .npy of
    /// (N, C, T)), 2 (pictures) or 3 (an .npy of (N, C, D, H, W) volumes or video). Default: what
    /// the input is (pictures 2-D, .wav 1-D; an .npy whose rank allows several asks for it).
    #[arg(long, value_parser = super::encode::parse_dims)]
    dims: Option<usize>,
    /// Filter side K with --conv (filters are K×K, or 3×K×K with --color; K taps with --dims 1,
    /// KD×K×K with --dims 3). Default: 12 (2-D), 128 (1-D), 7 (3-D).
    #[arg(long, default_value_t = lca::conv::learn_defaults::KERNEL_SIZE)]
    kernel_size: usize,
    /// With --conv --dims 3: kernel depth KD (default 5).
    #[arg(long)]
    kernel_depth: Option<usize>,
    /// With --conv: remove the Tikhonov low-pass part of each image as SPORCO's
    /// tikhonov_filter(img, L, 16) does (0: keep it).
    #[arg(long, default_value_t = lca::conv::learn_defaults::HIGHPASS)]
    highpass: f64,
    /// With --conv: side of the random square crops coded per step (0: whole images); samples
    /// with --dims 1 (default 4096), the side of D×C×C crops with --dims 3 (default 32).
    #[arg(long, default_value_t = lca::conv::learn_defaults::CROP)]
    crop: usize,
    /// With --conv --dims 3: depth D of the crops (default 16).
    #[arg(long)]
    crop_depth: Option<usize>,
    /// With --conv: images (the last in name order) held out and scored, never trained on.
    #[arg(long, default_value_t = lca::conv::learn_defaults::HELDOUT_IMAGES)]
    heldout_images: usize,
    #[command(flatten)]
    run: super::RunOptions,
}

mod conv;

impl LearnArgs {
    /// The rule, encoder and schedules (shared by image and patch runs).
    fn learning(&self) -> anyhow::Result<LearnParams> {
        let steps = match (self.steps, self.max_seconds) {
            (None, _) => lp().steps,
            (Some(0), Some(_)) => UNBOUNDED_STEPS,
            (Some(0), None) => bail!("--steps 0 (no step limit) needs --max-seconds"),
            (Some(n), _) => n,
        };
        let params = LearnParams::default()
            .rule(self.rule)
            .lca(LcaParams::new().lambda(self.lambda))
            .learning_rate(self.learning_rate)
            .lambda_final(self.lambda_final)
            .momentum(self.momentum)
            .steps(steps)
            .resample_after(self.resample_after);
        Ok(match self.learning_rate_final {
            Some(f) => params.learning_rate_final(Some(f)).final_rate_horizon(None),
            None => params,
        })
    }

    fn config(&self) -> anyhow::Result<TrainingConfig> {
        let mut preprocessing = Preprocessing::default()
            .downscale(self.downscale)
            .color(self.color)
            .whiten(self.whiten);
        preprocessing.remove_mean = !self.no_remove_mean;
        preprocessing.unit_norm = !self.no_unit_norm;
        preprocessing.min_norm = self.min_norm;
        let learning = self.learning()?;
        let config = TrainingConfig::default()
            .images(self.dir.clone())
            .recursive(self.recursive)
            .patch_size(self.patch_size)
            .atoms(self.atoms)
            .batch_size(self.batch_size)
            .seed(self.seed)
            .init(self.init.clone())
            .checkpoint_every(self.checkpoint_every)
            .max_seconds(self.max_seconds)
            .heldout_patches(self.heldout_patches)
            .heldout_every(self.heldout_every)
            .preprocessing(preprocessing)
            .learning(learning)
            .horizon(self.horizon());
        Ok(config.check()?.into_inner())
    }

    /// `--steps` given: exactly that horizon; else the library's choice.
    fn horizon(&self) -> HorizonRule {
        if self.steps.is_some() {
            HorizonRule::Given
        } else {
            HorizonRule::Auto
        }
    }
}

/// Flags the user typed (not defaults), by their long name.
fn explicit(matches: &ArgMatches) -> Vec<String> {
    matches
        .ids()
        // Flattened structs appear as argument groups named after the struct.
        .filter(|id| !id.as_str().starts_with(|c: char| c.is_ascii_uppercase()))
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect()
}

/// Progress bar and warnings on the terminal.
struct Terminal {
    bar: ProgressBar,
    quiet: bool,
}

impl Observer for Terminal {
    fn started(&mut self, info: &StartInfo) {
        if info.steps != UNBOUNDED_STEPS {
            self.bar.set_length(info.steps);
        }
        // Position before the clock starts, so the first rate is not the resumed steps / 0 s.
        self.bar.set_position(info.resumed_at);
        self.bar.reset_eta();
    }
    fn horizon(&mut self, steps: u64) {
        self.bar.set_length(steps);
    }
    fn step(&mut self, row: &TrainingRow) {
        self.bar.set_message(format!(
            "mse {:.5} active {:.3} energy {:.4}{}",
            row.mse,
            row.active_fraction,
            row.energy,
            row.heldout_energy
                .map_or(String::new(), |h| format!(" held-out {h:.4}"))
        ));
        self.bar.inc(1);
    }
    fn warning(&mut self, message: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("warning: {message}"));
        }
    }
}

/// The `horizon` object of the JSON summary: how the run used its time.
fn time_json(time: Option<&TimeUse>) -> serde_json::Value {
    time.map_or(serde_json::Value::Null, |t| {
        serde_json::json!({
            "rule": t.rule.name(),
            "steps": t.horizon,
            "budget_seconds": t.budget,
            "wall_seconds": t.seconds,
            "summary": t.sentence(),
        })
    })
}

/// The second line of the summary: how the run used its time.
fn print_time_use(time: Option<&TimeUse>) {
    if let Some(t) = time {
        println!("{}", t.sentence());
    }
}

/// Says, on stderr, where a resumed run stands: already finished, or the
/// step it goes on from.
fn report_resume(out: &std::path::Path, finished: Option<Status>, done: u64, steps: u64) {
    let total = steps_label(steps);
    match finished {
        Some(status) => eprintln!(
            "{}: the run is already {} ({done} of {total} steps); nothing to do",
            out.display(),
            match status {
                Status::TimeBudget => "at its time budget",
                _ => "complete",
            },
        ),
        None => eprintln!("resuming at step {done} of {total}"),
    }
}

/// SIGINT / SIGTERM set `stop` to 130 / 143; a second one kills at once.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicUsize>> {
    let stop = Arc::new(AtomicUsize::new(0));
    let signalled = Arc::new(AtomicBool::new(false));
    for (sig, code) in [
        (signal_hook::consts::SIGINT, 130),
        (signal_hook::consts::SIGTERM, 143),
    ] {
        signal_hook::flag::register_conditional_shutdown(sig, code as i32, Arc::clone(&signalled))?;
        signal_hook::flag::register(sig, Arc::clone(&signalled))?;
        signal_hook::flag::register_usize(sig, Arc::clone(&stop), code)?;
    }
    Ok(stop)
}

/// `lca learn --patches X.npy`: learning over the rows of a matrix
/// ([`PatchMatrixTraining`]); writes `dictionary.npy` and `training.csv`.
fn run_patches(args: &LearnArgs, path: &std::path::Path) -> anyhow::Result<i32> {
    let Some(out) = args.output.clone() else {
        bail!("--output OUT/ is required");
    };
    let patches = super::encode::read_columns(path, "patches")?;
    let init = args
        .init
        .as_deref()
        .map(super::encode::read_dictionary)
        .transpose()?;
    let params = PatchMatrixParams::default()
        .atoms(args.atoms)
        .batch_size(args.batch_size)
        .seed(args.seed)
        .max_seconds(args.max_seconds)
        .learning(args.learning()?)
        .horizon(args.horizon());
    let mut training = PatchMatrixTraining::new(params, patches, init)
        .with_context(|| path.display().to_string())?;
    if out.exists() && !out.is_dir() {
        bail!("{}: output exists and is not a folder", out.display());
    }
    std::fs::create_dir_all(&out)
        .with_context(|| format!("{}: cannot create the output folder", out.display()))?;
    let stop = stop_on_signals()?;
    let bar = super::progress::bar(0, "steps", args.run.quiet);
    let mut term = Terminal {
        bar,
        quiet: args.run.quiet,
    };
    let report = super::with_threads(args.run.threads, || training.run(&mut term, Some(&stop)))??;
    term.bar.finish_and_clear();
    let atoms = &training.learner().state().atoms;
    let (n, k) = atoms.shape();
    lca::io::npy::write_matrix(&out.join("dictionary.npy"), k, n, atoms.as_slice())?;
    let mut csv = String::from(lca::dictionary::CSV_HEADER);
    csv.push('\n');
    for r in training.rows() {
        csv.push_str(&r.to_csv_line());
        csv.push('\n');
    }
    lca::io::atomic::write_bytes_atomic(&out.join("training.csv"), csv.as_bytes())?;
    let status = match report.status {
        Status::Completed => "completed",
        Status::TimeBudget => "time-budget",
        Status::Interrupted => "interrupted",
        Status::Running => "running",
    };
    let last = report.last;
    if args.run.json {
        println!(
            "{}",
            serde_json::json!({
                "output": out.display().to_string(),
                "status": status,
                "rule": training.params().learning.rule.name(),
                "steps": report.steps_done,
                "atoms": k,
                "n_features": n,
                "patches": path.display().to_string(),
                "seconds": report.seconds,
                "final_mse": last.map(|r| r.mse),
                "final_active_fraction": last.map(|r| r.active_fraction),
                "final_energy": last.map(|r| r.energy),
                "horizon": time_json(report.time.as_ref()),
            })
        );
    } else if !args.run.quiet {
        println!(
            "learned {k} atoms of {n} values ({} rule) from the {} patches of {} in {} steps ({:.1} s): energy {:.4}, active fraction {:.3} → {}",
            training.params().learning.rule.name(),
            training.n_patches(),
            path.display(),
            report.steps_done,
            report.seconds,
            last.map_or(0.0, |r| r.energy),
            last.map_or(0.0, |r| r.active_fraction),
            out.display()
        );
        print_time_use(report.time.as_ref());
    }
    Ok(exit_code(report.status, &stop))
}

/// The exit status of a finished run: 130 / 143 after SIGINT / SIGTERM.
fn exit_code(status: Status, stop: &AtomicUsize) -> i32 {
    if status == Status::Interrupted {
        stop.load(std::sync::atomic::Ordering::SeqCst) as i32
    } else {
        0
    }
}

/// `lca learn`; `Ok(code)`: the exit status (130 / 143 after an interrupt).
pub fn run(args: LearnArgs, matches: &ArgMatches, comm: &dyn Communicator) -> anyhow::Result<i32> {
    if conv::wants_conv(&args, matches)? {
        return conv::run(args, matches, comm);
    }
    if let Some(path) = args.patches.clone() {
        if comm.size() > 1 {
            bail!(
                "--patches learns in one process, not over {} ranks: start it without mpirun",
                comm.size()
            );
        }
        return run_patches(&args, &path);
    }
    // Under `mpirun` rank 0 speaks for the job; the others stay silent.
    let root = comm.is_root();
    let quiet = args.run.quiet || !root;
    let bar = super::progress::bar(0, "steps", quiet);
    let mut term = Terminal { bar, quiet };
    let typed = explicit(matches);
    let (mut training, out) = match &args.resume {
        Some(out) => {
            let refused: Vec<String> = typed
                .iter()
                .filter(|id| !["resume", "threads", "quiet", "json"].contains(&id.as_str()))
                .map(|id| format!("--{}", id.replace('_', "-")))
                .collect();
            if !refused.is_empty() {
                bail!(
                    "{} cannot be given with --resume: {} fixes every setting of the run (start a new run with --output to change them)",
                    refused.join(", "),
                    out.join("config.json").display()
                );
            }
            let t = Training::resume(out, comm, &mut term)?;
            if !quiet {
                report_resume(
                    out,
                    t.already_finished(),
                    t.steps_done(),
                    t.config().learning.steps,
                );
            }
            (t, out.clone())
        }
        None => {
            let Some(out) = args.output.clone() else {
                bail!("--output OUT/ is required (or --resume OUT/)");
            };
            let config = args.config()?;
            (Training::start(config, &out, comm, &mut term)?, out)
        }
    };

    // SIGINT / SIGTERM: finish the step, write everything, exit 130 / 143. A
    // second Ctrl-C kills at once (the last checkpoint stays resumable).
    let stop = stop_on_signals()?;
    training = training.with_interrupt(Arc::clone(&stop));

    let report = super::with_threads(args.run.threads, || training.run(&mut term))??;
    term.bar.finish_and_clear();

    let config = training.config();
    let channels = if config.preprocessing.color { 3 } else { 1 };
    let k = config.atoms;
    let last = report.last;
    let rate = |count: f64| {
        if report.session_seconds > 0.0 {
            count / report.session_seconds
        } else {
            0.0
        }
    };
    let summary = summary_json(&report, config, &out, comm);
    if args.run.json && root {
        println!("{summary}");
    } else if !quiet && training.already_finished().is_none() {
        println!(
            "learned {k} atoms of {}×{}{} ({} rule) from {} images in {} steps ({:.1} s, {:.0} steps/s, {} decodes): energy {:.4}, held-out {}, active fraction {:.3} → {}",
            config.patch_size,
            config.patch_size,
            if channels == 3 { "×3" } else { "" },
            config.learning.rule.name(),
            report.images,
            report.steps_done,
            report.seconds,
            rate(report.session_steps as f64),
            report.decodes,
            last.map_or(0.0, |r| r.energy),
            report
                .heldout_energy
                .map_or("-".to_string(), |h| format!("{h:.4}")),
            last.map_or(0.0, |r| r.active_fraction),
            out.display()
        );
        print_time_use(report.time.as_ref());
    }
    if report.status == Status::Interrupted && !quiet {
        eprintln!(
            "interrupted at step {} of {}: outputs and checkpoint written; continue with: lca learn --resume {}",
            report.steps_done,
            steps_label(config.learning.steps),
            out.display()
        );
    }
    Ok(exit_code(report.status, &stop))
}

/// The `--json` summary of a patch-learning run (with the MPI figures of
/// `comm` when the `mpi` feature is on).
fn summary_json(
    report: &TrainingReport,
    config: &TrainingConfig,
    out: &std::path::Path,
    comm: &dyn Communicator,
) -> serde_json::Value {
    let channels = if config.preprocessing.color { 3 } else { 1 };
    let last = report.last;
    let rate = |count: f64| {
        if report.session_seconds > 0.0 {
            count / report.session_seconds
        } else {
            0.0
        }
    };
    let status = match report.status {
        Status::Completed => "completed",
        Status::TimeBudget => "time-budget",
        Status::Interrupted => "interrupted",
        Status::Running => "running",
    };
    let mut summary = serde_json::json!({
        "output": out.display().to_string(),
        "status": status,
        "rule": config.learning.rule.name(),
        "steps": report.steps_done,
        "atoms": config.atoms,
        "n_features": config.patch_size * config.patch_size * channels,
        "images": report.images,
        "seconds": report.seconds,
        "final_mse": last.map(|r| r.mse),
        "final_active_fraction": last.map(|r| r.active_fraction),
        "final_energy": last.map(|r| r.energy),
        "heldout_energy": report.heldout_energy,
        "steps_per_second": rate(report.session_steps as f64),
        "decodes": report.decodes,
        "decodes_per_second": rate(report.decodes as f64),
        "horizon": time_json(report.time.as_ref()),
    });
    if let Some(counters) = comm.counters() {
        // Rank 0's encoding, update and communication, for the scaling
        // figures: only a communicator that measures (MPI) has them; a
        // single process reports none rather than zeros.
        let t = counters.snapshot();
        summary["mpi"] = serde_json::json!({
            "ranks": comm.size(),
            "collectives": t.collectives,
            "bytes": t.bytes,
            "reduce_bytes": t.reduce_bytes,
            "communication_seconds": t.seconds,
            "encode_seconds": t.encode_seconds,
            "update_seconds": t.update_seconds,
        });
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    fn parse(argv: &[&str]) -> (LearnArgs, ArgMatches) {
        let m = crate::cli::Cli::command().get_matches_from(argv);
        let sub = m.subcommand_matches("learn").unwrap().clone();
        (LearnArgs::from_arg_matches(&sub).unwrap(), sub)
    }

    #[test]
    fn cli_defaults_are_the_library_defaults() {
        let (args, _) = parse(&["lca", "learn"]);
        assert_eq!(args.config().unwrap(), TrainingConfig::default());
    }

    #[test]
    fn steps_zero_with_a_time_budget_has_no_step_limit() {
        let online = ["lca", "learn", "--max-seconds", "5", "--rule", "online"];
        let (args, m) = parse(&[&online[..], &["--steps", "0"]].concat());
        assert!(explicit(&m).contains(&"steps".to_string()));
        assert_eq!(args.config().unwrap().learning.steps, UNBOUNDED_STEPS);
        let (args, _) = parse(&online);
        assert_eq!(args.config().unwrap().horizon, HorizonRule::Auto);
        let (args, _) = parse(&[&online[..], &["--steps", "300"]].concat());
        let config = args.config().unwrap();
        assert_eq!(
            (config.horizon, config.learning.steps),
            (HorizonRule::Given, 300)
        );
        let (args, _) = parse(&["lca", "learn", "--steps", "0"]);
        assert!(args.config().is_err());
        // The Hebbian rule's learning-rate schedule needs a horizon.
        let (args, _) = parse(&["lca", "learn", "--max-seconds", "5", "--steps", "0"]);
        assert!(args.config().is_err());
    }
}
