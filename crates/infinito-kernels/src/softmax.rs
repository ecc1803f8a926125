//! Softmax over the last dimension with a fused backward.

use super::kernel::{CpuKernel, Kernel};
use super::{fused, par_row_blocks};
use candle_core::{Layout, Result, Shape, Tensor, D};

/// Softmax over the last dimension (differentiable on every device).
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op1(Kernel(Softmax))
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

impl CpuKernel<1> for Softmax {
    const NAME: &'static str = "softmax";

    fn forward(&self, [src]: [&[f32]; 1], [l]: [&Layout; 1]) -> Result<(Vec<f32>, Shape)> {
        let d = last_dim(l);
        let mut dst = vec![0f32; src.len()];
        par_row_blocks(&mut dst, d, |at, out| {
            let rows = src[at..at + out.len()].chunks_exact(d);
            for (x, y) in rows.zip(out.chunks_exact_mut(d)) {
                y.copy_from_slice(x);
                softmax_row(y);
            }
        });
        Ok((dst, l.shape().clone()))
    }

    fn backward(&self, _: [&Tensor; 1], y: &Tensor, grad: &Tensor) -> Result<[Option<Tensor>; 1]> {
        Ok([Some(y.apply_op2_no_bwd(
            &grad.contiguous()?,
            &Kernel(SoftmaxBwd),
        )?)])
    }
}

/// dx = y * (g - sum(g * y)) per row.
struct SoftmaxBwd;

impl CpuKernel<2> for SoftmaxBwd {
    const NAME: &'static str = "softmax-bwd";

    fn forward(&self, [y, g]: [&[f32]; 2], [l1, _]: [&Layout; 2]) -> Result<(Vec<f32>, Shape)> {
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
        Ok((dx, l1.shape().clone()))
    }
}
