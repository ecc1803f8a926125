//! Products of a few rows with a large weight matrix on the CPU, as in token-by-token decoding.
//! With one to a few rows the work is bound by reading the weights once, and candle's gemm
//! (tuned for many rows) streams them at about two thirds of the memory bandwidth; these kernels
//! read each weight once, in order, split across the rayon pool. Every output element is summed
//! in a fixed order, so results do not depend on the number of threads. Used only when no
//! gradient is tracked, for f32 tensors on the CPU.

use std::ops::Range;

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Rows up to which the kernels are used (beyond, gemm's blocking wins).
pub const MAX_ROWS: usize = 16;
/// Output columns per parallel task (a multiple of the SIMD width).
const COLUMNS_PER_TASK: usize = 256;

/// How the weight of `x · W` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeightLayout {
    /// `W` is `(k, n)`: Hugging Face `Conv1D` weights.
    InOut,
    /// `W` is `(n, k)` and multiplied transposed: embeddings used as the tied LM head.
    OutIn,
}

struct SmallMatmul(WeightLayout);

/// `x (m, k) · w` for `w (k, n)`, or `None` when the kernels do not apply (see module docs).
pub fn matmul(x: &Tensor, w: &Tensor) -> Result<Option<Tensor>> {
    apply(x, w, WeightLayout::InOut)
}

/// `x (m, k) · wᵀ` for `w (n, k)`, or `None` when the kernels do not apply.
pub fn matmul_transposed(x: &Tensor, w: &Tensor) -> Result<Option<Tensor>> {
    apply(x, w, WeightLayout::OutIn)
}

fn apply(x: &Tensor, w: &Tensor, layout: WeightLayout) -> Result<Option<Tensor>> {
    let applies = x.device().is_cpu()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
        && x.rank() == 2
        && w.rank() == 2
        && x.dim(0)? <= MAX_ROWS
        && !x.track_op()
        && !w.track_op()
        && x.is_contiguous()
        && w.is_contiguous();
    if !applies {
        return Ok(None);
    }
    Ok(Some(x.apply_op2_no_bwd(w, &SmallMatmul(layout))?))
}

impl CustomOp2 for SmallMatmul {
    fn name(&self) -> &'static str {
        "small-matmul"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
            let (start, end) = l
                .contiguous_offsets()
                .ok_or_else(|| candle_core::Error::Msg("small-matmul: not contiguous".into()))?;
            Ok(&s.as_slice::<f32>()?[start..end])
        }
        let (m, k) = xl.shape().dims2()?;
        let (w0, w1) = wl.shape().dims2()?;
        let (wk, n) = match self.0 {
            WeightLayout::InOut => (w0, w1),
            WeightLayout::OutIn => (w1, w0),
        };
        if wk != k {
            candle_core::bail!("small-matmul: x is ({m}, {k}) but the weight is ({w0}, {w1})");
        }
        let (x, w) = (slice(xs, xl)?, slice(ws, wl)?);
        let y = match self.0 {
            WeightLayout::InOut => rows_times_in_out(x, m, w, n),
            WeightLayout::OutIn => rows_times_out_in(x, m, w, n),
        };
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }
}

/// Runs `task(columns, out)` for column blocks in parallel, where `out` is the block's
/// `(m, columns.len())` result, and assembles the `(m, n)` output.
fn by_column_blocks<F>(m: usize, n: usize, task: F) -> Vec<f32>
where
    F: Fn(Range<usize>, &mut [f32]) + Sync,
{
    let blocks: Vec<(usize, Vec<f32>)> = (0..n.div_ceil(COLUMNS_PER_TASK))
        .into_par_iter()
        .map(|b| {
            let start = b * COLUMNS_PER_TASK;
            let end = (start + COLUMNS_PER_TASK).min(n);
            let mut out = vec![0f32; m * (end - start)];
            task(start..end, &mut out);
            (start, out)
        })
        .collect();
    let mut y = vec![0f32; m * n];
    for (start, out) in blocks {
        let width = out.len() / m.max(1);
        for (r, row) in out.chunks_exact(width.max(1)).enumerate() {
            y[r * n + start..r * n + start + width].copy_from_slice(row);
        }
    }
    y
}

/// `x (m, k) · w (k, n)`: each block accumulates `x[r, i] · w[i, block]` over `i` in order.
fn rows_times_in_out(x: &[f32], m: usize, w: &[f32], n: usize) -> Vec<f32> {
    let k = x.len() / m.max(1);
    by_column_blocks(m, n, |cols, out| in_out_block(x, k, w, n, cols, out))
}

