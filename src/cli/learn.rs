//! `lca learn`: learn a dictionary from a folder of images (or the embedded
//! samples), with checkpoints that survive `kill -9` and `--resume`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use lca::Dictionary;
use lca::dictionary::learn::{DictionaryLearner, LearnParams, LearnerState};
use lca::dictionary::training_log::{CSV_HEADER, TrainingRow, read_training_csv};
use lca::image::{ImageSet, Preprocessing, Preprocessor, Whitening, Zca, sample_patches};
use lca::io::atomic::write_bytes_atomic;
use lca::io::npy::{self, NpyArray};
use lca::io::npz;
use lca::solver::LcaParams;
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, ValueEnum, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum WhitenArg {
    None,
    OneOverF,
    Zca,
}

#[derive(Args, Debug)]
pub struct LearnArgs {
    /// Folder of images (PNG, JPEG, TIFF, BMP). Without it, the sample images embedded in the binary.
    dir: Option<PathBuf>,
    /// Also read images in sub-folders.
    #[arg(long)]
    recursive: bool,
    /// Patch side P (patches are P×P).
    #[arg(long, default_value_t = 8)]
    patch_size: usize,
    /// Number of atoms.
    #[arg(long, default_value_t = 128)]
    atoms: usize,
    /// Sparsity penalty λ (at the first step).
    #[arg(long, default_value_t = 0.1)]
    lambda: f32,
    /// λ at the last step (geometric schedule).
    #[arg(long)]
    lambda_final: Option<f32>,
    /// Learning steps (minibatches).
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// Patches per minibatch.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Learning rate η (at the first step).
    #[arg(long, default_value_t = 4.0)]
    learning_rate: f32,
    /// Learning rate at the last step (geometric schedule from --learning-rate).
    #[arg(long, default_value_t = 0.4)]
    learning_rate_final: f32,
    /// Momentum of the dictionary update.
    #[arg(long, default_value_t = 0.0)]
    momentum: f32,
    /// Re-seed an atom unused for this many consecutive steps (0: never).
    #[arg(long, default_value_t = 50)]
    resample_after: u64,
    /// Seed of every random choice (patch sampling, initial atoms).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Start from this dictionary (n_atoms, n_features) instead of random patches.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Keep RGB: each patch holds P×P×3 values (pixel-interleaved).
    #[arg(long)]
    color: bool,
    /// Shrink images by this factor before sampling.
    #[arg(long, default_value_t = 1.0)]
    downscale: f32,
    /// Whitening: none, one-over-f (Olshausen & Field, whole images) or zca (patches).
    #[arg(long, value_enum, default_value_t = WhitenArg::None)]
    whiten: WhitenArg,
    /// Remove each patch's mean (on by default).
    #[arg(long, overrides_with = "no_remove_mean")]
    remove_mean: bool,
    /// Keep each patch's mean.
    #[arg(long)]
    no_remove_mean: bool,
    /// Scale each patch to unit norm (on by default).
    #[arg(long, overrides_with = "no_unit_norm")]
    unit_norm: bool,
    /// Keep patch norms.
    #[arg(long)]
    no_unit_norm: bool,
    /// Patches whose norm after mean removal is below this are skipped as flat.
    #[arg(long, default_value_t = 0.1)]
    min_norm: f32,
    /// Output folder: dictionary.npy, atoms.png, training.csv, training.png, config.json.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Write a resumable checkpoint every K steps (0: only at the end).
    #[arg(long, default_value_t = 0)]
    checkpoint_every: u64,
    /// Continue the interrupted run in this folder (its config.json wins over other flags).
    #[arg(long, conflicts_with_all = ["dir", "output"])]
    resume: Option<PathBuf>,
    #[command(flatten)]
    run: super::RunOptions,
}

/// Every setting of a run, written to `config.json`; `--resume` reads it back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct LearnConfig {
    pub crate_version: String,
    pub images: Option<PathBuf>,
    pub recursive: bool,
    pub patch_size: usize,
    pub atoms: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub init: Option<PathBuf>,
    pub checkpoint_every: u64,
    pub preprocessing: Preprocessing,
    pub learning: LearnParams,
    /// ZCA transform fitted on the training patches (with `whiten = zca`).
    pub zca: Option<Zca>,
}

