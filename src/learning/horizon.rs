//! How many steps a learning run plans (the horizon of its schedules) and
//! how a time budget is kept: the learning session's part of it. What a
//! learner derives from the horizon (the patch learner's schedules and its
//! problem-size default) lives with the learner (`crate::dictionary`).
//!
//! The Hebbian rule's learning rate (and an optional λ schedule) decays
//! geometrically over the run, so the run must know its length before its
//! first step. Three sources ([`HorizonRule`]):
//!
//! * the user's step count (`--steps N`): the same result on every machine;
//! * the problem size (the default): [`problem_size_steps`], so 16×16 patches
//!   with 256 atoms or colour patches get a schedule as long, relative to
//!   what they need, as 8×8 with 128 atoms gets from its 2000 steps;
//! * a time budget alone (`--max-seconds S`): the run measures its own pace
//!   and re-plans a few times ([`BudgetPlanner`]), each time continuing the
//!   schedules from where they are ([`LearnParams::horizons`]), so it ends near
//!   `S` seconds of wall time, final scoring and writing included.
//!
//! The plan is recorded in `config.json`; a resumed run keeps it and never
//! re-plans, so it repeats the uninterrupted run under that plan bit for bit.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A run without a step limit: it ends by its time budget or an interrupt.
pub const UNBOUNDED_STEPS: u64 = u64::MAX;

/// Where a run's step count (its schedules' horizon) comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HorizonRule {
    /// Not decided yet: [`HorizonRule::Budget`] with a time budget, else
    /// [`HorizonRule::ProblemSize`]. Resolved when the run starts.
    #[default]
    Auto,
    /// The step count given by the user, as is.
    Given,
    /// Scaled with the problem size (the learner's default, e.g.
    /// [`crate::dictionary::problem_size_steps`]).
    ProblemSize,
    /// Fitted to the time budget by measuring the run's pace.
    Budget,
}

impl HorizonRule {
    /// The rule of runs saved before horizons were chosen (`config.json`
    /// without one): their step count was given.
    pub fn legacy() -> HorizonRule {
        HorizonRule::Given
    }

    /// The name used in files and messages.
    pub fn name(self) -> &'static str {
        match self {
            HorizonRule::Auto => "auto",
            HorizonRule::Given => "given",
            HorizonRule::ProblemSize => "problem-size",
            HorizonRule::Budget => "budget",
        }
    }

    /// Checks the rule against the time budget.
    pub fn check(self, max_seconds: Option<f64>) -> Result<()> {
        if self == HorizonRule::Budget && max_seconds.is_none() {
            return Err(Error::setting(
                "horizon",
                "a horizon fitted to the time budget needs a time budget (max seconds)",
            ));
        }
        Ok(())
    }

    /// The rule a run starting with `max_seconds` follows, with the steps it
    /// starts from: `sized` is the problem-size horizon (which a budgeted run also
    /// starts from until it has measured its pace).
    pub fn resolve(self, max_seconds: Option<f64>, steps: u64, sized: u64) -> (HorizonRule, u64) {
        match (self, max_seconds) {
            (HorizonRule::Given, _) => (HorizonRule::Given, steps),
            (HorizonRule::Auto | HorizonRule::Budget, Some(_)) => (HorizonRule::Budget, sized),
            _ => (HorizonRule::ProblemSize, sized),
        }
    }
}

/// Fractions of the budget (wall time used) at which a budgeted run
/// re-plans. The first comes early, before the schedule has moved much; the
/// later ones correct for steps that get slower as the atoms learn and for
/// the held-out scorings the first window had not seen.
const PLAN_AT: [f64; 6] = [0.04, 0.12, 0.3, 0.55, 0.8, 0.92];
/// Steps a window needs at least before its pace is trusted...
const MIN_WINDOW_STEPS: u64 = 8;
/// ...and its share of the budget: a pace measured over a few milliseconds
/// is noise, and one early misjudgement would hurry the schedule.
const MIN_WINDOW_SHARE: f64 = 0.02;
/// Share of the starting horizon after which a budgeted run plans at the
/// latest, however little of its budget has passed: on a fast machine a large
/// budget's first planning time (4 % of 60 s) came after the problem-size
/// horizon's last step, and the run ended at that horizon in 2.3 s.
const FIRST_PLAN_SHARE: f64 = 0.25;
/// Steps of the starting horizon a window of that early plan must cover
/// (instead of [`MIN_WINDOW_SHARE`] of the budget): hundreds of steps give
/// a steady pace.
const FIRST_WINDOW_SHARE: f64 = 0.125;
/// Share of the budget kept free, beyond the measured cost of finishing.
const MARGIN: f64 = 0.02;
/// Seconds assumed for writing every output at the end before any was timed.
const WRITE_SECONDS: f64 = 0.1;

