//! Per-epoch history with the original trainer's keys, and the running means behind it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// One value per finished epoch, under the keys of the original `history_gpt2_iit.json`.
///
/// Undefined values (a model without a `"phi"` metric, a diverged loss) are written as `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Mean training loss (the total loss the optimizer saw).
    #[serde(with = "nullable")]
    pub train_loss: Vec<f64>,
    /// `exp` of the mean training LM loss.
    #[serde(with = "nullable")]
    pub train_ppl: Vec<f64>,
    /// Mean validation loss.
    #[serde(with = "nullable")]
    pub val_loss: Vec<f64>,
    /// `exp` of the mean validation LM loss.
    #[serde(with = "nullable")]
    pub val_ppl: Vec<f64>,
    /// Mean of the training metric `"phi"`.
    #[serde(with = "nullable")]
    pub train_phi: Vec<f64>,
    /// Mean of the validation metric `"phi"`.
    #[serde(with = "nullable")]
    pub val_phi: Vec<f64>,
    /// Mean of the training metric `"phi_loss"`.
    #[serde(with = "nullable")]
    pub delta_phi_loss: Vec<f64>,
    /// The configured PHI target.
    #[serde(with = "nullable")]
    pub target_phi: Vec<f64>,
}

impl History {
    /// Number of recorded epochs.
    pub fn len(&self) -> usize {
        self.val_loss.len()
    }

    /// True before the first epoch has finished.
    pub fn is_empty(&self) -> bool {
        self.val_loss.is_empty()
    }

    /// Appends one epoch.
    pub(crate) fn push(&mut self, train: &Summary, valid: &Summary, phi_target: f64) {
        self.train_loss.push(train.loss);
        self.train_ppl.push(train.ppl());
        self.val_loss.push(valid.lm_loss);
        self.val_ppl.push(valid.ppl());
        self.train_phi.push(train.metric("phi"));
        self.val_phi.push(valid.metric("phi"));
        self.delta_phi_loss.push(train.metric("phi_loss"));
        self.target_phi.push(phi_target);
    }
}

/// Means over a set of batches (an epoch's training steps or one validation pass).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Mean loss (NaN if no batch had a finite loss).
    pub loss: f64,
    /// Mean LM loss.
    pub lm_loss: f64,
    /// Mean of each metric over the batches where it was finite.
    pub metrics: BTreeMap<String, f64>,
    /// Number of batches with a finite loss.
    pub batches: u64,
}

impl Summary {
    /// Perplexity: `exp` of the mean LM loss.
    pub fn ppl(&self) -> f64 {
        self.lm_loss.exp()
    }

    /// The mean of `name`, NaN if the model never reported it.
    pub fn metric(&self, name: &str) -> f64 {
        self.metrics.get(name).copied().unwrap_or(f64::NAN)
    }
}

/// Running sums behind a [`Summary`]; part of a checkpoint, so a resumed epoch averages the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    loss: f64,
    lm_loss: f64,
    batches: u64,
    metrics: BTreeMap<String, (f64, u64)>,
}

impl Totals {
    /// Adds one batch; a batch with a non-finite loss is not counted, nor any non-finite metric.
    pub(crate) fn add(&mut self, loss: f64, lm_loss: f64, metrics: &BTreeMap<String, f64>) {
        if !(loss.is_finite() && lm_loss.is_finite()) {
            return;
        }
        self.loss += loss;
        self.lm_loss += lm_loss;
        self.batches += 1;
        for (name, &value) in metrics.iter().filter(|(_, v)| v.is_finite()) {
            let entry = self.metrics.entry(name.clone()).or_default();
            entry.0 += value;
            entry.1 += 1;
        }
    }

    /// The means so far.
    pub(crate) fn summary(&self) -> Summary {
        let n = self.batches as f64;
        let mean = |sum: f64| if self.batches == 0 { f64::NAN } else { sum / n };
        Summary {
            loss: mean(self.loss),
            lm_loss: mean(self.lm_loss),
            metrics: self
                .metrics
                .iter()
                .map(|(name, &(sum, count))| (name.clone(), sum / count as f64))
                .collect(),
            batches: self.batches,
        }
    }
}

/// Serialises `Vec<f64>` with non-finite values as `null`, and reads `null` back as NaN.
mod nullable {
    use super::*;

    pub fn serialize<S: Serializer>(values: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let options: Vec<Option<f64>> =
            values.iter().map(|v| v.is_finite().then_some(*v)).collect();
        options.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let options = Vec::<Option<f64>>::deserialize(d)?;
        Ok(options.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }
}
