//! Batches of windows as tensors, in a seeded order that can be resumed mid-epoch.

use super::windows::LmWindows;
use crate::error::{Result, TrainError};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// The order in which an epoch visits the windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// Window 0, 1, 2, ... every epoch (validation).
    Sequential,
    /// A permutation that depends only on the seed and the epoch number (for a given version
    /// of the `rand` crate's `StdRng`).
    Shuffled {
        /// The run's seed.
        seed: u64,
    },
}

impl Order {
    /// The window indices of `epoch` for `num_windows` windows.
    pub fn indices(self, num_windows: usize, epoch: u64) -> Vec<usize> {
        let mut indices: Vec<usize> = (0..num_windows).collect();
        if let Order::Shuffled { seed } = self {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&seed.to_le_bytes());
            key[8..16].copy_from_slice(&epoch.to_le_bytes());
            indices.shuffle(&mut StdRng::from_seed(key));
        }
        indices
    }
}

/// The position of the next batch: epoch number and batch index within the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPosition {
    /// Epoch number (0-based).
    pub epoch: u64,
    /// Index of the next batch within the epoch.
    pub batch: usize,
}

/// One batch: `input_ids` and `labels`, both u32 of shape `(B, L)`.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Input token ids.
    pub input_ids: Tensor,
    /// Target token ids (inputs shifted by one).
    pub labels: Tensor,
}

/// Iterates over the batches of one epoch, from a given position to the epoch's end.
///
/// The last batch may be smaller than `batch_size` (nothing is dropped). Resume a run by
/// creating the iterator again at the saved [`Batches::position`].
#[derive(Debug)]
pub struct Batches<'a> {
    windows: &'a LmWindows,
    indices: Vec<usize>,
    batch_size: usize,
    position: BatchPosition,
    device: Device,
}

impl<'a> Batches<'a> {
    /// Starts at `start` (batch `start.batch` of epoch `start.epoch`).
    ///
    /// Fails when `batch_size` is 0 or `start.batch` is past the epoch's last batch.
    pub fn new(
        windows: &'a LmWindows,
        batch_size: usize,
        order: Order,
        start: BatchPosition,
        device: &Device,
    ) -> Result<Self> {
        if batch_size == 0 {
            return Err(TrainError::invalid("batch_size", "a value >= 1", 0));
        }
        let batches = Self {
            windows,
            indices: order.indices(windows.len(), start.epoch),
            batch_size,
            position: start,
            device: device.clone(),
        };
        if start.batch > batches.num_batches() {
            return Err(TrainError::invalid(
                "batch position",
                "a batch index within the epoch",
                format!(
                    "batch {} of an epoch with {} batches",
                    start.batch,
                    batches.num_batches()
                ),
            ));
        }
        Ok(batches)
    }

    /// Number of batches in a whole epoch.
    pub fn num_batches(&self) -> usize {
        self.indices.len().div_ceil(self.batch_size)
    }

    /// The position of the batch that `next` returns.
    pub fn position(&self) -> BatchPosition {
        self.position
    }

    fn make_batch(&self, indices: &[usize]) -> Result<Batch> {
        let seq_len = self.windows.seq_len();
        let mut inputs = Vec::with_capacity(indices.len() * seq_len);
        let mut labels = Vec::with_capacity(indices.len() * seq_len);
        for &index in indices {
            self.windows
                .extend_window(index, &mut inputs, &mut labels)
                .ok_or_else(|| TrainError::invalid("window index", "an existing window", index))?;
        }
        let shape = (indices.len(), seq_len);
        Ok(Batch {
            input_ids: Tensor::from_vec(inputs, shape, &self.device)?,
            labels: Tensor::from_vec(labels, shape, &self.device)?,
        })
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.position.batch.checked_mul(self.batch_size)?;
        if start >= self.indices.len() {
            return None;
        }
        let end = (start + self.batch_size).min(self.indices.len());
        self.position.batch += 1;
        Some(self.make_batch(&self.indices[start..end]))
    }
}