/// Measures a run's pace and decides when it must stop and, for a
/// [`HorizonRule::Budget`] run in its first session, what its horizon is.
///
/// Time is wall time from when the run was opened (images decoded, held-out
/// set drawn) plus the seconds earlier sessions recorded; the cost of
/// finishing (a last held-out scoring and writing every output) is estimated
/// from the scorings and writes seen so far and kept free.
#[derive(Clone, Debug)]
pub struct BudgetPlanner {
    budget: Option<f64>,
    opened: Instant,
    prior: f64,
    replan: bool,
    plans_done: usize,
    window: Option<(u64, f64)>,
    /// The session's first step: the window opens after it, which also
    /// fills the first block of signals and warms every cache.
    first_step: Option<u64>,
    /// Mean seconds per step of the last window.
    step_seconds: f64,
    /// Held-out scoring cost in steps, assumed until one is timed.
    scoring_steps: f64,
    scoring: Option<f64>,
    writing: f64,
}

impl BudgetPlanner {
    /// A planner for a run opened at `opened` with `budget` seconds in all,
    /// `prior` of them used by earlier sessions; `replan`: whether this
    /// session chooses the horizon (a budgeted run's first session).
    pub fn new(budget: Option<f64>, opened: Instant, prior: f64, replan: bool) -> Self {
        BudgetPlanner {
            budget,
            opened,
            prior,
            replan: replan && budget.is_some(),
            plans_done: 0,
            window: None,
            first_step: None,
            step_seconds: 0.0,
            scoring_steps: 0.0,
            scoring: None,
            writing: WRITE_SECONDS,
        }
    }

    /// Until a held-out scoring has been timed, assume it costs as much as
    /// `steps` learning steps (its signals over a step's, say).
    pub fn scoring_like(mut self, steps: f64) -> Self {
        self.scoring_steps = steps;
        self
    }

    /// Seconds of the budget used so far.
    pub fn used(&self) -> f64 {
        self.prior + self.opened.elapsed().as_secs_f64()
    }

    /// Seconds this session has run since the run was opened.
    pub fn session_seconds(&self) -> f64 {
        self.opened.elapsed().as_secs_f64()
    }

    /// Seconds the end of the run is expected to take.
    fn finishing(&self) -> f64 {
        let scoring = self
            .scoring
            .unwrap_or(self.scoring_steps * self.step_seconds);
        scoring + self.writing
    }

    /// Whether the run must stop now to end within its budget.
    pub fn over_budget(&self) -> bool {
        self.budget
            .is_some_and(|b| self.used() + self.finishing() >= b)
    }

    /// A held-out scoring took `seconds` (the run scores once more at its end).
    pub fn scored(&mut self, seconds: f64) {
        self.scoring = Some(self.scoring.unwrap_or(0.0).max(seconds));
    }

    /// Writing outputs (a checkpoint's worth) took `seconds`.
    pub fn wrote(&mut self, seconds: f64) {
        self.writing = self.writing.max(seconds);
    }

    /// Called before step `step` (steps `0..step` done) of a run planned to
    /// end at `horizon`: the new horizon when one is due, else `None`.
    /// Every run's pace is followed (for the cost of finishing); only a
    /// re-planning one plans.
    pub fn plan(&mut self, step: u64, horizon: u64) -> Option<u64> {
        let budget = self.budget?;
        let now = self.used();
        let first = *self.first_step.get_or_insert(step);
        let Some((from_step, from_time)) = self.window else {
            if step > first {
                self.window = Some((step, now));
            }
            return None;
        };
        if step > from_step {
            self.step_seconds = (now - from_time) / (step - from_step) as f64;
        }
        if !self.replan {
            if step >= from_step + MIN_WINDOW_STEPS {
                self.window = Some((step, now));
            }
            return None;
        }
        let early = self.plans_done == 0 && step as f64 >= FIRST_PLAN_SHARE * horizon as f64;
        let due = early
            || PLAN_AT
                .get(self.plans_done)
                .is_some_and(|f| now >= f * budget);
        let window_steps = step.saturating_sub(from_step);
        let long_enough = window_steps >= MIN_WINDOW_STEPS
            && (now - from_time >= MIN_WINDOW_SHARE * budget
                || (early && window_steps as f64 >= FIRST_WINDOW_SHARE * horizon as f64));
        if !due || !long_enough {
            return None;
        }
        self.plans_done += 1;
        self.window = Some((step, now));
        let pace = (step - from_step) as f64 / (now - from_time).max(1e-9);
        let left = budget * (1.0 - MARGIN) - now - self.finishing();
        let planned = step + 1 + (left.max(0.0) * pace) as u64;
        (planned != horizon && planned != UNBOUNDED_STEPS).then_some(planned)
    }
}

