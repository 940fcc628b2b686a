//! What a user changes of a dataset's training recipe: `lca snn train`'s
//! flags and Python's `snn_train` settings are both read into one
//! [`RecipeOverrides`] and applied here, so the two front ends cannot drift
//! apart (they had: Python started EventProp runs from the surrogate recipe
//! and replaced a recipe's own exponential-loss τ).

use super::defaults::{self, EncoderKind, Recipe};
use super::eventprop::Method;
use super::loss::Loss;
use crate::error::{Error, Result};
use crate::neuron::{Reset, SurrogateKind};

/// Changes to a recipe; `None` keeps the recipe's value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecipeOverrides {
    /// Gradient method (default: the dataset's own; SHD's is EventProp).
    pub method: Option<Method>,
    pub surrogate: Option<SurrogateKind>,
    pub surrogate_width: Option<f32>,
    pub alpha: Option<f32>,
    pub hidden: Option<Vec<usize>>,
    pub recurrent: Option<bool>,
    /// A loss of another kind than the recipe's; the same kind keeps the
    /// recipe's own settings (change them with the fields below).
    pub loss: Option<Loss>,
    pub ttfs_tau0: Option<f32>,
    pub ttfs_tau1: Option<f32>,
    pub ttfs_gamma: Option<f32>,
    /// τ of the exponential-voltage loss (default: the recipe's, or the
    /// number of time steps where the recipe has none).
    pub exp_tau: Option<f32>,
    pub encoder: Option<EncoderKind>,
    /// Time steps; a new count drops the recipe's window unless `window`.
    pub time_steps: Option<usize>,
    pub window: Option<usize>,
    pub max_rate: Option<f32>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f32>,
    pub lr_final: Option<f32>,
    pub weight_decay: Option<f32>,
    pub input_dropout: Option<f32>,
    pub current_decay: Option<f32>,
    pub voltage_decay: Option<f32>,
    pub firing_threshold: Option<f32>,
    pub reset: Option<Reset>,
    /// Train the decays (EventProp never does: its adjoint does not cover them).
    pub train_decays: Option<bool>,
    pub train_threshold: Option<bool>,
    pub reset_gradient: Option<bool>,
    pub weight_scale: Option<f32>,
    pub output_scale: Option<f32>,
    pub weight_mean: Option<f32>,
    pub output_mean: Option<f32>,
    /// Seed of the initial weights and the batch order.
    pub seed: u64,
    /// Keep the last epoch's parameters rather than the best validation epoch's.
    pub keep_last: bool,
}

impl RecipeOverrides {
    /// The recipe of `dataset` for the chosen method with these changes.
    pub fn recipe(&self, dataset: &str) -> Result<Recipe> {
        let method = self
            .method
            .unwrap_or_else(|| defaults::for_dataset(dataset).train.method);
        let mut r = defaults::for_method(dataset, method);
        let set = |slot: &mut f32, v: Option<f32>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        if let Some(k) = self.surrogate {
            r.surrogate.kind = k;
        }
        set(&mut r.surrogate.tau, self.surrogate_width);
        set(&mut r.surrogate.alpha, self.alpha);
        if let Some(h) = &self.hidden {
            r.hidden = h.clone();
        }
        r.recurrent = self.recurrent.unwrap_or(r.recurrent);
        self.apply_loss(&mut r);
        if let Some(e) = self.encoder {
            r.encoder = e;
        }
        if let Some(t) = self.time_steps {
            r.time_steps = t;
            r.window = None;
        }
        if self.window.is_some() {
            r.window = self.window;
        }
        self.apply_numbers(&mut r);
        if let Loss::ExpVoltage { tau } = &mut r.train.loss {
            if let Some(t) = self.exp_tau {
                *tau = t;
            } else if *tau == 0.0 {
                *tau = r.time_steps as f32;
            }
        }
        r.train.method = method;
        // EventProp's adjoint covers weights, biases and thresholds, not decays.
        if method == Method::EventProp {
            r.train_decays = false;
        }
        r.train.seed = self.seed;
        r.train.keep_best &= !self.keep_last;
        if r.time_steps == 0 {
            return Err(Error::setting(
                "time_steps",
                "time steps must be at least 1",
            ));
        }
        Ok(r)
    }

    /// The loss kind and its time-to-first-spike settings.
    fn apply_loss(&self, r: &mut Recipe) {
        if let Some(l) = self.loss
            && l.name() != r.train.loss.name()
        {
            r.train.loss = l;
        }
        if let Loss::FirstSpike { tau0, tau1, gamma } = &mut r.train.loss {
            for (slot, v) in [
                (tau0, self.ttfs_tau0),
                (tau1, self.ttfs_tau1),
                (gamma, self.ttfs_gamma),
            ] {
                if let Some(v) = v {
                    *slot = v;
                }
            }
        }
    }

    /// The plain numbers and switches of the schedule, neurons and weights.
    fn apply_numbers(&self, r: &mut Recipe) {
        let pairs: [(&mut f32, Option<f32>); 12] = [
            (&mut r.max_rate, self.max_rate),
            (&mut r.train.lr, self.lr),
            (&mut r.train.lr_final, self.lr_final),
            (&mut r.train.weight_decay, self.weight_decay),
            (&mut r.train.input_dropout, self.input_dropout),
            (&mut r.neuron.current_decay, self.current_decay),
            (&mut r.neuron.voltage_decay, self.voltage_decay),
            (&mut r.neuron.threshold, self.firing_threshold),
            (&mut r.weight_scale, self.weight_scale),
            (&mut r.output_scale, self.output_scale),
            (&mut r.weight_mean, self.weight_mean),
            (&mut r.output_mean, self.output_mean),
        ];
        for (slot, v) in pairs {
            if let Some(v) = v {
                *slot = v;
            }
        }
        r.train.epochs = self.epochs.unwrap_or(r.train.epochs);
        r.train.batch_size = self.batch_size.unwrap_or(r.train.batch_size);
        if let Some(reset) = self.reset {
            r.neuron.reset = reset;
        }
        r.train_decays = self.train_decays.unwrap_or(r.train_decays);
        r.train_threshold = self.train_threshold.unwrap_or(r.train_threshold);
        r.reset_gradient = self.reset_gradient.unwrap_or(r.reset_gradient);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_starts_from_its_own_recipe() {
        let o = RecipeOverrides {
            method: Some(Method::EventProp),
            ..Default::default()
        };
        assert_eq!(
            o.recipe("yinyang").unwrap(),
            defaults::for_method("yinyang", Method::EventProp)
        );
        assert_eq!(
            RecipeOverrides::default().recipe("digits").unwrap(),
            defaults::for_dataset("digits")
        );
    }

    #[test]
    fn changes_apply_and_the_rest_stays() {
        let o = RecipeOverrides {
            time_steps: Some(33),
            lr: Some(0.5),
            recurrent: Some(true),
            seed: 7,
            ..Default::default()
        };
        let (r, base) = (
            o.recipe("yinyang").unwrap(),
            defaults::for_dataset("yinyang"),
        );
        assert_eq!(
            (r.time_steps, r.window, r.train.lr, r.recurrent),
            (33, None, 0.5, true)
        );
        assert_eq!(
            (r.train.seed, r.hidden.clone(), r.train.epochs),
            (7, base.hidden, base.train.epochs)
        );
        let zero = RecipeOverrides {
            time_steps: Some(0),
            ..Default::default()
        };
        assert!(zero.recipe("yinyang").is_err());
    }
}
