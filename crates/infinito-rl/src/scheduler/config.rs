//! The scheduler environment's configuration (`env_config.json`): episode shape, actions,
//! the model it trains, and every constant of the reward.

use std::path::{Path, PathBuf};

use infinito_train::settings::{self, Settings};
use infinito_train::{Band, PhiGrad, PhiLoss, RunConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, RlError};

/// Everything that defines a scheduler environment, written once: a field here is a
/// config-file key, and with the `cli` feature the main ones are flags too (their `--help`
/// default is the one in `Default`; a flag's id is the field's dotted path). Config files may
/// leave any field out (unknown fields are an error).
// The field docs are also `--help` text, where brackets are literal, not links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Optimizer updates of the model per agent decision.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = SchedulerConfig::default().inner_steps))]
    pub inner_steps: u32,
    /// Decisions per episode (then the episode is truncated).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = SchedulerConfig::default().max_steps))]
    pub max_steps: u32,
    /// Windows per batch of the model's training (not the PPO batch).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = SchedulerConfig::default().batch_size))]
    pub batch_size: usize,
    /// What an episode start does to the model.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = SchedulerConfig::default().episode_reset))]
    pub episode_reset: EpisodeReset,
    /// The agent's observation.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = SchedulerConfig::default().observation))]
    pub observation: ObservationKind,
    /// The actions: loss coefficients of each.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub actions: Vec<ActionSpec>,
    /// The model, its data and its optimizer.
    #[cfg_attr(feature = "cli", command(flatten))]
    pub model: EnvModelConfig,
    /// The reward and its constants.
    #[cfg_attr(feature = "cli", command(flatten))]
    pub reward: RewardConfig,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            inner_steps: 5,
            max_steps: 100,
            batch_size: 4,
            episode_reset: EpisodeReset::Snapshot,
            observation: ObservationKind::Original,
            actions: vec![
                ActionSpec::new("TEXT", 1.0, 0.0),
                ActionSpec::new("PHI", 0.1, 1.0),
                ActionSpec::new("MIXED", 0.5, 0.5),
            ],
            model: EnvModelConfig::default(),
            reward: RewardConfig::default(),
        }
    }
}

/// What `reset` does to the model being trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum EpisodeReset {
    /// Restore weights, memory and optimizer to the state at the start of the run: every
    /// episode asks "which schedule trains this model best from here".
    Snapshot,
    /// Keep training: the episode boundary only resets the episode counters.
    Continue,
}

/// The observation vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ObservationKind {
    /// The original's six raw values: C, phi, loss_text, loss_phi, memory_util, t_norm.
    Original,
    /// Normalised features: loss_text/10, phi/10, their changes over the last step, memory
    /// utilisation, episode progress, and the last action one-hot.
    Normalized,
}

/// One action: the coefficients of the loss `w_text * LM + w_phi * PHI term`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// Name shown in logs (`TEXT`, `PHI`, `MIXED`).
    pub name: String,
    /// Coefficient of the language-model loss.
    pub w_text: f64,
    /// Coefficient of the PHI term.
    pub w_phi: f64,
}

impl ActionSpec {
    /// An action named `name` with these coefficients.
    pub fn new(name: &str, w_text: f64, w_phi: f64) -> Self {
        Self {
            name: name.to_string(),
            w_text,
            w_phi,
        }
    }
}

