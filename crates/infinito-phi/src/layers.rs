//! The two building blocks every net uses: PyTorch's `nn.Linear` and `nn.LayerNorm`.

use crate::params::{ParamInit, Params};
use candle_core::{Result, Tensor};
use infinito_kernels as ops;

/// `nn.Linear`: `x W^T + b` over the last dimension, W of shape (out, in).
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    pub(crate) weight: Tensor,
    pub(crate) bias: Tensor,
}

impl Linear {
    pub(crate) fn new(p: &Params, name: impl ToString, d_in: usize, d_out: usize) -> Result<Self> {
        let p = p.pp(name);
        let init = ParamInit::fan_in(d_in);
        Ok(Self {
            weight: p.get((d_out, d_in), "weight", init)?,
            bias: p.get(d_out, "bias", init)?,
        })
    }

    /// Applies the layer to (..., in).
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::linear(x, &self.weight, &self.bias, false)
    }

    /// The layer followed by ReLU, as one fused op.
    pub(crate) fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        ops::linear(x, &self.weight, &self.bias, true)
    }
}

/// `nn.LayerNorm(d)` with eps 1e-5.
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

/// PyTorch's default LayerNorm/BatchNorm epsilon.
pub(crate) const NORM_EPS: f64 = 1e-5;

impl LayerNorm {
    pub(crate) fn new(p: &Params, name: impl ToString, d: usize) -> Result<Self> {
        let p = p.pp(name);
        Ok(Self {
            weight: p.get(d, "weight", ParamInit::Const(1.0))?,
            bias: p.get(d, "bias", ParamInit::Const(0.0))?,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::layer_norm(x, &self.weight, &self.bias, NORM_EPS)
    }
}
