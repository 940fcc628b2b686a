//! `lca encode` and `lca reconstruct` with a convolutional dictionary (an
//! `.npy` of 3 to 5 axes: 1-D `(M, C, k)`, 2-D `(M, [C,] kh, kw)`, 3-D
//! `(M, [C,] kd, kh, kw)`): whole signals coded at once, no patches. The
//! dimension is `--dims` or inferred by the library where unambiguous
//! ([`lca::conv::infer_dims`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lca::conv::{
    Boundary, ConvDictionary, ConvLcaParams, ConvSpikingParams, Planes, Schedule, SignalFile,
    SignalFileKind, SignalSource, coding_dims,
};
use lca::image::{ImageSet, LoadOptions, psnr};
use lca::io::npy::{self, NpyArray};
use lca::io::npz::{self, CsrMatrix};
use lca::neuron::Threshold;

/// Settings shared by the convolutional encode and reconstruct paths, read
/// from the subcommands' own flags.
pub(crate) struct ConvSettings {
    pub lambda: f32,
    pub nonneg: bool,
    pub normalize: bool,
    pub boundary: Boundary,
    /// Rate mode: the schedule asked for.
    pub schedule: Schedule,
    /// Rate mode: the transfer function.
    pub threshold: Threshold,
    /// Spiking mode: its settings (λ and boundary as above).
    pub spiking: Option<ConvSpikingParams>,
    pub max_iters: Option<usize>,
    pub tol: Option<f32>,
    /// `--dims`: spatial axes of the problem (`None`: inferred).
    pub dims: Option<usize>,
    pub run: super::RunOptions,
}

/// Whether `path` holds a convolutional dictionary.
pub(crate) fn is_conv_dictionary(path: &Path) -> anyhow::Result<bool> {
    Ok(ConvDictionary::is_conv_npy(path)?)
}

/// Whether `path` is a signal file (`.npy` or `.wav`) rather than a picture.
fn is_signal_file(path: &Path) -> bool {
    SignalFileKind::of(path) != SignalFileKind::Picture
}

fn read_dictionary(path: &Path, normalize: bool, dims: usize) -> anyhow::Result<ConvDictionary> {
    Ok(ConvDictionary::read_npy(path, dims, normalize)?)
}

/// Signals from `--input`: a picture file, or an `.npy` / `.wav`
/// ([`SignalFile`]); and whether the codes get a batch axis.
fn read_images(path: &Path, channels: usize, dims: usize) -> anyhow::Result<(Vec<Planes>, bool)> {
    if is_signal_file(path) {
        let file = SignalFile::read(path, dims)?;
        return Ok((file.signals, file.batched));
    }
    let set = ImageSet::from_files(
        &[path.to_path_buf()],
        LoadOptions::default().color(channels == 3),
    )?;
    Ok((vec![Planes::from_image(set.load(0)?.as_ref())], false))
}

/// `k×k`, `kd×kh×kw`.
fn extent_text(extent: &[usize]) -> String {
    extent
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("×")
}

/// One image's codes and the figures a summary reports.
struct Coded {
    codes: Planes,
    objective: f64,
    iterations: u64,
    converged: bool,
    /// Rate mode: the schedule that ran (`None` when spiking).
    schedule: Option<Schedule>,
    /// Spiking mode: spikes fired.
    spikes: Option<u64>,
}

