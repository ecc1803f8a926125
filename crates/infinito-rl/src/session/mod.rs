//! A scheduler training session: PPO learning on the [`SchedulerEnv`] with the run directory
//! of `train_phi_text_scheduler` and `continue_training_rl` (metrics, checkpoints, best model,
//! evaluations, statistics), and the readers that `check_progress` and `analyze_rl` use.

mod board;
mod callback;
pub mod checkpoint;
pub mod files;
pub mod retention;
pub mod summary;

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use self::board::SessionBoard;
use self::callback::SessionCallback;
use self::checkpoint::save_checkpoint;
use self::files::{
    io_error, Evaluations, RunInfo, CHECKPOINT_DIR, ENV_CONFIG_FILE, EVAL_DIR, METRICS_FILE,
    RUN_FILE, STATS_FILE, UPDATES_FILE,
};
use self::summary::StepWindow;
use crate::env::{Env, Transition};
use crate::error::Result;
use crate::ppo::{LearnOutcome, Ppo};
use crate::scheduler::SchedulerEnv;

/// How a session runs and where it writes.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The run directory.
    pub output: PathBuf,
    /// Environment steps to run in this session.
    pub timesteps: u64,
    /// Save `checkpoints/<prefix>_<N>_steps` every this many steps of the session (0: never).
    pub save_freq: u64,
    /// Evaluate every this many steps of the session (0: never).
    pub eval_freq: u64,
    /// Episodes per evaluation (deterministic policy).
    pub n_eval_episodes: usize,
    /// Print a summary every this many steps (0: never).
    pub log_freq: u64,
    /// Name prefix of the periodic checkpoints and of `<prefix>_final` / `_interrupted`.
    pub checkpoint_prefix: String,
    /// Name of the final checkpoint directory.
    pub final_name: String,
    /// Keep only the newest this many periodic checkpoints.
    pub keep_last: Option<usize>,
    /// With `keep_last`, also keep checkpoints whose step count is a multiple of this.
    pub keep_every: Option<u64>,
    /// Set by Ctrl+C: the session saves `<prefix>_interrupted` and returns.
    pub stop: Arc<AtomicBool>,
    /// Show the progress bar.
    pub progress: bool,
    /// Write TensorBoard scalars into `<output>/tensorboard/`.
    pub tensorboard: bool,
    /// Write text samples to `samples.jsonl` every this many steps of the session (0: never).
    pub sample_every: u64,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionOutcome {
    /// Completed or interrupted.
    pub outcome: LearnOutcome,
    /// The step counter at the end.
    pub num_timesteps: u64,
    /// The checkpoint written at the end (final or interrupted).
    pub checkpoint: PathBuf,
    /// Share of each action over the session, in percent.
    pub action_shares: Vec<f64>,
    /// Mean reward over the session's steps.
    pub mean_reward: f64,
}

