//! Train/eval mode of one forward pass and its seeded dropout stream.

use candle_core::{Result, Tensor};
use infinito_kernels as ops;
use infinito_kernels::rng::mix64;
use std::sync::atomic::{AtomicU64, Ordering};

/// Train or eval, plus the dropout probability and where dropout seeds come from.
pub(crate) struct Mode<'a> {
    pub(crate) train: bool,
    p: f32,
    seeds: &'a AtomicU64,
}

impl<'a> Mode<'a> {
    pub(crate) fn new(train: bool, p: f32, seeds: &'a AtomicU64) -> Self {
        Self { train, p, seeds }
    }

    /// Dropout in train mode, identity in eval mode. Each call draws the next seed.
    pub(crate) fn dropout(&self, x: &Tensor) -> Result<Tensor> {
        match self.dropout_draw() {
            Some((p, seed)) => ops::dropout(x, p, seed),
            None => Ok(x.clone()),
        }
    }

    /// The probability and a fresh seed for one dropout, or `None` when dropout is off.
    pub(crate) fn dropout_draw(&self) -> Option<(f32, u64)> {
        (self.train && self.p > 0.0)
            .then(|| (self.p, mix64(self.seeds.fetch_add(1, Ordering::Relaxed))))
    }
}
