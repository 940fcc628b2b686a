//! Convolutional dictionary learning on images in memory: the fourth source
//! under the learning session, what Python's `ConvDictionaryLearning` runs.
//!
//! The same learner, coder, crops and initial filters as a folder run
//! ([`super::ConvTraining`], `lca learn --conv`), drawn from the caller's
//! images instead of decoded photos, used as they are (no high-pass, none
//! held out, no files). So a folder of images and the same images as arrays
//! give the same filters bit for bit (with `highpass = 0` and no held-out
//! images on the folder's side).
//!
//! ```
//! use lca::conv::{ConvArrayParams, ConvArrayTraining, ConvLearnParams, Planes};
//! use lca::dictionary::NoObserver;
//! let images: Vec<Planes> = (0..2)
//!     .map(|i| Planes::new(1, 16, 16, (0..256).map(|v| ((v * (i + 3)) % 7) as f32).collect()))
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! let conv = ConvLearnParams::default().kernel_size(3).crop(8);
//! let params = ConvArrayParams::default().atoms(4).steps(3).conv(conv);
//! let mut run = ConvArrayTraining::new(params, images, None).unwrap();
//! let report = run.run(&mut NoObserver, None).unwrap();
//! assert_eq!(report.steps_done, 3);
//! assert_eq!(run.learner().filters().len(), 4 * 3 * 3);
//! ```

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use super::crops::{initial_filters, step_crops};
use super::learn::{ConvLearnParams, ConvLearner, FilterShapeNd};
use super::learn_step::ConvStep;
use super::{Boundary, ConvDictionary, ConvLcaParams, ConvTrainingConfig, Planes};
use crate::distributed::SINGLE_PROCESS;
use crate::error::{Error, Result};
use crate::learning::{BudgetPlanner, HorizonRule, TimeUse};
use crate::learning::{Cadence, Observer, Session, StartInfo, Step, TrainingReport};
use crate::learning::{TrainingRow, UNBOUNDED_STEPS};
use crate::settings::Checked;
use crate::solver::Monitor;

/// Settings of a run on images in memory; defaults are `lca learn --conv`'s.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConvArrayParams {
    /// Number of filters.
    pub atoms: usize,
    /// Learning steps ([`UNBOUNDED_STEPS`]: until `max_seconds`).
    pub steps: u64,
    /// Seed of every random choice (crops, initial filters).
    pub seed: u64,
    /// Time budget of one [`ConvArrayTraining::run`], in seconds.
    pub max_seconds: Option<f64>,
    /// Filter size, λ, crops, dictionary update. The folder's fields
    /// (`highpass`, `heldout_*`) are not used: the images are used as they
    /// are and none is held out.
    pub conv: ConvLearnParams,
    /// The sparse coder while learning (its λ and boundary are set from `conv`).
    pub coder: ConvLcaParams,
}

crate::settings::setters!(ConvArrayParams {
    atoms: usize,
    steps: u64,
    seed: u64,
    max_seconds: Option<f64>,
    conv: ConvLearnParams,
    coder: ConvLcaParams,
});

impl Default for ConvArrayParams {
    fn default() -> Self {
        let folder = ConvTrainingConfig::default();
        ConvArrayParams {
            atoms: folder.atoms,
            steps: folder.steps,
            seed: folder.seed,
            max_seconds: None,
            conv: folder.conv,
            coder: folder.coder,
        }
    }
}

impl ConvArrayParams {
    /// Checks every setting.
    pub fn check(self) -> Result<Checked<ConvArrayParams>> {
        self.conv.clone().check()?;
        self.coder_params().check()?;
        if self.atoms == 0 {
            return Err(Error::setting("atoms", "must be at least 1"));
        }
        if self.steps == 0 || (self.steps == UNBOUNDED_STEPS && self.max_seconds.is_none()) {
            return Err(Error::setting(
                "steps",
                "must be at least 1 (no step limit needs a time budget)",
            ));
        }
        if let Some(s) = self.max_seconds.filter(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::setting(
                "max-seconds",
                format!("must be finite and > 0, got {s}"),
            ));
        }
        Ok(Checked::assume_valid(self))
    }

    /// The coder with the run's λ and the circular boundary the learner's
    /// statistics assume.
    fn coder_params(&self) -> ConvLcaParams {
        (self.coder.clone())
            .lambda(self.conv.lambda)
            .boundary(Boundary::Circular)
    }
}

