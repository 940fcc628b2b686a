//! `lca learn --conv`: convolutional dictionary learning
//! ([`lca::conv::ConvTraining`]) behind the same flags, progress, signals,
//! outputs and `--resume` as patch learning.

use std::sync::Arc;

use anyhow::bail;
use clap::ArgMatches;
use lca::conv::{
    ConvLearnParams, ConvTraining, ConvTrainingConfig, is_conv_config, learn_defaults,
    learning_dims,
};
use lca::dictionary::UNBOUNDED_STEPS;
use lca::dictionary::{Status, steps_label};

use super::{LearnArgs, Terminal, explicit};

/// Flags that only mean something for convolutional learning.
const CONV_ONLY: &[&str] = &[
    "kernel_size",
    "highpass",
    "crop",
    "heldout_images",
    "dims",
    "kernel_depth",
    "crop_depth",
];
/// Flags of patch learning that convolutional learning does not take.
const PATCH_ONLY: &[&str] = &[
    "patch_size",
    "rule",
    "lambda_final",
    "batch_size",
    "learning_rate",
    "learning_rate_final",
    "momentum",
    "resample_after",
    "heldout_patches",
    "whiten",
    "remove_mean",
    "no_remove_mean",
    "unit_norm",
    "no_unit_norm",
    "min_norm",
];

fn flag(id: &str) -> String {
    format!("--{}", id.replace('_', "-"))
}

/// Whether this is a convolutional run: `--conv`, or `--resume` of a folder
/// whose `config.json` has a `conv` section. Refuses conv-only flags
/// without `--conv` and patch-only flags with it.
pub(super) fn wants_conv(args: &LearnArgs, matches: &ArgMatches) -> anyhow::Result<bool> {
    let typed = explicit(matches);
    if let Some(out) = &args.resume
        && !args.conv
    {
        let text = std::fs::read_to_string(out.join("config.json")).unwrap_or_default();
        return Ok(is_conv_config(&text));
    }
    let misplaced: Vec<String> = typed
        .iter()
        .filter(|id| {
            if args.conv {
                PATCH_ONLY.contains(&id.as_str())
            } else {
                CONV_ONLY.contains(&id.as_str())
            }
        })
        .map(|id| flag(id))
        .collect();
    if !misplaced.is_empty() {
        if args.conv {
            bail!(
                "{} cannot be given with --conv (patch learning only)",
                misplaced.join(", ")
            );
        }
        bail!(
            "{} need --conv (convolutional learning)",
            misplaced.join(", ")
        );
    }
    Ok(args.conv)
}

/// The run's settings from the flags; defaults of untyped flags come from
/// [`learn_defaults`] (they differ from patch learning's: fewer atoms, λ and
/// step count of convolutional coding), and for 1-D and 3-D runs from
/// [`ConvLearnParams::for_dims`]; the dimension is `--dims` or the input's
/// ([`learning_dims`]).
fn config(args: &LearnArgs, typed: &[String]) -> anyhow::Result<ConvTrainingConfig> {
    let given = |id: &str| typed.iter().any(|t| t == id);
    let steps = match (args.steps, args.max_seconds) {
        (None, _) => learn_defaults::STEPS,
        (Some(0), Some(_)) => UNBOUNDED_STEPS,
        (Some(0), None) => bail!("--steps 0 (no step limit) needs --max-seconds"),
        (Some(n), _) => n,
    };
    let dims = learning_dims(args.dir.as_deref(), args.dims, args.recursive)?;
    let base = ConvLearnParams::for_dims(dims)?;
    if dims != 3 && (args.kernel_depth.is_some() || args.crop_depth.is_some()) {
        bail!("--kernel-depth and --crop-depth need 3-D signals (--dims 3)");
    }
    let mut conv = base
        .clone()
        .lambda(if given("lambda") {
            args.lambda
        } else {
            learn_defaults::LAMBDA
        })
        .heldout_images(args.heldout_images)
        .heldout_every(if given("heldout_every") {
            args.heldout_every
        } else {
            learn_defaults::HELDOUT_EVERY
        });
    if given("kernel_size") {
        conv = conv.kernel_size(args.kernel_size);
    }
    if given("highpass") {
        conv = conv.highpass(args.highpass);
    }
    if given("crop") {
        conv = conv.crop(args.crop);
    }
    if let Some(d) = args.kernel_depth {
        conv = conv.kernel_depth(d);
    }
    if let Some(d) = args.crop_depth {
        conv = conv.crop_depth(d);
    }
    let config = ConvTrainingConfig::default()
        .images(args.dir.clone())
        .recursive(args.recursive)
        .atoms(if given("atoms") {
            args.atoms
        } else {
            learn_defaults::ATOMS
        })
        .steps(steps)
        .seed(args.seed)
        .init(args.init.clone())
        .checkpoint_every(args.checkpoint_every)
        .max_seconds(args.max_seconds)
        .color(args.color)
        .downscale(args.downscale)
        .conv(conv)
        .horizon(args.horizon());
    Ok(config.check()?.into_inner())
}

