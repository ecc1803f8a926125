//! The settings of one training run, checked before anything starts.

use crate::config::{OptimizerConfig, RunConfig};
use crate::error::{Result, TrainError};
use candle_core::Device;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Settings of [`crate::fit`]. `Default` gives the `train_base_more` defaults of
/// [`RunConfig`], from which these settings are taken.
///
/// The optimizer is AdamW with global grad-norm clipping ([`OptimizerConfig`]), and
/// ReduceLROnPlateau (factor 0.5, patience 2) stepped once per epoch.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Number of epochs to train (counted from the start of the run, also after a resume).
    pub epochs: u64,
    /// Windows per batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Initial learning rate (a resumed run continues with the checkpoint's rate).
    pub lr: f64,
    /// AdamW's betas, epsilon and weight decay, and the clipping threshold.
    pub optimizer: OptimizerConfig,
    /// Epochs without an improvement of the validation loss before stopping.
    pub patience: u32,
    /// Smallest decrease of the validation loss that counts as an improvement, for both early
    /// stopping and the `best` checkpoint.
    pub min_delta: f64,
    /// Also validate every this many global steps (logged only; epochs decide best/stopping).
    pub eval_every: Option<u64>,
    /// Write `checkpoints/step-<N>.safetensors` (and refresh `last`) every this many steps.
    pub save_every: Option<u64>,
    /// How many `step-<N>` checkpoints to keep (the newest).
    pub keep_checkpoints: usize,
    /// Stop (saving `last`) before global step `max_steps + 1`; counted over the whole run.
    pub max_steps: Option<u64>,
    /// Seeds the shuffling of the training windows and the model's per-step randomness.
    pub seed: u64,
    /// Directory for logs, `config.json` and `checkpoints/` (created if missing).
    pub output: PathBuf,
    /// Consecutive non-finite steps tolerated before training stops with an error.
    pub max_nonfinite: u32,
    /// When set (e.g. by Ctrl+C), training finishes the current step, saves `last` and returns.
    pub stop: Arc<AtomicBool>,
    /// The caller's run configuration, stored in every checkpoint and in `config.json`.
    pub run_config: serde_json::Value,
    /// The PHI target, recorded in the history's `target_phi` column.
    pub phi_target: f64,
    /// Start a new run even if `output` holds one, deleting its checkpoints and metrics.
    pub overwrite: bool,
    /// Device of the batches (the model's device).
    pub device: Device,
    /// Show a progress bar and epoch summaries on stderr.
    pub progress: bool,
    /// Write one `metrics.jsonl` record per training step (validation records are always
    /// written). Callers that log steps themselves, such as the RL environment, turn it off.
    pub log_steps: bool,
    /// Also write the records as TensorBoard scalars into `<output>/tensorboard/`.
    pub tensorboard: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self::from_run(
            &RunConfig::default(),
            Device::Cpu,
            Arc::default(),
            serde_json::Value::Null,
        )
    }
}

impl FitOptions {
    /// The trainer settings of `run`, with progress and step logs on and TensorBoard off.
    pub(crate) fn from_run(
        run: &RunConfig,
        device: Device,
        stop: Arc<AtomicBool>,
        run_config: serde_json::Value,
    ) -> Self {
        Self {
            epochs: run.epochs,
            batch_size: run.batch_size,
            lr: run.lr,
            optimizer: run.optimizer,
            patience: run.patience,
            min_delta: run.min_delta,
            eval_every: run.eval_every,
            save_every: run.save_every,
            keep_checkpoints: run.keep_checkpoints,
            max_steps: run.max_steps,
            seed: run.seed,
            output: run.output.clone(),
            max_nonfinite: run.max_nonfinite,
            stop,
            run_config,
            phi_target: run.phi_target,
            overwrite: run.overwrite,
            device,
            progress: true,
            log_steps: true,
            tensorboard: false,
        }
    }

    /// Checks every value; the error names the flag (`--batch-size 0: must be >= 1`).
    pub fn validate(&self) -> Result<()> {
        at_least_one("--epochs", self.epochs)?;
        at_least_one("--batch-size", self.batch_size as u64)?;
        positive("--lr", self.lr)?;
        self.optimizer.validate()?;
        at_least_one("--patience", u64::from(self.patience))?;
        if !(self.min_delta >= 0.0 && self.min_delta.is_finite()) {
            return Err(TrainError::flag(
                "--min-delta",
                self.min_delta,
                "a finite number >= 0",
            ));
        }
        for (flag, value) in [
            ("--eval-every", self.eval_every),
            ("--save-every", self.save_every),
            ("--max-steps", self.max_steps),
        ] {
            if let Some(value) = value {
                at_least_one(flag, value)?;
            }
        }
        at_least_one("--keep-checkpoints", self.keep_checkpoints as u64)?;
        at_least_one("--max-nonfinite", u64::from(self.max_nonfinite))?;
        if !self.phi_target.is_finite() {
            return Err(TrainError::flag(
                "--phi-target",
                self.phi_target,
                "a finite number",
            ));
        }
        if self.output.as_os_str().is_empty() {
            return Err(TrainError::flag("--output", "\"\"", "a directory path"));
        }
        Ok(())
    }
}

/// Fails unless `value >= 1`.
pub(crate) fn at_least_one(flag: &'static str, value: u64) -> Result<()> {
    if value >= 1 {
        Ok(())
    } else {
        Err(TrainError::flag(flag, value, ">= 1"))
    }
}

/// Fails unless `value` is finite and > 0.
pub(crate) fn positive(flag: &'static str, value: f64) -> Result<()> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(TrainError::flag(flag, value, "a finite number > 0"))
    }
}