impl LearnArgs {
    fn config(&self) -> anyhow::Result<LearnConfig> {
        let preprocessing = Preprocessing {
            downscale: self.downscale,
            color: self.color,
            whiten: match self.whiten {
                WhitenArg::None => Whitening::None,
                WhitenArg::OneOverF => Whitening::from_name("one-over-f")?,
                WhitenArg::Zca => Whitening::from_name("zca")?,
            },
            remove_mean: !self.no_remove_mean,
            unit_norm: !self.no_unit_norm,
            min_norm: self.min_norm,
        };
        preprocessing.validate()?;
        let learning = LearnParams {
            lca: LcaParams::new().lambda(self.lambda),
            learning_rate: self.learning_rate,
            learning_rate_final: Some(self.learning_rate_final),
            lambda_final: self.lambda_final,
            momentum: self.momentum,
            steps: self.steps,
            resample_after: self.resample_after,
        };
        learning.check()?;
        if self.patch_size == 0 || self.atoms == 0 || self.batch_size == 0 {
            bail!("--patch-size, --atoms and --batch-size must be at least 1");
        }
        Ok(LearnConfig {
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            images: self.dir.clone(),
            recursive: self.recursive,
            patch_size: self.patch_size,
            atoms: self.atoms,
            batch_size: self.batch_size,
            seed: self.seed,
            init: self.init.clone(),
            checkpoint_every: self.checkpoint_every,
            preprocessing,
            learning,
            zca: None,
        })
    }
}

/// Random stream for one purpose: every step samples from its own stream, so
/// a resumed run draws exactly the patches the uninterrupted run would have.
fn stream(seed: u64, id: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(id);
    rng
}
const STREAM_ZCA: u64 = u64::MAX;
const STREAM_INIT: u64 = u64::MAX - 1;

/// Opens the images of a run, printing one warning per skipped file.
pub(crate) fn open_images(config: &LearnConfig, quiet: bool) -> anyhow::Result<ImageSet> {
    let opts = config.preprocessing.load_options();
    let set = match &config.images {
        None => ImageSet::embedded(opts)?,
        Some(dir) => {
            let (set, warnings) = ImageSet::from_folder(dir, config.recursive, opts)?;
            if !quiet {
                for w in warnings {
                    eprintln!("warning: {w}");
                }
            }
            set
        }
    };
    set.check_patch(config.patch_size)?;
    Ok(set)
}

/// Steps between rewrites of `training.csv` while learning (for monitoring).
const LOG_EVERY: u64 = 100;

/// Writes the whole training log atomically, so it is never seen half-written.
fn write_log(path: &Path, rows: &[TrainingRow]) -> anyhow::Result<()> {
    let mut text = String::from(CSV_HEADER);
    text.push('\n');
    for r in rows {
        text.push_str(&r.to_csv_line());
        text.push('\n');
    }
    write_bytes_atomic(path, text.as_bytes())?;
    Ok(())
}

fn checkpoint_path(out: &Path) -> PathBuf {
    out.join("checkpoint.npz")
}

fn write_checkpoint(out: &Path, state: &LearnerState, seconds: f64) -> anyhow::Result<()> {
    let (n, k) = state.atoms.shape();
    let meta = serde_json::json!({ "step": state.step, "seconds": seconds }).to_string();
    let idle: Vec<i64> = state.idle.iter().map(|&v| v as i64).collect();
    let arrays = [
        (
            "atoms",
            NpyArray::from_f32(vec![k, n], state.atoms.as_slice())?,
        ),
        (
            "velocity",
            NpyArray::from_f32(vec![k, n], state.velocity.as_slice())?,
        ),
        ("idle", NpyArray::from_i64(vec![k], &idle)?),
        (
            "meta",
            NpyArray::from_u8(vec![meta.len()], meta.as_bytes())?,
        ),
    ];
    let named: Vec<(&str, &NpyArray)> = arrays.iter().map(|(name, a)| (*name, a)).collect();
    npz::write_npz(&checkpoint_path(out), &named)?;
    Ok(())
}

