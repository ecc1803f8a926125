//! ComplexityNet: three same-length 1-D convolutions (kernels 3, 5, 7) over the projected states,
//! normalised, rectified, mean-pooled and fused.
//!
//! The convolutions run channels-last ([`ops::conv1d_same`]); the three branches sit next to each
//! other as (B*T, 3C), the order the fusion layer reads them in.

use crate::batch_norm::{batch_norm, per_sample_norm, BatchNorm};
use crate::config::ComplexityNorm;
use crate::layers::Linear;
use crate::mode::Mode;
use crate::params::{ParamInit, Params};
use candle_core::{Result, Tensor};
use infinito_kernels as ops;

/// Kernel sizes of the three branches (padding k/2 keeps the length).
const KERNELS: [usize; 3] = [3, 5, 7];

struct Conv1d {
    weight: Tensor,
    bias: Tensor,
}

pub(crate) struct ComplexityNet {
    input_proj: Linear,
    convs: Vec<Conv1d>,
    pub(crate) norms: Vec<BatchNorm>,
    fusion: Linear,
    output_mlp: [Linear; 2],
    norm: ComplexityNorm,
}

impl ComplexityNet {
    pub(crate) fn new(p: &Params, d: usize, c: usize, norm: ComplexityNorm) -> Result<Self> {
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        for (n, k) in KERNELS.iter().enumerate() {
            let q = p.pp(format!("conv{}", n + 1));
            let init = ParamInit::fan_in(c * k);
            convs.push(Conv1d {
                weight: q.get((c, c, *k), "weight", init)?,
                bias: q.get(c, "bias", init)?,
            });
            norms.push(BatchNorm::new(p, &format!("bn{}", n + 1), c)?);
        }
        let om = p.pp("output_mlp");
        Ok(Self {
            input_proj: Linear::new(p, "input_proj", d, c)?,
            convs,
            norms,
            fusion: Linear::new(p, "fusion", 3 * c, c)?,
            output_mlp: [
                Linear::new(&om, 0, c, c / 2)?,
                Linear::new(&om, 3, c / 2, 1)?,
            ],
            norm,
        })
    }

    /// (B, T, D) -> (B,).
    pub(crate) fn forward(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let z = self.input_proj.forward(x)?;
        let c = z.dim(2)?;
        let branches: Vec<_> = self
            .convs
            .iter()
            .map(|conv| ops::conv1d_same(&z, &conv.weight, &conv.bias)?.reshape((b * t, c)))
            .collect::<Result<_>>()?;
        let y = Tensor::cat(&branches, 1)?;
        let y = match self.norm {
            ComplexityNorm::BatchNorm => batch_norm(&self.norms, &y, mode.train)?,
            ComplexityNorm::PerSample => per_sample_norm(&self.norms, &y.reshape((b, t, 3 * c))?)?,
        };
        let pooled = ops::mean_over_time(&ops::relu(&y)?.reshape((b, t, 3 * c))?)?;
        let f = self.fusion.forward_relu(&pooled)?;
        let h = mode.dropout(&self.output_mlp[0].forward_relu(&f)?)?;
        candle_nn::ops::sigmoid(&self.output_mlp[1].forward(&h)?)?.squeeze(1)
    }
}
