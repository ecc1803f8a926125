//! The reward over a run: its curve (mean per bucket of steps), trend and moving average.

use serde::Serialize;

use super::{split_even, Summary};
use crate::session::files::{mean, StepLine};

/// The mean reward of one bucket of consecutive steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Step counter of the bucket's last step.
    pub timestep: u64,
    /// Steps in the bucket.
    pub steps: usize,
    /// Mean reward over them.
    pub mean: f64,
}

/// Which way the reward goes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trend {
    /// Least-squares slope of reward against the step counter, per 1000 steps (`None` with
    /// fewer than two distinct counters).
    pub slope_per_1000: Option<f64>,
    /// Mean reward over the first half of the steps.
    pub first_half_mean: f64,
    /// Mean reward over the second half (the middle step goes here when the count is odd).
    pub second_half_mean: f64,
    /// Second-half mean minus first-half mean.
    pub change: f64,
}

/// Everything `analyze_rl` reports about the reward.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewardReport {
    /// Statistics over every step.
    pub stats: Summary,
    /// Mean reward per bucket.
    pub curve: Vec<CurvePoint>,
    /// The trend.
    pub trend: Trend,
}

impl RewardReport {
    /// The report over `steps` with a curve of `buckets` buckets.
    pub fn of(steps: &[StepLine], buckets: usize) -> Self {
        let rewards: Vec<f64> = steps.iter().map(|s| s.reward).collect();
        Self {
            stats: Summary::of(&rewards),
            curve: reward_curve(steps, buckets),
            trend: trend(steps),
        }
    }
}

/// The mean reward of `buckets` consecutive near-equal buckets of `steps`.
pub fn reward_curve(steps: &[StepLine], buckets: usize) -> Vec<CurvePoint> {
    split_even(steps.len(), buckets)
        .into_iter()
        .map(|range| {
            let part = &steps[range];
            let rewards: Vec<f64> = part.iter().map(|s| s.reward).collect();
            CurvePoint {
                timestep: part[part.len() - 1].timestep,
                steps: part.len(),
                mean: mean(&rewards),
            }
        })
        .collect()
}

/// The slope and the half-against-half change of the reward over `steps`.
pub fn trend(steps: &[StepLine]) -> Trend {
    let x: Vec<f64> = steps.iter().map(|s| s.timestep as f64).collect();
    let y: Vec<f64> = steps.iter().map(|s| s.reward).collect();
    let half = y.len() / 2;
    let (first, second) = (mean(&y[..half]), mean(&y[half..]));
    Trend {
        slope_per_1000: least_squares_slope(&x, &y).map(|s| s * 1000.0),
        first_half_mean: first,
        second_half_mean: second,
        change: second - first,
    }
}

/// The slope `b` of the least-squares line `y = a + b x` (`None` when `x` has no spread).
pub fn least_squares_slope(x: &[f64], y: &[f64]) -> Option<f64> {
    let (mx, my) = (mean(x), mean(y));
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The trailing moving average: element `i` is the mean of the last `window` values up to
/// `i` (fewer at the start).
pub fn moving_average(values: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut sum = 0.0;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            sum += v;
            if i >= window {
                sum -= values[i - window];
            }
            sum / (i + 1).min(window) as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::actions::tests::step;
    use super::*;

    #[test]
    fn curve_means_per_bucket() {
        let steps: Vec<StepLine> = [1.0, 3.0, 2.0, 4.0, 6.0, 0.0]
            .iter()
            .enumerate()
            .map(|(i, &r)| step(10 * (i as u64 + 1), 0, r))
            .collect();
        let curve = reward_curve(&steps, 3);
        let got: Vec<(u64, usize, f64)> = curve
            .iter()
            .map(|p| (p.timestep, p.steps, p.mean))
            .collect();
        assert_eq!(got, vec![(20, 2, 2.0), (40, 2, 3.0), (60, 2, 3.0)]);
    }

    #[test]
    fn trend_of_a_known_line() {
        // reward = 0.5 + 0.002 * timestep: slope 2 per 1000 steps.
        let steps: Vec<StepLine> = (1..=5)
            .map(|i| step(i * 100, 0, 0.5 + 0.002 * (i * 100) as f64))
            .collect();
        let t = trend(&steps);
        assert!((t.slope_per_1000.unwrap() - 2.0).abs() < 1e-9);
        // Halves: rewards 0.7, 0.9 | 1.1, 1.3, 1.5.
        assert!((t.first_half_mean - 0.8).abs() < 1e-12);
        assert!((t.second_half_mean - 1.3).abs() < 1e-12);
        assert!((t.change - 0.5).abs() < 1e-12);
    }

    #[test]
    fn slope_by_hand_and_degenerate_cases() {
        // x 0 1 2 3, y 1 0 3 2: sxx 5, sxy 3 → 0.6.
        let s = least_squares_slope(&[0.0, 1.0, 2.0, 3.0], &[1.0, 0.0, 3.0, 2.0]).unwrap();
        assert!((s - 0.6).abs() < 1e-12);
        assert_eq!(least_squares_slope(&[2.0, 2.0], &[1.0, 5.0]), None);
        assert_eq!(trend(&[step(1, 0, 1.0)]).slope_per_1000, None);
    }

    #[test]
    fn moving_average_is_trailing() {
        assert_eq!(
            moving_average(&[2.0, 4.0, 6.0, 8.0], 2),
            vec![2.0, 3.0, 5.0, 7.0]
        );
        assert_eq!(moving_average(&[1.0, 2.0], 0), vec![1.0, 2.0]);
    }
}
