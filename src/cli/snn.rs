//! `lca snn train` / `lca snn eval`: spiking networks trained with surrogate
//! gradients on Yin-Yang, the 8×8 digits, a CSV file, spike streams (an
//! event `.npz` file or the synthetic `streams` task); `lca snn make-streams`
//! writes the synthetic task to a file, `lca snn recipe` prints a dataset's
//! default hyperparameters.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use lca::neuron::{Reset, SurrogateKind};
use lca::snn::data::{self, Dataset, Scaling, Splits};
use lca::snn::defaults::{self, EncoderKind, Recipe};
use lca::snn::overrides::RecipeOverrides;
use lca::snn::{
    Binned, EncoderConfig, EpochStats, EventDataset, ExportFormat, Loss, Method, Model, StreamTask,
};
use lca::snn::{Encoded, Samples, nir};

#[derive(Args, Debug)]
pub struct SnnArgs {
    #[command(subcommand)]
    command: SnnCommand,
}

#[derive(Subcommand, Debug)]
enum SnnCommand {
    /// Train a spiking network with surrogate gradients; writes OUT/model.json,
    /// OUT/training.csv and OUT/training.png and prints the test accuracy.
    Train(Box<TrainArgs>),
    /// Accuracy of a trained model on a dataset's test split (or a whole CSV or event file).
    Eval(EvalArgs),
    /// Write the synthetic spike-stream task (`--dataset streams`) to an event .npz file.
    MakeStreams(MakeStreamsArgs),
    /// Print the default hyperparameters (recipe) `train` uses for a dataset, as JSON.
    Recipe(RecipeArgs),
    /// Write a trained model in an interchange format (NIR, for snnTorch,
    /// Norse, Rockpool, Sinabs, Lava-dl and neuromorphic hardware).
    Export(ExportArgs),
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Model written by `lca snn train` (OUT/model.json).
    #[arg(long, short = 'm')]
    model: PathBuf,
    /// Interchange format.
    #[arg(long, value_parser = super::named::<ExportFormat>(), default_value_t = ExportFormat::default())]
    format: ExportFormat,
    /// File to write (written to a temporary file renamed into place).
    #[arg(long, short = 'o')]
    output: PathBuf,
    #[command(flatten)]
    run: super::RunOptions,
}

