//! Training building blocks for infinito.
//!
//! * [`optim`]: AdamW with PyTorch's semantics and exportable state.
//! * [`clip`]: global gradient-norm clipping.
//! * [`schedule`]: ReduceLROnPlateau and early stopping.
//! * [`data`]: corpus files, cached tokenization, LM windows and resumable batches.

pub mod clip;
pub mod data;
pub mod error;
pub mod optim;
pub mod schedule;

pub use clip::clip_grad_norm;
pub use error::{Result, TrainError};
pub use optim::{AdamW, AdamWConfig, AdamWState};
pub use schedule::{EarlyStopping, PlateauConfig, ReduceLrOnPlateau, StopCheck};
