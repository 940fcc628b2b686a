//! Dictionary learning from the patches of a folder of images: the
//! patch-folder source under the learning session ([`crate::learning`]).
//!
//! A [`Training`] holds the source (learner, patch stream, held-out patches,
//! output folder) and a [`Session`], which runs steps until a stop condition
//! (step count, time budget, interrupt flag); an [`Observer`] sees every
//! step, warning and checkpoint (progress bars, logging), and the output
//! folder is written through the session — `config.json`, `dictionary.npy`,
//! `atoms.png`, `training.csv`, `training.png` and `checkpoint.npz`, each
//! atomically — so any run can be resumed with [`Training::resume`] bit for
//! bit.
//!
//! Under `mpirun` (cargo feature `mpi`) every rank runs this same loop over
//! the communicator it is given (the program's `main` makes it): each
//! decodes only its share of the images, receives its share of every batch
//! ([`PatchStream::shared`]), encodes it and adds its chunks' partial
//! updates to one exact allreduce ([`crate::distributed`]), so every rank
//! holds the single-process state after every step. Only rank 0 writes, and
//! a run resumes with any number of ranks.
//!
//! ```no_run
//! use lca::dictionary::{Training, TrainingConfig, NoObserver};
//! use lca::distributed::SingleProcess;
//! let config = TrainingConfig::default().images(Some("photos/".into()));
//! let mut run = Training::start(config, "out/".as_ref(), &SingleProcess, &mut NoObserver).unwrap();
//! let report = run.run(&mut NoObserver).unwrap();
//! println!("{} steps, held-out objective {:?}", report.steps_done, report.last.and_then(|r| r.heldout_energy));
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::checkpoint::{read_checkpoint, save_checkpoint};
use super::learn::{DictionaryLearner, LearnParams};
use crate::Dictionary;
use crate::distributed::{Communicator, encode_codes};
use crate::error::{Error, Result};
use crate::image::{
    ImageSet, PatchStream, PatchStreamParams, Preprocessing, Preprocessor, Whitening, Zca,
};
use crate::learning::RunLock;
use crate::learning::TrainingRow;
pub use crate::learning::run_folder::checkpoint_path;
use crate::learning::run_folder::{self as folder, ReportFacts, absolute};
use crate::learning::{BudgetPlanner, HorizonRule, TimeUse};
use crate::learning::{
    Cadence, Observer, Progress, Save, Session, StartInfo, Status, Step, TrainingReport,
};
use crate::settings::Checked;
use crate::solver::Monitor;

/// Defaults of a training run, shared by [`TrainingConfig::default`] and the
/// CLI's flags (one source, checked by a test).
pub mod defaults {
    /// Patch side.
    pub const PATCH_SIZE: usize = 8;
    /// Number of atoms.
    pub const ATOMS: usize = 128;
    /// Patches per minibatch: with the online rule 256 beats 128 from ~5 s
    /// of training on (the statistics remember more patches) and loses
    /// little before (BENCHMARKS.md).
    pub const BATCH_SIZE: usize = 256;
    /// Held-out patches scored with the exact objective.
    pub const HELDOUT_PATCHES: usize = 2048;
    /// Steps between two scorings of the held-out patches.
    pub const HELDOUT_EVERY: u64 = 250;
    /// Seconds of training between checkpoints when no step interval is set.
    pub const CHECKPOINT_SECONDS: f64 = crate::learning::CHECKPOINT_SECONDS;
}

/// Steps between rewrites of `training.csv` while learning (for monitoring)...
const LOG_EVERY: u64 = 100;
/// ...but, once the log is long, at most one rewrite per this many seconds:
/// the whole log is rewritten (atomically), so frequent rewrites cost O(n²).
const LOG_SECONDS: f64 = 5.0;

