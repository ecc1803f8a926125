//! The options of `train_base_more`: a config file (TOML or JSON) overridden by flags.

use crate::error::{Result, TrainError};
use crate::options::{at_least_one, positive, FitOptions};
use candle_core::Device;
pub use infinito_model::loss::{PhiGrad, PhiLoss};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Every option of a `train_base_more` run. `Default` gives the documented defaults; config
/// files use these field names and may leave any of them out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Epochs to train.
    pub epochs: u64,
    /// Windows per batch.
    pub batch_size: usize,
    /// Initial AdamW learning rate.
    pub lr: f64,
    /// Coefficient of the PHI term.
    pub lambda_phi: f64,
    /// LoRA rank.
    pub lora_r: usize,
    /// LoRA alpha (scale alpha / r).
    pub lora_alpha: f64,
    /// Early-stopping patience in epochs.
    pub patience: u32,
    /// Tokens per training window.
    pub seq_len: usize,
    /// Slots of the PHI-guided memory.
    pub memory_slots: usize,
    /// Seed of initialisation, shuffling and per-step randomness.
    pub seed: u64,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// A Hugging Face model directory, a hub id (`gpt2`, `org/name@revision`) or a built-in
    /// config name; `None` for the built-in default.
    pub model: Option<String>,
    /// A corpus file or directory, a WikiText name (`wikitext-2-raw-v1`, ...) or
    /// `hf:org/name[:config]`; `None` for the built-in corpus.
    pub data: Option<PathBuf>,
    /// Output directory (logs, `config.json`, `checkpoints/`).
    pub output: PathBuf,
    /// A checkpoint to resume from (ours) or to start from (the original's `.pt`).
    pub checkpoint: Option<PathBuf>,
    /// Validate every this many steps as well as after each epoch.
    pub eval_every: Option<u64>,
    /// Save `checkpoints/step-<N>.safetensors` every this many steps.
    pub save_every: Option<u64>,
    /// Periodic checkpoints to keep.
    pub keep_checkpoints: usize,
    /// Consecutive non-finite steps tolerated.
    pub max_nonfinite: u32,
    /// Where the PHI term's gradient goes.
    pub phi_grad: PhiGrad,
    /// Shape of the PHI term.
    pub phi_loss: PhiLoss,
    /// The PHI value the PHI term aims at (`linear`, `squared`, `hinge`).
    pub phi_target: f64,
    /// The band `[lo, hi]` the `band` PHI term keeps mean PHI in.
    pub phi_band: [f64; 2],
    /// Stop after this many steps over the whole run.
    pub max_steps: Option<u64>,
    /// Start afresh in an output directory that holds a run, deleting its checkpoints.
    pub overwrite: bool,
    /// Log the Gaussian integrated information of the hidden states (`gaussian_phi_si`, ...)
    /// every this many training steps.
    pub log_gaussian_phi_every: Option<u64>,
    /// Channels (principal components of the hidden states) of the Gaussian measures.
    pub gaussian_channels: usize,
    /// What `model` resolved to (hub id and commit, or directory and content hash), filled in
    /// by [`crate::setup::prepare`] and saved with the checkpoints, which then refuse to
    /// resume or load on a different base model. Not for config files.
    #[serde(skip_serializing_if = "Option::is_none")]
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
            phi_band: DEFAULT_PHI_BAND,
            max_steps: None,
            overwrite: false,
            log_gaussian_phi_every: None,
            gaussian_channels: 8,
            base_model: None,
        }
    }
}

