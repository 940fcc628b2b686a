//! The one loop every learner runs under.
//!
//! Shaped like argmin's executor and like the encoders' batch driver
//! ([`crate::solver`]): a learner only says how to take *one* step
//! ([`Step`]: draw the batch of step `s` — a pure function of the seed and
//! `s` —, update, return the step's log row); [`Session::run`] does the rest
//! the same way for every learner: the stop rule (the step count, the time
//! budget, an interrupt — agreed over the communicator, so every rank stops
//! at the same step and follows rank 0's plan), the budget's re-planning of
//! the horizon, held-out scoring, the training log, checkpoints and the final
//! outputs (each learner's [`Step::save`]), and the one observer. Cancelling
//! goes through the crate's one flag, [`Monitor::cancel`].
//!
//! A session in memory (Python's estimators, `lca learn --patches`) uses
//! [`Cadence::in_memory`]: no scoring, no files; one bound to an output folder
//! uses the folder runs' cadence ([`Cadence::folder`]).

use std::time::Instant;

use super::horizon::BudgetPlanner;
use super::log::TrainingRow;
use super::observer::{Observer, Status};
use crate::distributed::{Communicator, agree_plan};
use crate::error::Result;
use crate::solver::Monitor;

/// Seconds of training between checkpoints when no step interval is set.
pub const CHECKPOINT_SECONDS: f64 = 60.0;

/// One learner under a [`Session`]: what differs between learners.
pub trait Step {
    /// Steps done so far (dictionary updates).
    fn steps_done(&self) -> u64;
    /// The planned number of steps (the schedules' horizon).
    fn horizon(&self) -> u64;
    /// Moves the horizon to `horizon` from step `step` on (a budgeted run
    /// re-planning on its measured pace).
    fn revise_horizon(&mut self, step: u64, horizon: u64);
    /// Takes step `step`: draws its batch (a pure function of the seed and
    /// `step`, so a resumed run draws what the uninterrupted one would),
    /// updates the dictionary and returns the step's row. Its `seconds` and
    /// `heldout_energy` are the session's to fill.
    fn step(&mut self, step: u64) -> Result<TrainingRow>;
    /// Mean objective of the held-out data under the current dictionary
    /// (`None`: the learner holds none out).
    fn score_heldout(&mut self) -> Result<Option<f64>> {
        Ok(None)
    }
    /// What the user should hear of since the last call (skipped images).
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Writes what is due; a learner without an output folder writes nothing.
    fn save(&mut self, _what: Save<'_>) -> Result<()> {
        Ok(())
    }
}

/// What [`Step::save`] is asked to write.
#[derive(Clone, Copy, Debug)]
pub enum Save<'a> {
    /// The training log so far (for monitoring).
    Log(&'a [TrainingRow]),
    /// A checkpoint after `seconds` of training: the dictionary, the
    /// learner's state and the settings, the run still going.
    Checkpoint {
        /// The log so far.
        rows: &'a [TrainingRow],
        /// Training seconds in all.
        seconds: f64,
    },
    /// Every output of a run that ended with `status`.
    Final {
        /// How the run ended.
        status: Status,
        /// The whole log (the last row scored).
        rows: &'a [TrainingRow],
        /// Training seconds in all.
        seconds: f64,
    },
}

/// When a session scores, writes its log and checkpoints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cadence {
    /// Steps between two held-out scorings (and the last step); `None`: never.
    pub heldout_every: Option<u64>,
    /// Steps between checkpoints (0: every [`CHECKPOINT_SECONDS`] of
    /// training); `None`: none (a session in memory).
    pub checkpoint_every: Option<u64>,
    /// Steps between two rewrites of the log...
    pub log_every: u64,
    /// ...but once the log is longer than 20 such intervals, at most one
    /// rewrite per this many seconds (the whole log is rewritten atomically,
    /// so frequent rewrites of a long log cost O(n²)); `None`: no such limit.
    pub log_seconds: Option<f64>,
}

impl Cadence {
    /// A session in memory: nothing scored or written.
    pub fn in_memory() -> Self {
        Cadence {
            heldout_every: None,
            checkpoint_every: None,
            log_every: 0,
            log_seconds: None,
        }
    }

