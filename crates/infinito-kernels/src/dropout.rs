//! Inverted dropout. On the CPU the mask is a hash of (seed, element index), so a run is
//! reproducible from its seed and the backward pass recomputes the mask instead of storing it.

use super::fused;
use super::kernel::{CpuKernel, Kernel};
use crate::rng::hash_at;
use candle_core::{Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Zeroes each element with probability `p` and scales the rest by 1/(1-p).
pub fn dropout(x: &Tensor, p: f32, seed: u64) -> Result<Tensor> {
    if p == 0.0 {
        Ok(x.clone())
    } else if fused(x) {
        x.contiguous()?.apply_op1(Kernel(Dropout { p, seed }))
    } else {
        candle_nn::ops::dropout(x, p)
    }
}

#[derive(Clone, Copy)]
struct Dropout {
    p: f32,
    seed: u64,
}

/// Applies the mask of (p, seed) in place to `values`, whose first element has index `offset` in
/// the masked tensor: zero with probability p, else scaled by 1/(1-p).
pub(super) fn dropout_mask_scale(values: &mut [f32], p: f32, seed: u64, offset: u64) {
    let threshold = keep_threshold(p);
    let scale = 1.0 / (1.0 - p);
    for (j, v) in values.iter_mut().enumerate() {
        let keep = hash_at(seed, offset + j as u64) >> 40 >= threshold;
        *v = if keep { *v * scale } else { 0.0 };
    }
}

/// Keep an element when the top 24 bits of its hash, as a fraction, are at least p.
fn keep_threshold(p: f32) -> u64 {
    (p as f64 * (1u64 << 24) as f64).ceil() as u64
}

impl CpuKernel<1> for Dropout {
    const NAME: &'static str = "dropout";

    fn forward(&self, [x]: [&[f32]; 1], [l]: [&Layout; 1]) -> Result<(Vec<f32>, Shape)> {
        const BLOCK: usize = 1 << 14;
        let mut y = x.to_vec();
        y.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(bi, out)| dropout_mask_scale(out, self.p, self.seed, (bi * BLOCK) as u64));
        Ok((y, l.shape().clone()))
    }

    fn backward(&self, _: [&Tensor; 1], _y: &Tensor, grad: &Tensor) -> Result<[Option<Tensor>; 1]> {
        // The op is linear with a fixed mask: the gradient goes through the same mask.
        Ok([Some(grad.contiguous()?.apply_op1_no_bwd(&Kernel(*self))?)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn mask_rate_scale_reproducibility_and_gradient() -> Result<()> {
        let x = Var::from_tensor(&Tensor::ones(
            100_000,
            candle_core::DType::F32,
            &Device::Cpu,
        )?)?;
        let y = dropout(&x, 0.25, 7)?;
        let v = y.to_vec1::<f32>()?;
        let kept = v.iter().filter(|&&e| e != 0.0).count() as f64 / v.len() as f64;
        assert!((kept - 0.75).abs() < 0.01, "kept fraction {kept}");
        assert!(v.iter().all(|&e| e == 0.0 || (e - 1.0 / 0.75).abs() < 1e-6));
        assert_eq!(v, dropout(&x, 0.25, 7)?.to_vec1::<f32>()?);
        assert_ne!(v, dropout(&x, 0.25, 8)?.to_vec1::<f32>()?);
        let grads = y.sum_all()?.backward()?;
        assert_eq!(grads.get(&x).unwrap().to_vec1::<f32>()?, v);
        Ok(())
    }
}
