//! PHI, C and perplexity over a run, against the reward's bands.

use serde::Serialize;

use super::Summary;
use crate::scheduler::RewardConfig;
use crate::session::files::StepLine;

/// Statistics of the model's metrics over a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsReport {
    /// Learned PHI after each step.
    pub phi: Summary,
    /// C after each step.
    pub c: Summary,
    /// Perplexity of each step's last batch.
    pub ppl: Summary,
    /// The reward's PHI band `[low, high]`.
    pub phi_band: [f64; 2],
    /// The reward's perplexity band `[low, high]`.
    pub ppl_band: [f64; 2],
    /// Share of steps (with a finite PHI) whose PHI lies in the band, in percent.
    pub phi_in_band_percent: f64,
    /// Share of steps (with a finite perplexity) below the band's low end (collapse), in
    /// percent.
    pub ppl_below_band_percent: f64,
    /// Share of steps (with a finite perplexity) above the band's high end (confusion), in
    /// percent.
    pub ppl_above_band_percent: f64,
}

impl MetricsReport {
    /// The report over `steps`, judged against the bands of `reward`.
    pub fn of(steps: &[StepLine], reward: &RewardConfig) -> Self {
        let phi: Vec<f64> = steps.iter().map(|s| s.phi).collect();
        let c: Vec<f64> = steps.iter().map(|s| s.c).collect();
        let ppl: Vec<f64> = steps.iter().map(|s| s.ppl).collect();
        let [lo, hi] = reward.phi_band;
        Self {
            phi: Summary::of(&phi),
            c: Summary::of(&c),
            ppl: Summary::of(&ppl),
            phi_band: reward.phi_band,
            ppl_band: reward.ppl_band,
            phi_in_band_percent: percent_where(&phi, |v| (lo..=hi).contains(&v)),
            ppl_below_band_percent: percent_where(&ppl, |v| v < reward.ppl_band[0]),
            ppl_above_band_percent: percent_where(&ppl, |v| v > reward.ppl_band[1]),
        }
    }
}

/// The share of the finite `values` for which `test` holds, in percent (NaN when none is
/// finite).
pub fn percent_where(values: &[f64], test: impl Fn(f64) -> bool) -> f64 {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return f64::NAN;
    }
    let hits = finite.iter().filter(|&&v| test(v)).count();
    100.0 * hits as f64 / finite.len() as f64
}

#[cfg(test)]
mod tests {
    use super::super::actions::tests::step;
    use super::*;

    #[test]
    fn band_shares_by_hand() {
        let mut steps: Vec<StepLine> = (1..=4).map(|t| step(t, 0, 0.0)).collect();
        // PHI 2, 3, 6, 7 against [3, 6]: two of four inside (the ends count).
        // ppl 5, 9.99, 250, NaN against [10, 200]: two of three finite values below, one above.
        for (s, (phi, ppl)) in
            steps
                .iter_mut()
                .zip([(2.0, 5.0), (3.0, 9.99), (6.0, 250.0), (7.0, f64::NAN)])
        {
            s.phi = phi;
            s.ppl = ppl;
        }
        let m = MetricsReport::of(&steps, &RewardConfig::default());
        assert_eq!(m.phi_in_band_percent, 50.0);
        assert!((m.ppl_below_band_percent - 200.0 / 3.0).abs() < 1e-12);
        assert!((m.ppl_above_band_percent - 100.0 / 3.0).abs() < 1e-12);
        assert_eq!((m.phi.mean, m.phi.min, m.phi.max), (4.5, 2.0, 7.0));
        assert_eq!(m.ppl.n, 3);
        assert_eq!(m.c.mean, 0.4);
        assert!(percent_where(&[f64::NAN], |_| true).is_nan());
    }
}
