//! `compare_schedules`: budget-matched training of the same model under different TEXT/PHI/MIXED
//! schedules (fixed, random, round-robin, the band rule, a trained agent), measured on held-out
//! data, with 95% intervals over seeds.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use infinito::builtin_base::trained_builtin_base;
use infinito::scheduler_cli::{build_env, EnvArgs};
use infinito::{input_error, parse_command_line, report};
use infinito_rl::compare::{
    paired_differences, run_schedule, write_compare_plots, ActionIndex, Chooser, CompareOptions,
    Estimate, PairedDifference, Policy, PolicySummary, RunResult,
};
use infinito_rl::scheduler::{EpisodeReset, SampleSettings, SchedulerConfig};
use infinito_rl::session::checkpoint::load_agent;
use infinito_rl::{ConfigOverrides, Env, Ppo};

/// Trains the same model under each schedule for the same budget (--decisions choices of
/// --inner-steps optimizer updates, through the scheduler's environment) and compares validation
/// perplexity, PHI, the in-band share, the environment reward, action shares and generation
/// quality, with 95% intervals over --seeds seeds.
#[derive(Parser, Debug)]
#[command(version, about, args_override_self = true)]
struct Args {
    /// A scheduler checkpoint directory whose deterministic policy is the `agent` policy (its
    /// environment config is the default one).
    #[arg(long, value_name = "CHECKPOINT_DIR")]
    agent: Option<PathBuf>,
    /// Policies to compare: text, phi, mixed, random, round-robin, band-rule, agent [default:
    /// all but agent, and agent with --agent].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(Policy))]
    policies: Vec<Policy>,
    /// Seeds per policy (1..=N): data order, dropout, and the model's initialisation when it is
    /// not loaded from a checkpoint.
    #[arg(long, value_name = "N", default_value_t = 5)]
    seeds: u64,
    /// Decisions per run.
    #[arg(long, value_name = "N", default_value_t = 20)]
    decisions: usize,
    /// Validation batches of the final measurement.
    #[arg(long, value_name = "N", default_value_t = 16)]
    eval_batches: usize,
    /// Validation batches measured after every decision (the plots' curves).
    #[arg(long, value_name = "N", default_value_t = 2)]
    trace_batches: usize,
    /// New tokens per prompt of the generation-quality measures.
    #[arg(long, value_name = "N", default_value_t = 40)]
    sample_tokens: usize,
    /// Output directory: summary.json, runs.csv, trace.csv, PNG plots and report.md.
    #[arg(long, default_value = "runs/compare_schedules")]
    output: PathBuf,
    /// Print the summary as one JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    env: EnvArgs,
}

/// The checked settings of a comparison.
struct Plan {
    config: SchedulerConfig,
    policies: Vec<Policy>,
    agent: Option<Ppo>,
    options: CompareOptions,
}

fn plan(args: &Args, matches: &clap::ArgMatches) -> anyhow::Result<Plan> {
    for (flag, value) in [
        ("--seeds", args.seeds as usize),
        ("--decisions", args.decisions),
        ("--eval-batches", args.eval_batches),
        ("--trace-batches", args.trace_batches),
        ("--sample-tokens", args.sample_tokens),
    ] {
        if value == 0 {
            return Err(input_error!("{flag} 0: must be >= 1"));
        }
    }
    let mut policies = args.policies.clone();
    if policies.is_empty() {
        policies = Policy::ALL.to_vec();
        if args.agent.is_none() {
            policies.retain(|p| *p != Policy::Agent);
        }
    }
    if policies.contains(&Policy::Agent) && args.agent.is_none() {
        return Err(input_error!(
            "--policies agent: needs --agent CHECKPOINT_DIR (a scheduler checkpoint)"
        ));
    }
    let loaded = match &args.agent {
        Some(dir) => Some(load_agent(dir, &ConfigOverrides::default())?),
        None => None,
    };
    let base = match (&args.env.config, &loaded) {
        (None, Some(l)) => l.env_config.clone(),
        _ => None,
    };
    let from_agent = base.is_some();
    let mut config = args.env.resolve(base, matches)?;
    if !from_agent && args.env.is_builtin_default() {
        config.model.checkpoint = Some(trained_builtin_base()?);
    }
    // One model trained for the whole budget: episode ends do not rewind it.
    config.episode_reset = EpisodeReset::Continue;
    Ok(Plan {
        config,
        policies,
        agent: loaded.map(|l| l.agent),
        options: CompareOptions {
            decisions: args.decisions,
            eval_batches: args.eval_batches,
            trace_batches: args.trace_batches,
            samples: SampleSettings {
                max_new_tokens: args.sample_tokens,
                seed: 0,
            },
        },
    })
}

