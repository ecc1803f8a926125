//! The interface between the trainer and a model.

use crate::data::Batch;
use crate::error::Result;
use candle_core::{Tensor, Var};
use infinito_kernels::rng::splitmix64;
use std::collections::{BTreeMap, HashMap};

/// What one forward pass over a batch produced.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The loss to minimise: a scalar tensor (shape `[]` or `[1]`) whose graph, in training,
    /// reaches the trainable variables.
    pub loss: Tensor,
    /// The language-model cross-entropy of the batch (perplexity is `exp` of it).
    pub lm_loss: f64,
    /// The PHI numbers of a model that has them (the hybrid); logged under their field names,
    /// and `phi` and `phi_loss` fill the PHI columns of the history.
    pub phi: Option<PhiMetrics>,
    /// Further named values, averaged and logged by the trainer (e.g. the PHI components).
    pub metrics: BTreeMap<String, f64>,
    /// Seconds of named parts of the forward pass (the hybrid: `gpt2`, `memory`, `phi`),
    /// logged per step as `t_forward_<part>` and shared in the run's profile line; empty for a
    /// model that does not split its forward.
    pub forward_parts: Vec<(&'static str, f64)>,
}

impl StepOutput {
    /// Every metric by name: [`StepOutput::metrics`] and the fields of [`StepOutput::phi`].
    pub fn named_metrics(&self) -> BTreeMap<String, f64> {
        let mut all = self.metrics.clone();
        if let Some(phi) = &self.phi {
            all.extend(phi.named().map(|(name, v)| (name.to_string(), v)));
        }
        all
    }
}

/// The PHI numbers of one step, as typed fields (a renamed field is a compile error, not a
/// silent zero in the scheduler's reward).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhiMetrics {
    /// Mean learned PHI of the batch.
    pub phi: f64,
    /// The PHI term of the loss, before its coefficient.
    pub phi_loss: f64,
    /// Fraction of the memory's slots in use.
    pub memory_utilization: f64,
}

impl PhiMetrics {
    /// The fields by their log names (`phi`, `phi_loss`, `memory_utilization`).
    pub fn named(&self) -> [(&'static str, f64); 3] {
        [
            ("phi", self.phi),
            ("phi_loss", self.phi_loss),
            ("memory_utilization", self.memory_utilization),
        ]
    }
}

/// What the trainer needs from a model.
pub trait TrainModel {
    /// Loss (scalar tensor; in training its graph reaches the trainable vars) and metrics of one
    /// batch. `train` = dropout/batch statistics on; `seed` makes the step's randomness
    /// reproducible (the trainer derives it from the run seed and the global step, see
    /// [`crate::step_seed`], so a resumed run draws the same numbers).
    fn step(&mut self, batch: &Batch, train: bool, seed: u64) -> Result<StepOutput>;

    /// Parameters the optimizer updates, with stable names.
    fn trainable_vars(&self) -> Vec<(String, Var)>;

    /// Everything a checkpoint must hold to resume exactly (parameters and buffers such as
    /// memory or BatchNorm statistics), by name.
    fn state(&self) -> Result<HashMap<String, Tensor>>;

    /// Restores what [`TrainModel::state`] returned, in place (trainable vars keep their identity).
    fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()>;
}

/// Lets callers lend a model to the trainer (`fit(&mut model, ...)`) and keep it afterwards.
impl<T: TrainModel + ?Sized> TrainModel for &mut T {
    fn step(&mut self, batch: &Batch, train: bool, seed: u64) -> Result<StepOutput> {
        (**self).step(batch, train, seed)
    }

    fn trainable_vars(&self) -> Vec<(String, Var)> {
        (**self).trainable_vars()
    }

    fn state(&self) -> Result<HashMap<String, Tensor>> {
        (**self).state()
    }

    fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        (**self).load_state(tensors)
    }
}

/// The seed of the model's randomness at `global_step` of a run seeded with `run_seed`
/// (a SplitMix64 mix of both, so neighbouring steps get unrelated seeds).
pub fn step_seed(run_seed: u64, global_step: u64) -> u64 {
    splitmix64(splitmix64(run_seed) ^ global_step)
}