    /// A run bound to an output folder.
    pub fn folder(heldout_every: u64, checkpoint_every: u64, log_every: u64) -> Self {
        Cadence {
            heldout_every: Some(heldout_every),
            checkpoint_every: Some(checkpoint_every),
            log_every,
            log_seconds: None,
        }
    }

    fn scores(&self, done: u64, total: u64) -> bool {
        self.heldout_every
            .is_some_and(|every| done.is_multiple_of(every) || done == total)
    }

    fn checkpoints(&self, done: u64, seconds_since: f64) -> bool {
        match self.checkpoint_every {
            None => false,
            Some(0) => seconds_since >= CHECKPOINT_SECONDS,
            Some(every) => done.is_multiple_of(every),
        }
    }

    fn logs(&self, done: u64, rows: usize, since_log: f64) -> bool {
        self.log_every > 0
            && done.is_multiple_of(self.log_every)
            && self
                .log_seconds
                .is_none_or(|limit| rows <= 20 * self.log_every as usize || since_log >= limit)
    }
}

/// The stop rule, the log and the clock of one learning run (see the module
/// doc). It owns the log rows; the learner owns its state.
pub struct Session<'c> {
    comm: &'c dyn Communicator,
    planner: BudgetPlanner,
    cadence: Cadence,
    rows: Vec<TrainingRow>,
    /// Training seconds of earlier sessions (a resumed run's) and of earlier
    /// calls in this one.
    elapsed: f64,
}

/// The clocks of one [`Session::run`].
struct Clocks {
    training: f64,
    last_checkpoint: f64,
    last_log: Instant,
}

impl<'c> Session<'c> {
    /// A session over `comm` that continues `rows` (the log of earlier
    /// sessions, `elapsed` training seconds) under `planner`'s budget.
    pub fn new(
        comm: &'c dyn Communicator,
        planner: BudgetPlanner,
        cadence: Cadence,
        rows: Vec<TrainingRow>,
        elapsed: f64,
    ) -> Self {
        Session {
            comm,
            planner,
            cadence,
            rows,
            elapsed,
        }
    }