/// Every option left out takes its value from the dataset's recipe for the
/// method (`lca snn recipe --dataset NAME [--method eventprop]` prints it;
/// `lib: lca::snn::defaults`).
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// `yinyang`, `digits`, `streams` (synthetic spike streams drawn from
    /// --seed), an event file `*.npz` (times, channels, offsets, labels; see
    /// `lca::snn::streams`), a Spiking Heidelberg Digits / Speech Commands
    /// file `shd:PATH.h5` / `ssc:PATH.h5` (`lca::snn::shd`), or a CSV file (features then an integer label
    /// per line; .csv or .csv.gz).
    #[arg(long)]
    dataset: String,
    /// Classes of a CSV or event dataset (default: largest label + 1).
    #[arg(long)]
    classes: Option<usize>,
    /// Output folder (created if missing).
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Surrogate gradient (nascent delta) family [recipe: fast-sigmoid].
    #[arg(long, value_parser = super::named::<SurrogateKind>())]
    surrogate: Option<SurrogateKind>,
    /// Width of the surrogate gradient (in units of the firing threshold);
    /// not a time constant [recipe: 0.1]. Old spelling: --tau.
    #[arg(long = "surrogate-width", alias = "tau")]
    surrogate_width: Option<f32>,
    /// Surrogate scale α (its integral) [recipe: 1].
    #[arg(long)]
    alpha: Option<f32>,
    /// Hidden layer sizes, comma separated [recipe: 100; digits 128].
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Recurrent hidden layers.
    #[arg(long)]
    recurrent: bool,
    /// Loss; `max` and `mean` use a leaky non-spiking readout, `count` and
    /// `ttfs` spiking outputs [recipe: max; with --method eventprop: mean,
    /// digits exp].
    #[arg(long, value_parser = super::named::<Loss>())]
    loss: Option<Loss>,
    /// Softmax temperature τ₀ (steps) of the ttfs loss [2].
    #[arg(long)]
    ttfs_tau0: Option<f32>,
    /// Regulariser time scale τ₁ (steps) of the ttfs loss [20].
    #[arg(long)]
    ttfs_tau1: Option<f32>,
    /// Regulariser weight γ of the ttfs loss [0].
    #[arg(long)]
    ttfs_gamma: Option<f32>,
    /// Decay time τ (time steps) of the weights of the exp loss [the recipe's,
    /// else the number of time steps].
    #[arg(long)]
    exp_tau: Option<f32>,
    /// Gradient: surrogate BPTT, or exact EventProp (trains weights, biases
    /// and thresholds; decays stay fixed) [recipe: surrogate].
    #[arg(long, value_parser = super::named::<Method>())]
    method: Option<Method>,
    /// Input encoding of features [recipe: latency].
    #[arg(long, value_parser = super::named::<EncoderKind>())]
    encoder: Option<EncoderKind>,
    /// Simulated time steps per sample (not training steps), or bins of an
    /// event stream [recipe: 60; digits 20; streams 50]. Old spelling: --steps.
    #[arg(long = "time-steps", alias = "steps")]
    time_steps: Option<usize>,
    /// Latency coding window (time steps over which spike times spread)
    /// [recipe: time steps − 10; digits 16].
    #[arg(long)]
    window: Option<usize>,
    /// Spike probability per step of a feature equal to 1 (rate coding) [0.5].
    #[arg(long)]
    max_rate: Option<f32>,
    /// Passes over the training set [recipe: 60; digits 30; streams 30].
    #[arg(long)]
    epochs: Option<usize>,
    /// Samples per Adam step [recipe: 16; eventprop Yin-Yang 32].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Initial learning rate (cosine-annealed) [recipe: 0.002; eventprop Yin-Yang 0.003].
    #[arg(long)]
    lr: Option<f32>,
    /// Final learning rate as a fraction of the initial one [recipe: 0.05].
    #[arg(long)]
    lr_final: Option<f32>,
    /// Decoupled weight decay (AdamW) of the weights [recipe: 0].
    #[arg(long)]
    weight_decay: Option<f32>,
    /// Probability of dropping each input entry during training [recipe: 0; streams 0.2].
    #[arg(long)]
    input_dropout: Option<f32>,
    /// Current decay a = 1 − δ_i of every layer [recipe: 0.9; digits 0.85; streams 0.8].
    #[arg(long)]
    current_decay: Option<f32>,
    /// Voltage decay β = 1 − δ_v of every layer [recipe: 0.95; digits, streams 0.9].
    #[arg(long)]
    voltage_decay: Option<f32>,
    /// Membrane voltage ϑ at which a neuron fires [recipe: 1]. Old spelling: --threshold.
    #[arg(long = "firing-threshold", alias = "threshold")]
    firing_threshold: Option<f32>,
    /// Reset after a spike [recipe: zero].
    #[arg(long, value_parser = super::named::<Reset>())]
    reset: Option<Reset>,
    /// Keep the decays fixed (the recipe trains them, per layer, except for digits).
    #[arg(long, conflicts_with = "train_decays")]
    fixed_decays: bool,
    /// Train the decays (per layer) even where the recipe fixes them.
    #[arg(long)]
    train_decays: bool,
    /// Keep the thresholds fixed (the recipe trains them, per layer, except for digits).
    #[arg(long, conflicts_with = "train_threshold")]
    fixed_threshold: bool,
    /// Train the thresholds (per layer) even where the recipe fixes them.
    #[arg(long)]
    train_threshold: bool,
    /// Differentiate through the reset (default: treat it as a constant).
    #[arg(long)]
    reset_gradient: bool,
    /// Initial weights N(0, (scale/√fan_in)²) of hidden layers [recipe: 3; digits 1.5].
    #[arg(long)]
    weight_scale: Option<f32>,
    /// Initial weight scale of the output layer (small: a leaky readout's
    /// gain is 1/((1−a)(1−β)), and saturated initial outputs can silence it)
    /// [recipe: 0.05; digits 1; streams 0.5].
    #[arg(long)]
    output_scale: Option<f32>,
    /// Mean of the initial weights of hidden layers [recipe: 0].
    #[arg(long)]
    weight_mean: Option<f32>,
    /// Mean of the initial weights of the output layer [recipe: 0].
    #[arg(long)]
    output_mean: Option<f32>,
    /// Seed of initialisation, shuffling, stochastic encoding and of the
    /// synthetic `streams` data.
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
    /// Model written by `lca snn train` (OUT/model.json), or a NIR graph
    /// (`.nir`: exported by `lca snn export`, or made by snnTorch, Norse, ...;
    /// a foreign graph takes the encoder, time steps and loss of the
    /// dataset's recipe).
    #[arg(long, short = 'm')]
    model: PathBuf,
    /// `yinyang`, `digits` or `streams` (their test splits; streams drawn
    /// from the model's seed), or a CSV, event `.npz` or `shd:PATH.h5` file
    /// (all of it).
    #[arg(long)]
    dataset: String,
    #[command(flatten)]
    run: super::RunOptions,
}

