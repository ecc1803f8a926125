//! The LM head and the cross-entropy over the vocabulary in one op, in row chunks (Liger-Kernel's
//! design): per chunk it forms the logits, their log-sum-exp, the loss and `softmax − onehot`, and
//! at once the gradients `dh = dlogits·W` (and `dW += dlogitsᵀ·h` when the head trains). The
//! `(N, V)` logits never exist as a whole, and backward only scales the stored gradients.
//! On the CPU the row step is one fused parallel pass over each chunk; elsewhere it is made of
//! candle's tensor ops, with the same chunking.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CudaStorage, CustomOp3, DType, InplaceOp1, Layout, MetalStorage, Result, Shape,
    Tensor, D,
};
use rayon::prelude::*;

use super::fused;

/// Logit elements per chunk (32 MB of f32).
const CHUNK_ELEMENTS: usize = 1 << 23;

/// Mean cross-entropy of `labels` (any integer dtype, shape `(...)`) under the logits `h·Wᵀ` of
/// hidden states `h` `(..., D)` and a head `w` `(V, D)` (the tied embedding). The gradient flows to
/// `h` when it is tracked, and to `w` only when `w` is (a trainable head).
pub fn linear_cross_entropy(h: &Tensor, w: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let chunk = (CHUNK_ELEMENTS / w.dim(0)?.max(1)).max(1);
    chunked(h, w, labels, chunk)
}

/// [`linear_cross_entropy`] over chunks of `chunk` rows.
fn chunked(h: &Tensor, w: &Tensor, labels: &Tensor, chunk: usize) -> Result<Tensor> {
    let (v, d) = w.dims2()?;
    let h_dims = h.dims();
    if h_dims.last() != Some(&d) || labels.dims() != &h_dims[..h_dims.len() - 1] {
        candle_core::bail!(
            "linear cross-entropy: hidden states {h_dims:?}, labels {:?} and head {:?} do not fit \
             (expected (..., {d}), (...) and (V, {d}))",
            labels.dims(),
            w.dims()
        );
    }
    let n = labels.elem_count();
    if n == 0 {
        candle_core::bail!("linear cross-entropy: no labels");
    }
    let labels = labels.flatten_all()?.to_dtype(DType::U32)?;
    let max_label = labels.max(0)?.to_scalar::<u32>()?;
    if max_label as usize >= v {
        candle_core::bail!(
            "linear cross-entropy: label {max_label} is outside the vocabulary of {v}"
        );
    }
    let (hc, wc) = (h.detach().reshape((n, d))?.contiguous()?, w.detach());
    let (want_dh, want_dw) = (h.track_op(), w.track_op());
    let mut loss_sum = Tensor::zeros((), DType::F32, h.device())?;
    let mut dh = Vec::new();
    let mut dw: Option<Tensor> = None;
    for start in (0..n).step_by(chunk) {
        let len = chunk.min(n - start);
        let rows = hc.narrow(0, start, len)?;
        let logits = rows.matmul(&wc.t()?)?;
        let (loss, dlogits) = softmax_cross_entropy(logits, &labels.narrow(0, start, len)?)?;
        loss_sum = (loss_sum + loss)?;
        if want_dh {
            dh.push(dlogits.matmul(&wc)?);
        }
        if want_dw {
            let part = dlogits.t()?.matmul(&rows)?;
            dw = Some(match dw {
                Some(acc) => (acc + part)?,
                None => part,
            });
        }
    }
    let scale = 1.0 / n as f64;
    let grads = StoredGrads {
        dh: match want_dh {
            true => Some((Tensor::cat(&dh, 0)? * scale)?.reshape(h.shape())?),
            false => None,
        },
        dw: dw.map(|g| g * scale).transpose()?,
    };
    (loss_sum * scale)?.apply_op3(h, w, grads)
}

/// Per-row losses summed, and `softmax − onehot` in place of the logits `(rows, V)`.
fn softmax_cross_entropy(logits: Tensor, labels: &Tensor) -> Result<(Tensor, Tensor)> {
    if fused(&logits) {
        let op = SoftmaxMinusOnehot {
            labels: labels.to_vec1::<u32>()?,
            loss: Mutex::new(0.0),
        };
        logits.inplace_op1(&op)?;
        let loss = *op.loss.lock().unwrap_or_else(|e| e.into_inner());
        Ok((Tensor::new(loss as f32, logits.device())?, logits))
    } else {
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let at = labels.unsqueeze(1)?;
        let loss = logp.gather(&at, 1)?.sum_all()?.neg()?;
        let minus_one = Tensor::full(-1f32, (labels.dim(0)?, 1), logits.device())?;
        let dlogits = logp.exp()?.scatter_add(&at, &minus_one, 1)?;
        Ok((loss, dlogits))
    }
}

/// Rewrites each row of logits as `softmax − onehot(label)` and sums `lse − logit[label]`.
struct SoftmaxMinusOnehot {
    labels: Vec<u32>,
    loss: Mutex<f64>,
}

