//! Flags and set-up shared by `train_phi_text_scheduler` and `continue_training_rl`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use clap::ValueEnum;
use infinito_rl::scheduler::{
    EpisodeReset, ObservationKind, RewardKind, SchedulerConfig, SchedulerEnv,
};
use infinito_rl::session::files::{clear_run, ENV_WORKDIR, RUN_FILE};
use infinito_rl::session::{run_session, SessionOptions, SessionOutcome};
use infinito_rl::{LearnOutcome, Ppo};
use infinito_train::config::parse_phi_band;
use infinito_train::PhiLoss;

use crate::device;

/// Environment options on top of a `--config` file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EnvArgs {
    /// Environment config file (.toml or .json; ours or the original's env_config.json):
    /// episode, actions, model and every reward constant.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Optimizer updates of the model per agent decision [default: 5].
    #[arg(long, value_name = "N")]
    pub inner_steps: Option<u32>,
    /// Decisions per episode [default: 100].
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u32>,
    /// Windows per batch of the model's training (not the PPO batch) [default: 4].
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Hugging Face GPT-2 directory or hub id (gpt2, org/name[@revision]) [default: the
    /// built-in small model].
    #[arg(long, value_name = "DIR|ID")]
    pub model: Option<String>,
    /// Corpus file or directory, WikiText name (wikitext-2-raw-v1, ...) or
    /// hf:org/name[:config] [default: the built-in corpus].
    #[arg(long, value_name = "PATH|NAME")]
    pub data: Option<PathBuf>,
    /// Start the model from a train_base_more checkpoint (or the original's .pt).
    #[arg(long, value_name = "FILE")]
    pub base_checkpoint: Option<PathBuf>,
    /// What an episode start does to the model [default: snapshot].
    #[arg(long, value_enum)]
    pub episode_reset: Option<ResetArg>,
    /// The agent's observation [default: original].
    #[arg(long, value_enum)]
    pub observation: Option<ObservationArg>,
    /// The reward [default: original].
    #[arg(long, value_enum)]
    pub reward: Option<RewardArg>,
    /// cpu, cuda or cuda:N [default: cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Shape of the model's PHI term: band, linear, squared or hinge [default: band].
    #[arg(long, value_name = "band|linear|squared|hinge")]
    pub phi_loss: Option<PhiLoss>,
    /// PHI band of the band PHI term [default: 3,6].
    #[arg(long, value_name = "LO,HI", value_parser = parse_phi_band, allow_hyphen_values = true)]
    pub phi_band: Option<[f64; 2]>,
}

/// `--episode-reset`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ResetArg {
    /// Rewind model and optimizer to the run's start.
    Snapshot,
    /// Keep training across episodes.
    Continue,
}

/// `--observation`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ObservationArg {
    /// The original's six raw values.
    Original,
    /// Normalised features with the last action.
    Normalized,
}

/// `--reward`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RewardArg {
    /// The original's v2 formula (constants in the config file).
    Original,
    /// Decrease of the held-out LM loss.
    Validation,
}

