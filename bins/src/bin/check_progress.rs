//! `check_progress`: the live state of a scheduler run from its files: steps done of the target,
//! elapsed time, rate, ETA, last checkpoint, recent reward, action shares, evaluations, and
//! whether it finished. A folder written by the original (stable-baselines3 checkpoints and
//! `evaluations.npz`) gets its steps, evaluations, best model and probed policies.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Parser;
use infinito::{parse_args, report};
use infinito_rl::analysis::progress::LiveProgress;

/// Evaluations listed in the text view.
const SHOWN_EVALUATIONS: usize = 10;

/// Shows where a scheduler run (train_phi_text_scheduler / continue_training_rl) stands.
#[derive(Parser, Debug)]
#[command(args_override_self = true)]
struct Args {
    /// The run directory.
    #[arg(default_value = "outputs/rl_phi_text_scheduler")]
    run_dir: PathBuf,
    /// Steps in the recent-reward window.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    recent: u64,
    /// Refresh every SECS seconds (default 10) until the run finishes or Ctrl+C.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "10",
          value_parser = clap::value_parser!(u64).range(1..))]
    watch: Option<u64>,
    /// Print one JSON object (`null` when no step is logged yet).
    #[arg(long, conflicts_with = "watch")]
    json: bool,
}

/// Prints the state once; true when the run finished.
fn show(args: &Args) -> anyhow::Result<bool> {
    if infinito::original_run::report_original(&args.run_dir, args.json)? {
        return Ok(true);
    }
    let progress = LiveProgress::read(&args.run_dir, args.recent as usize, SystemTime::now())?;
    if args.json {
        println!("{}", serde_json::to_string(&progress)?);
    } else {
        println!("run         {}", args.run_dir.display());
        match &progress {
            Some(p) => print!("{}", p.render(SHOWN_EVALUATIONS)),
            None => println!("no steps logged yet"),
        }
    }
    Ok(progress.is_some_and(|p| p.finished))
}

fn run(args: Args) -> anyhow::Result<()> {
    let Some(secs) = args.watch else {
        show(&args)?;
        return Ok(());
    };
    loop {
        print!("\x1b[2J\x1b[H");
        let finished = show(&args)?;
        if finished {
            return Ok(());
        }
        println!("\n(refreshing every {secs} s; Ctrl+C to stop)");
        std::io::stdout().flush()?;
        std::thread::sleep(Duration::from_secs(secs));
    }
}

fn main() -> ExitCode {
    report(run(parse_args::<Args>(env!("CARGO_BIN_NAME"))))
}