#[derive(Args, Debug)]
pub struct MakeStreamsArgs {
    /// Event file to write (.npz: times, channels, offsets, labels, n_channels, duration).
    output: PathBuf,
    /// Seed of the draw; `train --dataset streams --seed S` uses the same samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of samples.
    #[arg(long, default_value_t = StreamTask::default().samples)]
    samples: usize,
    #[command(flatten)]
    run: super::RunOptions,
}

#[derive(Args, Debug)]
pub struct RecipeArgs {
    /// Dataset name or file, as for `train`.
    #[arg(long)]
    dataset: String,
    /// Gradient method whose recipe to print (EventProp has its own)
    /// [surrogate; shd/ssc: eventprop].
    #[arg(long, value_parser = super::named::<Method>())]
    method: Option<Method>,
}

pub fn run(args: SnnArgs) -> anyhow::Result<()> {
    match args.command {
        SnnCommand::Train(a) => train(*a),
        SnnCommand::Eval(a) => eval(a),
        SnnCommand::MakeStreams(a) => make_streams(a),
        SnnCommand::Export(a) => export(a),
        SnnCommand::Recipe(a) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&match a.method {
                    Some(m) => defaults::for_method(&a.dataset, m),
                    None => defaults::for_dataset(&a.dataset),
                })?
            );
            Ok(())
        }
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

/// Whether `name` names spike streams rather than features.
fn is_events(name: &str) -> bool {
    name == "streams" || name.ends_with(".npz") || defaults::is_shd(name)
}

/// All streams of `name`: the synthetic task drawn from `seed`, or a file.
fn load_events(name: &str, classes: Option<usize>, seed: u64) -> anyhow::Result<EventDataset> {
    let shd = name
        .strip_prefix("shd:")
        .or_else(|| name.strip_prefix("ssc:"));
    Ok(if name == "streams" {
        StreamTask::default().generate(seed)
    } else if let Some(path) = shd {
        lca::snn::shd::read_shd(Path::new(path), classes)?
    } else if defaults::is_shd(name) {
        bail!(
            "{name}: name the file, as --dataset {name}:PATH.h5 (SHD/SSC cannot be downloaded by lca)"
        )
    } else {
        EventDataset::read_npz(Path::new(name), classes)?
    })
}