/// Every setting of a run, written to `config.json` (which `--resume` reads
/// back; keys are a contract with users' scripts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrainingConfig {
    /// Version of the crate that started the run.
    pub crate_version: String,
    /// Image folder (absolute once the run starts); `None`: the embedded samples.
    pub images: Option<PathBuf>,
    /// Also read images in sub-folders.
    pub recursive: bool,
    /// Patch side `P`.
    pub patch_size: usize,
    /// Number of atoms.
    pub atoms: usize,
    /// Patches per minibatch.
    pub batch_size: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Initial dictionary (absolute path) instead of random patches.
    pub init: Option<PathBuf>,
    /// Steps between checkpoints (0: every [`defaults::CHECKPOINT_SECONDS`]).
    pub checkpoint_every: u64,
    /// Time budget in seconds: the run ends within about this much wall
    /// time, final scoring and writing included. With [`HorizonRule::Auto`]
    /// the run also sizes its schedules to fill it.
    #[serde(default)]
    pub max_seconds: Option<f64>,
    /// Where `learning.steps` (the schedules' horizon) comes from; resolved
    /// when the run starts and recorded. [`HorizonRule::Auto`] (the default)
    /// replaces `learning.steps`: set [`HorizonRule::Given`] (or use
    /// [`TrainingConfig::steps`]) to keep a step count of your own.
    #[serde(default = "HorizonRule::legacy")]
    pub horizon: HorizonRule,
    /// Held-out patches (0: none; training then uses every image row).
    #[serde(default)]
    pub heldout_patches: usize,
    /// Steps between two scorings of the held-out patches.
    #[serde(default = "default_heldout_every")]
    pub heldout_every: u64,
    /// Image and patch preprocessing.
    pub preprocessing: Preprocessing,
    /// Rule, encoder and schedules.
    pub learning: LearnParams,
    /// ZCA transform fitted on the training patches (with ZCA whitening).
    pub zca: Option<Zca>,
    /// Where the run stands (written by the loop).
    #[serde(default)]
    pub progress: Option<Progress>,
}

crate::settings::setters!(TrainingConfig {
    crate_version: String,
    images: Option<PathBuf>,
    recursive: bool,
    patch_size: usize,
    atoms: usize,
    batch_size: usize,
    seed: u64,
    init: Option<PathBuf>,
    checkpoint_every: u64,
    max_seconds: Option<f64>,
    horizon: HorizonRule,
    heldout_patches: usize,
    heldout_every: u64,
    preprocessing: Preprocessing,
    learning: LearnParams,
    zca: Option<Zca>,
    progress: Option<Progress>,
});

fn default_heldout_every() -> u64 {
    defaults::HELDOUT_EVERY
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            images: None,
            recursive: false,
            patch_size: defaults::PATCH_SIZE,
            atoms: defaults::ATOMS,
            batch_size: defaults::BATCH_SIZE,
            seed: 0,
            init: None,
            checkpoint_every: 0,
            max_seconds: None,
            horizon: HorizonRule::Auto,
            heldout_patches: defaults::HELDOUT_PATCHES,
            heldout_every: defaults::HELDOUT_EVERY,
            preprocessing: Preprocessing::default(),
            learning: LearnParams::default(),
            zca: None,
            progress: None,
        }
    }
}

impl TrainingConfig {
    /// The title of `atoms.png` of a patch dictionary learning run after
    /// `steps_done` steps: what was learned (atoms, patch size, colour, source
    /// photos), then how (rule, λ, steps, minibatch, whitening).
    ///
    /// ```
    /// use lca::dictionary::TrainingConfig;
    /// let lines = TrainingConfig::default().title(2000);
    /// assert_eq!(lines[0], "128 atoms of 8×8 pixels learned from the embedded photos");
    /// assert_eq!(lines[1], "LCA dictionary learning: hebbian rule, λ = 0.1, 2000 steps of 256 patches");
    /// ```
    pub fn title(&self, steps_done: u64) -> Vec<String> {
        let config = self;
        let p = config.patch_size;
        let colour = if config.preprocessing.color {
            " RGB"
        } else {
            ""
        };
        let rule = config.learning.rule.name();
        let whiten = match config.preprocessing.whiten {
            Whitening::None => "",
            Whitening::OneOverF { .. } => ", 1/f-whitened",
            Whitening::Zca { .. } => ", ZCA-whitened",
        };
        vec![
            format!(
                "{} atoms of {p}×{p}{colour} pixels learned from {}",
                config.atoms,
                folder::images_label(config.images.as_deref())
            ),
            format!(
                "LCA dictionary learning: {rule} rule, λ = {}, {} of {} patches{whiten}",
                config.learning.lca.lambda,
                folder::steps_phrase(steps_done),
                config.batch_size
            ),
        ]
    }

    /// Exactly `steps` learning steps (the schedules' horizon): the same
    /// result on every machine, whatever the time budget.
    pub fn steps(mut self, steps: u64) -> Self {
        self.learning.steps = steps;
        self.horizon = HorizonRule::Given;
        self
    }

