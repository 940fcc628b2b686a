//! `lca plot`: PNG figures of dictionaries, conv codes, training logs and
//! spike rasters.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use lca::dictionary::read_training_csv;
use lca::image::{ImageSet, LoadOptions};
use lca::io::npy;
use lca::plot;

#[derive(Args, Debug)]
pub struct PlotArgs {
    #[command(subcommand)]
    what: PlotCommand,
}

#[derive(Subcommand, Debug)]
enum PlotCommand {
    /// Grid of the atoms (rows of D.npy) as P×P image patches, or of conv filters.
    Atoms {
        /// Dictionary: (n_atoms, n_features) with n_features = P*P (or P*P*3 with --color),
        /// or conv filters (n_filters, k, k) / (n_filters, C, k, k) with C = 1 or 3 (colour).
        dictionary: PathBuf,
        /// Output PNG [default: <dictionary stem>.atoms.png next to the dictionary].
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Atoms are RGB patches, pixel-interleaved ((y*P + x)*3 + c).
        #[arg(long)]
        color: bool,
    },
    /// Where each filter of a conv code fires: the image beside per-filter activation maps.
    Codes {
        /// Conv codes written by `lca encode -d FILTERS.npy -i IMAGE -o CODES.npy`:
        /// shape (n_filters, H, W) or (N, n_filters, H, W).
        codes: PathBuf,
        /// The encoded image (its size must be the maps' H×W).
        #[arg(long)]
        image: PathBuf,
        /// The conv dictionary, to draw each filter beside its map.
        #[arg(long, short = 'd')]
        dictionary: Option<PathBuf>,
        /// Image of a batch (N, n_filters, H, W) to draw.
        #[arg(long, default_value_t = 0)]
        index: usize,
        /// Number of filters shown, the strongest (largest ℓ1 norm of its map) first.
        #[arg(long, default_value_t = 12)]
        top: usize,
        /// Output PNG [default: <codes stem>.maps.png next to the codes].
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Spike raster of one signal, with the rate codes beside it, from a spike file.
    Raster {
        /// Spike file written by `lca encode --mode spiking --spikes S.npz`.
        spikes: PathBuf,
        /// Signal (row of the encoded input) to draw.
        #[arg(long, short = 's', default_value_t = 0)]
        signal: usize,
        /// Output PNG [default: <spikes stem>.raster<K>.png next to the spike file].
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Training curves (MSE, L1, active fraction, energy) from a training log CSV.
    Training {
        /// Training log with header step,seconds,mse,l1,active_fraction,energy.
        log: PathBuf,
        /// Output PNG [default: training.png next to the log].
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
}

/// Runs `lca plot`.
pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    match args.what {
        PlotCommand::Atoms {
            dictionary,
            output,
            color,
        } => {
            let output = output.unwrap_or_else(|| default_atoms_output(&dictionary));
            let figure = atoms_figure(&dictionary, color)?;
            plot::write_rgb_png(&output, &figure)?;
            eprintln!(
                "wrote {} ({}x{} px)",
                output.display(),
                figure.width(),
                figure.height()
            );
        }
        PlotCommand::Codes {
            codes,
            image,
            dictionary,
            index,
            top,
            output,
        } => {
            let output = output.unwrap_or_else(|| {
                let stem = codes
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "codes".into());
                sibling(&codes, &format!("{stem}.maps.png"))
            });
            codes_figure(&codes, &image, dictionary.as_deref(), index, top, &output)?;
        }
        PlotCommand::Raster {
            spikes,
            signal,
            output,
        } => {
            let output = output.unwrap_or_else(|| {
                let stem = spikes
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "spikes".into());
                sibling(&spikes, &format!("{stem}.raster{signal}.png"))
            });
            let record = lca::solver::SpikeRecord::read_npz(&spikes)?;
            let raster = record
                .raster(signal)
                .map_err(|e| anyhow::anyhow!("{}: {e}", spikes.display()))?;
            let pairs = if record.signed() {
                format!(
                    "; neurons 0..{k} ON, {k}..{} OFF",
                    2 * record.n_atoms,
                    k = record.n_atoms
                )
            } else {
                String::new()
            };
            let title = format!(
                "spiking LCA, signal {signal}: rates averaged after step {}{pairs}",
                record.settle
            );
            plot::write_raster_png(
                &output,
                raster.n_neurons,
                raster.steps,
                &raster.spikes,
                &raster.rates,
                &title,
            )?;
            eprintln!(
                "wrote {} ({} neurons, {} spikes)",
                output.display(),
                raster.n_neurons,
                raster.spikes.len()
            );
        }
        PlotCommand::Training { log, output } => {
            let output = output.unwrap_or_else(|| sibling(&log, "training.png"));
            let rows = read_training_csv(&log)?;
            if rows.is_empty() {
                bail!("{}: the training log has no data rows", log.display());
            }
            plot::write_training_png(&output, &rows)?;
            eprintln!("wrote {} ({} steps)", output.display(), rows.len());
        }
    }
    Ok(())
}