impl RunConfig {
    /// Reads a config file: `.toml` or `.json` by extension. Missing fields take their
    /// defaults; unknown fields are an error. The values are not validated here.
    pub fn load(path: &Path) -> Result<Self> {
        let config_error = |message: String| TrainError::Config {
            path: path.to_path_buf(),
            message,
        };
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let is_toml = match extension.to_ascii_lowercase().as_str() {
            "toml" => true,
            "json" => false,
            _ => {
                return Err(config_error(
                    "unknown config format, expected a .toml or .json file".to_string(),
                ))
            }
        };
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TrainError::MissingPath {
                path: path.to_path_buf(),
            },
            _ => TrainError::io(path, "read", e),
        })?;
        if is_toml {
            toml::from_str(&text).map_err(|e| {
                let line = e
                    .span()
                    .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
                let message = e.message().replace('\n', " ");
                config_error(match line {
                    Some(line) => format!("line {line}: {message}"),
                    None => message,
                })
            })
        } else {
            serde_json::from_str(&text).map_err(|e| config_error(e.to_string()))
        }
    }

    /// Checks every value; the error names the flag (`--batch-size 0: must be >= 1`).
    pub fn validate(&self) -> Result<()> {
        at_least_one("--epochs", self.epochs)?;
        at_least_one("--batch-size", self.batch_size as u64)?;
        positive("--lr", self.lr)?;
        if !(self.lambda_phi >= 0.0 && self.lambda_phi.is_finite()) {
            return Err(TrainError::flag(
                "--lambda-phi",
                self.lambda_phi,
                "a finite number >= 0",
            ));
        }
        at_least_one("--lora-r", self.lora_r as u64)?;
        positive("--lora-alpha", self.lora_alpha)?;
        at_least_one("--patience", u64::from(self.patience))?;
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
        if !self.phi_target.is_finite() {
            return Err(TrainError::flag(
                "--phi-target",
                self.phi_target,
                "a finite number",
            ));
        }
        check_phi_band(self.phi_band)?;
        // The trainer's own limits (eval/save intervals, max steps, output, ...).
        self.fit_options(Device::Cpu, Arc::new(AtomicBool::new(false)))?
            .validate()
    }

    /// The trainer options of this run; `device` is the device the model lives on and
    /// `stop` the flag of [`crate::interrupt::install_ctrlc_handler`].
    pub fn fit_options(&self, device: Device, stop: Arc<AtomicBool>) -> Result<FitOptions> {
        let run_config = serde_json::to_value(self)
            .map_err(|e| TrainError::invalid("run config", "UTF-8 paths", e))?;
        Ok(FitOptions {
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            patience: self.patience,
            eval_every: self.eval_every,
            save_every: self.save_every,
            keep_checkpoints: self.keep_checkpoints,
            max_steps: self.max_steps,
            seed: self.seed,
            output: self.output.clone(),
            max_nonfinite: self.max_nonfinite,
            stop,
            run_config,
            phi_target: self.phi_target,
            overwrite: self.overwrite,
            device,
            ..FitOptions::default()
        })
    }
}

/// The PHI band of the guide ("PHI estable en [3-6]").
pub const DEFAULT_PHI_BAND: [f64; 2] = [3.0, 6.0];

