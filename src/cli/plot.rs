//! `lca plot`: PNG figures of dictionaries, training logs and spike rasters.

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::{Args, Subcommand};
use lca::dictionary::read_training_csv;
use lca::io::npy;
use lca::plot;

#[derive(Args, Debug)]
pub struct PlotArgs {
    #[command(subcommand)]
    what: PlotCommand,
}

#[derive(Subcommand, Debug)]
enum PlotCommand {
    /// Grid of the atoms (rows of D.npy) as P×P image patches.
    Atoms {
        /// Dictionary, shape (n_atoms, n_features) with n_features = P*P (or P*P*3 with --color).
        dictionary: PathBuf,
        /// Output PNG [default: <dictionary stem>.atoms.png next to the dictionary].
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Atoms are RGB patches, pixel-interleaved ((y*P + x)*3 + c).
        #[arg(long)]
        color: bool,
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
            let d = npy::read_matrix(&dictionary)?;
            let channels = if color { 3 } else { 1 };
            let grid = match plot::atoms_figure(&d.data, d.rows, d.cols, channels) {
                Ok(grid) => grid,
                Err(e) => {
                    let hint = if !color && is_square(d.cols / 3) && d.cols.is_multiple_of(3) {
                        " (RGB atoms? add --color)"
                    } else {
                        ""
                    };
                    bail!("{}: {e}{hint}", dictionary.display());
                }
            };
            plot::write_rgb_png(&output, &grid)?;
            eprintln!(
                "wrote {} ({} atoms, {}x{} px)",
                output.display(),
                d.rows,
                grid.width(),
                grid.height()
            );
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
