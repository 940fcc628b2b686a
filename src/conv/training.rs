//! The convolutional dictionary-learning run over a folder of images: the
//! conv-folder source under the learning session ([`crate::learning`]), with
//! the same outputs, observer, checkpoints and resume as patch learning,
//! whole images (or large random crops) coded by the convolutional LCA
//! instead of patches.
//!
//! Each step draws `images_per_step` training images and a random square crop
//! of each (seeded by `(seed, step)`, so a resumed run draws what the
//! uninterrupted one would), codes them with [`ConvLca`](super::ConvLca) at the run's λ with
//! circular boundaries, and hands the codes to the [`ConvLearner`]. The last
//! `heldout_images` images (in name order) are never trained on: the centre
//! crop of each is coded with the current filters and its objective per pixel
//! is the `heldout_energy` column of `training.csv`.
//!
//! ```no_run
//! use lca::conv::{ConvTraining, ConvTrainingConfig};
//! use lca::dictionary::NoObserver;
//! use lca::distributed::SingleProcess;
//! let config = ConvTrainingConfig::default().images(Some("photos/".into()));
//! let mut run = ConvTraining::start(config, "out/".as_ref(), &SingleProcess, &mut NoObserver).unwrap();
//! let report = run.run(&mut NoObserver).unwrap();
//! println!("{} steps, held-out objective {:?}", report.steps_done, report.heldout_energy);
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::checkpoint::{read_conv_checkpoint, save_conv_checkpoint};
use super::crops::{centre_crop, initial_filters, step_crops};
use super::learn::{ConvLearnParams, ConvLearner, ConvLearnerState, FilterShapeNd};
use super::learn_step::ConvStep;
use super::signal_set::{SignalSet, learning_dims};
use super::{Boundary, ConvDictionary, ConvLcaParams, Planes, tikhonov_highpass};
use crate::distributed::{Communicator, SINGLE_PROCESS};
use crate::error::{Error, Result};
use crate::image::{ImageSet, LoadOptions};

use crate::io::npy::NpyArray;
use crate::learning::run_folder::{self as folder, ReportFacts, absolute};
use crate::learning::{BudgetPlanner, HorizonRule, TimeUse};
use crate::learning::{
    Cadence, Observer, Progress, Save, Session, StartInfo, Status, Step, TrainingReport,
};
use crate::learning::{RunLock, TrainingRow, UNBOUNDED_STEPS};
use crate::settings::Checked;
use crate::solver::Monitor;

/// Steps between rewrites of `training.csv` (a conv step takes far longer
/// than a patch step).
const LOG_EVERY: u64 = 10;

/// Bytes of pre-processed training images kept between steps.
const PREPROCESSED_BYTES: usize = 256 << 20;

/// Every setting of a convolutional run, written to `config.json` (which
/// `--resume` reads back). The `conv` key marks the run as convolutional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConvTrainingConfig {
    /// Version of the crate that started the run.
    pub crate_version: String,
    /// Image folder (absolute once the run starts); `None`: the embedded
    /// samples. With `conv.dims` 1 a folder of `.wav` files, and for any
    /// dimension an `.npy` of signals in a layout of it.
    pub images: Option<PathBuf>,
    /// Also read images in sub-folders.
    pub recursive: bool,
    /// Number of filters.
    pub atoms: usize,
    /// Learning steps ([`UNBOUNDED_STEPS`]: until `max_seconds`).
    pub steps: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Initial filters (absolute path to a `.npy`) instead of random image windows.
    pub init: Option<PathBuf>,
    /// Steps between checkpoints (0: every 60 s of training).
    pub checkpoint_every: u64,
    /// Time budget in seconds: the run ends within about this much wall
    /// time, final scoring and writing included.
    pub max_seconds: Option<f64>,
    /// Where `steps` comes from: with [`HorizonRule::Auto`] (the default)
    /// and a time budget, the run measures its pace and sets `steps` to fill
    /// the budget ([`HorizonRule::Budget`], recorded, kept on resume);
    /// otherwise `steps` is kept ([`HorizonRule::Given`]).
    #[serde(default = "HorizonRule::legacy")]
    pub horizon: HorizonRule,
    /// Keep RGB (`C×k×k` filters) instead of luminance.
    pub color: bool,
    /// Image shrink factor ≥ 1 before anything else.
    pub downscale: f32,
    /// Filter size, λ, high-pass, crops, held-out images, dictionary update.
    pub conv: ConvLearnParams,
    /// The sparse coder's settings (its λ and boundary are set from `conv`).
    pub coder: ConvLcaParams,
    /// Where the run stands (written by the loop).
    #[serde(default)]
    pub progress: Option<Progress>,
}

