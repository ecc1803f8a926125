//! `x W^T + b`, optionally followed by ReLU, as one graph node: on the CPU one gemm writing onto
//! the broadcast bias, and a backward that skips the input gradient when the input needs none.

use super::kernel::{CpuKernel, Kernel};
use super::reduce::sum_rows;
use super::relu::ReluGrad;
use super::{expect_dims, fused};
use candle_core::{Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Applies `x W^T + b` (then ReLU if `relu`) to `x` of shape (..., in), W (out, in), b (out).
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    let mut dims = x.dims().to_vec();
    let d_in = dims.pop().unwrap_or(1);
    let rows = dims.iter().product::<usize>();
    let d_out = w.dims().first().copied().unwrap_or(0);
    expect_dims("linear", "weight", w, &[d_out, d_in])?;
    expect_dims("linear", "bias", b, &[d_out])?;
    dims.push(d_out);
    let x2 = x.reshape((rows, d_in))?;
    let y = if fused(x) {
        x2.contiguous()?
            .apply_op3(&w.contiguous()?, &b.contiguous()?, Kernel(Linear { relu }))?
    } else {
        let y = x2.matmul(&w.t()?)?.broadcast_add(b)?;
        if relu {
            y.relu()?
        } else {
            y
        }
    };
    y.reshape(dims)
}

fn parallelism() -> gemm::Parallelism {
    match candle_core::utils::get_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

#[derive(Clone, Copy)]
struct Linear {
    relu: bool,
}

impl CpuKernel<3> for Linear {
    const NAME: &'static str = "linear";

    fn forward(
        &self,
        [x, w, b]: [&[f32]; 3],
        [l1, _, _]: [&Layout; 3],
    ) -> Result<(Vec<f32>, Shape)> {
        let (rows, k) = l1.shape().dims2()?;
        let n = b.len();
        let mut y: Vec<f32> = Vec::with_capacity(rows * n);
        for _ in 0..rows {
            y.extend_from_slice(b);
        }
        // SAFETY: the slices hold rows*k, n*k and rows*n elements and the strides describe
        // row-major x (rows, k), W^T read from row-major W (n, k), and row-major y (rows, n).
        unsafe {
            gemm::gemm(
                rows,
                n,
                k,
                y.as_mut_ptr(),
                1,
                n as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                k as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism(),
            )
        }
        if self.relu {
            y.par_iter_mut()
                .with_min_len(1 << 14)
                .for_each(|v| *v = v.max(0.0));
        }
        Ok((y, Shape::from((rows, n))))
    }

    fn backward(
        &self,
        [x, w, _]: [&Tensor; 3],
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<[Option<Tensor>; 3]> {
        let g = if self.relu {
            y.apply_op2_no_bwd(&grad.contiguous()?, &Kernel(ReluGrad))?
        } else {
            grad.clone()
        };
        let dx = if x.track_op() {
            Some(g.matmul(w)?)
        } else {
            None
        };
        let dw = g.t()?.matmul(x)?;
        Ok([dx, Some(dw), Some(sum_rows(&g)?)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn fused_matches_composed_with_gradients() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 7, 5), &dev)?)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (6, 5), &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 6, &dev)?)?;
        let probe = Tensor::randn(0f32, 1.0, (2, 7, 6), &dev)?;
        for relu in [false, true] {
            let run = |y: Tensor| -> Result<Vec<Tensor>> {
                let grads = (y.clone() * &probe)?.sum_all()?.backward()?;
                Ok(vec![
                    y,
                    grads.get(&x).unwrap().clone(),
                    grads.get(&w).unwrap().clone(),
                    grads.get(&b).unwrap().clone(),
                ])
            };
            let fast = run(linear(&x, &w, &b, relu)?)?;
            let composed = x.broadcast_matmul(&w.t()?)?.broadcast_add(&b)?;
            let slow = run(if relu { composed.relu()? } else { composed })?;
            for (a, b) in fast.iter().zip(&slow) {
                let diff = (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
                assert!(
                    diff < 1e-5,
                    "relu={relu}: fused vs composed differ by {diff}"
                );
            }
        }
        // A weight that does not fit the input is an error, not an out-of-bounds read.
        let narrow = Tensor::zeros((6, 4), candle_core::DType::F32, &dev)?;
        assert!(linear(&x, &narrow, &b, false).is_err());
        assert!(linear(
            &x,
            &w,
            &Tensor::zeros(5, candle_core::DType::F32, &dev)?,
            false
        )
        .is_err());
        // A plain (untracked) input gets no gradient computed.
        let plain = x.as_tensor().detach();
        let grads = linear(&plain, &w, &b, true)?.sum_all()?.backward()?;
        assert!(grads.get(&plain).is_none() && grads.get(&w).is_some());
        Ok(())
    }
}
