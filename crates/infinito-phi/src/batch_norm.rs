//! `BatchNorm1d` parameters and buffers, and the two normalisations the ComplexityNet offers.
//!
//! The ComplexityNet stacks its three branches side by side as (B, T, 3C) (channels last), so the
//! functions here normalise a group of BatchNorms at once, each over its own block of channels.

use crate::layers::NORM_EPS;
use crate::params::{ParamInit, Params};
use candle_core::{DType, Result, Tensor, D};
use infinito_kernels as ops;
use std::sync::Mutex;

/// PyTorch's default BatchNorm momentum.
const MOMENTUM: f64 = 0.1;

/// The buffers of one BatchNorm: not parameters, never optimised.
#[derive(Debug, Clone)]
pub(crate) struct RunningStats {
    pub(crate) mean: Tensor,
    pub(crate) var: Tensor,
    pub(crate) num_batches_tracked: i64,
}

/// One `BatchNorm1d(C)`: affine parameters plus running statistics.
#[derive(Debug)]
pub(crate) struct BatchNorm {
    pub(crate) name: String,
    weight: Tensor,
    bias: Tensor,
    pub(crate) stats: Mutex<RunningStats>,
}

impl BatchNorm {
    pub(crate) fn new(p: &Params, name: &str, channels: usize) -> Result<Self> {
        let q = p.pp(name);
        let dev = p.device();
        Ok(Self {
            name: name.to_string(),
            weight: q.get(channels, "weight", ParamInit::Const(1.0))?,
            bias: q.get(channels, "bias", ParamInit::Const(0.0))?,
            stats: Mutex::new(RunningStats {
                mean: Tensor::zeros(channels, DType::F32, dev)?,
                var: Tensor::ones(channels, DType::F32, dev)?,
                num_batches_tracked: 0,
            }),
        })
    }

    fn channels(&self) -> Result<usize> {
        self.weight.dim(0)
    }

    pub(crate) fn running(&self) -> RunningStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_running(&self, stats: RunningStats) {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = stats;
    }
}

fn cat_params(bns: &[BatchNorm]) -> Result<(Tensor, Tensor)> {
    let w: Vec<_> = bns.iter().map(|b| b.weight.clone()).collect();
    let b: Vec<_> = bns.iter().map(|b| b.bias.clone()).collect();
    Ok((Tensor::cat(&w, 0)?, Tensor::cat(&b, 0)?))
}

/// BatchNorm over rows: `x` is (N, sum of channels). Train mode normalises with the biased batch
/// variance and updates each BatchNorm's running mean and unbiased running variance (momentum
/// 0.1) and its batch counter; eval mode uses the running statistics.
pub(crate) fn batch_norm(bns: &[BatchNorm], x: &Tensor, train: bool) -> Result<Tensor> {
    let (w, b) = cat_params(bns)?;
    if train {
        let n = x.dim(0)?;
        if n < 2 {
            candle_core::bail!(
                "BatchNorm in train mode needs more than one value per channel (B*T >= 2)"
            )
        }
        let stats = ops::column_stats(x)?;
        update_running(bns, &stats.get(0)?, &stats.get(1)?, n)?;
        return ops::batch_norm_train(x, &w, &b, NORM_EPS);
    }
    let stats: Vec<_> = bns.iter().map(BatchNorm::running).collect();
    let mean: Vec<_> = stats.iter().map(|s| s.mean.clone()).collect();
    let var: Vec<_> = stats.iter().map(|s| s.var.clone()).collect();
    // y = x * scale + shift, scale = w / sqrt(var + eps), shift = b - mean * scale.
    let scale = (Tensor::cat(&var, 0)? + NORM_EPS)?
        .sqrt()?
        .recip()?
        .mul(&w)?;
    let shift = (b - Tensor::cat(&mean, 0)?.mul(&scale)?)?;
    x.broadcast_mul(&scale)?.broadcast_add(&shift)
}

fn update_running(bns: &[BatchNorm], mean: &Tensor, var: &Tensor, n: usize) -> Result<()> {
    let unbiased = (var * (n as f64 / (n as f64 - 1.0)))?;
    let mut at = 0;
    for bn in bns {
        let c = bn.channels()?;
        let old = bn.running();
        let blend = |old: &Tensor, new: Tensor| -> Result<Tensor> {
            (old * (1.0 - MOMENTUM))? + (new * MOMENTUM)?
        };
        bn.set_running(RunningStats {
            mean: blend(&old.mean, mean.narrow(0, at, c)?)?,
            var: blend(&old.var, unbiased.narrow(0, at, c)?)?,
            num_batches_tracked: old.num_batches_tracked + 1,
        });
        at += c;
    }
    Ok(())
}

/// Per-sample normalisation: `x` is (B, T, k*C) holding k branches of C channels; each sample's
/// branch is normalised over its (T, C) values (GroupNorm with one group), then scaled and shifted
/// with the BatchNorm's affine parameters. Running statistics are not touched.
pub(crate) fn per_sample_norm(bns: &[BatchNorm], x: &Tensor) -> Result<Tensor> {
    let (b, t, kc) = x.dims3()?;
    let k = bns.len();
    let (w, bias) = cat_params(bns)?;
    let xs = x.reshape((b, t, k, kc / k))?;
    let mean = xs.mean_keepdim(D::Minus1)?.mean_keepdim(1)?;
    let centred = xs.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?.mean_keepdim(1)?;
    centred
        .broadcast_div(&(var + NORM_EPS)?.sqrt()?)?
        .reshape((b, t, kc))?
        .broadcast_mul(&w)?
        .broadcast_add(&bias)
}
