//! Means with 95% confidence intervals over seeds (Student's t), unpaired and paired.

use serde::Serialize;

/// A mean and its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub mean: f64,
    /// `[lo, hi]`: `mean ∓ t(0.975, n−1) · sd / √n` (both equal to the mean for one value).
    pub ci95: [f64; 2],
}

/// Two-sided 97.5% quantiles of Student's t for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The t quantile for `df` degrees of freedom (the normal 1.96 beyond 30).
fn t975(df: usize) -> f64 {
    T975.get(df.wrapping_sub(1)).copied().unwrap_or(1.96)
}

impl Estimate {
    /// Mean and 95% interval of `values` (NaN values are left out; none left: NaN).
    pub fn of(values: &[f64]) -> Self {
        let v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        let n = v.len();
        if n == 0 {
            return Self {
                mean: f64::NAN,
                ci95: [f64::NAN; 2],
            };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Self {
                mean,
                ci95: [mean, mean],
            };
        }
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t975(n - 1) * (var / n as f64).sqrt();
        Self {
            mean,
            ci95: [mean - half, mean + half],
        }
    }

    /// Mean and 95% interval of the paired differences `a[i] − b[i]`.
    pub fn paired(a: &[f64], b: &[f64]) -> Self {
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        Self::of(&d)
    }

    /// True when the whole interval lies below zero.
    pub fn below_zero(&self) -> bool {
        self.ci95[1] < 0.0
    }

    /// True when the whole interval lies above zero.
    pub fn above_zero(&self) -> bool {
        self.ci95[0] > 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scipy.stats.t.interval(0.95, 4, loc=3, scale=sem([1,2,3,4,5])) = (1.0368, 4.9632).
    #[test]
    fn t_interval_matches_scipy() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        assert!((e.ci95[0] - 1.0368).abs() < 1e-3 && (e.ci95[1] - 4.9632).abs() < 1e-3);
        assert_eq!(Estimate::of(&[2.0]).ci95, [2.0, 2.0]);
        assert!(Estimate::of(&[]).mean.is_nan());
        let p = Estimate::paired(&[1.0, 2.0, 3.0], &[2.0, 3.1, 3.9]);
        assert!(p.below_zero() && !p.above_zero(), "{p:?}");
    }
}