fn run_all(args: &Args, plan: &Plan) -> anyhow::Result<Vec<RunResult>> {
    let mut runs = Vec::new();
    for seed in 1..=args.seeds {
        let mut config = plan.config.clone();
        config.model.seed = seed;
        let mut env = build_env(config, &args.output)?;
        if seed == 1 && !args.json {
            eprintln!(
                "compare_schedules: {}; {} decisions x {} inner steps x {} windows per run; {} seeds; output in {}",
                env.description(),
                args.decisions,
                env.config().inner_steps,
                env.config().batch_size,
                args.seeds,
                args.output.display()
            );
        }
        if let Some(agent) = &plan.agent {
            if env.observation_dim() != agent.obs_dim() || env.n_actions() != agent.n_actions() {
                return Err(input_error!(
                    "--agent: the agent sees {} values and has {} actions, the environment {} and {} (check --observation and --config)",
                    agent.obs_dim(),
                    agent.n_actions(),
                    env.observation_dim(),
                    env.n_actions()
                ));
            }
        }
        let names: Vec<String> = (0..env.n_actions())
            .map(|a| env.action_name(a).to_string())
            .collect();
        let actions = ActionIndex::find(&names)?;
        let start = env.save_state()?;
        for &policy in &plan.policies {
            let clock = Instant::now();
            let mut chooser = Chooser::new(
                policy,
                actions,
                names.len(),
                plan.config.model.phi_band.0,
                seed,
                plan.agent.as_ref(),
            )?;
            let run = run_schedule(
                &mut env,
                &start,
                &mut chooser,
                policy.name(),
                seed,
                &plan.options,
            )
            .with_context(|| format!("policy {} seed {seed}", policy.name()))?;
            if !args.json {
                eprintln!(
                    "  seed {seed} {:<12} val ppl {:8.3}  phi {:6.3}  in band {:5.1}%  reward {:+8.3}  ({:.0} s)",
                    run.policy,
                    run.val_ppl,
                    run.phi_mean,
                    100.0 * run.phi_in_band,
                    run.reward,
                    clock.elapsed().as_secs_f64()
                );
            }
            runs.push(run);
        }
    }
    Ok(runs)
}

/// `mean [lo, hi]` with `digits` decimals.
fn shown(e: &Estimate, digits: usize) -> String {
    format!(
        "{:.digits$} [{:.digits$}, {:.digits$}]",
        e.mean, e.ci95[0], e.ci95[1]
    )
}

/// The summary as a Markdown table.
fn table(summaries: &[PolicySummary], names: &[String]) -> String {
    let mut out =
        String::from("| policy | runs | val ppl | val LM loss | PHI | PHI in band | reward |");
    for n in names {
        let _ = write!(out, " {n} |");
    }
    out += " distinct-2 | repeated 3-grams | continuation ppl |\n|---|---|---|---|---|---|---|";
    out += &"---|".repeat(names.len() + 3);
    out.push('\n');
    for s in summaries {
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.name,
            s.runs,
            shown(&s.val_ppl, 3),
            shown(&s.val_lm_loss, 4),
            shown(&s.phi_mean, 3),
            shown(&s.phi_in_band, 2),
            shown(&s.reward, 2)
        );
        for n in names {
            let share = s.actions.get(n).copied().unwrap_or(0.0);
            let _ = write!(out, " {:.0}% |", 100.0 * share);
        }
        for q in ["distinct_2", "repeated_3gram_rate", "continuation_ppl"] {
            let _ = write!(out, " {} |", shown(&s.quality[q], 3));
        }
        out.push('\n');
    }
    out
}

