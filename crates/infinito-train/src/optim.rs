//! AdamW with PyTorch's semantics and a state that can be exported and restored.
//!
//! The update is the one of `torch.optim.AdamW` (single-tensor path, `amsgrad=False`,
//! `maximize=False`), per parameter with a gradient:
//!
//! ```text
//! step += 1
//! p      = p * (1 - lr * weight_decay)
//! m      = m + (1 - beta1) * (g - m)
//! v      = v * beta2 + (1 - beta2) * g * g
//! denom  = sqrt(v) / sqrt(1 - beta2^step) + eps
//! p      = p - lr / (1 - beta1^step) * (m / denom)
//! ```
//!
//! Parameters without a gradient in the [`GradStore`] are left untouched and their step count
//! does not advance, as with a `None` gradient in PyTorch.

use crate::error::{Result, TrainError};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Format tag written into exported optimizer state.
const STATE_FORMAT: &str = "infinito.adamw.v1";

/// Hyper-parameters of [`AdamW`]. `Default` gives PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay rate of the first moment.
    pub beta1: f64,
    /// Decay rate of the second moment.
    pub beta2: f64,
    /// Added to the denominator for numerical stability.
    pub eps: f64,
    /// Decoupled weight decay coefficient.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

impl AdamWConfig {
    /// Checks every field against the ranges PyTorch accepts.
    pub fn validate(&self) -> Result<()> {
        check_lr(self.lr)?;
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(TrainError::invalid(name, "a value in [0, 1)", beta));
            }
        }
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return Err(TrainError::invalid("eps", "a finite value >= 0", self.eps));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(TrainError::invalid(
                "weight_decay",
                "a finite value >= 0",
                self.weight_decay,
            ));
        }
        Ok(())
    }
}

fn check_lr(lr: f64) -> Result<()> {
    if lr >= 0.0 && lr.is_finite() {
        Ok(())
    } else {
        Err(TrainError::invalid("lr", "a finite value >= 0", lr))
    }
}

/// Per-parameter moments, created at the parameter's first update.
#[derive(Debug, Clone)]
struct Moments {
    step: u64,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

/// Exported optimizer state: moment tensors plus JSON with the step counts and hyper-parameters.
///
/// Tensors are keyed `exp_avg.{name}` and `exp_avg_sq.{name}`; only parameters that have
/// been updated at least once appear.
#[derive(Debug, Clone)]
pub struct AdamWState {
    /// The moment tensors.
    pub tensors: HashMap<String, Tensor>,
    /// Format tag, hyper-parameters and per-parameter step counts.
    pub meta: serde_json::Value,
}

/// The JSON part of [`AdamWState`].
#[derive(Debug, Serialize, Deserialize)]
struct StateMeta {
    format: String,
    config: AdamWConfig,
    steps: BTreeMap<String, u64>,
}

fn exp_avg_key(name: &str) -> String {
    format!("exp_avg.{name}")
}

fn exp_avg_sq_key(name: &str) -> String {
    format!("exp_avg_sq.{name}")
}

/// AdamW over named parameters.
#[derive(Debug)]
pub struct AdamW {
    params: Vec<(String, Var)>,
    moments: Vec<Option<Moments>>,
    config: AdamWConfig,
}

impl AdamW {
    /// Creates the optimizer; names must be unique and the configuration valid.
    pub fn new(params: Vec<(String, Var)>, config: AdamWConfig) -> Result<Self> {
        config.validate()?;
        let mut seen = HashSet::new();
        for (name, _) in &params {
            if !seen.insert(name.as_str()) {
                return Err(TrainError::invalid(
                    "parameter names",
                    "unique names",
                    format!("{name:?} twice"),
                ));
            }
        }
        let moments = vec![None; params.len()];
        Ok(Self {
            params,
            moments,
            config,
        })
    }

    /// The named parameters, in the order given at construction.
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// The current hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// The current learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    /// Sets the learning rate (e.g. from an LR scheduler); it must be finite and >= 0.
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        check_lr(lr)?;
        self.config.lr = lr;
        Ok(())
    }

    /// The number of updates applied to the parameter `name` (0 if unknown or never updated).
    pub fn step_count(&self, name: &str) -> u64 {
        self.params
            .iter()
            .zip(&self.moments)
            .find(|((n, _), _)| n == name)
            .and_then(|(_, m)| m.as_ref())
            .map_or(0, |m| m.step)
    }

