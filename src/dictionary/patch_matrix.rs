//! Dictionary learning from patches already in memory (one column each), the
//! counterpart of the image-folder loop in [`super::training`] for callers
//! that prepared their own signals: `lca learn --patches X.npy` and the Python
//! package's `DictionaryLearning().fit(X)` both run [`PatchMatrixTraining`],
//! so the same patches, seed and settings give the same dictionary.
//!
//! Minibatches cycle through the patches in passes, each pass in its own
//! seeded shuffled order (as scikit-learn's `MiniBatchDictionaryLearning`
//! with `shuffle=True`); batch `s` is a function of `(seed, s)` only. The
//! initial atoms are distinct patches drawn with the same seed.
//!
//! ```
//! use lca::dictionary::{NoObserver, PatchMatrixParams, PatchMatrixTraining};
//! use lca::dictionary::LearnParams;
//! use nalgebra::DMatrix;
//! let x = DMatrix::from_fn(4, 64, |i, j| if (i + j) % 4 == 0 { 1.0 } else { 0.1 });
//! let params = PatchMatrixParams::default()
//!     .atoms(4)
//!     .batch_size(16)
//!     .learning(LearnParams::default())
//!     .steps(20);
//! let mut run = PatchMatrixTraining::new(params, x, None).unwrap();
//! let report = run.run(&mut NoObserver, None).unwrap();
//! assert_eq!(report.steps_done, 20);
//! assert_eq!(run.learner().state().atoms.shape(), (4, 4));
//! ```

use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::learn::{DictionaryLearner, LearnParams};
use super::training::defaults;
use crate::Dictionary;
use crate::distributed::SINGLE_PROCESS;
use crate::error::{Error, Result};
use crate::learning::TrainingRow;
use crate::learning::{BudgetPlanner, HorizonRule, TimeUse};
use crate::learning::{Cadence, Observer, Session, StartInfo, Step, TrainingReport};
use crate::solver::Monitor;

/// Settings of a run over a patch matrix.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PatchMatrixParams {
    /// Number of atoms.
    pub atoms: usize,
    /// Patches per minibatch (at most the number of patches).
    pub batch_size: usize,
    /// Seed of the initial atoms and of every pass's order.
    pub seed: u64,
    /// Time budget of [`PatchMatrixTraining::run`], in seconds of wall time.
    pub max_seconds: Option<f64>,
    /// Where `learning.steps` comes from ([`HorizonRule::Auto`], the default,
    /// replaces it: set [`HorizonRule::Given`] or use
    /// [`PatchMatrixParams::steps`] to keep your own).
    pub horizon: HorizonRule,
    /// Rule, encoder and schedules (`learning.steps` bounds the run).
    pub learning: LearnParams,
}

crate::settings::setters!(PatchMatrixParams {
    atoms: usize,
    batch_size: usize,
    seed: u64,
    max_seconds: Option<f64>,
    horizon: HorizonRule,
    learning: LearnParams,
});

impl Default for PatchMatrixParams {
    fn default() -> Self {
        PatchMatrixParams {
            atoms: defaults::ATOMS,
            batch_size: defaults::BATCH_SIZE,
            seed: 0,
            max_seconds: None,
            horizon: HorizonRule::Auto,
            learning: LearnParams::default(),
        }
    }
}

impl PatchMatrixParams {
    /// Exactly `steps` learning steps (the schedules' horizon).
    pub fn steps(mut self, steps: u64) -> Self {
        self.learning.steps = steps;
        self.horizon = HorizonRule::Given;
        self
    }
}

/// Stream tags, so the initial atoms and the passes never share random numbers.
const TAG_INIT: u64 = 1;
const TAG_PASS: u64 = 2;

fn stream(seed: u64, tag: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((tag << 56) | (index & ((1 << 56) - 1)));
    rng
}

/// A learning run over the columns of a matrix of patches: the matrix
/// source under a learning [`Session`] (in memory, one process).
pub struct PatchMatrixTraining {
    source: PatchMatrix,
    session: Session<'static>,
}

/// What a step of learning from a matrix reads and changes.
struct PatchMatrix {
    params: PatchMatrixParams,
    patches: DMatrix<f32>,
    learner: DictionaryLearner,
    /// The order of the pass last used, cached (a pass spans many batches).
    pass: Option<(u64, Vec<usize>)>,
}

