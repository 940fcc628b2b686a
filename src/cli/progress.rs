//! Progress bars for long commands: drawn on a terminal, silent with `--quiet`
//! or when stderr is not a terminal (logs, pipes, CI).
//!
//! Rate and ETA are our own template keys: indicatif's `{per_sec}` prints four
//! decimals (`758.7013/s`), and its estimator counts a resumed run's jump to
//! its first step as progress (`37,218,850/s`). Ours average over the work
//! seen since the bar's first update, so a position set before any work
//! (a resume) is the baseline rather than progress.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::style::ProgressTracker;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A bar counting `total` items of `unit`, or a hidden one. The first
/// position it is given (by `set_position` or `inc`) is the baseline of the
/// rate and ETA; for a resumed run prefer [`bar_from`].
pub fn bar(total: u64, unit: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    let pb = ProgressBar::new(total);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{rate}}, eta {{eta}}) {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        let rate = Speed::new(Show::Rate(unit_singular(unit)));
        pb.set_style(
            style
                .with_key("rate", rate)
                .with_key("eta", Speed::new(Show::Eta)),
        );
    }
    pb
}

/// A bar whose first `done` items were finished earlier (a resumed run):
/// they count towards the position but not towards the rate or ETA.
pub fn bar_from(total: u64, done: u64, unit: &str, quiet: bool) -> ProgressBar {
    let pb = bar(total, unit, quiet);
    pb.set_position(done);
    // Ticks even when set_position was rate-limited, so the baseline is `done`.
    pb.tick();
    pb
}

/// `unit` without a plural `s`, for "12.3 s/epoch".
fn unit_singular(unit: &str) -> String {
    unit.strip_suffix('s').unwrap_or(unit).to_string()
}

#[derive(Clone, Debug)]
enum Show {
    /// Items per second (or seconds per item, for slow work), of this unit.
    Rate(String),
    Eta,
}

/// Template key computing rate or ETA from the first position it saw.
#[derive(Clone, Debug)]
struct Speed {
    show: Show,
    base: Option<(u64, Instant)>,
}

impl Speed {
    fn new(show: Show) -> Self {
        Speed { show, base: None }
    }
}

impl ProgressTracker for Speed {
    fn clone_box(&self) -> Box<dyn ProgressTracker> {
        Box::new(self.clone())
    }

    fn tick(&mut self, state: &ProgressState, now: Instant) {
        self.base.get_or_insert((state.pos(), now));
    }

    fn reset(&mut self, state: &ProgressState, now: Instant) {
        self.base = Some((state.pos(), now));
    }

    fn write(&self, state: &ProgressState, w: &mut dyn std::fmt::Write) {
        let rate = self
            .base
            .and_then(|(pos, t)| rate(state.pos(), pos, t.elapsed()));
        let text = match &self.show {
            Show::Rate(unit) => format_rate(rate, unit),
            Show::Eta => format_eta(rate, state.len().unwrap_or(0).saturating_sub(state.pos())),
        };
        let _ = w.write_str(&text);
    }
}

/// Items per second between a baseline `(from, elapsed ago)` and `pos`;
/// `None` until some work was done.
fn rate(pos: u64, from: u64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (pos > from && secs > 0.0).then(|| (pos - from) as f64 / secs)
}

/// `759/s`, `12.3/s`, `2.50/s`, or for under one item a second `3.2 s/epoch`.
fn format_rate(rate: Option<f64>, unit: &str) -> String {
    match rate {
        None => "-/s".into(),
        Some(r) if r >= 100.0 => format!("{r:.0}/s"),
        Some(r) if r >= 10.0 => format!("{r:.1}/s"),
        Some(r) if r >= 1.0 => format!("{r:.2}/s"),
        Some(r) => format!("{:.1} s/{unit}", 1.0 / r),
    }
}

/// Time left at `rate` for `remaining` items: `45s`, `3m 20s`, `2h 05m`.
fn format_eta(rate: Option<f64>, remaining: u64) -> String {
    let Some(r) = rate else {
        return "-".into();
    };
    let secs = (remaining as f64 / r).round();
    if !secs.is_finite() || secs > 1e7 {
        return "-".into();
    }
    let s = secs as u64;
    let mut out = String::new();
    let _ = match s {
        0..60 => write!(out, "{s}s"),
        60..3600 => write!(out, "{}m {:02}s", s / 60, s % 60),
        _ => write!(out, "{}h {:02}m", s / 3600, (s % 3600) / 60),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_rounded_to_what_a_reader_needs() {
        assert_eq!(format_rate(Some(758.7013), "step"), "759/s");
        assert_eq!(format_rate(Some(12.345), "step"), "12.3/s");
        assert_eq!(format_rate(Some(2.5), "step"), "2.50/s");
        assert_eq!(format_rate(Some(1.0 / 32.14), "epoch"), "32.1 s/epoch");
        assert_eq!(format_rate(None, "step"), "-/s");
    }

    #[test]
    fn a_resumed_position_is_a_baseline_not_progress() {
        // Resumed at step 1 000 000, 10 steps done in 2 s: 5/s, not ~500 000/s.
        let r = rate(1_000_010, 1_000_000, Duration::from_secs(2));
        assert_eq!(r, Some(5.0));
        assert_eq!(rate(1_000_000, 1_000_000, Duration::from_secs(2)), None);
        assert_eq!(format_eta(r, 1_000), "3m 20s");
        assert_eq!(format_eta(Some(0.5), 15_000), "8h 20m");
        assert_eq!(format_eta(None, 5), "-");
    }

    #[test]
    fn hidden_bars_still_count() {
        let pb = bar_from(100, 40, "steps", true);
        pb.inc(2);
        assert_eq!(pb.position(), 42);
    }
}