/// The titled grid of a patch dictionary or of conv filters (titled as its run
/// did when a run's `config.json` sits beside it).
fn atoms_figure(dictionary: &Path, color: bool) -> anyhow::Result<image::RgbImage> {
    let array = npy::read_array(dictionary)?.into_c_order();
    let shape = array.header.shape.clone();
    let values = array
        .to_f32_vec()
        .with_context(|| format!("{}: atoms must be float32 or float64", dictionary.display()))?;
    let dir = dictionary.parent().map(|dir| {
        if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }
    });
    let dims = match shape.len() {
        5 => Some(3),
        _ => dir.and_then(lca::conv::run_dims),
    };
    if dims.is_some_and(|d| d != 2 && shape.len() == d + 2) {
        // 1-D kernels as curves, 3-D kernels as slices.
        let s = lca::conv::FilterShapeNd::with_kernel(shape[0], shape[1], &shape[2..])?;
        let title = dir
            .and_then(lca::conv::run_title)
            .unwrap_or_else(|| vec![format!("{} filters of {}", s.atoms, s.describe())]);
        return plot::kernels_figure(&values, s, &title)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dictionary.display()));
    }
    let (n, features, channels, rows) = match shape[..] {
        [n, f] => (n, f, if color { 3 } else { 1 }, values),
        [n, k1, k2] if k1 == k2 => (n, k1 * k2, 1, values),
        [n, c @ (1 | 3), k1, k2] if k1 == k2 => (
            n,
            c * k1 * k2,
            c,
            plot::interleave_channels(&values, n, c, k1 * k2),
        ),
        _ => bail!(
            "{}: a dictionary has shape (n_atoms, n_features), (n_filters, k, k) or \
             (n_filters, C, k, k) with C = 1 or 3, got {shape:?}",
            dictionary.display()
        ),
    };
    let title = dictionary.parent().and_then(|dir| {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        lca::conv::run_title(dir)
    });
    let figure = match &title {
        Some(title) => plot::titled_atoms_figure(&rows, n, features, channels, title),
        None => plot::atoms_figure(&rows, n, features, channels),
    };
    figure.map_err(|e| {
        let hint = if shape.len() == 2 && !color && is_square(features / 3) && features % 3 == 0 {
            " (RGB atoms? add --color)"
        } else {
            ""
        };
        anyhow::anyhow!("{}: {e}{hint}", dictionary.display())
    })
}

