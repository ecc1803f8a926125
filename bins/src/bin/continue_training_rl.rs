//! `continue_training_rl`: continues a scheduler agent (ours, or a stable-baselines3 `.zip`)
//! for more steps, with working hyper-parameter overrides (the guide's option 1).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use infinito::scheduler_cli::{
    build_env, claim_output, run_and_report, EnvArgs, Frequencies, Naming, SessionArgs,
};
use infinito::{input_error, parse_command_line, report};
use infinito_rl::scheduler::SchedulerConfig;
use infinito_rl::session::checkpoint::load_agent;
use infinito_rl::session::files::{list_checkpoints, ENV_CONFIG_FILE};
use infinito_rl::{ConfigOverrides, Env, Schedule};
use infinito_train::interrupt::install_ctrlc_handler;

/// Continues training a scheduler agent (ours or a stable-baselines3 .zip).
///
/// The step counter goes on from the checkpoint's, and so do checkpoint names. Overrides take
/// effect from the first update.
#[derive(Parser, Debug)]
#[command(args_override_self = true)]
struct Args {
    /// A checkpoint directory of ours (periodic, best_model, final or interrupted), a run
    /// directory (its newest checkpoint is used), or a stable-baselines3 PPO .zip.
    #[arg(long, default_value = "outputs/rl_phi_text_scheduler")]
    checkpoint: PathBuf,
    /// Additional environment steps.
    #[arg(long, default_value_t = 50_000)]
    timesteps: u64,
    /// Output directory.
    #[arg(long, default_value = "outputs/rl_continued")]
    output: PathBuf,
    /// Start afresh in an output directory that holds a run (deletes that run's files).
    #[arg(long)]
    overwrite: bool,
    /// PPO learning rate (constant) [default: 1e-4, the original's fine-tuning setting].
    #[arg(long)]
    lr: Option<f64>,
    /// Clip range (constant) [default: 0.15].
    #[arg(long)]
    clip_range: Option<f64>,
    /// Entropy coefficient [default: 0.02].
    #[arg(long)]
    entropy_coef: Option<f64>,
    /// Gradient-norm clip [default: 0.3].
    #[arg(long)]
    max_grad_norm: Option<f64>,
    /// Keep the checkpoint's own learning rate, clip range, entropy coefficient and
    /// gradient-norm clip instead of the fine-tuning defaults (flags given still win).
    #[arg(long)]
    keep_settings: bool,
    /// Steps per PPO rollout [default: the checkpoint's]. PPO learns from whole rollouts, so
    /// --timesteps is rounded up to a multiple of it.
    #[arg(long, value_name = "N")]
    n_steps: Option<usize>,
    #[command(flatten)]
    env: EnvArgs,
    #[command(flatten)]
    session: SessionArgs,
}

/// A run directory stands for its newest checkpoint (by modification time).
fn resolve_checkpoint(path: &Path) -> anyhow::Result<PathBuf> {
    if !path.is_dir() || path.join("agent.safetensors").exists() {
        return Ok(path.to_path_buf());
    }
    let mut candidates: Vec<PathBuf> = list_checkpoints(path).into_iter().map(|(_, p)| p).collect();
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with("_final") || name.ends_with("_interrupted") {
            candidates.push(entry.path());
        }
    }
    candidates
        .into_iter()
        .filter(|p| p.join("agent.safetensors").exists())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .ok_or_else(|| {
            input_error!(
                "--checkpoint {}: no scheduler checkpoint in this directory (train one with train_phi_text_scheduler, or pass a checkpoint or an SB3 .zip)",
                path.display()
            )
        })
}

/// The original's env_config.json of the run a `.zip` came from (next to it or one level up);
/// none for our own checkpoints, which carry their config inside.
fn config_beside(zip: &Path) -> Option<PathBuf> {
    let is_zip = zip
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if !is_zip {
        return None;
    }
    zip.ancestors()
        .skip(1)
        .take(3)
        .map(|dir| dir.join(ENV_CONFIG_FILE))
        .find(|p| p.exists())
}

/// The original's fine-tuning settings (`continue_training_rl.py`): lr 1e-4, clip 0.15,
/// entropy 0.02, max-grad-norm 0.3.
const FINE_TUNING: (f64, f64, f64, f64) = (1e-4, 0.15, 0.02, 0.3);

