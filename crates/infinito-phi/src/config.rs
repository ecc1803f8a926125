//! Configuration of the learned PHI module.

use crate::error::{PhiError, Result};

/// How the ComplexityNet normalises its three convolution branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ComplexityNorm {
    /// `BatchNorm1d` as in the original: batch statistics over (B, T) in train mode (the running
    /// statistics are updated), running statistics in eval mode. A sample's PHI then depends on the
    /// other samples of its batch in train mode.
    #[default]
    BatchNorm,
    /// Per-sample normalisation: each sample's branch output is normalised over its channels and
    /// time steps together (`GroupNorm` with one group, biased variance, eps 1e-5), then scaled and
    /// shifted per channel by the BatchNorm's `weight`/`bias`. Identical in train and eval mode;
    /// running statistics are neither used nor updated (they stay in the state dict).
    PerSample,
}

/// The per-head attention features that the IntegrationNet feeds to its `attention_mlp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionFeatures {
    /// As in the original: the mean of each head's attention matrix over (query, key). For
    /// row-stochastic attention this is 1/T for every head, a constant input.
    #[default]
    MeanAttention,
    /// Per head, the mean over query rows of the row entropy `-sum_k a_qk ln(a_qk + 1e-10)`,
    /// divided by `ln T` (0 for T < 2): 0 when every query attends to one key, 1 when every query
    /// attends uniformly to all T keys.
    Entropy,
}

/// Sizes and options of [`crate::LearnedPhi`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhiConfig {
    /// Hidden size D of the scored activations (768 for GPT-2 small).
    pub hidden_dim: usize,
    /// Attention heads H of the scored attention maps (number of diversity head processors).
    pub num_heads: usize,
    /// Internal width of the TemporalCoherenceNet (original: 128).
    pub temporal_dim: usize,
    /// Internal width of the IntegrationNet (original: 256; divisible by 4, the encoder's heads).
    pub integration_dim: usize,
    /// Internal width of the ComplexityNet (original: 128).
    pub complexity_dim: usize,
    /// Internal width of the AttentionDiversityNet (original: 64).
    pub diversity_dim: usize,
    /// Dropout probability of every dropout in train mode (original: 0.1).
    pub dropout: f32,
    /// Normalisation of the ComplexityNet branches.
    pub complexity_norm: ComplexityNorm,
    /// Attention features of the IntegrationNet.
    pub attention_features: AttentionFeatures,
}

impl PhiConfig {
    /// The original widths and options for the given D and H.
    pub fn new(hidden_dim: usize, num_heads: usize) -> Self {
        Self {
            hidden_dim,
            num_heads,
            temporal_dim: 128,
            integration_dim: 256,
            complexity_dim: 128,
            diversity_dim: 64,
            dropout: 0.1,
            complexity_norm: ComplexityNorm::BatchNorm,
            attention_features: AttentionFeatures::MeanAttention,
        }
    }

    /// Checks that every size is usable by the architecture.
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("hidden_dim", self.hidden_dim),
            ("num_heads", self.num_heads),
            ("temporal_dim", self.temporal_dim),
            ("integration_dim", self.integration_dim),
            ("complexity_dim", self.complexity_dim),
            ("diversity_dim", self.diversity_dim),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(PhiError::Config(format!("{name} must be positive")));
        }
        if !self.integration_dim.is_multiple_of(4) {
            return Err(PhiError::Config(format!(
                "integration_dim {} must be divisible by 4 (encoder heads)",
                self.integration_dim
            )));
        }
        if self.complexity_dim < 2 || self.diversity_dim < 2 {
            return Err(PhiError::Config(
                "complexity_dim and diversity_dim must be at least 2".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(PhiError::Config(format!(
                "dropout {} must be in [0, 1)",
                self.dropout
            )));
        }
        Ok(())
    }
}

impl Default for PhiConfig {
    /// GPT-2 small: D = 768, H = 12.
    fn default() -> Self {
        Self::new(768, 12)
    }
}