pub(super) fn run(
    args: LearnArgs,
    matches: &ArgMatches,
    comm: &dyn lca::distributed::Communicator,
) -> anyhow::Result<i32> {
    let quiet = args.run.quiet;
    let bar = crate::cli::progress::bar(0, "steps", quiet);
    let mut term = Terminal { bar, quiet };
    let typed = explicit(matches);
    let (mut training, out) = match &args.resume {
        Some(out) => {
            let refused: Vec<String> = typed
                .iter()
                .filter(|id| !["resume", "threads", "quiet", "json", "conv"].contains(&id.as_str()))
                .map(|id| flag(id))
                .collect();
            if !refused.is_empty() {
                bail!(
                    "{} cannot be given with --resume: {} fixes every setting of the run (start a new run with --output to change them)",
                    refused.join(", "),
                    out.join("config.json").display()
                );
            }
            let t = ConvTraining::resume(out, comm, &mut term)?;
            if !quiet {
                super::report_resume(out, t.already_finished(), t.steps_done(), t.config().steps);
            }
            (t, out.clone())
        }
        None => {
            let Some(out) = args.output.clone() else {
                bail!("--output OUT/ is required (or --resume OUT/)");
            };
            let config = config(&args, &typed)?;
            (ConvTraining::start(config, &out, comm, &mut term)?, out)
        }
    };

    // SIGINT / SIGTERM: finish the step, write everything, exit 130 / 143.
    let stop = super::stop_on_signals()?;
    training = training.with_interrupt(Arc::clone(&stop));
    let report = crate::cli::with_threads(args.run.threads, || training.run(&mut term))??;
    term.bar.finish_and_clear();

    let config = training.config();
    let shape = training.learner().shape_nd();
    let last = report.last;
    let rate = |count: f64| {
        if report.session_seconds > 0.0 {
            count / report.session_seconds
        } else {
            0.0
        }
    };
    let status = match report.status {
        Status::Completed => "completed",
        Status::TimeBudget => "time-budget",
        Status::Interrupted => "interrupted",
        Status::Running => "running",
    };
    let mut summary = serde_json::json!({
        "output": out.display().to_string(),
        "mode": "conv",
        "status": status,
        "steps": report.steps_done,
        "atoms": shape.atoms,
        "channels": shape.channels,
        "kernel_size": shape.extent[2],
        "lambda": config.conv.lambda,
        "highpass": config.conv.highpass,
        "images": report.images,
        "seconds": report.seconds,
        "final_mse": last.map(|r| r.mse),
        "final_active_fraction": last.map(|r| r.active_fraction),
        "final_energy": last.map(|r| r.energy),
        "heldout_energy": report.heldout_energy,
        "steps_per_second": rate(report.session_steps as f64),
        "horizon": super::time_json(report.time.as_ref()),
    });
    if shape.dims != 2 {
        summary["dims"] = shape.dims.into();
        summary["kernel_shape"] = shape.kernel_shape().into();
    }
    if args.run.json {
        println!("{summary}");
    } else if !quiet && training.already_finished().is_none() {
        let size = match shape.dims {
            2 => format!(
                "{k}×{k}{}",
                if shape.channels == 3 { "×3" } else { "" },
                k = shape.extent[2]
            ),
            _ => shape.describe(),
        };
        let noun = if shape.dims == 2 { "images" } else { "signals" };
        println!(
            "learned {} filters of {size} from {} {noun} in {} steps ({:.1} s): energy/pixel {:.5}, held-out {}, active fraction {:.4} → {}",
            shape.atoms,
            report.images,
            report.steps_done,
            report.seconds,
            last.map_or(0.0, |r| r.energy),
            report
                .heldout_energy
                .map_or("-".to_string(), |h| format!("{h:.5}")),
            last.map_or(0.0, |r| r.active_fraction),
            out.display()
        );
        super::print_time_use(report.time.as_ref());
    }
    if report.status == Status::Interrupted && !quiet {
        eprintln!(
            "interrupted at step {} of {}: outputs and checkpoint written; continue with: lca learn --resume {}",
            report.steps_done,
            steps_label(config.steps),
            out.display()
        );
    }
    Ok(super::exit_code(report.status, &stop))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    fn parse(argv: &[&str]) -> (LearnArgs, ArgMatches) {
        let m = crate::cli::Cli::command().get_matches_from(argv);
        let sub = m.subcommand_matches("learn").unwrap().clone();
        (LearnArgs::from_arg_matches(&sub).unwrap(), sub)
    }

    #[test]
    fn conv_cli_defaults_are_the_library_defaults() {
        let (args, m) = parse(&["lca", "learn", "--conv"]);
        assert!(wants_conv(&args, &m).unwrap());
        assert_eq!(
            config(&args, &explicit(&m)).unwrap(),
            ConvTrainingConfig::default()
        );
    }

    #[test]
    fn flags_of_the_other_mode_are_refused() {
        let (args, m) = parse(&["lca", "learn", "--kernel-size", "8"]);
        assert!(
            wants_conv(&args, &m)
                .unwrap_err()
                .to_string()
                .contains("--kernel-size need --conv")
        );
        let (args, m) = parse(&["lca", "learn", "--conv", "--patch-size", "8"]);
        assert!(wants_conv(&args, &m).is_err());
        let (args, m) = parse(&["lca", "learn"]);
        assert!(!wants_conv(&args, &m).unwrap());
    }
}
