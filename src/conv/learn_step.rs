//! One step of convolutional dictionary learning, the same for every source
//! of images: code the step's crops with the current filters (the rate
//! convolutional LCA, circular boundary), hand the codes to the
//! [`ConvLearner`], and log the codes' statistics per pixel.

use super::learn::{CodedSignal, ConvLearner};
use super::{ConvDictionary, ConvEncoding, ConvLca, Planes};
use crate::error::Result;
use crate::learning::TrainingRow;

/// The coder and the filters' learner of a convolutional run.
pub(crate) struct ConvStep {
    /// The coder, at the run's λ with circular boundaries.
    pub coder: ConvLca,
    /// The filters and their statistics.
    pub learner: ConvLearner,
    /// λ of the codes (for the log's split of the objective).
    pub lambda: f32,
}

impl ConvStep {
    /// The current filters as a unit-norm dictionary.
    pub fn dictionary(&self) -> Result<ConvDictionary> {
        let s = self.learner.shape_nd();
        ConvDictionary::normalized_with_shape(
            s.atoms,
            s.channels,
            s.kernel_shape(),
            self.learner.filters().to_vec(),
        )
    }

    /// Codes `crops`, updates the filters and returns the step's log row
    /// (its clock and held-out score left for the session to fill).
    pub fn learn_on(&mut self, crops: &[Planes]) -> Result<TrainingRow> {
        let dict = self.dictionary()?;
        let codes = self.coder.encode(&dict, crops)?;
        let coded: Vec<CodedSignal<'_>> = crops
            .iter()
            .zip(&codes)
            .map(|(x, e)| CodedSignal {
                extent: x.extent(),
                signal: &x.data,
                codes: &e.codes.data,
            })
            .collect();
        self.learner.update_signals(&coded)?;
        Ok(step_row(
            self.learner.steps_done(),
            crops,
            &codes,
            self.lambda,
        ))
    }

    /// Mean objective per pixel of `images` under the current filters
    /// (`None` for no images).
    pub fn score(&self, images: &[Planes]) -> Result<Option<f64>> {
        if images.is_empty() {
            return Ok(None);
        }
        let dict = self.dictionary()?;
        let codes = self.coder.encode(&dict, images)?;
        let pixels: usize = images.iter().map(Planes::plane_len).sum();
        let total: f64 = codes.iter().map(|e| e.objective).sum();
        Ok(Some(total / pixels as f64))
    }
}

/// The log row of a step: per-pixel statistics of the coded crops.
fn step_row(step: u64, crops: &[Planes], codes: &[ConvEncoding], lambda: f32) -> TrainingRow {
    let pixels: usize = crops.iter().map(Planes::plane_len).sum();
    let values: usize = crops.iter().map(|p| p.data.len()).sum();
    let coefficients: usize = codes.iter().map(|e| e.codes.data.len()).sum();
    let energy: f64 = codes.iter().map(|e| e.objective).sum();
    let l1: f64 = codes
        .iter()
        .flat_map(|e| &e.codes.data)
        .map(|&v| f64::from(v.abs()))
        .sum();
    let nnz: usize = codes.iter().map(|e| e.codes.nnz()).sum();
    let data_term = (energy - f64::from(lambda) * l1).max(0.0);
    TrainingRow {
        step,
        seconds: 0.0,
        mse: 2.0 * data_term / values.max(1) as f64,
        l1: l1 / pixels.max(1) as f64,
        active_fraction: nnz as f64 / coefficients.max(1) as f64,
        energy: energy / pixels.max(1) as f64,
        heldout_energy: None,
    }
}