impl InplaceOp1 for SoftmaxMinusOnehot {
    fn name(&self) -> &'static str {
        "softmax-minus-onehot"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> Result<()> {
        let (_, v) = l.shape().dims2()?;
        let Some((start, end)) = l.contiguous_offsets() else {
            candle_core::bail!("softmax-minus-onehot: logits are not contiguous");
        };
        let CpuStorage::F32(data) = s else {
            candle_core::bail!("softmax-minus-onehot: logits are not f32");
        };
        let loss: f64 = data[start..end]
            .par_chunks_mut(v)
            .zip(self.labels.par_iter())
            .map(|(row, &label)| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let target = row[label as usize] - max;
                let mut sum = 0f32;
                for x in row.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                let inv = 1.0 / sum;
                row.iter_mut().for_each(|x| *x *= inv);
                row[label as usize] -= 1.0;
                (sum.ln() - target) as f64
            })
            .sum();
        *self.loss.lock().unwrap_or_else(|e| e.into_inner()) = loss;
        Ok(())
    }
}

/// Carries the loss value forward and hands the gradients computed with it to backward.
struct StoredGrads {
    dh: Option<Tensor>,
    dw: Option<Tensor>,
}

impl StoredGrads {
    /// A stored gradient times the incoming gradient of the loss.
    fn scaled(stored: &Option<Tensor>, grad: &Tensor) -> Result<Option<Tensor>> {
        stored.as_ref().map(|g| g.broadcast_mul(grad)).transpose()
    }
}

impl CustomOp3 for StoredGrads {
    fn name(&self) -> &'static str {
        "linear-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s: &CpuStorage,
        l: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Ok((s.try_clone(l)?, l.shape().clone()))
    }

    fn cuda_fwd(
        &self,
        s: &CudaStorage,
        l: &Layout,
        _: &CudaStorage,
        _: &Layout,
        _: &CudaStorage,
        _: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        Ok((s.try_clone(l)?, l.shape().clone()))
    }

    fn metal_fwd(
        &self,
        s: &MetalStorage,
        l: &Layout,
        _: &MetalStorage,
        _: &Layout,
        _: &MetalStorage,
        _: &Layout,
    ) -> Result<(MetalStorage, Shape)> {
        Ok((s.try_clone(l)?, l.shape().clone()))
    }

    fn bwd(
        &self,
        _loss: &Tensor,
        _h: &Tensor,
        _w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        Ok((
            None,
            Self::scaled(&self.dh, grad)?,
            Self::scaled(&self.dw, grad)?,
        ))
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

    /// Against candle's composed `cross_entropy(h·Wᵀ)`, with chunks of several rows, on both the
    /// fused CPU path and the composed path other devices take.
    #[test]
    fn matches_the_composed_loss_and_gradients_in_chunks() -> Result<()> {
        let dev = Device::Cpu;
        let (b, t, d, v) = (2, 9, 6, 300);
        let h = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, t, d), &dev)?)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.5, (v, d), &dev)?)?;
        let labels = Tensor::from_vec(
            (0..(b * t) as u32)
                .map(|i| i * 7919 % v as u32)
                .collect::<Vec<_>>(),
            (b, t),
            &dev,
        )?;
        let logits = h.reshape((b * t, d))?.matmul(&w.t()?)?;
        let want = candle_nn::loss::cross_entropy(&logits, &labels.flatten_all()?)?;
        let want_grads = (&want * 3.0)?.backward()?;
        for composed in [false, true] {
            let run = || chunked(&h, &w, &labels, 4);
            let got = if composed {
                crate::with_composed(run)
            } else {
                run()
            }?;
            let grads = (&got * 3.0)?.backward()?;
            let diff = max_diff(&got, &want);
            assert!(diff < 1e-5, "composed={composed}: loss differs by {diff}");
            for var in [&h, &w] {
                let diff = max_diff(grads.get(var).unwrap(), want_grads.get(var).unwrap());
                assert!(
                    diff < 1e-6,
                    "composed={composed}: gradient differs by {diff}"
                );
            }
        }
        // A frozen head gets no gradient; the hidden states still do.
        let frozen = w.as_tensor().detach();
        let grads = linear_cross_entropy(&h, &frozen, &labels)?.backward()?;
        assert!(grads.get(&frozen).is_none() && grads.get(&h).is_some());
        Ok(())
    }

    #[test]
    fn bad_shapes_and_labels_are_errors() -> Result<()> {
        let dev = Device::Cpu;
        let h = Tensor::zeros((2, 3, 4), DType::F32, &dev)?;
        let w = Tensor::zeros((10, 4), DType::F32, &dev)?;
        let ok = Tensor::zeros((2, 3), DType::U32, &dev)?;
        assert!(linear_cross_entropy(&h, &w, &ok).is_ok());
        let wrong_rows = Tensor::zeros((3, 2), DType::U32, &dev)?;
        assert!(linear_cross_entropy(&h, &w, &wrong_rows).is_err());
        let w_wide = Tensor::zeros((10, 5), DType::F32, &dev)?;
        assert!(linear_cross_entropy(&h, &w_wide, &ok).is_err());
        let out_of_vocab = Tensor::full(10u32, (2, 3), &dev)?;
        let err = linear_cross_entropy(&h, &w, &out_of_vocab).unwrap_err();
        assert!(err.to_string().contains("outside the vocabulary"), "{err}");
        Ok(())
    }
}
