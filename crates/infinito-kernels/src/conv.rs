//! Same-length 1-D convolution over channels-last states: z (B, T, C), weight (O, C, K) with K odd
//! and zero padding K/2 on both sides, bias (O), giving (B, T, O) (PyTorch's `Conv1d`
//! cross-correlation). On the CPU each tap is one gemm per sample that accumulates the shifted rows
//! straight into the output (no padding, no unfold); the backward pass does the same for the input
//! and weight gradients.

use super::kernel::{CpuKernel, Kernel};
use super::reduce::sum_rows;
use super::{expect_dims, fused};
use candle_core::{Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// The convolution (differentiable on every device).
pub fn conv1d_same(z: &Tensor, w: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let (_, _, c) = z.dims3()?;
    let (o, k) = (
        w.dims().first().copied().unwrap_or(0),
        w.dims().last().copied().unwrap_or(0),
    );
    expect_dims("conv1d", "weight", w, &[o, c, k])?;
    expect_dims("conv1d", "bias", bias, &[o])?;
    if k % 2 == 0 {
        candle_core::bail!("conv1d: kernel size {k} is even, expected an odd size");
    }
    if fused(z) {
        z.contiguous()?
            .apply_op3(&w.contiguous()?, &bias.contiguous()?, Kernel(Conv))
    } else {
        composed(z, w)?.broadcast_add(bias)
    }
}

/// The same from candle's tensor ops: one batched gemm per tap on a shifted view of the padded states.
fn composed(z: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (b, t, _) = z.dims3()?;
    let k = w.dim(2)?;
    let padded = z.pad_with_zeros(1, k / 2, k / 2)?;
    let mut acc: Option<Tensor> = None;
    for tap in 0..k {
        let tap_w = w.narrow(2, tap, 1)?.squeeze(2)?.t()?.broadcast_left(b)?;
        let y = padded.narrow(1, tap, t)?.matmul(&tap_w)?;
        acc = Some(match acc {
            Some(a) => (a + y)?,
            None => y,
        });
    }
    acc.ok_or_else(|| candle_core::Error::Msg("empty convolution kernel".into()))
}

/// Rows `t` of the output that tap `tap` reaches, and the input row offset: out[t] += z[t + shift].
fn tap_rows(t: usize, k: usize, tap: usize) -> (usize, usize, isize) {
    let shift = tap as isize - (k / 2) as isize;
    let start = (-shift).max(0) as usize;
    let end = (t as isize - shift).min(t as isize).max(0) as usize;
    (start, end, shift)
}

/// `dst (m, n) += lhs (m, k) * rhs (k, n)` with explicit (row, column) strides, single-threaded.
///
/// # Safety
/// Every pointer must be valid for the elements its strides address.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_acc(
    m: usize,
    n: usize,
    k: usize,
    dst: (*mut f32, isize, isize),
    lhs: (*const f32, isize, isize),
    rhs: (*const f32, isize, isize),
) {
    gemm::gemm(
        m,
        n,
        k,
        dst.0,
        dst.2,
        dst.1,
        true,
        lhs.0,
        lhs.2,
        lhs.1,
        rhs.0,
        rhs.2,
        rhs.1,
        1.0,
        1.0,
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

struct Conv;

impl CpuKernel<3> for Conv {
    const NAME: &'static str = "conv1d-same";

    fn forward(
        &self,
        [z, w, bias]: [&[f32]; 3],
        [l1, l2, _]: [&Layout; 3],
    ) -> Result<(Vec<f32>, Shape)> {
        let (b, t, c) = l1.shape().dims3()?;
        let (o, _, k) = l2.shape().dims3()?;
        let mut out = vec![0f32; b * t * o];
        out.par_chunks_mut(t * o).enumerate().for_each(|(bi, y)| {
            y.chunks_exact_mut(o)
                .for_each(|row| row.copy_from_slice(bias));
            let zb = &z[bi * t * c..(bi + 1) * t * c];
            for tap in 0..k {
                let (start, end, shift) = tap_rows(t, k, tap);
                if start >= end {
                    continue;
                }
                let src = (start as isize + shift) as usize;
                // SAFETY: rows start..end of y and src..src+(end-start) of zb exist; the weight
                // tap (c, o) view reads w[oi*c*k + ci*k + tap].
                unsafe {
                    gemm_acc(
                        end - start,
                        o,
                        c,
                        (y[start * o..].as_mut_ptr(), o as isize, 1),
                        (zb[src * c..].as_ptr(), c as isize, 1),
                        (w[tap..].as_ptr(), k as isize, (c * k) as isize),
                    )
                }
            }
        });
        Ok((out, Shape::from((b, t, o))))
    }

    fn backward(
        &self,
        [z, w, _]: [&Tensor; 3],
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<[Option<Tensor>; 3]> {
        let grad = grad.contiguous()?;
        let dz = if z.track_op() {
            Some(grad.apply_op2_no_bwd(w, &Kernel(ConvGradInput))?)
        } else {
            None
        };
        let dw = z.apply_op2_no_bwd(&grad, &Kernel(ConvGradWeight { k: w.dim(2)? }))?;
        Ok([dz, Some(dw), Some(sum_rows(&grad)?)])
    }
}

/// dz[t + shift] += dy[t] W_tap, from dy (B, T, O) and w (O, C, K).
struct ConvGradInput;

impl CpuKernel<2> for ConvGradInput {
    const NAME: &'static str = "conv1d-grad-input";

    fn forward(&self, [dy, w]: [&[f32]; 2], [l1, l2]: [&Layout; 2]) -> Result<(Vec<f32>, Shape)> {
        let (b, t, o) = l1.shape().dims3()?;
        let (_, c, k) = l2.shape().dims3()?;
        let mut dz = vec![0f32; b * t * c];
        dz.par_chunks_mut(t * c).enumerate().for_each(|(bi, dzb)| {
            let dyb = &dy[bi * t * o..(bi + 1) * t * o];
            for tap in 0..k {
                let (start, end, shift) = tap_rows(t, k, tap);
                if start >= end {
                    continue;
                }
                let dst = (start as isize + shift) as usize;
                // SAFETY: as in the forward pass; W_tap (o, c) reads w[oi*c*k + ci*k + tap].
                unsafe {
                    gemm_acc(
                        end - start,
                        c,
                        o,
                        (dzb[dst * c..].as_mut_ptr(), c as isize, 1),
                        (dyb[start * o..].as_ptr(), o as isize, 1),
                        (w[tap..].as_ptr(), (c * k) as isize, k as isize),
                    )
                }
            }
        });
        Ok((dz, Shape::from((b, t, c))))
    }
}

/// dW[:, :, tap] = sum over samples of dy[rows]^T z[rows + shift], from z (B, T, C) and dy (B, T, O).
struct ConvGradWeight {
    k: usize,
}

impl CpuKernel<2> for ConvGradWeight {
    const NAME: &'static str = "conv1d-grad-weight";

    fn forward(&self, [z, dy]: [&[f32]; 2], [l1, l2]: [&Layout; 2]) -> Result<(Vec<f32>, Shape)> {
        let (b, t, c) = l1.shape().dims3()?;
        let o = l2.dims()[2];
        let k = self.k;
        // One dense (O, C) block per tap, filled in parallel, then interleaved to (O, C, K).
        let mut taps = vec![0f32; k * o * c];
        taps.par_chunks_mut(o * c)
            .enumerate()
            .for_each(|(tap, dw)| {
                let (start, end, shift) = tap_rows(t, k, tap);
                if start >= end {
                    return;
                }
                let src = (start as isize + shift) as usize;
                for bi in 0..b {
                    // SAFETY: dy rows start..end and z rows src.. of sample bi exist; dy^T is read
                    // through swapped strides.
                    unsafe {
                        gemm_acc(
                            o,
                            c,
                            end - start,
                            (dw.as_mut_ptr(), c as isize, 1),
                            (dy[(bi * t + start) * o..].as_ptr(), 1, o as isize),
                            (z[(bi * t + src) * c..].as_ptr(), c as isize, 1),
                        )
                    }
                }
            });
        let mut out = vec![0f32; o * c * k];
        for (tap, block) in taps.chunks_exact(o * c).enumerate() {
            for (i, v) in block.iter().enumerate() {
                out[i * k + tap] = *v;
            }
        }
        Ok((out, Shape::from((o, c, k))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn fused_matches_composed_with_gradients() -> Result<()> {
        let dev = Device::Cpu;
        for (t, k) in [(9, 3), (4, 5), (2, 7), (1, 3)] {
            let z = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, t, 6), &dev)?)?;
            let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (5, 6, k), &dev)?)?;
            let bias = Var::from_tensor(&Tensor::randn(0f32, 1.0, 5, &dev)?)?;
            let probe = Tensor::randn(0f32, 1.0, (2, t, 5), &dev)?;
            let run = |y: Tensor| -> Result<Vec<Tensor>> {
                let grads = (y.clone() * &probe)?.sum_all()?.backward()?;
                Ok(vec![
                    y,
                    grads.get(&z).unwrap().clone(),
                    grads.get(&w).unwrap().clone(),
                ])
            };
            let fast = run(conv1d_same(&z, &w, &bias)?)?;
            let slow = run(composed(&z, &w)?.broadcast_add(&bias)?)?;
            for (a, b) in fast.iter().zip(&slow) {
                let diff = (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
                assert!(
                    diff < 1e-4,
                    "T={t} K={k}: fused vs composed differ by {diff}"
                );
            }
        }
        // Weights that do not fit the states are errors, not out-of-bounds reads.
        let z = Tensor::zeros((2, 4, 6), candle_core::DType::F32, &dev)?;
        let bias = Tensor::zeros(5, candle_core::DType::F32, &dev)?;
        for w_dims in [(5, 7, 3), (5, 6, 4)] {
            let w = Tensor::zeros(w_dims, candle_core::DType::F32, &dev)?;
            assert!(conv1d_same(&z, &w, &bias).is_err(), "{w_dims:?}");
        }
        let w = Tensor::zeros((5, 6, 3), candle_core::DType::F32, &dev)?;
        assert!(conv1d_same(&z, &w, &bias.narrow(0, 0, 4)?).is_err());
        Ok(())
    }
}
