//! The periodic evaluations of a run (`eval_logs/evaluations.json`): per evaluation, best,
//! stability, halves, overfitting and a verdict, as the original `analyze_rl_detailed.py`.

use serde::Serialize;

use super::Summary;
use crate::session::files::{mean, Evaluations};

/// One evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalPoint {
    /// Step counter when it ran.
    pub timestep: u64,
    /// Statistics of its episode returns.
    pub returns: Summary,
    /// The episode returns.
    pub episodes: Vec<f64>,
    /// Mean episode length.
    pub mean_length: f64,
    /// Mean return minus the previous evaluation's (`None` for the first).
    pub change: Option<f64>,
}

impl EvalPoint {
    /// Every evaluation of `evaluations`, oldest first.
    pub fn all(evaluations: &Evaluations) -> Vec<Self> {
        let mut previous: Option<f64> = None;
        evaluations
            .timesteps
            .iter()
            .zip(&evaluations.results)
            .enumerate()
            .map(|(i, (&timestep, returns))| {
                let lengths: Vec<f64> = evaluations
                    .ep_lengths
                    .get(i)
                    .map(|l| l.iter().map(|&x| x as f64).collect())
                    .unwrap_or_default();
                let returns_summary = Summary::of(returns);
                let change = previous.map(|p| returns_summary.mean - p);
                previous = Some(returns_summary.mean);
                Self {
                    timestep,
                    returns: returns_summary,
                    episodes: returns.clone(),
                    mean_length: mean(&lengths),
                    change,
                }
            })
            .collect()
    }

    /// `✅` when the mean beat the previous evaluation's, `❌` when not, blank for the first.
    pub fn mark(&self) -> &'static str {
        match self.change {
            Some(c) if c > 0.0 => "✅",
            Some(_) => "❌",
            None => "  ",
        }
    }
}

/// The best evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BestEval {
    /// 0-based index among the evaluations.
    pub index: usize,
    /// Its step counter.
    pub timestep: u64,
    /// Its mean return.
    pub mean: f64,
}

/// How steady the evaluations are.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stability {
    /// Statistics of the evaluation means (their std is the between-evaluation spread).
    pub means: Summary,
    /// Mean of the within-evaluation standard deviations.
    pub mean_within_std: f64,
    /// Step counter of the evaluation with the smallest within-evaluation std.
    pub most_stable_timestep: u64,
    /// Step counter of the evaluation with the largest within-evaluation std.
    pub least_stable_timestep: u64,
}

/// Everything `analyze_rl` reports about the evaluations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Each evaluation, oldest first.
    pub evaluations: Vec<EvalPoint>,
    /// The one with the highest mean return (the first of equals).
    pub best: BestEval,
    /// Spread between and within evaluations.
    pub stability: Stability,
    /// Mean of the evaluation means of the first half (the middle one goes to the second).
    pub first_half_mean: f64,
    /// Mean of the evaluation means of the second half.
    pub second_half_mean: f64,
    /// Change from the first to the second half, in percent of |first half| (`None` when the
    /// first half is empty or zero).
    pub half_change_percent: Option<f64>,
    /// True when the best evaluation is not the last one (possible overfitting).
    pub overfitting_warning: bool,
    /// `high` (std of the means > 3), `low` (< 1) or `moderate`.
    pub variability: &'static str,
    /// Judgement of the best mean on the original's reward scale: `excellent` (> 7), `good`
    /// (> 5), `acceptable` (> 0) or `needs work`.
    pub verdict: &'static str,
}