fn read_checkpoint(out: &Path, n: usize, k: usize) -> anyhow::Result<(LearnerState, f64)> {
    let path = checkpoint_path(out);
    let arrays = npz::read_npz(&path)?;
    let get = |name: &str| {
        arrays
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
            .with_context(|| format!("{}: checkpoint has no '{name}' array", path.display()))
    };
    let f32s = |name: &str| -> anyhow::Result<DMatrix<f32>> {
        let v = get(name)?
            .to_f32_vec()
            .with_context(|| format!("{}: '{name}' is not f32", path.display()))?;
        if v.len() != n * k {
            bail!(
                "{}: '{name}' has {} values, expected {k} atoms × {n} features",
                path.display(),
                v.len()
            );
        }
        Ok(DMatrix::from_vec(n, k, v))
    };
    let idle = get("idle")?
        .to_i64_vec()
        .with_context(|| format!("{}: bad 'idle'", path.display()))?;
    let meta: serde_json::Value = serde_json::from_slice(&get("meta")?.bytes)
        .with_context(|| format!("{}: unreadable 'meta'", path.display()))?;
    let state = LearnerState {
        step: meta["step"]
            .as_u64()
            .with_context(|| format!("{}: no step in meta", path.display()))?,
        atoms: f32s("atoms")?,
        velocity: f32s("velocity")?,
        idle: idle.into_iter().map(|v| v.max(0) as u64).collect(),
    };
    Ok((state, meta["seconds"].as_f64().unwrap_or(0.0)))
}

/// Writes the dictionary and its picture (atomically), as at the end of a run.
fn write_dictionary(
    out: &Path,
    learner: &DictionaryLearner,
    config: &LearnConfig,
) -> anyhow::Result<()> {
    let atoms = &learner.state().atoms;
    let (n, k) = atoms.shape();
    npy::write_matrix(&out.join("dictionary.npy"), k, n, atoms.as_slice())?;
    let channels = if config.preprocessing.color { 3 } else { 1 };
    lca::plot::write_atoms_png(&out.join("atoms.png"), atoms.as_slice(), k, n, channels)?;
    Ok(())
}

