//! `train_phi_text_scheduler`: trains a new PPO agent that decides, every few optimizer steps,
//! whether the hybrid trains on TEXT, PHI or MIXED (the guide's option 3).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use infinito::builtin_base::trained_builtin_base;
use infinito::scheduler_cli::{
    build_env, claim_output, run_and_report, EnvArgs, Frequencies, Naming, SessionArgs,
};
use infinito::{parse_command_line, report};
use infinito_rl::session::files::STATS_FILE;
use infinito_rl::{Env, Ppo, PpoConfig, Schedule};
use infinito_train::interrupt::install_ctrlc_handler;
use infinito_train::settings::given_on_command_line;

/// Trains a PPO agent that schedules TEXT/PHI/MIXED training of the hybrid (the guide's option 3).
///
/// Each agent step runs --inner-steps real optimizer updates of the model with the chosen loss
/// weights; files go to --output.
#[derive(Parser, Debug)]
#[command(args_override_self = true)]
struct Args {
    /// Environment steps (agent decisions) to train.
    #[arg(long, default_value_t = 100_000)]
    timesteps: u64,
    /// PPO learning rate (constant) [default: 3e-4].
    #[arg(long)]
    lr: Option<f64>,
    /// Steps per PPO rollout.
    #[arg(long, default_value_t = PpoConfig::default().n_steps)]
    n_steps: usize,
    /// PPO minibatch size.
    #[arg(long, default_value_t = PpoConfig::default().batch_size)]
    ppo_batch_size: usize,
    /// PPO epochs per rollout.
    #[arg(long, default_value_t = PpoConfig::default().n_epochs)]
    n_epochs: usize,
    /// PPO settings file (JSON or TOML with stable-baselines3 names: learning_rate, n_steps,
    /// batch_size, n_epochs, gamma, gae_lambda, clip_range, ent_coef, vf_coef, max_grad_norm,
    /// net_arch, ...); the flags above, when given, win over it.
    #[arg(long, value_name = "FILE")]
    ppo_config: Option<PathBuf>,
    /// Seed of the agent (the model's seed is in the environment config).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output directory.
    #[arg(
        long,
        visible_alias = "output-dir",
        default_value = "outputs/rl_phi_text_scheduler"
    )]
    output: PathBuf,
    /// Start afresh in an output directory that holds a run (deletes that run's files).
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    env: EnvArgs,
    #[command(flatten)]
    session: SessionArgs,
}

/// The `--ppo-config` file (or the defaults) with the PPO flags that were given laid over it.
fn ppo_config(args: &Args, matches: &clap::ArgMatches) -> anyhow::Result<PpoConfig> {
    let mut config = match &args.ppo_config {
        Some(path) => infinito_train::settings::load(path)
            .map_err(|e| infinito::input_error!("--ppo-config {e}"))?,
        None => PpoConfig::default(),
    };
    let given = |id| given_on_command_line(matches, id);
    if let Some(lr) = args.lr {
        config.learning_rate = Schedule::Constant(lr);
    }
    if given("n_steps") {
        config.n_steps = args.n_steps;
    }
    if given("ppo_batch_size") {
        config.batch_size = args.ppo_batch_size;
    }
    if given("n_epochs") {
        config.n_epochs = args.n_epochs;
    }
    config.validate()?;
    Ok(config)
}

fn run((args, matches): (Args, clap::ArgMatches)) -> anyhow::Result<()> {
    let mut config = args.env.resolve(None, &matches)?;
    let ppo = ppo_config(&args, &matches)?;
    let stop = install_ctrlc_handler()?;
    let defaults = Frequencies {
        save: 10_000,
        eval: 5_000,
        log: 500,
    };
    let naming = Naming {
        prefix: "ppo_infinito_scheduler",
        final_name: "ppo_infinito_scheduler_final",
    };
    let options = args
        .session
        .options(&args.output, args.timesteps, defaults, naming, stop)?;
    claim_output(&args.output, args.overwrite, None)?;
    if args.env.is_builtin_default() {
        infinito_train::setup::check_builtin_run(&config.run_config())?;
        config.model.checkpoint = Some(trained_builtin_base()?);
    }
    let env = build_env(config, &args.output)?;
    let mut agent = Ppo::new(env.observation_dim(), env.n_actions(), ppo, args.seed)?;
    eprintln!(
        "train_phi_text_scheduler: {}; {} inner steps x {} windows per decision, episodes of {}; PPO n_steps {}, batch {}, epochs {}; output in {}",
        env.description(),
        env.config().inner_steps,
        env.config().batch_size,
        env.config().max_steps,
        agent.config().n_steps,
        agent.config().batch_size,
        agent.config().n_epochs,
        args.output.display()
    );
    run_and_report("train_phi_text_scheduler", &mut agent, env, &options)?;
    eprintln!("statistics: {}", args.output.join(STATS_FILE).display());
    Ok(())
}

fn main() -> ExitCode {
    report(run(parse_command_line::<Args>(env!("CARGO_BIN_NAME"))))
}
