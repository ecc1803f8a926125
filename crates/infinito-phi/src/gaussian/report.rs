//! Every Gaussian measure of a time series (or of hidden states) at once, across its MIB.

use candle_core::Tensor;

use super::channels::{hidden_channels, ChannelMode};
use super::covariance::{range, CovarianceOptions, LaggedCovariance};
use super::measures::Measure;
use super::phi_g::{phi_g, PhiG};
use super::phi_star::{phi_star, PhiStar};
use super::search::{minimum_information_bipartition, Mib, SearchOptions};
use super::series::TimeSeries;
use crate::error::Result;

/// Options of [`gaussian_phi`] and [`gaussian_phi_of_series`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianOptions {
    /// Channels extracted from hidden states (ignored for a given time series).
    pub channels: usize,
    /// How hidden units become channels.
    pub mode: ChannelMode,
    /// Lag, shrinkage and ridge of the covariance estimate.
    pub covariance: CovarianceOptions,
    /// Measure, method and normalisation of the MIB search.
    pub search: SearchOptions,
    /// Also compute Phi_G across the MIB (an iterative minimisation; the slowest measure).
    pub phi_g: bool,
}

impl Default for GaussianOptions {
    fn default() -> Self {
        Self {
            channels: 8,
            mode: ChannelMode::Pca,
            covariance: CovarianceOptions::default(),
            search: SearchOptions::default(),
            phi_g: true,
        }
    }
}

/// The Gaussian information measures of one time series, in nats.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianReport {
    /// Number of channels `n`.
    pub channels: usize,
    /// Lagged pairs the covariance was estimated from.
    pub pairs: usize,
    /// Shrinkage intensity applied to the correlations.
    pub shrinkage: f64,
    /// `H(X_t)`.
    pub entropy: f64,
    /// `sum_i H(X_i,t) - H(X_t)`.
    pub multi_information: f64,
    /// `I(X_t; X_t-tau)`.
    pub mutual_information: f64,
    /// The minimum information bipartition of the searched measure.
    pub mib: Mib,
    /// Stochastic interaction across the MIB.
    pub phi_si: f64,
    /// The mutual-information form across the MIB.
    pub phi_mi: f64,
    /// Phi* across the MIB.
    pub phi_star: PhiStar,
    /// Phi_G across the MIB, when asked for.
    pub phi_g: Option<PhiG>,
    /// `H(M_k,t)` of each part of the MIB.
    pub part_entropies: Vec<f64>,
}

/// The measures of hidden states `[B, T, D]`: reduced to `options.channels` channels, time =
/// token position, the lagged pairs of the `B` sequences pooled into one covariance estimate.
pub fn gaussian_phi(hidden: &Tensor, options: &GaussianOptions) -> Result<GaussianReport> {
    let series = hidden_channels(hidden, options.channels, options.mode)?;
    gaussian_phi_of_series(&series, options)
}

/// The measures of a time series across the MIB of `options.search`.
pub fn gaussian_phi_of_series(
    series: &TimeSeries,
    options: &GaussianOptions,
) -> Result<GaussianReport> {
    let estimate = LaggedCovariance::estimate(series, &options.covariance)?;
    let cov = &estimate.covariance;
    let mib = minimum_information_bipartition(cov, &options.search)?;
    let partition = &mib.partition;
    Ok(GaussianReport {
        channels: cov.channels(),
        pairs: estimate.pairs,
        shrinkage: estimate.shrinkage,
        entropy: cov.entropy(&range(0, cov.channels()))?,
        multi_information: cov.multi_information()?,
        mutual_information: cov.mutual_information()?,
        phi_si: Measure::PhiSi.evaluate(cov, partition)?,
        phi_mi: Measure::PhiMi.evaluate(cov, partition)?,
        phi_star: phi_star(cov, partition)?,
        phi_g: options.phi_g.then(|| phi_g(cov, partition)).transpose()?,
        part_entropies: partition
            .parts()
            .iter()
            .map(|p| cov.entropy(p))
            .collect::<Result<_>>()?,
        mib,
    })
}
