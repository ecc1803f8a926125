//! Global gradient-norm clipping with the semantics of `torch.nn.utils.clip_grad_norm_`.

use crate::error::{Result, TrainError};
use candle_core::backprop::GradStore;
use candle_core::{DType, Var};

/// Scales the gradients of `params` so that their global L2 norm is at most `max_norm`.
///
/// The norm is taken over all gradients together (parameters without a gradient are skipped);
/// the gradients are multiplied by `min(max_norm / (total + 1e-6), 1)`. Returns the norm
/// before clipping. A NaN or infinite norm leaves the gradients untouched and returns
/// [`TrainError::NonFiniteGradNorm`], so the caller can skip the update.
pub fn clip_grad_norm(
    grads: &mut GradStore,
    params: &[(String, Var)],
    max_norm: f64,
) -> Result<f64> {
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        return Err(TrainError::invalid(
            "max_norm",
            "a finite value > 0",
            max_norm,
        ));
    }
    let mut sum_sq = 0.0f64;
    for (_, var) in params {
        if let Some(grad) = grads.get(var.as_tensor()) {
            sum_sq += grad
                .to_dtype(DType::F64)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f64>()?;
        }
    }
    let total = sum_sq.sqrt();
    if !total.is_finite() {
        return Err(TrainError::NonFiniteGradNorm { norm: total });
    }
    // PyTorch computes the coefficient on the float32 norm as reciprocal(norm + 1e-6) * max_norm.
    let coef = (1.0 / (total as f32 + 1e-6)) * max_norm as f32;
    if coef < 1.0 {
        for (_, var) in params {
            if let Some(grad) = grads.get(var.as_tensor()) {
                let scaled = grad.detach().affine(f64::from(coef), 0.0)?;
                grads.insert(var.as_tensor(), scaled);
            }
        }
    }
    Ok(total)
}