/// Train and test streams (75/25, stratified, seed 0, like CSV files).
fn event_splits(all: &EventDataset, name: &str) -> anyhow::Result<(EventDataset, EventDataset)> {
    if all.len() < 2 {
        bail!("{name}: need at least 2 samples, found {}", all.len());
    }
    let (tr, te) = data::stratified_indices(&all.labels, 0.25, 0);
    Ok((all.subset(&tr), all.subset(&te)))
}

/// The dataset's recipe with every option the user passed applied.
fn recipe(args: &TrainArgs) -> anyhow::Result<Recipe> {
    if args.time_steps == Some(0) {
        bail!("--time-steps must be at least 1");
    }
    let flag = |on: bool, off: bool| match (on, off) {
        (_, true) => Some(false),
        (true, false) => Some(true),
        _ => None,
    };
    let overrides = RecipeOverrides {
        method: args.method,
        surrogate: args.surrogate,
        surrogate_width: args.surrogate_width,
        alpha: args.alpha,
        hidden: args.hidden.clone(),
        recurrent: args.recurrent.then_some(true),
        loss: args.loss,
        ttfs_tau0: args.ttfs_tau0,
        ttfs_tau1: args.ttfs_tau1,
        ttfs_gamma: args.ttfs_gamma,
        exp_tau: args.exp_tau,
        encoder: args.encoder,
        time_steps: args.time_steps,
        window: args.window,
        max_rate: args.max_rate,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        lr_final: args.lr_final,
        weight_decay: args.weight_decay,
        input_dropout: args.input_dropout,
        current_decay: args.current_decay,
        voltage_decay: args.voltage_decay,
        firing_threshold: args.firing_threshold,
        reset: args.reset,
        train_decays: flag(args.train_decays, args.fixed_decays),
        train_threshold: flag(args.train_threshold, args.fixed_threshold),
        reset_gradient: args.reset_gradient.then_some(true),
        weight_scale: args.weight_scale,
        output_scale: args.output_scale,
        weight_mean: args.weight_mean,
        output_mean: args.output_mean,
        seed: args.seed,
        keep_last: args.keep_last,
    };
    Ok(overrides.recipe(&args.dataset)?)
}

