//! `nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=2d, relu, batch_first, post-norm)`.

use crate::layers::{LayerNorm, Linear};
use crate::mode::Mode;
use crate::params::{ParamInit, Params};
use candle_core::{Result, Tensor};
use infinito_kernels as ops;

/// Heads of the encoder's self-attention (fixed by the original).
const HEADS: usize = 4;

pub(crate) struct EncoderLayer {
    in_proj: Linear,
    out_proj: Linear,
    linear1: Linear,
    linear2: Linear,
    norm1: LayerNorm,
    norm2: LayerNorm,
}

impl EncoderLayer {
    pub(crate) fn new(p: &Params, d: usize) -> Result<Self> {
        let attn = p.pp("self_attn");
        // nn.MultiheadAttention: Xavier-uniform packed (q, k, v) projection, zero biases.
        let xavier = ParamInit::Uniform((6.0 / (4 * d) as f64).sqrt());
        let in_proj = Linear {
            weight: attn.get((3 * d, d), "in_proj_weight", xavier)?,
            bias: attn.get(3 * d, "in_proj_bias", ParamInit::Const(0.0))?,
        };
        let out = attn.pp("out_proj");
        let out_proj = Linear {
            weight: out.get((d, d), "weight", ParamInit::fan_in(d))?,
            bias: out.get(d, "bias", ParamInit::Const(0.0))?,
        };
        Ok(Self {
            in_proj,
            out_proj,
            linear1: Linear::new(p, "linear1", d, 2 * d)?,
            linear2: Linear::new(p, "linear2", 2 * d, d)?,
            norm1: LayerNorm::new(p, "norm1", d)?,
            norm2: LayerNorm::new(p, "norm2", d)?,
        })
    }

    /// (B, T, d) -> (B, T, d), bidirectional (no mask).
    pub(crate) fn forward(&self, z: &Tensor, mode: &Mode) -> Result<Tensor> {
        let sa = self.self_attention(z, mode)?;
        let z = self.norm1.forward(&(z + mode.dropout(&sa)?)?)?;
        let hidden = mode.dropout(&self.linear1.forward_relu(&z)?)?;
        let ff = self.linear2.forward(&hidden)?;
        self.norm2.forward(&(&z + mode.dropout(&ff)?)?)
    }

    fn self_attention(&self, z: &Tensor, mode: &Mode) -> Result<Tensor> {
        let qkv = self.in_proj.forward(z)?;
        let ctx = ops::attention(&qkv, HEADS, mode.dropout_draw())?;
        self.out_proj.forward(&ctx)
    }
}