fn encode_all(
    dict: &ConvDictionary,
    images: &[Planes],
    s: &ConvSettings,
) -> anyhow::Result<Vec<Coded>> {
    let bar = super::progress::bar(images.len() as u64, "images", s.run.quiet || s.run.json);
    let done = |n: usize| bar.inc(n as u64);
    let monitor = lca::solver::Monitor::with_progress(Some(&done));
    let coded = super::with_threads(s.run.threads, || -> anyhow::Result<Vec<Coded>> {
        if let Some(p) = &s.spiking {
            Ok(p.clone()
                .lambda(s.lambda)
                .boundary(s.boundary)
                .check()?
                .encode_monitored(dict, images, monitor)?
                .into_iter()
                .map(|e| Coded {
                    codes: e.codes,
                    objective: e.objective,
                    iterations: u64::from(e.steps),
                    converged: true,
                    schedule: None,
                    spikes: Some(e.spikes),
                })
                .collect())
        } else {
            let mut p = ConvLcaParams::new()
                .lambda(s.lambda)
                .nonneg(s.nonneg)
                .threshold(s.threshold)
                .boundary(s.boundary)
                .schedule(s.schedule);
            if let Some(m) = s.max_iters {
                p = p.max_iters(m);
            }
            if let Some(t) = s.tol {
                p = p.tol(t);
            }
            Ok(p.check()?
                .encode_monitored(dict, images, monitor)?
                .into_iter()
                .map(|e| Coded {
                    converged: e.converged(),
                    objective: e.objective,
                    iterations: u64::from(e.iterations),
                    schedule: Some(e.schedule),
                    spikes: None,
                    codes: e.codes,
                })
                .collect())
        }
    })??;
    bar.finish_and_clear();
    Ok(coded)
}

fn mode_name(s: &ConvSettings) -> &'static str {
    if s.spiking.is_some() {
        "spiking"
    } else {
        "rate"
    }
}

