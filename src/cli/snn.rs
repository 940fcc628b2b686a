//! `lca snn train` / `lca snn eval`: spiking networks trained with surrogate
//! gradients on Yin-Yang, the 8×8 digits or a CSV file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use lca::neuron::{Reset, Surrogate, SurrogateKind};
use lca::snn::data::{self, Dataset, Scaling, Splits};
use lca::snn::train::Encoded;
use lca::snn::{
    EncoderConfig, EpochStats, Latency, LayerKind, LayerSpec, Loss, Method, Model, Network, Rate,
    SpikeTiming, TrainConfig,
};

#[derive(Args, Debug)]
pub struct SnnArgs {
    #[command(subcommand)]
    command: SnnCommand,
}

#[derive(Subcommand, Debug)]
enum SnnCommand {
    /// Train a spiking network with surrogate gradients; writes OUT/model.json,
    /// OUT/training.csv and OUT/training.png and prints the test accuracy.
    Train(TrainArgs),
    /// Accuracy of a trained model on a dataset's test split (or a whole CSV file).
    Eval(EvalArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SurrogateArg {
    Box,
    Sigmoid,
    Exponential,
    FastSigmoid,
    Triangle,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LossArg {
    /// Cross-entropy on the maximum over time of readout voltages.
    Max,
    /// Cross-entropy on the time-averaged readout voltage.
    Mean,
    /// Cross-entropy on output spike counts.
    Count,
    /// Time-to-first-spike cross-entropy (Wunderlich & Pehle 2021).
    Ttfs,
    /// Cross-entropy on the exponentially weighted readout voltage (weights e^{−t/τ}, --exp-tau).
    Exp,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MethodArg {
    /// Backpropagation through time with a surrogate spike derivative.
    Surrogate,
    /// Exact gradients from the spikes (Wunderlich & Pehle 2021); spikes are
    /// timed within their step, decays stay fixed.
    Eventprop,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EncoderArg {
    Latency,
    Rate,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ResetArg {
    Zero,
    Subtract,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// `yinyang`, `digits`, or a CSV file (features then an integer label per line; .csv or .csv.gz).
    #[arg(long)]
    dataset: String,
    /// Classes of a CSV dataset (default: largest label + 1).
    #[arg(long)]
    classes: Option<usize>,
    /// Output folder (created if missing).
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Surrogate gradient (nascent delta) family.
    #[arg(long, value_enum, default_value_t = SurrogateArg::FastSigmoid)]
    surrogate: SurrogateArg,
    /// Width of the surrogate gradient (in units of the firing threshold);
    /// not a time constant. Old spelling: --tau.
    #[arg(long = "surrogate-width", alias = "tau", default_value_t = 0.1)]
    surrogate_width: f32,
    /// Surrogate scale α (its integral).
    #[arg(long, default_value_t = 1.0)]
    alpha: f32,
    /// Hidden layer sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    hidden: Vec<usize>,
    /// Recurrent hidden layers.
    #[arg(long)]
    recurrent: bool,
    /// Loss; `max` and `mean` use a leaky non-spiking readout, `count` and `ttfs` spiking outputs.
    #[arg(long, value_enum, default_value_t = LossArg::Max)]
    loss: LossArg,
    /// Softmax temperature τ₀ (steps) of the ttfs loss.
    #[arg(long, default_value_t = 2.0)]
    ttfs_tau0: f32,
    /// Regulariser time scale τ₁ (steps) of the ttfs loss.
    #[arg(long, default_value_t = 20.0)]
    ttfs_tau1: f32,
    /// Regulariser weight γ of the ttfs loss.
    #[arg(long, default_value_t = 0.0)]
    ttfs_gamma: f32,
    /// Decay time τ (time steps) of the weights of the exp loss (default: the number of time steps).
    #[arg(long)]
    exp_tau: Option<f32>,
    /// Gradient: surrogate BPTT, or exact EventProp (trains weights, biases
    /// and thresholds; decays stay fixed).
    #[arg(long, value_enum, default_value_t = MethodArg::Surrogate)]
    method: MethodArg,
    /// Input encoding.
    #[arg(long, value_enum, default_value_t = EncoderArg::Latency)]
    encoder: EncoderArg,
    /// Simulated time steps per sample (not training steps). Old spelling: --steps.
    #[arg(long = "time-steps", alias = "steps", default_value_t = 60)]
    time_steps: usize,
    /// Latency coding window (time steps over which spike times spread; default: time steps − 10).
    #[arg(long)]
    window: Option<usize>,
    /// Spike probability per step of a feature equal to 1 (rate coding).
    #[arg(long, default_value_t = 0.5)]
    max_rate: f32,
    /// Passes over the training set.
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    /// Samples per Adam step.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Initial learning rate (cosine-annealed).
    #[arg(long, default_value_t = 2e-3)]
    lr: f32,
    /// Final learning rate as a fraction of the initial one.
    #[arg(long, default_value_t = 0.05)]
    lr_final: f32,
    /// Current decay a = 1 − δ_i of every layer.
    #[arg(long, default_value_t = 0.9)]
    current_decay: f32,
    /// Voltage decay β = 1 − δ_v of every layer.
    #[arg(long, default_value_t = 0.95)]
    voltage_decay: f32,
    /// Membrane voltage ϑ at which a neuron fires. Old spelling: --threshold.
    #[arg(long = "firing-threshold", alias = "threshold", default_value_t = 1.0)]
    firing_threshold: f32,
    /// Reset after a spike.
    #[arg(long, value_enum, default_value_t = ResetArg::Zero)]
    reset: ResetArg,
    /// Keep the decays fixed (by default they are trained, per layer).
    #[arg(long)]
    fixed_decays: bool,
    /// Keep the thresholds fixed (by default they are trained, per layer).
    #[arg(long)]
    fixed_threshold: bool,
    /// Differentiate through the reset (default: treat it as a constant).
    #[arg(long)]
    reset_gradient: bool,
    /// Initial weights N(0, (scale/√fan_in)²) of hidden layers.
    #[arg(long, default_value_t = 3.0)]
    weight_scale: f32,
    /// Initial weight scale of the output layer (small: a leaky readout's
    /// gain is 1/((1−a)(1−β)), and saturated initial outputs can silence it).
    #[arg(long, default_value_t = 0.05)]
    output_scale: f32,
    /// Seed of initialisation, shuffling and stochastic encoding.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep the final parameters even when an earlier epoch had a better validation accuracy.
    #[arg(long)]
    keep_last: bool,
    #[command(flatten)]
    run: super::RunOptions,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model written by `lca snn train` (OUT/model.json).
    #[arg(long, short = 'm')]
    model: PathBuf,
    /// `yinyang` or `digits` (their test splits), or a CSV file (all of it).
    #[arg(long)]
    dataset: String,
    #[command(flatten)]
    run: super::RunOptions,
}

pub fn run(args: SnnArgs) -> anyhow::Result<()> {
    match args.command {
        SnnCommand::Train(a) => train(a),
        SnnCommand::Eval(a) => eval(a),
    }
}

/// Splits of a named dataset or a CSV file (split 75/25, stratified, seed 0).
fn load_splits(name: &str, classes: Option<usize>) -> anyhow::Result<Splits> {
    Ok(match name {
        "yinyang" => data::yinyang_splits(),
        "digits" => data::digits_splits()?,
        path => {
            let ds = data::read_csv(Path::new(path), classes)?;
            if ds.len() < 2 {
                bail!("{path}: need at least 2 samples, found {}", ds.len());
            }
            let (train, test) = data::stratified_split(&ds, 0.25, 0);
            Splits {
                train,
                validation: None,
                test,
            }
        }
    })
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let splits = load_splits(&args.dataset, args.classes)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("{}: cannot create the output folder", args.output.display()))?;
    let model_path = args.output.join("model.json");
    let csv_path = args.output.join("training.csv");
    let png_path = args.output.join("training.png");
    for p in [&model_path, &csv_path, &png_path] {
        super::check_writable(p)?;
    }

    let Splits {
        mut train,
        mut validation,
        mut test,
    } = splits;
    let scaling = if matches!(args.dataset.as_str(), "yinyang" | "digits") {
        Scaling::identity(train.n_features)
    } else {
        Scaling::fit(&train)
    };
    for ds in [Some(&mut train), validation.as_mut(), Some(&mut test)]
        .into_iter()
        .flatten()
    {
        scaling.apply(ds)?;
    }
    let n_classes = train.n_classes;

    let encoder = match args.encoder {
        EncoderArg::Latency => EncoderConfig::Latency(Latency {
            steps: args.time_steps,
            window: args
                .window
                .unwrap_or(args.time_steps.saturating_sub(10).max(1)),
        }),
        EncoderArg::Rate => EncoderConfig::Rate(Rate {
            steps: args.time_steps,
            max_rate: args.max_rate,
        }),
    };
    if args.time_steps == 0 {
        bail!("--time-steps must be at least 1");
    }
    let loss = match args.loss {
        LossArg::Max => Loss::MaxVoltage,
        LossArg::Mean => Loss::MeanVoltage,
        LossArg::Exp => Loss::ExpVoltage {
            tau: args.exp_tau.unwrap_or(args.time_steps as f32),
        },
        LossArg::Count => Loss::SpikeCount,
        LossArg::Ttfs => Loss::FirstSpike {
            tau0: args.ttfs_tau0,
            tau1: args.ttfs_tau1,
            gamma: args.ttfs_gamma,
        },
    };
    let method = match args.method {
        MethodArg::Surrogate => Method::Surrogate,
        MethodArg::Eventprop => Method::EventProp,
    };
    let reset = match args.reset {
        ResetArg::Zero => Reset::Zero,
        ResetArg::Subtract => Reset::Subtract,
    };
    let layer = |kind, size, scale| {
        let mut s = LayerSpec::new(kind, size, args.current_decay, args.voltage_decay);
        s.neuron.threshold = args.firing_threshold;
        s.neuron.reset = reset;
        s.train_decays = !args.fixed_decays && method == Method::Surrogate;
        s.train_threshold = !args.fixed_threshold;
        s.weight_scale = scale;
        s
    };
    let hidden_kind = if args.recurrent {
        LayerKind::Recurrent
    } else {
        LayerKind::FeedForward
    };
    let mut specs: Vec<LayerSpec> = args
        .hidden
        .iter()
        .filter(|&&h| h > 0)
        .map(|&h| layer(hidden_kind, h, args.weight_scale))
        .collect();
    let out_kind = if loss.needs_readout() {
        LayerKind::Readout
    } else {
        LayerKind::FeedForward
    };
    specs.push(layer(out_kind, n_classes, args.output_scale));
    let surrogate = Surrogate {
        kind: match args.surrogate {
            SurrogateArg::Box => SurrogateKind::Box,
            SurrogateArg::Sigmoid => SurrogateKind::Sigmoid,
            SurrogateArg::Exponential => SurrogateKind::Exponential,
            SurrogateArg::FastSigmoid => SurrogateKind::FastSigmoid,
            SurrogateArg::Triangle => SurrogateKind::Triangle,
        },
        tau: args.surrogate_width,
        alpha: args.alpha,
    };
    let mut network = Network::new(train.n_features, &specs, surrogate, args.seed)?;
    network.detach_reset = !args.reset_gradient;
    if method == Method::EventProp {
        network.timing = SpikeTiming::Interpolated;
    }
    let cfg = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        lr_final: args.lr_final,
        seed: args.seed,
        loss,
        keep_best: !args.keep_last,
        method,
        ..TrainConfig::default()
    };

    fn enc<'a>(
        d: &'a Dataset,
        encoder: &'a EncoderConfig,
        seed: u64,
    ) -> Encoded<'a, EncoderConfig> {
        Encoded {
            data: d,
            encoder,
            seed,
        }
    }
    let (tr, va, te) = (
        enc(&train, &encoder, args.seed),
        validation.as_ref().map(|v| enc(v, &encoder, args.seed)),
        enc(&test, &encoder, args.seed),
    );
    // Baseline at 0 now, so the first epoch already shows a rate.
    let bar = super::progress::bar_from(
        args.epochs as u64,
        0,
        "epochs",
        args.run.quiet || args.run.json,
    );
    let start = Instant::now();
    let log = super::with_threads(args.run.threads, || {
        lca::snn::train(
            &mut network,
            &tr,
            va.as_ref().map(|v| v as &dyn lca::snn::train::Samples),
            Some(&te),
            n_classes,
            &cfg,
            &mut |s: &EpochStats| {
                bar.set_message(format!(
                    "loss {:.4} train {:.2}% {}",
                    s.train_loss,
                    100.0 * s.train_accuracy,
                    s.validation_accuracy
                        .map(|a| format!("val {:.2}%", 100.0 * a))
                        .unwrap_or_default()
                ));
                bar.inc(1);
            },
        )
    })??;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let test_accuracy = super::with_threads(args.run.threads, || {
        lca::snn::accuracy(&network, &te, &loss)
    })?;
    let validation_accuracy = match &va {
        Some(v) => Some(super::with_threads(args.run.threads, || {
            lca::snn::accuracy(&network, v, &loss)
        })?),
        None => None,
    };
    let model = Model {
        format: Model::FORMAT.to_string(),
        dataset: args.dataset.clone(),
        n_classes,
        scaling,
        encoder,
        loss,
        seed: args.seed,
        network,
    };
    model.save(&model_path)?;
    let mut csv = String::from(EpochStats::CSV_HEADER);
    csv.push('\n');
    for s in &log {
        csv.push_str(&s.csv_line());
        csv.push('\n');
    }
    lca::io::atomic::write_bytes_atomic(&csv_path, csv.as_bytes())?;
    lca::snn::plot::write_training_png(&png_path, &log)?;

    let epoch_seconds = log.iter().map(|s| s.seconds).sum::<f64>() / log.len().max(1) as f64;
    let summary = serde_json::json!({
        "dataset": args.dataset,
        "test_accuracy": test_accuracy,
        "validation_accuracy": validation_accuracy,
        "epochs": args.epochs,
        "seconds": seconds,
        "epoch_seconds": epoch_seconds,
        "surrogate": args.surrogate.to_possible_value().map(|v| v.get_name().to_string()),
        "surrogate_width": args.surrogate_width,
        // Old name of surrogate_width, still read by scripts/snn_benchmarks.sh.
        "tau": args.surrogate_width,
        "firing_threshold": args.firing_threshold,
        "time_steps": args.time_steps,
        "alpha": args.alpha,
        "loss": loss.name(),
        "parameters": model.network.params.len(),
        "state_bytes_per_sample_step": model.network.state_bytes_per_step(),
        "method": args.method.to_possible_value().map(|v| v.get_name().to_string()),
        // Mean over the last epoch's training samples of what the backward
        // pass kept; BPTT would keep bptt_bytes_per_sample.
        "backward_bytes_per_sample": log.last().map(|s| s.backward_bytes),
        "bptt_bytes_per_sample": model.network.state_bytes_per_step() * args.time_steps,
        "spikes_per_sample": log.last().and_then(|s| s.spikes_per_sample),
        "model": model_path.display().to_string(),
    });
    if args.run.json {
        println!("{summary}");
    } else if !args.run.quiet {
        println!(
            "test accuracy {:.2}% ({} test samples){} after {} epochs in {seconds:.1} s ({epoch_seconds:.2} s/epoch); model in {}",
            100.0 * test_accuracy,
            test.len(),
            validation_accuracy
                .map(|a| format!(", validation {:.2}%", 100.0 * a))
                .unwrap_or_default(),
            args.epochs,
            model_path.display()
        );
    }
    Ok(())
}

fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let model = Model::load(&args.model)?;
    let data = match args.dataset.as_str() {
        "yinyang" | "digits" => load_splits(&args.dataset, None)?.test,
        path => data::read_csv(Path::new(path), Some(model.n_classes))?,
    };
    if data.n_features != model.scaling.min.len() {
        bail!(
            "{}: {} features per sample, but the model {} was trained on {}",
            args.dataset,
            data.n_features,
            args.model.display(),
            model.scaling.min.len()
        );
    }
    let start = Instant::now();
    let acc = super::with_threads(args.run.threads, || model.evaluate(&data))??;
    let seconds = start.elapsed().as_secs_f64();
    if args.run.json {
        println!(
            "{}",
            serde_json::json!({"accuracy": acc, "samples": data.len(), "seconds": seconds})
        );
    } else if !args.run.quiet {
        println!(
            "accuracy {:.2}% on {} samples of {} ({seconds:.2} s)",
            100.0 * acc,
            data.len(),
            args.dataset
        );
    }
    Ok(())
}
