//! The hybrid model as a [`TrainModel`]: forward, the one-coefficient loss, and its metrics.

use std::collections::{BTreeMap, HashMap};

use candle_core::{Tensor, Var};
use infinito_model::hybrid::{Hybrid, PHI_PREFIX};
use infinito_model::loss::{hybrid_loss, LossWeights, PhiGrad, PhiObjective};
use infinito_model::Mode;

use crate::data::Batch;
use crate::error::{Result, TrainError};
use crate::model::{StepOutput, TrainModel};

/// A hybrid with the loss it is trained on.
pub struct HybridModel {
    pub hybrid: Hybrid,
    pub weights: LossWeights,
    pub objective: PhiObjective,
}

impl HybridModel {
    /// Sets the loss coefficients (`w_text`, `w_phi`) used from the next step on.
    pub fn set_loss_weights(&mut self, text: f64, phi: f64) {
        self.weights = LossWeights { text, phi };
    }
}

impl TrainModel for HybridModel {
    fn step(&mut self, batch: &Batch, train: bool, seed: u64) -> Result<StepOutput> {
        let mode = if train {
            Mode::Train { seed }
        } else {
            Mode::Eval
        };
        let out = self
            .hybrid
            .forward(&batch.input_ids, mode)
            .map_err(TrainError::model)?;
        let losses = hybrid_loss(&out, &batch.labels, self.weights, self.objective)
            .map_err(TrainError::model)?;
        let mut metrics = BTreeMap::new();
        metrics.insert("phi".to_string(), losses.phi_mean);
        metrics.insert("phi_loss".to_string(), losses.phi_loss);
        metrics.insert("memory_utilization".to_string(), out.memory_utilization);
        for (name, values) in out.phi.named().into_iter().skip(1) {
            let mean = values
                .mean_all()
                .and_then(|m| m.to_scalar::<f32>())
                .map_err(TrainError::model)?;
            metrics.insert(name.to_string(), mean as f64);
        }
        Ok(StepOutput {
            loss: losses.total,
            lm_loss: losses.lm,
            metrics,
        })
    }

    /// Every trainable variable, except the PHI nets unless the PHI term trains them
    /// (`--phi-grad all`): under `model` they are frozen, under `none` nothing reaches them.
    fn trainable_vars(&self) -> Vec<(String, Var)> {
        let phi_trains = self.objective.grad == PhiGrad::All;
        self.hybrid
            .trainable_vars()
            .into_iter()
            .filter(|(name, _)| phi_trains || !name.starts_with(PHI_PREFIX))
            .collect()
    }

    fn state(&self) -> Result<HashMap<String, Tensor>> {
        self.hybrid.state().map_err(TrainError::model)
    }

    fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        self.hybrid.load_state(tensors).map_err(TrainError::model)
    }
}
