//! The files of a scheduler run directory, and the records they hold.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, RlError};

/// The environment configuration of the run.
pub const ENV_CONFIG_FILE: &str = "env_config.json";
/// Target and start of the current session (read by `check_progress`).
pub const RUN_FILE: &str = "run.json";
/// One JSON record per environment step.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// One JSON record per PPO update.
pub const UPDATES_FILE: &str = "updates.jsonl";
/// Text samples on fixed prompts every `--sample-every` steps, one JSON record per line.
pub const SAMPLES_FILE: &str = "samples.jsonl";
/// Written when a session ends.
pub const STATS_FILE: &str = "training_stats.json";
/// Periodic checkpoints.
pub const CHECKPOINT_DIR: &str = "checkpoints";
/// The checkpoint with the best mean evaluation return.
pub const BEST_DIR: &str = "best_model";
/// Evaluations (`evaluations.json`, `evaluations.csv`).
pub const EVAL_DIR: &str = "eval_logs";
/// The evaluations as JSON.
pub const EVAL_JSON: &str = "evaluations.json";
/// The evaluations as CSV.
pub const EVAL_CSV: &str = "evaluations.csv";
/// The inner trainer's working directory (its text log).
pub const ENV_WORKDIR: &str = "env";

/// What `run.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Step counter when the session started.
    pub start_timesteps: u64,
    /// Step counter the session runs to.
    pub target_timesteps: u64,
    /// Session start, seconds since the Unix epoch.
    pub start_unix: f64,
    /// Name prefix of the periodic checkpoints.
    pub checkpoint_prefix: String,
}

/// One line of `metrics.jsonl` (the fields the tools read; the file has more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLine {
    /// Step counter after this step.
    pub timestep: u64,
    /// Episode number within the environment.
    pub episode: u64,
    /// The action taken.
    pub action: usize,
    /// Its name.
    pub mode: String,
    /// The reward.
    pub reward: f64,
    /// Learned PHI after the step (NaN when it was not finite, written as `null`).
    #[serde(deserialize_with = "nan_if_null")]
    pub phi: f64,
    /// C after the step.
    #[serde(deserialize_with = "nan_if_null")]
    pub c: f64,
    /// Perplexity of the last inner batch.
    #[serde(deserialize_with = "nan_if_null")]
    pub ppl: f64,
    /// LM loss of the last inner batch.
    #[serde(deserialize_with = "nan_if_null")]
    pub loss_text: f64,
    /// Seconds since the session started.
    pub time: f64,
    /// Return of the episode that ended with this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode_return: Option<f64>,
    /// Length of the episode that ended with this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode_length: Option<u64>,
}

/// Reads a number written as `null` (JSON has no NaN) back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Evaluation results: SB3's `evaluations.npz` arrays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluations {
    /// Step counter of each evaluation.
    pub timesteps: Vec<u64>,
    /// Per evaluation, the return of each episode.
    pub results: Vec<Vec<f64>>,
    /// Per evaluation, the length of each episode.
    pub ep_lengths: Vec<Vec<u64>>,
}

impl Evaluations {
    /// Mean return of each evaluation.
    pub fn means(&self) -> Vec<f64> {
        self.results.iter().map(|r| mean(r)).collect()
    }

    /// Writes `evaluations.json` and `evaluations.csv` (one row per episode) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        infinito_checkpoint::save_json(&dir.join(EVAL_JSON), self)?;
        let mut csv = String::from("timesteps,episode,return,length\n");
        for ((t, returns), lengths) in self
            .timesteps
            .iter()
            .zip(&self.results)
            .zip(&self.ep_lengths)
        {
            for (i, (r, l)) in returns.iter().zip(lengths).enumerate() {
                csv.push_str(&format!("{t},{i},{r},{l}\n"));
            }
        }
        infinito_checkpoint::write_atomic(&dir.join(EVAL_CSV), csv.as_bytes())?;
        Ok(())
    }

    /// Reads `evaluations.json` from a run directory; empty if there is none yet.
    pub fn load(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(EVAL_DIR).join(EVAL_JSON);
        if !path.exists() {
            return Ok(Self::default());
        }
        Ok(infinito_checkpoint::load_json(&path)?)
    }
}

