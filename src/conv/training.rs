//! The convolutional dictionary-learning run over a folder of images: the
//! same outputs, observer, checkpoints and resume as patch learning
//! ([`crate::dictionary::training`]), with whole images (or large random
//! crops) coded by the convolutional LCA instead of patches.
//!
//! Each step draws `images_per_step` training images and a random square crop
//! of each (seeded by `(seed, step)`, so a resumed run draws what the
//! uninterrupted one would), codes them with [`ConvLca`] at the run's λ with
//! circular boundaries, and hands the codes to the [`ConvLearner`]. The last
//! `heldout_images` images (in name order) are never trained on: the centre
//! crop of each is coded with the current filters and its objective per pixel
//! is the `heldout_energy` column of `training.csv`.
//!
//! ```no_run
//! use lca::conv::{ConvTraining, ConvTrainingConfig};
//! use lca::dictionary::NoObserver;
//! let config = ConvTrainingConfig::default().images(Some("photos/".into()));
//! let mut run = ConvTraining::start(config, "out/".as_ref(), &mut NoObserver).unwrap();
//! let report = run.run(&mut NoObserver).unwrap();
//! println!("{} steps, held-out objective {:?}", report.steps_done, report.heldout_energy);
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::learn::{ConvLearnParams, ConvLearner, ConvLearnerState, FilterShape};
use super::{Boundary, ConvDictionary, ConvLca, ConvLcaParams, Planes, tikhonov_highpass};
use crate::dictionary::UNBOUNDED_STEPS;
use crate::dictionary::horizon::{BudgetPlanner, HorizonRule, TimeUse};
use crate::dictionary::run_folder::{self as folder, ReportFacts, absolute};
use crate::dictionary::{
    Observer, Progress, RunLock, StartInfo, Status, TrainingReport, TrainingRow,
    defaults as patch_defaults,
};
use crate::error::{Error, Result};
use crate::image::{ImageSet, LoadOptions};
use crate::io::npy::NpyArray;
use crate::io::npz;
use crate::settings::Checked;

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
    /// Image folder (absolute once the run starts); `None`: the embedded samples.
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
    /// Checks every setting (before anything is read or written).
    pub fn check(self) -> Result<Checked<ConvTrainingConfig>> {
        self.conv.clone().check()?;
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

    fn shape(&self, channels: usize) -> FilterShape {
        FilterShape {
            atoms: self.atoms,
            channels,
            kernel: self.conv.kernel_size,
        }
    }
}

/// Whether the `config.json` text is that of a convolutional run.
pub fn is_conv_config(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| v.get("conv").is_some())
}

/// A convolutional dictionary-learning run bound to its output folder.
pub struct ConvTraining {
    config: ConvTrainingConfig,
    out: PathBuf,
    set: Arc<ImageSet>,
    /// Indices of training images.
    train: Vec<usize>,
    /// Centre crops of the held-out images, pre-processed.
    heldout: Vec<Planes>,
    /// Pre-processed training images (high-passing a whole image costs
    /// more than cropping it), kept while they fit [`PREPROCESSED_BYTES`].
    preprocessed: std::collections::HashMap<usize, Arc<Planes>>,
    coder: ConvLca,
    learner: ConvLearner,
    rows: Vec<TrainingRow>,
    elapsed: f64,
    interrupt: Option<Arc<AtomicUsize>>,
    already: Option<Status>,
    /// The time budget's clock, and the horizon's planner.
    planner: BudgetPlanner,
    /// The hold on the output folder: no other run writes to it.
    _lock: Option<RunLock>,
}

impl ConvTraining {
    /// Starts a new run: checks the settings and opens the images, and only
    /// then creates `out` and writes `config.json` (a failed start leaves no
    /// folder behind).
    pub fn start(
        config: ConvTrainingConfig,
        out: &Path,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
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
        let set = open_images(&config, observer, None)?;
        if out.exists() && !out.is_dir() {
            return Err(Error::format(out, "output exists and is not a folder"));
        }
        let replan = config.horizon == HorizonRule::Budget;
        let mut run = Self::assemble(config, out, set, None)?;
        run.planner = run.planner(opened, 0.0, replan);
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        run._lock = Some(RunLock::acquire(out, observer)?);
        run.write_config(Status::Running)?;
        run.write_log()?;
        Ok(run)
    }

