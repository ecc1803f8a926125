//! The TEXT/PHI/MIXED scheduler environment: each step trains the hybrid for `inner_steps`
//! real optimizer updates with the loss coefficients of the chosen action.
//!
//! Model, tokenizer and data are built once; `reset` rewinds the model and its optimizer to
//! the start of the run ([`EpisodeReset::Snapshot`]) or keeps training
//! ([`EpisodeReset::Continue`]). The time limit truncates (it does not terminate) an episode.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{Device, Tensor};
use infinito_train::base::{resolve_recorded, ModelRef};
use infinito_train::data::{Batch, BatchPosition, Batches, LmWindows, Order};
use infinito_train::hybrid::HybridModel;
use infinito_train::setup::prepare;
use infinito_train::{
    read_model, step_seed, FitOptions, PhiMetrics, RunConfig, StepOutput, TrainModel, Trainer,
    TrainerSnapshot,
};
use tokenizers::Tokenizer;

use super::config::{EpisodeReset, RewardKind, SchedulerConfig};
use super::observation::ObservationBuilder;
use super::reward::{reward, StepMetrics};
use super::samples::{sample_prompts, SampleSet, SampleSettings};
use crate::env::{Env, Transition};
use crate::error::{Result, RlError};

/// The scheduler environment.
pub struct SchedulerEnv {
    config: SchedulerConfig,
    trainer: Trainer<HybridModel>,
    train: LmWindows,
    valid: LmWindows,
    device: Device,
    start: TrainerSnapshot,
    cursor: DataCursor,
    episode: Episode,
    observer: ObservationBuilder,
    description: String,
    tokenizer: Tokenizer,
}

/// Held-out measures of the model: see [`SchedulerEnv::validation`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Validation {
    /// Mean language-model loss.
    pub lm_loss: f64,
    /// Mean PHI.
    pub phi: f64,
    /// Batches scored.
    pub batches: usize,
}

/// Where the next training batch comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DataCursor {
    seed: u64,
    position: BatchPosition,
}

/// The state of the current episode.
#[derive(Debug, Clone, PartialEq)]
struct Episode {
    /// Episodes started so far (1 for the first).
    number: u64,
    /// Steps taken in this episode.
    step: u32,
    /// Metrics after the last step (or of the reset).
    prev: StepMetrics,
    last_action: Option<usize>,
}

/// A copy of the whole environment, to run evaluation episodes and come back.
pub struct EnvState {
    trainer: TrainerSnapshot,
    cursor: DataCursor,
    episode: Episode,
    observer: ObservationBuilder,
}

