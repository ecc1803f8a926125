//! The training loop shared by the binaries and the RL environment.
//!
//! Per step: forward with `train = true`, backward, global grad-norm clipping at 1.0, AdamW
//! (betas 0.9/0.98, weight decay 0.01). A step with a non-finite loss or gradient norm is
//! skipped (the weights are not touched) and counted; `max_nonfinite` of them in a row stop the
//! run with [`TrainError::NonFiniteSteps`]. After each epoch: validation, early stopping (whose
//! notion of improvement also picks `best`), ReduceLROnPlateau, history and checkpoints.

mod checkpoint;
mod state;
mod timing;

pub use checkpoint::{read_model, CHECKPOINT_FORMAT};
pub use timing::StepTimes;

use crate::clip::clip_grad_norm;
use crate::data::{Batch, BatchPosition, Batches, LmWindows, Order};
use crate::error::{Result, TrainError};
use crate::history::{History, Summary, Totals};
use crate::logs::RunLogs;
use crate::model::{step_seed, PhiMetrics, TrainModel};
use crate::optim::{AdamW, AdamWState};
use crate::options::FitOptions;
use crate::progress::ProgressView;
use candle_core::{DType, Tensor};
use checkpoint::Meta;
use serde_json::json;
use state::RunState;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use timing::{Lap, Profile};

/// Sub-directory of the output holding the checkpoints.
pub const CHECKPOINT_DIR: &str = "checkpoints";
/// Prefix of the periodic checkpoints (`step-<N>.safetensors`).
const STEP_PREFIX: &str = "step-";

/// Why [`Trainer::fit`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// All epochs were trained.
    Completed,
    /// Early stopping ran out of patience.
    EarlyStopped,
    /// `max_steps` steps were reached.
    MaxSteps,
    /// The stop flag was set (Ctrl+C); `last` holds the state after the current step.
    Interrupted,
}

/// The result of [`Trainer::fit`].
#[derive(Debug, Clone)]
pub struct FitOutcome {
    /// Why training ended.
    pub reason: StopReason,
    /// Steps taken over the whole run.
    pub global_step: u64,
    /// Epochs finished over the whole run.
    pub epochs_completed: u64,
    /// The best validation loss so far, if any epoch finished.
    pub best_val_loss: Option<f64>,
    /// `<output>/checkpoints/last.safetensors`.
    pub last_checkpoint: PathBuf,
    /// `<output>/checkpoints/best.safetensors`, once an epoch has finished.
    pub best_checkpoint: Option<PathBuf>,
}

impl FitOutcome {
    /// How to continue this run: append `--checkpoint <last>` to the same command.
    pub fn resume_hint(&self) -> String {
        format!(
            "to resume, run the same command with --checkpoint {}",
            self.last_checkpoint.display()
        )
    }
}

/// What one training step did.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The global step number of this step (1-based).
    pub step: u64,
    /// The loss (NaN or infinite when the step was skipped for it).
    pub loss: f64,
    /// The LM loss.
    pub lm_loss: f64,
    /// The global gradient norm before clipping (NaN when not computed).
    pub grad_norm: f64,
    /// The learning rate of this step.
    pub lr: f64,
    /// True when the update was skipped for a non-finite loss or gradient norm.
    pub skipped: bool,
    /// The model's PHI numbers, if it has them.
    pub phi: Option<PhiMetrics>,
    /// Every metric of the model by name (those of `phi` included).
    pub metrics: BTreeMap<String, f64>,
    /// Seconds spent in each phase of the step.
    pub times: StepTimes,
    /// Seconds of the named parts of the forward pass (see [`crate::StepOutput::forward_parts`]).
    pub forward_parts: Vec<(&'static str, f64)>,
}

/// A trainer's state kept in memory: see [`Trainer::snapshot`].
#[derive(Debug, Clone)]
pub struct TrainerSnapshot {
    model: HashMap<String, Tensor>,
    optimizer: AdamWState,
    state: RunState,
}