/// `lca plot codes`: reads the codes (one image of a batch), the image and
/// optionally the filters, and writes the figure.
fn codes_figure(
    codes_path: &Path,
    image_path: &Path,
    dictionary: Option<&Path>,
    index: usize,
    top: usize,
    output: &Path,
) -> anyhow::Result<()> {
    if codes_path.extension().and_then(|e| e.to_str()) != Some("npy") {
        bail!(
            "{}: conv codes must be a dense .npy (write them with `lca encode -o CODES.npy`)",
            codes_path.display()
        );
    }
    let array = npy::read_array(codes_path)?.into_c_order();
    let shape = array.header.shape.clone();
    let values = array
        .to_f32_vec()
        .with_context(|| format!("{}: codes must be float32 or float64", codes_path.display()))?;
    let (n, m, h, w) = match shape[..] {
        [m, h, w] => (1, m, h, w),
        [n, m, h, w] => (n, m, h, w),
        _ => bail!(
            "{}: conv codes have shape (n_filters, H, W) or (N, n_filters, H, W), got {shape:?}",
            codes_path.display()
        ),
    };
    if index >= n {
        bail!(
            "{}: --index {index} is out of range: the codes hold {n} image(s)",
            codes_path.display()
        );
    }
    let len = m * h * w;
    let maps = plot::CodeMaps {
        data: &values[index * len..(index + 1) * len],
        n_filters: m,
        height: h,
        width: w,
    };
    let set = ImageSet::from_files(
        &[image_path.to_path_buf()],
        LoadOptions::default().color(true),
    )?;
    let image = set.load(0)?;
    let filters = match dictionary {
        None => None,
        Some(path) => {
            let array = npy::read_array(path)?.into_c_order();
            let fshape = array.header.shape.clone();
            let fvalues = array.to_f32_vec().with_context(|| {
                format!("{}: filters must be float32 or float64", path.display())
            })?;
            let (fm, c, k) = match fshape[..] {
                [fm, k1, k2] if k1 == k2 => (fm, 1, k1),
                [fm, c @ (1 | 3), k1, k2] if k1 == k2 => (fm, c, k1),
                _ => bail!(
                    "{}: conv filters have shape (n_filters, k, k) or (n_filters, C, k, k) with \
                     C = 1 or 3, got {fshape:?}",
                    path.display()
                ),
            };
            if fm != m {
                bail!(
                    "{}: {fm} filters, but the codes in {} have {m} maps",
                    path.display(),
                    codes_path.display()
                );
            }
            Some((plot::interleave_channels(&fvalues, fm, c, k * k), c, k))
        }
    };
    let filter_images = filters.as_ref().map(|(data, c, k)| plot::FilterImages {
        data,
        kernel: *k,
        channels: *c,
    });
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    };
    let active = plot::filter_strengths(&maps).len();
    let shown = active.min(top);
    let batch = if n > 1 {
        format!(" (image {index} of {n})")
    } else {
        String::new()
    };
    let title = [
        format!(
            "Where the {shown} strongest of {m} filters fire on {}",
            name(image_path)
        ),
        format!(
            "codes {}{batch}: {active} filters active; % = share of the code's ℓ1 norm; \
             red positive, blue negative, each map scaled to its own peak",
            name(codes_path)
        ),
    ];
    plot::write_codes_png(output, &image, &maps, filter_images, top, &title).map_err(|e| {
        anyhow::anyhow!(
            "{} with {}: {e}",
            codes_path.display(),
            image_path.display()
        )
    })?;
    eprintln!(
        "wrote {} ({shown} of {m} filter maps, {active} active)",
        output.display()
    );
    Ok(())
}

/// `dir/D.npy` -> `dir/D.atoms.png`.
fn default_atoms_output(dictionary: &Path) -> PathBuf {
    let stem = dictionary
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dictionary".into());
    sibling(dictionary, &format!("{stem}.atoms.png"))
}

/// `name` in the directory of `path`.
fn sibling(path: &Path, name: &str) -> PathBuf {
    match path.parent() {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

fn is_square(n: usize) -> bool {
    n > 0 && n.isqrt() * n.isqrt() == n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_outputs_sit_next_to_the_input() {
        assert_eq!(
            default_atoms_output(Path::new("runs/a/D.npy")),
            PathBuf::from("runs/a/D.atoms.png")
        );
        assert_eq!(
            default_atoms_output(Path::new("D.npy")),
            PathBuf::from("D.atoms.png")
        );
        assert_eq!(
            sibling(Path::new("runs/training.csv"), "training.png"),
            PathBuf::from("runs/training.png")
        );
    }
}