pub fn run(args: LearnArgs) -> anyhow::Result<()> {
    let resuming = args.resume.is_some();
    let (mut config, out) = match &args.resume {
        Some(out) => {
            let path = out.join("config.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{}: cannot resume", path.display()))?;
            let config: LearnConfig = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a valid lca learn config", path.display()))?;
            (config, out.clone())
        }
        None => {
            let out = args
                .output
                .clone()
                .context("--output OUT/ is required (or --resume OUT/)")?;
            (args.config()?, out)
        }
    };
    if resuming {
        // Half-written temporaries of the killed run (its outputs are intact).
        lca::io::atomic::remove_stale_temporaries(&out)?;
    } else {
        std::fs::create_dir_all(&out)
            .with_context(|| format!("{}: cannot create output folder", out.display()))?;
    }
    super::check_writable(&out.join("config.json"))?;

    let set = open_images(&config, args.run.quiet)?;
    let channels = set.channels();
    let n = config.patch_size * config.patch_size * channels;
    let k = config.atoms;

    let mut pre = Preprocessor::new(config.preprocessing)?;
    match (&config.zca, config.preprocessing.whiten) {
        (Some(zca), _) => pre.set_zca(zca.clone())?,
        (None, Whitening::Zca { .. }) => {
            pre = Preprocessor::fit(
                config.preprocessing,
                &set,
                config.patch_size,
                &mut stream(config.seed, STREAM_ZCA),
            )?;
            config.zca = pre.zca().cloned();
        }
        _ => {}
    }

    let csv_path = out.join("training.csv");
    let (mut learner, mut rows, elapsed) = if resuming && checkpoint_path(&out).exists() {
        let (state, seconds) = read_checkpoint(&out, n, k)?;
        let step = state.step;
        let learner = DictionaryLearner::resume(config.learning.clone(), state)?;
        // Rows after the checkpoint were lost with the interrupted run: drop them.
        let rows: Vec<TrainingRow> = if csv_path.exists() {
            read_training_csv(&csv_path)?
                .into_iter()
                .filter(|r| r.step <= step)
                .collect()
        } else {
            Vec::new()
        };
        (learner, rows, seconds)
    } else {
        let init = match &config.init {
            Some(path) => {
                let d = super::encode::read_dictionary(path)?;
                if d.n_atoms() != k || d.n_features() != n {
                    bail!(
                        "{}: initial dictionary has shape ({}, {}), expected ({k}, {n}) for {k} atoms of {}×{}×{channels} patches",
                        path.display(),
                        d.n_atoms(),
                        d.n_features(),
                        config.patch_size,
                        config.patch_size
                    );
                }
                d
            }
            None => {
                let patches = sample_patches(
                    &set,
                    k,
                    config.patch_size,
                    &pre,
                    &mut stream(config.seed, STREAM_INIT),
                )?;
                Dictionary::from_atoms(patches)?
            }
        };
        (
            DictionaryLearner::new(config.learning.clone(), init)?,
            Vec::new(),
            0.0,
        )
    };

    let config_json = serde_json::to_string_pretty(&config)?;
    write_bytes_atomic(&out.join("config.json"), config_json.as_bytes())?;
    write_log(&csv_path, &rows)?;

    let total = config.learning.steps;
    let bar = super::progress::bar(total, "steps", args.run.quiet);
    bar.set_position(learner.steps_done());
    let start = Instant::now();
    let result = super::with_threads(args.run.threads, || -> anyhow::Result<()> {
        while learner.steps_done() < total {
            let step = learner.steps_done();
            let batch = sample_patches(
                &set,
                config.batch_size,
                config.patch_size,
                &pre,
                &mut stream(config.seed, step),
            )?;
            let stats = learner.step(&batch)?;
            let row = TrainingRow {
                step: step + 1,
                seconds: elapsed + start.elapsed().as_secs_f64(),
                mse: stats.mse,
                l1: stats.l1,
                active_fraction: stats.active_fraction,
                energy: stats.energy,
                heldout_energy: None,
            };
            rows.push(row);
            bar.set_message(format!(
                "mse {:.5} active {:.3} energy {:.4}",
                stats.mse, stats.active_fraction, stats.energy
            ));
            bar.inc(1);
            let done = learner.steps_done();
            let checkpoint = config.checkpoint_every > 0 && done % config.checkpoint_every == 0;
            if (checkpoint || done % LOG_EVERY == 0) && done < total {
                // The log first: a resume drops rows past its checkpoint, so
                // the log may run ahead of the checkpoint but never lag it.
                write_log(&csv_path, &rows)?;
            }
            if checkpoint && done < total {
                write_dictionary(&out, &learner, &config)?;
                write_checkpoint(&out, learner.state(), row.seconds)?;
            }
        }
        Ok(())
    })?;
    result?;
    bar.finish_and_clear();

    write_dictionary(&out, &learner, &config)?;
    write_log(&csv_path, &rows)?;
    lca::plot::write_training_png(&out.join("training.png"), &rows)?;
    if config.checkpoint_every > 0 {
        write_checkpoint(
            &out,
            learner.state(),
            rows.last().map_or(0.0, |r| r.seconds),
        )?;
    }

    let last = rows.last().copied();
    let summary = serde_json::json!({
        "output": out.display().to_string(),
        "steps": learner.steps_done(),
        "atoms": k,
        "n_features": n,
        "images": set.len(),
        "seconds": last.map_or(0.0, |r| r.seconds),
        "final_mse": last.map(|r| r.mse),
        "final_active_fraction": last.map(|r| r.active_fraction),
        "final_energy": last.map(|r| r.energy),
    });
    if args.run.json {
        println!("{summary}");
    } else if !args.run.quiet {
        println!(
            "learned {k} atoms of {}×{}{} from {} images in {} steps ({:.1} s): energy {:.4}, active fraction {:.3} → {}",
            config.patch_size,
            config.patch_size,
            if channels == 3 { "×3" } else { "" },
            set.len(),
            learner.steps_done(),
            last.map_or(0.0, |r| r.seconds),
            last.map_or(0.0, |r| r.energy),
            last.map_or(0.0, |r| r.active_fraction),
            out.display()
        );
    }
    Ok(())
}