/// Accepts a band `[lo, hi]` of finite numbers with `lo <= hi`.
fn check_phi_band(band: [f64; 2]) -> Result<()> {
    let [lo, hi] = band;
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

/// Parses `--phi-band LO,HI` (two numbers separated by a comma).
pub fn parse_phi_band(text: &str) -> std::result::Result<[f64; 2], String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [lo, hi] => match (lo.parse::<f64>(), hi.parse::<f64>()) {
            (Ok(lo), Ok(hi)) => Ok([lo, hi]),
            _ => Err(format!("{text:?}: expected two numbers LO,HI")),
        },
        _ => Err(format!("{text:?}: expected LO,HI (e.g. 3,6)")),
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

/// The command-line flags of `train_base_more`: `--config FILE` first, then each flag given
/// overrides it. Flatten it into the binary's parser and call [`RunArgs::resolve`].
// The field docs are `--help` text, where brackets are literal, not links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// Config file (.toml or .json) holding any of the options below (snake_case names).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Epochs to train [default: 20].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub epochs: Option<u64>,
    /// Windows per batch [default: 16].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub batch_size: Option<usize>,
    /// Initial learning rate [default: 2e-4].
    #[arg(long, value_name = "LR", allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Coefficient of the PHI term [default: 0.6].
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub lambda_phi: Option<f64>,
    /// LoRA rank [default: 8].
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    pub lora_r: Option<usize>,
    /// LoRA alpha [default: 32].
    #[arg(long, value_name = "A", allow_negative_numbers = true)]
    pub lora_alpha: Option<f64>,
    /// Early-stopping patience in epochs [default: 5].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub patience: Option<u32>,
    /// Tokens per window [default: 256].
    #[arg(long, value_name = "L", allow_negative_numbers = true)]
    pub seq_len: Option<usize>,
    /// PHI-guided memory slots [default: 256].
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub memory_slots: Option<usize>,
    /// Seed of initialisation, shuffling and dropout [default: 42].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// cpu, cuda or cuda:N [default: cpu].
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Hugging Face GPT-2 directory, hub id (gpt2, org/name[@revision], from the hub cache or
    /// downloaded) or built-in config name [default: the built-in small model].
    #[arg(long, value_name = "DIR|ID")]
    pub model: Option<String>,
    /// Corpus: a file or directory (WikiText-2 raw or tokenized .txt, parquet shards), a
    /// WikiText name (wikitext-2-raw-v1, wikitext-103-raw-v1, ...) or hf:org/name[:config]
    /// [default: the built-in corpus].
    #[arg(long, value_name = "PATH|NAME")]
    pub data: Option<PathBuf>,
    /// Output directory [default: runs/train_base_more].
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Resume from our checkpoint, or start from the original's .pt.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Also validate every N steps.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub eval_every: Option<u64>,
    /// Save checkpoints/step-N.safetensors every N steps.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub save_every: Option<u64>,
    /// Periodic checkpoints to keep [default: 3].
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub keep_checkpoints: Option<usize>,
    /// Non-finite steps in a row before giving up [default: 10].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub max_nonfinite: Option<u32>,
    /// Where the PHI term's gradient goes: all, model or none [default: model].
    #[arg(long, value_name = "all|model|none")]
    pub phi_grad: Option<PhiGrad>,
    /// Shape of the PHI term: band, linear, squared or hinge [default: band].
    #[arg(long, value_name = "band|linear|squared|hinge")]
    pub phi_loss: Option<PhiLoss>,
    /// PHI target of the linear, squared and hinge PHI terms [default: 6.0].
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub phi_target: Option<f64>,
    /// PHI band of the band PHI term [default: 3,6].
    #[arg(long, value_name = "LO,HI", value_parser = parse_phi_band, allow_hyphen_values = true)]
    pub phi_band: Option<[f64; 2]>,
    /// Stop after N steps over the whole run.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub max_steps: Option<u64>,
    /// Start afresh even if --output holds a run (deletes its checkpoints).
    #[arg(long)]
    pub overwrite: bool,
    /// Every N training steps, log the Gaussian Phi_SI, Phi_MI, Phi* (across the MIB) and
    /// past-present mutual information of the hidden states (metrics gaussian_*).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub log_gaussian_phi_every: Option<u64>,
    /// Principal components of the hidden states used as channels by those measures [default: 8].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub gaussian_channels: Option<usize>,
}

impl RunArgs {
    /// The effective configuration: the `--config` file (or the defaults), each given flag
    /// applied on top, validated.
    pub fn resolve(&self) -> Result<RunConfig> {
        let mut c = match &self.config {
            Some(path) => RunConfig::load(path)?,
            None => RunConfig::default(),
        };
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *target = v.clone();
            }
        }
        fn set_opt<T: Clone>(target: &mut Option<T>, value: &Option<T>) {
            if value.is_some() {
                target.clone_from(value);
            }
        }
        set(&mut c.epochs, &self.epochs);
        set(&mut c.batch_size, &self.batch_size);
        set(&mut c.lr, &self.lr);
        set(&mut c.lambda_phi, &self.lambda_phi);
        set(&mut c.lora_r, &self.lora_r);
        set(&mut c.lora_alpha, &self.lora_alpha);
        set(&mut c.patience, &self.patience);
        set(&mut c.seq_len, &self.seq_len);
        set(&mut c.memory_slots, &self.memory_slots);
        set(&mut c.seed, &self.seed);
        set(&mut c.device, &self.device);
        set_opt(&mut c.model, &self.model);
        set_opt(&mut c.data, &self.data);
        set(&mut c.output, &self.output);
        set_opt(&mut c.checkpoint, &self.checkpoint);
        set_opt(&mut c.eval_every, &self.eval_every);
        set_opt(&mut c.save_every, &self.save_every);
        set(&mut c.keep_checkpoints, &self.keep_checkpoints);
        set(&mut c.max_nonfinite, &self.max_nonfinite);
        set(&mut c.phi_grad, &self.phi_grad);
        set(&mut c.phi_loss, &self.phi_loss);
        set(&mut c.phi_target, &self.phi_target);
        set(&mut c.phi_band, &self.phi_band);
        set_opt(&mut c.max_steps, &self.max_steps);
        c.overwrite |= self.overwrite;
        set_opt(&mut c.log_gaussian_phi_every, &self.log_gaussian_phi_every);
        set(&mut c.gaussian_channels, &self.gaussian_channels);
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn resolve(flags: &[&str]) -> Result<RunConfig> {
        Cli::parse_from(std::iter::once("train_base_more").chain(flags.iter().copied()))
            .run
            .resolve()
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
            (PhiLoss::Band, PhiGrad::Model, [3.0, 6.0])
        );
        let c = resolve(&["--phi-band", "2.5,7", "--phi-loss", "squared"]).unwrap();
        assert_eq!((c.phi_band, c.phi_loss), ([2.5, 7.0], PhiLoss::Squared));
        let err = resolve(&["--phi-band", "6,3"]).unwrap_err();
        assert!(err.to_string().contains("--phi-band 6,3"), "{err}");
        assert!(parse_phi_band("3").is_err() && parse_phi_band("a,b").is_err());
    }
}