crate::settings::setters!(ConvTrainingConfig {
    crate_version: String,
    images: Option<PathBuf>,
    recursive: bool,
    atoms: usize,
    steps: u64,
    seed: u64,
    init: Option<PathBuf>,
    checkpoint_every: u64,
    max_seconds: Option<f64>,
    horizon: HorizonRule,
    color: bool,
    downscale: f32,
    conv: ConvLearnParams,
    coder: ConvLcaParams,
    progress: Option<Progress>,
});

impl Default for ConvTrainingConfig {
    fn default() -> Self {
        ConvTrainingConfig {
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            images: None,
            recursive: false,
            atoms: super::learn::defaults::ATOMS,
            steps: super::learn::defaults::STEPS,
            seed: 0,
            init: None,
            checkpoint_every: 0,
            max_seconds: None,
            horizon: HorizonRule::Auto,
            color: false,
            downscale: 1.0,
            conv: ConvLearnParams::default(),
            // Greedy settling while learning: at the loose coder tolerance on
            // 128×128 crops it took half the time of the accelerated schedule
            // (0.41 s against 0.84 s on one core, G:12x12x36, λ = 0.1), and
            // the learning figures in BENCHMARKS.md were measured with it.
            coder: ConvLcaParams::default()
                .tol(super::learn::defaults::CODER_TOL)
                .schedule(super::Schedule::Greedy { segment: None }),
            progress: None,
        }
    }
}

impl ConvTrainingConfig {
    /// The defaults of a `dims`-dimensional run ([`ConvLearnParams::for_dims`]).
    pub fn for_dims(dims: usize) -> Result<ConvTrainingConfig> {
        Ok(ConvTrainingConfig::default().conv(ConvLearnParams::for_dims(dims)?))
    }

    /// Checks every setting (before anything is read or written).
    pub fn check(self) -> Result<Checked<ConvTrainingConfig>> {
        self.conv.clone().check()?;
        if self.conv.dims != 2 && (self.color || self.downscale != 1.0) {
            return Err(Error::setting(
                "dims",
                "colour and downscaling apply to pictures (2-D), not to 1-D or 3-D signals",
            ));
        }
        self.load_options().check()?;
        self.coder_params().check()?;
        if self.atoms == 0 {
            return Err(Error::setting("atoms", "must be at least 1"));
        }
        if self.steps == 0 {
            return Err(Error::setting("steps", "must be at least 1"));
        }
        if self.steps == UNBOUNDED_STEPS && self.max_seconds.is_none() {
            return Err(Error::setting(
                "steps",
                "no step limit needs a time budget (max seconds)",
            ));
        }
        if let Some(s) = self.max_seconds
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::setting(
                "max-seconds",
                format!("must be finite and > 0, got {s}"),
            ));
        }
        self.horizon.check(self.max_seconds)?;
        Ok(Checked::assume_valid(self))
    }

    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            color: self.color,
            downscale: self.downscale,
        }
    }

    /// The coder with the run's λ and the circular boundary the learner's
    /// statistics assume.
    pub fn coder_params(&self) -> ConvLcaParams {
        self.coder
            .clone()
            .lambda(self.conv.lambda)
            .boundary(Boundary::Circular)
    }

    fn shape(&self, channels: usize) -> FilterShapeNd {
        self.conv.filter_shape(self.atoms, channels)
    }
}

/// Whether the `config.json` text is that of a convolutional run.
pub fn is_conv_config(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| v.get("conv").is_some())
}