    /// Reopens the run in `out` from its `config.json` and checkpoint; without
    /// a checkpoint the run starts again from step 0, with a warning.
    pub fn resume(out: &Path, observer: &mut dyn Observer) -> Result<Self> {
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
        let set = open_images(&config, observer, Some(&path))?;
        let shape = config.shape(set.channels());
        let read = |p: &Path| read_conv_checkpoint(p, shape);
        let resume_state = folder::load_checkpoint(out, observer, read, |s| s.0.step)?;
        let status = config.progress.map(|p| p.status);
        let mut run = Self::assemble(config, out, set, resume_state)?;
        // A resumed run keeps the recorded plan: it never re-plans, and a
        // plan fitted to the budget is run to its end (the start-up of this
        // session was not in it), as the uninterrupted run would have.
        run.planner = run.planner(opened, run.elapsed, false);
        run._lock = lock;
        run.already = folder::finished_status(
            run.learner.steps_done(),
            run.config.steps,
            status,
            run.config.horizon == HorizonRule::Budget,
        );
        Ok(run)
    }

    fn assemble(
        config: ConvTrainingConfig,
        out: &Path,
        set: ImageSet,
        resume: Option<(ConvLearnerState, f64)>,
    ) -> Result<Self> {
        let set = Arc::new(set);
        let shape = config.shape(set.channels());
        let k = shape.kernel;
        let usable: Vec<usize> = (0..set.len())
            .filter(|&i| {
                let (w, h) = set.dims(i);
                w >= 2 * k - 1 && h >= 2 * k - 1
            })
            .collect();
        let n_heldout = config.conv.heldout_images;
        if usable.len() <= n_heldout {
            return Err(Error::setting(
                "heldout-images",
                format!(
                    "{} usable image(s) (at least {}×{} pixels) leave none for training with {n_heldout} held out",
                    usable.len(),
                    2 * k - 1,
                    2 * k - 1
                ),
            ));
        }
        let (train, held) = usable.split_at(usable.len() - n_heldout);
        let heldout = held
            .iter()
            .map(|&i| {
                let img = preprocess(&set, i, &config)?;
                Ok(centre_crop(&img, config.conv.heldout_size))
            })
            .collect::<Result<Vec<_>>>()?;
        let coder = config.coder_params().check()?;
        let (learner, rows, elapsed) = match resume {
            Some((state, seconds)) => {
                let rows = folder::resumed_rows(out, state.step)?;
                let learner = ConvLearner::resume(
                    shape,
                    config.conv.forgetting,
                    config.conv.dict_sweeps,
                    state,
                )?;
                (learner, rows, seconds)
            }
            None => {
                let init = match &config.init {
                    Some(path) => {
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
                        d.data().to_vec()
                    }
                    None => initial_filters(&set, train, &config, shape)?,
                };
                let learner =
                    ConvLearner::new(shape, init, config.conv.forgetting, config.conv.dict_sweeps)?;
                (learner, Vec::new(), 0.0)
            }
        };
        Ok(ConvTraining {
            config,
            out: out.to_path_buf(),
            set,
            train: train.to_vec(),
            heldout,
            preprocessed: std::collections::HashMap::new(),
            coder,
            learner,
            rows,
            elapsed,
            interrupt: None,
            already: None,
            planner: BudgetPlanner::new(None, Instant::now(), 0.0, false),
            _lock: None,
        })
    }

    /// The planner of a session opened at `opened`, `prior` seconds into the
    /// run. Until a held-out scoring is timed, it costs as many steps as its
    /// pixels are steps' pixels.
    fn planner(&self, opened: Instant, prior: f64, replan: bool) -> BudgetPlanner {
        let c = &self.config.conv;
        let crop = if c.crop == 0 { c.heldout_size } else { c.crop };
        let step_pixels = (c.images_per_step * crop * crop).max(1) as f64;
        let heldout_pixels = (self.heldout.iter())
            .map(|p| p.height * p.width)
            .sum::<usize>() as f64;
        let planned = self.config.horizon == HorizonRule::Budget && !replan;
        let budget = self.config.max_seconds.filter(|_| !planned);
        BudgetPlanner::new(budget, opened, prior, replan).scoring_like(heldout_pixels / step_pixels)
    }

