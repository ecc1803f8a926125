//! LayerNorm over the last dimension (PyTorch semantics: biased variance, eps inside the root)
//! with a fused backward for the input, the scale and the shift.

use super::kernel::{CpuKernel, Kernel};
use super::{expect_dims, fused, par_row_blocks, rows_per_task};
use candle_core::{Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the last dimension.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    expect_dims("layer norm", "weight", weight, &[d])?;
    expect_dims("layer norm", "bias", bias, &[d])?;
    if fused(x) {
        x.contiguous()?
            .apply_op3(weight, bias, Kernel(LayerNorm { eps: eps as f32 }))
    } else {
        composed(x, weight, bias, eps)
    }
}

/// The same function from candle's differentiable tensor ops.
fn composed(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred
        .broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(weight)?
        .broadcast_add(bias)
}

/// Mean and 1/std of one row.
#[inline]
fn row_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

#[derive(Clone, Copy)]
struct LayerNorm {
    eps: f32,
}

impl CpuKernel<3> for LayerNorm {
    const NAME: &'static str = "layer-norm";

    fn forward(
        &self,
        [x, w, b]: [&[f32]; 3],
        [l1, _, _]: [&Layout; 3],
    ) -> Result<(Vec<f32>, Shape)> {
        let d = w.len();
        let mut y = vec![0f32; x.len()];
        par_row_blocks(&mut y, d, |at, out| {
            let rows = x[at..at + out.len()].chunks_exact(d);
            for (xr, yr) in rows.zip(out.chunks_exact_mut(d)) {
                let (mean, rstd) = row_stats(xr, self.eps);
                for (((yi, xi), wi), bi) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                    *yi = (xi - mean) * rstd * wi + bi;
                }
            }
        });
        Ok((y, l1.shape().clone()))
    }

    fn backward(
        &self,
        [x, w, _]: [&Tensor; 3],
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<[Option<Tensor>; 3]> {
        let d = w.dim(0)?;
        let rows = x.elem_count() / d;
        // One kernel: rows of dx, then the weight and bias gradients as two extra rows.
        let packed = x.apply_op3_no_bwd(
            w,
            &grad.contiguous()?,
            &Kernel(LayerNormBwd { eps: self.eps }),
        )?;
        let dx = packed.narrow(0, 0, rows)?.reshape(x.shape())?;
        Ok([
            Some(dx),
            Some(packed.get(rows)?),
            Some(packed.get(rows + 1)?),
        ])
    }
}

struct LayerNormBwd {
    eps: f32,
}

impl CpuKernel<3> for LayerNormBwd {
    const NAME: &'static str = "layer-norm-bwd";

    fn forward(&self, [x, w, g]: [&[f32]; 3], _: [&Layout; 3]) -> Result<(Vec<f32>, Shape)> {
        let d = w.len();
        let rows = x.len() / d;
        let mut out = vec![0f32; x.len() + 2 * d];
        let (dx, dwb) = out.split_at_mut(x.len());
        let block = rows_per_task(d) * d;
        let (dw, db) = dx
            .par_chunks_mut(block)
            .enumerate()
            .map(|(i, dxb)| {
                let at = i * block;
                let n = dxb.len();
                let (mut dw, mut db) = (vec![0f32; d], vec![0f32; d]);
                let rows = x[at..at + n]
                    .chunks_exact(d)
                    .zip(g[at..at + n].chunks_exact(d));
                for ((xr, gr), dr) in rows.zip(dxb.chunks_exact_mut(d)) {
                    let (mean, rstd) = row_stats(xr, self.eps);
                    let (mut sum_gw, mut sum_gwx) = (0f32, 0f32);
                    for j in 0..d {
                        let xhat = (xr[j] - mean) * rstd;
                        let gw = gr[j] * w[j];
                        sum_gw += gw;
                        sum_gwx += gw * xhat;
                        dw[j] += gr[j] * xhat;
                        db[j] += gr[j];
                    }
                    let (mean_gw, mean_gwx) = (sum_gw / d as f32, sum_gwx / d as f32);
                    for j in 0..d {
                        let xhat = (xr[j] - mean) * rstd;
                        dr[j] = rstd * (gr[j] * w[j] - mean_gw - xhat * mean_gwx);
                    }
                }
                (dw, db)
            })
            .reduce(
                || (vec![0f32; d], vec![0f32; d]),
                |(mut aw, mut ab), (bw, bb)| {
                    aw.iter_mut().zip(&bw).for_each(|(a, b)| *a += b);
                    ab.iter_mut().zip(&bb).for_each(|(a, b)| *a += b);
                    (aw, ab)
                },
            );
        dwb[..d].copy_from_slice(&dw);
        dwb[d..].copy_from_slice(&db);
        Ok((out, Shape::from((rows + 2, d))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn fused_matches_composed_with_gradients() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 1.5, (3, 5, 7), &dev)? + 0.4)?)?;
        let w = Var::from_tensor(&Tensor::randn(1f32, 0.3, 7, &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.3, 7, &dev)?)?;
        let probe = Tensor::randn(0f32, 1.0, (3, 5, 7), &dev)?;
        let run = |f: &dyn Fn() -> Result<Tensor>| -> Result<Vec<Tensor>> {
            let y = f()?;
            let grads = (y.clone() * &probe)?.sum_all()?.backward()?;
            Ok(vec![
                y,
                grads.get(&x).unwrap().clone(),
                grads.get(&w).unwrap().clone(),
                grads.get(&b).unwrap().clone(),
            ])
        };
        let fast = run(&|| layer_norm(&x, &w, &b, 1e-5))?;
        let slow = run(&|| composed(&x, &w, &b, 1e-5))?;
        for (a, b) in fast.iter().zip(&slow) {
            let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-5, "fused vs composed differ by {diff}");
        }
        Ok(())
    }
}