    /// Checks every setting (before anything is read or written).
    pub fn check(self) -> Result<Checked<TrainingConfig>> {
        self.preprocessing.check()?;
        self.learning.clone().check()?;
        if self.patch_size == 0 || self.atoms == 0 || self.batch_size == 0 {
            return Err(Error::setting(
                "sizes",
                "patch size, atoms and batch size must be at least 1",
            ));
        }
        if let Some(s) = self.max_seconds
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::setting(
                "max_seconds",
                format!("max seconds must be finite and > 0, got {s}"),
            ));
        }
        self.horizon.check(self.max_seconds)?;
        if self.heldout_every == 0 {
            return Err(Error::setting(
                "heldout_every",
                "held-out scoring interval must be at least 1 step",
            ));
        }
        Ok(Checked::assume_valid(self))
    }

    /// Values per patch for `channels` channels.
    fn n_features(&self, channels: usize) -> usize {
        self.patch_size * self.patch_size * channels
    }

    /// Bytes of memory the run needs at least (matrices of the learner and
    /// the encoder, patch blocks, image cache), to refuse up front a run that
    /// cannot fit instead of aborting in an allocation.
    pub fn memory_needed(&self, channels: usize) -> u128 {
        let (n, k, m) = (
            self.n_features(channels) as u128,
            self.atoms as u128,
            self.batch_size.max(self.heldout_patches) as u128,
        );
        let f = 4u128;
        // Gram matrix, online A, encoder's active-set factor workspace;
        // atoms, Φᵀ, velocity, B, update; codes, drive, states, residual per signal.
        let learner = f * (3 * k * k + 6 * n * k + 4 * k * m + 2 * n * m);
        let block = (crate::image::DEFAULT_POOL_BYTES as u128)
            .min(f * n * crate::image::DEFAULT_POOL_PATCHES as u128);
        learner
            + (crate::image::DEFAULT_WINDOW as u128 + 1) * block
            + crate::image::DEFAULT_CACHE_BYTES as u128
    }
}

/// A dictionary-learning run bound to its output folder: the patch source
/// under a learning [`Session`].
pub struct Training<'c> {
    source: PatchFolder<'c>,
    session: Session<'c>,
    interrupt: Option<Arc<AtomicUsize>>,
    already: Option<Status>,
    /// The hold on the output folder: no other run writes to it.
    _lock: Option<RunLock>,
}

/// What a step of patch learning from a folder reads and changes (the
/// session's [`Step`]), and the run's outputs.
struct PatchFolder<'c> {
    config: TrainingConfig,
    out: PathBuf,
    set: Arc<ImageSet>,
    stream: PatchStream<'c>,
    heldout: Option<DMatrix<f32>>,
    learner: DictionaryLearner,
    /// Training seconds of earlier sessions (for the report).
    elapsed: f64,
    comm: &'c dyn Communicator,
}

/// Bytes of memory available to this process (Linux), if known.
fn available_memory() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn gib(bytes: u128) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u128 << 30) as f64)
}

impl<'c> Training<'c> {
    /// Starts a new run over `comm` (every rank of a job calls it; rank 0
    /// writes): checks the settings, opens the images and checks the memory
    /// needed, and only then creates `out` and writes `config.json` (a
    /// failed start leaves no folder behind).
    pub fn start(
        config: TrainingConfig,
        out: &Path,
        comm: &'c dyn Communicator,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        let opened = Instant::now();
        let mut config = config.check()?.into_inner();
        config.crate_version = env!("CARGO_PKG_VERSION").to_string();
        config.images = config.images.as_deref().map(absolute).transpose()?;
        config.init = config.init.as_deref().map(absolute).transpose()?;
        config.progress = None;
        config.zca = None;
        let set = open_images(&config, observer, None)?;
        let n = config.n_features(set.channels());
        config.horizon =
            config
                .horizon
                .apply(config.max_seconds, &mut config.learning, n, config.atoms);
        check_memory(&config, set.channels())?;
        if out.exists() && !out.is_dir() {
            return Err(Error::format(out, "output exists and is not a folder"));
        }
        let mut lock = None;
        if comm.is_root() {
            std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
            lock = Some(RunLock::acquire(out, observer)?);
        }
        let replan = config.horizon == HorizonRule::Budget;
        let source = PatchFolder::assemble(config, out, set, None, comm)?;
        let session = source.session(opened, Vec::new(), replan);
        let run = Training {
            source,
            session,
            interrupt: None,
            already: None,
            _lock: lock,
        };
        run.source.write_config(Status::Running, 0.0)?;
        run.source.write_log(&[])?;
        Ok(run)
    }

