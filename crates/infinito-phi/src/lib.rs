//! PHI metrics of infinito.
//!
//! * [`LearnedPhi`]: the learned PHI of the original system ("ImprovedIITMetricsV2"): a temporal
//!   coherence net, an integration net (transformer encoder layer + attention features), a
//!   complexity net (three 1-D convolutions with BatchNorm) and an attention diversity net
//!   (8x8 adaptive pooling per head), mixed by softmax weights and scaled to [0, 10]. Parameters
//!   carry the original state-dict names, so PyTorch checkpoints load and round-trip.
//! * [`statistical`]: the older parameter-free measures.
//! * [`gaussian`]: principled integrated-information measures of time series under a Gaussian
//!   model (Phi_SI, Phi_MI, Phi*, Phi_G) and the minimum information bipartition search,
//!   applicable to hidden states ([`gaussian_phi`]).
//!
//! Options that default to the original behaviour fix two of its defects: [`ComplexityNorm`]
//! (per-sample normalisation instead of BatchNorm) and [`AttentionFeatures`] (informative
//! attention features for the integration net).
//!
//! The hot spots run on the fused kernels of `infinito-kernels` (CPU), with candle's
//! differentiable tensor ops on every other device.
//!
//! # Example
//!
//! Gaussian integrated information of hidden states `[batch, tokens, width]`:
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use infinito_phi::{gaussian_phi, GaussianOptions};
//!
//! let hidden = Tensor::randn(0f32, 1.0, (2, 64, 16), &Device::Cpu)?;
//! let options = GaussianOptions {
//!     channels: 4,
//!     ..GaussianOptions::default()
//! };
//! let report = gaussian_phi(&hidden, &options)?;
//! assert_eq!(report.channels, 4);
//! assert!(report.phi_si.is_finite() && report.phi_mi.is_finite());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch_norm;
mod config;
mod error;
pub mod gaussian;
mod layers;
mod learned;
mod mode;
mod nets;
mod params;
pub mod statistical;
mod weights;

pub use config::{AttentionFeatures, ComplexityNorm, PhiConfig};
pub use error::{PhiError, Result};
pub use gaussian::{gaussian_phi, GaussianOptions, GaussianReport};
pub use learned::{LearnedPhi, PhiComponents};
pub use weights::find_prefix;
