//! Fused CPU kernels for the hot spots of the PHI nets, each with a composed fallback made of
//! candle's differentiable tensor ops (used on every other device, and as the test oracle).

mod attention;
mod batch_norm;
mod conv;
mod dropout;
mod layer_norm;
mod linear;
mod pool;
mod reduce;
mod relu;
mod softmax;

pub(crate) use attention::attention;
pub(crate) use batch_norm::{batch_norm_train, column_stats};
pub(crate) use conv::conv1d_same;
pub use dropout::dropout;
pub use layer_norm::layer_norm;
pub(crate) use linear::linear;
pub(crate) use pool::adaptive_avg_pool_8x8;
pub(crate) use relu::relu;
pub use softmax::softmax_last_dim;

use candle_core::{bail, CpuStorage, DType, Layout, Result, Tensor};
use rayon::prelude::*;

/// Mean over dimension 1 of (B, T, C), as one batched gemm against a constant row (candle's
/// reduction over a middle dimension is a slow strided loop).
pub(crate) fn mean_over_time(x: &Tensor) -> Result<Tensor> {
    let (b, t, _) = x.dims3()?;
    let avg = Tensor::full(1.0 / t as f32, (1, 1, t), x.device())?.broadcast_as((b, 1, t))?;
    avg.matmul(&x.contiguous()?)?.squeeze(1)
}

#[cfg(test)]
thread_local! {
    /// Tests set this to run the composed path (the one other devices take) on the CPU.
    pub(crate) static FORCE_COMPOSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a tensor can take the fused CPU path.
fn fused(x: &Tensor) -> bool {
    #[cfg(test)]
    if FORCE_COMPOSED.with(|f| f.get()) {
        return false;
    }
    x.device().is_cpu() && x.dtype() == DType::F32
}

/// The f32 elements of a contiguous CPU tensor.
fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("fused PHI kernel: input is not contiguous"),
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
