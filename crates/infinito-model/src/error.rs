//! Errors of the model crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A JSON file did not parse into what was expected.
    #[error("{path}: invalid JSON ({source}); expected {expected}")]
    Json {
        path: PathBuf,
        expected: &'static str,
        source: serde_json::Error,
    },
    /// A configuration value is not supported.
    #[error("{path}: unsupported config: {message}")]
    Config { path: PathBuf, message: String },
    /// A weight is missing or has the wrong shape.
    #[error("{path}: {message}")]
    Weights { path: PathBuf, message: String },
    /// The tokenizer could not be built or failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Input that the model cannot accept (too long, out-of-vocabulary ids, ...).
    #[error("invalid input: {0}")]
    Input(String),
    /// A run would need more memory than the machine has free.
    #[error("{what}: needs about {needed:.1} GiB of memory, {available:.1} GiB are available")]
    TooLarge {
        what: String,
        needed: f64,
        available: f64,
    },
    /// Checkpoint IO failed.
    #[error(transparent)]
    Checkpoint(#[from] infinito_checkpoint::CheckpointError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl ModelError {
    /// True when a file or value given by the user is at fault rather than the machine.
    pub fn is_input(&self) -> bool {
        match self {
            Self::Io { source, .. } => infinito_checkpoint::is_input_io(source),
            Self::Checkpoint(e) => e.is_input(),
            Self::Candle(_) => false,
            _ => true,
        }
    }
}

/// Result alias of the model crate.
pub type Result<T> = std::result::Result<T, ModelError>;
