//! Flags and set-up shared by `train_phi_text_scheduler` and `continue_training_rl`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use infinito_rl::scheduler::{SchedulerConfig, SchedulerEnv};
use infinito_rl::session::files::{clear_run, ENV_WORKDIR, RUN_FILE};
use infinito_rl::session::{run_session, SessionOptions, SessionOutcome};
use infinito_rl::{LearnOutcome, Ppo};
use infinito_train::settings::{given_on_command_line, layered};

use crate::device;

/// The environment's flags: `--config FILE` and the flag fields of [`SchedulerConfig`].
#[derive(Debug, Clone, clap::Args)]
pub struct EnvArgs {
    /// Environment config file (.toml or .json; ours or the original's env_config.json):
    /// episode, actions, model and every reward constant. Flags given win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub env: SchedulerConfig,
}

impl EnvArgs {
    /// `base` (or the defaults), the `--config` file, then the flags `matches` says were
    /// given; validated.
    pub fn resolve(
        &self,
        base: Option<SchedulerConfig>,
        matches: &clap::ArgMatches,
    ) -> anyhow::Result<SchedulerConfig> {
        let file = match &self.config {
            Some(path) => Some(SchedulerConfig::load_layer(path)?),
            None => None,
        };
        let config = layered(&base.unwrap_or_default(), file, &self.env, &|id| {
            given_on_command_line(matches, id)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// True when no config file, model, data or base checkpoint is named: the scheduler's
    /// built-in default.
    pub fn is_builtin_default(&self) -> bool {
        let model = &self.env.model;
        self.config.is_none()
            && model.model.is_none()
            && model.data.is_none()
            && model.checkpoint.is_none()
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