/// The training inputs, feature rows or event streams.
enum Inputs {
    Features {
        train: Dataset,
        validation: Option<Dataset>,
        test: Dataset,
        scaling: Scaling,
    },
    Events {
        train: EventDataset,
        test: EventDataset,
    },
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let recipe = recipe(&args)?;
    let inputs = if is_events(&args.dataset) {
        let all = load_events(&args.dataset, args.classes, args.seed)?;
        let (train, test) = event_splits(&all, &args.dataset)?;
        Inputs::Events { train, test }
    } else {
        let Splits {
            mut train,
            mut validation,
            mut test,
        } = load_splits(&args.dataset, args.classes)?;
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
        Inputs::Features {
            train,
            validation,
            test,
            scaling,
        }
    };
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("{}: cannot create the output folder", args.output.display()))?;
    let model_path = args.output.join("model.json");
    let csv_path = args.output.join("training.csv");
    let png_path = args.output.join("training.png");
    for p in [&model_path, &csv_path, &png_path] {
        super::check_writable(p)?;
    }

    let (n_inputs, n_classes, n_test) = match &inputs {
        Inputs::Features { train, test, .. } => (train.n_features, train.n_classes, test.len()),
        Inputs::Events { train, test } => (train.n_channels, train.n_classes, test.len()),
    };
    let loss = recipe.train.loss;
    let mut network = recipe.network(n_inputs, n_classes, args.seed)?;
    let cfg = recipe.train.clone().check()?;

    let encoder = recipe.encoder();
    let steps = recipe.time_steps;
    let seed = args.seed;
    fn encoded<'a>(d: &'a Dataset, encoder: &'a EncoderConfig, seed: u64) -> Box<dyn Samples + 'a> {
        Box::new(Encoded {
            data: d,
            encoder,
            seed,
        })
    }
    let enc = |d| encoded(d, &encoder, seed);
    type Boxed<'a> = Box<dyn Samples + 'a>;
    let (tr, va, te): (Boxed<'_>, Option<Boxed<'_>>, Boxed<'_>) = match &inputs {
        Inputs::Features {
            train,
            validation,
            test,
            ..
        } => (enc(train), validation.as_ref().map(enc), enc(test)),
        Inputs::Events { train, test } => (
            Box::new(Binned { data: train, steps }),
            None,
            Box::new(Binned { data: test, steps }),
        ),
    };
    // Baseline at 0 now, so the first epoch already shows a rate.
    let bar = super::progress::bar_from(
        cfg.epochs as u64,
        0,
        "epochs",
        args.run.quiet || args.run.json,
    );
    let start = Instant::now();
    let log = super::with_threads(args.run.threads, || {
        lca::snn::train(
            &mut network,
            tr.as_ref(),
            va.as_deref(),
            Some(te.as_ref()),
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
        lca::snn::accuracy(&network, te.as_ref(), &loss)
    })?;
    let validation_accuracy = match &va {
        Some(v) => Some(super::with_threads(args.run.threads, || {
            lca::snn::accuracy(&network, v.as_ref(), &loss)
        })?),
        None => None,
    };
    let (scaling, encoder, events) = match &inputs {
        Inputs::Features { scaling, .. } => (scaling.clone(), encoder, None),
        Inputs::Events { train, .. } => (
            Scaling::identity(train.n_channels),
            encoder,
            Some(train.binning(steps)),
        ),
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
        events,
    };
    model.save(&model_path)?;
    let mut csv = String::from(EpochStats::CSV_HEADER);
    csv.push('\n');
    for s in &log {
        csv.push_str(&s.csv_line());
        csv.push('\n');
    }
    lca::io::atomic::write_bytes_atomic(&csv_path, csv.as_bytes())?;
    lca::snn::write_training_png(&png_path, &log)?;

    let epoch_seconds = log.iter().map(|s| s.seconds).sum::<f64>() / log.len().max(1) as f64;
    let summary = serde_json::json!({
        "dataset": args.dataset,
        "test_accuracy": test_accuracy,
        "validation_accuracy": validation_accuracy,
        "epochs": cfg.epochs,
        "seconds": seconds,
        "epoch_seconds": epoch_seconds,
        "surrogate": recipe.surrogate.kind.name(),
        "surrogate_width": recipe.surrogate.tau,
        // Old name of surrogate_width, still read by scripts/snn_benchmarks.sh.
        "tau": recipe.surrogate.tau,
        "firing_threshold": recipe.neuron.threshold,
        "time_steps": recipe.time_steps,
        "alpha": recipe.surrogate.alpha,
        "loss": loss.name(),
        "parameters": model.network.params.len(),
        "state_bytes_per_sample_step": model.network.state_bytes_per_step(),
        "recipe": recipe,
        "method": match recipe.train.method {
            Method::EventProp => "eventprop",
            _ => "surrogate",
        },
        // Mean over the last epoch's training samples of what the backward
        // pass kept; BPTT would keep bptt_bytes_per_sample.
        "backward_bytes_per_sample": log.last().map(|s| s.backward_bytes),
        "bptt_bytes_per_sample": model.network.state_bytes_per_step() * recipe.time_steps,
        "spikes_per_sample": log.last().and_then(|s| s.spikes_per_sample),
        "model": model_path.display().to_string(),
    });
    if args.run.json {
        println!("{summary}");
    } else if !args.run.quiet {
        println!(
            "test accuracy {:.2}% ({n_test} test samples){} after {} epochs in {seconds:.1} s ({epoch_seconds:.2} s/epoch); model in {}",
            100.0 * test_accuracy,
            validation_accuracy
                .map(|a| format!(", validation {:.2}%", 100.0 * a))
                .unwrap_or_default(),
            cfg.epochs,
            model_path.display()
        );
    }
    Ok(())
}

/// Whether `path` names a NIR graph rather than a `model.json`.
fn is_nir(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "nir" || e == "h5")
}

