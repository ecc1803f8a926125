//! Small layers shared by the GPT-2 blocks: Hugging Face `Conv1D`, a LayerNorm that keeps its
//! gradient in training, and mode-aware dropout and softmax.

use candle_core::{Result, Tensor, D};
use candle_nn::VarBuilder;

/// Whether a forward pass trains (dropout on, autograd-friendly ops) or evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

impl Mode {
    /// True in training mode.
    pub fn is_train(self) -> bool {
        self == Mode::Train
    }
}

/// `x · w` over the last dimension of `x` (any rank) with `w` of shape `[in, out]`.
pub fn matmul_last(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    let n_in = dims[dims.len() - 1];
    let rows = x.elem_count() / n_in.max(1);
    let y = x.reshape((rows, n_in))?.matmul(w)?;
    let mut out_dims = dims.to_vec();
    *out_dims.last_mut().expect("a tensor of rank >= 1") = w.dim(1)?;
    y.reshape(out_dims)
}

/// Hugging Face `Conv1D`: `y = x · W + b` with `W` stored `[in, out]`.
#[derive(Debug, Clone)]
pub struct Conv1D {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Conv1D {
    /// Loads `weight` `[n_in, n_out]` and `bias` `[n_out]`.
    pub fn load(vb: VarBuilder, n_in: usize, n_out: usize) -> Result<Self> {
        Ok(Self {
            weight: vb.get((n_in, n_out), "weight")?,
            bias: vb.get(n_out, "bias")?,
        })
    }

    /// Applies the layer over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        matmul_last(x, &self.weight)?.broadcast_add(&self.bias)
    }
}

/// LayerNorm over the last dimension (PyTorch semantics, biased variance).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads `weight` and `bias` of length `size`.
    pub fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps,
        })
    }

    /// Normalises `x`; the fused kernel is used in evaluation, differentiable ops in training.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        if !mode.is_train() && x.is_contiguous() {
            return candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps as f32);
        }
        let mean = x.mean_keepdim(D::Minus1)?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centered.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }
}

/// Inverted dropout with probability `p`, active only in training mode.
pub fn dropout(x: &Tensor, p: f32, mode: Mode) -> Result<Tensor> {
    if mode.is_train() && p > 0.0 {
        candle_nn::ops::dropout(x, p)
    } else {
        Ok(x.clone())
    }
}

/// Softmax over the last dimension: the fused kernel in evaluation, differentiable ops in training.
pub fn softmax_last(x: &Tensor, mode: Mode) -> Result<Tensor> {
    if mode.is_train() {
        candle_nn::ops::softmax(x, D::Minus1)
    } else {
        candle_nn::ops::softmax_last_dim(&x.contiguous()?)
    }
}
