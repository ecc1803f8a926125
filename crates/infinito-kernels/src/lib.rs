//! Differentiable CPU kernels for candle: each op is one graph node with a fused forward and
//! backward on the CPU (f32, rayon row-parallel where it pays), and a composed fallback made of
//! candle's differentiable tensor ops on every other device (which is also the test oracle).
//!
//! * layers: [`linear`], [`frozen_linear`] (a constant weight: only the input gradient),
//!   [`conv1d_same`], [`layer_norm`], [`batch_norm_train`], [`attention`];
//! * element-wise and row-wise: [`softmax_last_dim`], [`dropout`], [`relu`], [`gelu_new`];
//! * reductions: [`mean_over_time`], [`column_stats`], [`adaptive_avg_pool_8x8`];
//! * losses: [`linear_cross_entropy`] (LM head + cross-entropy in row chunks, never the full
//!   logits).
//!
//! # Example
//!
//! The chunked LM-head loss equals candle's composed `cross_entropy(h·Wᵀ)`, and a frozen head
//! (a plain tensor, not a `Var`) gets no gradient:
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use infinito_kernels::linear_cross_entropy;
//!
//! let dev = Device::Cpu;
//! let h = Var::randn(0f32, 1.0, (6, 8), &dev)?;
//! let head = Tensor::randn(0f32, 1.0, (50, 8), &dev)?;
//! let labels = Tensor::new(&[1u32, 4, 9, 16, 25, 36], &dev)?;
//! let fused = linear_cross_entropy(&h, &head, &labels)?;
//! let logits = h.as_tensor().matmul(&head.t()?)?;
//! let composed = candle_nn::loss::cross_entropy(&logits, &labels)?;
//! let diff = (fused.to_scalar::<f32>()? - composed.to_scalar::<f32>()?).abs();
//! assert!(diff < 1e-5);
//! let grads = fused.backward()?;
//! assert!(grads.get(h.as_tensor()).is_some() && grads.get(&head).is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attention;
mod batch_norm;
mod conv;
mod cross_entropy;
mod dropout;
mod frozen_linear;
mod gelu;
mod kernel;
mod layer_norm;
mod linear;
mod pool;
mod reduce;
mod relu;
pub mod rng;
mod softmax;

pub use attention::attention;
pub use batch_norm::{batch_norm_train, column_stats};
pub use conv::conv1d_same;
pub use cross_entropy::linear_cross_entropy;
pub use dropout::dropout;
pub use frozen_linear::{frozen_linear, WeightLayout};
pub use gelu::gelu_new;
pub use layer_norm::layer_norm;
pub use linear::linear;
pub use pool::adaptive_avg_pool_8x8;
pub use relu::relu;
pub use softmax::softmax_last_dim;

use candle_core::{bail, CpuStorage, DType, Layout, Result, Tensor};
use rayon::prelude::*;

/// Mean over dimension 1 of (B, T, C), as one batched gemm against a constant row (candle's
/// reduction over a middle dimension is a slow strided loop).
pub fn mean_over_time(x: &Tensor) -> Result<Tensor> {
    let (b, t, _) = x.dims3()?;
    let avg = Tensor::full(1.0 / t as f32, (1, 1, t), x.device())?.broadcast_as((b, 1, t))?;
    avg.matmul(&x.contiguous()?)?.squeeze(1)
}

thread_local! {
    static FORCE_COMPOSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every op of this crate taking its composed path (the one CUDA and other
/// devices take) on this thread: tests use it to check that path on the CPU.
pub fn with_composed<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            FORCE_COMPOSED.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(FORCE_COMPOSED.with(|c| c.replace(true)));
    f()
}

/// Fails unless `t` has the dimensions `want`: every op checks its weights against its input
/// before a kernel reads them.
fn expect_dims(op: &str, what: &str, t: &Tensor, want: &[usize]) -> Result<()> {
    if t.dims() != want {
        bail!("{op}: {what} has shape {:?}, expected {want:?}", t.dims());
    }
    Ok(())
}

/// Whether a tensor can take the fused CPU path.
fn fused(x: &Tensor) -> bool {
    !FORCE_COMPOSED.with(|f| f.get()) && x.device().is_cpu() && x.dtype() == DType::F32
}

/// The f32 elements of a contiguous CPU tensor.
fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("fused kernel: input is not contiguous"),
    }
}

/// Rows per rayon task so that each task touches at least ~16K elements.
fn rows_per_task(row_len: usize) -> usize {
    (16 * 1024 / row_len.max(1)).max(1)
}

/// Fills `dst` (rows of width `d`) in parallel blocks of whole rows; `f(offset, block)` gets the
/// element offset of each block so that it can slice its inputs alike.
fn par_row_blocks<F>(dst: &mut [f32], d: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    let block = rows_per_task(d) * d;
    dst.par_chunks_mut(block)
        .enumerate()
        .for_each(|(i, out)| f(i * block, out));
}
