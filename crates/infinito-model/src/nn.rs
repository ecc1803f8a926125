//! Small layers shared by the GPT-2 blocks: Hugging Face `Conv1D`, a LayerNorm that keeps its
//! gradient in training, and mode-aware dropout and softmax.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use infinito_kernels::rng::{hash_at, seed_for};
use infinito_kernels::{frozen_linear, WeightLayout};

/// Whether a forward pass trains (dropout on, autograd-friendly ops) or evaluates. A training pass
/// carries a seed from which every dropout mask is derived by call-site name, so a step is
/// reproducible on the CPU and adding a call site changes no other mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train { seed: u64 },
    Eval,
}

impl Mode {
    /// True in training mode.
    pub fn is_train(self) -> bool {
        matches!(self, Mode::Train { .. })
    }

    /// The mode of the sub-module or call site `name` (its checkpoint name where it has one:
    /// `attn`, `c_fc`, `attn_dropout`): same kind, an independent seed.
    pub fn derive(self, name: &str) -> Mode {
        self.map_seed(|seed| seed_for(seed, name))
    }

    /// The mode of the `index`-th of a list of sub-modules (the blocks `h.0`, `h.1`, ...).
    pub fn derive_index(self, index: usize) -> Mode {
        self.map_seed(|seed| hash_at(seed, index as u64))
    }

    fn map_seed(self, f: impl FnOnce(u64) -> u64) -> Mode {
        match self {
            Mode::Train { seed } => Mode::Train { seed: f(seed) },
            Mode::Eval => Mode::Eval,
        }
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

    /// Applies the layer over the last dimension. A frozen weight (not a training variable) takes
    /// the op whose backward gives only the input gradient.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.weight.is_variable() {
            matmul_last(x, &self.weight)?.broadcast_add(&self.bias)
        } else {
            frozen_linear(x, &self.weight, Some(&self.bias), WeightLayout::InOut)
        }
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

    /// Normalises `x` (fused kernel with backward on the CPU, candle ops elsewhere).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        infinito_kernels::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// Inverted dropout with probability `p`, active only in training mode; the mask is a hash of
/// (the mode's seed, element index), so a step is reproducible on the CPU.
pub fn dropout(x: &Tensor, p: f32, mode: Mode) -> Result<Tensor> {
    match mode {
        Mode::Train { seed } if p > 0.0 => infinito_kernels::dropout(x, p, seed),
        _ => Ok(x.clone()),
    }
}

/// The `i`-th uniform in (0, 1) of the stream `seed`.
fn hashed_uniform(seed: u64, i: u64) -> f64 {
    ((hash_at(seed, i) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Seeded uniform (0, 1) values shaped like `x`.
pub(crate) fn seeded_uniform(x: &Tensor, seed: u64) -> Result<Tensor> {
    let values: Vec<f32> = (0..x.elem_count() as u64)
        .map(|i| hashed_uniform(seed, i) as f32)
        .collect();
    Tensor::from_vec(values, x.shape(), x.device())?.to_dtype(x.dtype())
}

/// Seeded standard-normal noise shaped like `x` (Box-Muller over hashed uniforms).
#[doc(hidden)] // public only for the distribution test in tests/noise.rs
pub fn seeded_normal(x: &Tensor, seed: u64) -> Result<Tensor> {
    let values: Vec<f32> = (0..x.elem_count() as u64)
        .map(|i| {
            let (u1, u2) = (hashed_uniform(seed, 2 * i), hashed_uniform(seed, 2 * i + 1));
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect();
    Tensor::from_vec(values, x.shape(), x.device())?.to_dtype(x.dtype())
}

/// Softmax over the last dimension (fused kernel with backward on the CPU).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    infinito_kernels::softmax_last_dim(x)
}
