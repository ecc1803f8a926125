//! The trainer's counters and schedules: everything besides tensors that a checkpoint holds.

use crate::data::BatchPosition;
use crate::error::Result;
use crate::history::{History, Totals};
use crate::options::FitOptions;
use crate::schedule::{EarlyStopping, PlateauConfig, ReduceLrOnPlateau};
use serde::{Deserialize, Serialize};

/// Counters, schedules and history of a run (serialised into every checkpoint).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunState {
    /// Training steps taken, skipped ones included.
    pub global_step: u64,
    /// The next batch to train on.
    pub position: BatchPosition,
    /// Consecutive steps skipped for a non-finite loss or gradient norm.
    pub nonfinite_in_row: u32,
    /// All steps skipped so far.
    pub nonfinite_total: u64,
    /// The last step whose update was applied (0 if none).
    pub last_good_step: u64,
    /// The learning-rate schedule.
    pub plateau: ReduceLrOnPlateau,
    /// Early stopping, which also decides the `best` checkpoint.
    pub early_stopping: EarlyStopping,
    /// One entry per finished epoch.
    pub history: History,
    /// Running means of the current epoch's training steps.
    pub epoch_totals: Totals,
    /// Settings that a resumed run must share, because the batch order depends on them.
    pub batch_size: usize,
    /// The run seed.
    pub seed: u64,
    /// Number of training windows, set by the first epoch.
    pub train_windows: Option<usize>,
}

impl RunState {
    /// The state at the start of a run.
    pub(crate) fn new(options: &FitOptions) -> Result<Self> {
        Ok(Self {
            global_step: 0,
            position: BatchPosition::default(),
            nonfinite_in_row: 0,
            nonfinite_total: 0,
            last_good_step: 0,
            plateau: ReduceLrOnPlateau::new(PlateauConfig::default())?,
            early_stopping: EarlyStopping::new(options.patience, options.min_delta)?,
            history: History::default(),
            epoch_totals: Totals::default(),
            batch_size: options.batch_size,
            seed: options.seed,
            train_windows: None,
        })
    }
}
