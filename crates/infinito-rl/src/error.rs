//! The error type of this crate: every variant displays as one line naming what was wrong.

use std::path::PathBuf;

/// Errors of PPO, agent files and environments.
#[derive(Debug, thiserror::Error)]
pub enum RlError {
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),

    /// Reading or writing a checkpoint-format file failed.
    #[error(transparent)]
    Checkpoint(#[from] infinito_checkpoint::CheckpointError),

    /// The training run behind an environment failed.
    #[error(transparent)]
    Train(#[from] infinito_train::TrainError),

    /// A file is not what it was expected to be.
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An option has a value outside its range.
    #[error("{flag} {value}: {expected}")]
    Flag {
        /// The option's name as the user writes it (`--n-steps`).
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },

    /// An action outside `0..n_actions`, or an observation of the wrong length.
    #[error("{0}")]
    Env(String),
}

/// Result with [`RlError`].
pub type Result<T> = std::result::Result<T, RlError>;

impl RlError {
    /// An option error naming the flag, the value and what is accepted.
    pub fn flag(flag: &'static str, value: impl ToString, expected: impl Into<String>) -> Self {
        Self::Flag {
            flag,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// True for errors caused by the user's input (flags, files), which deserve exit status 2.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Flag { .. } | Self::BadFile { .. } => true,
            Self::Checkpoint(e) => e.is_input(),
            Self::Train(e) => e.is_usage(),
            _ => false,
        }
    }
}
