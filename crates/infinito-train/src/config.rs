//! The options of `train_base_more`: a config file (TOML or JSON) overridden by flags.

use crate::error::{Result, TrainError};
use crate::options::{at_least_one, positive, FitOptions};
use crate::settings::{self, Settings};
use candle_core::Device;
pub use infinito_model::loss::{PhiGrad, PhiLoss};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Every option of a `train_base_more` run, written once: a field here is a config-file key
/// (snake_case), and with the `cli` feature a flag (kebab-case) whose `--help` default is the
/// one in `Default`. Config files may leave any field out.
// The field docs are also `--help` text, where brackets are literal, not links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Epochs to train.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = RunConfig::default().epochs))]
    pub epochs: u64,
    /// Windows per batch.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = RunConfig::default().batch_size))]
    pub batch_size: usize,
    /// Initial learning rate.
    #[cfg_attr(feature = "cli", arg(long, value_name = "LR", default_value_t = RunConfig::default().lr))]
    pub lr: f64,
    /// Coefficient of the PHI term.
    #[cfg_attr(feature = "cli", arg(long, value_name = "X", default_value_t = RunConfig::default().lambda_phi))]
    pub lambda_phi: f64,
    /// LoRA rank.
    #[cfg_attr(feature = "cli", arg(long, value_name = "R", default_value_t = RunConfig::default().lora_r))]
    pub lora_r: usize,
    /// LoRA alpha (scale alpha / r).
    #[cfg_attr(feature = "cli", arg(long, value_name = "A", default_value_t = RunConfig::default().lora_alpha))]
    pub lora_alpha: f64,
    /// Early-stopping patience in epochs.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = RunConfig::default().patience))]
    pub patience: u32,
    /// Smallest decrease of the validation loss that counts as an improvement (early stopping
    /// and the best checkpoint).
    #[cfg_attr(feature = "cli", arg(long, value_name = "X", default_value_t = RunConfig::default().min_delta))]
    pub min_delta: f64,
    /// Tokens per training window.
    #[cfg_attr(feature = "cli", arg(long, value_name = "L", default_value_t = RunConfig::default().seq_len))]
    pub seq_len: usize,
    /// Slots of the PHI-guided memory.
    #[cfg_attr(feature = "cli", arg(long, value_name = "S", default_value_t = RunConfig::default().memory_slots))]
    pub memory_slots: usize,
    /// Seed of initialisation, shuffling and per-step randomness.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = RunConfig::default().seed))]
    pub seed: u64,
    /// cpu, cuda or cuda:N.
    #[cfg_attr(feature = "cli", arg(long, value_name = "DEVICE", default_value_t = RunConfig::default().device))]
    pub device: String,
    /// Hugging Face GPT-2 directory, hub id (gpt2, org/name[@revision], from the hub cache or
    /// downloaded) or built-in config name; unset: the built-in small model.
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR|ID"))]
    pub model: Option<String>,
    /// Corpus: a file or directory (WikiText-2 raw or tokenized .txt, parquet shards), a
    /// WikiText name (wikitext-2-raw-v1, wikitext-103-raw-v1, ...) or hf:org/name[:config];
    /// unset: the built-in corpus.
    #[cfg_attr(feature = "cli", arg(long, value_name = "PATH|NAME"))]
    pub data: Option<PathBuf>,
    /// Output directory (logs, config.json, checkpoints/).
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR", default_value_os_t = RunConfig::default().output))]
    pub output: PathBuf,
    /// Resume from our checkpoint, or start from the original's .pt.
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub checkpoint: Option<PathBuf>,
    /// Also validate every N steps.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub eval_every: Option<u64>,
    /// Save checkpoints/step-N.safetensors every N steps.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub save_every: Option<u64>,
    /// Periodic checkpoints to keep.
    #[cfg_attr(feature = "cli", arg(long, value_name = "K", default_value_t = RunConfig::default().keep_checkpoints))]
    pub keep_checkpoints: usize,
    /// Non-finite steps in a row before giving up.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = RunConfig::default().max_nonfinite))]
    pub max_nonfinite: u32,
    /// Where the PHI term's gradient goes: all, model or none.
    #[cfg_attr(feature = "cli", arg(long, value_name = "all|model|none", default_value_t = RunConfig::default().phi_grad))]
    pub phi_grad: PhiGrad,
    /// Shape of the PHI term: band, linear, squared or hinge.
    #[cfg_attr(feature = "cli", arg(long, value_name = "band|linear|squared|hinge", default_value_t = RunConfig::default().phi_loss))]
    pub phi_loss: PhiLoss,
    /// PHI target of the linear, squared and hinge PHI terms.
    #[cfg_attr(feature = "cli", arg(long, value_name = "X", default_value_t = RunConfig::default().phi_target))]
    pub phi_target: f64,
    /// PHI band of the band PHI term.
    #[cfg_attr(feature = "cli", arg(long, value_name = "LO,HI", allow_hyphen_values = true, default_value_t = RunConfig::default().phi_band))]
    pub phi_band: Band,
    /// Stop after N steps over the whole run.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub max_steps: Option<u64>,
    /// Start afresh even if --output holds a run (deletes its checkpoints).
    #[cfg_attr(feature = "cli", arg(long))]
    pub overwrite: bool,
    /// Every N training steps, log the Gaussian Phi_SI, Phi_MI, Phi* (across the MIB) and
    /// past-present mutual information of the hidden states (metrics gaussian_*).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub log_gaussian_phi_every: Option<u64>,
    /// Principal components of the hidden states used as channels by those measures.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = RunConfig::default().gaussian_channels))]
    pub gaussian_channels: usize,
    /// AdamW and gradient clipping (an `[optimizer]` table in config files).
    #[cfg_attr(feature = "cli", command(flatten))]
    pub optimizer: OptimizerConfig,
    /// What `model` resolved to (hub id and commit, or directory and content hash), filled in
    /// by [`crate::setup::prepare`] and saved with the checkpoints, which then refuse to
    /// resume or load on a different base model. Not for config files.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "cli", arg(skip))]
    pub base_model: Option<infinito_hub::BaseModel>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 16,
            lr: 2e-4,
            lambda_phi: 0.6,
            lora_r: 8,
            lora_alpha: 32.0,
            patience: 5,
            min_delta: 0.01,
            seq_len: 256,
            memory_slots: 256,
            seed: 42,
            device: "cpu".to_string(),
            model: None,
            data: None,
            output: PathBuf::from("runs/train_base_more"),
            checkpoint: None,
            eval_every: None,
            save_every: None,
            keep_checkpoints: 3,
            max_nonfinite: 10,
            phi_grad: PhiGrad::Model,
            phi_loss: PhiLoss::Band,
            phi_target: 6.0,
            phi_band: Band::DEFAULT_PHI,
            max_steps: None,
            overwrite: false,
            log_gaussian_phi_every: None,
            gaussian_channels: 8,
            optimizer: OptimizerConfig::default(),
            base_model: None,
        }
    }
}