/// A convolutional learning run over images in memory (see the module doc).
pub struct ConvArrayTraining {
    source: ConvArrays,
    session: Session<'static>,
}

/// What a step of learning from arrays reads and changes.
struct ConvArrays {
    params: ConvArrayParams,
    images: Vec<Arc<Planes>>,
    step: ConvStep,
}

impl ConvArrayTraining {
    /// Checks the settings against `images` (all of one channel count, at
    /// least `k×k` pixels) and starts from `init`, or else from random
    /// windows of the images drawn with the seed.
    pub fn new(
        params: ConvArrayParams,
        images: Vec<Planes>,
        init: Option<ConvDictionary>,
    ) -> Result<Self> {
        let params = params.check()?.into_inner();
        let conv = &params.conv;
        let channels = check_images(&images, conv.dims, conv.kernel_extent())?;
        let shape = conv.filter_shape(params.atoms, channels);
        let images: Vec<Arc<Planes>> = images.into_iter().map(Arc::new).collect();
        let filters = match init {
            Some(d) => {
                check_init(&d, shape)?;
                d.data().to_vec()
            }
            None => initial_filters(params.seed, shape, images.len(), |i| {
                Ok(Arc::clone(&images[i]))
            })?,
        };
        let (sweeps, forgetting) = (params.conv.dict_sweeps, params.conv.forgetting);
        let step = ConvStep {
            coder: params.coder_params().check()?,
            learner: ConvLearner::new(shape, filters, forgetting, sweeps)?,
            lambda: params.conv.lambda,
        };
        let planner = BudgetPlanner::new(None, Instant::now(), 0.0, false);
        let session = Session::new(
            &SINGLE_PROCESS,
            planner,
            Cadence::in_memory(),
            Vec::new(),
            0.0,
        );
        Ok(ConvArrayTraining {
            source: ConvArrays {
                params,
                images,
                step,
            },
            session,
        })
    }

    /// The settings.
    pub fn params(&self) -> &ConvArrayParams {
        &self.source.params
    }

    /// The learner (filters and statistics).
    pub fn learner(&self) -> &ConvLearner {
        &self.source.step.learner
    }

    /// The current filters as a unit-norm dictionary.
    pub fn dictionary(&self) -> Result<ConvDictionary> {
        self.source.step.dictionary()
    }

    /// The training log so far (one row per step).
    pub fn rows(&self) -> &[TrainingRow] {
        self.session.rows()
    }

    /// One step on the whole images `batch` instead of the next crops,
    /// logged like the others: scikit-learn's `partial_fit`.
    pub fn step_on(&mut self, batch: &[Planes]) -> Result<TrainingRow> {
        let shape = self.source.step.learner.shape_nd();
        if check_images(batch, shape.dims, shape.extent)? != shape.channels {
            return Err(Error::Shape(format!(
                "images have {} channel(s) but the filters {}",
                batch[0].channels, shape.channels
            )));
        }
        let step = &mut self.source.step;
        self.session.record(|| step.learn_on(batch))
    }

    /// Runs steps until `steps`, the time budget (`max_seconds` from now) or
    /// `interrupt` (non-zero: stop after the current step); `observer`
    /// sees every row.
    pub fn run(
        &mut self,
        observer: &mut dyn Observer,
        interrupt: Option<&AtomicUsize>,
    ) -> Result<TrainingReport> {
        let start_step = self.source.step.learner.steps_done();
        let params = &self.source.params;
        observer.started(&StartInfo {
            images: self.source.images.len(),
            resumed_at: start_step,
            steps: params.steps,
            n_features: self.source.step.learner.shape().filter_len(),
            heldout_patches: 0,
        });
        let opened = Instant::now();
        let planner = BudgetPlanner::new(params.max_seconds, opened, 0.0, false);
        self.session.set_planner(planner);
        let monitor = Monitor {
            progress: None,
            cancel: interrupt,
        };
        let status = self.session.run(&mut self.source, observer, &monitor)?;
        let params = &self.source.params;
        let steps_done = self.source.step.learner.steps_done();
        Ok(TrainingReport {
            steps_done,
            seconds: self.session.seconds(),
            status,
            last: self.session.rows().last().copied(),
            heldout_energy: None,
            images: self.source.images.len(),
            decodes: 0,
            session_steps: steps_done - start_step,
            session_seconds: opened.elapsed().as_secs_f64(),
            time: Some(TimeUse {
                rule: HorizonRule::Given,
                horizon: params.steps,
                steps: steps_done,
                seconds: self.session.planner().session_seconds(),
                budget: params.max_seconds,
            }),
        })
    }
}

