//! Run folders written by the original Python scheduler (stable-baselines3's
//! `CheckpointCallback` and `EvalCallback`): `checkpoints/<prefix>_<N>_steps.zip`,
//! `eval_logs/evaluations.npz`, `best_model/best_model.zip`, and `<name>_final.zip` /
//! `_interrupted.zip` at the top.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::evaluations::EvalReport;
use super::npz::read_npz;
use super::probe::ProbeLine;
use crate::error::{Result, RlError};
use crate::ppo::{ConfigOverrides, Ppo};
use crate::session::files::{
    Evaluations, BEST_DIR, CHECKPOINT_DIR, EVAL_DIR, METRICS_FILE, RUN_FILE,
};

/// SB3's evaluation log inside `eval_logs/`.
pub const EVAL_NPZ: &str = "evaluations.npz";
/// SB3's best model inside `best_model/`.
pub const BEST_ZIP: &str = "best_model.zip";

/// Observations the agents are probed on (the original's six raw values: C, PHI, text loss,
/// PHI loss, memory use, time since the last breakthrough), with what they stand for.
pub const PROBES: [(&str, [f32; 6]); 3] = [
    ("typical", [0.45, 4.5, 4.2, 0.4, 0.1, 0.05]),
    ("high PHI", [0.65, 6.5, 3.9, 0.0, 0.2, 0.5]),
    ("low PHI", [0.25, 2.5, 5.0, 1.0, 0.0, 1.0]),
];

/// What a run folder holds.
#[derive(Debug, Clone, PartialEq)]
pub enum RunFolder {
    /// A run of ours (`run.json` or `metrics.jsonl`).
    Ours,
    /// A folder written by the original (stable-baselines3 files).
    Original(OriginalRun),
}

impl RunFolder {
    /// Tells the two apart; a folder with neither is an error naming what was expected.
    pub fn detect(dir: &Path) -> Result<Self> {
        let bad = |reason: &str| RlError::BadFile {
            path: dir.to_path_buf(),
            reason: reason.into(),
        };
        if !dir.is_dir() {
            return Err(bad("no such run directory"));
        }
        if dir.join(RUN_FILE).exists() || dir.join(METRICS_FILE).exists() {
            return Ok(Self::Ours);
        }
        match OriginalRun::find(dir)? {
            Some(run) => Ok(Self::Original(run)),
            None => Err(bad(
                "not a scheduler run: expected run.json / metrics.jsonl (train_phi_text_scheduler, continue_training_rl) or the original's checkpoints/*_steps.zip, eval_logs/evaluations.npz, best_model/best_model.zip",
            )),
        }
    }
}

/// The stable-baselines3 files of an original run folder.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginalRun {
    /// The folder.
    pub dir: PathBuf,
    /// Periodic checkpoints: (step count from the name, path), oldest first.
    pub checkpoints: Vec<(u64, PathBuf)>,
    /// `*.zip` agents at the top of the folder (final, interrupted).
    pub top_level: Vec<PathBuf>,
    /// `best_model/best_model.zip`, if present.
    pub best_model: Option<PathBuf>,
    /// `eval_logs/evaluations.npz`, if present.
    pub evaluations: Option<Evaluations>,
}

impl OriginalRun {
    /// The SB3 files in `dir`; `None` when it holds none of them.
    pub fn find(dir: &Path) -> Result<Option<Self>> {
        let mut checkpoints: Vec<(u64, PathBuf)> = zips_in(&dir.join(CHECKPOINT_DIR))
            .into_iter()
            .filter_map(|p| Some((steps_in_name(&p)?, p)))
            .collect();
        checkpoints.sort();
        let best = dir.join(BEST_DIR).join(BEST_ZIP);
        let npz = dir.join(EVAL_DIR).join(EVAL_NPZ);
        let run = Self {
            dir: dir.to_path_buf(),
            checkpoints,
            top_level: zips_in(dir),
            best_model: best.is_file().then_some(best),
            evaluations: npz.is_file().then(|| read_evaluations(&npz)).transpose()?,
        };
        let empty = run.checkpoints.is_empty()
            && run.top_level.is_empty()
            && run.best_model.is_none()
            && run.evaluations.is_none();
        Ok((!empty).then_some(run))
    }

