//! The hybrid model as a [`TrainModel`]: forward, the one-coefficient loss, and its metrics;
//! optionally with the Gaussian integrated information of its hidden states every N steps.

use std::collections::{BTreeMap, HashMap};

use candle_core::{Tensor, Var};
use infinito_model::hybrid::{Hybrid, HybridOutput, PHI_PREFIX};
use infinito_model::loss::{hybrid_loss, LossWeights, PhiGrad, PhiObjective};
use infinito_model::Mode;
use infinito_phi::gaussian::{gaussian_phi, GaussianOptions};

use crate::data::Batch;
use crate::error::{Result, TrainError};
use crate::model::{PhiMetrics, StepOutput, TrainModel};

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

    /// One forward pass with its loss and metrics, and the hybrid's output.
    fn forward_step(
        &mut self,
        batch: &Batch,
        train: bool,
        seed: u64,
    ) -> Result<(StepOutput, HybridOutput)> {
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
        for (name, values) in out.phi.named().into_iter().skip(1) {
            let mean = values
                .mean_all()
                .and_then(|m| m.to_scalar::<f32>())
                .map_err(TrainError::model)?;
            metrics.insert(name.to_string(), mean as f64);
        }
        let step = StepOutput {
            loss: losses.total,
            lm_loss: losses.lm,
            phi: Some(PhiMetrics {
                phi: losses.phi_mean,
                phi_loss: losses.phi_loss,
                memory_utilization: out.memory_utilization,
            }),
            metrics,
            forward_parts: out.times.named().to_vec(),
        };
        Ok((step, out))
    }
}

impl TrainModel for HybridModel {
    fn step(&mut self, batch: &Batch, train: bool, seed: u64) -> Result<StepOutput> {
        Ok(self.forward_step(batch, train, seed)?.0)
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

/// Metric names of the Gaussian measures, in the step's metrics (and so in `metrics.jsonl`).
pub const GAUSSIAN_METRICS: [&str; 4] = [
    "gaussian_phi_si",
    "gaussian_phi_mi",
    "gaussian_phi_star",
    "gaussian_mutual_information",
];

/// When and how the Gaussian measures of the hidden states are logged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianPhiLog {
    /// Training steps between two measurements (steps `every`, `2 every`, ... of the run).
    pub every: u64,
    /// Channels, lag, shrinkage and MIB search (see [`gaussian_phi`]).
    pub options: GaussianOptions,
}

/// A [`HybridModel`] that, every [`GaussianPhiLog::every`] training steps, also reports the
/// Gaussian integrated information of the hidden states its learned PHI scored: Phi_SI, Phi_MI
/// and Phi* across the MIB of Phi_SI, and the past-present mutual information (metrics
/// [`GAUSSIAN_METRICS`], in nats). Other steps and validation carry no such metrics, so the
/// trainer's epoch means of them are means over the measured steps. A measurement that fails
/// (e.g. a singular covariance) is reported as NaN (`null` in `metrics.jsonl`), not as an error.
pub struct HybridWithGaussianPhi {
    /// The trained model.
    pub model: HybridModel,
    log: Option<GaussianPhiLog>,
    steps: u64,
}

impl HybridWithGaussianPhi {
    /// Wraps `model`; without `log` it behaves exactly like the model.
    pub fn new(model: HybridModel, log: Option<GaussianPhiLog>) -> Self {
        Self {
            model,
            log,
            steps: 0,
        }
    }

    /// Sets the number of training steps already taken (the trainer's global step after a
    /// resume), so measurements stay on the multiples of `every`.
    pub fn set_steps_taken(&mut self, steps: u64) {
        self.steps = steps;
    }
}

impl TrainModel for HybridWithGaussianPhi {
    fn step(&mut self, batch: &Batch, train: bool, seed: u64) -> Result<StepOutput> {
        let (mut step, out) = self.model.forward_step(batch, train, seed)?;
        if !train {
            return Ok(step);
        }
        self.steps += 1;
        if let Some(log) = self.log.filter(|l| self.steps.is_multiple_of(l.every)) {
            let values = match gaussian_phi(&out.hidden.detach(), &log.options) {
                Ok(r) => [r.phi_si, r.phi_mi, r.phi_star.value, r.mutual_information],
                Err(_) => [f64::NAN; 4],
            };
            for (name, value) in GAUSSIAN_METRICS.iter().zip(values) {
                step.metrics.insert(name.to_string(), value);
            }
        }
        Ok(step)
    }

