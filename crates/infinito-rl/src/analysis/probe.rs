//! Probing an agent: its action probabilities, value and deterministic action for given
//! observations (`analyze_rl --probe`).

use std::path::Path;

use serde::Serialize;

use crate::error::{Result, RlError};
use crate::ppo::Ppo;

/// What the agent makes of one observation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeLine {
    /// The observation.
    pub obs: Vec<f32>,
    /// Probability of each action.
    pub probs: Vec<f32>,
    /// The critic's value.
    pub value: f32,
    /// The deterministic action (the most probable one).
    pub action: usize,
}

impl ProbeLine {
    /// Runs `agent` on `obs`.
    pub fn of(agent: &Ppo, obs: Vec<f32>) -> Result<Self> {
        Ok(Self {
            probs: agent.action_probs(&obs)?,
            value: agent.value(&obs)?,
            action: agent.predict(&obs, true)?,
            obs,
        })
    }
}

/// Reads observations from `path`: one JSON array of `dim` numbers per line, blank lines
/// ignored; a bad line is an error naming its number.
pub fn read_observations(path: &Path, dim: usize) -> Result<Vec<Vec<f32>>> {
    let bad = |reason: String| RlError::BadFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let obs: Vec<f32> = serde_json::from_str(line).map_err(|e| {
                bad(format!(
                    "line {}: expected a JSON array of numbers ({e})",
                    i + 1
                ))
            })?;
            if obs.len() != dim {
                return Err(bad(format!(
                    "line {}: {} values, the agent expects {dim}",
                    i + 1,
                    obs.len()
                )));
            }
            Ok(obs)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppo::PpoConfig;

    #[test]
    fn reads_lines_and_names_the_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("obs.jsonl");
        std::fs::write(&path, "[1, 2.5]\n\n  \n[-0.25, 0]\n").unwrap();
        assert_eq!(
            read_observations(&path, 2).unwrap(),
            vec![vec![1.0, 2.5], vec![-0.25, 0.0]]
        );
        std::fs::write(&path, "[1, 2]\n[1, x]\n").unwrap();
        let e = read_observations(&path, 2).unwrap_err().to_string();
        assert!(
            e.contains("obs.jsonl: line 2: expected a JSON array"),
            "{e}"
        );
        std::fs::write(&path, "[1, 2]\n\n[1]\n").unwrap();
        let e = read_observations(&path, 2).unwrap_err().to_string();
        assert!(e.contains("line 3: 1 values, the agent expects 2"), "{e}");
    }

    #[test]
    fn probe_matches_the_agent_and_argmax() {
        let agent = Ppo::new(3, 3, PpoConfig::default(), 5).unwrap();
        let line = ProbeLine::of(&agent, vec![0.5, -1.0, 2.0]).unwrap();
        assert!((line.probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let argmax = (0..3)
            .max_by(|&a, &b| line.probs[a].total_cmp(&line.probs[b]))
            .unwrap();
        assert_eq!(line.action, argmax);
        assert_eq!(line.value, agent.value(&line.obs).unwrap());
    }
}