impl PatchMatrixTraining {
    /// Checks the settings against the patches and starts from `init`, or
    /// else from `atoms` distinct patches drawn with the seed.
    pub fn new(
        mut params: PatchMatrixParams,
        patches: DMatrix<f32>,
        init: Option<Dictionary>,
    ) -> Result<Self> {
        let opened = Instant::now();
        params.learning.clone().check()?;
        params.horizon.check(params.max_seconds)?;
        let (n, m) = patches.shape();
        if n == 0 || m == 0 {
            return Err(Error::Shape(format!(
                "need at least one patch of at least one value, got {m} patches of {n} values"
            )));
        }
        crate::error::check_finite("patches", patches.as_slice())?;
        if params.atoms == 0 {
            return Err(Error::setting("atoms", "must be at least 1"));
        }
        if params.batch_size == 0 || params.batch_size > m {
            return Err(Error::setting(
                "batch_size",
                format!(
                    "must be between 1 and the {m} patches, got {}",
                    params.batch_size
                ),
            ));
        }
        if let Some(s) = params.max_seconds.filter(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::setting(
                "max_seconds",
                format!("must be finite and > 0, got {s}"),
            ));
        }
        let init = match init {
            Some(d) => {
                if (d.n_features(), d.n_atoms()) != (n, params.atoms) {
                    return Err(Error::Shape(format!(
                        "initial dictionary has {} atoms of {} values, expected {} atoms of {n}",
                        d.n_atoms(),
                        d.n_features(),
                        params.atoms
                    )));
                }
                d
            }
            None => Dictionary::from_atoms(initial_atoms(&patches, params.atoms, params.seed)?)?,
        };
        let rule = params
            .horizon
            .apply(params.max_seconds, &mut params.learning, n, params.atoms);
        params.horizon = rule;
        let learner = DictionaryLearner::new(params.learning.clone(), init)?;
        let planner =
            BudgetPlanner::new(params.max_seconds, opened, 0.0, rule == HorizonRule::Budget);
        let session = Session::new(
            &SINGLE_PROCESS,
            planner,
            Cadence::in_memory(),
            Vec::new(),
            0.0,
        );
        Ok(PatchMatrixTraining {
            source: PatchMatrix {
                params,
                patches,
                learner,
                pass: None,
            },
            session,
        })
    }

    /// The settings.
    pub fn params(&self) -> &PatchMatrixParams {
        &self.source.params
    }

    /// Number of patches learned from.
    pub fn n_patches(&self) -> usize {
        self.source.patches.ncols()
    }

    /// The learner (current dictionary and state).
    pub fn learner(&self) -> &DictionaryLearner {
        &self.source.learner
    }

    /// The training log so far (one row per step).
    pub fn rows(&self) -> &[TrainingRow] {
        self.session.rows()
    }

    /// The patches of step `step`: `batch_size` columns, consecutive entries
    /// of the seeded shuffled order of the pass(es) they fall in.
    pub fn batch(&mut self, step: u64) -> DMatrix<f32> {
        self.source.batch(step)
    }

    /// One step on `batch` (columns) instead of the next batch of the
    /// patches, logged like the others: scikit-learn's `partial_fit`.
    pub fn step_on(&mut self, batch: &DMatrix<f32>) -> Result<TrainingRow> {
        let n = self.source.patches.nrows();
        if batch.nrows() != n {
            return Err(Error::Shape(format!(
                "batch has {} values per patch but the atoms have {n}",
                batch.nrows(),
            )));
        }
        crate::error::check_finite("batch", batch.as_slice())?;
        let learner = &mut self.source.learner;
        self.session
            .record(|| Ok(learner.step(batch)?.row(learner.steps_done())))
    }

    /// Runs steps until `learning.steps`, the time budget or `interrupt`
    /// (non-zero: stop after the current step); `observer` sees every row.
    /// The budget's clock started when the run was made
    /// ([`PatchMatrixTraining::new`]); a run fitted to it re-plans its
    /// horizon as it goes.
    pub fn run(
        &mut self,
        observer: &mut dyn Observer,
        interrupt: Option<&AtomicUsize>,
    ) -> Result<TrainingReport> {
        let start_step = self.source.learner.steps_done();
        observer.started(&StartInfo {
            images: 0,
            resumed_at: start_step,
            steps: self.source.params.learning.steps,
            n_features: self.source.patches.nrows(),
            heldout_patches: 0,
        });
        let session = Instant::now();
        let monitor = Monitor {
            progress: None,
            cancel: interrupt,
        };
        let status = self.session.run(&mut self.source, observer, &monitor)?;
        let steps_done = self.source.learner.steps_done();
        let params = &self.source.params;
        Ok(TrainingReport {
            steps_done,
            seconds: self.session.seconds(),
            status,
            last: self.session.rows().last().copied(),
            heldout_energy: None,
            images: 0,
            decodes: 0,
            session_steps: steps_done - start_step,
            session_seconds: session.elapsed().as_secs_f64(),
            time: Some(TimeUse {
                rule: params.horizon,
                horizon: params.learning.steps,
                steps: steps_done,
                seconds: self.session.planner().session_seconds(),
                budget: params.max_seconds,
            }),
        })
    }
}