/// A model, its optimizer, schedules, counters and logs.
pub struct Trainer<M: TrainModel> {
    model: M,
    optimizer: AdamW,
    options: FitOptions,
    state: RunState,
    logs: RunLogs,
    view: ProgressView,
    config: serde_json::Value,
    /// Phase times of this process's steps, for the profile line at the end of the run.
    profile: Profile,
}

impl<M: TrainModel> std::fmt::Debug for Trainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("global_step", &self.state.global_step)
            .field("position", &self.state.position)
            .field("output", &self.options.output)
            .finish_non_exhaustive()
    }
}

/// Trains `model` from scratch; see [`Trainer::fit`].
pub fn fit<M: TrainModel>(
    model: M,
    train: &LmWindows,
    valid: &LmWindows,
    options: FitOptions,
) -> Result<FitOutcome> {
    Trainer::new(model, options)?.fit(train, valid)
}

/// Continues the run saved in `checkpoint`; see [`Trainer::resume`] and [`Trainer::fit`].
pub fn resume<M: TrainModel>(
    model: M,
    checkpoint: &Path,
    train: &LmWindows,
    valid: &LmWindows,
    options: FitOptions,
) -> Result<FitOutcome> {
    Trainer::resume(model, checkpoint, options)?.fit(train, valid)
}

impl<M: TrainModel> Trainer<M> {
    /// Starts a run in `options.output`.
    ///
    /// Fails if the options are invalid, the model has no trainable variables, or the output
    /// already holds a run (`checkpoints/last.safetensors`) and `options.overwrite` is off.
    pub fn new(model: M, options: FitOptions) -> Result<Self> {
        options.validate()?;
        let optimizer = AdamW::new(model.trainable_vars(), options.optimizer.adamw(options.lr))?;
        if optimizer.params().is_empty() {
            return Err(TrainError::model("it has no trainable variables"));
        }
        let last = options.output.join(CHECKPOINT_DIR).join("last.safetensors");
        if last.exists() {
            if !options.overwrite {
                return Err(TrainError::flag(
                    "--output",
                    options.output.display(),
                    format!(
                        "a directory without a run; it holds one: resume it with --checkpoint {}, or pass --overwrite, or choose another --output",
                        last.display()
                    ),
                ));
            }
            remove_checkpoints(&options.output.join(CHECKPOINT_DIR))?;
        }
        let state = RunState::new(&options)?;
        let logs = RunLogs::open(&options.output, 0, options.tensorboard)?;
        let config = options.run_config.clone();
        let mut trainer = Self::assemble(model, optimizer, options, state, logs, config);
        trainer.remove_leftovers()?;
        trainer.logs.write_history(&trainer.state.history)?;
        let line = format!(
            "start: output {}, seed {}, lr {:.3e}, batch size {}",
            trainer.options.output.display(),
            trainer.options.seed,
            trainer.options.lr,
            trainer.options.batch_size
        );
        trainer.logs.line(&line)?;
        Ok(trainer)
    }

    /// Restores a run from a checkpoint written by this trainer: model state, optimizer
    /// moments and learning rate, schedules, counters, batch position and history.
    ///
    /// `options.batch_size` and `options.seed` must equal the checkpoint's (the batch order
    /// depends on them); `epochs`, `patience`, `max_steps` and the other limits may change.
    /// Records of `metrics.jsonl` from after the checkpoint's step are dropped.
    pub fn resume(mut model: M, checkpoint: &Path, options: FitOptions) -> Result<Self> {
        options.validate()?;
        let loaded = checkpoint::load(checkpoint, &options.device)?;
        let mut state = loaded.meta.trainer;
        check_resumable(&state, &options, checkpoint)?;
        state.early_stopping.set_patience(options.patience);
        model.load_state(&loaded.model)?;
        let mut optimizer =
            AdamW::new(model.trainable_vars(), options.optimizer.adamw(options.lr))?;
        optimizer
            .restore_state(&loaded.optimizer)
            .map_err(|e| TrainError::Resume {
                path: checkpoint.to_path_buf(),
                reason: e.to_string(),
            })?;
        let logs = RunLogs::open(&options.output, state.global_step, options.tensorboard)?;
        // The checkpoint's config describes the run; this session's config (if given) wins.
        let config = if options.run_config.is_null() {
            loaded.meta.config
        } else {
            options.run_config.clone()
        };
        let mut trainer = Self::assemble(model, optimizer, options, state, logs, config);
        trainer.remove_leftovers()?;
        let line = format!(
            "resume: from {} at step {} (epoch {}, batch {}), lr {:.3e}",
            checkpoint.display(),
            trainer.state.global_step,
            trainer.state.position.epoch + 1,
            trainer.state.position.batch,
            trainer.optimizer.learning_rate()
        );
        trainer.logs.line(&line)?;
        Ok(trainer)
    }