impl EnvArgs {
    /// `base` (or the `--config` file, or the defaults) with the given flags applied, validated.
    pub fn resolve(&self, base: Option<SchedulerConfig>) -> anyhow::Result<SchedulerConfig> {
        let mut c = match (&self.config, base) {
            (Some(path), _) => SchedulerConfig::load(path)?,
            (None, Some(base)) => base,
            (None, None) => SchedulerConfig::default(),
        };
        if let Some(v) = self.inner_steps {
            c.inner_steps = v;
        }
        if let Some(v) = self.max_steps {
            c.max_steps = v;
        }
        if let Some(v) = self.batch_size {
            c.batch_size = v;
        }
        if self.model.is_some() {
            c.model.model.clone_from(&self.model);
        }
        if self.data.is_some() {
            c.model.data.clone_from(&self.data);
        }
        if self.base_checkpoint.is_some() {
            c.model.checkpoint.clone_from(&self.base_checkpoint);
        }
        if let Some(v) = &self.device {
            c.model.device.clone_from(v);
        }
        if let Some(v) = self.phi_loss {
            c.model.phi_loss = v;
        }
        if let Some(v) = self.phi_band {
            c.model.phi_band = v;
        }
        if let Some(v) = self.episode_reset {
            c.episode_reset = match v {
                ResetArg::Snapshot => EpisodeReset::Snapshot,
                ResetArg::Continue => EpisodeReset::Continue,
            };
        }
        if let Some(v) = self.observation {
            c.observation = match v {
                ObservationArg::Original => ObservationKind::Original,
                ObservationArg::Normalized => ObservationKind::Normalized,
            };
        }
        if let Some(v) = self.reward {
            c.reward.kind = match v {
                RewardArg::Original => RewardKind::Original,
                RewardArg::Validation => RewardKind::Validation,
            };
        }
        c.validate()?;
        Ok(c)
    }
}

/// Default frequencies of a tool (checkpoint, evaluation, summary).
#[derive(Debug, Clone, Copy)]
pub struct Frequencies {
    /// `--save-freq`.
    pub save: u64,
    /// `--eval-freq`.
    pub eval: u64,
    /// `--log-freq`.
    pub log: u64,
}

/// Names of a tool's checkpoints.
#[derive(Debug, Clone, Copy)]
pub struct Naming {
    /// Prefix of the periodic checkpoints (and of `<prefix>_interrupted`).
    pub prefix: &'static str,
    /// Name of the final checkpoint.
    pub final_name: &'static str,
}

/// Checkpoint, evaluation and logging options of a session.
#[derive(Debug, Clone, clap::Args)]
pub struct SessionArgs {
    /// Save a checkpoint every N steps of this session (0: never) [default:
    /// train_phi_text_scheduler 10000, continue_training_rl 5000].
    #[arg(long, value_name = "N")]
    pub save_freq: Option<u64>,
    /// Evaluate the deterministic policy every N steps of this session (0: never) [default:
    /// 5000].
    #[arg(long, value_name = "N")]
    pub eval_freq: Option<u64>,
    /// Episodes per evaluation.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub n_eval_episodes: usize,
    /// Print a summary every N steps (0: never) [default: train_phi_text_scheduler 500,
    /// continue_training_rl 100].
    #[arg(long, value_name = "N")]
    pub log_freq: Option<u64>,
    /// Keep only the newest K periodic checkpoints.
    #[arg(long, value_name = "K")]
    pub keep_last: Option<usize>,
    /// With --keep-last, also keep every checkpoint whose step count is a multiple of N.
    #[arg(long, value_name = "N", requires = "keep_last")]
    pub keep_every: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Do not write TensorBoard event files into <OUTPUT>/tensorboard/.
    #[arg(long)]
    pub no_tensorboard: bool,
    /// Every N steps, write the model's continuations of fixed prompts, with their PHI,
    /// perplexity and the action shares since the last sample, to samples.jsonl (0: never).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sample_every: u64,
}

