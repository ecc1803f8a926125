//! Multi-head scaled dot-product attention core on a packed projection:
//! `qkv` (B, T, 3D) holding q, k, v side by side (heads of D/H columns each, PyTorch's packed
//! `in_proj` order) gives the per-head `dropout(softmax(q k^T / sqrt(D/H))) v`, concatenated over
//! heads as (B, T, D), as one graph node.
//!
//! On the CPU each (sample, head) runs in parallel straight on the strided columns of `qkv` (no
//! head split or merge copies), with the (T, T) weights in a scratch buffer; the backward pass
//! recomputes them (the same dropout mask, from the seed) instead of keeping them.

use super::dropout::dropout_mask_scale;
use super::fused;
use super::kernel::{CpuKernel, Kernel};
use super::softmax::softmax_row;
use candle_core::{Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `dropout`: probability and seed of the attention-weight dropout.
pub fn attention(qkv: &Tensor, heads: usize, dropout: Option<(f32, u64)>) -> Result<Tensor> {
    let (b, t, d3) = qkv.dims3()?;
    let d = d3 / 3;
    if d3 % 3 != 0 || heads == 0 || d % heads != 0 {
        candle_core::bail!(
            "attention: packed projection of width {d3} is not 3 x a multiple of {heads} heads"
        );
    }
    let geometry = Geometry {
        b,
        t,
        d,
        heads,
        hd: d / heads,
    };
    if fused(qkv) {
        qkv.contiguous()?
            .apply_op1(Kernel(Attention { geometry, dropout }))
    } else {
        composed(qkv, geometry, dropout)
    }
}

/// The same from candle's tensor ops.
fn composed(qkv: &Tensor, g: Geometry, dropout: Option<(f32, u64)>) -> Result<Tensor> {
    let split = qkv
        .reshape((g.b, g.t, 3, g.heads, g.hd))?
        .permute((2, 0, 3, 1, 4))?;
    let part = |i: usize| split.get(i)?.contiguous();
    let scores = (part(0)?.matmul(&part(1)?.t()?)? * g.scale() as f64)?;
    let weights = super::softmax_last_dim(&scores)?;
    let weights = match dropout {
        Some((p, seed)) => super::dropout(&weights, p, seed)?,
        None => weights,
    };
    weights
        .matmul(&part(2)?)?
        .transpose(1, 2)?
        .reshape((g.b, g.t, g.d))
}

#[derive(Clone, Copy)]
struct Geometry {
    b: usize,
    t: usize,
    d: usize,
    heads: usize,
    hd: usize,
}

impl Geometry {
    fn scale(&self) -> f32 {
        1.0 / (self.hd as f32).sqrt()
    }

    /// Offset in `qkv` of column 0 of part `part` (0 q, 1 k, 2 v) of head `h` of sample `b`.
    fn qkv_at(&self, b: usize, part: usize, h: usize) -> usize {
        b * self.t * 3 * self.d + part * self.d + h * self.hd
    }

    /// Offset in the (B, T, D) context of head `h` of sample `b`.
    fn ctx_at(&self, b: usize, h: usize) -> usize {
        b * self.t * self.d + h * self.hd
    }
}

/// `dst = alpha * lhs rhs (+ dst if accumulate)`, (m, n) = (m, k)(k, n), strides as
/// (row, column), single-threaded.
///
/// # Safety
/// Every pointer must be valid for the elements its strides address.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided(
    (m, n, k): (usize, usize, usize),
    dst: (*mut f32, usize, usize),
    lhs: (*const f32, usize, usize),
    rhs: (*const f32, usize, usize),
    alpha: f32,
    accumulate: bool,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst.0,
        dst.2 as isize,
        dst.1 as isize,
        accumulate,
        lhs.0,
        lhs.2 as isize,
        lhs.1 as isize,
        rhs.0,
        rhs.2 as isize,
        rhs.1 as isize,
        if accumulate { 1.0 } else { 0.0 },
        alpha,
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

/// A raw pointer shared by tasks that write disjoint elements.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: only used by tasks that write disjoint (sample, head) column blocks.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer `offset` elements further on.
    ///
    /// # Safety
    /// `offset` must stay inside the allocation.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

#[derive(Clone, Copy)]
struct Attention {
    geometry: Geometry,
    dropout: Option<(f32, u64)>,
}

impl Attention {
    /// The (dropped-out) attention weights of task `i` = (sample, head) into `w` (T, T), and the
    /// softmax output before dropout into `probs` when asked.
    fn weights(&self, qkv: &[f32], i: usize, w: &mut [f32], probs: Option<&mut [f32]>) {
        let g = self.geometry;
        let (b, h) = (i / g.heads, i % g.heads);
        let q = qkv[g.qkv_at(b, 0, h)..].as_ptr();
        let k = qkv[g.qkv_at(b, 1, h)..].as_ptr();
        // SAFETY: q and k address T rows (stride 3D) of hd columns inside qkv; w is (T, T).
        unsafe {
            gemm_strided(
                (g.t, g.t, g.hd),
                (w.as_mut_ptr(), g.t, 1),
                (q, 3 * g.d, 1),
                (k, 1, 3 * g.d),
                g.scale(),
                false,
            )
        };
        w.chunks_exact_mut(g.t).for_each(softmax_row);
        if let Some(p) = probs {
            p.copy_from_slice(w);
        }
        if let Some((p, seed)) = self.dropout {
            dropout_mask_scale(w, p, seed, (i * g.t * g.t) as u64);
        }
    }
}

impl CpuKernel<1> for Attention {
    const NAME: &'static str = "attention";

    fn forward(&self, [qkv]: [&[f32]; 1], _: [&Layout; 1]) -> Result<(Vec<f32>, Shape)> {
        let g = self.geometry;
        let mut ctx = vec![0f32; g.b * g.t * g.d];
        let out = SharedMut(ctx.as_mut_ptr());
        (0..g.b * g.heads).into_par_iter().for_each_init(
            || vec![0f32; g.t * g.t],
            |w, i| {
                self.weights(qkv, i, w, None);
                let (b, h) = (i / g.heads, i % g.heads);
                let v = qkv[g.qkv_at(b, 2, h)..].as_ptr();
                // SAFETY: task i writes only the hd columns of head h in sample b's T rows.
                unsafe {
                    gemm_strided(
                        (g.t, g.hd, g.t),
                        (out.at(g.ctx_at(b, h)), g.d, 1),
                        (w.as_ptr(), g.t, 1),
                        (v, 3 * g.d, 1),
                        1.0,
                        false,
                    )
                };
            },
        );
        Ok((ctx, Shape::from((g.b, g.t, g.d))))
    }

    fn backward(
        &self,
        [qkv]: [&Tensor; 1],
        _ctx: &Tensor,
        grad: &Tensor,
    ) -> Result<[Option<Tensor>; 1]> {
        Ok([Some(qkv.apply_op2_no_bwd(
            &grad.contiguous()?,
            &Kernel(AttentionGrad(*self)),
        )?)])
    }
}

/// d(qkv) from qkv and d(ctx).
struct AttentionGrad(Attention);

impl CpuKernel<2> for AttentionGrad {
    const NAME: &'static str = "attention-grad";

    fn forward(
        &self,
        [qkv, dctx]: [&[f32]; 2],
        [l1, _]: [&Layout; 2],
    ) -> Result<(Vec<f32>, Shape)> {
        let op = self.0;
        let g = op.geometry;
        let mut dqkv = vec![0f32; qkv.len()];
        let out = SharedMut(dqkv.as_mut_ptr());
        let (t, d3) = (g.t, 3 * g.d);
        (0..g.b * g.heads).into_par_iter().for_each_init(
            || (vec![0f32; t * t], vec![0f32; t * t], vec![0f32; t * t]),
            |(w, probs, dw), i| {
                op.weights(qkv, i, w, Some(probs));
                let (b, h) = (i / g.heads, i % g.heads);
                let src = |p: usize| qkv[g.qkv_at(b, p, h)..].as_ptr();
                let (q, k, v) = (src(0), src(1), src(2));
                let dc = dctx[g.ctx_at(b, h)..].as_ptr();
                // SAFETY: the offsets are inside d(qkv), which has the shape of qkv.
                let dst = |p: usize| unsafe { out.at(g.qkv_at(b, p, h)) };
                let (dq, dk, dv) = (dst(0), dst(1), dst(2));
                // SAFETY: all views address T rows of hd columns of this task's (sample, head);
                // the d(qkv) blocks written are disjoint across tasks.
                unsafe {
                    // dV = W^T dC
                    gemm_strided(
                        (t, g.hd, t),
                        (dv, d3, 1),
                        (w.as_ptr(), 1, t),
                        (dc, g.d, 1),
                        1.0,
                        false,
                    );
                    // dW = dC V^T
                    gemm_strided(
                        (t, t, g.hd),
                        (dw.as_mut_ptr(), t, 1),
                        (dc, g.d, 1),
                        (v, 1, d3),
                        1.0,
                        false,
                    );
                }
                if let Some((p, seed)) = op.dropout {
                    dropout_mask_scale(dw, p, seed, (i * t * t) as u64);
                }
                for (row, prow) in dw.chunks_exact_mut(t).zip(probs.chunks_exact(t)) {
                    let dot: f32 = row.iter().zip(prow).map(|(a, b)| a * b).sum();
                    row.iter_mut()
                        .zip(prow)
                        .for_each(|(x, pv)| *x = pv * (*x - dot));
                }
                // SAFETY: as above.
                unsafe {
                    // dQ = dS K * scale, dK = dS^T Q * scale
                    gemm_strided(
                        (t, g.hd, t),
                        (dq, d3, 1),
                        (dw.as_ptr(), t, 1),
                        (k, d3, 1),
                        g.scale(),
                        false,
                    );
                    gemm_strided(
                        (t, g.hd, t),
                        (dk, d3, 1),
                        (dw.as_ptr(), 1, t),
                        (q, d3, 1),
                        g.scale(),
                        false,
                    );
                }
            },
        );
        Ok((dqkv, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn fused_matches_composed_with_gradients() -> Result<()> {
        let dev = Device::Cpu;
        let (b, t, d, heads) = (2, 7, 12, 3);
        let qkv = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, t, 3 * d), &dev)?)?;
        let probe = Tensor::randn(0f32, 1.0, (b, t, d), &dev)?;
        let g = Geometry {
            b,
            t,
            d,
            heads,
            hd: d / heads,
        };
        for dropout in [None, Some((0.3, 17))] {
            let run = |y: Tensor| -> Result<Vec<Tensor>> {
                let grads = (y.clone() * &probe)?.sum_all()?.backward()?;
                Ok(vec![y, grads.get(&qkv).unwrap().clone()])
            };
            let fast = run(attention(&qkv, heads, dropout)?)?;
            let slow = run(composed(&qkv, g, dropout)?)?;
            for (a, b) in fast.iter().zip(&slow) {
                let diff = (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
                assert!(
                    diff < 1e-5,
                    "dropout {dropout:?}: fused vs composed differ by {diff}"
                );
            }
        }
        Ok(())
    }
}
