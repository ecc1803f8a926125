//! The integrated-information measures that are sums of Gaussian log-determinants over the parts
//! of a partition: stochastic interaction, the mutual-information form and the mutual information
//! between the parts' trajectories.

use super::covariance::{range, LaggedCovariance, LogDets, Scratch};
use super::partition::Partition;
use crate::error::{PhiError, Result};

/// A measure of integration across a partition `{M_1, ..., M_m}` of the channels, in nats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Measure {
    /// Stochastic interaction (Ay; Barrett & Seth 2011):
    /// `sum_k H(M_k,t | M_k,t-tau) - H(X_t | X_t-tau)`, at least 0.
    PhiSi,
    /// The mutual-information form of Barrett & Seth (2011):
    /// `I(X_t; X_t-tau) - sum_k I(M_k,t; M_k,t-tau)`; can be negative.
    PhiMi,
    /// The mutual information (total correlation) between the parts' trajectories
    /// `[M_k,t, M_k,t-tau]`: `sum_k H(M_k,t, M_k,t-tau) - H(X_t, X_t-tau)`. Symmetric submodular
    /// over bipartitions (Hidaka & Oizumi 2018), so Queyranne's search is exact for it.
    PartsMutualInformation,
}

impl Measure {
    /// The name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Measure::PhiSi => "phi_si",
            Measure::PhiMi => "phi_mi",
            Measure::PartsMutualInformation => "parts_mutual_information",
        }
    }

    /// The measure across `partition`.
    pub fn evaluate(self, covariance: &LaggedCovariance, partition: &Partition) -> Result<f64> {
        let n = covariance.channels();
        if partition.channels() != n {
            return Err(PhiError::Config(format!(
                "partition of {} channels for a covariance of {n}",
                partition.channels()
            )));
        }
        let mut scratch = Scratch::default();
        let whole = covariance.log_dets(&range(0, n), &mut scratch)?;
        let parts = partition
            .parts()
            .iter()
            .map(|p| covariance.log_dets(p, &mut scratch))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.combine(&parts, &whole))
    }

    /// The measure from the log-determinants of the parts and of the whole system (the
    /// `ln(2 pi e)` terms cancel because the parts cover the channels exactly once).
    pub(crate) fn combine(self, parts: &[LogDets], whole: &LogDets) -> f64 {
        let sum = |f: fn(&LogDets) -> f64| parts.iter().map(f).sum::<f64>() - f(whole);
        0.5 * match self {
            // H(M_t | M_t-tau) = (|M| ln 2 pi e + ln det joint - ln det past) / 2.
            Measure::PhiSi => sum(|d| d.joint - d.past),
            // I(M_t; M_t-tau) = (ln det present + ln det past - ln det joint) / 2.
            Measure::PhiMi => -sum(|d| d.present + d.past - d.joint),
            Measure::PartsMutualInformation => sum(|d| d.joint),
        }
    }
}