    /// Stops the run (after finishing the current step and writing every
    /// output) as soon as `flag` is non-zero.
    pub fn with_interrupt(mut self, flag: Arc<AtomicUsize>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// The settings (after resolving paths).
    pub fn config(&self) -> &ConvTrainingConfig {
        &self.config
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> u64 {
        self.learner.steps_done()
    }

    /// `Some(status)` when a resumed run had nothing left to do.
    pub fn already_finished(&self) -> Option<Status> {
        self.already
    }

    /// The learner (current filters and statistics).
    pub fn learner(&self) -> &ConvLearner {
        &self.learner
    }

    /// The current filters as a dictionary.
    pub fn dictionary(&self) -> Result<ConvDictionary> {
        let s = self.learner.shape();
        ConvDictionary::normalized(
            s.atoms,
            s.channels,
            s.kernel,
            self.learner.filters().to_vec(),
        )
    }

    /// The training log so far.
    pub fn rows(&self) -> &[TrainingRow] {
        &self.rows
    }

    /// Mean objective per pixel of the held-out crops for the current
    /// filters (`None` without held-out images).
    pub fn score_heldout(&self) -> Result<Option<f64>> {
        if self.heldout.is_empty() {
            return Ok(None);
        }
        let dict = self.dictionary()?;
        let codes = self.coder.encode(&dict, &self.heldout)?;
        let pixels: usize = self.heldout.iter().map(|p| p.height * p.width).sum();
        let total: f64 = codes.iter().map(|e| e.objective).sum();
        Ok(Some(total / pixels as f64))
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

    /// The crops of step `step`: a pure function of `(seed, step)`.
    fn batch(&mut self, step: u64) -> Result<Vec<Planes>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(step.wrapping_add(1));
        let crop = self.config.conv.crop;
        (0..self.config.conv.images_per_step)
            .map(|_| {
                let i = self.train[rng.random_range(0..self.train.len())];
                let img = self.training_image(i)?;
                let (ch, cw) = if crop == 0 {
                    (img.height, img.width)
                } else {
                    (crop.min(img.height), crop.min(img.width))
                };
                let y0 = rng.random_range(0..=img.height - ch);
                let x0 = rng.random_range(0..=img.width - cw);
                Ok(crop_planes(&img, y0, x0, ch, cw))
            })
            .collect()
    }

    /// Runs steps until the step limit, the time budget or an interrupt, then
    /// writes every output (filters, pictures, log, checkpoint, config).
    /// A failure (a full disk) says how to continue: the run resumes from its
    /// last checkpoint.
    pub fn run(&mut self, observer: &mut dyn Observer) -> Result<TrainingReport> {
        let out = self.out.clone();
        self.run_steps(observer)
            .map_err(|e| folder::with_way_to_continue(e, &out))
    }

    fn run_steps(&mut self, observer: &mut dyn Observer) -> Result<TrainingReport> {
        let start_step = self.learner.steps_done();
        observer.started(&StartInfo {
            images: self.set.len(),
            resumed_at: start_step,
            steps: self.config.steps,
            n_features: self.learner.shape().filter_len(),
            heldout_patches: self.heldout.len(),
        });
        if let Some(status) = self.already {
            return Ok(self.report(status, start_step, 0.0));
        }
        let session = Instant::now();
        let mut training = 0.0f64;
        let mut last_checkpoint = self.elapsed;
        let status = loop {
            let step = self.learner.steps_done();
            if let Some(horizon) = self.planner.plan(step, self.config.steps) {
                self.config.steps = horizon;
                observer.horizon(horizon);
            }
            let total = self.config.steps;
            if step >= total {
                break Status::Completed;
            }
            if self
                .interrupt
                .as_ref()
                .is_some_and(|f| f.load(Ordering::SeqCst) != 0)
            {
                break Status::Interrupted;
            }
            if self.planner.over_budget() {
                break Status::TimeBudget;
            }
            let t0 = Instant::now();
            let crops = self.batch(step)?;
            let dict = self.dictionary()?;
            let codes = self.coder.encode(&dict, &crops)?;
            let coded: Vec<super::CodedImage<'_>> = crops
                .iter()
                .zip(&codes)
                .map(|(x, e)| super::CodedImage {
                    height: x.height,
                    width: x.width,
                    image: &x.data,
                    codes: &e.codes.data,
                })
                .collect();
            self.learner.update(&coded)?;
            training += t0.elapsed().as_secs_f64();
            for w in self.set.take_warnings() {
                observer.warning(&w);
            }
            let done = step + 1;
            let score = done.is_multiple_of(self.config.conv.heldout_every) || done == total;
            let heldout_energy = if score {
                let t = Instant::now();
                let energy = self.score_heldout()?;
                self.planner.scored(t.elapsed().as_secs_f64());
                energy
            } else {
                None
            };
            let row = step_row(
                done,
                self.elapsed + training,
                &crops,
                &codes,
                self.config.conv.lambda,
                heldout_energy,
            );
            self.rows.push(row);
            observer.step(&row);
            let checkpoint = if self.config.checkpoint_every > 0 {
                done.is_multiple_of(self.config.checkpoint_every)
            } else {
                row.seconds - last_checkpoint >= patch_defaults::CHECKPOINT_SECONDS
            };
            if (checkpoint || done.is_multiple_of(LOG_EVERY)) && done < total {
                // The log first: a resume drops rows past its checkpoint.
                self.write_log()?;
            }
            if checkpoint && done < total {
                let t = Instant::now();
                self.write_dictionary()?;
                let (state, shape) = (self.learner.state(), self.learner.shape());
                save_conv_checkpoint(&self.out, state, shape, row.seconds)?;
                self.write_config(Status::Running)?;
                self.planner.wrote(t.elapsed().as_secs_f64());
                last_checkpoint = row.seconds;
                observer.checkpoint(done);
            }
        };
        if folder::last_row_unscored(&self.rows, status, start_step) {
            let score = self.score_heldout()?;
            if let Some(last) = self.rows.last_mut() {
                last.heldout_energy = score;
            }
        }
        self.finish(status)?;
        observer.checkpoint(self.learner.steps_done());
        Ok(self.report(status, start_step, session.elapsed().as_secs_f64()))
    }

    fn report(&self, status: Status, start_step: u64, secs: f64) -> TrainingReport {
        let facts = ReportFacts {
            elapsed: self.elapsed,
            steps_done: self.learner.steps_done(),
            start_step,
            set: &self.set,
        };
        let mut report = folder::report(&self.rows, facts, status, secs);
        report.time = Some(TimeUse {
            rule: self.config.horizon,
            horizon: self.config.steps,
            steps: self.learner.steps_done(),
            seconds: self.planner.used(),
            budget: self.config.max_seconds,
        });
        report
    }

    fn finish(&mut self, status: Status) -> Result<()> {
        self.write_dictionary()?;
        self.write_log()?;
        if !self.rows.is_empty() {
            crate::plot::write_training_png(&self.out.join("training.png"), &self.rows)?;
        }
        let seconds = self.rows.last().map_or(self.elapsed, |r| r.seconds);
        let (state, shape) = (self.learner.state(), self.learner.shape());
        save_conv_checkpoint(&self.out, state, shape, seconds)?;
        self.write_config(status)
    }

    fn write_config(&self, status: Status) -> Result<()> {
        let mut config = self.config.clone();
        config.progress = Some(Progress {
            steps_done: self.learner.steps_done(),
            seconds: self.rows.last().map_or(self.elapsed, |r| r.seconds),
            status,
        });
        folder::write_config(&self.out, &config)
    }

    fn write_log(&self) -> Result<()> {
        folder::write_log(&self.out, &self.rows)
    }

    /// `dictionary.npy` as `(n_filters, k, k)` (grey) or `(n_filters, C, k,
    /// k)`, and `atoms.png`.
    fn write_dictionary(&self) -> Result<()> {
        let s = self.learner.shape();
        let filters = self.learner.filters();
        let shape = if s.channels == 1 {
            vec![s.atoms, s.kernel, s.kernel]
        } else {
            vec![s.atoms, s.channels, s.kernel, s.kernel]
        };
        crate::io::npy::write_npy(
            &self.out.join("dictionary.npy"),
            &NpyArray::from_f32(shape, filters)?,
        )?;
        // atoms.png draws pixel-interleaved patches: (C, k, k) → (k, k, C).
        let kk = s.kernel * s.kernel;
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
            &self.out.join("atoms.png"),
            &interleaved,
            s.atoms,
            s.filter_len(),
            s.channels,
            &crate::plot::conv_run_title(&self.config, self.learner.steps_done()),
        )
    }
}

/// The log row of a step: per-pixel statistics of the coded crops.
fn step_row(
    step: u64,
    seconds: f64,
    crops: &[Planes],
    codes: &[super::ConvEncoding],
    lambda: f32,
    heldout_energy: Option<f64>,
) -> TrainingRow {
    let pixels: usize = crops.iter().map(|p| p.height * p.width).sum();
    let values: usize = crops.iter().map(|p| p.data.len()).sum();
    let coefficients: usize = codes.iter().map(|e| e.codes.data.len()).sum();
    let energy: f64 = codes.iter().map(|e| e.objective).sum();
    let l1: f64 = codes
        .iter()
        .flat_map(|e| &e.codes.data)
        .map(|&v| f64::from(v.abs()))
        .sum();
    let nnz: usize = codes.iter().map(|e| e.codes.nnz()).sum();
    let data_term = (energy - f64::from(lambda) * l1).max(0.0);
    TrainingRow {
        step,
        seconds,
        mse: 2.0 * data_term / values.max(1) as f64,
        l1: l1 / pixels.max(1) as f64,
        active_fraction: nnz as f64 / coefficients.max(1) as f64,
        energy: energy / pixels.max(1) as f64,
        heldout_energy,
    }
}

/// Image `i` as `(C, H, W)` planes in [0, 1], high-passed when the run asks.
fn preprocess(set: &ImageSet, i: usize, config: &ConvTrainingConfig) -> Result<Planes> {
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

fn crop_planes(img: &Planes, y0: usize, x0: usize, h: usize, w: usize) -> Planes {
    let mut data = Vec::with_capacity(img.channels * h * w);
    for c in 0..img.channels {
        let plane = img.plane(c);
        for y in y0..y0 + h {
            data.extend_from_slice(&plane[y * img.width + x0..y * img.width + x0 + w]);
        }
    }
    Planes {
        channels: img.channels,
        height: h,
        width: w,
        data,
    }
}

fn centre_crop(img: &Planes, side: usize) -> Planes {
    let (h, w) = (side.min(img.height), side.min(img.width));
    crop_planes(img, (img.height - h) / 2, (img.width - w) / 2, h, w)
}

/// Random `k×k` windows of the (pre-processed) training images, each with
/// non-negligible energy, as the first filters.
fn initial_filters(
    set: &ImageSet,
    train: &[usize],
    config: &ConvTrainingConfig,
    shape: FilterShape,
) -> Result<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let k = shape.kernel;
    let mut images: Vec<Option<Planes>> = vec![None; train.len()];
    let mut filters = Vec::with_capacity(shape.atoms * shape.filter_len());
    let mut tries = 0usize;
    while filters.len() < shape.atoms * shape.filter_len() {
        tries += 1;
        let j = rng.random_range(0..train.len());
        if images[j].is_none() {
            images[j] = Some(preprocess(set, train[j], config)?);
        }
        let Some(img) = &images[j] else { continue };
        let y0 = rng.random_range(0..=img.height - k);
        let x0 = rng.random_range(0..=img.width - k);
        let window = crop_planes(img, y0, x0, k, k);
        let norm = window.data.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 1e-3 || tries > 100 * shape.atoms {
            let scale = if norm > 1e-12 { 1.0 / norm } else { 1.0 };
            if norm <= 1e-12 {
                // A flat image: a random filter rather than a zero one.
                filters.extend((0..window.data.len()).map(|_| rng.random_range(-1.0f32..1.0)));
            } else {
                filters.extend(window.data.iter().map(|v| v * scale));
            }
        }
    }
    Ok(filters)
}

/// Writes a checkpoint: `filters` `(M, C, k, k)` f32, `stat_r` `(M, M, 2k−1,
/// 2k−1)` and `stat_b` `(M, C, k, k)` f64, `meta` JSON `{"step", "seconds"}`.
pub fn write_conv_checkpoint(path: &Path, state: &ConvLearnerState, seconds: f64) -> Result<()> {
    let arrays = conv_checkpoint_arrays(state, seconds)?;
    let named: Vec<(&str, &NpyArray)> = arrays.iter().map(|(n, a)| (*n, a)).collect();
    npz::write_npz(path, &named)
}

/// Saves `state` as the checkpoint of the run in `out`, verified and keeping
/// the previous one (as patch learning does).
fn save_conv_checkpoint(
    out: &Path,
    state: &ConvLearnerState,
    shape: FilterShape,
    seconds: f64,
) -> Result<()> {
    let arrays = conv_checkpoint_arrays(state, seconds)?;
    let named: Vec<(&str, &NpyArray)> = arrays.iter().map(|(n, a)| (*n, a)).collect();
    folder::save_checkpoint(out, &named, |written| {
        // The state, bit for bit (the seconds are bookkeeping, and JSON
        // does not promise their last bit).
        let (back, _) = read_conv_checkpoint(written, shape)?;
        if back != *state {
            return Err(Error::format(
                written,
                "holds other values than were written",
            ));
        }
        Ok(())
    })
}

/// The arrays of a checkpoint of `state`.
fn conv_checkpoint_arrays(
    state: &ConvLearnerState,
    seconds: f64,
) -> Result<[(&'static str, NpyArray); 4]> {
    let meta = serde_json::json!({ "step": state.step, "seconds": seconds, "rule": "conv-online" })
        .to_string();
    let arrays = [
        (
            "filters",
            NpyArray::from_f32(vec![state.filters.len()], &state.filters)?,
        ),
        (
            "stat_r",
            NpyArray::from_f64(vec![state.stat_r.len()], &state.stat_r)?,
        ),
        (
            "stat_b",
            NpyArray::from_f64(vec![state.stat_b.len()], &state.stat_b)?,
        ),
        (
            "meta",
            NpyArray::from_u8(vec![meta.len()], meta.as_bytes())?,
        ),
    ];
    Ok(arrays)
}

/// Reads a checkpoint written by [`write_conv_checkpoint`] for filters of
/// `shape`; every array is checked against the shape before use.
pub fn read_conv_checkpoint(path: &Path, shape: FilterShape) -> Result<(ConvLearnerState, f64)> {
    let arrays = npz::read_npz(path)?;
    let bad = |m: String| Error::format(path, m);
    let get = |name: &str| {
        arrays
            .iter()
            .find(|(a, _)| a == name)
            .map(|(_, a)| a)
            .ok_or_else(|| bad(format!("checkpoint has no '{name}' array")))
    };
    let m = shape.atoms;
    let filters = get("filters")?
        .to_f32_vec()
        .ok_or_else(|| bad("'filters' is not float32".into()))?;
    let stat_r = get("stat_r")?
        .to_f64_vec()
        .ok_or_else(|| bad("'stat_r' is not float64".into()))?;
    let stat_b = get("stat_b")?
        .to_f64_vec()
        .ok_or_else(|| bad("'stat_b' is not float64".into()))?;
    for (name, got, want) in [
        ("filters", filters.len(), m * shape.filter_len()),
        ("stat_r", stat_r.len(), m * m * shape.lags()),
        ("stat_b", stat_b.len(), m * shape.filter_len()),
    ] {
        if got != want {
            return Err(bad(format!(
                "'{name}' has {got} values, expected {want} for {m} filters of {}×{}×{}",
                shape.channels, shape.kernel, shape.kernel
            )));
        }
    }
    let meta: serde_json::Value = serde_json::from_slice(&get("meta")?.bytes)
        .map_err(|e| bad(format!("unreadable 'meta' ({e})")))?;
    let step = meta["step"]
        .as_u64()
        .ok_or_else(|| bad("no step in 'meta'".into()))?;
    let state = ConvLearnerState {
        step,
        filters,
        stat_r,
        stat_b,
    };
    Ok((state, meta["seconds"].as_f64().unwrap_or(0.0)))
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