    /// The communicator the run is agreed over.
    pub fn comm(&self) -> &'c dyn Communicator {
        self.comm
    }

    /// The log so far.
    pub fn rows(&self) -> &[TrainingRow] {
        &self.rows
    }

    /// Training seconds so far.
    pub fn seconds(&self) -> f64 {
        self.rows.last().map_or(self.elapsed, |r| r.seconds)
    }

    /// Training seconds before this process opened the run.
    pub fn prior_seconds(&self) -> f64 {
        self.elapsed
    }

    /// The time budget's clock and the horizon's planner.
    pub fn planner(&self) -> &BudgetPlanner {
        &self.planner
    }

    /// Replaces the planner (once the learner is assembled and its
    /// held-out set known).
    pub fn set_planner(&mut self, planner: BudgetPlanner) {
        self.planner = planner;
    }

    /// One step outside [`Session::run`] (a `partial_fit` on a caller's
    /// batch): times `step`, logs its row and returns it.
    pub fn record(&mut self, step: impl FnOnce() -> Result<TrainingRow>) -> Result<TrainingRow> {
        let t0 = Instant::now();
        let mut row = step()?;
        self.elapsed = self.seconds() + t0.elapsed().as_secs_f64();
        row.seconds = self.elapsed;
        self.rows.push(row);
        Ok(row)
    }

    /// Runs `learner` until its horizon, the time budget or a cancel
    /// (`monitor`), then scores its last state if the run ended early and
    /// has it write every output. Returns how the run ended.
    pub fn run(
        &mut self,
        learner: &mut dyn Step,
        observer: &mut dyn Observer,
        monitor: &Monitor<'_>,
    ) -> Result<Status> {
        let start_step = learner.steps_done();
        let prior = self.elapsed;
        let mut clocks = Clocks {
            training: 0.0,
            last_checkpoint: prior,
            last_log: Instant::now(),
        };
        let status = loop {
            if let Some(status) = self.stop(learner, observer, monitor)? {
                break status;
            }
            let step = learner.steps_done();
            let t0 = Instant::now();
            let mut row = learner.step(step)?;
            clocks.training += t0.elapsed().as_secs_f64();
            for w in learner.take_warnings() {
                observer.warning(&w);
            }
            let done = step + 1;
            row.seconds = prior + clocks.training;
            if self.cadence.scores(done, learner.horizon()) {
                row.heldout_energy = self.timed_score(learner)?;
            }
            self.rows.push(row);
            observer.step(&row);
            self.save_due(learner, observer, done, &mut clocks)?;
        };
        self.elapsed = prior + clocks.training;
        self.finish(learner, observer, status, start_step)?;
        Ok(status)
    }

    /// The stop rule before the next step: every rank stops at the same
    /// step and follows the same plan — on an interrupt any rank received,
    /// on rank 0's clock for the budget.
    fn stop(
        &mut self,
        learner: &mut dyn Step,
        observer: &mut dyn Observer,
        monitor: &Monitor<'_>,
    ) -> Result<Option<Status>> {
        let step = learner.steps_done();
        let plan = self.planner.plan(step, learner.horizon());
        let over_budget = self.planner.over_budget();
        let (interrupted, over_budget, plan) =
            agree_plan(self.comm, monitor.cancelled(), over_budget, plan)?;
        if let Some(horizon) = plan {
            learner.revise_horizon(step, horizon);
            observer.horizon(horizon);
        }
        Ok(if step >= learner.horizon() {
            Some(Status::Completed)
        } else if interrupted {
            Some(Status::Interrupted)
        } else if over_budget {
            Some(Status::TimeBudget)
        } else {
            None
        })
    }

    /// Writes the log and a checkpoint after step `done` when due.
    fn save_due(
        &mut self,
        learner: &mut dyn Step,
        observer: &mut dyn Observer,
        done: u64,
        clocks: &mut Clocks,
    ) -> Result<()> {
        if done >= learner.horizon() {
            return Ok(()); // the final outputs follow
        }
        let seconds = self.seconds();
        let checkpoint = (self.cadence).checkpoints(done, seconds - clocks.last_checkpoint);
        let since_log = clocks.last_log.elapsed().as_secs_f64();
        if checkpoint || self.cadence.logs(done, self.rows.len(), since_log) {
            // The log first: a resume drops rows past its checkpoint, so
            // the log may run ahead of the checkpoint but never lag it.
            learner.save(Save::Log(&self.rows))?;
            clocks.last_log = Instant::now();
        }
        if checkpoint {
            let t = Instant::now();
            learner.save(Save::Checkpoint {
                rows: &self.rows,
                seconds,
            })?;
            self.planner.wrote(t.elapsed().as_secs_f64());
            clocks.last_checkpoint = seconds;
            observer.checkpoint(done);
        }
        Ok(())
    }

    /// The end of a run: a held-out score for the last state of a run ended
    /// early, then every output.
    fn finish(
        &mut self,
        learner: &mut dyn Step,
        observer: &mut dyn Observer,
        status: Status,
        start_step: u64,
    ) -> Result<()> {
        let unscored = status != Status::Completed
            && (self.rows.last())
                .is_some_and(|r| r.heldout_energy.is_none() && r.step > start_step);
        if self.cadence.heldout_every.is_some() && unscored {
            let score = learner.score_heldout()?;
            if let Some(last) = self.rows.last_mut() {
                last.heldout_energy = score;
            }
        }
        if self.cadence.checkpoint_every.is_some() {
            learner.save(Save::Final {
                status,
                rows: &self.rows,
                seconds: self.seconds(),
            })?;
            observer.checkpoint(learner.steps_done());
        }
        Ok(())
    }

    /// [`Step::score_heldout`], timed for the budget's planner.
    fn timed_score(&mut self, learner: &mut dyn Step) -> Result<Option<f64>> {
        let t = Instant::now();
        let score = learner.score_heldout()?;
        self.planner.scored(t.elapsed().as_secs_f64());
        Ok(score)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::distributed::SingleProcess;
    use crate::learning::NoObserver;

    /// A learner whose "dictionary" is the sum of its batches, batch `s`
    /// being `s + 1`: what it holds after `n` steps is `n (n + 1) / 2`
    /// however the steps were split over calls.
    #[derive(Default)]
    struct Counter {
        done: u64,
        total: u64,
        horizon: u64,
        saved: Vec<String>,
        scored: u64,
    }

    impl Step for Counter {
        fn steps_done(&self) -> u64 {
            self.done
        }
        fn horizon(&self) -> u64 {
            self.horizon
        }
        fn revise_horizon(&mut self, _step: u64, horizon: u64) {
            self.horizon = horizon;
        }
        fn step(&mut self, step: u64) -> Result<TrainingRow> {
            self.done += 1;
            self.total += step + 1;
            Ok(TrainingRow {
                step: step + 1,
                seconds: 0.0,
                mse: self.total as f64,
                l1: 0.0,
                active_fraction: 0.0,
                energy: 0.0,
                heldout_energy: None,
            })
        }
        fn score_heldout(&mut self) -> Result<Option<f64>> {
            self.scored += 1;
            Ok(Some(self.total as f64))
        }
        fn save(&mut self, what: Save<'_>) -> Result<()> {
            self.saved.push(match what {
                Save::Log(rows) => format!("log {}", rows.len()),
                Save::Checkpoint { rows, .. } => format!("checkpoint {}", rows.len()),
                Save::Final { status, rows, .. } => format!("final {status:?} {}", rows.len()),
            });
            Ok(())
        }
    }

    fn session(cadence: Cadence) -> Session<'static> {
        let planner = BudgetPlanner::new(None, Instant::now(), 0.0, false);
        Session::new(&SingleProcess, planner, cadence, Vec::new(), 0.0)
    }

    /// Raises the cancel flag once a given step is logged.
    struct CancelAt<'a>(u64, &'a AtomicUsize);
    impl Observer for CancelAt<'_> {
        fn step(&mut self, row: &TrainingRow) {
            if row.step == self.0 {
                self.1.store(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn a_cancelled_run_continued_equals_one_run_and_saves_on_the_cadence() {
        let cadence = Cadence::folder(4, 3, 2);
        let mut whole = Counter {
            horizon: 10,
            ..Counter::default()
        };
        let mut one = session(cadence);
        let status = one.run(&mut whole, &mut NoObserver, &Monitor::default());
        assert_eq!(status.unwrap(), Status::Completed);
        assert_eq!((whole.done, whole.total), (10, 55));
        // Scored at steps 4, 8 and the last; checkpoints at 3, 6, 9 (each
        // after the log), logs at 2, 4, 8; the final outputs at the end.
        assert_eq!(whole.scored, 3);
        let scored: Vec<u64> = (one.rows().iter())
            .filter(|r| r.heldout_energy.is_some())
            .map(|r| r.step)
            .collect();
        assert_eq!(scored, [4, 8, 10]);
        let want = [
            "log 2",
            "log 3",
            "checkpoint 3",
            "log 4",
            "log 6",
            "checkpoint 6",
            "log 8",
            "log 9",
            "checkpoint 9",
            "final Completed 10",
        ];
        assert_eq!(whole.saved, want);

        let mut split = Counter {
            horizon: 10,
            ..Counter::default()
        };
        let mut two = session(cadence);
        let flag = AtomicUsize::new(0);
        let monitor = Monitor {
            progress: None,
            cancel: Some(&flag),
        };
        let status = two.run(&mut split, &mut CancelAt(5, &flag), &monitor);
        assert_eq!(status.unwrap(), Status::Interrupted);
        // An interrupted run scores its last state.
        assert_eq!(two.rows().last().unwrap().heldout_energy, Some(15.0));
        flag.store(0, Ordering::SeqCst);
        let status = two.run(&mut split, &mut NoObserver, &monitor);
        assert_eq!(status.unwrap(), Status::Completed);
        assert_eq!((split.done, split.total), (10, 55));
        let mse = |s: &Session<'_>| s.rows().iter().map(|r| r.mse).collect::<Vec<_>>();
        assert_eq!(mse(&one), mse(&two));
    }

    #[test]
    fn a_session_in_memory_writes_and_scores_nothing_and_records_partial_steps() {
        let mut learner = Counter {
            horizon: 3,
            ..Counter::default()
        };
        let mut s = session(Cadence::in_memory());
        let status = s.run(&mut learner, &mut NoObserver, &Monitor::default());
        assert_eq!(status.unwrap(), Status::Completed);
        assert!(learner.saved.is_empty() && learner.scored == 0);
        let row = s.record(|| learner.step(3)).unwrap();
        assert_eq!((row.step, s.rows().len()), (4, 4));
        assert!(row.seconds >= s.rows()[2].seconds);
    }
}
