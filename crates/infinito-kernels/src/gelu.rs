//! GELU with the tanh approximation (Hugging Face's `gelu_new`, candle's `gelu`) as one graph
//! node: on the CPU a row-parallel forward and a one-pass backward (candle's backward is about
//! fifteen serial element-wise ops, each a full pass over the activations).

use super::kernel::{CpuKernel, Kernel};
use super::{fused, par_row_blocks};
use candle_core::{Layout, Result, Shape, Tensor};

/// √(2/π), candle's literal (so the forward is bit-identical to `Tensor::gelu`).
#[allow(clippy::excessive_precision)]
const SQRT_2_OVER_PI: f32 = 0.79788456080286535587989211986876373;
const CUBIC: f32 = 0.044_715;
/// Elements per parallel task.
const BLOCK: usize = 1 << 14;

/// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, differentiable on every device.
pub fn gelu_new(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op1(Kernel(GeluNew))
    } else {
        x.gelu()
    }
}

/// The forward of one element, candle's exact expression.
#[inline]
fn gelu(v: f32) -> f32 {
    0.5 * v * (1.0 + (SQRT_2_OVER_PI * v * (1.0 + CUBIC * v * v)).tanh())
}

/// d gelu / dx.
#[inline]
fn gelu_grad(v: f32) -> f32 {
    let inner = SQRT_2_OVER_PI * v * (1.0 + CUBIC * v * v);
    let t = inner.tanh();
    let d_inner = SQRT_2_OVER_PI * (1.0 + 3.0 * CUBIC * v * v);
    0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * d_inner
}

struct GeluNew;

impl CpuKernel<1> for GeluNew {
    const NAME: &'static str = "gelu-new";

    fn forward(&self, [x]: [&[f32]; 1], [l]: [&Layout; 1]) -> Result<(Vec<f32>, Shape)> {
        let mut y = vec![0f32; x.len()];
        par_row_blocks(&mut y, BLOCK, |at, out| {
            for (yi, xi) in out.iter_mut().zip(&x[at..]) {
                *yi = gelu(*xi);
            }
        });
        Ok((y, l.shape().clone()))
    }

    fn backward(
        &self,
        [x]: [&Tensor; 1],
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<[Option<Tensor>; 1]> {
        Ok([Some(x.apply_op2_no_bwd(
            &grad.contiguous()?,
            &Kernel(GeluNewGrad),
        )?)])
    }
}

/// `g · gelu'(x)`.
struct GeluNewGrad;

impl CpuKernel<2> for GeluNewGrad {
    const NAME: &'static str = "gelu-new-grad";

    fn forward(&self, [x, g]: [&[f32]; 2], [l1, _]: [&Layout; 2]) -> Result<(Vec<f32>, Shape)> {
        let mut dx = vec![0f32; x.len()];
        par_row_blocks(&mut dx, BLOCK, |at, out| {
            for ((d, xi), gi) in out.iter_mut().zip(&x[at..]).zip(&g[at..]) {
                *d = gi * gelu_grad(*xi);
            }
        });
        Ok((dx, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn matches_candle_gelu_and_its_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 2.0, (3, 50_000), &dev)?)?;
        let probe = Tensor::randn(0f32, 1.0, (3, 50_000), &dev)?;
        let run = |f: &dyn Fn(&Tensor) -> Result<Tensor>| -> Result<(Tensor, Tensor)> {
            let y = f(&x)?;
            let grads = (&y * &probe)?.sum_all()?.backward()?;
            Ok((y, grads.get(&x).expect("gradient").clone()))
        };
        let (y, dx) = run(&gelu_new)?;
        let (y_ref, dx_ref) = run(&|x| x.gelu())?;
        let diff = |a: &Tensor, b: &Tensor| -> Result<f32> {
            (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
        };
        assert_eq!(diff(&y, &y_ref)?, 0.0, "forward");
        // candle's backward rounds its constants to six digits.
        assert!(diff(&dx, &dx_ref)? < 1e-5, "gradient");
        Ok(())
    }
}