    /// Reopens the run in `out` from its `config.json` and checkpoint, over
    /// `comm` (with any number of ranks). Paths recorded in the config that
    /// no longer exist are reported as coming from it. Without a checkpoint
    /// (killed before its first one) the run starts again from step 0, with
    /// a warning.
    pub fn resume(
        out: &Path,
        comm: &'c dyn Communicator,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        let opened = Instant::now();
        // The lock first: a run starting in `out` takes it before writing its config.
        let root = comm.is_root();
        let lock = (root && out.is_dir())
            .then(|| RunLock::acquire(out, observer))
            .transpose()?;
        let (config, path) = folder::read_config::<TrainingConfig>(out, "lca learn")?;
        let config = config
            .check()
            .map_err(|e| Error::format(&path, e.to_string()))?
            .into_inner();
        folder::check_recorded_paths(config.images.iter().chain(&config.init), &path)?;
        if root {
            crate::io::atomic::remove_stale_temporaries(out)?;
        }
        let set = open_images(&config, observer, Some(&path))?;
        let n = config.n_features(set.channels());
        let read = |p: &Path| read_checkpoint(p, n, config.atoms);
        let resume_state = folder::load_checkpoint(out, observer, read, |s| s.0.step)?;
        let status = config.progress.map(|p| p.status);
        let rows = match &resume_state {
            Some((state, _)) => folder::resumed_rows(out, state.step)?,
            None => Vec::new(),
        };
        let source = PatchFolder::assemble(config, out, set, resume_state, comm)?;
        // A resumed run keeps the recorded plan: it never re-plans, and a
        // plan fitted to the budget is run to its end (the start-up of this
        // session was not in it), as the uninterrupted run would have.
        let session = source.session(opened, rows, false);
        let already = folder::finished_status(
            source.learner.steps_done(),
            source.config.learning.steps,
            status,
            source.config.horizon == HorizonRule::Budget,
        );
        Ok(Training {
            source,
            session,
            interrupt: None,
            already,
            _lock: lock,
        })
    }