impl Step for ConvArrays {
    fn steps_done(&self) -> u64 {
        self.step.learner.steps_done()
    }

    fn horizon(&self) -> u64 {
        self.params.steps
    }

    fn revise_horizon(&mut self, _step: u64, horizon: u64) {
        self.params.steps = horizon;
    }

    fn step(&mut self, step: u64) -> Result<TrainingRow> {
        let p = &self.params;
        let (count, crop) = (p.conv.images_per_step, (p.conv.dims, p.conv.crop_extent()));
        let images = &self.images;
        let crops = step_crops(p.seed, step, count, crop, images.len(), |i| {
            Ok(Arc::clone(&images[i]))
        })?;
        self.step.learn_on(&crops)
    }
}

/// Fails unless the initial filters `d` have `shape`.
fn check_init(d: &ConvDictionary, shape: FilterShapeNd) -> Result<()> {
    let got = (d.n_filters(), d.channels(), d.kernel_shape());
    if got == (shape.atoms, shape.channels, shape.kernel_shape()) {
        return Ok(());
    }
    Err(Error::Shape(if shape.dims == 2 && d.dims() == 2 {
        let (k, k2) = (shape.extent[2], d.kernel_size());
        format!(
            "initial filters are {}×{}×{k2}×{k2}, expected {}×{}×{k}×{k}",
            got.0, got.1, shape.atoms, shape.channels
        )
    } else {
        let mut dshape = vec![d.n_filters(), d.channels()];
        dshape.extend_from_slice(d.kernel_shape());
        format!(
            "initial filters have shape {}, expected {}",
            super::shape_text(&dshape),
            super::shape_text(&shape.torch_shape())
        )
    }))
}