    /// Removes the temporaries of writes that a killed run left in the output and its
    /// checkpoint directory, and logs each one.
    fn remove_leftovers(&mut self) -> Result<()> {
        let out = self.options.output.clone();
        for dir in [out.clone(), out.join(CHECKPOINT_DIR)] {
            for path in infinito_checkpoint::remove_leftovers(&dir)? {
                self.logs.line(&format!(
                    "removed {} (left by an interrupted write)",
                    path.display()
                ))?;
            }
        }
        Ok(())
    }

    fn assemble(
        model: M,
        optimizer: AdamW,
        options: FitOptions,
        state: RunState,
        logs: RunLogs,
        config: serde_json::Value,
    ) -> Self {
        let view = ProgressView::new(options.progress);
        Self {
            model,
            optimizer,
            options,
            state,
            logs,
            view,
            config,
            profile: Profile::default(),
        }
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, mutably (e.g. to change loss weights between steps).
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// Gives the model back.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Steps taken so far, skipped ones included.
    pub fn global_step(&self) -> u64 {
        self.state.global_step
    }

    /// The position of the next training batch.
    pub fn position(&self) -> BatchPosition {
        self.state.position
    }

    /// The current learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.optimizer.learning_rate()
    }

    /// The per-epoch history so far.
    pub fn history(&self) -> &History {
        &self.state.history
    }