impl PatchMatrix {
    fn batch(&mut self, step: u64) -> DMatrix<f32> {
        let m = self.patches.ncols() as u64;
        let b = self.params.batch_size as u64;
        let picks: Vec<usize> = (step * b..(step + 1) * b)
            .map(|p| {
                let pass = p / m;
                if self.pass.as_ref().is_none_or(|(q, _)| *q != pass) {
                    let mut order: Vec<usize> = (0..m as usize).collect();
                    order.shuffle(&mut stream(self.params.seed, TAG_PASS, pass));
                    self.pass = Some((pass, order));
                }
                self.pass.as_ref().map_or(0, |(_, o)| o[(p % m) as usize])
            })
            .collect();
        self.patches.select_columns(picks.iter())
    }
}

impl Step for PatchMatrix {
    fn steps_done(&self) -> u64 {
        self.learner.steps_done()
    }

    fn horizon(&self) -> u64 {
        self.params.learning.steps
    }

    fn revise_horizon(&mut self, step: u64, horizon: u64) {
        self.params.learning.revise_horizon(step, horizon);
        self.learner.revise_horizon(step, horizon);
    }

    fn step(&mut self, step: u64) -> Result<TrainingRow> {
        let batch = self.batch(step);
        let stats = self.learner.step(&batch)?;
        Ok(stats.row(step + 1))
    }
}

/// `k` distinct patches (columns of `patches`) drawn with `seed`; zero
/// patches are skipped, since they cannot be normalised into atoms.
pub fn initial_atoms(patches: &DMatrix<f32>, k: usize, seed: u64) -> Result<DMatrix<f32>> {
    let mut order: Vec<usize> = (0..patches.ncols()).collect();
    order.shuffle(&mut stream(seed, TAG_INIT, 0));
    let picks: Vec<usize> = order
        .into_iter()
        .filter(|&j| patches.column(j).iter().any(|&v| v != 0.0))
        .take(k)
        .collect();
    if picks.len() < k {
        return Err(Error::setting(
            "atoms",
            format!(
                "{k} initial atoms need {k} non-zero patches, only {} of the {} patches are",
                picks.len(),
                patches.ncols()
            ),
        ));
    }
    Ok(patches.select_columns(picks.iter()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::dictionary::NoObserver;
    use crate::learning::Status;

    fn patches() -> DMatrix<f32> {
        let mut state = 7u64;
        DMatrix::from_fn(16, 200, |_, _| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
    }

    fn params(steps: u64) -> PatchMatrixParams {
        PatchMatrixParams {
            atoms: 8,
            batch_size: 64,
            seed: 3,
            learning: LearnParams {
                steps,
                ..LearnParams::default()
            },
            horizon: HorizonRule::Given,
            ..PatchMatrixParams::default()
        }
    }

    #[test]
    fn batches_cover_every_patch_once_per_pass_and_depend_only_on_seed_and_step() {
        let mut a = PatchMatrixTraining::new(params(10), patches(), None).unwrap();
        let x = patches();
        // 200 patches in batches of 64: a pass spans 3.125 batches.
        let mut seen = vec![0; 200];
        for s in 0..3 {
            for c in a.batch(s).column_iter() {
                let j = (0..200).find(|&j| x.column(j) == c).unwrap();
                seen[j] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c <= 1) && seen.iter().sum::<i32>() == 192);
        let mut b = PatchMatrixTraining::new(params(10), patches(), None).unwrap();
        assert_eq!(a.batch(7), b.batch(7));
        assert_ne!(a.batch(7), a.batch(8));
    }

    #[test]
    fn stopping_and_continuing_equals_one_run() {
        let mut one = PatchMatrixTraining::new(params(6), patches(), None).unwrap();
        one.run(&mut NoObserver, None).unwrap();
        let mut two = PatchMatrixTraining::new(params(6), patches(), None).unwrap();
        let stop = AtomicUsize::new(0);
        struct StopAt<'a>(u64, &'a AtomicUsize);
        impl Observer for StopAt<'_> {
            fn step(&mut self, row: &TrainingRow) {
                if row.step == self.0 {
                    self.1.store(1, Ordering::SeqCst);
                }
            }
        }
        let r = two.run(&mut StopAt(2, &stop), Some(&stop)).unwrap();
        assert_eq!((r.status, r.steps_done), (Status::Interrupted, 2));
        stop.store(0, Ordering::SeqCst);
        let r = two.run(&mut NoObserver, Some(&stop)).unwrap();
        assert_eq!((r.status, r.steps_done), (Status::Completed, 6));
        assert_eq!(one.learner().state(), two.learner().state());
    }

    #[test]
    fn refuses_batches_larger_than_the_data_and_too_few_atoms() {
        let p = PatchMatrixParams {
            batch_size: 201,
            ..params(1)
        };
        assert!(PatchMatrixTraining::new(p, patches(), None).is_err());
        let p = PatchMatrixParams {
            atoms: 201,
            ..params(1)
        };
        let e = PatchMatrixTraining::new(p, patches(), None).err().unwrap();
        assert!(e.to_string().contains("atoms"), "{e}");
    }
}