/// The trainer's AdamW and gradient clipping, with Hugging Face `TrainingArguments` names.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// AdamW decay rate of the first moment.
    #[cfg_attr(feature = "cli", arg(id = "optimizer.adam_beta1", long = "adam-beta1", value_name = "B", default_value_t = OptimizerConfig::default().adam_beta1))]
    pub adam_beta1: f64,
    /// AdamW decay rate of the second moment.
    #[cfg_attr(feature = "cli", arg(id = "optimizer.adam_beta2", long = "adam-beta2", value_name = "B", default_value_t = OptimizerConfig::default().adam_beta2))]
    pub adam_beta2: f64,
    /// AdamW epsilon (added to the denominator).
    #[cfg_attr(feature = "cli", arg(id = "optimizer.adam_epsilon", long = "adam-epsilon", value_name = "EPS", default_value_t = OptimizerConfig::default().adam_epsilon))]
    pub adam_epsilon: f64,
    /// AdamW decoupled weight decay.
    #[cfg_attr(feature = "cli", arg(id = "optimizer.weight_decay", long = "weight-decay", value_name = "X", default_value_t = OptimizerConfig::default().weight_decay))]
    pub weight_decay: f64,
    /// Global gradient-norm clipping threshold.
    #[cfg_attr(feature = "cli", arg(id = "optimizer.max_grad_norm", long = "max-grad-norm", value_name = "X", default_value_t = OptimizerConfig::default().max_grad_norm))]
    pub max_grad_norm: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            adam_beta1: 0.9,
            adam_beta2: 0.98,
            adam_epsilon: 1e-8,
            weight_decay: 0.01,
            max_grad_norm: 1.0,
        }
    }
}