/// The model the environment trains (a subset of `train_base_more`'s options).
// The field docs are also `--help` text, where brackets are literal, not links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct EnvModelConfig {
    /// Hugging Face GPT-2 directory or hub id (gpt2, org/name[@revision]); unset: the
    /// built-in small model.
    #[cfg_attr(
        feature = "cli",
        arg(id = "model.model", long = "model", value_name = "DIR|ID")
    )]
    pub model: Option<String>,
    /// Corpus file or directory, WikiText name (wikitext-2-raw-v1, ...) or
    /// hf:org/name[:config]; unset: the built-in corpus.
    #[cfg_attr(
        feature = "cli",
        arg(id = "model.data", long = "data", value_name = "PATH|NAME")
    )]
    pub data: Option<PathBuf>,
    /// Start the model from a train_base_more checkpoint (whose own model, LoRA and memory
    /// settings then replace model, lora_r, lora_alpha and memory_slots) or the original's .pt.
    #[cfg_attr(
        feature = "cli",
        arg(id = "model.checkpoint", long = "base-checkpoint", value_name = "FILE")
    )]
    pub checkpoint: Option<PathBuf>,
    /// Tokens per training window.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub seq_len: usize,
    /// LoRA rank.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub lora_r: usize,
    /// LoRA alpha.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub lora_alpha: f64,
    /// Memory slots.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub memory_slots: usize,
    /// AdamW learning rate of the inner steps.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub lr: f64,
    /// PHI-term coefficient used to measure the first observation of an episode.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub lambda_phi: f64,
    /// Shape of the model's PHI term: band, linear, squared or hinge (band by default: the
    /// linear one saturates PHI).
    #[cfg_attr(feature = "cli", arg(id = "model.phi_loss", long = "phi-loss", value_name = "band|linear|squared|hinge", default_value_t = EnvModelConfig::default().phi_loss))]
    pub phi_loss: PhiLoss,
    /// Where the PHI term's gradient goes.
    #[cfg_attr(feature = "cli", arg(skip = EnvModelConfig::default().phi_grad))]
    pub phi_grad: PhiGrad,
    /// The PHI value the `linear`, `squared` and `hinge` PHI terms aim at.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub phi_target: f64,
    /// PHI band of the band PHI term.
    #[cfg_attr(feature = "cli", arg(id = "model.phi_band", long = "phi-band", value_name = "LO,HI", allow_hyphen_values = true, default_value_t = EnvModelConfig::default().phi_band))]
    pub phi_band: Band,
    /// Seed of initialisation, data order and dropout.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub seed: u64,
    /// cpu, cuda or cuda:N.
    #[cfg_attr(feature = "cli", arg(id = "model.device", long = "device", value_name = "DEVICE", default_value_t = EnvModelConfig::default().device))]
    pub device: String,
}

impl Default for EnvModelConfig {
    fn default() -> Self {
        Self {
            model: None,
            data: None,
            checkpoint: None,
            seq_len: 128,
            lora_r: 4,
            lora_alpha: 16.0,
            memory_slots: 128,
            lr: 2e-4,
            lambda_phi: 0.3,
            phi_loss: PhiLoss::Band,
            phi_grad: PhiGrad::Model,
            phi_target: 6.0,
            phi_band: Band::DEFAULT_PHI,
            seed: 42,
            device: "cpu".to_string(),
        }
    }
}

/// Which reward the environment pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum RewardKind {
    /// The original's v2 formula (changes of C, PHI and perplexity, memory cost, stability,
    /// and band terms), with the constants below.
    Original,
    /// `validation_scale` times the decrease of the held-out LM loss caused by the step.
    Validation,
}

/// The reward and every constant in it (only `kind` is a flag: `--reward`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    /// The reward (its constants are in the config file).
    #[cfg_attr(feature = "cli", arg(id = "reward.kind", long = "reward", value_name = "KIND", value_enum, default_value_t = RewardConfig::default().kind))]
    pub kind: RewardKind,
    /// Weight of the change of C.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub alpha: f64,
    /// Weight of the change of PHI.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub beta: f64,
    /// Weight of the relative perplexity decrease.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub gamma: f64,
    /// Weight of the memory cost.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub delta: f64,
    /// PHI jumps larger than this are penalised.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub stability_threshold: f64,
    /// Penalty per unit of PHI jump beyond the threshold.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub stability_slope: f64,
    /// The PHI band `[low, high]`.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub phi_band: [f64; 2],
    /// Penalty per unit of PHI below the band.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub phi_low_slope: f64,
    /// Penalty per unit of PHI above the band.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub phi_high_slope: f64,
    /// Bonus while PHI is inside the band.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub phi_band_bonus: f64,
    /// The perplexity band `[low, high]` (below = collapse, above = confusion).
    #[cfg_attr(feature = "cli", arg(skip))]
    pub ppl_band: [f64; 2],
    /// Penalty per relative unit of perplexity below the band (`(low - ppl) / low`).
    #[cfg_attr(feature = "cli", arg(skip))]
    pub ppl_low_slope: f64,
    /// Penalty per `ppl_high_scale` of perplexity above the band.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub ppl_high_slope: f64,
    /// Scale of the perplexity excess above the band.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub ppl_high_scale: f64,
    /// The C band `[low, high]`.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub c_band: [f64; 2],
    /// Penalty per unit of C outside the band.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub c_slope: f64,
    /// Bonus while C is inside the band.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub c_band_bonus: f64,
    /// C is `min(phi / c_scale, 1)`.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub c_scale: f64,
    /// C above this resets the original observation's breakthrough counter.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub breakthrough_c: f64,
    /// Batches of the validation split scored by the `validation` reward.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub validation_batches: usize,
    /// Multiplier of the validation-loss decrease.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub validation_scale: f64,
}

