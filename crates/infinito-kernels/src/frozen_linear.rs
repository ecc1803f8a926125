//! A linear layer over a constant (frozen) weight: one graph node whose backward returns only the
//! input gradient. candle's matmul backward always forms the weight gradient `xᵀ·g` as well, even
//! for a constant, which for a frozen GPT-2 doubles the backward work and keeps the result alive
//! in the gradient store; this op skips it on every device.

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CudaStorage, CustomOp1, Layout, MetalStorage, Result, Shape, Tensor,
};
use candle_core::{Storage, D};

/// How a weight matrix is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// `[in, out]`, `y = x·W` (Hugging Face `Conv1D`).
    InOut,
    /// `[out, in]`, `y = x·Wᵀ` (`nn.Linear`, or a tied embedding used as the LM head).
    OutIn,
}

impl WeightLayout {
    /// `(in, out)` of a weight stored this way.
    fn in_out(self, w: &Tensor) -> Result<(usize, usize)> {
        let (a, b) = w.dims2()?;
        Ok(match self {
            Self::InOut => (a, b),
            Self::OutIn => (b, a),
        })
    }

    /// The weight as the `[in, out]` right-hand side of a matmul (a view, no copy).
    fn as_rhs(self, w: &Tensor) -> Result<Tensor> {
        match self {
            Self::InOut => Ok(w.clone()),
            Self::OutIn => w.t(),
        }
    }
}

/// `x·W + b` over the last dimension of `x` for a weight and bias that get no gradient: the
/// backward pass computes `dx = g·Wᵀ` only. `b` is optional; shapes are checked first.
pub fn frozen_linear(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    layout: WeightLayout,
) -> Result<Tensor> {
    let (n_in, n_out) = layout.in_out(w)?;
    let x_in = x.dim(D::Minus1)?;
    if x_in != n_in {
        candle_core::bail!(
            "frozen linear: input has {x_in} features, the weight {:?} ({layout:?}) expects {n_in}",
            w.dims()
        );
    }
    if let Some(b) = b {
        if b.dims() != [n_out] {
            candle_core::bail!(
                "frozen linear: bias has shape {:?}, expected [{n_out}]",
                b.dims()
            );
        }
    }
    let mut dims = x.dims().to_vec();
    let rows = x.elem_count() / n_in.max(1);
    *dims.last_mut().expect("rank >= 1") = n_out;
    let op = FrozenLinear {
        w: layout.as_rhs(&w.detach())?,
        b: b.map(Tensor::detach),
    };
    x.reshape((rows, n_in))?.apply_op1(op)?.reshape(dims)
}

/// The op: holds the weight (as an `[in, out]` view) and the bias, so the graph never sees them.
struct FrozenLinear {
    w: Tensor,
    b: Option<Tensor>,
}

impl FrozenLinear {
    /// `x·W (+ b)` with the backend's own matmul and add, the same arithmetic as candle's ops.
    fn forward<S: BackendStorage>(
        &self,
        x: &S,
        xl: &Layout,
        pick: impl Fn(&Storage) -> Result<&S>,
    ) -> Result<(S, Shape)> {
        let (m, k) = xl.shape().dims2()?;
        let n = self.w.dim(1)?;
        let (ws, wl) = self.w.storage_and_layout();
        let y = x.matmul(pick(&ws)?, (1, m, n, k), xl, wl)?;
        let yl = Layout::contiguous((m, n));
        let y = match &self.b {
            Some(b) => {
                let (bs, bl) = b.storage_and_layout();
                y.binary_impl::<candle_core::op::Add>(pick(&bs)?, &yl, &bl.broadcast_as((m, n))?)?
            }
            None => y,
        };
        Ok((y, Shape::from((m, n))))
    }
}

fn wrong_device() -> candle_core::Error {
    candle_core::Error::Msg("frozen linear: weight and input are on different devices".into())
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.forward(s, l, |st| match st {
            Storage::Cpu(c) => Ok(c),
            _ => Err(wrong_device()),
        })
    }

    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        self.forward(s, l, |st| match st {
            Storage::Cuda(c) => Ok(c),
            _ => Err(wrong_device()),
        })
    }

    fn metal_fwd(&self, s: &MetalStorage, l: &Layout) -> Result<(MetalStorage, Shape)> {
        self.forward(s, l, |st| match st {
            Storage::Metal(c) => Ok(c),
            _ => Err(wrong_device()),
        })
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.w.t()?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
            .expect("same shapes")
    }

    #[test]
    fn matches_candle_ops_and_gives_only_the_input_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 5), &dev)?)?;
        let w_io = Tensor::randn(0f32, 1.0, (5, 4), &dev)?;
        let w_oi = w_io.t()?.contiguous()?;
        let b = Tensor::randn(0f32, 1.0, 4, &dev)?;
        let probe = Tensor::randn(0f32, 1.0, (2, 3, 4), &dev)?;
        let reference = x.broadcast_matmul(&w_io)?.broadcast_add(&b)?;
        let want_dx = probe.broadcast_matmul(&w_io.t()?)?;
        for (w, layout) in [(&w_io, WeightLayout::InOut), (&w_oi, WeightLayout::OutIn)] {
            let y = frozen_linear(&x, w, Some(&b), layout)?;
            assert!(max_diff(&y, &reference) < 1e-5, "{layout:?} forward");
            let grads = (y * &probe)?.sum_all()?.backward()?;
            let dx = grads.get(&x).expect("input gradient");
            assert!(max_diff(dx, &want_dx) < 1e-5, "{layout:?} input gradient");
            assert!(grads.get(w).is_none() && grads.get(&b).is_none());
        }
        let no_bias = frozen_linear(&x, &w_io, None, WeightLayout::InOut)?;
        assert_eq!(max_diff(&no_bias, &x.broadcast_matmul(&w_io)?), 0.0);
        Ok(())
    }

    #[test]
    fn a_weight_that_does_not_fit_the_input_is_an_error() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::zeros((3, 5), candle_core::DType::F32, &dev)?;
        let w = Tensor::zeros((6, 4), candle_core::DType::F32, &dev)?;
        let err = frozen_linear(&x, &w, None, WeightLayout::InOut).unwrap_err();
        assert!(err.to_string().contains("expects 6"), "{err}");
        let w = Tensor::zeros((5, 4), candle_core::DType::F32, &dev)?;
        let b = Tensor::zeros(3, candle_core::DType::F32, &dev)?;
        assert!(frozen_linear(&x, &w, Some(&b), WeightLayout::InOut).is_err());
        Ok(())
    }
}