impl SchedulerEnv {
    /// Builds the model, tokenizer and data of `config` on `device`; the inner trainer writes
    /// its text log under `workdir`.
    pub fn build(config: SchedulerConfig, workdir: &Path, device: &Device) -> Result<Self> {
        config.validate()?;
        let (mut run, weights) = base_run_config(&config, device)?;
        let setup = prepare(&mut run, device)?;
        let mut model = setup.model;
        if let Some(weights) = &weights {
            model.load_state(weights)?;
        }
        let options = FitOptions {
            batch_size: config.batch_size,
            lr: config.model.lr,
            seed: config.model.seed,
            output: workdir.to_path_buf(),
            progress: false,
            log_steps: false,
            overwrite: true,
            phi_target: config.model.phi_target,
            run_config: serde_json::to_value(&run)
                .map_err(|e| RlError::Env(format!("cannot encode the run config: {e}")))?,
            device: device.clone(),
            ..FitOptions::default()
        };
        let trainer = Trainer::new(model, options)?;
        let start = trainer.snapshot()?;
        let observer = ObservationBuilder::new(
            config.observation,
            config.actions.len(),
            config.max_steps,
            config.reward.breakthrough_c,
        );
        let description = match &config.model.checkpoint {
            Some(path) => format!("{} (from {})", setup.description, path.display()),
            None => setup.description,
        };
        Ok(Self {
            cursor: DataCursor {
                seed: config.model.seed,
                position: BatchPosition::default(),
            },
            config,
            trainer,
            train: setup.train,
            valid: setup.valid,
            device: device.clone(),
            start,
            episode: Episode {
                number: 0,
                step: 0,
                prev: StepMetrics::new(0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
                last_action: None,
            },
            observer,
            description,
            tokenizer: setup.tokenizer,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// One line saying which model and data the environment trains.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The name of `action` (`TEXT`, `PHI`, `MIXED` by default).
    pub fn action_name(&self, action: usize) -> &str {
        self.config
            .actions
            .get(action)
            .map_or("?", |a| a.name.as_str())
    }

    /// Episodes started so far.
    pub fn episodes(&self) -> u64 {
        self.episode.number
    }

    /// Optimizer updates of the model so far (rewound with the model on a snapshot reset).
    pub fn model_steps(&self) -> u64 {
        self.trainer.global_step()
    }

    /// Mean PHI of the model's last step (or of the episode's first measurement).
    pub fn current_phi(&self) -> f64 {
        self.episode.prev.phi
    }

    /// The model being trained.
    pub fn model(&self) -> &HybridModel {
        self.trainer.model()
    }

    /// Writes the model with its optimizer and counters as a trainer checkpoint (readable by
    /// `generate`, `perplexity` and `train_base_more --checkpoint`).
    pub fn save_model(&self, path: &Path) -> Result<()> {
        Ok(self.trainer.save_to(path, "scheduler")?)
    }

    /// Continues from a model saved by [`SchedulerEnv::save_model`]: weights, memory,
    /// optimizer and counters (the start snapshot stays the one built from the config).
    pub fn load_model(&mut self, path: &Path) -> Result<()> {
        Ok(self.trainer.load_checkpoint(path)?)
    }

    /// A copy of the whole environment (model, optimizer, data position, episode).
    pub fn save_state(&self) -> Result<EnvState> {
        Ok(EnvState {
            trainer: self.trainer.snapshot()?,
            cursor: self.cursor,
            episode: self.episode.clone(),
            observer: self.observer.clone(),
        })
    }

    /// Returns to a [`SchedulerEnv::save_state`] copy.
    pub fn restore_state(&mut self, state: &EnvState) -> Result<()> {
        self.trainer.restore(&state.trainer)?;
        self.cursor = state.cursor;
        self.episode = state.episode.clone();
        self.observer = state.observer.clone();
        Ok(())
    }

    /// The next training batch (the data cycles through shuffled epochs).
    fn next_batch(&mut self) -> Result<Batch> {
        for _ in 0..2 {
            let mut batches = Batches::new(
                &self.train,
                self.config.batch_size,
                Order::Shuffled {
                    seed: self.cursor.seed,
                },
                self.cursor.position,
                &self.device,
            )?;
            if let Some(batch) = batches.next() {
                self.cursor.position = batches.position();
                return Ok(batch?);
            }
            self.cursor.position = BatchPosition {
                epoch: self.cursor.position.epoch + 1,
                batch: 0,
            };
        }
        Err(RlError::Env("the training data has no batch".into()))
    }

    /// Mean LM loss and PHI of the model, in evaluation mode, over the first `max_batches`
    /// batches of the validation split.
    pub fn validation(&mut self, max_batches: usize) -> Result<Validation> {
        let batches = Batches::new(
            &self.valid,
            self.config.batch_size,
            Order::Sequential,
            BatchPosition::default(),
            &self.device,
        )?;
        let (mut lm, mut phi, mut n) = (0.0, 0.0, 0usize);
        for batch in batches.take(max_batches) {
            let out = self.trainer.model_mut().step(&batch?, false, 0)?;
            lm += out.lm_loss;
            phi += out.phi.map_or(f64::NAN, |p| p.phi);
            n += 1;
        }
        if n == 0 {
            return Err(RlError::Env("the validation data has no batch".into()));
        }
        Ok(Validation {
            lm_loss: lm / n as f64,
            phi: phi / n as f64,
            batches: n,
        })
    }

    /// Continuations of `prompts` by the model as it is now, with their PHI, perplexity and
    /// quality; the model's state (memory access counts included) is left as it was.
    pub fn sample(&mut self, prompts: &[&str], settings: SampleSettings) -> Result<SampleSet> {
        let before = self.trainer.snapshot()?;
        let set = sample_prompts(
            &mut self.trainer.model_mut().hybrid,
            &self.tokenizer,
            prompts,
            settings,
        );
        self.trainer.restore(&before)?;
        set
    }

    /// Metrics of a model step taken with `w_phi` as the PHI coefficient.
    fn metrics(
        &mut self,
        lm_loss: f64,
        phi: Option<PhiMetrics>,
        w_phi: f64,
    ) -> Result<StepMetrics> {
        let phi = phi.ok_or_else(|| RlError::Env("the model reports no PHI metrics".into()))?;
        let mut m = StepMetrics::new(
            phi.phi,
            lm_loss,
            phi.phi_loss,
            w_phi,
            phi.memory_utilization,
            self.config.reward.c_scale,
        );
        if self.config.reward.kind == RewardKind::Validation {
            m.val_loss = Some(
                self.validation(self.config.reward.validation_batches)?
                    .lm_loss,
            );
        }
        Ok(m)
    }
}

impl Env for SchedulerEnv {
    fn observation_dim(&self) -> usize {
        self.observer.dim()
    }

    fn n_actions(&self) -> usize {
        self.config.actions.len()
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<Vec<f32>> {
        if let Some(seed) = seed {
            self.cursor = DataCursor {
                seed,
                position: BatchPosition::default(),
            };
        }
        if self.config.episode_reset == EpisodeReset::Snapshot {
            self.trainer.restore(&self.start)?;
        }
        let lambda_phi = self.config.model.lambda_phi;
        self.trainer.model_mut().set_loss_weights(1.0, lambda_phi);
        let batch = self.next_batch()?;
        let seed = step_seed(self.cursor.seed, self.episode.number);
        let StepOutput { lm_loss, phi, .. } = self.trainer.model_mut().step(&batch, false, seed)?;
        let first = self.metrics(lm_loss, phi, lambda_phi)?;
        self.episode = Episode {
            number: self.episode.number + 1,
            step: 0,
            prev: first,
            last_action: None,
        };
        self.observer.reset();
        Ok(self.observer.observe(&first, &first, 0, None))
    }

    fn step(&mut self, action: usize) -> Result<Transition> {
        let spec = self.config.actions.get(action).cloned().ok_or_else(|| {
            RlError::Env(format!(
                "action {action} is out of range (the environment has {} actions)",
                self.config.actions.len()
            ))
        })?;
        if self.episode.number == 0 {
            return Err(RlError::Env("step before the first reset".into()));
        }
        self.trainer
            .model_mut()
            .set_loss_weights(spec.w_text, spec.w_phi);
        let mut last = None;
        for _ in 0..self.config.inner_steps {
            let batch = self.next_batch()?;
            last = Some(self.trainer.train_step(&batch)?);
        }
        let report = last.ok_or_else(|| RlError::Env("no inner step ran".into()))?;
        let prev = self.episode.prev;
        // A skipped (non-finite) update left the model as it was: so are its metrics.
        let cur = if report.skipped || !report.lm_loss.is_finite() {
            prev
        } else {
            self.metrics(report.lm_loss, report.phi, spec.w_phi)?
        };
        let terms = reward(&self.config.reward, &prev, &cur);
        self.episode.step += 1;
        self.episode.prev = cur;
        self.episode.last_action = Some(action);
        let observation = self
            .observer
            .observe(&prev, &cur, self.episode.step, Some(action));
        let mut info = BTreeMap::from([
            ("phi".to_string(), cur.phi),
            ("c".to_string(), cur.c),
            ("ppl".to_string(), cur.ppl),
            ("loss_text".to_string(), cur.loss_text),
            ("loss_phi".to_string(), cur.loss_phi),
            ("memory_util".to_string(), cur.memory_util),
            ("w_text".to_string(), spec.w_text),
            ("w_phi".to_string(), spec.w_phi),
            ("episode".to_string(), self.episode.number as f64),
            ("episode_step".to_string(), f64::from(self.episode.step)),
            ("skipped".to_string(), f64::from(u8::from(report.skipped))),
        ]);
        if let Some(v) = cur.val_loss {
            info.insert("val_loss".to_string(), v);
        }
        for (name, value) in terms.named() {
            info.insert(format!("r_{name}"), value);
        }
        Ok(Transition {
            observation,
            reward: terms.total,
            terminated: false,
            truncated: self.episode.step >= self.config.max_steps,
            info,
        })
    }
}

/// The run configuration that builds the environment's model, and the weights to load into
/// it when the environment starts from one of our `train_base_more` checkpoints (whose own
/// configuration then decides the architecture).
fn base_run_config(
    config: &SchedulerConfig,
    device: &Device,
) -> Result<(RunConfig, Option<HashMap<String, Tensor>>)> {
    let mut run = config.run_config();
    let Some(path) = config.model.checkpoint.clone() else {
        return Ok((run, None));
    };
    let ours = infinito_checkpoint::read_metadata(&path)
        .ok()
        .flatten()
        .is_some();
    if !ours {
        // The original's .pt: `prepare` imports it.
        return Ok((run, None));
    }
    let (base, weights) = read_model(&path, device)?;
    let base: RunConfig = serde_json::from_value(base).map_err(|e| RlError::BadFile {
        path: path.clone(),
        reason: format!("its run configuration does not parse: {e}"),
    })?;
    // The checkpoint's own base model, found again by hub commit or directory content.
    run.model = match &base.base_model {
        Some(recorded) => match resolve_recorded(&path, recorded)? {
            ModelRef::Builtin => base.model,
            ModelRef::Dir { dir, .. } => Some(dir.display().to_string()),
        },
        None => base.model,
    };
    run.lora_r = base.lora_r;
    run.lora_alpha = base.lora_alpha;
    run.memory_slots = base.memory_slots;
    run.seq_len = run.seq_len.min(base.seq_len.max(256));
    run.checkpoint = None;
    Ok((run, Some(weights)))
}
