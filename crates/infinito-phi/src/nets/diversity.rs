//! AttentionDiversityNet: each head's attention map pooled to 8x8 and embedded by its own
//! processor, then fused.
//!
//! All heads are pooled together, and the H head processors run as one batched gemm with their
//! weights stacked to (H, 64, J).

use crate::layers::{LayerNorm, Linear};
use crate::mode::Mode;
use crate::params::Params;
use candle_core::{Result, Tensor};
use infinito_kernels::{self as ops, adaptive_avg_pool_8x8};

pub(crate) struct DiversityNet {
    heads: Vec<Linear>,
    fusion: Linear,
    fusion_norm: LayerNorm,
    output_mlp: [Linear; 2],
}

impl DiversityNet {
    pub(crate) fn new(p: &Params, heads: usize, j: usize) -> Result<Self> {
        let hp = p.pp("head_processors");
        let (fu, om) = (p.pp("fusion"), p.pp("output_mlp"));
        Ok(Self {
            heads: (0..heads)
                .map(|h| Linear::new(&hp.pp(h), 2, 64, j))
                .collect::<Result<_>>()?,
            fusion: Linear::new(&fu, 0, heads * j, j)?,
            fusion_norm: LayerNorm::new(&fu, 1, j)?,
            output_mlp: [
                Linear::new(&om, 0, j, j / 2)?,
                Linear::new(&om, 2, j / 2, 1)?,
            ],
        })
    }

    /// (B, H, T, T) -> (B,).
    pub(crate) fn forward(&self, attn: &Tensor, mode: &Mode) -> Result<Tensor> {
        let b = attn.dim(0)?;
        let h = self.heads.len();
        // (B, H, 64) -> (H, B, 64) x (H, 64, J) -> (H, B, J)
        let pooled = adaptive_avg_pool_8x8(attn)?.transpose(0, 1)?;
        let w: Vec<_> = self
            .heads
            .iter()
            .map(|l| l.weight.t())
            .collect::<Result<_>>()?;
        let bias: Vec<_> = self.heads.iter().map(|l| l.bias.clone()).collect();
        let per_head = pooled
            .matmul(&Tensor::stack(&w, 0)?)?
            .broadcast_add(&Tensor::stack(&bias, 0)?.unsqueeze(1)?)?;
        let per_head = ops::relu(&per_head)?;
        let j = per_head.dim(2)?;
        let cat = per_head.transpose(0, 1)?.reshape((b, h * j))?;
        let f = self.fusion_norm.forward(&self.fusion.forward(&cat)?)?;
        let f = mode.dropout(&ops::relu(&f)?)?;
        let o = self.output_mlp[0].forward_relu(&f)?;
        candle_nn::ops::sigmoid(&self.output_mlp[1].forward(&o)?)?.squeeze(1)
    }
}