/// The model at `path`: a `model.json`, or a NIR graph run with the recipe
/// of `dataset` where the graph does not say (a foreign graph reading event
/// streams bins them like the dataset's recipe over the streams' duration).
fn load_model(path: &Path, dataset: &str, events: Option<&EventDataset>) -> anyhow::Result<Model> {
    if !is_nir(path) {
        return Ok(Model::load(path)?);
    }
    let recipe = defaults::for_dataset(dataset);
    let hint = nir::Defaults {
        events: events.map(|d| d.binning(recipe.time_steps)),
        recipe,
        dataset: dataset.to_string(),
    };
    Ok(nir::read_model(path, &hint)?)
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let model = Model::load(&args.model)?;
    super::check_writable(&args.output)?;
    args.format.write(&model, &args.output)?;
    let layers: Vec<String> = model
        .network
        .layers
        .iter()
        .map(|l| format!("{:?}:{}", l.spec.kind, l.size()))
        .collect();
    if args.run.json {
        println!(
            "{}",
            serde_json::json!({
                "output": args.output.display().to_string(),
                "format": "nir",
                "dt": nir::DT,
                "layers": layers,
                "readout": model.loss.name(),
            })
        );
    } else if !args.run.quiet {
        println!(
            "NIR graph of {} layers ({}) written to {} (dt = {} s)",
            layers.len(),
            layers.join(", "),
            args.output.display(),
            nir::DT
        );
    }
    Ok(())
}

fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let preloaded = if is_nir(&args.model) && is_events(&args.dataset) {
        Some(load_events(&args.dataset, None, 0)?)
    } else {
        None
    };
    let model = load_model(&args.model, &args.dataset, preloaded.as_ref())?;
    let start = Instant::now();
    let (acc, samples) = if is_events(&args.dataset) {
        if model.events.is_none() {
            bail!(
                "{}: the model {} reads features, not spike streams",
                args.dataset,
                args.model.display()
            );
        }
        let all = load_events(&args.dataset, Some(model.n_classes), model.seed)?;
        let data = if args.dataset == "streams" {
            event_splits(&all, &args.dataset)?.1
        } else {
            all
        };
        let acc = super::with_threads(args.run.threads, || model.evaluate_events(&data))??;
        (acc, data.len())
    } else {
        if model.events.is_some() {
            bail!(
                "{}: the model {} reads spike streams (streams or an event .npz file)",
                args.dataset,
                args.model.display()
            );
        }
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
        let acc = super::with_threads(args.run.threads, || model.evaluate(&data))??;
        (acc, data.len())
    };
    let seconds = start.elapsed().as_secs_f64();
    if args.run.json {
        println!(
            "{}",
            serde_json::json!({"accuracy": acc, "samples": samples, "seconds": seconds})
        );
    } else if !args.run.quiet {
        println!(
            "accuracy {:.2}% on {samples} samples of {} ({seconds:.2} s)",
            100.0 * acc,
            args.dataset
        );
    }
    Ok(())
}

fn make_streams(args: MakeStreamsArgs) -> anyhow::Result<()> {
    let task = StreamTask {
        samples: args.samples,
        ..StreamTask::default()
    };
    task.check()?;
    super::check_writable(&args.output)?;
    let data = task.generate(args.seed);
    data.write_npz(&args.output)?;
    let summary = serde_json::json!({
        "output": args.output.display().to_string(),
        "samples": data.len(),
        "events": data.times.len(),
        "n_channels": data.n_channels,
        "n_classes": data.n_classes,
        "duration": data.duration,
        "seed": args.seed,
        "task": task,
    });
    if args.run.json {
        println!("{summary}");
    } else if !args.run.quiet {
        println!(
            "{} samples, {} events on {} channels, {} classes written to {}",
            data.len(),
            data.times.len(),
            data.n_channels,
            data.n_classes,
            args.output.display()
        );
    }
    Ok(())
}