/// Reads every complete line of `metrics.jsonl` in `run_dir` (a last line cut short by a running
/// writer is skipped); a complete line that is not a step record (NaN, garbage) is an error
/// naming its line number.
pub fn read_steps(run_dir: &Path) -> Result<Vec<StepLine>> {
    let path = run_dir.join(METRICS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RlError::BadFile {
            path: path.clone(),
            reason: "not found: is this a scheduler run directory?".into(),
        },
        _ => io_error(&path, e),
    })?;
    let complete = text.matches('\n').count();
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match serde_json::from_str(line) {
            Ok(step) => steps.push(step),
            Err(_) if i >= complete => {}
            Err(e) => {
                return Err(RlError::BadFile {
                    path,
                    reason: format!("line {} is not a step record: {e}", i + 1),
                })
            }
        }
    }
    Ok(steps)
}

/// Reads `run.json` of a run directory, if present.
pub fn read_run_info(run_dir: &Path) -> Result<Option<RunInfo>> {
    let path = run_dir.join(RUN_FILE);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(infinito_checkpoint::load_json(&path)?))
}

/// The periodic checkpoints of a run (`checkpoints/<prefix>_<N>_steps`), oldest first.
pub fn list_checkpoints(run_dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(run_dir.join(CHECKPOINT_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let steps = name
                .strip_suffix("_steps")?
                .rsplit('_')
                .next()?
                .parse()
                .ok()?;
            Some((steps, entry.path()))
        })
        .collect();
    found.sort();
    found
}

/// Deletes the files a scheduler run wrote in `run_dir` (and nothing else there).
pub fn clear_run(run_dir: &Path) -> Result<()> {
    for file in [
        ENV_CONFIG_FILE,
        RUN_FILE,
        METRICS_FILE,
        UPDATES_FILE,
        STATS_FILE,
        SAMPLES_FILE,
    ] {
        let path = run_dir.join(file);
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
        }
    }
    let entries = std::fs::read_dir(run_dir).map_err(|e| io_error(run_dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let ours = [CHECKPOINT_DIR, BEST_DIR, EVAL_DIR, ENV_WORKDIR].contains(&name.as_str())
            || name.ends_with("_final")
            || name.ends_with("_interrupted");
        if ours && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(|e| io_error(&entry.path(), e))?;
        }
    }
    Ok(())
}

/// One record of `samples.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleLine {
    /// Step counter when the samples were drawn.
    pub timestep: u64,
    /// One sample per prompt: `prompt`, `text`, `phi`, `perplexity`.
    pub samples: Vec<crate::scheduler::PromptSample>,
    /// Pooled quality of the continuations (`distinct_2`, `repeated_ngram_rate`, `perplexity`, ...).
    pub quality: serde_json::Value,
    /// Share of each action (percent) over the steps since the previous sample.
    pub action_shares: std::collections::BTreeMap<String, f64>,
}

/// Reads `samples.jsonl` of a run (none when absent); unreadable lines are skipped.
pub fn read_samples(run_dir: &Path) -> Vec<SampleLine> {
    std::fs::read_to_string(run_dir.join(SAMPLES_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The mean of `values` (NaN when empty).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

pub(crate) fn io_error(path: &Path, e: std::io::Error) -> RlError {
    RlError::BadFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_metrics_read_as_nan() {
        let line = r#"{"timestep":3,"episode":1,"action":0,"mode":"TEXT","reward":0.5,"phi":null,"c":0.4,"ppl":null,"loss_text":4.0,"time":1.0}"#;
        let step: StepLine = serde_json::from_str(line).expect("parses");
        assert!(step.phi.is_nan() && step.ppl.is_nan());
        assert_eq!(step.c, 0.4);
    }
}
