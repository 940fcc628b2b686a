//! What a learning session tells its caller, and how a run ended: the
//! observer every learner reports to, and the report and status every
//! learner returns. Shared by the session ([`super::session`]), the output
//! folder ([`super::run_folder`]) and each learner, so none of them imports
//! another to name these.

use serde::{Deserialize, Serialize};

use super::horizon::TimeUse;
use super::log::TrainingRow;

/// How a finished or stopped run ended, recorded in `config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Still running, or killed before it could say (resumable from its last checkpoint).
    Running,
    /// All steps done.
    Completed,
    /// Stopped by the time budget (`max_seconds`).
    TimeBudget,
    /// Stopped by a signal (SIGINT, SIGTERM) after writing every output.
    Interrupted,
}

/// Where a run stands, kept in `config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Steps done (dictionary updates).
    pub steps_done: u64,
    /// Training seconds so far (held-out scoring and output writing excluded).
    pub seconds: f64,
    /// How the run ended.
    pub status: Status,
}

/// What the loop tells its caller as it goes; every method has an empty default.
pub trait Observer {
    /// The run is about to take its first step (`resumed_at` steps already done).
    fn started(&mut self, _info: &StartInfo) {}
    /// One step done, with its log row.
    fn step(&mut self, _row: &TrainingRow) {}
    /// Something the user should know (skipped files, restarts).
    fn warning(&mut self, _message: &str) {}
    /// A checkpoint was written after `step` steps.
    fn checkpoint(&mut self, _step: u64) {}
    /// The run re-planned: it now ends after `steps` steps.
    fn horizon(&mut self, _steps: u64) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Facts about a run at its start.
#[derive(Clone, Debug)]
pub struct StartInfo {
    /// Images in the set.
    pub images: usize,
    /// Steps already done (0 for a new run).
    pub resumed_at: u64,
    /// Step limit ([`UNBOUNDED_STEPS`](crate::dictionary::UNBOUNDED_STEPS) for a time-bounded run).
    pub steps: u64,
    /// Values per patch.
    pub n_features: usize,
    /// Held-out patches scored (0: none).
    pub heldout_patches: usize,
}

/// The outcome of a learning run.
#[derive(Clone, Debug)]
pub struct TrainingReport {
    /// Steps done in all (this session and earlier ones).
    pub steps_done: u64,
    /// Training seconds in all.
    pub seconds: f64,
    /// How it ended.
    pub status: Status,
    /// Last log row.
    pub last: Option<TrainingRow>,
    /// Last held-out objective.
    pub heldout_energy: Option<f64>,
    /// Images in the set.
    pub images: usize,
    /// Image decodes since the run was opened (start or resume), the held-out
    /// set and the first block included.
    pub decodes: u64,
    /// Steps taken in this session.
    pub session_steps: u64,
    /// Wall seconds of this session's loop.
    pub session_seconds: f64,
    /// How the run used its time (planned steps, budget); `None` where the
    /// learner keeps no plan.
    pub time: Option<TimeUse>,
}
