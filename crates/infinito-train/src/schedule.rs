//! Learning-rate reduction on a plateau and early stopping, both serialisable for resume.

use crate::error::{Result, TrainError};
use serde::{Deserialize, Serialize};

/// Settings of [`ReduceLrOnPlateau`] (mode `min`, relative threshold).
///
/// `Default` gives the trainer's settings: factor 0.5 and patience 2, with PyTorch's defaults
/// for the rest (threshold 1e-4, cooldown 0, min_lr 0, eps 1e-8).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlateauConfig {
    /// Multiplier applied to the learning rate on a plateau, in (0, 1).
    pub factor: f64,
    /// Number of epochs without improvement tolerated before reducing.
    pub patience: u32,
    /// Relative improvement needed: better iff `metric < best * (1 - threshold)`.
    pub threshold: f64,
    /// Epochs to wait after a reduction before counting bad epochs again.
    pub cooldown: u32,
    /// Lower bound of the learning rate.
    pub min_lr: f64,
    /// Reductions smaller than this are ignored.
    pub eps: f64,
}

impl Default for PlateauConfig {
    fn default() -> Self {
        Self {
            factor: 0.5,
            patience: 2,
            threshold: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

/// `torch.optim.lr_scheduler.ReduceLROnPlateau` in mode `min` with a relative threshold.
///
/// It does not hold the optimizer: [`ReduceLrOnPlateau::step`] takes the current learning rate
/// and returns the one to use next. One difference: a metric of minus infinity is treated as no
/// improvement (PyTorch would store it as the best value), so the state always serialises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceLrOnPlateau {
    config: PlateauConfig,
    best: Option<f64>,
    num_bad_epochs: u32,
    cooldown_counter: u32,
    last_epoch: u64,
}

impl ReduceLrOnPlateau {
    /// Creates the scheduler; the factor must lie in (0, 1) and the other values be >= 0.
    pub fn new(config: PlateauConfig) -> Result<Self> {
        if !(config.factor > 0.0 && config.factor < 1.0) {
            return Err(TrainError::invalid(
                "plateau factor",
                "a value in (0, 1)",
                config.factor,
            ));
        }
        for (name, value) in [
            ("plateau threshold", config.threshold),
            ("min_lr", config.min_lr),
            ("plateau eps", config.eps),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(TrainError::invalid(name, "a finite value >= 0", value));
            }
        }
        Ok(Self {
            config,
            best: None,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
        })
    }

    /// The settings.
    pub fn config(&self) -> &PlateauConfig {
        &self.config
    }

    /// The best metric seen so far, if any.
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// Epochs since the last improvement (reset by a reduction and during cooldown).
    pub fn num_bad_epochs(&self) -> u32 {
        self.num_bad_epochs
    }

    /// Records one epoch's metric and returns the learning rate to use from now on.
    pub fn step(&mut self, metric: f64, current_lr: f64) -> f64 {
        self.last_epoch += 1;
        let best = self.best.unwrap_or(f64::INFINITY);
        if metric.is_finite() && metric < best * (1.0 - self.config.threshold) {
            self.best = Some(metric);
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.config.patience {
            self.cooldown_counter = self.config.cooldown;
            self.num_bad_epochs = 0;
            let reduced = (current_lr * self.config.factor).max(self.config.min_lr);
            if current_lr - reduced > self.config.eps {
                return reduced;
            }
        }
        current_lr
    }
}

/// What [`EarlyStopping::update`] concluded about one validation result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopCheck {
    /// The value is a new best (save the `best` checkpoint).
    pub improved: bool,
    /// Patience is exhausted (stop training).
    pub stop: bool,
}

/// Early stopping whose notion of improvement is also the one that decides the best checkpoint.
///
/// A finite value improves iff it is the first one or `value < best - min_delta` (absolute, as
/// the original trainer's stopping rule with `min_delta = 0.01`). Each non-improving value
/// increments a counter; training should stop once the counter reaches `patience`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    patience: u32,
    min_delta: f64,
    best: Option<f64>,
    counter: u32,
}

impl EarlyStopping {
    /// Creates the rule; `min_delta` must be finite and >= 0.
    pub fn new(patience: u32, min_delta: f64) -> Result<Self> {
        if !(min_delta >= 0.0 && min_delta.is_finite()) {
            return Err(TrainError::invalid(
                "min_delta",
                "a finite value >= 0",
                min_delta,
            ));
        }
        Ok(Self {
            patience,
            min_delta,
            best: None,
            counter: 0,
        })
    }

    /// The best value so far, if any.
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// The number of non-improving values that stops training.
    pub fn patience(&self) -> u32 {
        self.patience
    }

    /// Changes the patience, keeping the best value and the counter (e.g. when a resumed run
    /// is given more patience).
    pub fn set_patience(&mut self, patience: u32) {
        self.patience = patience;
    }

    /// Consecutive non-improving values so far.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// Records one validation value.
    pub fn update(&mut self, value: f64) -> StopCheck {
        let improved =
            value.is_finite() && self.best.is_none_or(|best| value < best - self.min_delta);
        if improved {
            self.best = Some(value);
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        StopCheck {
            improved,
            stop: !improved && self.counter >= self.patience,
        }
    }
}
