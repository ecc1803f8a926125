//! TemporalCoherenceNet: how well consecutive hidden states fit together.

use crate::layers::{LayerNorm, Linear};
use crate::mode::Mode;
use crate::params::Params;
use candle_core::{DType, Result, Tensor};
use infinito_kernels as ops;

pub(crate) struct TemporalNet {
    input_proj: Linear,
    blocks: [(Linear, LayerNorm); 3],
    output_proj: Linear,
}

impl TemporalNet {
    pub(crate) fn new(p: &Params, d: usize, i: usize) -> Result<Self> {
        let block = |k: usize| -> Result<(Linear, LayerNorm)> {
            Ok((
                Linear::new(p, format!("fc{k}"), i, i)?,
                LayerNorm::new(p, format!("layer_norm{k}"), i)?,
            ))
        };
        Ok(Self {
            input_proj: Linear::new(p, "input_proj", 2 * d, i)?,
            blocks: [block(1)?, block(2)?, block(3)?],
            output_proj: Linear::new(p, "output_proj", i, 1)?,
        })
    }

    /// (B, T, D) -> (B,): mean over the T-1 consecutive pairs of sigmoid scores; zeros if T < 2.
    pub(crate) fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        if t < 2 {
            return Tensor::zeros(b, DType::F32, x.device());
        }
        // input_proj(concat(x_t, x_{t+1})) = x_t W_a^T + x_{t+1} W_b^T + bias, with W = [W_a | W_b]:
        // one gemm of all T states against both halves (the bias added to the first), then a
        // shifted sum (no (T-1, 2D) concatenation).
        let (w, bias) = (&self.input_proj.weight, &self.input_proj.bias);
        let i = w.dim(0)?;
        let halves = Tensor::cat(&[w.narrow(1, 0, d)?, w.narrow(1, d, d)?], 0)?;
        let halves_bias = Tensor::cat(&[bias.clone(), bias.zeros_like()?], 0)?;
        let both = ops::linear(x, &halves, &halves_bias, false)?;
        let first = both.narrow(1, 0, t - 1)?.narrow(2, 0, i)?;
        let second = both.narrow(1, 1, t - 1)?.narrow(2, i, i)?;
        let pre = (first + second)?;
        let mut y = mode.dropout(&ops::relu(&pre)?)?;
        for (fc, ln) in &self.blocks {
            y = (&y + mode.dropout(&ops::relu(&ln.forward(&fc.forward(&y)?)?)?)?)?;
        }
        candle_nn::ops::sigmoid(&self.output_proj.forward(&y)?)?
            .squeeze(2)?
            .mean(1)
    }
}
