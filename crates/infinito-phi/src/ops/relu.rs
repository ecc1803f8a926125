//! ReLU with a one-pass backward (candle's own takes three passes: compare, cast, multiply).

use super::{contiguous_f32, fused, par_row_blocks};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `max(x, 0)`.
pub(crate) fn relu(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op1(Relu)
    } else {
        x.relu()
    }
}

struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "phi-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let mut y = contiguous_f32(s, l)?.to_vec();
        y.par_iter_mut()
            .with_min_len(1 << 14)
            .for_each(|v| *v = v.max(0.0));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(y.apply_op2_no_bwd(&grad.contiguous()?, &ReluGrad)?))
    }
}

/// The gradient through ReLU: `g` where the output `y` is positive, else 0.
pub(super) struct ReluGrad;

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "phi-relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = contiguous_f32(s1, l1)?;
        let g = contiguous_f32(s2, l2)?;
        let n = l1.dims().last().copied().unwrap_or(1);
        let mut out = vec![0f32; y.len()];
        par_row_blocks(&mut out, n, |at, o| {
            for ((oi, yi), gi) in o.iter_mut().zip(&y[at..]).zip(&g[at..]) {
                *oi = if *yi > 0.0 { *gi } else { 0.0 };
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}
