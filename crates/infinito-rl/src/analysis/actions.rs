//! How often each action was chosen, over a whole run and per phase.

use serde::Serialize;

use super::split_even;
use crate::session::files::StepLine;
use crate::session::summary::action_remark;

/// The action names of a run: `configured` (from its environment config), extended with
/// `action<i>` for any larger action index the steps use.
pub fn action_names(configured: &[String], steps: &[StepLine]) -> Vec<String> {
    let used = steps.iter().map(|s| s.action + 1).max().unwrap_or(0);
    let mut names = configured.to_vec();
    for i in names.len()..used {
        names.push(format!("action{i}"));
    }
    names
}

/// Counts and shares of each action over some steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionShares {
    /// Times each action was chosen.
    pub counts: Vec<u64>,
    /// Share of each action, in percent.
    pub percent: Vec<f64>,
    /// Unexplored, dominated or balanced (see [`action_remark`]).
    pub remark: String,
}

impl ActionShares {
    /// The shares of the actions named `names` over `steps`.
    pub fn of(steps: &[StepLine], names: &[String]) -> Self {
        let mut counts = vec![0u64; names.len()];
        for step in steps {
            if let Some(n) = counts.get_mut(step.action) {
                *n += 1;
            }
        }
        let total = counts.iter().sum::<u64>().max(1) as f64;
        let percent: Vec<f64> = counts.iter().map(|&n| 100.0 * n as f64 / total).collect();
        Self {
            remark: action_remark(names, &percent),
            counts,
            percent,
        }
    }

    /// `TEXT  50.0% | PHI  25.0% | MIXED  25.0%`.
    pub fn line(&self, names: &[String]) -> String {
        names
            .iter()
            .zip(&self.percent)
            .map(|(name, p)| format!("{name} {p:5.1}%"))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// The actions of one phase of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    /// 1-based phase number.
    pub phase: usize,
    /// Step counter of the phase's first step.
    pub first_timestep: u64,
    /// Step counter of the phase's last step.
    pub last_timestep: u64,
    /// Counts and shares within the phase.
    #[serde(flatten)]
    pub actions: ActionShares,
}

/// The action shares of `n_phases` consecutive parts of `steps` with equal step counts
/// (the last parts are longer by one when the count does not divide; empty parts are left
/// out when there are fewer steps than phases).
pub fn phases(steps: &[StepLine], names: &[String], n_phases: usize) -> Vec<Phase> {
    split_even(steps.len(), n_phases)
        .into_iter()
        .enumerate()
        .map(|(i, range)| {
            let part = &steps[range];
            Phase {
                phase: i + 1,
                first_timestep: part[0].timestep,
                last_timestep: part[part.len() - 1].timestep,
                actions: ActionShares::of(part, names),
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A step with the given counter, action and reward (other metrics fixed).
    pub(crate) fn step(timestep: u64, action: usize, reward: f64) -> StepLine {
        StepLine {
            timestep,
            episode: 0,
            action,
            mode: String::new(),
            reward,
            phi: 4.0,
            c: 0.4,
            ppl: 50.0,
            loss_text: 3.0,
            time: timestep as f64,
            episode_return: None,
            episode_length: None,
        }
    }

    pub(crate) fn names() -> Vec<String> {
        ["TEXT", "PHI", "MIXED"].map(String::from).into()
    }

    #[test]
    fn shares_overall_and_per_phase() {
        // Actions 0 0 0 1 | 1 1 2 2 over two phases.
        let steps: Vec<StepLine> = [0, 0, 0, 1, 1, 1, 2, 2]
            .iter()
            .enumerate()
            .map(|(i, &a)| step(i as u64 + 1, a, 0.0))
            .collect();
        let all = ActionShares::of(&steps, &names());
        assert_eq!(all.counts, vec![3, 3, 2]);
        assert_eq!(all.percent, vec![37.5, 37.5, 25.0]);
        assert_eq!(all.remark, "balanced");
        assert_eq!(
            all.line(&names()),
            "TEXT  37.5% | PHI  37.5% | MIXED  25.0%"
        );
        let p = phases(&steps, &names(), 2);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].first_timestep, p[0].last_timestep), (1, 4));
        assert_eq!(p[0].actions.percent, vec![75.0, 25.0, 0.0]);
        assert_eq!(p[0].actions.remark, "MIXED never chosen: not explored");
        assert_eq!(
            (p[1].phase, p[1].first_timestep, p[1].last_timestep),
            (2, 5, 8)
        );
        assert_eq!(p[1].actions.counts, vec![0, 2, 2]);
    }

    #[test]
    fn names_grow_for_unknown_actions() {
        let steps = vec![step(1, 4, 0.0)];
        let n = action_names(&names(), &steps);
        assert_eq!(n[3..], ["action3".to_string(), "action4".to_string()]);
        assert_eq!(ActionShares::of(&steps, &n).counts, vec![0, 0, 0, 0, 1]);
    }
}
