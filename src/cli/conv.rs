//! `lca encode` and `lca reconstruct` with a convolutional dictionary (a 3-D
//! `(n_filters, k, k)` or 4-D `(n_filters, C, k, k)` `.npy`): whole images
//! coded at once, no patches.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lca::conv::{Boundary, ConvDictionary, ConvLcaParams, ConvSpikingParams, Planes, Schedule};
use lca::image::{Image, ImageSet, LoadOptions, psnr};
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
    pub run: super::RunOptions,
}

/// `--conv-schedule`'s spellings.
pub(crate) fn schedule_from_name(name: &str) -> anyhow::Result<Schedule> {
    Ok(match name {
        "splitting" => Schedule::Splitting,
        "accelerated" => Schedule::Accelerated,
        "greedy" => Schedule::Greedy { segment: None },
        other => bail!("--conv-schedule: expected splitting, accelerated or greedy, got {other}"),
    })
}

/// The name of the schedule that ran.
fn schedule_name(s: Schedule) -> &'static str {
    match s {
        Schedule::Splitting => "splitting",
        Schedule::Accelerated => "accelerated",
        Schedule::Greedy { .. } => "greedy",
        Schedule::Dynamics { .. } => "dynamics",
    }
}

/// Whether `path` holds a convolutional dictionary.
pub(crate) fn is_conv_dictionary(path: &Path) -> anyhow::Result<bool> {
    Ok(ConvDictionary::is_conv_npy(path)?)
}

fn read_dictionary(path: &Path, normalize: bool) -> anyhow::Result<ConvDictionary> {
    Ok(if normalize {
        ConvDictionary::from_npy_normalized(path)?
    } else {
        ConvDictionary::from_npy(path)?
    })
}

/// Images from `--input`: an image file, or an `.npy` of shape `(H, W)`,
/// `(C, H, W)` or `(N, C, H, W)`.
fn read_images(path: &Path, channels: usize) -> anyhow::Result<Vec<Planes>> {
    if path.extension().and_then(|e| e.to_str()) == Some("npy") {
        let array = npy::read_array(path)?.into_c_order();
        let values = array
            .to_f32_vec()
            .with_context(|| format!("{}: images must be float32 or float64", path.display()))?;
        let shape = array.header.shape.clone();
        let (n, c, h, w) = match shape[..] {
            [h, w] => (1, 1, h, w),
            [c, h, w] => (1, c, h, w),
            [n, c, h, w] => (n, c, h, w),
            _ => bail!(
                "{}: images have shape (H, W), (C, H, W) or (N, C, H, W), got {shape:?}",
                path.display()
            ),
        };
        let len = c * h * w;
        return (0..n)
            .map(|i| {
                Ok(Planes::new(
                    c,
                    h,
                    w,
                    values[i * len..(i + 1) * len].to_vec(),
                )?)
            })
            .collect();
    }
    let set = ImageSet::from_files(
        &[path.to_path_buf()],
        LoadOptions::default().color(channels == 3),
    )?;
    Ok(vec![to_planes(set.load(0)?.as_ref())])
}

/// HWC image → `(C, H, W)` planes.
fn to_planes(img: &Image) -> Planes {
    let (w, h, c) = (img.width, img.height, img.channels);
    let mut p = Planes::zeros(c, h, w);
    for (i, px) in img.data.chunks_exact(c).enumerate() {
        for (ch, &v) in px.iter().enumerate() {
            p.data[ch * h * w + i] = v;
        }
    }
    p
}

/// `(C, H, W)` planes → HWC image.
fn to_image(p: &Planes) -> anyhow::Result<Image> {
    let (c, h, w) = p.shape();
    let mut data = vec![0.0; c * h * w];
    for ch in 0..c {
        for (i, &v) in p.plane(ch).iter().enumerate() {
            data[i * c + ch] = v;
        }
    }
    Ok(Image::new(w, h, c, data)?)
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
    let dict = read_dictionary(dictionary, s.normalize)?;
    let images = read_images(input, dict.channels())?;
    for img in &images {
        if img.channels != dict.channels() {
            bail!(
                "{}: images have {} channel(s) but the filters of {} have {} (shape ({}, {}, {k}, {k}))",
                input.display(),
                img.channels,
                dictionary.display(),
                dict.channels(),
                dict.n_filters(),
                dict.channels(),
                k = dict.kernel_size()
            );
        }
        lca::conv::check_image(&dict, img).with_context(|| input.display().to_string())?;
    }
    let batched = input.extension().and_then(|e| e.to_str()) == Some("npy")
        && npy::read_array(input)?.header.shape.len() == 4;
    let coded = encode_all(&dict, &images, s)?;
    let (nf, h, w) = coded[0].codes.shape();
    let mut all = Vec::with_capacity(coded.len() * nf * h * w);
    for c in &coded {
        all.extend_from_slice(&c.codes.data);
    }
    if ext == "npz" {
        npz::write_csr(
            output,
            &CsrMatrix::from_dense_rows(coded.len() * nf, h * w, &all),
        )?;
    } else {
        let shape = if batched {
            vec![coded.len(), nf, h, w]
        } else {
            vec![nf, h, w]
        };
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
        "kernel_size": dict.kernel_size(),
        "height": h,
        "width": w,
        "boundary": s.boundary.name(),
        "lambda": s.lambda,
        "schedule": coded[0].schedule.map(schedule_name),
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
        println!(
            "convolutional {} LCA: {} image(s) {h}×{w}, {nf} filters {k}×{k}, mean objective {:.6}, {:.0} non-zeros per image → {}",
            mode_name(s),
            coded.len(),
            summary["objective"].as_f64().unwrap_or(0.0),
            summary["mean_active"].as_f64().unwrap_or(0.0),
            output.display(),
            k = dict.kernel_size()
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

/// `lca reconstruct` with a convolutional dictionary: every image coded
/// whole, then NAME.recon.png, NAME.compare.png, NAME.codes.npz (CSR, one
/// row per filter map) and its PSNR.
pub(crate) fn reconstruct(
    dictionary: &Path,
    images: &[PathBuf],
    output: &Path,
    s: &ConvSettings,
) -> anyhow::Result<()> {
    let dict = read_dictionary(dictionary, s.normalize)?;
    std::fs::create_dir_all(output)
        .with_context(|| format!("{}: cannot create output folder", output.display()))?;
    super::check_writable(&output.join("probe.png"))?;
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
        let planes = to_planes(&original);
        lca::conv::check_image(&dict, &planes).with_context(|| path.display().to_string())?;
        let coded = encode_all(&dict, std::slice::from_ref(&planes), s)?.remove(0);
        let recon = lca::conv::reconstruct(&dict, &coded.codes, s.boundary)?;
        let mut image = to_image(&recon)?;
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
    if s.run.json {
        let n = reports.len() as f64;
        let mean = |key: &str| reports.iter().filter_map(|r| r[key].as_f64()).sum::<f64>() / n;
        println!(
            "{}",
            serde_json::json!({
                "mode": "convolutional",
                "solver": mode_name(s),
                "images": reports,
                "mean_psnr": mean("psnr"),
                "lambda": s.lambda,
                "boundary": s.boundary.name(),
            })
        );
    }
    Ok(())
}