#[inline(always)]
fn in_out_kernel(x: &[f32], k: usize, w: &[f32], n: usize, cols: Range<usize>, out: &mut [f32]) {
    let width = cols.len();
    for i in 0..k {
        let w_row = &w[i * n + cols.start..i * n + cols.end];
        for (r, y_row) in out.chunks_exact_mut(width).enumerate() {
            let a = x[r * k + i];
            for (y, &b) in y_row.iter_mut().zip(w_row) {
                *y += a * b;
            }
        }
    }
}

/// `x (m, k) · w (n, k)ᵀ`: dot products of each row of `x` with the block's rows of `w`.
fn rows_times_out_in(x: &[f32], m: usize, w: &[f32], n: usize) -> Vec<f32> {
    let k = x.len() / m.max(1);
    by_column_blocks(m, n, |cols, out| out_in_block(x, m, k, w, cols, out))
}

#[inline(always)]
fn out_in_kernel(x: &[f32], m: usize, k: usize, w: &[f32], cols: Range<usize>, out: &mut [f32]) {
    let width = cols.len();
    for (c, j) in cols.enumerate() {
        let w_row = &w[j * k..(j + 1) * k];
        for r in 0..m {
            out[r * width + c] = dot(&x[r * k..(r + 1) * k], w_row);
        }
    }
}

/// Dot product with eight interleaved partial sums (vectorisable, fixed order).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in a8.zip(b8) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    let pairs = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (pairs[0] + pairs[2]) + (pairs[1] + pairs[3]) + tail
}

/// Defines `$name` calling `$kernel` compiled for AVX2 where the CPU has it (the default x86-64
/// target only has SSE2), else as is. The kernels are `#[inline(always)]`, so each copy is
/// vectorised for its features; the arithmetic (no fused multiply-add) is the same in both.
macro_rules! avx2_dispatch {
    ($(fn $name:ident => $kernel:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                #[target_feature(enable = "avx2")]
                unsafe fn with_avx2($($arg: $ty),*) {
                    $kernel($($arg),*)
                }
                // SAFETY: the CPU supports AVX2, checked just above.
                return unsafe { with_avx2($($arg),*) };
            }
            $kernel($($arg),*)
        }
    )*};
}

avx2_dispatch! {
    fn in_out_block => in_out_kernel(
        x: &[f32], k: usize, w: &[f32], n: usize, cols: Range<usize>, out: &mut [f32]
    );
    fn out_in_block => out_in_kernel(
        x: &[f32], m: usize, k: usize, w: &[f32], cols: Range<usize>, out: &mut [f32]
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn data(rows: usize, cols: usize, seed: u32) -> Tensor {
        let v: Vec<f32> = (0..rows * cols)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000)
            .map(|v| v as f32 / 500.0 - 1.0)
            .collect();
        Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn both_layouts_equal_candle_matmul() {
        // n = 700 leaves a partial block; k = 37 leaves a partial group of eight.
        for m in [1, 3, MAX_ROWS] {
            let x = data(m, 37, 1);
            let w = data(37, 700, 2);
            let fast = matmul(&x, &w).unwrap().unwrap();
            assert!(max_diff(&fast, &x.matmul(&w).unwrap()) < 1e-4);
            let wt = data(700, 37, 3);
            let fast = matmul_transposed(&x, &wt).unwrap().unwrap();
            let want = x.matmul(&wt.t().unwrap()).unwrap();
            assert!(max_diff(&fast, &want) < 1e-4);
        }
    }

    #[test]
    fn hand_computed_product() {
        let x = Tensor::new(&[[1f32, 2.0], [-1.0, 0.5]], &Device::Cpu).unwrap();
        let w = Tensor::new(&[[1f32, 0.0, 2.0], [3.0, -1.0, 0.0]], &Device::Cpu).unwrap();
        let y: Vec<Vec<f32>> = matmul(&x, &w).unwrap().unwrap().to_vec2().unwrap();
        assert_eq!(y, [[7.0, -2.0, 2.0], [0.5, -0.5, -2.0]]);
        let y: Vec<Vec<f32>> = matmul_transposed(&x, &w.t().unwrap().contiguous().unwrap())
            .unwrap()
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(y, [[7.0, -2.0, 2.0], [0.5, -0.5, -2.0]]);
    }

    #[test]
    fn declines_tracked_many_row_and_strided_inputs() {
        let w = data(8, 4, 1);
        let var = Var::from_tensor(&data(2, 8, 2)).unwrap();
        assert!(matmul(var.as_tensor(), &w).unwrap().is_none());
        assert!(matmul(&data(MAX_ROWS + 1, 8, 3), &w).unwrap().is_none());
        let strided = data(4, 8, 4).t().unwrap();
        assert!(matmul(&data(2, 4, 5), &strided).unwrap().is_none());
    }
}