/// `lca encode` with a convolutional dictionary.
pub(crate) fn encode(
    dictionary: &Path,
    input: &Path,
    output: &Path,
    s: &ConvSettings,
) -> anyhow::Result<()> {
    let ext = output.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext != "npy" && ext != "npz" {
        bail!("{}: codes are written as .npy or .npz", output.display());
    }
    super::check_writable(output)?;
    let dims = coding_dims(dictionary, input, s.dims)?;
    let dict = read_dictionary(dictionary, s.normalize, dims)?;
    let (images, batched) = read_images(input, dict.channels(), dims)?;
    let dict_shape = lca::conv::shape_text(&npy::read_shape(dictionary)?);
    for img in &images {
        if img.channels != dict.channels() {
            bail!(
                "{}: signals have {} channel(s) but the {dims}-D filters of {} have {} (shape {dict_shape}){}",
                input.display(),
                img.channels,
                dictionary.display(),
                dict.channels(),
                if s.dims.is_none() && SignalFileKind::of(input) == SignalFileKind::Npy {
                    "; --dims says how to read them"
                } else {
                    ""
                }
            );
        }
        lca::conv::check_image(&dict, img).with_context(|| input.display().to_string())?;
    }
    let coded = encode_all(&dict, &images, s)?;
    let nf = dict.n_filters();
    let spatial = images[0].extent()[3 - dims..].to_vec();
    let (h, w) = (images[0].height, images[0].width);
    let plane = images[0].plane_len();
    let mut all = Vec::with_capacity(coded.len() * nf * plane);
    for c in &coded {
        all.extend_from_slice(&c.codes.data);
    }
    if ext == "npz" {
        npz::write_csr(
            output,
            &CsrMatrix::from_dense_rows(coded.len() * nf, plane, &all),
        )?;
    } else {
        let mut shape = if batched {
            vec![coded.len(), nf]
        } else {
            vec![nf]
        };
        shape.extend_from_slice(&spatial);
        npy::write_npy(output, &NpyArray::from_f32(shape, &all)?)?;
    }
    let n = coded.len() as f64;
    let vs_float = match &s.spiking {
        Some(p) if p.fixed_point => {
            Some(fixed_vs_float(float_codes(&dict, &images, p, s)?, &coded))
        }
        _ => None,
    };
    let summary = serde_json::json!({
        "mode": "convolutional",
        "solver": mode_name(s),
        "images": coded.len(),
        "n_filters": nf,
        "dims": dims,
        "dims_given": s.dims.is_some(),
        "kernel_size": dict.kernel_size(),
        "kernel_shape": dict.kernel_shape(),
        "extent": spatial,
        "height": h,
        "width": w,
        "boundary": s.boundary.name(),
        "lambda": s.lambda,
        "schedule": coded[0].schedule.map(|s| s.name()),
        "objective": coded.iter().map(|c| c.objective).sum::<f64>() / n,
        "objectives": coded.iter().map(|c| c.objective).collect::<Vec<_>>(),
        "iterations": coded.iter().map(|c| c.iterations).collect::<Vec<_>>(),
        "spikes": coded.iter().map(|c| c.spikes).collect::<Option<Vec<_>>>(),
        "fixed_point": s.spiking.as_ref().map(|p| p.fixed_point),
        "spiking": s.spiking.as_ref().map(|p| serde_json::json!({
            "dt": p.dt,
            "spike_threshold": p.threshold,
            "steps": p.steps,
            "settle": p.settle_steps(),
            "weight_synapses": p.fixed_point.then_some(p.weight_synapses),
        })),
        "vs_float": vs_float,
        "converged": coded.iter().all(|c| c.converged),
        "mean_active": coded.iter().map(|c| c.codes.nnz() as f64).sum::<f64>() / n,
        "output": output.display().to_string(),
    });
    if s.run.json {
        println!("{summary}");
    } else if !s.run.quiet {
        let (things, given) = match (dims, s.dims.is_some()) {
            (2, false) => ("image(s)", String::new()),
            (2, true) => ("image(s)", " (--dims 2)".to_string()),
            (d, given) => (
                if d == 1 { "signal(s)" } else { "volume(s)" },
                format!(" ({d}-D{})", if given { ", --dims" } else { ", inferred" }),
            ),
        };
        println!(
            "convolutional {} LCA{given}: {} {things} {}, {nf} filters {}, mean objective {:.6}, {:.0} non-zeros per {} → {}",
            mode_name(s),
            coded.len(),
            extent_text(&spatial),
            extent_text(dict.kernel_shape()),
            summary["objective"].as_f64().unwrap_or(0.0),
            summary["mean_active"].as_f64().unwrap_or(0.0),
            if dims == 2 { "image" } else { "signal" },
            output.display(),
        );
        if let Some(v) = &vs_float {
            println!(
                "fixed point vs float: objective relative difference {:.3e}, relative code error {:.3e}",
                v["objective_rel_diff"].as_f64().unwrap_or(0.0),
                v["rel_code_error"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

/// The float network's codes of the same images, for the cost of fixed point.
fn float_codes(
    dict: &ConvDictionary,
    images: &[Planes],
    p: &ConvSpikingParams,
    s: &ConvSettings,
) -> anyhow::Result<Vec<lca::conv::ConvSpikingEncoding>> {
    let float = p
        .clone()
        .fixed_point(false)
        .lambda(s.lambda)
        .boundary(s.boundary)
        .check()?;
    Ok(super::with_threads(s.run.threads, || {
        float.encode(dict, images)
    })??)
}

/// What fixed point cost against float: the mean objectives, their relative
/// difference, and `‖A_fixed − A_float‖ / ‖A_float‖` over all images.
fn fixed_vs_float(
    float: Vec<lca::conv::ConvSpikingEncoding>,
    fixed: &[Coded],
) -> serde_json::Value {
    let n = fixed.len().max(1) as f64;
    let mean_float = float.iter().map(|e| e.objective).sum::<f64>() / n;
    let mean_fixed = fixed.iter().map(|c| c.objective).sum::<f64>() / n;
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (f, c) in float.iter().zip(fixed) {
        for (&a, &b) in f.codes.data.iter().zip(&c.codes.data) {
            diff += (f64::from(a) - f64::from(b)).powi(2);
            norm += f64::from(a).powi(2);
        }
    }
    serde_json::json!({
        "objective_float": mean_float,
        "objective_rel_diff": (mean_fixed - mean_float) / mean_float.abs().max(f64::MIN_POSITIVE),
        "rel_code_error": diff.sqrt() / norm.sqrt().max(f64::MIN_POSITIVE),
        "spikes_float": float.iter().map(|e| e.spikes).collect::<Vec<_>>(),
    })
}

/// `lca reconstruct` with a convolutional dictionary. Pictures (2-D): every
/// image coded whole, then NAME.recon.png, NAME.compare.png, NAME.codes.npz
/// (CSR, one row per filter map) and its PSNR. `.npy` signals (1-D, 2-D or
/// 3-D) and `.wav` recordings (1-D): see [`reconstruct_array`].
pub(crate) fn reconstruct(
    dictionary: &Path,
    images: &[PathBuf],
    output: &Path,
    s: &ConvSettings,
) -> anyhow::Result<()> {
    let first = images.first().context("no inputs")?;
    let dims = coding_dims(dictionary, first, s.dims)?;
    for path in &images[1..] {
        let d = coding_dims(dictionary, path, s.dims)?;
        if d != dims {
            bail!(
                "{}: its signals are {d}-D but those of {} are {dims}-D",
                path.display(),
                first.display()
            );
        }
    }
    let dict = read_dictionary(dictionary, s.normalize, dims)?;
    let (arrays, pictures): (Vec<PathBuf>, Vec<PathBuf>) =
        images.iter().cloned().partition(|p| is_signal_file(p));
    // Every signal file is read and checked before anything is written.
    let mut signals = Vec::new();
    for path in &arrays {
        let file = SignalFile::read(path, dims)?;
        for p in &file.signals {
            if p.channels != dict.channels() {
                bail!(
                    "{}: signals have {} channel(s) but the filters of {} have {}",
                    path.display(),
                    p.channels,
                    dictionary.display(),
                    dict.channels()
                );
            }
            lca::conv::check_image(&dict, p).with_context(|| path.display().to_string())?;
        }
        signals.push((path, file));
    }
    std::fs::create_dir_all(output)
        .with_context(|| format!("{}: cannot create output folder", output.display()))?;
    super::check_writable(&output.join("probe.png"))?;
    let mut reports = Vec::new();
    for (path, file) in signals {
        reports.push(reconstruct_array(&dict, path, &file, output, s)?);
    }
    if !pictures.is_empty() {
        reports.extend(reconstruct_pictures(
            dictionary, &dict, &pictures, output, s,
        )?);
    }
    if s.run.json {
        let n = reports.len() as f64;
        let mean = |key: &str| reports.iter().filter_map(|r| r[key].as_f64()).sum::<f64>() / n;
        let mean_of = |key: &str| {
            reports
                .iter()
                .any(|r| r.get(key).is_some())
                .then(|| mean(key))
        };
        println!(
            "{}",
            serde_json::json!({
                "mode": "convolutional",
                "solver": mode_name(s),
                "dims": dims,
                "dims_given": s.dims.is_some(),
                "images": reports,
                "mean_psnr": mean_of("psnr"),
                "mean_snr": mean_of("snr"),
                "lambda": s.lambda,
                "boundary": s.boundary.name(),
            })
        );
    }
    Ok(())
}

/// The signals of one `.npy` or `.wav` coded and rebuilt: NAME.recon.npy
/// (the input's shape), NAME.codes.npy (as `lca encode` writes them), for a
/// `.wav` also NAME.recon.wav (32-bit float, the input's sample rate), and
/// the SNR `10·log10(‖x‖²/‖x − x̂‖²)` over the file.
fn reconstruct_array(
    dict: &ConvDictionary,
    path: &Path,
    file: &SignalFile,
    output: &Path,
    s: &ConvSettings,
) -> anyhow::Result<serde_json::Value> {
    let planes = &file.signals;
    let coded = encode_all(dict, planes, s)?;
    let dims = dict.dims();
    let spatial = planes[0].extent()[3 - dims..].to_vec();
    let (mut recon, mut codes) = (Vec::new(), Vec::new());
    let (mut signal, mut error) = (0.0f64, 0.0f64);
    for (x, c) in planes.iter().zip(&coded) {
        let r = lca::conv::reconstruct(dict, &c.codes, s.boundary)?;
        for (&a, &b) in x.data.iter().zip(&r.data) {
            signal += f64::from(a).powi(2);
            error += (f64::from(a) - f64::from(b)).powi(2);
        }
        recon.push(r);
        codes.extend_from_slice(&c.codes.data);
    }
    let snr = 10.0 * (signal / error.max(f64::MIN_POSITIVE)).log10();
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("signal");
    let out = |suffix: &str| output.join(format!("{stem}.{suffix}"));
    let recon_values: Vec<f32> = recon.iter().flat_map(|r| r.data.iter().copied()).collect();
    let mut recon_shape = vec![planes.len(), planes[0].channels];
    recon_shape.extend_from_slice(&spatial);
    let recon_shape = match &file.source {
        SignalSource::Npy { shape } => shape.clone(),
        SignalSource::Wav { .. } => recon_shape,
    };
    npy::write_npy(
        &out("recon.npy"),
        &NpyArray::from_f32(recon_shape, &recon_values)?,
    )?;
    npy::write_npy(
        &out("codes.npy"),
        &NpyArray::from_f32(file.code_shape(dict.n_filters()), &codes)?,
    )?;
    let mut written = out("recon.npy");
    if let SignalSource::Wav { .. } = file.source {
        written = out("recon.wav");
        file.write_like(&written, &recon)?;
    }
    let active: usize = coded.iter().map(|c| c.codes.nnz()).sum();
    if !(s.run.quiet || s.run.json) {
        println!(
            "{}: SNR {snr:.2} dB over {} {dims}-D signal(s) {}, {active} non-zero coefficients (convolutional {}) → {}",
            path.display(),
            planes.len(),
            extent_text(&spatial),
            mode_name(s),
            written.display()
        );
    }
    Ok(serde_json::json!({
        "image": path.display().to_string(),
        "snr": snr,
        "active": active,
        "objective": coded.iter().map(|c| c.objective).sum::<f64>(),
        "iterations": coded.iter().map(|c| c.iterations).collect::<Vec<_>>(),
        "extent": spatial,
        "written": written.display().to_string(),
    }))
}

/// Pictures coded whole and rebuilt as PNGs (the 2-D path).
fn reconstruct_pictures(
    dictionary: &Path,
    dict: &ConvDictionary,
    images: &[PathBuf],
    output: &Path,
    s: &ConvSettings,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let set = ImageSet::from_files(images, LoadOptions::default().color(dict.channels() == 3))?;
    if dict.channels() != 1 && dict.channels() != 3 {
        bail!(
            "{}: filters have {} channels; images are grey (1) or RGB (3)",
            dictionary.display(),
            dict.channels()
        );
    }
    let mut reports = Vec::new();
    for (i, path) in images.iter().enumerate() {
        let original = set.load(i)?;
        let planes = Planes::from_image(&original);
        lca::conv::check_image(dict, &planes).with_context(|| path.display().to_string())?;
        let coded = encode_all(dict, std::slice::from_ref(&planes), s)?.remove(0);
        let recon = lca::conv::reconstruct(dict, &coded.codes, s.boundary)?;
        let mut image = recon.to_image()?;
        for v in &mut image.data {
            *v = v.clamp(0.0, 1.0);
        }
        let quality = psnr(&original, &image);
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
        let out = |suffix: &str| output.join(format!("{stem}.{suffix}"));
        image.save_png(&out("recon.png"))?;
        let (w, h, c) = (original.width, original.height, original.channels);
        lca::plot::write_compare_png(
            &out("compare.png"),
            w,
            h,
            c,
            &original.data,
            &image.data,
            (
                "original",
                &format!("reconstruction (PSNR {quality:.2} dB)"),
                "residual",
            ),
        )?;
        let (nf, ch, cw) = coded.codes.shape();
        npz::write_csr(
            &out("codes.npz"),
            &CsrMatrix::from_dense_rows(nf, ch * cw, &coded.codes.data),
        )?;
        let active = coded.codes.nnz();
        if !(s.run.quiet || s.run.json) {
            println!(
                "{}: PSNR {quality:.2} dB at {w}×{h}, {active} non-zero coefficients (convolutional {}) → {}",
                path.display(),
                mode_name(s),
                out("recon.png").display()
            );
        }
        reports.push(serde_json::json!({
            "image": path.display().to_string(),
            "psnr": quality,
            "active": active,
            "objective": coded.objective,
            "iterations": coded.iterations,
            "width": w,
            "height": h,
        }));
    }
    Ok(reports)
}