    /// The newest agent: the top-level zip or the periodic checkpoint with the most steps.
    fn newest(&self) -> Result<Option<AgentReport>> {
        let mut newest: Option<AgentReport> = None;
        let candidates = self
            .top_level
            .iter()
            .chain(self.checkpoints.last().map(|(_, p)| p));
        for path in candidates {
            let agent = AgentReport::of(path)?;
            if newest
                .as_ref()
                .is_none_or(|n| agent.num_timesteps > n.num_timesteps)
            {
                newest = Some(agent);
            }
        }
        Ok(newest)
    }
}

/// Reads SB3's `evaluations.npz` (`timesteps`, `results`, `ep_lengths`).
pub fn read_evaluations(path: &Path) -> Result<Evaluations> {
    let mut arrays = read_npz(path)?;
    let mut take = |key: &str| {
        arrays.remove(key).ok_or_else(|| RlError::BadFile {
            path: path.to_path_buf(),
            reason: format!("no '{key}' array (expected SB3's evaluations.npz)"),
        })
    };
    let timesteps = take("timesteps")?;
    let results = take("results")?.rows();
    let lengths = take("ep_lengths")?.rows();
    if results.len() != timesteps.data.len() || lengths.len() != timesteps.data.len() {
        return Err(RlError::BadFile {
            path: path.to_path_buf(),
            reason: format!(
                "{} timesteps but {} result rows and {} length rows",
                timesteps.data.len(),
                results.len(),
                lengths.len()
            ),
        });
    }
    Ok(Evaluations {
        timesteps: timesteps.data.iter().map(|&t| t as u64).collect(),
        results,
        ep_lengths: lengths
            .into_iter()
            .map(|row| row.into_iter().map(|l| l as u64).collect())
            .collect(),
    })
}

/// An SB3 agent of the folder and its policy on [`PROBES`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentReport {
    /// The `.zip`.
    pub path: PathBuf,
    /// Its step counter.
    pub num_timesteps: u64,
    /// What it does on each probe observation.
    pub probes: Vec<NamedProbe>,
}

/// A probe observation's name and the agent's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedProbe {
    /// What the observation stands for.
    pub name: &'static str,
    /// Probabilities, value and deterministic action.
    #[serde(flatten)]
    pub line: ProbeLine,
}

impl AgentReport {
    /// Loads the agent in `path` and probes it.
    pub fn of(path: &Path) -> Result<Self> {
        let agent = Ppo::from_sb3_zip(path, &ConfigOverrides::default())?.agent;
        let probes = if agent.obs_dim() == PROBES[0].1.len() {
            PROBES
                .iter()
                .map(|(name, obs)| {
                    Ok(NamedProbe {
                        name,
                        line: ProbeLine::of(&agent, obs.to_vec())?,
                    })
                })
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        Ok(Self {
            path: path.to_path_buf(),
            num_timesteps: agent.num_timesteps(),
            probes,
        })
    }
}

/// What `check_progress` and `analyze_rl` report of an original run folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OriginalReport {
    /// The folder.
    pub run_dir: PathBuf,
    /// Always `"stable-baselines3"`: the folder was written by the original.
    pub format: &'static str,
    /// The step count of the newest agent (or of the newest checkpoint name).
    pub num_timesteps: Option<u64>,
    /// Periodic checkpoints: step count and path, oldest first.
    pub checkpoints: Vec<CheckpointEntry>,
    /// The newest agent and its probes.
    pub newest: Option<AgentReport>,
    /// The best model and its probes.
    pub best_model: Option<AgentReport>,
    /// The evaluation curve and its analysis.
    pub evaluations: Option<EvalReport>,
}