impl EvalReport {
    /// The report, or `None` when there is no evaluation yet.
    pub fn of(evaluations: &Evaluations) -> Option<Self> {
        let points = EvalPoint::all(evaluations);
        let means: Vec<f64> = points.iter().map(|p| p.returns.mean).collect();
        let argmax = |key: &dyn Fn(&EvalPoint) -> f64| {
            (0..points.len()).reduce(|a, b| {
                if key(&points[b]) > key(&points[a]) {
                    b
                } else {
                    a
                }
            })
        };
        let best = argmax(&|p| p.returns.mean)?;
        let least_stable = argmax(&|p| p.returns.std)?;
        let most_stable = argmax(&|p| -p.returns.std)?;
        let half = means.len() / 2;
        let (first, second) = (mean(&means[..half]), mean(&means[half..]));
        let half_change_percent =
            (first.is_finite() && first != 0.0).then(|| (second - first) / first.abs() * 100.0);
        let stds: Vec<f64> = points.iter().map(|p| p.returns.std).collect();
        let spread = Summary::of(&means);
        let best_mean = means[best];
        Some(Self {
            best: BestEval {
                index: best,
                timestep: points[best].timestep,
                mean: best_mean,
            },
            stability: Stability {
                means: spread,
                mean_within_std: mean(&stds),
                most_stable_timestep: points[most_stable].timestep,
                least_stable_timestep: points[least_stable].timestep,
            },
            first_half_mean: first,
            second_half_mean: second,
            half_change_percent,
            overfitting_warning: best != points.len() - 1,
            variability: match spread.std {
                s if s > 3.0 => "high",
                s if s < 1.0 => "low",
                _ => "moderate",
            },
            verdict: match best_mean {
                m if m > 7.0 => "excellent",
                m if m > 5.0 => "good",
                m if m > 0.0 => "acceptable",
                _ => "needs work",
            },
            evaluations: points,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Evaluations {
        Evaluations {
            timesteps: vec![100, 200, 300, 400],
            results: vec![
                vec![1.0, 3.0],
                vec![4.0, 4.0],
                vec![6.0, 8.0, 7.0],
                vec![5.0, 1.0],
            ],
            ep_lengths: vec![vec![10, 20], vec![10, 10], vec![5, 5, 5], vec![8, 8]],
        }
    }

    #[test]
    fn report_by_hand() {
        let r = EvalReport::of(&sample()).unwrap();
        // Means 2, 4, 7, 3; within stds 1, 0, sqrt(2/3), 2.
        let means: Vec<f64> = r.evaluations.iter().map(|p| p.returns.mean).collect();
        assert_eq!(means, vec![2.0, 4.0, 7.0, 3.0]);
        let changes: Vec<Option<f64>> = r.evaluations.iter().map(|p| p.change).collect();
        assert_eq!(changes, vec![None, Some(2.0), Some(3.0), Some(-4.0)]);
        let marks: Vec<&str> = r.evaluations.iter().map(|p| p.mark()).collect();
        assert_eq!(marks, vec!["  ", "✅", "✅", "❌"]);
        assert_eq!(r.evaluations[0].mean_length, 15.0);
        assert_eq!(
            r.best,
            BestEval {
                index: 2,
                timestep: 300,
                mean: 7.0
            }
        );
        assert!(r.overfitting_warning);
        assert_eq!(r.stability.most_stable_timestep, 200);
        assert_eq!(r.stability.least_stable_timestep, 400);
        let within = (1.0 + 0.0 + (2.0f64 / 3.0).sqrt() + 2.0) / 4.0;
        assert!((r.stability.mean_within_std - within).abs() < 1e-12);
        // Means 2, 4, 7, 3: mean 4, std sqrt(3.5).
        assert_eq!(r.stability.means.mean, 4.0);
        assert!((r.stability.means.std - 3.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(r.variability, "moderate");
        // Halves 3 and 5: +66.7%.
        assert_eq!((r.first_half_mean, r.second_half_mean), (3.0, 5.0));
        assert!((r.half_change_percent.unwrap() - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.verdict, "good");
    }

    #[test]
    fn single_and_missing_evaluations() {
        assert_eq!(EvalReport::of(&Evaluations::default()), None);
        let one = Evaluations {
            timesteps: vec![50],
            results: vec![vec![-0.5, -1.5]],
            ep_lengths: vec![vec![4, 4]],
        };
        let r = EvalReport::of(&one).unwrap();
        assert!(!r.overfitting_warning);
        assert_eq!(r.half_change_percent, None);
        assert_eq!(r.second_half_mean, -1.0);
        assert_eq!(r.verdict, "needs work");
        assert_eq!(r.variability, "low");
    }
}
