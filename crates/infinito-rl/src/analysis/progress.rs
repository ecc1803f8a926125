//! The live state of a running or finished session, read from its files (what
//! `check_progress` shows).

use std::fmt::Write;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::actions::{action_names, ActionShares};
use super::evaluations::EvalPoint;
use super::run_config;
use crate::error::{Result, RlError};
use crate::session::files::{
    list_checkpoints, mean, read_run_info, read_samples, read_steps, Evaluations, SampleLine,
    METRICS_FILE, RUN_FILE, STATS_FILE,
};
use crate::session::summary::{clock, Progress};

/// The newest periodic checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointAge {
    /// Its directory name.
    pub name: String,
    /// The step counter it was saved at.
    pub timesteps: u64,
    /// Seconds since it was written.
    pub age_seconds: f64,
}

/// Where a session stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveProgress {
    /// Steps in `metrics.jsonl`.
    pub steps_logged: usize,
    /// The step counter of the last logged step.
    pub num_timesteps: u64,
    /// The counter the session started from (`run.json`; 0 without it).
    pub start_timesteps: u64,
    /// The counter the session runs to (`run.json`).
    pub target_timesteps: Option<u64>,
    /// Steps done in this session.
    pub done: u64,
    /// Steps this session runs.
    pub total: Option<u64>,
    /// `done / total` in percent.
    pub percent: Option<f64>,
    /// Seconds since the session started, at its last logged step.
    pub elapsed_seconds: f64,
    /// Steps per second.
    pub rate: Option<f64>,
    /// Seconds left at that rate.
    pub eta_seconds: Option<f64>,
    /// The newest periodic checkpoint.
    pub last_checkpoint: Option<CheckpointAge>,
    /// Steps in the recent-reward window.
    pub recent_steps: usize,
    /// Mean reward over the last `recent_steps` steps.
    pub recent_mean_reward: f64,
    /// Mean reward over every logged step.
    pub overall_mean_reward: f64,
    /// The action names.
    pub action_names: Vec<String>,
    /// Action shares over every logged step.
    pub actions: ActionShares,
    /// Every evaluation so far, oldest first.
    pub evaluations: Vec<EvalPoint>,
    /// True when `training_stats.json` exists and is not older than `run.json`.
    pub finished: bool,
    /// The newest text samples (`samples.jsonl`), if any.
    pub latest_sample: Option<SampleLine>,
}

impl LiveProgress {
    /// Reads the run in `run_dir` at time `now`, with a recent-reward window of `recent`
    /// steps; `None` when no step is logged yet.
    pub fn read(run_dir: &Path, recent: usize, now: SystemTime) -> Result<Option<Self>> {
        if !run_dir.is_dir() {
            return Err(RlError::BadFile {
                path: run_dir.to_path_buf(),
                reason: "no such run directory".into(),
            });
        }
        if !run_dir.join(METRICS_FILE).exists() {
            return Ok(None);
        }
        let steps = read_steps(run_dir)?;
        let Some(last) = steps.last() else {
            return Ok(None);
        };
        let info = read_run_info(run_dir)?;
        let start = info.as_ref().map_or(0, |i| i.start_timesteps);
        let target = info.as_ref().map(|i| i.target_timesteps);
        let done = last.timestep.saturating_sub(start);
        let total = target.map(|t| t.saturating_sub(start));
        // Before this session logs its first step, the last record is an earlier session's.
        let elapsed = if done > 0 { last.time } else { 0.0 };
        let rate = (elapsed > 0.0).then(|| done as f64 / elapsed);
        let configured: Vec<String> = run_config(run_dir)?
            .actions
            .into_iter()
            .map(|a| a.name)
            .collect();
        let names = action_names(&configured, &steps);
        let rewards: Vec<f64> = steps.iter().map(|s| s.reward).collect();
        let window = &rewards[rewards.len().saturating_sub(recent.max(1))..];
        Ok(Some(Self {
            steps_logged: steps.len(),
            num_timesteps: last.timestep,
            start_timesteps: start,
            target_timesteps: target,
            done,
            total,
            percent: total.map(|t| 100.0 * done as f64 / t.max(1) as f64),
            elapsed_seconds: elapsed,
            rate,
            eta_seconds: total
                .zip(rate)
                .map(|(t, r)| t.saturating_sub(done) as f64 / r),
            last_checkpoint: last_checkpoint(run_dir, now),
            recent_steps: window.len(),
            recent_mean_reward: mean(window),
            overall_mean_reward: mean(&rewards),
            actions: ActionShares::of(&steps, &names),
            action_names: names,
            evaluations: EvalPoint::all(&Evaluations::load(run_dir)?),
            finished: is_finished(run_dir),
            latest_sample: read_samples(run_dir).pop(),
        }))
    }