    fn trainable_vars(&self) -> Vec<(String, Var)> {
        self.model.trainable_vars()
    }

    fn state(&self) -> Result<HashMap<String, Tensor>> {
        self.model.state()
    }

    fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        self.model.load_state(tensors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use infinito_model::hybrid::HybridConfig;
    use infinito_model::loss::PhiLoss;
    use infinito_model::pretrained::random_weights;
    use infinito_model::{Gpt2Config, LoraConfig};
    use infinito_phi::PhiConfig;

    fn model() -> HybridModel {
        let gpt2 = Gpt2Config::new(97, 32, 32, 2, 4);
        let config = HybridConfig {
            phi: PhiConfig::new(gpt2.n_embd, gpt2.n_head),
            gpt2,
            lora: LoraConfig::new(4, 16.0, 0.1),
            memory_slots: 8,
            train_base: false,
        };
        let base = random_weights(&config.gpt2, 3, &Device::Cpu).unwrap();
        HybridModel {
            hybrid: Hybrid::new(config, base, 5, &Device::Cpu).unwrap(),
            weights: LossWeights {
                text: 1.0,
                phi: 0.5,
            },
            objective: PhiObjective {
                loss: PhiLoss::Linear,
                grad: PhiGrad::All,
                target: 6.0,
                band: [3.0, 6.0],
            },
        }
    }

    fn batch() -> Batch {
        let ids: Vec<u32> = (0..4 * 17).map(|i| (i * 31 % 97) as u32).collect();
        let ids = Tensor::from_vec(ids, (4, 17), &Device::Cpu).unwrap();
        Batch {
            input_ids: ids.narrow(1, 0, 16).unwrap().contiguous().unwrap(),
            labels: ids.narrow(1, 1, 16).unwrap().contiguous().unwrap(),
        }
    }

    fn has_gaussian(out: &StepOutput) -> bool {
        GAUSSIAN_METRICS
            .iter()
            .all(|m| out.metrics.contains_key(*m))
    }

    #[test]
    fn gaussian_phi_is_logged_every_n_training_steps_from_that_steps_hidden_states() {
        let options = GaussianOptions {
            channels: 4,
            phi_g: false,
            ..Default::default()
        };
        let log = GaussianPhiLog { every: 2, options };
        let mut logged = HybridWithGaussianPhi::new(model(), Some(log));
        let mut plain = model();
        let batch = batch();
        for step in 1..=4u64 {
            let out = logged.step(&batch, true, step).unwrap();
            // The same step on an identical model: its hidden states give the logged values.
            let hidden = plain
                .hybrid
                .forward(&batch.input_ids, Mode::Train { seed: step })
                .unwrap()
                .hidden;
            assert_eq!(has_gaussian(&out), step % 2 == 0, "step {step}");
            if step % 2 == 0 {
                let want = gaussian_phi(&hidden, &options).unwrap();
                let m = &out.metrics;
                assert_eq!(m["gaussian_phi_si"], want.phi_si);
                assert_eq!(m["gaussian_phi_mi"], want.phi_mi);
                assert_eq!(m["gaussian_phi_star"], want.phi_star.value);
                assert_eq!(m["gaussian_mutual_information"], want.mutual_information);
                assert!(want.phi_si > 0.0 && want.phi_si.is_finite());
            }
            assert!(
                !has_gaussian(&logged.step(&batch, false, 0).unwrap()),
                "validation"
            );
            plain.hybrid.forward(&batch.input_ids, Mode::Eval).unwrap();
        }
        // After a resume at step 5, the next measurement is at step 6.
        logged.set_steps_taken(5);
        assert!(has_gaussian(&logged.step(&batch, true, 6).unwrap()));
        assert!(!has_gaussian(&logged.step(&batch, true, 7).unwrap()));
        let mut silent = HybridWithGaussianPhi::new(model(), None);
        assert!((1..=2).all(|s| !has_gaussian(&silent.step(&batch, true, s).unwrap())));
    }

    #[test]
    fn a_failed_measurement_is_nan_not_an_error() {
        // More channels than hidden units cannot be measured.
        let options = GaussianOptions {
            channels: 64,
            ..Default::default()
        };
        let log = GaussianPhiLog { every: 1, options };
        let mut logged = HybridWithGaussianPhi::new(model(), Some(log));
        let out = logged.step(&batch(), true, 1).unwrap();
        assert!(GAUSSIAN_METRICS.iter().all(|m| out.metrics[*m].is_nan()));
        assert!(out.phi.is_some_and(|p| p.phi.is_finite()));
    }
}
