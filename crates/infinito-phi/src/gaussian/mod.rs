//! Gaussian information measures of multivariate time series and their minimum information
//! bipartition.
//!
//! For `n` channels `X_t`, everything derives from one estimate of the covariance of the lagged
//! pairs `[X_t; X_t-tau]` ([`LaggedCovariance`]): entropy, multi-information, past-present
//! mutual information, and integrated information across a partition of the channels —
//! stochastic interaction Phi_SI and the mutual-information form Phi_MI (Barrett & Seth 2011),
//! Phi* from mismatched decoding (Oizumi et al. 2016) and geometric Phi_G (Oizumi, Tsuchiya &
//! Amari 2016). [`minimum_information_bipartition`] finds the bipartition across which a measure
//! is smallest, exhaustively or by Queyranne's algorithm; [`gaussian_phi`] does it all for
//! hidden states `[B, T, D]`. All values are in nats.
//!
//! The linear algebra is small, dense and f64: Cholesky log-determinants of sub-blocks, no
//! explicit determinants; a singular covariance is an error
//! ([`crate::PhiError::SingularCovariance`]) unless regularised by a ridge or shrinkage.

mod channels;
mod covariance;
mod linalg;
mod measures;
mod partition;
mod phi_g;
mod phi_star;
mod queyranne;
mod report;
mod search;
mod series;

pub use channels::{hidden_channels, ChannelMode};
pub use covariance::{CovarianceOptions, Estimate, LaggedCovariance, Shrinkage};
pub use linalg::Matrix;
pub use measures::Measure;
pub use partition::Partition;
pub use phi_g::{phi_g, PhiG};
pub use phi_star::{phi_star, PhiStar};
pub use report::{gaussian_phi, gaussian_phi_of_series, GaussianOptions, GaussianReport};
pub use search::{
    minimum_information_bipartition, Mib, Search, SearchOptions, AUTO_EXHAUSTIVE_MAX,
    EXHAUSTIVE_MAX,
};
pub use series::TimeSeries;
