//! The episodes that ended during a run (from the steps that carry `episode_return`).

use serde::Serialize;

use super::Summary;
use crate::session::files::{mean, StepLine};

/// Episodes reported by `analyze_rl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpisodeReport {
    /// Episodes that ended.
    pub count: usize,
    /// Their returns.
    pub returns: Summary,
    /// Their lengths in steps.
    pub lengths: Summary,
    /// Mean return of the last (up to) ten episodes.
    pub last_10_mean: f64,
    /// Return of the last episode.
    pub last_return: Option<f64>,
}

impl EpisodeReport {
    /// The episodes that ended within `steps`.
    pub fn of(steps: &[StepLine]) -> Self {
        let returns: Vec<f64> = steps.iter().filter_map(|s| s.episode_return).collect();
        let lengths: Vec<f64> = steps
            .iter()
            .filter_map(|s| s.episode_length.map(|l| l as f64))
            .collect();
        Self {
            count: returns.len(),
            returns: Summary::of(&returns),
            lengths: Summary::of(&lengths),
            last_10_mean: mean(&returns[returns.len().saturating_sub(10)..]),
            last_return: returns.last().copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::actions::tests::step;
    use super::*;

    #[test]
    fn returns_from_ending_steps_only() {
        let mut steps: Vec<StepLine> = (1..=30).map(|t| step(t, 0, 0.0)).collect();
        // Twelve episodes end, with returns 1..=12 and lengths 2.
        for (k, s) in steps.iter_mut().skip(1).step_by(2).take(12).enumerate() {
            s.episode_return = Some(k as f64 + 1.0);
            s.episode_length = Some(2);
        }
        let e = EpisodeReport::of(&steps);
        assert_eq!(e.count, 12);
        assert_eq!(
            (e.returns.mean, e.returns.min, e.returns.max),
            (6.5, 1.0, 12.0)
        );
        assert_eq!(e.lengths.mean, 2.0);
        // Last ten: 3..=12.
        assert_eq!(e.last_10_mean, 7.5);
        assert_eq!(e.last_return, Some(12.0));
        assert!(EpisodeReport::of(&steps[..1]).last_10_mean.is_nan());
    }
}
