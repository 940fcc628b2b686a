//! The patch learner's horizons: the problem-size default step count and
//! how a run's [`HorizonRule`] sets its [`LearnParams`] (the rule itself and
//! the time budget's planning are the learning session's,
//! [`crate::learning::horizon`]).

pub use crate::learning::horizon::{
    BudgetPlanner, HorizonRule, TimeUse, UNBOUNDED_STEPS, steps_label,
};

use super::learn::{LearnParams, REFERENCE_STEPS};

// An inherent impl beside the learner it configures: the session's rule
// knows nothing of the patch learner's schedules.
impl HorizonRule {
    /// Resolves the rule of a run starting with `max_seconds` and applies it
    /// to `learning`: its steps stay if given; else they become the
    /// problem-size horizon (which a budgeted run uses until it has measured
    /// its pace) and earlier revisions are dropped. A final learning rate that
    /// follows the horizon ([`LearnParams::final_rate_horizon`]) is reached as
    /// given at the problem-size horizon. Returns the rule followed.
    pub fn apply(
        self,
        max_seconds: Option<f64>,
        learning: &mut LearnParams,
        n_features: usize,
        atoms: usize,
    ) -> HorizonRule {
        let sized = problem_size_steps(n_features, atoms);
        let (rule, steps) = self.resolve(max_seconds, learning.steps, sized);
        if learning.final_rate_horizon.is_some() {
            learning.final_rate_horizon = Some(problem_size_steps(n_features, atoms));
        }
        if rule != HorizonRule::Given {
            learning.horizons.clear();
        }
        learning.steps = steps;
        rule
    }
}

/// Atoms × values per patch of that run.
const REFERENCE_SIZE: f64 = (128 * 64) as f64;

/// The default horizon for `atoms` atoms of `n_features` values:
/// `2000 · √(atoms · n_features / (128 · 64))`, never below 2000, rounded to
/// hundreds. Measured on the embedded images (BENCHMARKS.md, "Default
/// horizons"): a larger dictionary needs more steps to come as close to what
/// a long run reaches as the 8×8 / 128 default does in 2000 steps.
pub fn problem_size_steps(n_features: usize, atoms: usize) -> u64 {
    let scale = ((atoms * n_features) as f64 / REFERENCE_SIZE)
        .sqrt()
        .max(1.0);
    ((REFERENCE_STEPS as f64 * scale / 100.0).round() as u64 * 100).max(REFERENCE_STEPS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_horizon_is_2000_for_the_reference_problem_and_grows_with_size() {
        assert_eq!(problem_size_steps(64, 128), 2000);
        assert_eq!(problem_size_steps(16, 32), 2000);
        assert!(problem_size_steps(256, 256) > problem_size_steps(192, 128));
        assert!(problem_size_steps(192, 128) > 2000);
    }

    #[test]
    fn a_revised_schedule_continues_from_where_it_was() {
        let mut p = LearnParams::default().steps(1000);
        let before: Vec<f32> = (0..=100).map(|s| p.learning_rate_at(s)).collect();
        p.revise_horizon(100, 5000);
        for (s, v) in before.iter().enumerate() {
            assert_eq!(p.learning_rate_at(s as u64), *v, "step {s}");
        }
        let (start, end) = (p.learning_rate, p.final_learning_rate(5000).unwrap());
        // Continuous at the revision, geometric after it, at its end at the horizon.
        let at = p.learning_rate_at(100);
        assert!((at - before[100]).abs() <= 1e-6 * at);
        assert!(p.learning_rate_at(101) < at);
        assert!((p.learning_rate_at(4999) - end).abs() < 1e-5 * end);
        assert!(p.learning_rate_at(3000) > end && p.learning_rate_at(3000) < start);
        // After the revision it decays as slowly as a 5000-step schedule would,
        // not as the 1000-step one it started with.
        let (old, one) = (
            LearnParams::default().steps(1000),
            LearnParams::default().steps(5000),
        );
        let ratio = |q: &LearnParams, s: u64| q.learning_rate_at(s + 1) / q.learning_rate_at(s);
        assert!(ratio(&p, 200) > ratio(&old, 200));
        assert!((ratio(&p, 200) - ratio(&one, 200)).abs() < 1e-4);
        // Revising again keeps the earlier pieces.
        p.revise_horizon(2000, 3000);
        assert_eq!(p.horizons.len(), 3);
        let end = p.final_learning_rate(3000).unwrap();
        assert!((p.learning_rate_at(2999) - end).abs() < 1e-5 * end);
    }

    #[test]
    fn a_longer_horizon_ends_at_a_lower_rate() {
        let p = LearnParams::default();
        let given = p.learning_rate_final.unwrap();
        // Up to the reference horizon the final rate is the one given...
        assert_eq!(p.final_learning_rate(500), Some(given));
        assert_eq!(p.final_learning_rate(REFERENCE_STEPS), Some(given));
        // ...beyond it, it falls as (reference / steps)^0.75, and the schedule ends there.
        let four = p.final_learning_rate(4 * REFERENCE_STEPS).unwrap();
        assert!((f64::from(four) - f64::from(given) * 0.25f64.powf(0.75)).abs() < 1e-6);
        let long = p.clone().steps(4 * REFERENCE_STEPS);
        assert!((long.learning_rate_at(4 * REFERENCE_STEPS - 1) - four).abs() < 1e-5 * four);
        // The given final rate is reached at 80 % of the steps, where the cool-down starts.
        let knee = 4 * REFERENCE_STEPS * 4 / 5;
        assert!((long.learning_rate_at(knee) - given).abs() < 1e-5 * given);
        assert!(
            long.learning_rate_at(knee / 2) > given && long.learning_rate_at(knee + 100) < given
        );
        // An explicit final rate (no reference) and a constant rate do not move.
        let fixed = p.clone().final_rate_horizon(None);
        assert_eq!(fixed.final_learning_rate(100_000), Some(given));
        let constant = p.clone().learning_rate_final(Some(p.learning_rate));
        assert_eq!(constant.final_learning_rate(100_000), Some(p.learning_rate));
        // A run's reference is its problem-size horizon.
        let mut q = LearnParams::default();
        HorizonRule::Given.apply(None, &mut q, 256, 256);
        assert_eq!(q.final_rate_horizon, Some(problem_size_steps(256, 256)));
        let mut r = LearnParams::default().final_rate_horizon(None);
        HorizonRule::Auto.apply(None, &mut r, 256, 256);
        assert_eq!(r.final_rate_horizon, None);
    }

    #[test]
    fn an_unrevised_schedule_is_the_one_piece_geometric_schedule() {
        let p = LearnParams::default().steps(777);
        for s in [0u64, 1, 10, 400, 776, 900] {
            let t = (s as f64 / 776.0).min(1.0);
            let want = (4.0f64 * (0.4f64 / 4.0).powf(t)) as f32;
            assert_eq!(p.learning_rate_at(s), want);
        }
    }
}