impl Default for RewardConfig {
    fn default() -> Self {
        Self {
            kind: RewardKind::Original,
            alpha: 1.0,
            beta: 0.5,
            gamma: 0.1,
            delta: 0.2,
            stability_threshold: 1.0,
            stability_slope: 0.8,
            phi_band: [3.0, 6.0],
            phi_low_slope: 0.3,
            phi_high_slope: 0.6,
            phi_band_bonus: 0.1,
            ppl_band: [10.0, 200.0],
            ppl_low_slope: 2.0,
            ppl_high_slope: 0.3,
            ppl_high_scale: 100.0,
            c_band: [0.3, 0.7],
            c_slope: 0.2,
            c_band_bonus: 0.05,
            c_scale: 10.0,
            breakthrough_c: 0.6,
            validation_batches: 2,
            validation_scale: 10.0,
        }
    }
}

impl SchedulerConfig {
    /// Reads a config file: ours (`.toml` or `.json`; missing fields take defaults) or the
    /// original trainer's `env_config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        match Self::load_original(path)? {
            Some(config) => Ok(config),
            None => Ok(settings::load(path)?),
        }
    }

    /// The keys a config file sets, as a settings layer: those it names, or all of them for
    /// the original's `env_config.json` (converted with [`Self::from_original`]).
    pub fn load_layer(path: &Path) -> Result<Settings> {
        match Self::load_original(path)? {
            Some(config) => Ok(settings::to_layer(&config)?),
            None => Ok(settings::load_layer::<Self>(path)?),
        }
    }

    /// The original's `env_config.json` converted, or `None` for any other file.
    fn load_original(path: &Path) -> Result<Option<Self>> {
        let is_json = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let Some(value) = is_json
            .then(|| std::fs::read_to_string(path).ok())
            .flatten()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        else {
            return Ok(None);
        };
        if !is_original(&value) {
            return Ok(None);
        }
        Self::from_original(&value)
            .map(Some)
            .map_err(|reason| RlError::BadFile {
                path: path.to_path_buf(),
                reason,
            })
    }

    /// Converts the original trainer's `env_config.json` (`inner_steps`, `max_steps`,
    /// `batch_size`, `model_kwargs`, `reward_weights`); what it does not set keeps our defaults.
    pub fn from_original(value: &serde_json::Value) -> std::result::Result<Self, String> {
        let mut config = Self::default();
        let number =
            |v: &serde_json::Value, key: &str| -> std::result::Result<Option<f64>, String> {
                match v.get(key) {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(x) => x
                        .as_f64()
                        .map(Some)
                        .ok_or_else(|| format!("{key}: expected a number, got {x}")),
                }
            };
        let count = |v: Option<f64>, key: &str| -> std::result::Result<Option<u64>, String> {
            v.map(|x| {
                if x >= 0.0 && x.fract() == 0.0 {
                    Ok(x as u64)
                } else {
                    Err(format!("{key}: expected a whole number, got {x}"))
                }
            })
            .transpose()
        };
        if let Some(n) = count(number(value, "inner_steps")?, "inner_steps")? {
            config.inner_steps = n as u32;
        }
        if let Some(n) = count(number(value, "max_steps")?, "max_steps")? {
            config.max_steps = n as u32;
        }
        if let Some(n) = count(number(value, "batch_size")?, "batch_size")? {
            config.batch_size = n as usize;
        }
        let empty = serde_json::Value::Null;
        let model = value.get("model_kwargs").unwrap_or(&empty);
        if let Some(n) = count(number(model, "lora_r")?, "model_kwargs.lora_r")? {
            config.model.lora_r = n as usize;
        }
        if let Some(x) = number(model, "lora_alpha")? {
            config.model.lora_alpha = x;
        }
        if let Some(x) = number(model, "lambda_phi")? {
            config.model.lambda_phi = x;
        }
        if let Some(n) = count(number(model, "memory_slots")?, "model_kwargs.memory_slots")? {
            config.model.memory_slots = n as usize;
        }
        let weights = value.get("reward_weights").unwrap_or(&empty);
        let r = &mut config.reward;
        for (key, slot) in [
            ("alpha", &mut r.alpha),
            ("beta", &mut r.beta),
            ("gamma", &mut r.gamma),
            ("delta", &mut r.delta),
        ] {
            if let Some(x) = number(weights, key)? {
                *slot = x;
            }
        }
        Ok(config)
    }

    /// Checks every value; the error names the option.
    pub fn validate(&self) -> Result<()> {
        let at_least_one = |flag: &'static str, value: u64| {
            if value >= 1 {
                Ok(())
            } else {
                Err(RlError::flag(flag, value, "must be >= 1"))
            }
        };
        at_least_one("--inner-steps", self.inner_steps.into())?;
        at_least_one("--max-steps", self.max_steps.into())?;
        at_least_one("--batch-size", self.batch_size as u64)?;
        if self.actions.len() < 2 {
            return Err(RlError::flag(
                "actions",
                self.actions.len(),
                "at least two actions",
            ));
        }
        if let Some(a) = self
            .actions
            .iter()
            .find(|a| !(a.w_text.is_finite() && a.w_phi.is_finite()))
        {
            return Err(RlError::flag("actions", &a.name, "finite w_text and w_phi"));
        }
        let r = &self.reward;
        if r.kind == RewardKind::Validation {
            at_least_one("reward.validation_batches", r.validation_batches as u64)?;
        }
        for (name, band) in [
            ("reward.phi_band", r.phi_band),
            ("reward.ppl_band", r.ppl_band),
            ("reward.c_band", r.c_band),
        ] {
            if band[0].partial_cmp(&band[1]).is_none_or(|o| o.is_gt()) {
                return Err(RlError::flag(
                    name,
                    format!("{band:?}"),
                    "[low, high] with low <= high",
                ));
            }
        }
        if !(r.c_scale > 0.0 && r.ppl_high_scale > 0.0 && r.ppl_band[0] > 0.0) {
            return Err(RlError::flag(
                "reward",
                "c_scale / ppl_high_scale / ppl_band",
                "positive scales and a positive lower perplexity bound",
            ));
        }
        self.run_config().validate()?;
        Ok(())
    }

    /// The `train_base_more` configuration that builds this environment's model and data.
    pub fn run_config(&self) -> RunConfig {
        let m = &self.model;
        RunConfig {
            batch_size: self.batch_size,
            lr: m.lr,
            lambda_phi: m.lambda_phi,
            lora_r: m.lora_r,
            lora_alpha: m.lora_alpha,
            seq_len: m.seq_len,
            memory_slots: m.memory_slots,
            seed: m.seed,
            device: m.device.clone(),
            model: m.model.clone(),
            data: m.data.clone(),
            checkpoint: m.checkpoint.clone(),
            phi_grad: m.phi_grad,
            phi_loss: m.phi_loss,
            phi_target: m.phi_target,
            phi_band: m.phi_band,
            ..RunConfig::default()
        }
    }
}

/// True for the original trainer's `env_config.json` layout.
fn is_original(value: &serde_json::Value) -> bool {
    value.get("model_kwargs").is_some() || value.get("reward_weights").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The original's `env_config.json` (section 6.1 of the specification) converts.
    #[test]
    fn original_env_config_converts() {
        let value = serde_json::json!({
            "inner_steps": 5, "max_steps": 50, "batch_size": 4,
            "model_kwargs": {"use_lora": true, "lora_r": 4, "lora_alpha": 16, "lambda_phi": 0.3,
                             "freeze_base": true, "memory_slots": 128},
            "reward_weights": {"alpha": 1.0, "beta": 0.7, "gamma": 0.1, "delta": 0.2}
        });
        let config = SchedulerConfig::from_original(&value).expect("converts");
        assert_eq!(config.max_steps, 50);
        assert_eq!(config.model.lora_alpha, 16.0);
        assert_eq!(config.reward.beta, 0.7);
        let bad = serde_json::json!({"max_steps": 2.5, "reward_weights": {}});
        assert!(SchedulerConfig::from_original(&bad)
            .unwrap_err()
            .contains("max_steps"));
    }
}
