//! BatchNorm in train mode over the rows of a (N, C) matrix: per-column batch statistics (biased
//! variance), with a fused backward through the statistics.

use super::kernel::{CpuKernel, Kernel};
use super::{fused, mean_over_time, rows_per_task};
use candle_core::{Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// (N, C) -> (2, C): the column means and biased variances (no gradient).
pub fn column_stats(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op1_no_bwd(&Kernel(ColumnStats))
    } else {
        let x = x.detach();
        let mean_rows = |v: &Tensor| mean_over_time(&v.unsqueeze(0)?);
        let mean = mean_rows(&x)?;
        let var = mean_rows(&x.broadcast_sub(&mean)?.sqr()?)?;
        Tensor::cat(&[mean, var], 0)
    }
}

/// `(x - mean) / sqrt(var + eps) * weight + bias` with the batch statistics of `x` (N, C).
pub fn batch_norm_train(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?
            .apply_op3(weight, bias, Kernel(BatchNormTrain { eps: eps as f32 }))
    } else {
        let mean_rows = |v: &Tensor| mean_over_time(&v.unsqueeze(0)?);
        let centred = x.broadcast_sub(&mean_rows(x)?)?;
        let var = mean_rows(&centred.sqr()?)?;
        centred
            .broadcast_div(&(var + eps)?.sqrt()?)?
            .broadcast_mul(weight)?
            .broadcast_add(bias)
    }
}

/// Sums `f(row)` over blocks of rows in parallel, each into a vector of `width`.
fn par_column_sums<F>(rows: usize, c: usize, width: usize, f: F) -> Vec<f32>
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    let block = rows_per_task(c);
    (0..rows.div_ceil(block))
        .into_par_iter()
        .map(|bi| {
            let mut acc = vec![0f32; width];
            (bi * block..((bi + 1) * block).min(rows)).for_each(|r| f(r, &mut acc));
            acc
        })
        .reduce(
            || vec![0f32; width],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

/// Column means and biased variances (two passes).
fn stats(x: &[f32], c: usize) -> (Vec<f32>, Vec<f32>) {
    let n = x.len() / c;
    let sums = par_column_sums(n, c, c, |r, acc| {
        acc.iter_mut()
            .zip(&x[r * c..(r + 1) * c])
            .for_each(|(a, v)| *a += v)
    });
    let mean: Vec<f32> = sums.iter().map(|s| s / n as f32).collect();
    let sq = par_column_sums(n, c, c, |r, acc| {
        for ((a, v), m) in acc.iter_mut().zip(&x[r * c..(r + 1) * c]).zip(&mean) {
            *a += (v - m) * (v - m);
        }
    });
    (mean, sq.iter().map(|s| s / n as f32).collect())
}

struct ColumnStats;

impl CpuKernel<1> for ColumnStats {
    const NAME: &'static str = "column-stats";

    fn forward(&self, [x]: [&[f32]; 1], [l]: [&Layout; 1]) -> Result<(Vec<f32>, Shape)> {
        let (_, c) = l.shape().dims2()?;
        let (mean, var) = stats(x, c);
        Ok(([mean, var].concat(), Shape::from((2, c))))
    }
}

#[derive(Clone, Copy)]
struct BatchNormTrain {
    eps: f32,
}

impl BatchNormTrain {
    fn rstd(&self, var: &[f32]) -> Vec<f32> {
        var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect()
    }
}

impl CpuKernel<3> for BatchNormTrain {
    const NAME: &'static str = "batch-norm-train";

    fn forward(
        &self,
        [x, w, b]: [&[f32]; 3],
        [l1, _, _]: [&Layout; 3],
    ) -> Result<(Vec<f32>, Shape)> {
        let c = w.len();
        let (mean, var) = stats(x, c);
        let rstd = self.rstd(&var);
        let scale: Vec<f32> = rstd.iter().zip(w).map(|(r, w)| r * w).collect();
        let shift: Vec<f32> = b
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        let mut y = vec![0f32; x.len()];
        super::par_row_blocks(&mut y, c, |at, out| {
            for (row, src) in out.chunks_exact_mut(c).zip(x[at..].chunks_exact(c)) {
                for (((yi, xi), s), t) in row.iter_mut().zip(src).zip(&scale).zip(&shift) {
                    *yi = xi * s + t;
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
        let rows = x.dim(0)?;
        // One kernel: rows of dx, then the weight and bias gradients as two extra rows.
        let packed =
            x.apply_op3_no_bwd(w, &grad.contiguous()?, &Kernel(BatchNormTrainGrad(*self)))?;
        let dx = packed.narrow(0, 0, rows)?;
        Ok([
            Some(dx),
            Some(packed.get(rows)?),
            Some(packed.get(rows + 1)?),
        ])
    }
}

/// dx = w rstd (g - mean(g) - xhat mean(g xhat)) per column, dw = sum g xhat, db = sum g.
struct BatchNormTrainGrad(BatchNormTrain);

impl CpuKernel<3> for BatchNormTrainGrad {
    const NAME: &'static str = "batch-norm-train-grad";

    fn forward(&self, [x, w, g]: [&[f32]; 3], _: [&Layout; 3]) -> Result<(Vec<f32>, Shape)> {
        let c = w.len();
        let n = x.len() / c;
        let (mean, var) = stats(x, c);
        let rstd = self.0.rstd(&var);
        // [sum g | sum g * xhat]
        let sums = par_column_sums(n, c, 2 * c, |r, acc| {
            let (xr, gr) = (&x[r * c..(r + 1) * c], &g[r * c..(r + 1) * c]);
            for j in 0..c {
                acc[j] += gr[j];
                acc[c + j] += gr[j] * (xr[j] - mean[j]) * rstd[j];
            }
        });
        let (db, dw) = sums.split_at(c);
        let mut out = vec![0f32; x.len() + 2 * c];
        let (dx, tail) = out.split_at_mut(x.len());
        super::par_row_blocks(dx, c, |at, block| {
            for (k, row) in block.chunks_exact_mut(c).enumerate() {
                let r = at / c + k;
                let (xr, gr) = (&x[r * c..(r + 1) * c], &g[r * c..(r + 1) * c]);
                for j in 0..c {
                    let xhat = (xr[j] - mean[j]) * rstd[j];
                    row[j] = w[j] * rstd[j] * (gr[j] - db[j] / n as f32 - xhat * dw[j] / n as f32);
                }
            }
        });
        tail[..c].copy_from_slice(dw);
        tail[c..].copy_from_slice(db);
        Ok((out, Shape::from((n + 2, c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use candle_core::{Device, Var};

    #[test]
    fn fused_matches_composed_with_gradients() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 1.5, (37, 6), &dev)? + 0.3)?)?;
        let w = Var::from_tensor(&Tensor::randn(1f32, 0.3, 6, &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.3, 6, &dev)?)?;
        let probe = Tensor::randn(0f32, 1.0, (37, 6), &dev)?;
        let run = || -> Result<Vec<Tensor>> {
            let y = batch_norm_train(&x, &w, &b, 1e-5)?;
            let grads = (y.clone() * &probe)?.sum_all()?.backward()?;
            let get = |v: &Var| grads.get(v).unwrap().clone();
            Ok(vec![y, get(&x), get(&w), get(&b), column_stats(&x)?])
        };
        let fast = run()?;
        let slow = crate::with_composed(run)?;
        for (a, b) in fast.iter().zip(&slow) {
            let diff = (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
            assert!(diff < 1e-5, "fused vs composed differ by {diff}");
        }
        Ok(())
    }
}