/// A convolutional dictionary-learning run bound to its output folder: the
/// image-folder source under a learning [`Session`] (one process).
pub struct ConvTraining {
    source: ConvFolder,
    session: Session<'static>,
    interrupt: Option<Arc<AtomicUsize>>,
    already: Option<Status>,
    /// The hold on the output folder: no other run writes to it.
    _lock: Option<RunLock>,
}

/// What a step of convolutional learning from a folder reads and changes,
/// and the run's outputs.
struct ConvFolder {
    config: ConvTrainingConfig,
    out: PathBuf,
    set: SignalSet,
    /// Indices of training images.
    train: Vec<usize>,
    /// Centre crops of the held-out images, pre-processed.
    heldout: Vec<Planes>,
    /// Pre-processed training images (high-passing a whole image costs
    /// more than cropping it), kept while they fit [`PREPROCESSED_BYTES`].
    preprocessed: std::collections::HashMap<usize, Arc<Planes>>,
    step: ConvStep,
    /// Training seconds of earlier sessions.
    elapsed: f64,
}

impl ConvTraining {
    /// Starts a new run: checks the settings and opens the images, and only
    /// then creates `out` and writes `config.json` (a failed start leaves no
    /// folder behind). Convolutional learning runs in one process: `comm`
    /// must have one rank.
    pub fn start(
        config: ConvTrainingConfig,
        out: &Path,
        comm: &dyn Communicator,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        one_process(comm)?;
        let opened = Instant::now();
        let mut config = config.check()?.into_inner();
        // The online rule has no schedule: the step count only says when to
        // stop, so a budget alone sets it and nothing scales it otherwise.
        config.horizon = match (config.horizon, config.max_seconds) {
            (HorizonRule::Auto | HorizonRule::Budget, Some(_)) => HorizonRule::Budget,
            _ => HorizonRule::Given,
        };
        config.crate_version = env!("CARGO_PKG_VERSION").to_string();
        config.images = config.images.as_deref().map(absolute).transpose()?;
        config.init = config.init.as_deref().map(absolute).transpose()?;
        config.progress = None;
        let set = open_signals(&config, observer, None)?;
        if out.exists() && !out.is_dir() {
            return Err(Error::format(out, "output exists and is not a folder"));
        }
        let replan = config.horizon == HorizonRule::Budget;
        let source = ConvFolder::assemble(config, out, set, None)?;
        let session = source.session(opened, Vec::new(), replan);
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let run = ConvTraining {
            source,
            session,
            interrupt: None,
            already: None,
            _lock: Some(RunLock::acquire(out, observer)?),
        };
        run.source.write_config(Status::Running, 0.0)?;
        folder::write_log(out, &[])?;
        Ok(run)
    }

    /// Reopens the run in `out` from its `config.json` and checkpoint; without
    /// a checkpoint the run starts again from step 0, with a warning. `comm`
    /// must have one rank, as for [`ConvTraining::start`].
    pub fn resume(
        out: &Path,
        comm: &dyn Communicator,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        one_process(comm)?;
        let opened = Instant::now();
        // The lock first: a run starting in `out` takes it before writing its config.
        let lock = out
            .is_dir()
            .then(|| RunLock::acquire(out, observer))
            .transpose()?;
        let (config, path) = folder::read_config::<ConvTrainingConfig>(out, "lca learn --conv")?;
        let config = config
            .check()
            .map_err(|e| Error::format(&path, e.to_string()))?
            .into_inner();
        folder::check_recorded_paths(config.images.iter().chain(&config.init), &path)?;
        crate::io::atomic::remove_stale_temporaries(out)?;
        let set = open_signals(&config, observer, Some(&path))?;
        let shape = config.shape(set.channels());
        let read = |p: &Path| read_conv_checkpoint(p, shape);
        let resume_state = folder::load_checkpoint(out, observer, read, |s| s.0.step)?;
        let status = config.progress.map(|p| p.status);
        let rows = match &resume_state {
            Some((state, _)) => folder::resumed_rows(out, state.step)?,
            None => Vec::new(),
        };
        let source = ConvFolder::assemble(config, out, set, resume_state)?;
        // A resumed run keeps the recorded plan: it never re-plans, and a
        // plan fitted to the budget is run to its end (the start-up of this
        // session was not in it), as the uninterrupted run would have.
        let session = source.session(opened, rows, false);
        let already = folder::finished_status(
            source.step.learner.steps_done(),
            source.config.steps,
            status,
            source.config.horizon == HorizonRule::Budget,
        );
        Ok(ConvTraining {
            source,
            session,
            interrupt: None,
            already,
            _lock: lock,
        })
    }