impl OptimizerConfig {
    /// The AdamW hyper-parameters at learning rate `lr`.
    pub fn adamw(&self, lr: f64) -> crate::AdamWConfig {
        crate::AdamWConfig {
            lr,
            beta1: self.adam_beta1,
            beta2: self.adam_beta2,
            eps: self.adam_epsilon,
            weight_decay: self.weight_decay,
        }
    }

    /// Checks every value; the error names the flag.
    pub fn validate(&self) -> Result<()> {
        for (flag, beta) in [
            ("--adam-beta1", self.adam_beta1),
            ("--adam-beta2", self.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&beta) {
                return Err(TrainError::flag(flag, beta, "in [0, 1)"));
            }
        }
        for (flag, value) in [
            ("--adam-epsilon", self.adam_epsilon),
            ("--weight-decay", self.weight_decay),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(TrainError::flag(flag, value, "a finite number >= 0"));
            }
        }
        positive("--max-grad-norm", self.max_grad_norm)
    }
}

/// A closed interval `[lo, hi]`: an array of two numbers in config files, `LO,HI` on the
/// command line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Band(pub [f64; 2]);

impl Band {
    /// The PHI band of the guide ("PHI estable en [3-6]").
    pub const DEFAULT_PHI: Band = Band([3.0, 6.0]);
}

impl std::fmt::Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.0[0], self.0[1])
    }
}

impl std::str::FromStr for Band {
    type Err = String;

    /// Parses `LO,HI` (two numbers separated by a comma).
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        match parts.as_slice() {
            [lo, hi] => match (lo.parse::<f64>(), hi.parse::<f64>()) {
                (Ok(lo), Ok(hi)) => Ok(Band([lo, hi])),
                _ => Err(format!("{text:?}: expected two numbers LO,HI")),
            },
            _ => Err(format!("{text:?}: expected LO,HI (e.g. 3,6)")),
        }
    }
}

impl RunConfig {
    /// Reads a config file: `.toml` or `.json` by extension. Missing fields take their
    /// defaults; unknown fields are an error. The values are not validated here.
    pub fn load(path: &Path) -> Result<Self> {
        settings::load(path)
    }

    /// The configuration of a run: `base`, then the settings `file` (see
    /// [`settings::load_layer`]), then the fields of `flags` whose flag was `given`,
    /// validated.
    pub fn layered(
        base: &RunConfig,
        file: Option<Settings>,
        flags: &RunConfig,
        given: &dyn Fn(&str) -> bool,
    ) -> Result<Self> {
        let config = settings::layered(base, file, flags, given)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value; the error names the flag (`--batch-size 0: must be >= 1`).
    pub fn validate(&self) -> Result<()> {
        if !(self.lambda_phi >= 0.0 && self.lambda_phi.is_finite()) {
            return Err(TrainError::flag(
                "--lambda-phi",
                self.lambda_phi,
                "a finite number >= 0",
            ));
        }
        at_least_one("--lora-r", self.lora_r as u64)?;
        positive("--lora-alpha", self.lora_alpha)?;
        at_least_one("--seq-len", self.seq_len as u64)?;
        at_least_one("--memory-slots", self.memory_slots as u64)?;
        check_device(&self.device)?;
        if let Some(path) = &self.checkpoint {
            if !path.exists() {
                return Err(TrainError::flag(
                    "--checkpoint",
                    path.display(),
                    "an existing path (no such file or directory)",
                ));
            }
        }
        if let Some(data) = &self.data {
            crate::data::data_source(data)?;
        }
        if self.model.as_deref() == Some("") {
            return Err(TrainError::flag(
                "--model",
                "\"\"",
                "a model directory, a hub id or a built-in config name",
            ));
        }
        if let Some(every) = self.log_gaussian_phi_every {
            at_least_one("--log-gaussian-phi-every", every)?;
        }
        if self.gaussian_channels < 2 {
            return Err(TrainError::flag(
                "--gaussian-channels",
                self.gaussian_channels,
                ">= 2 (a bipartition needs two channels)",
            ));
        }
        check_phi_band(self.phi_band)?;
        // The trainer's own limits (epochs, batch, learning rate, optimizer, intervals, ...).
        self.fit_options(Device::Cpu, Arc::new(AtomicBool::new(false)))?
            .validate()
    }

    /// The trainer options of this run; `device` is the device the model lives on and
    /// `stop` the flag of `install_ctrlc_handler` (feature `cli`).
    pub fn fit_options(&self, device: Device, stop: Arc<AtomicBool>) -> Result<FitOptions> {
        let run_config = serde_json::to_value(self)
            .map_err(|e| TrainError::invalid("run config", "UTF-8 paths", e))?;
        Ok(FitOptions::from_run(self, device, stop, run_config))
    }
}

/// Accepts a band `[lo, hi]` of finite numbers with `lo <= hi`.
fn check_phi_band(band: Band) -> Result<()> {
    let Band([lo, hi]) = band;
    if lo.is_finite() && hi.is_finite() && lo <= hi {
        Ok(())
    } else {
        Err(TrainError::flag(
            "--phi-band",
            format!("{lo},{hi}"),
            "LO,HI with finite LO <= HI",
        ))
    }
}

/// Accepts `cpu`, `cuda` and `cuda:N`.
fn check_device(name: &str) -> Result<()> {
    let ok = name == "cpu"
        || name == "cuda"
        || name
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<usize>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(TrainError::flag("--device", name, "cpu, cuda or cuda:N"))
    }
}