    /// Stops the run (after finishing the current step and writing every
    /// output) as soon as `flag` is non-zero — e.g. set by a signal handler.
    pub fn with_interrupt(mut self, flag: Arc<AtomicUsize>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// The settings (after resolving paths and fitting ZCA).
    pub fn config(&self) -> &TrainingConfig {
        &self.source.config
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> u64 {
        self.source.learner.steps_done()
    }

    /// `Some(status)` when a resumed run had nothing left to do.
    pub fn already_finished(&self) -> Option<Status> {
        self.already
    }

    /// The learner (current dictionary and state).
    pub fn learner(&self) -> &DictionaryLearner {
        &self.source.learner
    }

    /// The training log so far.
    pub fn rows(&self) -> &[TrainingRow] {
        self.session.rows()
    }

    /// Mean exact LASSO objective of the held-out patches for the current
    /// dictionary at the current λ (`None` without held-out patches).
    pub fn score_heldout(&self) -> Result<Option<f64>> {
        self.source.score_heldout()
    }

    /// Runs steps until the step limit, the time budget or an interrupt, then
    /// writes every output (dictionary, pictures, log, checkpoint, config).
    /// A run fitted to its time budget re-plans its horizon as it goes
    /// ([`BudgetPlanner`]); the observer hears of each new horizon.
    /// A failure (a full disk) says how to continue: the run resumes from its
    /// last checkpoint.
    pub fn run(&mut self, observer: &mut dyn Observer) -> Result<TrainingReport> {
        let out = self.source.out.clone();
        self.run_session(observer)
            .map_err(|e| folder::with_way_to_continue(e, &out))
    }

    fn run_session(&mut self, observer: &mut dyn Observer) -> Result<TrainingReport> {
        let start_step = self.source.learner.steps_done();
        observer.started(&StartInfo {
            images: self.source.set.len(),
            resumed_at: start_step,
            steps: self.source.config.learning.steps,
            n_features: self.source.stream.dim(),
            heldout_patches: self.source.heldout.as_ref().map_or(0, |h| h.ncols()),
        });
        if let Some(status) = self.already {
            return Ok(self.report(status, start_step, 0.0));
        }
        let session = Instant::now();
        let monitor = Monitor {
            progress: None,
            cancel: self.interrupt.as_deref(),
        };
        let status = self.session.run(&mut self.source, observer, &monitor)?;
        Ok(self.report(status, start_step, session.elapsed().as_secs_f64()))
    }

    fn report(&self, status: Status, start_step: u64, secs: f64) -> TrainingReport {
        let s = &self.source;
        let facts = ReportFacts {
            elapsed: s.elapsed,
            steps_done: s.learner.steps_done(),
            start_step,
            images: s.set.len(),
            decodes: s.set.decode_count(),
        };
        let mut report = folder::report(self.session.rows(), facts, status, secs);
        report.time = Some(TimeUse {
            rule: s.config.horizon,
            horizon: s.config.learning.steps,
            steps: s.learner.steps_done(),
            seconds: self.session.planner().used(),
            budget: s.config.max_seconds,
        });
        report
    }
}

/// Refuses up front a run that cannot fit in the memory available.
fn check_memory(config: &TrainingConfig, channels: usize) -> Result<()> {
    let needed = config.memory_needed(channels);
    match available_memory() {
        Some(avail) if needed > avail => Err(Error::setting(
            "atoms",
            format!(
                "{} atoms of {} values need about {} of memory, more than the {} available",
                config.atoms,
                config.n_features(channels),
                gib(needed),
                gib(avail)
            ),
        )),
        _ => Ok(()),
    }
}

impl<'c> PatchFolder<'c> {
    fn assemble(
        mut config: TrainingConfig,
        out: &Path,
        set: ImageSet,
        resume: Option<(super::learn::LearnerState, f64)>,
        comm: &'c dyn Communicator,
    ) -> Result<Self> {
        let set = Arc::new(set);
        let mut pre = Preprocessor::new(config.preprocessing)?;
        match (&config.zca, config.preprocessing.whiten) {
            (Some(zca), _) => pre.set_zca(zca.clone())?,
            (None, Whitening::Zca { .. }) => {
                let mut rng = crate::image::zca_rng(config.seed);
                pre = Preprocessor::fit(config.preprocessing, &set, config.patch_size, &mut rng)?;
                config.zca = pre.zca().cloned();
            }
            _ => {}
        }
        let params = PatchStreamParams {
            heldout_patches: config.heldout_patches,
            ..PatchStreamParams::new(config.patch_size, config.batch_size, config.seed)
        };
        let mut stream = PatchStream::shared(Arc::clone(&set), Arc::new(pre), params, comm)?;
        let heldout = stream.heldout()?;
        let (learner, elapsed) = match resume {
            Some((state, seconds)) => (
                DictionaryLearner::resume(config.learning.clone(), state)?,
                seconds,
            ),
            None => {
                let init = initial_dictionary(&config, &mut stream, set.channels())?;
                (DictionaryLearner::new(config.learning.clone(), init)?, 0.0)
            }
        };
        Ok(PatchFolder {
            config,
            out: out.to_path_buf(),
            set,
            stream,
            heldout,
            learner,
            elapsed,
            comm,
        })
    }

    /// The session of a run opened at `opened` with the log `rows` of
    /// earlier sessions. Until a held-out scoring is timed, the planner
    /// costs it as many steps as its patches are batches, twice over (it
    /// solves to tolerance 0).
    fn session(&self, opened: Instant, rows: Vec<TrainingRow>, replan: bool) -> Session<'c> {
        let heldout = self.heldout.as_ref().map_or(0, |h| h.ncols()) as f64;
        let planned = self.config.horizon == HorizonRule::Budget && !replan;
        let budget = self.config.max_seconds.filter(|_| !planned);
        let planner = BudgetPlanner::new(budget, opened, self.elapsed, replan)
            .scoring_like(2.0 * heldout / self.config.batch_size as f64);
        let cadence = Cadence {
            log_seconds: Some(LOG_SECONDS),
            ..Cadence::folder(
                self.config.heldout_every,
                self.config.checkpoint_every,
                LOG_EVERY,
            )
        };
        Session::new(self.comm, planner, cadence, rows, self.elapsed)
    }

    fn score_heldout(&self) -> Result<Option<f64>> {
        let Some(x) = &self.heldout else {
            return Ok(None);
        };
        let step = self.learner.steps_done().saturating_sub(1);
        let lambda = self.config.learning.lambda_at(step);
        let dict = self.learner.dictionary()?;
        let lca = self
            .config
            .learning
            .lca
            .clone()
            .lambda(lambda)
            .tol(0.0)
            .check()?;
        let codes = encode_codes(self.comm, &lca, &dict, x)?;
        let total: f64 = crate::solver::lasso_objectives(&dict, x, &codes, lambda)
            .iter()
            .sum();
        Ok(Some(total / x.ncols().max(1) as f64))
    }

    /// Writes every output of the current state (rank 0 of a job only).
    fn finish(&mut self, status: Status, rows: &[TrainingRow], seconds: f64) -> Result<()> {
        if !self.comm.is_root() {
            return Ok(());
        }
        self.write_dictionary()?;
        self.write_log(rows)?;
        if !rows.is_empty() {
            crate::plot::write_training_png(&self.out.join("training.png"), rows)?;
        }
        save_checkpoint(&self.out, self.learner.state(), seconds)?;
        self.write_config(status, seconds)
    }

    fn write_config(&self, status: Status, seconds: f64) -> Result<()> {
        if !self.comm.is_root() {
            return Ok(());
        }
        let mut config = self.config.clone();
        config.progress = Some(Progress {
            steps_done: self.learner.steps_done(),
            seconds,
            status,
        });
        folder::write_config(&self.out, &config)
    }

    /// Writes the whole training log atomically, so it is never seen half-written.
    fn write_log(&self, rows: &[TrainingRow]) -> Result<()> {
        if !self.comm.is_root() {
            return Ok(());
        }
        folder::write_log(&self.out, rows)
    }

    fn write_dictionary(&self) -> Result<()> {
        if !self.comm.is_root() {
            return Ok(());
        }
        let atoms = &self.learner.state().atoms;
        let (n, k) = atoms.shape();
        crate::io::npy::write_matrix(&self.out.join("dictionary.npy"), k, n, atoms.as_slice())?;
        let channels = self.set.channels();
        crate::plot::write_titled_atoms_png(
            &self.out.join("atoms.png"),
            atoms.as_slice(),
            k,
            n,
            channels,
            &self.config.title(self.learner.steps_done()),
        )
    }
}

impl Step for PatchFolder<'_> {
    fn steps_done(&self) -> u64 {
        self.learner.steps_done()
    }