/// How a run used its time, for the summary line and the JSON report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeUse {
    /// Where the step count came from.
    pub rule: HorizonRule,
    /// The planned steps (the horizon at the end).
    pub horizon: u64,
    /// Steps done.
    pub steps: u64,
    /// Wall seconds of the run (all sessions, start-up and writing included).
    pub seconds: f64,
    /// The time budget, if one was given.
    pub budget: Option<f64>,
}

impl TimeUse {
    /// One sentence: what was planned and whether the budget was needed.
    pub fn sentence(&self) -> String {
        let steps = steps_label(self.steps);
        let done = format!("{steps} steps in {:.1} s", self.seconds);
        match (self.rule, self.budget) {
            (HorizonRule::Budget, Some(b)) => format!(
                "{done}: horizon {} steps chosen for the {} s budget",
                steps_label(self.horizon),
                number(b)
            ),
            (_, Some(b)) if self.steps >= self.horizon => {
                format!("{done}; the {} s budget was not needed", number(b))
            }
            (_, Some(b)) => format!(
                "{done}: stopped by the {} s budget before the {} planned",
                number(b),
                steps_label(self.horizon)
            ),
            (rule, None) => format!("{done} ({} horizon)", rule.name()),
        }
    }
}

fn number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Steps as a user reads them ("∞" for a time-bounded run).
pub fn steps_label(steps: u64) -> String {
    if steps == UNBOUNDED_STEPS {
        "∞".into()
    } else {
        steps.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_picks_budget_only_with_a_budget() {
        let r = HorizonRule::Auto;
        assert_eq!(r.resolve(None, 2000, 5700).0, HorizonRule::ProblemSize);
        assert_eq!(
            r.resolve(Some(5.0), 1000, 2000),
            (HorizonRule::Budget, 2000)
        );
        assert_eq!(
            HorizonRule::Given.resolve(Some(5.0), 123, 2000),
            (HorizonRule::Given, 123)
        );
        assert!(HorizonRule::Budget.check(None).is_err());
    }

    #[test]
    fn a_fast_run_plans_before_its_starting_horizon_ends() {
        // Steps far faster than 4 % of the budget: the run must still plan
        // (at a quarter of its starting horizon) instead of ending there.
        let mut planner = BudgetPlanner::new(Some(1000.0), Instant::now(), 0.0, true);
        let horizon = 2000;
        let planned = (0..horizon).find_map(|step| planner.plan(step, horizon).map(|h| (step, h)));
        let (step, new_horizon) = planned.expect("a plan before the starting horizon's end");
        assert_eq!(step, horizon / 4);
        assert!(new_horizon > horizon, "{new_horizon}");
        // A run that only follows its pace (a given horizon) never plans.
        let mut given = BudgetPlanner::new(Some(1000.0), Instant::now(), 0.0, false);
        assert!((0..horizon).all(|step| given.plan(step, horizon).is_none()));
    }

    #[test]
    fn the_time_sentence_says_how_the_budget_was_used() {
        let mut t = TimeUse {
            rule: HorizonRule::ProblemSize,
            horizon: 2000,
            steps: 2000,
            seconds: 4.6,
            budget: Some(20.0),
        };
        assert_eq!(
            t.sentence(),
            "2000 steps in 4.6 s; the 20 s budget was not needed"
        );
        t.rule = HorizonRule::Budget;
        t.horizon = 9800;
        t.steps = 9800;
        t.seconds = 19.2;
        assert_eq!(
            t.sentence(),
            "9800 steps in 19.2 s: horizon 9800 steps chosen for the 20 s budget"
        );
    }
}
