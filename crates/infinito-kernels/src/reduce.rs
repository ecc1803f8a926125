//! Column sums over the rows of a matrix (bias gradients), in parallel blocks of rows: candle's
//! reduction over a leading dimension is a slow single-threaded strided loop.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// (..., n) -> (n): the sum over all leading dimensions (a CPU tensor).
pub(super) fn sum_rows(g: &Tensor) -> Result<Tensor> {
    let n = g.dims().last().copied().unwrap_or(1);
    g.reshape((g.elem_count() / n, n))?
        .apply_op1_no_bwd(&SumRows)
}

/// Column sums of a (rows, n) matrix (the bias gradient), over parallel blocks of rows.
struct SumRows;

impl CustomOp1 for SumRows {
    fn name(&self) -> &'static str {
        "phi-sum-rows"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = s.as_slice::<f32>()?;
        let (rows, n) = l.shape().dims2()?;
        let (row_stride, col_stride) = (l.stride()[0], l.stride()[1]);
        let at = |r: usize, j: usize| g[l.start_offset() + r * row_stride + j * col_stride];
        let block = super::rows_per_task(n);
        let sums = (0..rows.div_ceil(block))
            .into_par_iter()
            .map(|bi| {
                let mut acc = vec![0f32; n];
                for r in bi * block..((bi + 1) * block).min(rows) {
                    acc.iter_mut().enumerate().for_each(|(j, a)| *a += at(r, j));
                }
                acc
            })
            .reduce(
                || vec![0f32; n],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        Ok((CpuStorage::F32(sums), Shape::from(n)))
    }
}