    /// The text `check_progress` prints: progress bar, rate, checkpoint, reward, actions,
    /// the last `max_evals` evaluations and whether the run finished.
    pub fn render(&self, max_evals: usize) -> String {
        let mut out = String::new();
        let state = if self.finished { "finished" } else { "running" };
        let _ = writeln!(out, "state       {state}");
        match self.total {
            Some(total) => {
                let progress = Progress {
                    done: self.done,
                    total,
                    num_timesteps: self.num_timesteps,
                    elapsed: self.elapsed_seconds,
                };
                let _ = writeln!(out, "{}", progress.line());
            }
            None => {
                let _ = writeln!(
                    out,
                    "counter {} (no run.json: target unknown) | elapsed {}",
                    self.num_timesteps,
                    clock(self.elapsed_seconds)
                );
            }
        }
        let rate = self.rate.map_or("?".into(), |r| format!("{r:.2}"));
        let _ = writeln!(out, "rate        {rate} steps/s");
        match &self.last_checkpoint {
            Some(c) => {
                let _ = writeln!(out, "checkpoint  {} ({} ago)", c.name, clock(c.age_seconds));
            }
            None => {
                let _ = writeln!(out, "checkpoint  none yet");
            }
        }
        let _ = writeln!(
            out,
            "reward      recent {:+.4} (last {} steps) | overall {:+.4} ({} steps)",
            self.recent_mean_reward, self.recent_steps, self.overall_mean_reward, self.steps_logged
        );
        let _ = writeln!(out, "actions     {}", self.actions.line(&self.action_names));
        let _ = writeln!(out, "            {}", self.actions.remark);
        if self.evaluations.is_empty() {
            let _ = writeln!(out, "evaluations none yet");
        } else {
            let _ = writeln!(out, "evaluations {}", self.evaluations.len());
            let skip = self.evaluations.len().saturating_sub(max_evals);
            for e in &self.evaluations[skip..] {
                let change = e.change.map_or(String::new(), |c| format!("({c:+.4})"));
                let line = format!(
                    "  step {:>8}  mean {:+.4}  {change:<10} {}",
                    e.timestep,
                    e.returns.mean,
                    e.mark()
                );
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
        self.render_sample(&mut out);
        out
    }

    /// The newest sample: its step, quality and each prompt's text with PHI and perplexity.
    fn render_sample(&self, out: &mut String) {
        let Some(line) = &self.latest_sample else {
            return;
        };
        let q = |key: &str| {
            line.quality
                .get(key)
                .and_then(|v| v.as_f64())
                .map_or("-".to_string(), |v| format!("{v:.3}"))
        };
        let _ = writeln!(
            out,
            "sample      at step {}: distinct-2 {} | repeated 3-grams {} | ppl {}",
            line.timestep,
            q("distinct_2"),
            q("repeated_ngram_rate"),
            q("perplexity")
        );
        for s in &line.samples {
            let ppl = s.perplexity.map_or("-".to_string(), |p| format!("{p:.2}"));
            let text = s.text.replace('\n', " ");
            let _ = writeln!(out, "  [PHI {:.3}, ppl {ppl}] {text}", s.phi);
        }
    }
}

/// The newest periodic checkpoint of `run_dir` and its age at `now`.
fn last_checkpoint(run_dir: &Path, now: SystemTime) -> Option<CheckpointAge> {
    let (timesteps, path) = list_checkpoints(run_dir).pop()?;
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    Some(CheckpointAge {
        name: path.file_name()?.to_string_lossy().into_owned(),
        timesteps,
        age_seconds: now
            .duration_since(modified)
            .map_or(0.0, |d| d.as_secs_f64()),
    })
}

/// True when `training_stats.json` exists and was written no earlier than `run.json` (a
/// continued session rewrites `run.json` at its start).
pub fn is_finished(run_dir: &Path) -> bool {
    let modified = |name: &str| {
        std::fs::metadata(run_dir.join(name))
            .and_then(|m| m.modified())
            .ok()
    };
    match (modified(STATS_FILE), modified(RUN_FILE)) {
        (Some(stats), Some(run)) => stats >= run,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::session::files::{RunInfo, CHECKPOINT_DIR};

    /// Metrics lines with the given counters, actions, rewards and times.
    fn metrics(rows: &[(u64, usize, f64, f64)]) -> String {
        rows.iter()
            .map(|&(t, a, r, time)| {
                format!(
                    r#"{{"timestep":{t},"episode":0,"action":{a},"mode":"","reward":{r},"phi":4,"c":0.4,"ppl":50,"loss_text":3,"time":{time}}}"#
                ) + "\n"
            })
            .collect()
    }

    #[test]
    fn live_numbers_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        assert_eq!(LiveProgress::read(run, 2, SystemTime::now()).unwrap(), None);
        let info = RunInfo {
            start_timesteps: 100,
            target_timesteps: 200,
            start_unix: 0.0,
            checkpoint_prefix: "p".into(),
        };
        infinito_checkpoint::save_json(&run.join(RUN_FILE), &info).unwrap();
        // An earlier session's step, then 40 steps of this one in 10 s.
        let mut rows = vec![(100, 0, 9.0, 500.0)];
        rows.extend((1..=40).map(|i| (100 + i, (i % 2) as usize, i as f64, i as f64 / 4.0)));
        std::fs::write(run.join(METRICS_FILE), metrics(&rows)).unwrap();
        std::fs::create_dir_all(run.join(CHECKPOINT_DIR).join("p_120_steps")).unwrap();
        std::fs::create_dir_all(run.join(CHECKPOINT_DIR).join("p_130_steps")).unwrap();
        let later = SystemTime::now() + Duration::from_secs(90);
        let p = LiveProgress::read(run, 2, later).unwrap().unwrap();
        assert_eq!((p.done, p.total, p.num_timesteps), (40, Some(100), 140));
        assert_eq!(p.percent, Some(40.0));
        assert_eq!(p.elapsed_seconds, 10.0);
        assert_eq!(p.rate, Some(4.0));
        assert_eq!(p.eta_seconds, Some(15.0));
        let c = p.last_checkpoint.clone().unwrap();
        assert_eq!((c.name.as_str(), c.timesteps), ("p_130_steps", 130));
        assert!(c.age_seconds >= 89.0, "{}", c.age_seconds);
        // Last two rewards 39, 40; all: 9 + 1..=40 over 41 steps.
        assert_eq!((p.recent_steps, p.recent_mean_reward), (2, 39.5));
        assert!((p.overall_mean_reward - (9.0 + 820.0) / 41.0).abs() < 1e-12);
        // Actions: 21 zeros (one earlier), 20 ones, no MIXED.
        assert_eq!(p.actions.counts, vec![21, 20, 0]);
        assert!(!p.finished);
        let text = p.render(5);
        assert!(text.contains("state       running"), "{text}");
        assert!(text.contains("ETA 0:00:15"), "{text}");
        assert!(text.contains("rate        4.00 steps/s"), "{text}");
        std::fs::write(run.join(STATS_FILE), "{}").unwrap();
        assert!(LiveProgress::read(run, 2, later).unwrap().unwrap().finished);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let e = LiveProgress::read(Path::new("/nonexistent/run"), 10, SystemTime::now());
        assert!(e.unwrap_err().to_string().contains("no such run directory"));
    }
}
