//! `lca reconstruct`: rebuild images from the sparse codes of their patches,
//! undoing the preprocessing a dictionary was learned with.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use lca::LcaParams;
use lca::image::{ImageSet, Preprocessing, Preprocessor, Whitening, psnr, reconstruct};
use lca::io::npz::{self, CsrMatrix};

use lca::dictionary::TrainingConfig as LearnConfig;

#[derive(Args, Debug)]
pub struct ReconstructArgs {
    /// Dictionary (n_atoms, n_features), e.g. dictionary.npy from `lca learn`.
    #[arg(long, short = 'd')]
    dictionary: PathBuf,
    /// Images to reconstruct, loaded as the dictionary was learned: after a
    /// learning run with --downscale F each image is shrunk by F first, and
    /// its reconstruction is written and its PSNR measured at that reduced
    /// size (the summary gives both sizes). Alpha channels are ignored.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Output folder for NAME.recon.png, NAME.compare.png and NAME.codes.npz.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// The `config.json` of the `lca learn` run (default: next to the dictionary, if present).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Distance between neighbouring patches (default: half the patch size).
    #[arg(long)]
    stride: Option<usize>,
    /// Sparsity penalty λ (default: the final λ of the learning run, else 0.1).
    #[arg(long, allow_hyphen_values = true)]
    lambda: Option<f32>,
    /// Colour patches (only needed without a config.json).
    #[arg(long)]
    color: bool,
    /// Convolutional dictionary (3-D/4-D .npy): edges of the image, circular or zero.
    #[arg(long, value_parser = super::named::<lca::conv::Boundary>(), default_value_t = lca::conv::Boundary::default())]
    boundary: lca::conv::Boundary,
    /// Convolutional dictionary: spatial axes, 1, 2 or 3 (.npy signals (N, C, T), images,
    /// volumes (N, C, D, H, W)) [default: inferred where unambiguous; a picture is 2-D].
    #[arg(long, value_parser = super::encode::parse_dims)]
    dims: Option<usize>,
    #[command(flatten)]
    run: super::RunOptions,
}

/// The preprocessing, patch size and λ to use: from the learning run's
/// config when there is one, else plain mean removal and unit norm.
fn settings(
    args: &ReconstructArgs,
    n_features: usize,
) -> anyhow::Result<(Preprocessor, usize, f32)> {
    let default_config = args
        .dictionary
        .parent()
        .unwrap_or(Path::new("."))
        .join("config.json");
    let config_path = args
        .config
        .clone()
        .or_else(|| default_config.exists().then_some(default_config));
    let (pre, patch, lambda) = match config_path {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{}: cannot read", path.display()))?;
            let config: LearnConfig = serde_json::from_str(&text)
                .with_context(|| format!("{}: not an lca learn config.json", path.display()))?;
            let mut pre = Preprocessor::new(config.preprocessing)?;
            if let Some(zca) = config.zca {
                pre.set_zca(zca)?;
            }
            let lambda = config
                .learning
                .lambda_at(config.learning.steps.saturating_sub(1));
            (pre, config.patch_size, lambda)
        }
        None => {
            let channels = if args.color { 3 } else { 1 };
            let side = ((n_features / channels) as f64).sqrt().round() as usize;
            if side * side * channels != n_features {
                bail!(
                    "{}: {n_features} features is not a square {}patch; pass --config or --color",
                    args.dictionary.display(),
                    if args.color { "RGB " } else { "gray " }
                );
            }
            let settings = Preprocessing::default()
                .whiten(Whitening::None)
                .color(args.color);
            (Preprocessor::new(settings)?, side, 0.1)
        }
    };
    Ok((pre, patch, args.lambda.unwrap_or(lambda)))
}

pub fn run(args: ReconstructArgs) -> anyhow::Result<()> {
    if super::conv::is_conv_dictionary(&args.dictionary)? {
        let settings = super::conv::ConvSettings {
            lambda: args.lambda.unwrap_or(lca::conv::defaults::LAMBDA),
            nonneg: false,
            normalize: true,
            boundary: args.boundary,
            schedule: lca::conv::Schedule::default(),
            threshold: lca::neuron::Threshold::Soft,
            spiking: None,
            max_iters: None,
            tol: None,
            dims: args.dims,
            run: args.run,
        };
        return super::conv::reconstruct(&args.dictionary, &args.images, &args.output, &settings);
    }
    if args.dims.is_some() {
        bail!(
            "--dims applies to convolutional dictionaries ({} is a patch dictionary)",
            args.dictionary.display()
        );
    }
    let dict = super::encode::read_dictionary(&args.dictionary)?;
    let (pre, patch, lambda) = settings(&args, dict.n_features())?;
    let stride = args.stride.unwrap_or((patch / 2).max(1));
    let lca = LcaParams::new().lambda(lambda).check()?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("{}: cannot create output folder", args.output.display()))?;
    super::check_writable(&args.output.join("probe.png"))?;
    let set = ImageSet::from_files(&args.images, pre.settings().load_options())?;
    let downscale = set.options().downscale;
    let quiet = args.run.quiet || args.run.json;
    for i in (0..set.len()).filter(|&i| set.has_alpha(i)) {
        if !args.run.quiet {
            eprintln!(
                "warning: {}: the alpha channel is ignored (transparent pixels keep their colour)",
                set.name(i)
            );
        }
    }

    let mut reports = Vec::new();
    for (i, path) in args.images.iter().enumerate() {
        let original = set.load(i)?;
        let rec = super::with_threads(args.run.threads, || {
            reconstruct(&original, &dict, &lca, &pre, patch, stride)
        })?
        .with_context(|| path.display().to_string())?;
        let quality = psnr(&original, &rec.image);
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
        let out = |suffix: &str| args.output.join(format!("{stem}.{suffix}"));
        rec.image.save_png(&out("recon.png"))?;
        let (w, h, c) = (original.width, original.height, original.channels);
        lca::plot::write_compare_png(
            &out("compare.png"),
            w,
            h,
            c,
            &original.data,
            &rec.image.data,
            (
                "original",
                &format!("reconstruction (PSNR {quality:.2} dB)"),
                "residual",
            ),
        )?;
        let codes =
            CsrMatrix::from_dense_rows(rec.codes.ncols(), rec.codes.nrows(), rec.codes.as_slice());
        npz::write_csr(&out("codes.npz"), &codes)?;
        let (ow, oh) = set.original_dims(i);
        if !quiet {
            let size = if (ow, oh) == (w, h) {
                format!("{w}×{h}")
            } else {
                format!("{w}×{h}, downscaled {downscale}× from {ow}×{oh}")
            };
            println!(
                "{}: PSNR {quality:.2} dB at {size}, {:.2} active atoms per patch ({} patches) → {}",
                path.display(),
                rec.mean_active(),
                rec.codes.ncols(),
                out("recon.png").display()
            );
        }
        reports.push(serde_json::json!({
            "image": path.display().to_string(),
            "psnr": quality,
            "mean_active": rec.mean_active(),
            "patches": rec.codes.ncols(),
            "width": w,
            "height": h,
            "original_width": ow,
            "original_height": oh,
        }));
    }
    if args.run.json {
        let n = reports.len() as f64;
        let mean = |key: &str| reports.iter().filter_map(|r| r[key].as_f64()).sum::<f64>() / n;
        let summary = serde_json::json!({
            "images": reports,
            "mean_psnr": mean("psnr"),
            "mean_active": mean("mean_active"),
            "lambda": lambda,
            "patch_size": patch,
            "stride": stride,
            "downscale": downscale,
        });
        println!("{summary}");
    }
    Ok(())
}