    /// Steps skipped for a non-finite loss or gradient norm, over the whole run.
    pub fn nonfinite_steps(&self) -> u64 {
        self.state.nonfinite_total
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &AdamW {
        &self.optimizer
    }

    /// `<output>/checkpoints/<name>.safetensors`.
    pub fn checkpoint_path(&self, name: &str) -> PathBuf {
        self.options
            .output
            .join(CHECKPOINT_DIR)
            .join(format!("{name}.safetensors"))
    }

    /// Trains until the epochs are done, early stopping, `max_steps` or the stop flag.
    ///
    /// Every exit except an error leaves `checkpoints/last.safetensors` holding the current
    /// state, from which [`Trainer::resume`] continues exactly.
    pub fn fit(&mut self, train: &LmWindows, valid: &LmWindows) -> Result<FitOutcome> {
        self.check_train_windows(train)?;
        self.write_config()?;
        let reason = self.run_epochs(train, valid);
        self.view.finish();
        if let Err(e) = &reason {
            // Already failing: a log that cannot be written must not hide the first error.
            let _ = self.logs.line(&format!("error: {e}"));
        }
        let reason = reason?;
        let outcome = self.outcome(reason);
        let line = match reason {
            StopReason::Completed => format!("done: {} epochs", self.options.epochs),
            StopReason::EarlyStopped => format!(
                "early stop: no improvement for {} epochs",
                self.state.early_stopping.counter()
            ),
            StopReason::MaxSteps => {
                format!("stop: reached --max-steps at step {}", outcome.global_step)
            }
            StopReason::Interrupted => format!(
                "interrupted at step {}; saved {}",
                outcome.global_step,
                outcome.last_checkpoint.display()
            ),
        };
        self.logs.line(&line)?;
        if let Some(profile) = self.profile.summary() {
            self.logs.line(&profile)?;
        }
        Ok(outcome)
    }

    fn check_train_windows(&mut self, train: &LmWindows) -> Result<()> {
        match self.state.train_windows {
            Some(n) if n != train.len() => Err(TrainError::Resume {
                path: self.checkpoint_path("last"),
                reason: format!(
                    "the training data has {} windows, the run was started with {n}; use the same --data and --seq-len",
                    train.len()
                ),
            }),
            _ => {
                self.state.train_windows = Some(train.len());
                Ok(())
            }
        }
    }

    fn write_config(&mut self) -> Result<()> {
        if !self.config.is_null() {
            self.logs.write_config(&self.config)?;
        }
        Ok(())
    }

    fn run_epochs(&mut self, train: &LmWindows, valid: &LmWindows) -> Result<StopReason> {
        let order = Order::Shuffled {
            seed: self.options.seed,
        };
        while self.state.position.epoch < self.options.epochs {
            let mut batches = Batches::new(
                train,
                self.options.batch_size,
                order,
                self.state.position,
                &self.options.device,
            )?;
            let num_batches = batches.num_batches();
            self.view.start_epoch(
                self.state.position.epoch + 1,
                self.options.epochs,
                num_batches,
                self.state.position.batch,
            );
            loop {
                if let Some(reason) = self.should_stop() {
                    return self.stop(reason);
                }
                let Some(batch) = batches.next() else { break };
                let report = self.train_step(&batch?)?;
                self.state.position = batches.position();
                self.view.step(
                    report.loss,
                    report.lm_loss.exp(),
                    report.phi.map(|p| p.phi),
                    report.lr,
                );
                self.after_step(valid, num_batches)?;
            }
            if self.options.stop.load(Ordering::SeqCst) {
                return self.stop(StopReason::Interrupted);
            }
            if self.end_epoch(valid)? {
                return Ok(StopReason::EarlyStopped);
            }
        }
        Ok(StopReason::Completed)
    }

    /// The reason to stop before the next step, if any.
    fn should_stop(&self) -> Option<StopReason> {
        if self.options.stop.load(Ordering::SeqCst) {
            Some(StopReason::Interrupted)
        } else if self
            .options
            .max_steps
            .is_some_and(|max| self.state.global_step >= max)
        {
            Some(StopReason::MaxSteps)
        } else {
            None
        }
    }

    fn stop(&mut self, reason: StopReason) -> Result<StopReason> {
        self.save("last")?;
        Ok(reason)
    }

    /// Periodic validation and checkpoints.
    fn after_step(&mut self, valid: &LmWindows, num_batches: usize) -> Result<()> {
        let step = self.state.global_step;
        let due = |every: Option<u64>| every.is_some_and(|n| step.checked_rem(n) == Some(0));
        // At an epoch's end the epoch's own validation follows at once.
        if due(self.options.eval_every) && self.state.position.batch < num_batches {
            let summary = self.evaluate(valid)?;
            self.record_validation(&summary)?;
            self.logs.line(&format!(
                "eval: step {step}: valid loss {:.4} ppl {:.2}",
                summary.lm_loss,
                summary.ppl()
            ))?;
        }
        if due(self.options.save_every) {
            self.save(&format!("{STEP_PREFIX}{step}"))?;
            self.save("last")?;
            infinito_checkpoint::retain_latest(
                &self.options.output.join(CHECKPOINT_DIR),
                STEP_PREFIX,
                self.options.keep_checkpoints,
            )?;
        }
        Ok(())
    }

    /// Validation, schedules, history and checkpoints at the end of an epoch; returns true
    /// when early stopping says to stop.
    fn end_epoch(&mut self, valid: &LmWindows) -> Result<bool> {
        let epoch = self.state.position.epoch + 1;
        let lr = self.optimizer.learning_rate();
        let valid_summary = self.evaluate(valid)?;
        let train_summary = self.state.epoch_totals.summary();
        // Validation is judged on the language-model loss alone (the original's validation
        // loss): the PHI term's value depends on the loss weights, which may change.
        let check = self.state.early_stopping.update(valid_summary.lm_loss);
        let new_lr = self.state.plateau.step(valid_summary.lm_loss, lr);
        self.optimizer.set_learning_rate(new_lr)?;
        self.state
            .history
            .push(&train_summary, &valid_summary, self.options.phi_target);
        self.state.epoch_totals = Totals::default();
        self.state.position = BatchPosition {
            epoch: self.state.position.epoch + 1,
            batch: 0,
        };
        self.record_validation(&valid_summary)?;
        self.logs.epoch(&self.state.history)?;
        self.save("last")?;
        if check.improved {
            self.save("best")?;
        }
        self.logs.write_history(&self.state.history)?;
        let mut line = format!(
            "epoch {epoch}/{}: train loss {:.4} ppl {:.2} phi {:.3} | valid loss {:.4} ppl {:.2} phi {:.3} | lr {lr:.3e}",
            self.options.epochs,
            train_summary.loss,
            train_summary.ppl(),
            train_summary.metric("phi"),
            valid_summary.lm_loss,
            valid_summary.ppl(),
            valid_summary.metric("phi"),
        );
        if check.improved {
            line.push_str(" | new best");
        }
        if new_lr != lr {
            line.push_str(&format!(" | lr -> {new_lr:.3e}"));
        }
        self.view.println(&line);
        self.logs.line(&line)?;
        Ok(check.stop)
    }

    /// One optimizer step on `batch`: forward, backward, clipping, AdamW.
    ///
    /// A non-finite loss or gradient norm skips the update; after `max_nonfinite` such steps
    /// in a row this returns [`TrainError::NonFiniteSteps`]. The step is logged to
    /// `metrics.jsonl`. It does not move the batch position (that is [`Trainer::fit`]'s job).
    pub fn train_step(&mut self, batch: &Batch) -> Result<StepReport> {
        let seed = step_seed(self.options.seed, self.state.global_step);
        let mut lap = Lap::start();
        let mut times = StepTimes::default();
        let out = self.model.step(batch, true, seed)?;
        let metrics = out.named_metrics();
        let loss = scalar(&out.loss)?;
        times.forward = lap.lap();
        let lr = self.optimizer.learning_rate();
        let mut grad_norm = f64::NAN;
        let mut applied = false;
        if loss.is_finite() {
            let mut grads = out.loss.backward()?;
            times.backward = lap.lap();
            match clip_grad_norm(
                &mut grads,
                self.optimizer.params(),
                self.options.optimizer.max_grad_norm,
            ) {
                Ok(norm) => {
                    grad_norm = norm;
                    self.optimizer.step(&grads)?;
                    applied = true;
                }
                Err(TrainError::NonFiniteGradNorm { norm }) => grad_norm = norm,
                Err(e) => return Err(e),
            }
            times.optimizer = lap.lap();
        }
        self.profile.add(times, &out.forward_parts);
        self.state.global_step += 1;
        let step = self.state.global_step;
        if applied {
            self.state.nonfinite_in_row = 0;
            self.state.last_good_step = step;
            self.state.epoch_totals.add(loss, out.lm_loss, &metrics);
        } else {
            self.state.nonfinite_in_row += 1;
            self.state.nonfinite_total += 1;
            let what = if loss.is_finite() {
                "gradient norm"
            } else {
                "loss"
            };
            let value = if loss.is_finite() { grad_norm } else { loss };
            self.logs.line(&format!(
                "skip: step {step}: non-finite {what} ({value}); update skipped ({} in a row)",
                self.state.nonfinite_in_row
            ))?;
        }
        let report = StepReport {
            step,
            loss,
            lm_loss: out.lm_loss,
            grad_norm,
            lr,
            skipped: !applied,
            phi: out.phi,
            metrics,
            times,
            forward_parts: out.forward_parts,
        };
        self.record_step(&report)?;
        if self.state.nonfinite_in_row >= self.options.max_nonfinite {
            return Err(TrainError::NonFiniteSteps {
                count: self.state.nonfinite_in_row,
                step,
                last_good_step: self.state.last_good_step,
            });
        }
        Ok(report)
    }

    /// Mean loss, `exp` of the mean LM loss and mean metrics over `valid`, in order, with
    /// `train = false`. Any non-finite batch loss makes the mean loss NaN.
    pub fn evaluate(&mut self, valid: &LmWindows) -> Result<Summary> {
        self.view.message("validating");
        let batches = Batches::new(
            valid,
            self.options.batch_size,
            Order::Sequential,
            BatchPosition::default(),
            &self.options.device,
        )?;
        let seed = step_seed(!self.options.seed, self.state.global_step);
        let mut totals = Totals::default();
        let mut nonfinite = false;
        for batch in batches {
            let out = self.model.step(&batch?, false, seed)?;
            let loss = scalar(&out.loss)?;
            nonfinite |= !(loss.is_finite() && out.lm_loss.is_finite());
            totals.add(loss, out.lm_loss, &out.named_metrics());
        }
        let mut summary = totals.summary();
        if nonfinite {
            summary.loss = f64::NAN;
            summary.lm_loss = f64::NAN;
        }
        Ok(summary)
    }

    fn record_step(&mut self, report: &StepReport) -> Result<()> {
        if !self.options.log_steps {
            return Ok(());
        }
        let mut record = metrics_object(&report.metrics);
        record.extend([
            ("split".into(), json!("train")),
            ("step".into(), json!(report.step)),
            ("epoch".into(), json!(self.state.position.epoch + 1)),
            ("loss".into(), json!(finite(report.loss))),
            ("lm_loss".into(), json!(finite(report.lm_loss))),
            ("ppl".into(), json!(finite(report.lm_loss.exp()))),
            ("lr".into(), json!(report.lr)),
            ("grad_norm".into(), json!(finite(report.grad_norm))),
            ("skipped".into(), json!(report.skipped)),
            ("t_forward".into(), json!(report.times.forward)),
            ("t_backward".into(), json!(report.times.backward)),
            ("t_optimizer".into(), json!(report.times.optimizer)),
        ]);
        for (part, secs) in &report.forward_parts {
            record.insert(format!("t_forward_{part}"), json!(secs));
        }
        self.logs.record(&serde_json::Value::Object(record))
    }

    fn record_validation(&mut self, summary: &Summary) -> Result<()> {
        let mut record = metrics_object(&summary.metrics);
        record.extend([
            ("split".into(), json!("valid")),
            ("step".into(), json!(self.state.global_step)),
            ("epoch".into(), json!(self.state.position.epoch + 1)),
            ("loss".into(), json!(finite(summary.loss))),
            ("lm_loss".into(), json!(finite(summary.lm_loss))),
            ("ppl".into(), json!(finite(summary.ppl()))),
            ("lr".into(), json!(self.optimizer.learning_rate())),
        ]);
        self.logs.record(&serde_json::Value::Object(record))
    }

    /// Writes `checkpoints/<name>.safetensors` with the complete current state.
    pub fn save(&self, name: &str) -> Result<PathBuf> {
        let path = self.checkpoint_path(name);
        let kind = if name.starts_with(STEP_PREFIX) {
            "step"
        } else {
            name
        };
        self.save_to(&path, kind)?;
        Ok(path)
    }

    /// Writes a checkpoint with the complete current state to `path` (any location; parent
    /// directories are created). `kind` is recorded in its metadata.
    pub fn save_to(&self, path: &Path, kind: &str) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, "create", e))?;
        }
        let optimizer = self.optimizer.export_state()?;
        let meta = Meta {
            format: CHECKPOINT_FORMAT.to_string(),
            kind: kind.to_string(),
            config: self.config.clone(),
            trainer: self.state.clone(),
            optimizer: optimizer.meta.clone(),
        };
        checkpoint::save(path, self.model.state()?, optimizer, &meta)
    }

    /// An in-memory copy of the model state, optimizer state and counters, to rewind to
    /// with [`Trainer::restore`] (the RL environment's episode start).
    pub fn snapshot(&self) -> Result<TrainerSnapshot> {
        let copy = |tensors: HashMap<String, Tensor>| -> Result<HashMap<String, Tensor>> {
            tensors
                .into_iter()
                .map(|(name, t)| Ok((name, t.copy()?)))
                .collect()
        };
        let optimizer = self.optimizer.export_state()?;
        Ok(TrainerSnapshot {
            model: copy(self.model.state()?)?,
            optimizer: AdamWState {
                tensors: copy(optimizer.tensors)?,
                meta: optimizer.meta,
            },
            state: self.state.clone(),
        })
    }

    /// Replaces model state, optimizer state and counters with those of a checkpoint written
    /// by [`Trainer::save`] or [`Trainer::save_to`] (batch size and seed must match, as for
    /// [`Trainer::resume`]); the logs stay as they are.
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<()> {
        let loaded = checkpoint::load(path, &self.options.device)?;
        check_resumable(&loaded.meta.trainer, &self.options, path)?;
        self.model.load_state(&loaded.model)?;
        self.optimizer
            .restore_state(&loaded.optimizer)
            .map_err(|e| TrainError::Resume {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        self.state = loaded.meta.trainer;
        Ok(())
    }

    /// Rewinds model, optimizer and counters to a [`Trainer::snapshot`] of this trainer.
    pub fn restore(&mut self, snapshot: &TrainerSnapshot) -> Result<()> {
        self.model.load_state(&snapshot.model)?;
        self.optimizer.restore_state(&snapshot.optimizer)?;
        self.state = snapshot.state.clone();
        Ok(())
    }

    fn outcome(&self, reason: StopReason) -> FitOutcome {
        let best = self.checkpoint_path("best");
        FitOutcome {
            reason,
            global_step: self.state.global_step,
            epochs_completed: self.state.history.len() as u64,
            best_val_loss: self.state.early_stopping.best(),
            last_checkpoint: self.checkpoint_path("last"),
            best_checkpoint: best.exists().then_some(best),
        }
    }
}

/// Fails unless a checkpoint's batch size and seed equal the options' (the batch order
/// depends on both).
fn check_resumable(state: &RunState, options: &FitOptions, checkpoint: &Path) -> Result<()> {
    let mismatch = |flag: &str, ours: String, theirs: String| TrainError::Resume {
        path: checkpoint.to_path_buf(),
        reason: format!(
            "{flag} {ours} differs from the checkpoint's {theirs}; resume with the same value"
        ),
    };
    if state.batch_size != options.batch_size {
        return Err(mismatch(
            "--batch-size",
            options.batch_size.to_string(),
            state.batch_size.to_string(),
        ));
    }
    if state.seed != options.seed {
        return Err(mismatch(
            "--seed",
            options.seed.to_string(),
            state.seed.to_string(),
        ));
    }
    Ok(())
}

/// The value of a scalar loss tensor (shape `[]` or `[1]`).
fn scalar(loss: &Tensor) -> Result<f64> {
    if loss.elem_count() != 1 {
        return Err(TrainError::model(format!(
            "the loss must be a scalar tensor, got shape {:?}",
            loss.dims()
        )));
    }
    Ok(loss
        .detach()
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?[0])
}

/// `Some(value)` when finite (JSON has no NaN), else `None` (written as `null`).
fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

fn metrics_object(metrics: &BTreeMap<String, f64>) -> serde_json::Map<String, serde_json::Value> {
    metrics
        .iter()
        .map(|(k, &v)| (k.clone(), json!(finite(v))))
        .collect()
}

/// Deletes `last`, `best` and the periodic checkpoints of an old run in `dir`.
fn remove_checkpoints(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| TrainError::io(dir, "list", e))?;
    for entry in entries {
        let path = entry.map_err(|e| TrainError::io(dir, "list", e))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let ours = name == "last.safetensors"
            || name == "best.safetensors"
            || (name.starts_with(STEP_PREFIX) && name.ends_with(".safetensors"));
        if ours {
            std::fs::remove_file(&path).map_err(|e| TrainError::io(&path, "delete", e))?;
        }
    }
    Ok(())
}