    /// Applies one update to every parameter that has a gradient in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let AdamWConfig {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.config;
        // Check every gradient first, so that a bad one leaves all parameters untouched.
        let mut updates = Vec::new();
        for (index, (name, var)) in self.params.iter().enumerate() {
            let Some(grad) = grads.get(var.as_tensor()) else {
                continue;
            };
            if grad.dims() != var.dims() || grad.dtype() != var.dtype() {
                return Err(TrainError::invalid(
                    "gradient",
                    "the shape and dtype of its parameter",
                    format!(
                        "{:?} {:?} for parameter {name:?} of {:?} {:?}",
                        grad.dtype(),
                        grad.dims(),
                        var.dtype(),
                        var.dims()
                    ),
                ));
            }
            updates.push((index, grad.detach()));
        }
        for (index, grad) in updates {
            let var = &self.params[index].1;
            let param = var.as_detached_tensor();
            let prev = match &self.moments[index] {
                Some(m) => m.clone(),
                None => Moments {
                    step: 0,
                    exp_avg: param.zeros_like()?,
                    exp_avg_sq: param.zeros_like()?,
                },
            };
            let step = prev.step + 1;
            let param = if weight_decay != 0.0 {
                param.affine(1.0 - lr * weight_decay, 0.0)?
            } else {
                param
            };
            // lerp(m, g, 1 - beta1) as PyTorch computes it for weights below 0.5.
            let exp_avg = (&prev.exp_avg + (grad.sub(&prev.exp_avg)? * (1.0 - beta1))?)?;
            let exp_avg_sq = ((&prev.exp_avg_sq * beta2)? + ((&grad * (1.0 - beta2))? * &grad)?)?;
            // Python computes the corrections in double precision from a float step count.
            let bias_correction1 = 1.0 - beta1.powf(step as f64);
            let bias_correction2_sqrt = (1.0 - beta2.powf(step as f64)).sqrt();
            let step_size = lr / bias_correction1;
            let divisor =
                Tensor::new(bias_correction2_sqrt, param.device())?.to_dtype(param.dtype())?;
            let denom = exp_avg_sq
                .sqrt()?
                .broadcast_div(&divisor)?
                .affine(1.0, eps)?;
            // addcdiv evaluates value * exp_avg / denom left to right.
            let update = (&exp_avg * step_size)?.div(&denom)?;
            var.set(&param.sub(&update)?)?;
            self.moments[index] = Some(Moments {
                step,
                exp_avg,
                exp_avg_sq,
            });
        }
        Ok(())
    }

    /// Exports the state: moments, step counts and hyper-parameters (including the current lr).
    pub fn export_state(&self) -> Result<AdamWState> {
        let mut tensors = HashMap::new();
        let mut steps = BTreeMap::new();
        for ((name, _), slot) in self.params.iter().zip(&self.moments) {
            if let Some(m) = slot {
                tensors.insert(exp_avg_key(name), m.exp_avg.clone());
                tensors.insert(exp_avg_sq_key(name), m.exp_avg_sq.clone());
                steps.insert(name.clone(), m.step);
            }
        }
        let meta = StateMeta {
            format: STATE_FORMAT.to_string(),
            config: self.config,
            steps,
        };
        let meta = serde_json::to_value(meta).map_err(|e| TrainError::StateMismatch {
            what: "optimizer state",
            reason: e.to_string(),
        })?;
        Ok(AdamWState { tensors, meta })
    }

    /// Replaces the state with an exported one, so that training continues exactly.
    ///
    /// Every parameter named in the state must exist here with the same shape; parameters the
    /// state does not name start fresh. Moments are moved to each parameter's device.
    pub fn restore_state(&mut self, state: &AdamWState) -> Result<()> {
        let mismatch = |reason: String| TrainError::StateMismatch {
            what: "optimizer state",
            reason,
        };
        let meta: StateMeta = serde_json::from_value(state.meta.clone())
            .map_err(|e| mismatch(format!("invalid metadata: {e}")))?;
        if meta.format != STATE_FORMAT {
            return Err(mismatch(format!(
                "format {:?}, expected {STATE_FORMAT:?}",
                meta.format
            )));
        }
        meta.config.validate()?;
        let known: HashSet<&str> = self.params.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(unknown) = meta.steps.keys().find(|n| !known.contains(n.as_str())) {
            return Err(mismatch(format!(
                "it has parameter {unknown:?}, which this model lacks"
            )));
        }
        let mut moments = Vec::with_capacity(self.params.len());
        for (name, var) in &self.params {
            let Some(&step) = meta.steps.get(name) else {
                moments.push(None);
                continue;
            };
            let fetch = |key: String| -> Result<Tensor> {
                let t = state
                    .tensors
                    .get(&key)
                    .ok_or_else(|| mismatch(format!("missing tensor {key:?}")))?;
                if t.dims() != var.dims() {
                    return Err(mismatch(format!(
                        "tensor {key:?} has shape {:?}, expected {:?}",
                        t.dims(),
                        var.dims()
                    )));
                }
                Ok(t.to_device(var.device())?.to_dtype(var.dtype())?)
            };
            moments.push(Some(Moments {
                step,
                exp_avg: fetch(exp_avg_key(name))?,
                exp_avg_sq: fetch(exp_avg_sq_key(name))?,
            }));
        }
        self.moments = moments;
        self.config = meta.config;
        Ok(())
    }
}
