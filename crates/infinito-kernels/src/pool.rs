//! `AdaptiveAvgPool2d((8, 8))` over attention maps, as two matrix products with a pooling matrix.
//!
//! PyTorch's adaptive pooling averages, for output cell i of a length-T axis, the window
//! `[floor(i*T/8), ceil((i+1)*T/8))`. With `P` the (8, T) matrix holding `1/len` on each window,
//! the pooled map of an attention matrix `A` is `P A P^T`: exact for any T (windows overlap when T
//! is not a multiple of 8 and repeat when T < 8), differentiable and device-generic.

use candle_core::{Device, Result, Tensor};

/// Output cells per axis.
const CELLS: usize = 8;

/// The (8, T) averaging matrix of PyTorch's adaptive pooling windows.
fn pooling_matrix(t: usize, device: &Device) -> Result<Tensor> {
    let mut p = vec![0f32; CELLS * t];
    for i in 0..CELLS {
        let start = i * t / CELLS;
        let end = ((i + 1) * t).div_ceil(CELLS);
        let w = 1.0 / (end - start) as f32;
        p[i * t + start..i * t + end].fill(w);
    }
    Tensor::from_vec(p, (CELLS, t), device)
}

/// Pools (B, H, T, T) attention maps to (B, H, 64), each row-major over (query cell, key cell).
pub fn adaptive_avg_pool_8x8(attn: &Tensor) -> Result<Tensor> {
    let (b, h, t, _) = attn.dims4()?;
    let p = pooling_matrix(t, attn.device())?;
    // Keys first: (B*H*T, T) x (T, 8) -> (B*H, T, 8) indexed [query, key cell].
    let keys = attn.reshape((b * h * t, t))?.matmul(&p.t()?)?;
    // Then queries, on the transposed map: (B*H*8, T) x (T, 8) -> [key cell, query cell].
    let by_key = keys
        .reshape((b * h, t, CELLS))?
        .transpose(1, 2)?
        .contiguous()?;
    let pooled = by_key.reshape((b * h * CELLS, t))?.matmul(&p.t()?)?;
    pooled
        .reshape((b, h, CELLS, CELLS))?
        .transpose(2, 3)?
        .contiguous()?
        .reshape((b, h, CELLS * CELLS))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct windowed means, for comparison.
    fn naive(a: &[f32], t: usize) -> Vec<f32> {
        let win = |i: usize| (i * t / CELLS, ((i + 1) * t).div_ceil(CELLS));
        let mut out = Vec::new();
        for i in 0..CELLS {
            for j in 0..CELLS {
                let ((r0, r1), (c0, c1)) = (win(i), win(j));
                let mut s = 0f32;
                for r in r0..r1 {
                    for c in c0..c1 {
                        s += a[r * t + c];
                    }
                }
                out.push(s / ((r1 - r0) * (c1 - c0)) as f32);
            }
        }
        out
    }

    #[test]
    fn matches_windowed_means_for_awkward_lengths() -> Result<()> {
        for t in [1usize, 3, 5, 8, 13, 16, 21] {
            let a = Tensor::randn(0f32, 1.0, (2, 3, t, t), &Device::Cpu)?;
            let pooled = adaptive_avg_pool_8x8(&a)?;
            let a3 = a.reshape((6, t * t))?.to_vec2::<f32>()?;
            let p3 = pooled.reshape((6, 64))?.to_vec2::<f32>()?;
            for (src, got) in a3.iter().zip(&p3) {
                for (x, y) in naive(src, t).iter().zip(got) {
                    assert!((x - y).abs() < 1e-5, "T={t}: {x} vs {y}");
                }
            }
        }
        Ok(())
    }
}