    /// Stops the run (after finishing the current step and writing every
    /// output) as soon as `flag` is non-zero.
    pub fn with_interrupt(mut self, flag: Arc<AtomicUsize>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// The settings (after resolving paths).
    pub fn config(&self) -> &ConvTrainingConfig {
        &self.source.config
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> u64 {
        self.source.step.learner.steps_done()
    }

    /// `Some(status)` when a resumed run had nothing left to do.
    pub fn already_finished(&self) -> Option<Status> {
        self.already
    }

    /// The learner (filters and statistics).
    pub fn learner(&self) -> &ConvLearner {
        &self.source.step.learner
    }

    /// The current filters as a unit-norm dictionary.
    pub fn dictionary(&self) -> Result<ConvDictionary> {
        self.source.step.dictionary()
    }

    /// The training log so far.
    pub fn rows(&self) -> &[TrainingRow] {
        self.session.rows()
    }

    /// Mean objective per pixel of the held-out centre crops under the
    /// current filters (`None` without held-out images).
    pub fn score_heldout(&self) -> Result<Option<f64>> {
        self.source.step.score(&self.source.heldout)
    }

    /// Runs steps until the step limit, the time budget or an interrupt, then
    /// writes every output (filters, pictures, log, checkpoint, config).
    /// A failure (a full disk) says how to continue: the run resumes from its
    /// last checkpoint.
    pub fn run(&mut self, observer: &mut dyn Observer) -> Result<TrainingReport> {
        let out = self.source.out.clone();
        self.run_session(observer)
            .map_err(|e| folder::with_way_to_continue(e, &out))
    }

    fn run_session(&mut self, observer: &mut dyn Observer) -> Result<TrainingReport> {
        let start_step = self.steps_done();
        observer.started(&StartInfo {
            images: self.source.set.len(),
            resumed_at: start_step,
            steps: self.source.config.steps,
            n_features: self.source.step.learner.shape().filter_len(),
            heldout_patches: self.source.heldout.len(),
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
            steps_done: s.step.learner.steps_done(),
            start_step,
            images: s.set.len(),
            decodes: s.set.decode_count(),
        };
        let mut report = folder::report(self.session.rows(), facts, status, secs);
        report.time = Some(TimeUse {
            rule: s.config.horizon,
            horizon: s.config.steps,
            steps: s.step.learner.steps_done(),
            seconds: self.session.planner().used(),
            budget: s.config.max_seconds,
        });
        report
    }
}

impl ConvFolder {
    fn assemble(
        config: ConvTrainingConfig,
        out: &Path,
        set: SignalSet,
        resume: Option<(ConvLearnerState, f64)>,
    ) -> Result<Self> {
        let shape = config.shape(set.channels());
        let (train, held) = split_images(&set, &config)?;
        let heldout = held
            .iter()
            .map(|&i| {
                let img = preprocess(&set, i, &config)?;
                Ok(centre_crop(&img, config.conv.heldout_extent()))
            })
            .collect::<Result<Vec<_>>>()?;
        let coder = config.coder_params().check()?;
        let (sweeps, forgetting) = (config.conv.dict_sweeps, config.conv.forgetting);
        let (learner, elapsed) = match resume {
            Some((state, seconds)) => (
                ConvLearner::resume(shape, forgetting, sweeps, state)?,
                seconds,
            ),
            None => {
                let init = match &config.init {
                    Some(path) => read_initial_filters(path, shape)?,
                    None => {
                        let mut cache: Vec<Option<Arc<Planes>>> = vec![None; train.len()];
                        initial_filters(config.seed, shape, train.len(), |j| {
                            if cache[j].is_none() {
                                cache[j] = Some(Arc::new(preprocess(&set, train[j], &config)?));
                            }
                            Ok(cache[j].clone().unwrap_or_else(|| unreachable!()))
                        })?
                    }
                };
                let learner = ConvLearner::new(shape, init, forgetting, sweeps)?;
                (learner, 0.0)
            }
        };
        let lambda = config.conv.lambda;
        Ok(ConvFolder {
            config,
            out: out.to_path_buf(),
            set,
            train,
            heldout,
            preprocessed: std::collections::HashMap::new(),
            step: ConvStep {
                coder,
                learner,
                lambda,
            },
            elapsed,
        })
    }

    /// The session of a run opened at `opened` with the log `rows` of
    /// earlier sessions. Until a held-out scoring is timed, the planner
    /// costs it as many steps as its pixels are steps' pixels.
    fn session(&self, opened: Instant, rows: Vec<TrainingRow>, replan: bool) -> Session<'static> {
        let c = &self.config.conv;
        let crop = c.crop_extent().unwrap_or(c.heldout_extent());
        let step_pixels = (c.images_per_step * crop.iter().product::<usize>()).max(1) as f64;
        let heldout_pixels = (self.heldout.iter()).map(Planes::plane_len).sum::<usize>() as f64;
        let planned = self.config.horizon == HorizonRule::Budget && !replan;
        let budget = self.config.max_seconds.filter(|_| !planned);
        let planner = BudgetPlanner::new(budget, opened, self.elapsed, replan)
            .scoring_like(heldout_pixels / step_pixels);
        let cadence = Cadence::folder(c.heldout_every, self.config.checkpoint_every, LOG_EVERY);
        Session::new(&SINGLE_PROCESS, planner, cadence, rows, self.elapsed)
    }

    /// Training image `i` pre-processed, from the cache when it is there.
    fn training_image(&mut self, i: usize) -> Result<Arc<Planes>> {
        if let Some(img) = self.preprocessed.get(&i) {
            return Ok(Arc::clone(img));
        }
        let img = Arc::new(preprocess(&self.set, i, &self.config)?);
        let held: usize = self.preprocessed.values().map(|p| p.data.len() * 4).sum();
        if held + img.data.len() * 4 <= PREPROCESSED_BYTES {
            self.preprocessed.insert(i, Arc::clone(&img));
        }
        Ok(img)
    }

    fn finish(&mut self, status: Status, rows: &[TrainingRow], seconds: f64) -> Result<()> {
        self.write_dictionary()?;
        folder::write_log(&self.out, rows)?;
        if !rows.is_empty() {
            crate::plot::write_training_png(&self.out.join("training.png"), rows)?;
        }
        let learner = &self.step.learner;
        save_conv_checkpoint(&self.out, learner.state(), learner.shape_nd(), seconds)?;
        self.write_config(status, seconds)
    }

    fn write_config(&self, status: Status, seconds: f64) -> Result<()> {
        let mut config = self.config.clone();
        config.progress = Some(Progress {
            steps_done: self.step.learner.steps_done(),
            seconds,
            status,
        });
        folder::write_config(&self.out, &config)
    }

    /// `dictionary.npy` as `(n_filters, k, k)` (grey) or `(n_filters, C, k,
    /// k)` for 2-D filters, PyTorch's `(n_filters, C, k)` and `(n_filters,
    /// C, kd, kh, kw)` for 1-D and 3-D ones; and `atoms.png` (curves for
    /// 1-D kernels, slices for 3-D ones).
    fn write_dictionary(&self) -> Result<()> {
        let s = self.step.learner.shape_nd();
        let filters = self.step.learner.filters();
        let title = self.config.title(self.step.learner.steps_done());
        let png = self.out.join("atoms.png");
        if s.dims != 2 {
            crate::io::npy::write_npy(
                &self.out.join("dictionary.npy"),
                &NpyArray::from_f32(s.torch_shape(), filters)?,
            )?;
            return crate::plot::write_kernels_png(&png, filters, s, &title);
        }
        let k = s.extent[2];
        let shape = if s.channels == 1 {
            vec![s.atoms, k, k]
        } else {
            vec![s.atoms, s.channels, k, k]
        };
        crate::io::npy::write_npy(
            &self.out.join("dictionary.npy"),
            &NpyArray::from_f32(shape, filters)?,
        )?;
        // atoms.png draws pixel-interleaved patches: (C, k, k) → (k, k, C).
        let kk = k * k;
        let mut interleaved = vec![0.0f32; filters.len()];
        for m in 0..s.atoms {
            for c in 0..s.channels {
                for p in 0..kk {
                    interleaved[m * s.filter_len() + p * s.channels + c] =
                        filters[m * s.filter_len() + c * kk + p];
                }
            }
        }
        crate::plot::write_titled_atoms_png(
            &png,
            &interleaved,
            s.atoms,
            s.filter_len(),
            s.channels,
            &title,
        )
    }
}

impl Step for ConvFolder {
    fn steps_done(&self) -> u64 {
        self.step.learner.steps_done()
    }

    fn horizon(&self) -> u64 {
        self.config.steps
    }

    fn revise_horizon(&mut self, _step: u64, horizon: u64) {
        self.config.steps = horizon;
    }

    fn step(&mut self, step: u64) -> Result<TrainingRow> {
        let c = &self.config;
        let (seed, count, crop, n) = (
            c.seed,
            c.conv.images_per_step,
            (c.conv.dims, c.conv.crop_extent()),
            self.train.len(),
        );
        let crops = step_crops(seed, step, count, crop, n, |j| {
            self.training_image(self.train[j])
        })?;
        self.step.learn_on(&crops)
    }

    fn score_heldout(&mut self) -> Result<Option<f64>> {
        self.step.score(&self.heldout)
    }

    fn take_warnings(&mut self) -> Vec<String> {
        self.set.take_warnings()
    }

    fn save(&mut self, what: Save<'_>) -> Result<()> {
        match what {
            Save::Log(rows) => folder::write_log(&self.out, rows),
            Save::Checkpoint { seconds, .. } => {
                self.write_dictionary()?;
                let learner = &self.step.learner;
                save_conv_checkpoint(&self.out, learner.state(), learner.shape_nd(), seconds)?;
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

/// Refuses a job of several ranks: every rank would learn alone and write
/// the same folder.
fn one_process(comm: &dyn Communicator) -> Result<()> {
    if comm.size() > 1 {
        return Err(Error::setting(
            "ranks",
            format!(
                "convolutional learning runs in one process, not over {} ranks: start it without mpirun",
                comm.size()
            ),
        ));
    }
    Ok(())
}

/// The usable images (at least `2k − 1` pixels a side; signals at least
/// `2k − 1` samples along each axis) split into the training images and the
/// held-out ones (the last in name order).
fn split_images(set: &SignalSet, config: &ConvTrainingConfig) -> Result<(Vec<usize>, Vec<usize>)> {
    let k = config.conv.kernel_extent();
    let usable: Vec<usize> = (0..set.len())
        .filter(|&i| (set.extent(i).iter().zip(&k)).all(|(&e, &k)| e >= 2 * k - 1))
        .collect();
    let n_heldout = config.conv.heldout_images;
    if usable.len() <= n_heldout {
        let dims = config.conv.dims;
        let what = if dims == 2 {
            let k = k[2];
            format!("image(s) (at least {}×{} pixels)", 2 * k - 1, 2 * k - 1)
        } else {
            let at_least: Vec<String> = k[3 - dims..]
                .iter()
                .map(|k| (2 * k - 1).to_string())
                .collect();
            format!("signal(s) (at least {} samples)", at_least.join("×"))
        };
        let message = format!(
            "{} usable {what} leave none for training with {n_heldout} held out",
            usable.len()
        );
        return Err(match (&config.images, dims) {
            (Some(path), 1 | 3) => Error::format(path, message),
            _ => Error::setting("heldout-images", message),
        });
    }
    let (train, held) = usable.split_at(usable.len() - n_heldout);
    Ok((train.to_vec(), held.to_vec()))
}

/// Initial filters from a `.npy` of `shape`, normalised.
fn read_initial_filters(path: &Path, shape: FilterShapeNd) -> Result<Vec<f32>> {
    if shape.dims != 2 {
        let d = ConvDictionary::read_npy(path, shape.dims, true)?;
        if (d.n_filters(), d.channels(), d.kernel_shape())
            != (shape.atoms, shape.channels, shape.kernel_shape())
        {
            let mut got = vec![d.n_filters(), d.channels()];
            got.extend_from_slice(d.kernel_shape());
            return Err(Error::format(
                path,
                format!(
                    "initial filters have shape {}, expected {}",
                    super::shape_text(&got),
                    super::shape_text(&shape.torch_shape())
                ),
            ));
        }
        return Ok(d.data().to_vec());
    }
    let k = shape.extent[2];
    let d = ConvDictionary::from_npy_normalized(path)?;
    let got = (d.n_filters(), d.channels(), d.kernel_size());
    if got != (shape.atoms, shape.channels, k) {
        return Err(Error::format(
            path,
            format!(
                "initial filters are {}×{}×{k2}×{k2}, expected {}×{}×{k}×{k}",
                got.0,
                got.1,
                shape.atoms,
                shape.channels,
                k2 = got.2
            ),
        ));
    }
    Ok(d.data().to_vec())
}

/// Signal `i` pre-processed: a picture as `(C, H, W)` planes in [0, 1],
/// high-passed when the run asks; a signal as it was read, each row (1-D)
/// or slice (3-D) of each channel high-passed when the run asks.
fn preprocess(set: &SignalSet, i: usize, config: &ConvTrainingConfig) -> Result<Planes> {
    let set = match set {
        SignalSet::Pictures(set) => set,
        SignalSet::Signals(signals) => {
            let mut signal = Planes::clone(&signals[i]);
            if config.conv.highpass > 0.0 {
                let [_, h, w] = signal.extent();
                for slice in signal.data.chunks_mut(h * w) {
                    let high = tikhonov_highpass(
                        slice,
                        h,
                        w,
                        config.conv.highpass,
                        super::highpass::DEFAULT_PAD,
                    )?;
                    slice.copy_from_slice(&high);
                }
            }
            return Ok(signal);
        }
    };
    let img = set.load(i)?;
    let (h, w, c) = (img.height, img.width, img.channels);
    let mut data = vec![0.0f32; c * h * w];
    for (p, px) in img.data.chunks_exact(c).enumerate() {
        for (ch, &v) in px.iter().enumerate() {
            data[ch * h * w + p] = v;
        }
    }
    if config.conv.highpass > 0.0 {
        for plane in data.chunks_mut(h * w) {
            let high = tikhonov_highpass(
                plane,
                h,
                w,
                config.conv.highpass,
                super::highpass::DEFAULT_PAD,
            )?;
            plane.copy_from_slice(&high);
        }
    }
    Planes::new(c, h, w, data)
}

/// Opens the signals of a run: pictures (warning once per skipped file),
/// `.wav` recordings or an `.npy`, as `conv.dims` and the input say.
fn open_signals(
    config: &ConvTrainingConfig,
    observer: &mut dyn Observer,
    recorded_in: Option<&Path>,
) -> Result<SignalSet> {
    let dims = config.conv.dims;
    let input = config.images.as_deref();
    let is_folder = input.is_none_or(Path::is_dir);
    if is_folder && input.is_none_or(|p| p.exists()) {
        learning_dims(input, Some(dims), config.recursive)?;
    }
    match input {
        Some(path) if dims != 2 || !is_folder => SignalSet::read(path, dims, config.recursive),
        _ => Ok(SignalSet::Pictures(Arc::new(open_images(
            config,
            observer,
            recorded_in,
        )?))),
    }
}

/// Opens the images of a run (warning once per skipped file).
fn open_images(
    config: &ConvTrainingConfig,
    observer: &mut dyn Observer,
    recorded_in: Option<&Path>,
) -> Result<ImageSet> {
    folder::open_images(
        config.images.as_deref(),
        config.recursive,
        config.load_options(),
        observer,
        recorded_in,
    )
}
