//! ReLU with a one-pass backward (candle's own takes three passes: compare, cast, multiply).

use super::kernel::{CpuKernel, Kernel};
use super::{fused, par_row_blocks};
use candle_core::{Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `max(x, 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op1(Kernel(Relu))
    } else {
        x.relu()
    }
}

struct Relu;

impl CpuKernel<1> for Relu {
    const NAME: &'static str = "relu";

    fn forward(&self, [x]: [&[f32]; 1], [l]: [&Layout; 1]) -> Result<(Vec<f32>, Shape)> {
        let mut y = x.to_vec();
        y.par_iter_mut()
            .with_min_len(1 << 14)
            .for_each(|v| *v = v.max(0.0));
        Ok((y, l.shape().clone()))
    }

    fn backward(&self, _: [&Tensor; 1], y: &Tensor, grad: &Tensor) -> Result<[Option<Tensor>; 1]> {
        Ok([Some(
            y.apply_op2_no_bwd(&grad.contiguous()?, &Kernel(ReluGrad))?,
        )])
    }
}

/// The gradient through ReLU: `g` where the output `y` is positive, else 0.
pub(super) struct ReluGrad;

impl CpuKernel<2> for ReluGrad {
    const NAME: &'static str = "relu-grad";

    fn forward(&self, [y, g]: [&[f32]; 2], [l1, _]: [&Layout; 2]) -> Result<(Vec<f32>, Shape)> {
        let n = l1.dims().last().copied().unwrap_or(1);
        let mut out = vec![0f32; y.len()];
        par_row_blocks(&mut out, n, |at, o| {
            for ((oi, yi), gi) in o.iter_mut().zip(&y[at..]).zip(&g[at..]) {
                *oi = if *yi > 0.0 { *gi } else { 0.0 };
            }
        });
        Ok((out, l1.shape().clone()))
    }
}