/// The flags of `train_base_more`: `--config FILE` and every field of [`RunConfig`].
#[cfg(feature = "cli")]
// The field docs are `--help` text, where brackets are literal, not links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, clap::Args)]
pub struct RunFlags {
    /// Config file (.toml or .json) holding any of the options below (snake_case names; the
    /// optimizer's in an [optimizer] table). Flags given on the command line win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunConfig,
}

#[cfg(feature = "cli")]
impl RunFlags {
    /// The effective configuration: `base` (the defaults, or a profile), the `--config` file,
    /// then the flags `matches` says were given, validated.
    pub fn resolve(&self, base: &RunConfig, matches: &clap::ArgMatches) -> Result<RunConfig> {
        self.resolve_with_file(base, self.file_layer()?, matches)
    }

    /// The keys of the `--config` file, if one was given (read once, for callers that resolve
    /// against more than one base).
    pub fn file_layer(&self) -> Result<Option<Settings>> {
        self.config
            .as_deref()
            .map(settings::load_layer::<RunConfig>)
            .transpose()
    }

    /// [`RunFlags::resolve`] with the file's keys already read by [`RunFlags::file_layer`].
    pub fn resolve_with_file(
        &self,
        base: &RunConfig,
        file: Option<Settings>,
        matches: &clap::ArgMatches,
    ) -> Result<RunConfig> {
        RunConfig::layered(base, file, &self.run, &|id| {
            settings::given_on_command_line(matches, id)
        })
    }
}

#[cfg(all(test, feature = "cli"))]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: RunFlags,
    }

    fn resolve(flags: &[&str]) -> Result<RunConfig> {
        let matches = Cli::command()
            .get_matches_from(std::iter::once("train_base_more").chain(flags.iter().copied()));
        let cli = Cli::from_arg_matches(&matches).unwrap();
        cli.flags.resolve(&RunConfig::default(), &matches)
    }

    #[test]
    fn gaussian_phi_flags_are_read_and_checked() {
        let c = resolve(&[]).unwrap();
        assert_eq!((c.log_gaussian_phi_every, c.gaussian_channels), (None, 8));
        let c = resolve(&["--log-gaussian-phi-every", "10", "--gaussian-channels", "4"]).unwrap();
        assert_eq!(
            (c.log_gaussian_phi_every, c.gaussian_channels),
            (Some(10), 4)
        );
        let err = resolve(&["--log-gaussian-phi-every", "0"]).unwrap_err();
        assert!(
            err.to_string().contains("--log-gaussian-phi-every 0"),
            "{err}"
        );
        let err = resolve(&["--gaussian-channels", "1"]).unwrap_err();
        assert!(err.to_string().contains("--gaussian-channels 1"), "{err}");
    }

    #[test]
    fn band_with_a_model_only_gradient_is_the_default_phi_term() {
        let c = resolve(&[]).unwrap();
        assert_eq!(
            (c.phi_loss, c.phi_grad, c.phi_band),
            (PhiLoss::Band, PhiGrad::Model, Band([3.0, 6.0]))
        );
        let c = resolve(&["--phi-band", "2.5,7", "--phi-loss", "squared"]).unwrap();
        assert_eq!(
            (c.phi_band, c.phi_loss),
            (Band([2.5, 7.0]), PhiLoss::Squared)
        );
        let err = resolve(&["--phi-band", "6,3"]).unwrap_err();
        assert!(err.to_string().contains("--phi-band 6,3"), "{err}");
        assert!("3".parse::<Band>().is_err() && "a,b".parse::<Band>().is_err());
    }
}
