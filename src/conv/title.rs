//! What a learning run learned, in words: the title of its figures. Here,
//! above both learners, because a run folder may hold either kind of run
//! ([`run_title`]).

use std::path::Path;

use super::signal_file::SignalFileKind;
use super::training::{ConvTrainingConfig, is_conv_config};
use crate::dictionary::TrainingConfig;
use crate::learning::run_folder::{images_label, steps_phrase};

impl ConvTrainingConfig {
    /// The title of `atoms.png` of a convolutional dictionary learning run after
    /// `steps_done` steps: what was learned (filters, size, colour, source
    /// photos), then how (λ, steps, crops, high-pass).
    ///
    /// ```
    /// use lca::conv::ConvTrainingConfig;
    /// let lines = ConvTrainingConfig::default().title(2000);
    /// assert_eq!(lines[0], "32 convolutional filters of 12×12 pixels learned from the embedded photos");
    /// ```
    pub fn title(&self, steps_done: u64) -> Vec<String> {
        let config = self;
        let c = &config.conv;
        let axes = |e: [usize; 3]| {
            (e[3 - c.dims.clamp(1, 3)..].iter())
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("×")
        };
        let k = c.kernel_size;
        let colour = if config.color { "×3 RGB" } else { "" };
        let (size, unit) = match c.dims {
            1 => (format!("{k}"), "taps"),
            3 => (axes(c.kernel_extent()), "voxels"),
            _ => (format!("{k}×{k}{colour}"), "pixels"),
        };
        let crops = match c.crop_extent() {
            None => match c.dims {
                1 => "whole recordings".to_string(),
                3 => "whole volumes".to_string(),
                _ => "whole images".to_string(),
            },
            Some(e) if c.dims == 1 => format!("crops of {} samples", e[2]),
            Some(e) => format!("{} crops", axes(e)),
        };
        let highpass = if c.highpass > 0.0 {
            format!(", high-pass L={}", c.highpass)
        } else {
            String::new()
        };
        vec![
            format!(
                "{} convolutional filters of {size} {unit} learned from {}",
                config.atoms,
                source_label(config.images.as_deref(), c.dims)
            ),
            format!(
                "convolutional LCA: λ = {}, {} on {crops}{highpass}",
                c.lambda,
                steps_phrase(steps_done)
            ),
        ]
    }
}

/// Where a run's signals came from: the photos (2-D folders), the
/// recordings of a folder (1-D) or an `.npy`'s name.
fn source_label(images: Option<&Path>, dims: usize) -> String {
    match images {
        Some(path) if dims != 2 || SignalFileKind::of(path) == SignalFileKind::Npy => {
            let name = (path.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            if SignalFileKind::of(path) != SignalFileKind::Npy {
                format!("the recordings in {name}/")
            } else {
                name
            }
        }
        _ => images_label(images),
    }
}

/// The title of the run whose output folder is `dir`, from its `config.json`
/// ([`TrainingConfig::title`] or [`ConvTrainingConfig::title`], with the
/// steps it records), or
/// `None` when the folder holds no readable run config: `lca plot atoms
/// OUT/dictionary.npy` titles the redrawn figure as the run did.
pub fn run_title(dir: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    if is_conv_config(&text) {
        let config: ConvTrainingConfig = serde_json::from_str(&text).ok()?;
        let steps = config.progress.as_ref().map_or(0, |p| p.steps_done);
        Some(config.title(steps))
    } else {
        let config: TrainingConfig = serde_json::from_str(&text).ok()?;
        let steps = config.progress.as_ref().map_or(0, |p| p.steps_done);
        Some(config.title(steps))
    }
}

/// The dimension of the convolutional run whose output folder is `dir`
/// (from its `config.json`; `None` without a readable conv run config), so
/// `lca plot atoms OUT/dictionary.npy` draws 1-D and 3-D kernels as the run did.
pub fn run_dims(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    if !is_conv_config(&text) {
        return None;
    }
    let config: ConvTrainingConfig = serde_json::from_str(&text).ok()?;
    Some(config.conv.dims)
}