    fn horizon(&self) -> u64 {
        self.config.learning.steps
    }

    fn revise_horizon(&mut self, step: u64, horizon: u64) {
        self.config.learning.revise_horizon(step, horizon);
        self.learner.revise_horizon(step, horizon);
    }

    fn step(&mut self, step: u64) -> Result<TrainingRow> {
        let batch = self.stream.batch(step)?;
        let stats = (self.learner).step_shared(&batch, self.config.batch_size, self.comm)?;
        Ok(stats.row(step + 1))
    }

    fn score_heldout(&mut self) -> Result<Option<f64>> {
        PatchFolder::score_heldout(self)
    }

    fn take_warnings(&mut self) -> Vec<String> {
        self.stream.take_warnings()
    }

    fn save(&mut self, what: Save<'_>) -> Result<()> {
        match what {
            Save::Log(rows) => self.write_log(rows),
            Save::Checkpoint { seconds, .. } => {
                self.write_dictionary()?;
                if self.comm.is_root() {
                    save_checkpoint(&self.out, self.learner.state(), seconds)?;
                }
                self.write_config(Status::Running, seconds)
            }
            Save::Final {
                status,
                rows,
                seconds,
            } => self.finish(status, rows, seconds),
        }
    }
}

/// The initial atoms of a new run: the `init` file's, or random patches.
fn initial_dictionary(
    config: &TrainingConfig,
    stream: &mut PatchStream<'_>,
    channels: usize,
) -> Result<Dictionary> {
    let (n, k) = (config.n_features(channels), config.atoms);
    let Some(path) = &config.init else {
        return Dictionary::from_atoms(stream.initial_patches(k)?);
    };
    let m = crate::io::npy::read_matrix(path)?;
    if m.rows != k || m.cols != n {
        return Err(Error::format(
            path,
            format!(
                "initial dictionary has shape ({}, {}), expected ({k}, {n}) for {k} atoms of {}×{}×{channels} patches",
                m.rows, m.cols, config.patch_size, config.patch_size
            ),
        ));
    }
    Dictionary::from_rows(k, n, m.data).map_err(|e| Error::format(path, e.to_string()))
}

/// Opens the images of a run (warning once per skipped file); `recorded_in`
/// names the config a path came from, for the error when it is gone.
fn open_images(
    config: &TrainingConfig,
    observer: &mut dyn Observer,
    recorded_in: Option<&Path>,
) -> Result<ImageSet> {
    let set = folder::open_images(
        config.images.as_deref(),
        config.recursive,
        config.preprocessing.load_options(),
        observer,
        recorded_in,
    )?;
    for w in set.check_patch(config.patch_size)? {
        observer.warning(&w);
    }
    Ok(set)
}
