//! Softmax over the last dimension with a fused backward.

use super::{contiguous_f32, fused, par_row_blocks};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, D};

/// Softmax over the last dimension (differentiable on every device).
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op1(Softmax)
    } else {
        candle_nn::ops::softmax(x, D::Minus1)
    }
}

fn last_dim(l: &Layout) -> usize {
    l.dims().last().copied().unwrap_or(1)
}

struct Softmax;

/// Softmax of one row, in place.
pub(super) fn softmax_row(y: &mut [f32]) {
    let max = y.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for v in y.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    y.iter_mut().for_each(|v| *v *= inv);
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "phi-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(s, l)?;
        let d = last_dim(l);
        let mut dst = vec![0f32; src.len()];
        par_row_blocks(&mut dst, d, |at, out| {
            let rows = src[at..at + out.len()].chunks_exact(d);
            for (x, y) in rows.zip(out.chunks_exact_mut(d)) {
                y.copy_from_slice(x);
                softmax_row(y);
            }
        });
        Ok((CpuStorage::F32(dst), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(y.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxBwd)?))
    }
}

/// dx = y * (g - sum(g * y)) per row.
struct SoftmaxBwd;

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "phi-softmax-bwd"
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
        let d = last_dim(l1);
        let mut dx = vec![0f32; y.len()];
        par_row_blocks(&mut dx, d, |at, out| {
            let n = out.len();
            let rows = y[at..at + n]
                .chunks_exact(d)
                .zip(g[at..at + n].chunks_exact(d));
            for ((yr, gr), o) in rows.zip(out.chunks_exact_mut(d)) {
                let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
                for ((oi, a), b) in o.iter_mut().zip(yr).zip(gr) {
                    *oi = a * (b - dot);
                }
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}