/// The settings to write into the loaded agent: each flag, else (without --keep-settings) the
/// fine-tuning default.
fn overrides(args: &Args) -> ConfigOverrides {
    let (lr, clip, ent, norm) = FINE_TUNING;
    let default = |v: f64| (!args.keep_settings).then_some(v);
    ConfigOverrides {
        learning_rate: args.lr.or(default(lr)).map(Schedule::Constant),
        clip_range: args.clip_range.or(default(clip)).map(Schedule::Constant),
        ent_coef: args.entropy_coef.or(default(ent)),
        max_grad_norm: args.max_grad_norm.or(default(norm)),
        n_steps: args.n_steps,
    }
}

/// A schedule as one readable value (`1e-4`, or `3e-4 -> 0` for a linear one).
fn shown(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Constant(v) => format!("{v}"),
        Schedule::Linear { start, end, .. } => format!("{start} -> {end}"),
    }
}

/// Prints the PPO settings in force, where they come from, and how many steps will run.
fn print_settings(args: &Args, agent: &infinito_rl::Ppo) {
    let c = agent.config();
    let source = if args.keep_settings {
        "the checkpoint's own, flags applied"
    } else {
        "the original's fine-tuning settings, flags applied"
    };
    eprintln!(
        "PPO settings ({source}): lr {}, clip range {}, entropy coef {}, max grad norm {}, n_steps {}",
        shown(&c.learning_rate),
        shown(&c.clip_range),
        c.ent_coef,
        c.max_grad_norm,
        c.n_steps
    );
    let n = c.n_steps as u64;
    let runs = args.timesteps.div_ceil(n) * n;
    if runs != args.timesteps {
        eprintln!(
            "note: PPO learns from whole rollouts of n_steps {n} (stable-baselines3 does the same), so --timesteps {} runs {runs} steps; pass --n-steps to shorten the rollout",
            args.timesteps
        );
    }
}

fn run((args, matches): (Args, clap::ArgMatches)) -> anyhow::Result<()> {
    let checkpoint = resolve_checkpoint(&args.checkpoint)?;
    let loaded = load_agent(&checkpoint, &overrides(&args))?;
    for note in &loaded.notes {
        eprintln!("note: {note}");
    }
    let mut agent = loaded.agent;
    print_settings(&args, &agent);
    let base: Option<SchedulerConfig> = match (&loaded.env_config, &args.env.config) {
        (Some(c), None) => Some(c.clone()),
        (_, Some(_)) => None,
        (None, None) => match config_beside(&checkpoint) {
            Some(path) => {
                eprintln!("environment config: {}", path.display());
                Some(SchedulerConfig::load(&path)?)
            }
            None => None,
        },
    };
    let config = args.env.resolve(base, &matches)?;
    let stop = install_ctrlc_handler()?;
    let defaults = Frequencies {
        save: 5_000,
        eval: 5_000,
        log: 100,
    };
    let naming = Naming {
        prefix: "ppo_infinito_continued",
        final_name: "ppo_infinito_final",
    };
    let options = args
        .session
        .options(&args.output, args.timesteps, defaults, naming, stop)?;
    claim_output(&args.output, args.overwrite, Some(&checkpoint))?;
    let mut env = build_env(config, &args.output)?;
    match &loaded.model {
        Some(model) => {
            env.load_model(model)?;
            eprintln!("environment model: continued from {}", model.display());
        }
        None => eprintln!(
            "environment model: the checkpoint has none, built from --model/--data/--config: {}",
            env.description()
        ),
    }
    if env.observation_dim() != agent.obs_dim() || env.n_actions() != agent.n_actions() {
        return Err(input_error!(
            "--checkpoint {}: the agent sees {} values and has {} actions, the environment {} and {} (check --observation and the config)",
            checkpoint.display(),
            agent.obs_dim(),
            agent.n_actions(),
            env.observation_dim(),
            env.n_actions()
        ));
    }
    eprintln!(
        "continue_training_rl: agent from {} at step {}; {} more steps to {}; output in {}",
        checkpoint.display(),
        agent.num_timesteps(),
        args.timesteps,
        agent.num_timesteps() + args.timesteps,
        args.output.display()
    );
    run_and_report("continue_training_rl", &mut agent, env, &options)?;
    Ok(())
}

fn main() -> ExitCode {
    report(run(parse_command_line::<Args>(env!("CARGO_BIN_NAME"))))
}
