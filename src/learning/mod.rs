//! The learning session every dictionary learner runs under.
//!
//! One loop ([`Session`]) owns what every learner does the same way — the
//! stop rule (steps, time budget, interrupt, agreed over the communicator),
//! held-out scoring, the training log, checkpoints, the observer — and four
//! sources plug into it through [`Step`]:
//!
//! | source | type | batch of step `s` |
//! |---|---|---|
//! | patches from a folder of images | [`crate::dictionary::Training`] | seeded patch positions ([`crate::image::PatchStream`]) |
//! | patches from a matrix | [`crate::dictionary::PatchMatrixTraining`] | seeded shuffled passes over the columns |
//! | convolutional, from a folder | [`crate::conv::ConvTraining`] | seeded crops of decoded, high-passed images |
//! | convolutional, from arrays | [`crate::conv::ConvArrayTraining`] | seeded crops of the caller's images |
//!
//! The folder runs add the output folder's policy (`config.json`,
//! `dictionary.npy`, `training.csv`, `checkpoint.npz`, the run lock) through
//! [`Step::save`]; the in-memory ones write nothing.
//!
//! A fifth learner (say, 1-D signals) plugs in as a type holding its data,
//! its learner and its settings that implements [`Step`]: `step(s)` draws
//! the batch of step `s` from a generator seeded by `(seed, s)` alone,
//! updates and returns the step's [`TrainingRow`](crate::dictionary::TrainingRow);
//! `horizon` / `revise_horizon` expose its step count; `score_heldout`,
//! `take_warnings` and `save` are optional. Its run type then holds it next
//! to a [`Session`] (made with its communicator, a
//! [`BudgetPlanner`](crate::dictionary::BudgetPlanner) and a [`Cadence`]) and
//! calls [`Session::run`] with an [`Observer`] and a
//! [`Monitor`](crate::solver::Monitor) for cancelling; stopping, the budget,
//! agreement over ranks, logging and checkpoint timing come with the session.

pub mod horizon;
mod log;
mod observer;
pub(crate) mod run_folder;
mod run_lock;
mod session;

pub use horizon::{BudgetPlanner, HorizonRule, TimeUse, UNBOUNDED_STEPS, steps_label};
pub use log::{CSV_HEADER, TrainingRow, read_training_csv};

pub use observer::{NoObserver, Observer, Progress, StartInfo, Status, TrainingReport};
pub use run_lock::{RunLock, lock_path};
pub use session::{CHECKPOINT_SECONDS, Cadence, Save, Session, Step};
