//! Reading a scheduler run directory back: what `analyze_rl` reports (actions overall and per
//! phase, the reward curve and its trend, PHI/C/perplexity, episodes, evaluations) and plots,
//! what `check_progress` shows of a running session, and probing an agent's policy; and the
//! run folders of the original (stable-baselines3 checkpoints and `evaluations.npz`).

pub mod actions;
pub mod episodes;
pub mod evaluations;
pub mod metrics;
pub mod npz;
pub mod original;
pub mod plots;
pub mod probe;
pub mod progress;
pub mod report;
pub mod reward;
pub mod samples;

use std::ops::Range;
use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::scheduler::SchedulerConfig;
use crate::session::files::ENV_CONFIG_FILE;
use crate::session::summary::Stats;

/// The environment configuration of a run (`env_config.json`; the defaults when the run has
/// none, an error when it cannot be read).
pub fn run_config(run_dir: &Path) -> Result<SchedulerConfig> {
    let path = run_dir.join(ENV_CONFIG_FILE);
    if path.exists() {
        SchedulerConfig::load(&path)
    } else {
        Ok(SchedulerConfig::default())
    }
}

/// Mean, standard deviation (ddof 0), minimum and maximum of the finite values, as written in
/// the JSON reports (NaN shows as `null`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of finite values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Standard deviation (ddof 0).
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

impl Summary {
    /// The summary of `values` (non-finite values are left out).
    pub fn of(values: &[f64]) -> Self {
        let s = Stats::of(values);
        Self {
            n: s.n,
            mean: s.mean,
            std: s.std,
            min: s.min,
            max: s.max,
        }
    }

    /// `mean ± std [min, max]` with four decimals.
    pub fn brief(&self) -> String {
        Stats {
            n: self.n,
            mean: self.mean,
            std: self.std,
            min: self.min,
            max: self.max,
        }
        .brief()
    }
}

/// The index ranges of `parts` consecutive near-equal parts of `len` items (part `i` is
/// `i*len/parts .. (i+1)*len/parts`); empty parts are left out.
pub fn split_even(len: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    (0..parts)
        .map(|i| i * len / parts..(i + 1) * len / parts)
        .filter(|r| !r.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_even_covers_every_item_once() {
        assert_eq!(split_even(8, 4), vec![0..2, 2..4, 4..6, 6..8]);
        assert_eq!(split_even(10, 4), vec![0..2, 2..5, 5..7, 7..10]);
        assert_eq!(split_even(2, 4), vec![0..1, 1..2]);
        assert_eq!(split_even(0, 3), Vec::<Range<usize>>::new());
        assert_eq!(split_even(5, 0), vec![0..5]);
    }

    #[test]
    fn summary_skips_non_finite_values() {
        let s = Summary::of(&[1.0, f64::NAN, 3.0]);
        assert_eq!((s.n, s.mean, s.std, s.min, s.max), (2, 2.0, 1.0, 1.0, 3.0));
        assert_eq!(s.brief(), "2.0000 ± 1.0000 [1.0000, 3.0000]");
    }
}
