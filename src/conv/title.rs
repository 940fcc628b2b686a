//! What a learning run learned, in words: the title of its figures. Here,
//! above both learners, because a run folder may hold either kind of run
//! ([`run_title`]).

use std::path::Path;

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
        let k = config.conv.kernel_size;
        let colour = if config.color { "×3 RGB" } else { "" };
        let crops = if config.conv.crop == 0 {
            "whole images".to_string()
        } else {
            format!("{c}×{c} crops", c = config.conv.crop)
        };
        let highpass = if config.conv.highpass > 0.0 {
            format!(", high-pass L={}", config.conv.highpass)
        } else {
            String::new()
        };
        vec![
            format!(
                "{} convolutional filters of {k}×{k}{colour} pixels learned from {}",
                config.atoms,
                images_label(config.images.as_deref())
            ),
            format!(
                "convolutional LCA: λ = {}, {} on {crops}{highpass}",
                config.conv.lambda,
                steps_phrase(steps_done)
            ),
        ]
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
