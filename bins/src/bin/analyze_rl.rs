//! `analyze_rl`: the report of a scheduler run (actions overall and per phase, reward curve and
//! trend, PHI/C/perplexity, episodes, evaluations) with PNG plots; or, with `--checkpoint` and
//! `--probe`, the policy's probabilities, value and action for given observations. A folder
//! written by the original (stable-baselines3 checkpoints and `evaluations.npz`) gets its
//! steps, evaluation analysis, best model and probed policies.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use infinito::{parse_args, report};
use infinito_rl::analysis::plots::write_plots;
use infinito_rl::analysis::probe::{read_observations, ProbeLine};
use infinito_rl::analysis::report::{RunAnalysis, RunData};
use infinito_rl::session::checkpoint::load_agent;
use infinito_rl::ConfigOverrides;

/// Reports on a scheduler run: actions, reward, PHI, evaluations, plots and policy probes.
///
/// RUN_DIR is written by train_phi_text_scheduler or continue_training_rl (plots go to
/// <RUN_DIR>/analysis/), or by the original (stable-baselines3 checkpoints and
/// evaluations.npz). With --checkpoint and --probe, prints one JSON line per observation
/// instead: {"obs", "probs", "value", "action"}.
#[derive(Parser, Debug)]
#[command(args_override_self = true)]
struct Args {
    /// The run directory.
    #[arg(default_value = "outputs/rl_phi_text_scheduler")]
    run_dir: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Do not write plots.
    #[arg(long, conflicts_with = "plots")]
    no_plots: bool,
    /// Directory for the plots (default <RUN_DIR>/analysis).
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Split the steps into this many equal phases for the action shares.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    phases: u32,
    /// Buckets of the reward curve.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    buckets: u32,
    /// Agent to probe: a scheduler checkpoint directory or a stable-baselines3 .zip.
    #[arg(long, requires = "probe", value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    /// Observations to probe: one JSON array of numbers per line.
    #[arg(long, requires = "checkpoint", value_name = "FILE")]
    probe: Option<PathBuf>,
}

fn probe(checkpoint: &Path, observations: &Path) -> anyhow::Result<()> {
    let loaded = load_agent(checkpoint, &ConfigOverrides::default())
        .with_context(|| format!("--checkpoint {}", checkpoint.display()))?;
    for note in &loaded.notes {
        eprintln!("note: {note}");
    }
    let agent = loaded.agent;
    for obs in read_observations(observations, agent.obs_dim()).context("--probe")? {
        println!("{}", serde_json::to_string(&ProbeLine::of(&agent, obs)?)?);
    }
    Ok(())
}

fn run(args: Args) -> anyhow::Result<()> {
    if let (Some(checkpoint), Some(observations)) = (&args.checkpoint, &args.probe) {
        return probe(checkpoint, observations);
    }
    if infinito::original_run::report_original(&args.run_dir, args.json)? {
        return Ok(());
    }
    let data = RunData::load(&args.run_dir)?;
    let mut analysis = RunAnalysis::of(&data, args.phases as usize, args.buckets as usize);
    if !args.no_plots {
        let dir = args
            .plots
            .clone()
            .unwrap_or_else(|| args.run_dir.join("analysis"));
        analysis.plots =
            write_plots(&data.steps, &data.names, &data.config.reward, &dir).context("--plots")?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&analysis)?);
    } else {
        print!("{}", analysis.render());
    }
    Ok(())
}

fn main() -> ExitCode {
    report(run(parse_args::<Args>(env!("CARGO_BIN_NAME"))))
}