/// The channel count of `images`, after checking there is at least one, all
/// have it, every one is a `dims`-dimensional signal at least as large as
/// the kernel `k` along every axis and every value is finite.
fn check_images(images: &[Planes], dims: usize, k: [usize; 3]) -> Result<usize> {
    let Some(first) = images.first() else {
        return Err(Error::Shape("no images to learn from".into()));
    };
    for (i, img) in images.iter().enumerate() {
        if img.channels != first.channels {
            return Err(Error::Shape(format!(
                "image {i} has {} channel(s), image 0 has {}",
                img.channels, first.channels
            )));
        }
        let e = img.extent();
        if e[..3 - dims].iter().any(|&v| v != 1) {
            return Err(Error::Shape(format!(
                "image {i} of extent {e:?} is not a {dims}-D signal"
            )));
        }
        if (0..3).any(|a| e[a] < k[a]) {
            return Err(Error::Shape(if dims == 2 {
                format!(
                    "image {i} of {}×{} pixels is smaller than the {k}×{k} filters",
                    img.height,
                    img.width,
                    k = k[2]
                )
            } else {
                let text = |v: &[usize]| {
                    (v.iter())
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join("×")
                };
                format!(
                    "signal {i} of {} samples is smaller than the {} filters",
                    text(&e[3 - dims..]),
                    text(&k[3 - dims..])
                )
            }));
        }
        crate::error::check_finite("images", &img.data)?;
    }
    Ok(first.channels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learning::NoObserver;

    /// The same grey images as PNG files in a folder and as arrays in [0, 1]
    /// (an 8-bit value `v` decodes to `v / 255`).
    fn images(dir: &std::path::Path) -> Vec<Planes> {
        (0..3u32)
            .map(|i| {
                let (w, h) = (20 + i, 18);
                let pixels: Vec<u8> = (0..w * h)
                    .map(|p| ((p % w) * (7 + i) + (p / w) * 13 + (p * p) % 11) as u8)
                    .collect();
                let png = image::GrayImage::from_raw(w, h, pixels.clone()).unwrap();
                png.save(dir.join(format!("im{i}.png"))).unwrap();
                let data = pixels.iter().map(|&v| f32::from(v) / 255.0).collect();
                Planes::new(1, h as usize, w as usize, data).unwrap()
            })
            .collect()
    }

    #[test]
    fn arrays_learn_what_a_folder_of_the_same_images_learns_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let photos = dir.path().join("photos");
        std::fs::create_dir(&photos).unwrap();
        let arrays = images(&photos);
        let conv = ConvLearnParams::default()
            .kernel_size(3)
            .crop(8)
            .lambda(0.05)
            .highpass(0.0)
            .heldout_images(0);
        let (mine, run) = folder_and_arrays(dir.path(), photos, arrays, conv, 4, 6, 2);
        assert_eq!(mine.learner().state(), run.learner().state());
        let stats = |rows: &[TrainingRow]| -> Vec<[f64; 4]> {
            (rows.iter())
                .map(|r| [r.mse, r.l1, r.active_fraction, r.energy])
                .collect()
        };
        assert_eq!(stats(mine.rows()), stats(run.rows()));
    }

    /// The same learning run twice: from the files in `folder`, and from
    /// `arrays` (the same signals in memory).
    fn folder_and_arrays(
        dir: &std::path::Path,
        folder: std::path::PathBuf,
        arrays: Vec<Planes>,
        conv: ConvLearnParams,
        atoms: usize,
        steps: u64,
        seed: u64,
    ) -> (ConvArrayTraining, super::super::ConvTraining) {
        let config = ConvTrainingConfig::default()
            .images(Some(folder))
            .atoms(atoms)
            .steps(steps)
            .seed(seed)
            .conv(conv.clone());
        let mut run = super::super::ConvTraining::start(
            config,
            &dir.join("run"),
            &SINGLE_PROCESS,
            &mut NoObserver,
        )
        .unwrap();
        run.run(&mut NoObserver).unwrap();
        let params = ConvArrayParams::default()
            .atoms(atoms)
            .steps(steps)
            .seed(seed)
            .conv(conv);
        let mut mine = ConvArrayTraining::new(params, arrays, None).unwrap();
        mine.run(&mut NoObserver, None).unwrap();
        (mine, run)
    }

    #[test]
    fn signals_learn_what_a_folder_of_the_same_recordings_learns_bit_for_bit() {
        use crate::io::wav::{Audio, WavSampleFormat, write_wav};
        let dir = tempfile::tempdir().unwrap();
        let clips = dir.path().join("clips");
        std::fs::create_dir(&clips).unwrap();
        let signals: Vec<Planes> = (0..3)
            .map(|i| {
                let x: Vec<f32> = (0..300 + 20 * i)
                    .map(|t| ((t * (i + 2)) as f32 * 0.37).sin() * 0.5)
                    .collect();
                let audio = Audio::new(8000, 1, x.clone()).unwrap();
                write_wav(
                    &clips.join(format!("c{i}.wav")),
                    &audio,
                    WavSampleFormat::F32,
                )
                .unwrap();
                Planes::with_extent(1, [1, 1, x.len()], x).unwrap()
            })
            .collect();
        let conv = ConvLearnParams::for_dims(1)
            .unwrap()
            .kernel_size(9)
            .crop(64)
            .lambda(0.05)
            .heldout_images(0);
        let (mine, run) = folder_and_arrays(dir.path(), clips, signals, conv, 3, 5, 4);
        assert_eq!(mine.learner().state(), run.learner().state());
        assert_eq!(mine.learner().shape_nd().torch_shape(), [3, 1, 9]);
    }

    #[test]
    fn refuses_mixed_channels_small_images_and_no_images() {
        let params = || ConvArrayParams::default().atoms(2).steps(1);
        let grey = Planes::zeros(1, 30, 30);
        let rgb = Planes::zeros(3, 30, 30);
        let e = ConvArrayTraining::new(params(), vec![grey.clone(), rgb], None).err();
        assert!(e.unwrap().to_string().contains("channel"));
        let small = Planes::zeros(1, 5, 30);
        let e = ConvArrayTraining::new(params(), vec![grey, small], None).err();
        assert!(e.unwrap().to_string().contains("smaller than"));
        assert!(ConvArrayTraining::new(params(), Vec::new(), None).is_err());
    }
}
