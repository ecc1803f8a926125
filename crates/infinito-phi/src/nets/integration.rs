//! IntegrationNet: a transformer encoder layer over the projected states, mean-pooled, fused with
//! per-head attention features.

use super::encoder::EncoderLayer;
use crate::config::AttentionFeatures;
use crate::layers::{LayerNorm, Linear};
use crate::mode::Mode;
use crate::params::Params;
use candle_core::{DType, Result, Tensor, D};
use infinito_kernels as ops;

/// Keeps `ln` finite on exact zeros in the entropy features.
const ENTROPY_EPS: f64 = 1e-10;

pub(crate) struct IntegrationNet {
    input_proj: Linear,
    encoder: EncoderLayer,
    attention_mlp: [Linear; 2],
    fusion: Linear,
    fusion_norm: LayerNorm,
    output_mlp: [Linear; 2],
    features: AttentionFeatures,
}

impl IntegrationNet {
    pub(crate) fn new(
        p: &Params,
        d: usize,
        heads: usize,
        i: usize,
        features: AttentionFeatures,
    ) -> Result<Self> {
        let (am, fu, om) = (p.pp("attention_mlp"), p.pp("fusion"), p.pp("output_mlp"));
        Ok(Self {
            input_proj: Linear::new(p, "input_proj", d, i)?,
            encoder: EncoderLayer::new(&p.pp("transformer_layer"), i)?,
            attention_mlp: [
                Linear::new(&am, 0, heads, i / 4)?,
                Linear::new(&am, 3, i / 4, i / 4)?,
            ],
            fusion: Linear::new(&fu, 0, i + i / 4, i)?,
            fusion_norm: LayerNorm::new(&fu, 1, i)?,
            output_mlp: [
                Linear::new(&om, 0, i, i / 2)?,
                Linear::new(&om, 3, i / 2, 1)?,
            ],
            features,
        })
    }

    /// (B, T, D) and optional (B, H, T, T) -> (B,).
    pub(crate) fn forward(&self, x: &Tensor, attn: Option<&Tensor>, mode: &Mode) -> Result<Tensor> {
        let encoded = self.encoder.forward(&self.input_proj.forward(x)?, mode)?;
        let pooled = ops::mean_over_time(&encoded)?;
        let attn_feats = match attn {
            Some(a) => {
                let h = self.attention_mlp[0].forward_relu(&self.head_features(a)?)?;
                self.attention_mlp[1].forward(&mode.dropout(&h)?)?
            }
            None => {
                let width = self.attention_mlp[1].weight.dim(0)?;
                Tensor::zeros((x.dim(0)?, width), DType::F32, x.device())?
            }
        };
        let fused = self
            .fusion
            .forward(&Tensor::cat(&[pooled, attn_feats], 1)?)?;
        let fused = mode.dropout(&ops::relu(&self.fusion_norm.forward(&fused)?)?)?;
        let h = mode.dropout(&self.output_mlp[0].forward_relu(&fused)?)?;
        candle_nn::ops::sigmoid(&self.output_mlp[1].forward(&h)?)?.squeeze(1)
    }

    /// (B, H, T, T) -> (B, H) according to [`AttentionFeatures`].
    fn head_features(&self, attn: &Tensor) -> Result<Tensor> {
        let (b, h, t, _) = attn.dims4()?;
        match self.features {
            AttentionFeatures::MeanAttention => {
                // One gemm against a constant column: a parallel, memory-bound pass.
                let avg = Tensor::full(1.0 / (t * t) as f32, (t * t, 1), attn.device())?;
                attn.reshape((b * h, t * t))?.matmul(&avg)?.reshape((b, h))
            }
            AttentionFeatures::Entropy if t < 2 => Tensor::zeros((b, h), DType::F32, attn.device()),
            AttentionFeatures::Entropy => {
                let plogp = (attn * (attn + ENTROPY_EPS)?.log()?)?;
                plogp.sum(D::Minus1)?.mean(D::Minus1)? * (-1.0 / (t as f64).ln())
            }
        }
    }
}