/// The paired differences as a Markdown table.
fn paired_table(pairs: &[PairedDifference]) -> String {
    let mut out = String::from(
        "| policy | versus | measure | difference (policy − versus) | interval excludes 0 |\n|---|---|---|---|---|\n",
    );
    for p in pairs {
        let side = if p.difference.below_zero() {
            "yes, lower"
        } else if p.difference.above_zero() {
            "yes, higher"
        } else {
            "no"
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {side} |",
            p.policy,
            p.versus,
            p.measure,
            shown(&p.difference, 3)
        );
    }
    out
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    infinito_checkpoint::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn write_outputs(
    args: &Args,
    runs: &[RunResult],
    summary: &serde_json::Value,
    report_md: &str,
    policies: &[String],
) -> anyhow::Result<Vec<PathBuf>> {
    let dir = &args.output;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_file(
        &dir.join("summary.json"),
        &serde_json::to_string_pretty(summary)?,
    )?;
    let mut csv = String::from(
        "policy,seed,val_lm_loss,val_ppl,phi_mean,phi_in_band,reward,distinct_2,repeated_3gram_rate,continuation_ppl",
    );
    let names: Vec<&String> = runs
        .first()
        .map(|r| r.actions.keys().collect())
        .unwrap_or_default();
    for n in &names {
        let _ = write!(csv, ",{n}");
    }
    csv.push('\n');
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for r in runs {
        let _ = write!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            r.policy,
            r.seed,
            r.val_lm_loss,
            r.val_ppl,
            r.phi_mean,
            r.phi_in_band,
            r.reward,
            opt(r.quality.distinct_2),
            opt(r.quality.repeated_ngram_rate),
            opt(r.quality.perplexity)
        );
        for n in &names {
            let _ = write!(csv, ",{}", r.actions[*n]);
        }
        csv.push('\n');
    }
    write_file(&dir.join("runs.csv"), &csv)?;
    let mut trace = String::from("policy,seed,decision,val_ppl,phi\n");
    for r in runs {
        for p in &r.trace {
            let _ = writeln!(
                trace,
                "{},{},{},{},{}",
                r.policy, r.seed, p.decision, p.val_ppl, p.phi
            );
        }
    }
    write_file(&dir.join("trace.csv"), &trace)?;
    write_file(&dir.join("report.md"), report_md)?;
    let mut written = vec![dir.join("summary.json"), dir.join("runs.csv")];
    written.extend(write_compare_plots(runs, policies, dir)?);
    Ok(written)
}

fn run((args, matches): (Args, clap::ArgMatches)) -> anyhow::Result<()> {
    let plan = plan(&args, &matches)?;
    let runs = run_all(&args, &plan)?;
    let policies: Vec<String> = plan.policies.iter().map(|p| p.name().to_string()).collect();
    let summaries: Vec<PolicySummary> = policies
        .iter()
        .map(|name| {
            let mine: Vec<&RunResult> = runs.iter().filter(|r| &r.policy == name).collect();
            PolicySummary::of(name, &mine)
        })
        .collect();
    let mut paired = Vec::new();
    for focus in ["agent", "band-rule"] {
        if policies.iter().any(|p| p == focus) {
            paired.extend(paired_differences(&runs, focus));
        }
    }
    let summary = serde_json::json!({ "policies": summaries, "paired": paired });
    let action_names: Vec<String> = runs
        .first()
        .map(|r| r.actions.keys().cloned().collect())
        .unwrap_or_default();
    let command: Vec<String> = std::env::args().collect();
    let report_md = format!(
        "# Schedule comparison\n\nCommand: `{}`\n\n{} seeds, {} decisions per run; means with 95% intervals (Student's t over seeds).\n\n{}\n## Paired differences over the same seeds\n\n{}",
        command.join(" "),
        args.seeds,
        args.decisions,
        table(&summaries, &action_names),
        paired_table(&paired)
    );
    let written = write_outputs(&args, &runs, &summary, &report_md, &policies)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", table(&summaries, &action_names));
        eprintln!(
            "written: {}",
            written
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    report(run(parse_command_line::<Args>(env!("CARGO_BIN_NAME"))))
}