/// One periodic checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointEntry {
    /// The step count in its name.
    pub steps: u64,
    /// Its path.
    pub path: PathBuf,
}

/// Action names of the original's scheduler.
const ACTIONS: [&str; 3] = ["TEXT", "PHI", "MIXED"];

impl OriginalReport {
    /// Reads the agents and evaluations of `run`.
    pub fn of(run: &OriginalRun) -> Result<Self> {
        let newest = run.newest()?;
        let best_model = run.best_model.as_deref().map(AgentReport::of).transpose()?;
        let num_timesteps = newest
            .as_ref()
            .map(|a| a.num_timesteps)
            .or(run.checkpoints.last().map(|(s, _)| *s));
        Ok(Self {
            run_dir: run.dir.clone(),
            format: "stable-baselines3",
            num_timesteps,
            checkpoints: run
                .checkpoints
                .iter()
                .map(|(steps, path)| CheckpointEntry {
                    steps: *steps,
                    path: path.clone(),
                })
                .collect(),
            newest,
            best_model,
            evaluations: run.evaluations.as_ref().and_then(EvalReport::of),
        })
    }

    /// The text report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "run         {} (stable-baselines3 run folder)",
            self.run_dir.display()
        );
        match self.num_timesteps {
            Some(n) => {
                let _ = writeln!(out, "steps       {n}");
            }
            None => {
                let _ = writeln!(out, "steps       unknown");
            }
        }
        let steps: Vec<String> = self
            .checkpoints
            .iter()
            .map(|c| c.steps.to_string())
            .collect();
        let _ = writeln!(
            out,
            "checkpoints {} ({})",
            self.checkpoints.len(),
            if steps.is_empty() {
                "none".into()
            } else {
                steps.join(", ")
            }
        );
        for (label, agent) in [("newest", &self.newest), ("best model", &self.best_model)] {
            if let Some(agent) = agent {
                render_agent(label, agent, &mut out);
            }
        }
        match &self.evaluations {
            Some(e) => super::report::render_evaluations(e, &mut out),
            None => {
                let _ = writeln!(
                    out,
                    "\n== evaluations ==\nnone (no eval_logs/evaluations.npz)"
                );
            }
        }
        out
    }
}

fn render_agent(label: &str, agent: &AgentReport, out: &mut String) {
    let _ = writeln!(
        out,
        "\n== {label}: {} (step {}) ==",
        agent.path.display(),
        agent.num_timesteps
    );
    for p in &agent.probes {
        let probs: Vec<String> = p
            .line
            .probs
            .iter()
            .enumerate()
            .map(|(a, pr)| format!("{} {:.1}%", ACTIONS.get(a).unwrap_or(&"?"), 100.0 * pr))
            .collect();
        let _ = writeln!(
            out,
            "probe {:<9} {} -> {} | value {:+.4}",
            p.name,
            probs.join(", "),
            ACTIONS.get(p.line.action).unwrap_or(&"?"),
            p.line.value
        );
    }
}

/// The `*.zip` files directly in `dir`, by name.
fn zips_in(dir: &Path) -> Vec<PathBuf> {
    let mut zips: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "zip"))
        .collect();
    zips.sort();
    zips
}

/// `N` of `<prefix>_<N>_steps.zip`.
fn steps_in_name(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?.strip_suffix("_steps")?;
    stem.rsplit('_').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_counts_from_checkpoint_names() {
        let n = |s: &str| steps_in_name(Path::new(s));
        assert_eq!(n("c/ppo_infinito_scheduler_30000_steps.zip"), Some(30000));
        assert_eq!(n("c/ppo_continued_5_steps.zip"), Some(5));
        assert_eq!(n("c/ppo_infinito_scheduler_final.zip"), None);
        assert_eq!(n("c/x_steps.zip"), None);
    }
}
