//! Training for infinito.
//!
//! * [`fit`], [`resume`], [`Trainer`]: the training loop over any [`TrainModel`], with
//!   validation, schedules, logs, checkpoints, exact resume and Ctrl+C handling.
//! * [`RunConfig`]: the options of `train_base_more`, written once (config-file keys, and
//!   flags with the `cli` feature); [`settings`]: the one settings-file reader and the
//!   layering of defaults, file and flags.
//! * [`hybrid`]: the INFINITO hybrid as a [`TrainModel`].
//! * [`setup`]: the model, tokenizer and data of a run, from its [`RunConfig`].
//! * [`base`]: `--model` resolved (directory or hub id) and the base model checkpoints record.
//! * [`builtin`]: a corpus written by this project and a small byte-level BPE trained on it.
//! * [`optim`]: AdamW with PyTorch's semantics and exportable state.
//! * [`clip`]: global gradient-norm clipping.
//! * [`schedule`]: ReduceLROnPlateau and early stopping.
//! * [`data`]: corpus files, cached tokenization, LM windows and resumable batches.
//! * [`tensorboard`]: TensorBoard event files (scalars) and their reader.
//!
//! # Example
//!
//! One AdamW step with PyTorch's semantics on `loss = sum(w²)`:
//!
//! ```
//! use candle_core::{Device, Var};
//! use infinito_train::{AdamW, AdamWConfig};
//!
//! let w = Var::new(&[1f32, -2.0], &Device::Cpu)?;
//! let config = AdamWConfig { lr: 0.1, weight_decay: 0.0, ..AdamWConfig::default() };
//! let mut adamw = AdamW::new(vec![("w".to_string(), w.clone())], config)?;
//! let loss = w.as_tensor().sqr()?.sum_all()?;
//! adamw.step(&loss.backward()?)?;
//! // Adam's first step moves every weight by lr against the sign of its gradient.
//! let after = w.as_tensor().to_vec1::<f32>()?;
//! assert!((after[0] - 0.9).abs() < 1e-6 && (after[1] + 1.9).abs() < 1e-6);
//! assert_eq!(adamw.step_count("w"), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod base;
pub mod builtin;
pub mod clip;
pub mod config;
pub mod data;
pub mod error;
mod history;
pub mod hybrid;
#[cfg(feature = "cli")]
pub mod interrupt;
mod logs;
mod model;
pub mod optim;
mod options;
mod progress;
pub mod schedule;
pub mod settings;
pub mod setup;
pub mod tensorboard;
mod trainer;

pub use clip::clip_grad_norm;
#[cfg(feature = "cli")]
pub use config::RunFlags;
pub use config::{Band, OptimizerConfig, PhiGrad, PhiLoss, RunConfig};
pub use error::{Result, TrainError};
pub use history::{History, Summary};
pub use logs::{CONFIG_FILE, HISTORY_FILE, METRICS_FILE, TEXT_LOG_FILE};
pub use model::{step_seed, PhiMetrics, StepOutput, TrainModel};
pub use optim::{AdamW, AdamWConfig, AdamWState};
pub use options::FitOptions;
pub use schedule::{EarlyStopping, PlateauConfig, ReduceLrOnPlateau, StopCheck};
pub use trainer::{
    fit, read_model, resume, FitOutcome, StepReport, StopReason, Trainer, TrainerSnapshot,
    CHECKPOINT_DIR, CHECKPOINT_FORMAT,
};