impl SessionArgs {
    /// The session options for `timesteps` more steps into `output`.
    pub fn options(
        &self,
        output: &Path,
        timesteps: u64,
        defaults: Frequencies,
        naming: Naming,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<SessionOptions> {
        if timesteps == 0 {
            return Err(crate::input_error!("--timesteps 0: must be >= 1"));
        }
        if self.n_eval_episodes == 0 {
            return Err(crate::input_error!("--n-eval-episodes 0: must be >= 1"));
        }
        Ok(SessionOptions {
            output: output.to_path_buf(),
            timesteps,
            save_freq: self.save_freq.unwrap_or(defaults.save),
            eval_freq: self.eval_freq.unwrap_or(defaults.eval),
            n_eval_episodes: self.n_eval_episodes,
            log_freq: self.log_freq.unwrap_or(defaults.log),
            checkpoint_prefix: naming.prefix.to_string(),
            final_name: naming.final_name.to_string(),
            keep_last: self.keep_last,
            keep_every: self.keep_every,
            stop,
            progress: !self.quiet,
            tensorboard: !self.no_tensorboard,
            sample_every: self.sample_every,
        })
    }
}

/// Reads a `.json` or `.toml` settings file into `T`.
pub fn load_settings<T: serde::de::DeserializeOwned>(path: &Path, flag: &str) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::input_error!("{flag} {}: {e}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "json" => serde_json::from_str(&text)
            .map_err(|e| crate::input_error!("{flag} {}: {e}", path.display())),
        "toml" => toml::from_str(&text).map_err(|e| {
            crate::input_error!(
                "{flag} {}: {}",
                path.display(),
                e.message().replace('\n', " ")
            )
        }),
        _ => Err(crate::input_error!(
            "{flag} {}: expected a .json or .toml file",
            path.display()
        )),
    }
}

/// Makes `output` ready for a new session: refuses a directory that holds a run unless
/// `overwrite` (then that run's files are deleted), and refuses any output that lies inside the
/// agent checkpoint `source` or contains it, so that the source is never written or deleted.
pub fn claim_output(output: &Path, overwrite: bool, source: Option<&Path>) -> anyhow::Result<()> {
    if let Some(source) = source {
        let full = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let (out, src) = (full(output), full(source));
        let src_dir = if src.is_dir() {
            src.clone()
        } else {
            src.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        if out.starts_with(&src_dir) || (overwrite && src.starts_with(&out)) {
            return Err(crate::input_error!(
                "--output {}: would write over the checkpoint {} it continues from; choose another --output",
                output.display(),
                source.display()
            ));
        }
    }
    if output.is_file() {
        return Err(crate::input_error!(
            "--output {}: is a file, expected a directory",
            output.display()
        ));
    }
    if output.join(RUN_FILE).exists() {
        if !overwrite {
            return Err(crate::input_error!(
                "--output {}: holds a run; continue it with continue_training_rl --checkpoint {}, or pass --overwrite, or choose another --output",
                output.display(),
                output.display()
            ));
        }
        clear_run(output)?;
    }
    Ok(())
}

/// Builds the environment of `config` with its working directory under `output`.
pub fn build_env(config: SchedulerConfig, output: &Path) -> anyhow::Result<SchedulerEnv> {
    let device = device(&config.model.device)?;
    let env = SchedulerEnv::build(config, &output.join(ENV_WORKDIR), &device)
        .context("building the scheduler environment")?;
    Ok(env)
}

/// Runs the session and prints how it ended.
pub fn run_and_report(
    name: &str,
    agent: &mut Ppo,
    env: SchedulerEnv,
    options: &SessionOptions,
) -> anyhow::Result<SessionOutcome> {
    let names: Vec<String> = (0..agent.n_actions())
        .map(|a| env.action_name(a).to_string())
        .collect();
    let outcome = run_session(agent, env, options)?;
    let shares: Vec<String> = names
        .iter()
        .zip(&outcome.action_shares)
        .map(|(n, s)| format!("{n} {s:.1}%"))
        .collect();
    let how = match outcome.outcome {
        LearnOutcome::Completed => "finished",
        LearnOutcome::Interrupted => "interrupted",
    };
    eprintln!(
        "{name}: {how} at step {}; mean reward {:+.4}; actions {}; saved {}",
        outcome.num_timesteps,
        outcome.mean_reward,
        shares.join(", "),
        outcome.checkpoint.display()
    );
    if outcome.outcome == LearnOutcome::Interrupted {
        eprintln!(
            "continue with: continue_training_rl --checkpoint {}",
            outcome.checkpoint.display()
        );
    }
    Ok(outcome)
}