/// Runs PPO on `env` for `options.timesteps` more steps, writing the run directory.
pub fn run_session(
    agent: &mut Ppo,
    env: SchedulerEnv,
    options: &SessionOptions,
) -> Result<SessionOutcome> {
    let out = &options.output;
    std::fs::create_dir_all(out).map_err(|e| io_error(out, e))?;
    for dir in [out.clone(), out.join(CHECKPOINT_DIR), out.join(EVAL_DIR)] {
        for path in infinito_checkpoint::remove_leftovers(&dir)? {
            eprintln!("removed {} (left by an interrupted write)", path.display());
        }
    }
    infinito_checkpoint::save_json(&out.join(ENV_CONFIG_FILE), env.config())?;
    let start_timesteps = agent.num_timesteps();
    let target = start_timesteps + options.timesteps;
    let start_unix = unix_now();
    infinito_checkpoint::save_json(
        &out.join(RUN_FILE),
        &RunInfo {
            start_timesteps,
            target_timesteps: target,
            start_unix,
            checkpoint_prefix: options.checkpoint_prefix.clone(),
        },
    )?;
    let names: Vec<String> = (0..env.n_actions())
        .map(|a| env.action_name(a).to_string())
        .collect();
    let env = Rc::new(RefCell::new(env));
    let mut callback = SessionCallback {
        env: Rc::clone(&env),
        options,
        names: names.clone(),
        start_timesteps,
        started: Instant::now(),
        metrics: BufWriter::new(append(&out.join(METRICS_FILE))?),
        metrics_path: out.join(METRICS_FILE),
        updates: BufWriter::new(append(&out.join(UPDATES_FILE))?),
        updates_path: out.join(UPDATES_FILE),
        window: StepWindow::new(names.len()),
        totals: StepWindow::new(names.len()),
        evaluations: Evaluations::load(out)?,
        best_mean: f64::NEG_INFINITY,
        bar: SessionCallback::bar(options.timesteps, options.progress),
        board: options
            .tensorboard
            .then(|| SessionBoard::create(out, names.clone(), start_timesteps))
            .transpose()?,
        since_sample: vec![0; names.len()],
    };
    callback.best_mean = callback
        .evaluations
        .means()
        .into_iter()
        .fold(f64::NEG_INFINITY, f64::max);
    let mut shared = SharedEnv(Rc::clone(&env));
    let outcome = agent.learn(&mut shared, target, &mut callback)?;
    callback.bar.finish_and_clear();
    let name = match outcome {
        LearnOutcome::Completed => options.final_name.clone(),
        LearnOutcome::Interrupted => format!("{}_interrupted", options.checkpoint_prefix),
    };
    let checkpoint = out.join(name);
    save_checkpoint(&checkpoint, agent, &env.borrow())?;
    let totals = &callback.totals;
    let end_unix = unix_now();
    let stats = json!({
        "outcome": match outcome { LearnOutcome::Completed => "completed", LearnOutcome::Interrupted => "interrupted" },
        "total_timesteps": agent.num_timesteps(),
        "session_timesteps": agent.num_timesteps() - start_timesteps,
        "start_timesteps": start_timesteps,
        "duration_seconds": end_unix - start_unix,
        "start_time": iso8601(start_unix),
        "end_time": iso8601(end_unix),
        "env_config": env.borrow().config(),
        "ppo_config": agent.config(),
        "actions": names.iter().zip(totals.action_shares()).map(|(n, s)| (n.clone(), json!(s))).collect::<serde_json::Map<_, _>>(),
        "mean_reward": totals.mean_reward(),
        "steps": totals.len(),
        "best_mean_eval_return": callback.best_mean.is_finite().then_some(callback.best_mean),
        "checkpoint": checkpoint,
    });
    infinito_checkpoint::save_json(&out.join(STATS_FILE), &stats)?;
    Ok(SessionOutcome {
        outcome,
        num_timesteps: agent.num_timesteps(),
        checkpoint,
        action_shares: totals.action_shares(),
        mean_reward: totals.mean_reward(),
    })
}

/// The environment shared between the learning loop and the callback (which saves its model
/// and runs evaluation episodes between steps).
struct SharedEnv(Rc<RefCell<SchedulerEnv>>);

impl Env for SharedEnv {
    fn observation_dim(&self) -> usize {
        self.0.borrow().observation_dim()
    }

    fn n_actions(&self) -> usize {
        self.0.borrow().n_actions()
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<Vec<f32>> {
        self.0.borrow_mut().reset(seed)
    }

    fn step(&mut self, action: usize) -> Result<Transition> {
        self.0.borrow_mut().step(action)
    }
}

fn append(path: &Path) -> Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_error(path, e))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (UTC).
pub fn iso8601(unix: f64) -> String {
    let secs = unix.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::iso8601;

    #[test]
    fn iso8601_of_known_instants() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_795_912_496.0), "2026-11-29T00:34:56Z");
    }
}
